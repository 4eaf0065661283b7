"""Keys on disk, the allow-list and pairing codes."""
from __future__ import annotations

import json
import os
import stat

import pytest

from campool_worker import security as s


def test_key_pair_is_made_once_with_a_private_secret_file(tmp_path):
    first = s.load_or_create_keypair(tmp_path / "keys")
    secret = tmp_path / "keys" / "worker.key_secret"
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600
    assert s.valid_key(first.public) and first.public != first.secret
    assert s.load_or_create_keypair(tmp_path / "keys") == first


def test_a_secret_file_readable_by_others_is_restricted(tmp_path):
    s.load_or_create_keypair(tmp_path)
    secret = tmp_path / "worker.key_secret"
    os.chmod(secret, 0o644)
    s.load_or_create_keypair(tmp_path)
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600


def test_corrupt_or_mismatched_key_file_says_what_to_do(tmp_path):
    s.load_or_create_keypair(tmp_path)
    secret = tmp_path / "worker.key_secret"
    secret.write_text("garbage")
    with pytest.raises(s.SecurityError, match="move it away"):
        s.load_or_create_keypair(tmp_path)
    other = s.load_or_create_keypair(tmp_path / "other")
    mine = s.load_or_create_keypair(tmp_path / "mine")
    (tmp_path / "mine" / "worker.key_secret").write_text(json.dumps({"public": other.public, "secret": mine.secret}))
    with pytest.raises(s.SecurityError, match="does not match"):
        s.load_or_create_keypair(tmp_path / "mine")


def test_allow_list_persists_adopted_masters_and_refuses_bad_keys(tmp_path):
    master = s.load_or_create_keypair(tmp_path / "m", "master")
    fixed = s.load_or_create_keypair(tmp_path / "f", "master")
    allow = s.AllowList(tmp_path / "masters.json", [fixed.public])
    assert fixed.public in allow and master.public not in allow
    allow.add(master.public, "desk")
    assert master.public in s.AllowList(tmp_path / "masters.json")
    assert stat.S_IMODE((tmp_path / "masters.json").stat().st_mode) == 0o600
    with pytest.raises(s.SecurityError, match="Z85"):
        s.AllowList(tmp_path / "x.json", ["not-a-key"])
    assert allow.remove(master.public) and master.public not in allow


def test_pairing_code_works_once_for_the_key_it_was_proven_with(tmp_path):
    codes = s.PairingCodes(tmp_path / "pairing.json")
    code, _ = codes.new_code(60, now=1000.0)
    assert len(code) == s.CODE_LENGTH and set(code) <= set(s.CODE_ALPHABET)
    m, w, other = "m" * 40, "w" * 40, "o" * 40
    typed = s.format_code(code).lower()  # how an operator types it
    proof = s.pair_proof(typed, m, w, "master")
    assert codes.verify(s.pair_proof(code, other, w, "master"), m, w, now=1001.0) is None, "bound to the key"
    assert codes.verify(proof, m, w, now=1001.0) == code
    assert codes.verify(proof, m, w, now=1002.0) is None, "a code is used once"
    assert s.pair_proof(code, m, w, "worker") != proof, "the worker's proof differs from the master's"


def test_pairing_codes_expire_and_wrong_guesses_end_none(tmp_path):
    codes = s.PairingCodes(tmp_path / "pairing.json")
    code, expires = codes.new_code(60, now=1000.0)
    m, w = "m" * 40, "w" * 40
    assert codes.verify(s.pair_proof(code, m, w, "master"), m, w, now=expires + 1) is None
    code, _ = codes.new_code(60, now=2000.0)
    for _ in range(50):  # the old rule voided every code after 10 wrong proofs from anyone
        assert codes.verify("00" * 32, m, w, now=2001.0) is None
    assert codes.active(now=2001.0) == 1
    assert codes.verify(s.pair_proof(code, m, w, "master"), m, w, now=2002.0) == code


def test_a_pairing_ends_every_code_the_one_printed_at_start_too(tmp_path):
    codes = s.PairingCodes(tmp_path / "pairing.json")
    at_start, _ = codes.new_code(600, now=1000.0)   # what the daemon printed
    fresh, _ = codes.new_code(600, now=1100.0)      # what `campool-worker pair` showed master A
    a, b, w = "a" * 40, "b" * 40, "w" * 40
    assert codes.verify(s.pair_proof(fresh, a, w, "master"), a, w, now=1101.0) == fresh
    assert codes.active(now=1102.0) == 0
    assert codes.verify(s.pair_proof(at_start, b, w, "master"), b, w, now=1102.0) is None, \
        "a second master must not adopt with the code printed at start"


def test_normalize_code_reads_look_alikes():
    assert s.normalize_code("abcd-efgh") == "ABCDEFGH"
    assert s.normalize_code("O1IL 2345") == "01112345"


def _other_process_writes(path, masters):
    """What `campool-worker masters --remove` or an operator's editor does to the file."""
    path.write_text(json.dumps({"masters": masters}))


def test_allow_list_sees_a_master_revoked_by_another_process_without_a_restart(tmp_path):
    a = s.load_or_create_keypair(tmp_path / "a", "master").public
    b = s.load_or_create_keypair(tmp_path / "b", "master").public
    daemon = s.AllowList(tmp_path / "masters.json")
    daemon.add(a, "desk")
    daemon.add(b, "laptop")
    before = daemon.revocations

    assert s.AllowList(tmp_path / "masters.json").remove(a)  # the CLI's own AllowList

    assert a not in daemon and b in daemon
    assert daemon.revocations == before + 1, "the daemon learns it must drop sessions"
    assert [m.name for m in daemon.masters()] == ["laptop"]


def test_allow_list_picks_up_a_hand_edit_and_a_deleted_file(tmp_path):
    a = s.load_or_create_keypair(tmp_path / "a", "master").public
    b = s.load_or_create_keypair(tmp_path / "b", "master").public
    fixed = s.load_or_create_keypair(tmp_path / "f", "master").public
    path = tmp_path / "masters.json"
    daemon = s.AllowList(path, [fixed])
    daemon.add(a, "desk")
    _other_process_writes(path, [{"key": a, "name": "desk", "added": 1.0}, {"key": b, "name": "new", "added": 2.0}])
    assert b in daemon
    path.unlink()  # deleting the file revokes every adopted master, not the config's
    assert a not in daemon and b not in daemon and fixed in daemon
    assert daemon.keys() == {fixed}


def test_a_corrupt_allow_list_on_reload_keeps_the_last_good_one_and_logs_once(tmp_path, caplog):
    a = s.load_or_create_keypair(tmp_path / "a", "master").public
    b = s.load_or_create_keypair(tmp_path / "b", "master").public
    path = tmp_path / "masters.json"
    daemon = s.AllowList(path)
    daemon.add(a, "desk")
    path.write_text('{"masters": [{"key": ')  # an editor caught half way through a save
    with caplog.at_level("ERROR", logger="campool_worker.security"):
        for _ in range(50):  # one handshake after another: no exception, one log line
            assert a in daemon
            assert b not in daemon
    errors = [r for r in caplog.records if r.levelname == "ERROR"]
    assert len(errors) == 1 and "corrupt" in errors[0].getMessage() and "stay trusted" in errors[0].getMessage()
    for junk in ('{"masters": {"x": 1}}', '{"masters": [7]}', "[]", ""):  # other shapes of damage
        path.write_text(junk)
        assert a in daemon
    _other_process_writes(path, [{"key": b, "name": "fixed by hand"}])  # the fix is picked up
    assert b in daemon and a not in daemon


def test_a_corrupt_allow_list_at_start_is_refused_with_what_to_do(tmp_path):
    (tmp_path / "masters.json").write_text("{")
    with pytest.raises(s.SecurityError, match="fix or remove it"):
        s.AllowList(tmp_path / "masters.json")


def test_adopting_keeps_a_revocation_made_by_another_process_meanwhile(tmp_path):
    a = s.load_or_create_keypair(tmp_path / "a", "master").public
    b = s.load_or_create_keypair(tmp_path / "b", "master").public
    daemon = s.AllowList(tmp_path / "masters.json")
    daemon.add(a, "desk")
    s.AllowList(tmp_path / "masters.json").remove(a)
    daemon.add(b, "laptop")  # writes its list: must not bring the revoked key back
    assert s.AllowList(tmp_path / "masters.json").keys() == {b}


def test_valid_key_says_no_to_z85_that_overflows():
    assert not s.valid_key("#" * 40)

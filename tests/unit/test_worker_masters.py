"""`campool-worker masters`: listing and revoking trusted master keys, and the daemon refusing a
revoked master's commands."""
from __future__ import annotations

import json
import logging

import pytest
import zmq

from campool_worker import protocol as p
from campool_worker import security as s
from campool_worker.cli import main
from campool_worker.command_handler import CommandHandler


def new_key() -> str:
    return zmq.curve_keypair()[0].decode()


@pytest.fixture
def worker_dir(tmp_path, monkeypatch):
    """A data folder and an empty settings file, untouched by the tester's own CAMPOOL_* settings."""
    for name in ("CAMPOOL_CONFIG", "CAMPOOL_DATA_DIR", "CAMPOOL_ACCEPT_MASTERS"):
        monkeypatch.delenv(name, raising=False)
    (tmp_path / "worker.toml").write_text("")
    (tmp_path / "data").mkdir()
    return tmp_path


def masters(worker_dir, *args: str, config: str = "worker.toml") -> int:
    return main(["masters", "--data-dir", str(worker_dir / "data"), "--config", str(worker_dir / config), *args])


def adopt(worker_dir, key: str, name: str) -> None:
    s.AllowList(worker_dir / "data" / "masters.json").add(key, name)


def trusted(worker_dir) -> set[str]:
    return s.AllowList(worker_dir / "data" / "masters.json").keys()


def one_error_line(capsys) -> str:
    out = capsys.readouterr()
    assert out.out == "" and "Traceback" not in out.err
    lines = out.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("campool-worker masters: error: "), out.err
    return lines[0]


def test_list_shows_adopted_and_config_masters_with_where_they_come_from(worker_dir, capsys):
    desk, ci = new_key(), new_key()
    (worker_dir / "ci.toml").write_text(f"accept_masters = [{json.dumps(ci)}]\n")
    adopt(worker_dir, desk, "desk")

    assert masters(worker_dir, "--json", config="ci.toml") == 0
    listed = json.loads(capsys.readouterr().out)["masters"]
    assert [(m["key"], m["name"], m["source"], m["revocable"]) for m in listed] == [
        (desk, "desk", "pairing", True), (ci, "", "config", False)]
    assert isinstance(listed[0]["added"], float) and listed[1]["added"] is None

    assert masters(worker_dir, config="ci.toml") == 0
    text = capsys.readouterr().out
    assert desk in text and "desk" in text and "pairing" in text
    assert ci in text and f"accept_masters in {worker_dir / 'ci.toml'}" in text


def test_list_with_no_master_says_how_to_adopt(worker_dir, capsys):
    assert masters(worker_dir) == 0
    assert "No master is trusted" in capsys.readouterr().out


@pytest.mark.parametrize("how", ["whole", "prefix", "dash-prefix"])
def test_remove_revokes_an_adopted_master_by_key_or_unique_prefix(worker_dir, capsys, how):
    desk, laptop = new_key(), new_key()
    if how == "dash-prefix":
        desk = "-" + desk[1:]  # Z85 keys may start with "-": --remove=KEY still works
    adopt(worker_dir, desk, "desk")
    adopt(worker_dir, laptop, "laptop")
    arg = desk if how == "whole" else desk[:8]
    assert masters(worker_dir, f"--remove={arg}") == 0
    assert "Revoked master 'desk'" in capsys.readouterr().out
    assert trusted(worker_dir) == {laptop}


def test_an_ambiguous_prefix_removes_nothing(worker_dir, capsys):
    base = new_key()
    a, b = base[:35] + "00000", base[:35] + "00001"  # two keys that share their first 35 characters
    adopt(worker_dir, a, "a")
    adopt(worker_dir, b, "b")
    assert masters(worker_dir, f"--remove={base[:10]}") == 2
    line = one_error_line(capsys)
    assert "is the start of 2 trusted master keys" in line and "give more characters" in line
    assert trusted(worker_dir) == {a, b}


@pytest.mark.parametrize("arg, needle", [
    ("ZZZZZZZZZZ", "no trusted master key starts with 'ZZZZZZZZZZ'"),
    ("abc", "give at least 8 characters"),
])
def test_an_unknown_or_too_short_key_is_one_clear_error(worker_dir, capsys, arg, needle):
    adopt(worker_dir, new_key(), "desk")
    assert masters(worker_dir, f"--remove={arg}") == 2
    assert needle in one_error_line(capsys)
    assert len(trusted(worker_dir)) == 1


def test_a_config_key_is_not_removed_here_but_in_the_settings(worker_dir, capsys):
    ci = new_key()
    (worker_dir / "ci.toml").write_text(f"accept_masters = [{json.dumps(ci)}]\n")
    adopt(worker_dir, ci, "paired as well")  # adopted too: removing the pairing would not revoke it
    assert masters(worker_dir, f"--remove={ci[:12]}", config="ci.toml") == 2
    line = one_error_line(capsys)
    assert f"accept_masters in {worker_dir / 'ci.toml'}" in line and "remove it there" in line
    assert ci in s.AllowList(worker_dir / "data" / "masters.json")


def test_a_config_key_from_the_environment_names_the_variable(worker_dir, capsys, monkeypatch):
    ci = new_key()
    monkeypatch.setenv("CAMPOOL_ACCEPT_MASTERS", ci)
    assert masters(worker_dir, f"--remove={ci}") == 2
    assert "CAMPOOL_ACCEPT_MASTERS environment variable" in one_error_line(capsys)


def test_a_corrupt_masters_file_is_one_error_line(worker_dir, capsys):
    (worker_dir / "data" / "masters.json").write_text("{")
    assert masters(worker_dir) == 2
    assert "is corrupt" in one_error_line(capsys)


class _Handler(CommandHandler):
    """Command dispatch alone: the status command answers without a worker behind it."""

    def __init__(self, allow: s.AllowList) -> None:
        super().__init__(allow=allow, assignments=None, models=None, outbox=None, service=None)  # type: ignore[arg-type]

    def status(self, msg, master_key):
        return p.Ok("status")


def test_a_revoked_master_gets_unauthorized_logged_once_and_others_are_served(tmp_path, caplog):
    desk, laptop = new_key(), new_key()
    allow = s.AllowList(tmp_path / "masters.json")
    service = _Handler(allow)
    allow.add(desk, "desk")
    allow.add(laptop, "laptop")
    assert isinstance(service.handle(p.GetStatus(), desk), p.Ok)

    s.AllowList(tmp_path / "masters.json").remove(desk)  # `campool-worker masters --remove` elsewhere
    with caplog.at_level(logging.WARNING, logger="campool_worker.command_handler"):
        replies = [service.handle(p.GetStatus(), desk) for _ in range(20)]
    assert all(isinstance(r, p.Error) and r.code == "unauthorized" for r in replies)
    assert "no longer trusted" in replies[0].message and "pairing code" in replies[0].message
    assert len([r for r in caplog.records if desk in r.getMessage()]) == 1, "once per key, not per message"
    assert isinstance(service.handle(p.GetStatus(), laptop), p.Ok)


def test_a_command_type_without_a_handler_gets_a_clear_error(tmp_path):
    allow = s.AllowList(tmp_path / "masters.json")
    desk = new_key()
    allow.add(desk, "desk")
    reply = _Handler(allow).handle(p.Ok("not a command"), desk)
    assert isinstance(reply, p.Error) and reply.code == "unknown_type" and "'ok'" in reply.message

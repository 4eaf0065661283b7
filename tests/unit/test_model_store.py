"""The models folder: pushes in chunks at the offset held, stored by hash (checked off the caller's
thread), rechecked when used or asked about, and references that are never paths."""
from __future__ import annotations

import hashlib
import os
import stat
import threading

import pytest

from campool_worker.errors import ModelError
from campool_worker.model_store import ModelPushError, ModelStore, parse_reference


def _settled(store: ModelStore, sha: str):
    store.wait(sha, 10)
    return store.status(sha)


def test_a_model_pushed_in_chunks_is_stored_under_its_hash_and_resolves(tmp_path):
    store = ModelStore(tmp_path / "models")
    content = bytes(range(256)) * 10
    sha = hashlib.sha256(content).hexdigest()
    assert store.status(sha).received == 0 and not store.has(f"sha256:{sha}")
    first = store.append(sha, len(content), 0, content[:1000])
    assert (first.received, first.complete) == (1000, False)
    last = store.append(sha, len(content), 1000, content[1000:])
    assert last.checking and not last.complete, "the hash of the whole file is never taken on the caller's thread"
    done = _settled(store, sha)
    assert done.complete and done.received == len(content) and done.reference == f"sha256:{sha}"
    assert store.path_of(sha).read_bytes() == content
    assert stat.S_IMODE(store.path_of(sha).stat().st_mode) == 0o600
    assert not list((tmp_path / "models").glob("*.part"))
    assert store.resolve(f"sha256:{sha}") == str(store.path_of(sha))
    assert store.append(sha, len(content), 0, b"again").complete, "a stored model is never rewritten"


def test_the_last_chunk_is_hashed_on_the_store_thread_not_the_callers(tmp_path, monkeypatch):
    import campool_worker.model_store as ms
    hashed_on: list[str] = []
    real = ms._sha256_file

    def spy(path):
        hashed_on.append(threading.current_thread().name)
        return real(path)

    monkeypatch.setattr(ms, "_sha256_file", spy)
    store = ModelStore(tmp_path)
    content = os.urandom(4096)
    sha = hashlib.sha256(content).hexdigest()
    store.append(sha, len(content), 0, content)
    assert _settled(store, sha).complete
    assert hashed_on and all(name.startswith("campool-model-check") for name in hashed_on)


def test_a_chunk_at_the_wrong_offset_says_where_to_resume(tmp_path):
    store = ModelStore(tmp_path)
    store.append("a" * 64, 100, 0, b"x" * 10)
    with pytest.raises(ModelPushError, match="chunk at offset 50, but the worker holds 10 bytes; resume from there"):
        store.append("a" * 64, 100, 50, b"x" * 10)


def test_content_that_does_not_match_its_hash_is_dropped(tmp_path):
    store = ModelStore(tmp_path)
    assert store.append("b" * 64, 4, 0, b"abcd").checking
    after = _settled(store, "b" * 64)
    assert (after.received, after.complete, after.checking) == (0, False, False)
    assert not list(tmp_path.iterdir())


def test_a_stored_model_damaged_on_disk_is_found_moved_aside_and_reported_missing(tmp_path):
    store = ModelStore(tmp_path)
    content = os.urandom(10_000)
    sha = hashlib.sha256(content).hexdigest()
    store.append(sha, len(content), 0, content)
    assert _settled(store, sha).complete
    damaged = bytearray(content)
    damaged[5000] ^= 0xFF
    store.path_of(sha).write_bytes(bytes(damaged))   # a bad sector, a stray write: same size

    asked = store.status(sha)                       # the master's question: checked off the caller's thread
    assert asked.checking and not asked.complete
    after = _settled(store, sha)
    assert (after.complete, after.received) == (False, 0), "a damaged copy is not complete: the master re-sends"
    assert not store.path_of(sha).exists() and (tmp_path / f"{sha}.onnx.damaged").exists()
    with pytest.raises(ModelError, match="is not on this worker; push it from the master"):
        store.resolve(f"sha256:{sha}")
    # sent again, it is whole again
    store.append(sha, len(content), 0, content)
    assert _settled(store, sha).complete and store.resolve(f"sha256:{sha}") == str(store.path_of(sha))


def test_a_camera_loading_a_damaged_model_gets_a_clear_error_not_a_broken_model(tmp_path):
    store = ModelStore(tmp_path)
    content = os.urandom(2048)
    sha = hashlib.sha256(content).hexdigest()
    store.append(sha, len(content), 0, content)
    store.wait(sha, 10)
    store.path_of(sha).write_bytes(b"\0" * len(content))
    with pytest.raises(ModelError, match=r"was damaged .* moved aside; the master sends it again"):
        store.resolve(f"sha256:{sha}")
    assert store.status(sha).received == 0


def test_a_checked_model_is_not_hashed_again_until_it_changes(tmp_path, monkeypatch):
    import campool_worker.model_store as ms
    calls: list[object] = []
    real = ms._sha256_file
    monkeypatch.setattr(ms, "_sha256_file", lambda path: calls.append(path) or real(path))
    store = ModelStore(tmp_path)
    content = os.urandom(2048)
    sha = hashlib.sha256(content).hexdigest()
    store.append(sha, len(content), 0, content)
    store.wait(sha, 10)
    for _ in range(5):
        assert store.status(sha).complete
        store.resolve(f"sha256:{sha}")
    assert len(calls) == 1, "the push's own check is remembered by size and mtime"
    os.utime(store.path_of(sha), ns=(1, 1))          # touched: checked once more
    store.resolve(f"sha256:{sha}")
    assert len(calls) == 2


@pytest.mark.parametrize("ref", ["sha256:../../etc/passwd", "sha256:" + "A" * 64, "sha256:" + "a" * 63,
                                 "sha256:" + "a" * 64 + "/../x", "sha256:"])
def test_a_reference_that_is_not_64_lowercase_hex_digits_is_an_error_never_a_path(tmp_path, ref):
    outside = tmp_path / "x.onnx"
    outside.write_bytes(b"not yours")
    store = ModelStore(tmp_path / "models")
    with pytest.raises(ModelError, match="is not valid: a pushed model is sha256: followed by 64 lowercase hex"):
        store.resolve(ref)
    with pytest.raises(ModelError):
        store.has(ref)
    with pytest.raises(ModelError):
        parse_reference(ref)


def test_paths_and_no_model_pass_through_and_a_missing_push_says_so(tmp_path):
    store = ModelStore(tmp_path)
    assert store.resolve(None) is None and store.resolve("/models/yolo.onnx") == "/models/yolo.onnx"
    assert store.has(None) and store.has("/models/yolo.onnx")
    with pytest.raises(ModelError, match="is not on this worker; push it from the master"):
        store.resolve("sha256:" + "c" * 64)

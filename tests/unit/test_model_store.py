"""The models folder: pushes in chunks at the offset held, stored by hash, resolved for cameras."""
from __future__ import annotations

import hashlib

import pytest

from campool_worker.errors import ModelError
from campool_worker.model_store import ModelPushError, ModelStore


def test_a_model_pushed_in_chunks_is_stored_under_its_hash_and_resolves(tmp_path):
    store = ModelStore(tmp_path / "models")
    content = bytes(range(256)) * 10
    sha = hashlib.sha256(content).hexdigest()
    assert store.status(sha).received == 0 and not store.has(f"sha256:{sha}")
    first = store.append(sha, len(content), 0, content[:1000])
    assert (first.received, first.complete) == (1000, False)
    done = store.append(sha, len(content), 1000, content[1000:])
    assert done.complete and done.received == len(content) and done.reference == f"sha256:{sha}"
    assert store.path_of(sha).read_bytes() == content
    assert not list((tmp_path / "models").glob("*.part"))
    assert store.resolve(f"sha256:{sha}") == str(store.path_of(sha))
    assert store.append(sha, len(content), 0, b"again").complete, "a stored model is never rewritten"


def test_a_chunk_at_the_wrong_offset_says_where_to_resume(tmp_path):
    store = ModelStore(tmp_path)
    store.append("a" * 64, 100, 0, b"x" * 10)
    with pytest.raises(ModelPushError, match="chunk at offset 50, but the worker holds 10 bytes; resume from there"):
        store.append("a" * 64, 100, 50, b"x" * 10)


def test_content_that_does_not_match_its_hash_is_dropped(tmp_path):
    store = ModelStore(tmp_path)
    with pytest.raises(ModelPushError, match="it was dropped, send it again"):
        store.append("b" * 64, 4, 0, b"abcd")
    assert store.status("b" * 64).received == 0 and not list(tmp_path.iterdir())


def test_paths_and_no_model_pass_through_and_a_missing_push_says_so(tmp_path):
    store = ModelStore(tmp_path)
    assert store.resolve(None) is None and store.resolve("/models/yolo.onnx") == "/models/yolo.onnx"
    assert store.has(None) and store.has("/models/yolo.onnx")
    with pytest.raises(ModelError, match="is not on this worker; push it from the master"):
        store.resolve("sha256:" + "c" * 64)

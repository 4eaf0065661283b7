"""The master-side client: concurrent callers, timeouts, and closing."""
from __future__ import annotations

import socket
from concurrent.futures import ThreadPoolExecutor

import pytest

from campool_gui.pool.wire_client import RequestTimeout, WorkerAddress, WorkerClient
from campool_worker import protocol as p
from campool_worker import security
from tests.helpers.worker_process import WorkerProcess


def test_many_threads_share_one_link_and_each_gets_its_own_reply(tmp_path):
    with WorkerProcess(tmp_path / "w") as worker:
        keys = worker.adopt()
        with worker.client(keys) as link:
            def ask(i):
                if i % 2:
                    return link.call(p.QueryModel(f"{i:064x}"), expect=p.ModelStatus).sha256 == f"{i:064x}"
                return link.call(p.GetStatus(), expect=p.StatusReply).status.worker_id == worker.info["id"]

            with ThreadPoolExecutor(8) as pool:
                results = list(pool.map(ask, range(200)))
            assert all(results) and len(results) == 200
            assert link.stats["rejected"] == 0 and link.stats["late_replies"] == 0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_worker_that_is_not_there_gives_a_timeout_not_a_hang(tmp_path):
    keys = security.load_or_create_keypair(tmp_path, "master")
    other = security.load_or_create_keypair(tmp_path / "w", "worker")
    port = _free_port()
    with WorkerClient(WorkerAddress("127.0.0.1", port, port, port, other.public), keys) as link:
        fut = link.request(p.GetStatus(), timeout=0.5)
        with pytest.raises(RequestTimeout, match="could not connect"):
            fut.result(5)


def test_closing_the_link_fails_what_is_pending(tmp_path):
    keys = security.load_or_create_keypair(tmp_path, "master")
    other = security.load_or_create_keypair(tmp_path / "w", "worker")
    port = _free_port()
    link = WorkerClient(WorkerAddress("127.0.0.1", port, port, port, other.public), keys)
    fut = link.request(p.GetStatus(), timeout=60)
    link.close()
    with pytest.raises(RequestTimeout, match="closed"):
        fut.result(5)
    with pytest.raises(RequestTimeout):
        link.request(p.GetStatus()).result(1)

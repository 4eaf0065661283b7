"""A worker process of another protocol version, for the upgrade tests: the real worker, whose
``PROTOCOL_VERSION`` is changed before it starts by a ``sitecustomize`` on its PYTHONPATH (the
checkout goes after it, so the worker imports this code, not another install). It speaks and
checks that version everywhere the real one does: every header, its mDNS record, its hello."""
from __future__ import annotations

import os
from pathlib import Path

from tests.helpers.data import PROJECT_ROOT

SITECUSTOMIZE = """\
import campool_worker.protocol as p
import campool_worker.protocol.codec as codec
import campool_worker.protocol.messages as messages

p.PROTOCOL_VERSION = codec.PROTOCOL_VERSION = messages.PROTOCOL_VERSION = {version}
"""


def protocol_env(where: Path, version: int) -> dict[str, str]:
    """The environment (for LocalWorker's ``env``) of a worker that speaks protocol ``version``."""
    where.mkdir(parents=True, exist_ok=True)
    (where / "sitecustomize.py").write_text(SITECUSTOMIZE.format(version=int(version)))
    return {"PYTHONPATH": os.pathsep.join([str(where), str(PROJECT_ROOT)])}

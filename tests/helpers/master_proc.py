"""Run `campool-gui --headless` in its own process (tests that SIGKILL the master).

    python -m tests.helpers.master_proc DATA_DIR CONFIG.toml
"""
from __future__ import annotations

import argparse
import logging
import os
import subprocess
import sys
from pathlib import Path

from campool_gui.headless import run_headless
from campool_worker import log_redaction


def start_master_process(data_dir: Path, config: Path) -> subprocess.Popen[bytes]:
    """This module as a process of its own, its output appended to DATA_DIR/master.log."""
    from campool_gui.harness.launcher import PROJECT_ROOT

    env = dict(os.environ, PYTHONPATH=str(PROJECT_ROOT), OMP_NUM_THREADS="1")
    out = open(data_dir / "master.log", "ab")
    try:
        return subprocess.Popen([sys.executable, "-m", "tests.helpers.master_proc", str(data_dir), str(config)],
                                cwd=PROJECT_ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    finally:
        out.close()


def main() -> int:
    logging.basicConfig(level=logging.INFO, stream=sys.stdout,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    log_redaction.install()  # as campool-gui does
    data_dir, config = sys.argv[1], sys.argv[2]
    return run_headless(argparse.Namespace(data_dir=data_dir, config=config, no_zeroconf=True, policy=None,
                                           status_every=2.0, run_seconds=None))


if __name__ == "__main__":
    sys.exit(main())

"""Run `campool-gui --headless` in its own process (tests that SIGKILL the master).

    python -m tests.helpers.master_proc DATA_DIR CONFIG.toml
"""
from __future__ import annotations

import argparse
import logging
import sys

from campool_gui.headless import run_headless
from campool_worker import log_redaction


def main() -> int:
    logging.basicConfig(level=logging.INFO, stream=sys.stdout,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    log_redaction.install()  # as campool-gui does
    data_dir, config = sys.argv[1], sys.argv[2]
    return run_headless(argparse.Namespace(data_dir=data_dir, config=config, no_zeroconf=True, policy=None,
                                           status_every=2.0, run_seconds=None))


if __name__ == "__main__":
    sys.exit(main())

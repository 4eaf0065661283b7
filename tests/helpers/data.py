"""Paths to the shared test data (../shared/data beside the project), never copied into it."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SHARED_DATA = Path(os.environ.get("CAMPOOL_SHARED_DATA", PROJECT_ROOT.parent / "shared" / "data"))


def shared_file(relative: str) -> Path:
    """Return a shared data file, or skip the test with a reason that says where it looked."""
    path = SHARED_DATA / relative
    if not path.is_file():
        pytest.skip(f"shared test data {relative} not found under {SHARED_DATA} "
                    f"(set CAMPOOL_SHARED_DATA to the folder holding videos/ and models/)")
    return path

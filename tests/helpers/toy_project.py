"""A checkout-shaped toy project for the tests of installers/run.py: its pyproject.toml with the
same extras as ours, a ``campool_gui.app`` that says where it runs, and a build backend of a few
lines (PEP 517, in the tree), so that pip installs it editable with no index and no setuptools,
as it installs the real checkout: the test needs no network and takes seconds.
"""
from __future__ import annotations

import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

PYPROJECT = """\
[build-system]
requires = []
build-backend = "toy_backend"
backend-path = ["."]

[project]
name = "campool"
version = "0.0.1"

[project.optional-dependencies]
cpu = []
gui = []
test = ["campool[cpu,gui]"]
"""

# An editable wheel is a .pth naming the project's folder, and the dist-info pip reads.
BACKEND = '''\
import base64, hashlib, os, zipfile

NAME, VERSION = "campool", "0.0.1"
META = (f"Metadata-Version: 2.1\\nName: {NAME}\\nVersion: {VERSION}\\n"
        "Provides-Extra: cpu\\nProvides-Extra: gui\\nProvides-Extra: test\\n")
WHEEL = "Wheel-Version: 1.0\\nGenerator: toy\\nRoot-Is-Purelib: true\\nTag: py3-none-any\\n"


def _wheel(directory, files):
    name = f"{NAME}-{VERSION}-py3-none-any.whl"
    info = f"{NAME}-{VERSION}.dist-info"
    files = {**files, f"{info}/METADATA": META, f"{info}/WHEEL": WHEEL}
    record = []
    with zipfile.ZipFile(os.path.join(directory, name), "w") as whl:
        for path, text in files.items():
            data = text.encode()
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
            record.append(f"{path},sha256={digest},{len(data)}")
            whl.writestr(path, data)
        whl.writestr(f"{info}/RECORD", "\\n".join([*record, f"{info}/RECORD,,"]) + "\\n")
    return name


def build_editable(wheel_directory, config_settings=None, metadata_directory=None):
    return _wheel(wheel_directory, {"campool_toy.pth": os.path.abspath(".") + "\\n"})


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    raise NotImplementedError("the toy project installs editable only")
'''

APP = """\
import json, sys

print(json.dumps({"prefix": sys.prefix, "argv": sys.argv[1:], "file": __file__}))
"""


def make_toy_checkout(where: Path) -> Path:
    """A folder shaped like our checkout (installers/run.py is the real one), ready for run.py."""
    (where / "installers").mkdir(parents=True)
    shutil.copy(ROOT / "installers" / "run.py", where / "installers" / "run.py")
    (where / "pyproject.toml").write_text(PYPROJECT)
    (where / "toy_backend.py").write_text(BACKEND)
    (where / "campool_gui").mkdir()
    (where / "campool_gui" / "__init__.py").write_text("")
    (where / "campool_gui" / "app.py").write_text(APP)
    return where

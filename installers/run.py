"""Run one of CamPool's commands from a checkout, setting up its Python environment first.

    python3 installers/run.py campool-gui --demo          # the README's first command
    python3 installers/run.py pytest -q                   # the tests (after setup-test-env.sh)
    py installers\\run.py campool-gui --demo              # Windows (the py launcher)

Which environment: the interpreter running this script when pip may install into it (a virtual
environment already active, pyenv, the python.org installers of Windows and macOS, CI's), and
otherwise ``./.venv``, made here. Debian 12, Ubuntu 24.04 and Homebrew mark their Python as
externally managed (PEP 668): pip refuses to install into it, which is why the README's old
``python3 -m pip install`` failed on a stock desktop.

The project is installed editable with the extras the command needs (``campool-gui``: cpu and gui,
``pytest``: test), once: the install is remembered under ``build/`` with a digest of
pyproject.toml, so the next start goes straight to the command, and a changed pyproject.toml
installs again. ``--install-only`` installs without running anything (setup-test-env.sh uses it);
``--python`` prints the environment's interpreter, making the environment if needed.

Standard library only, and no import of CamPool: it runs before anything is installed. Messages
go to stderr, one line each, saying what to do.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import sysconfig
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv"
STAMPS = ROOT / "build" / "campool-env.json"
MIN_PYTHON = (3, 11)

#: The project's commands: the module ``python -m`` runs (so that the checkout, not another
#: install, is imported) and the extras they need.
COMMANDS: dict[str, tuple[str, tuple[str, ...]]] = {
    "campool-gui": ("campool_gui.app", ("cpu", "gui")),
    "campool-worker": ("campool_worker.cli", ("cpu",)),
    "pytest": ("pytest", ("test",)),
}


def say(line: str) -> None:
    sys.stderr.write(f"campool: {line}\n")
    sys.stderr.flush()


def externally_managed(stdlib: str | None = None, prefix: str = sys.prefix, base_prefix: str = sys.base_prefix) -> bool:
    """PEP 668: the interpreter's distribution forbids pip there (a marker file beside the standard
    library). A virtual environment never is, whatever its base."""
    if prefix != base_prefix:
        return False
    return Path(stdlib or sysconfig.get_path("stdlib"), "EXTERNALLY-MANAGED").is_file()


def venv_python(venv: Path = VENV) -> Path:
    return venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def make_venv(venv: Path = VENV) -> Path:
    """``./.venv`` from this interpreter (kept when it is there and runs)."""
    python = venv_python(venv)
    if python.exists() and subprocess.run([str(python), "-c", "pass"], check=False).returncode == 0:
        return python
    try:
        import ensurepip  # noqa: F401 - Debian and Ubuntu ship it apart, in python3-venv
    except ImportError:
        raise SystemExit(fail(
            f"{sys.executable} is externally managed (PEP 668) and cannot make a virtual environment "
            "without its venv module: install it with: sudo apt install python3-venv, then run this again")) from None
    say(f"{sys.executable} is externally managed (PEP 668): making a virtual environment in {venv}")
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
    forget(python)  # a remade environment holds nothing yet, whatever the last one held
    return python


def fail(line: str) -> int:
    """Say what to do; the exit status of a setup that could not go on."""
    say(line)
    return 2


def environment() -> Path:
    """The interpreter to install into and run with (see the module's docstring)."""
    if not externally_managed():
        return Path(sys.executable)
    return make_venv()


def pyproject_digest() -> str:
    return hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()


def _read_stamps() -> dict[str, dict[str, object]]:
    try:
        data = json.loads(STAMPS.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def installed_extras(python: Path) -> set[str]:
    """The extras installed into ``python`` from this checkout at its current pyproject.toml."""
    stamp = _read_stamps().get(str(python), {})
    if stamp.get("pyproject") != pyproject_digest():
        return set()
    extras = stamp.get("extras", [])
    return {e for e in extras if isinstance(e, str)} if isinstance(extras, list) else set()


def implied(extras: set[str]) -> set[str]:
    """Extras with those they include (``test`` is ``campool[cpu,gui]`` plus tools), from pyproject.toml."""
    import tomllib
    table = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    done: set[str] = set()
    todo = list(extras)
    while todo:
        extra = todo.pop()
        if extra in done:
            continue
        done.add(extra)
        for req in table.get(extra, []):
            if req.startswith("campool[") and "]" in req:
                todo.extend(e.strip() for e in req[len("campool["):req.index("]")].split(","))
    return done


def forget(python: Path) -> None:
    stamps = _read_stamps()
    if stamps.pop(str(python), None) is not None:
        _write_stamps(stamps)


def _write_stamps(stamps: dict[str, dict[str, object]]) -> None:
    STAMPS.parent.mkdir(parents=True, exist_ok=True)
    STAMPS.write_text(json.dumps(stamps, indent=1) + "\n")


def install(python: Path, extras: Sequence[str]) -> None:
    """``pip install -e .[extras]`` into ``python`` unless this checkout already is, with those extras."""
    wanted = set(extras)
    have = installed_extras(python)
    if wanted <= implied(have):
        return
    spec = f"{ROOT}[{','.join(sorted(wanted | have))}]"
    say(f"installing {spec} into {python} (once; a changed pyproject.toml installs again)")
    subprocess.run([str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", "-e", spec],
                   check=True)
    stamps = _read_stamps()
    stamps[str(python)] = {"extras": sorted(wanted | have), "pyproject": pyproject_digest()}
    _write_stamps(stamps)


def run(python: Path, module: str, args: Sequence[str]) -> int:
    argv = [str(python), "-m", module, *args]
    if os.name == "nt":  # Windows' execv starts a new process and returns at once: wait for it instead
        return subprocess.run(argv, check=False).returncode
    sys.stdout.flush()
    os.execv(argv[0], argv)  # the command becomes this process: Ctrl-C, signals and the exit status are its own


def main(argv: Sequence[str] | None = None) -> int:
    if sys.version_info < MIN_PYTHON:
        return fail(f"CamPool needs Python {'.'.join(map(str, MIN_PYTHON))} or newer; {sys.executable} is "
                            f"{sys.version.split()[0]}: run this with a newer python3 (e.g. python3.11)")
    parser = argparse.ArgumentParser(prog="installers/run.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--install-only", metavar="EXTRAS", help="install these extras (comma-separated) and stop")
    parser.add_argument("--python", action="store_true", help="print the environment's interpreter and stop")
    parser.add_argument("command", nargs="?", choices=sorted(COMMANDS))
    parser.add_argument("args", nargs=argparse.REMAINDER, help="passed to the command")
    opts = parser.parse_args(argv)
    try:
        python = environment()
        if opts.python:
            print(python)
            return 0
        if opts.install_only:
            install(python, [e.strip() for e in opts.install_only.split(",") if e.strip()])
            return 0
        if opts.command is None:
            parser.error("name a command: " + ", ".join(sorted(COMMANDS)))
        module, extras = COMMANDS[opts.command]
        install(python, extras)
    except subprocess.CalledProcessError as exc:
        return fail(f"{' '.join(map(str, exc.cmd))} failed (exit status {exc.returncode}); see pip's lines above")
    return run(python, module, opts.args)


if __name__ == "__main__":
    sys.exit(main())

"""The README's two commands are what CI runs: the test command is .ci/run's, and both go through
installers/run.py, the one way the checkout gets its Python environment (tests/integration/
test_first_command.py runs it)."""
from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _quick_start_commands() -> list[str]:
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## Quick start"):]
    section = section[:section.index("\n## ", 1)]
    return re.findall(r"```\n(.+?)\n```", section)


def test_readme_has_two_commands_both_through_run_py() -> None:
    demo, tests = _quick_start_commands()
    assert demo == "python3 installers/run.py campool-gui --demo"
    assert tests.startswith("bash installers/setup-test-env.sh && python3 installers/run.py ")


def test_ci_runs_the_readme_test_command() -> None:
    _, tests = _quick_start_commands()
    setup, run = tests.split(" && ")
    ci = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()]
    assert setup in ci and run in ci
    assert ci.index(setup) < ci.index(run)

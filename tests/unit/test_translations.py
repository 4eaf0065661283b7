"""The Vietnamese translation is complete, keeps every placeholder, and the shipped .qm is built from it."""
from __future__ import annotations

import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

pytest.importorskip("PySide6")
from PySide6.QtCore import QTranslator

ROOT = Path(__file__).resolve().parents[2]
I18N = ROOT / "campool_gui" / "i18n"
TS = I18N / "campool_vi.ts"
QM = I18N / "campool_vi.qm"


def messages(ts: Path) -> list[tuple[str, str, ET.Element]]:
    out = []
    for ctx in ET.parse(ts).getroot().findall("context"):
        name = ctx.findtext("name") or ""
        for m in ctx.findall("message"):
            out.append((name, m.findtext("source") or "", m.find("translation")))
    return out


def test_every_text_of_the_vietnamese_source_is_translated_and_keeps_its_placeholders():
    msgs = messages(TS)
    assert len(msgs) > 300
    for ctx, src, tr in msgs:
        assert tr is not None and tr.get("type") not in ("unfinished", "vanished", "obsolete"), (ctx, src)
        assert (tr.text or "").strip(), f"{ctx}: {src!r} has no translation"
        # .format() fills {name}: a lost or renamed one is a KeyError or a hole on screen
        assert set(re.findall(r"\{\w+\}", src)) == set(re.findall(r"\{\w+\}", tr.text or "")), (ctx, src)


def test_the_shipped_qm_translates_every_text_as_the_ts_says():
    tr = QTranslator()
    assert tr.load(str(QM)), f"{QM} missing or unreadable: run installers/update-translations.sh"
    stale = [(ctx, src) for ctx, src, t in messages(TS) if tr.translate(ctx, src) != (t.text or "")]
    assert not stale, f"{QM.name} is older than {TS.name} ({len(stale)} texts differ, e.g. {stale[:3]}): " \
                      "run installers/update-translations.sh"


def _lupdate() -> str | None:
    beside = Path(sys.executable).parent / "pyside6-lupdate"
    return str(beside) if beside.exists() else shutil.which("pyside6-lupdate")


def test_every_text_of_the_control_center_is_in_the_ts(tmp_path):
    """lupdate over campool_gui/ui finds no text the .ts lacks (a new self.tr without a translation)."""
    lupdate = _lupdate()
    if lupdate is None:
        pytest.skip("pyside6-lupdate is not installed beside this Python")
    fresh = tmp_path / "fresh.ts"
    sources = sorted(str(p) for p in (ROOT / "campool_gui" / "ui").rglob("*.py"))
    subprocess.run([lupdate, "-no-obsolete", *sources, "-ts", str(fresh)], check=True, capture_output=True,
                   timeout=60)
    have = {(c, s) for c, s, _ in messages(TS)}
    new = sorted({(c, s) for c, s, _ in messages(fresh)} - have)
    assert not new, f"texts not in {TS.name} yet ({len(new)}, e.g. {new[:3]}): run installers/update-translations.sh " \
                    "and translate them"

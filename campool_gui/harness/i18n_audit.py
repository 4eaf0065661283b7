"""Which texts of a built window are still in English while another language is loaded.

Every text a widget shows (labels, buttons, tool buttons, check boxes, group box titles, tab
texts, combo box items, list items, table headers, placeholders, tool tips, the window title) is
split into words; a word is *English left over* when it is a word of the English source texts
(campool_vi.ts) and neither a word of the translations (Vietnamese keeps "camera", "GPU", "fps")
nor a proper name or unit of ALLOWED. Data is not text of ours: the names and ids of workers and
cameras, their sources, paths are taken out first, and their words are not suspects (`data`).
"""
from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QModelIndex, Qt
from PySide6.QtWidgets import (
    QAbstractButton,
    QComboBox,
    QGroupBox,
    QLabel,
    QLineEdit,
    QListWidget,
    QTableView,
    QTabWidget,
    QTreeView,
    QWidget,
)

# names of things, protocols, units: the same in every language
ALLOWED = frozenset("""campool rtsp onvif fps gpu cpu mqtt tls csv json lan sqlite zeroconf prometheus metrics
home assistant broker topic curve pem crt pin ctrl data dir accept master key camera cameras demo ok min ms sec
auto mdns onnx yolox http https""".split())
_WORD = re.compile(r"[A-Za-z]{3,}")


@dataclass(frozen=True)
class Leftover:
    where: str      # the widget's class and object name, and which of its texts
    text: str
    words: tuple[str, ...]


def vocabularies(ts: Path) -> tuple[set[str], set[str]]:
    """(words of the English sources, words of the translations) of a .ts file, lower case."""
    english: set[str] = set()
    translated: set[str] = set()
    for m in ET.parse(ts).getroot().iter("message"):
        english |= {w.lower() for w in _WORD.findall(m.findtext("source") or "")}
        translated |= {w.lower() for w in _WORD.findall(m.findtext("translation") or "")}
    return english, translated


def widget_texts(root: QWidget) -> Iterable[tuple[str, str]]:
    """(where, text) of every visible text under `root` (root included)."""
    for w in [root, *root.findChildren(QWidget)]:
        if not w.isVisibleTo(root) and w is not root:
            continue
        name = f"{type(w).__name__}#{w.objectName()}"
        if w.toolTip():
            yield f"{name} tooltip", w.toolTip()
        if w.isWindow() and w.windowTitle():
            yield f"{name} title", w.windowTitle()
        if isinstance(w, QLabel):
            yield name, w.text()
        elif isinstance(w, QAbstractButton):
            yield name, w.text()
        elif isinstance(w, QGroupBox):
            yield name, w.title()
        elif isinstance(w, QLineEdit):
            yield f"{name} placeholder", w.placeholderText()
        elif isinstance(w, QComboBox):
            for i in range(w.count()):
                yield f"{name} item {i}", w.itemText(i)
        elif isinstance(w, QTabWidget):
            for i in range(w.count()):
                yield f"{name} tab {i}", w.tabText(i)
        if isinstance(w, QListWidget):
            for i in range(w.count()):
                yield f"{name} item {i}", w.item(i).text()
        if isinstance(w, (QTableView, QTreeView)) and w.model() is not None:
            model = w.model()
            for c in range(model.columnCount(QModelIndex())):
                head = model.headerData(c, Qt.Orientation.Horizontal, Qt.ItemDataRole.DisplayRole)
                if head:
                    yield f"{name} header {c}", str(head)


def leftovers(root: QWidget, ts: Path, data: Iterable[str] = ()) -> list[Leftover]:
    """The texts under `root` with English words left in them (see the module's doc)."""
    english, translated = vocabularies(ts)
    suspects = english - translated - ALLOWED
    names = sorted({d for d in data if d}, key=len, reverse=True)   # longest first: "Gate 2" before "Gate"
    # and their words, for a name shown elided ("Dock, Gate, Yard…") or in part
    suspects -= {w.lower() for n in names for w in _WORD.findall(n)}
    out: list[Leftover] = []
    for where, text in widget_texts(root):
        rest = re.sub(r"<[^>]+>", " ", text)   # rich text: the tags are not words
        for n in names:
            rest = rest.replace(n, " ")
        words = tuple(w for w in _WORD.findall(rest) if w.lower() in suspects)
        if words:
            out.append(Leftover(where, text, words))
    return out

#!/usr/bin/env bash
# Refresh the control center's translations after its texts changed:
#   1. pyside6-lupdate reads every self.tr / QCoreApplication.translate / QT_TRANSLATE_NOOP text of
#      campool_gui/ui and merges it into campool_gui/i18n/campool_<lang>.ts (translations kept,
#      new texts marked unfinished, vanished ones marked obsolete and dropped with -no-obsolete);
#   2. translate the unfinished ones (Qt Linguist: pyside6-linguist campool_gui/i18n/campool_vi.ts,
#      or edit the XML);
#   3. run this again: pyside6-lrelease compiles each .ts into the .qm that ships in the package.
# tests/unit/test_translations.py fails while a text is unfinished or a .qm is older than its .ts.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="$(python3 installers/run.py --python 2>/dev/null || command -v python3)"
BIN="$(dirname "$PY")"
tool() {  # the PySide6 tools live beside the interpreter that has PySide6 (venv or pyenv)
    if [ -x "$BIN/pyside6-$1" ]; then "$BIN/pyside6-$1" "${@:2}"; else "pyside6-$1" "${@:2}"; fi
}
mapfile -t SOURCES < <(find campool_gui/ui -name '*.py' | sort)
for ts in campool_gui/i18n/campool_*.ts; do
    tool lupdate -no-obsolete -locations relative "${SOURCES[@]}" -ts "$ts"
    tool lrelease "$ts" -qm "${ts%.ts}.qm"
done

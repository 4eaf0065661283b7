"""The operator's language: which translation the control center loads, and the locale's formats.

The texts are Qt's (`self.tr`, `QCoreApplication.translate`), their translations in
`campool_gui/i18n/campool_<lang>.qm` (compiled from the `.ts` beside it by
installers/update-translations.sh). The language is the system's (QLocale.system()) unless the
operator picked one in Settings (the `ui/language` setting: "system", "en", "vi"); it is chosen
once, before the window is built, so a change applies at the next start.

Numbers and times the views show go through `num` / `clock_time` / `date_time`, so they follow the
same locale as the words (QLocale.setDefault is set to it).
"""
from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtCore import QT_TRANSLATE_NOOP, QCoreApplication, QDateTime, QLocale, QTranslator

log = logging.getLogger(__name__)

I18N_DIR = Path(__file__).resolve().parent.parent / "i18n"
# setting value -> what Settings shows (the names of languages are written in their own language)
LANGUAGES = (("system", ""), ("en", "English"), ("vi", "Tiếng Việt"))
SHIPPED = ("vi",)  # languages with a .qm; English is the source text itself

_installed: list[QTranslator] = []


def resolve(choice: str | None) -> QLocale:
    """The locale of a language setting: the system's for "system" (or anything unknown)."""
    if choice == "en":
        return QLocale("en_US")
    if choice == "vi":
        return QLocale("vi_VN")
    return QLocale.system()


def install(app: QCoreApplication, choice: str | None) -> QLocale:
    """Load the translation for `choice` into `app` (replacing one loaded before) and make its locale
    the default for number and date formats. English, or a language we do not ship, loads nothing."""
    for tr in _installed:
        app.removeTranslator(tr)
    _installed.clear()
    locale = resolve(choice)
    QLocale.setDefault(locale)
    code = locale.name().split("_")[0]
    if code in SHIPPED:
        tr = QTranslator(app)
        if tr.load(locale, "campool", "_", str(I18N_DIR)):
            app.installTranslator(tr)
            _installed.append(tr)
        else:
            log.warning("no %s translation in %s; the control center stays in English", code, I18N_DIR)
    return locale


def language() -> str:
    """The language of the texts now loaded ("vi", "en")."""
    return "vi" if _installed else "en"


def num(value: float, decimals: int = 0) -> str:
    """A number in the locale's format (group and decimal separators: 1,234.5 / 1.234,5)."""
    if decimals == 0:
        return QLocale().toString(round(value))
    return QLocale().toString(float(value), "f", decimals)


def clock_time(ts: float) -> str:
    """A wall-clock time of day, with seconds, as the locale writes it."""
    return QLocale().toString(QDateTime.fromSecsSinceEpoch(int(ts)).time(), "HH:mm:ss")


def date_time(ts: float, *, seconds: bool = False) -> str:
    """A date and time as the locale writes it (its short format; with seconds if asked)."""
    loc = QLocale()
    fmt = loc.dateTimeFormat(QLocale.FormatType.ShortFormat)
    if seconds and ":ss" not in fmt:
        fmt = fmt.replace(":mm", ":mm:ss")
    return loc.toString(QDateTime.fromSecsSinceEpoch(int(ts)), fmt)


# Qt's own texts that our windows show (the standard buttons of dialogs): Qt ships no Vietnamese
# translation of its own (no qtbase_vi.qm), so ours carries these, in Qt's own context.
QT_TEXTS = (QT_TRANSLATE_NOOP("QPlatformTheme", "OK"), QT_TRANSLATE_NOOP("QPlatformTheme", "Cancel"),
            QT_TRANSLATE_NOOP("QPlatformTheme", "Save"), QT_TRANSLATE_NOOP("QPlatformTheme", "Close"),
            QT_TRANSLATE_NOOP("QPlatformTheme", "Apply"), QT_TRANSLATE_NOOP("QPlatformTheme", "Yes"),
            QT_TRANSLATE_NOOP("QPlatformTheme", "No"), QT_TRANSLATE_NOOP("QPlatformTheme", "Help"),
            QT_TRANSLATE_NOOP("QPlatformTheme", "Discard"))

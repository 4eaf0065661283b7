"""Settings: where data lives, theme, language, placement policy, integrations (MQTT, metrics), about."""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QT_TRANSLATE_NOOP, QSettings, Qt, QUrl, Signal
from PySide6.QtGui import QDesktopServices, QGuiApplication
from PySide6.QtWidgets import QComboBox, QFormLayout, QHBoxLayout, QLineEdit, QVBoxLayout, QWidget

from campool_gui import __version__
from campool_gui.ui.bridge import PoolBridge
from campool_gui.ui.common import Page, button, card, label
from campool_gui.ui.display import POLICY_WORDS, policy_help, policy_word
from campool_gui.ui.i18n import LANGUAGES

if TYPE_CHECKING:
    from campool_gui.integrations.hub import Integrations

class SettingsView(Page):
    title = QT_TRANSLATE_NOOP("SettingsView", "Settings")
    subtitle = QT_TRANSLATE_NOOP("SettingsView", "Applies at once and is remembered.")
    themeChanged = Signal(str)  # "system" | "dark" | "light"
    languageChanged = Signal(str)  # "system" | "en" | "vi": applies at the next start

    def __init__(self, bridge: PoolBridge, settings: QSettings, data_dir: str = "",
                 parent: QWidget | None = None, *, integrations: Integrations | None = None,
                 integrations_file: Path | None = None) -> None:
        super().__init__(parent)
        self.bridge = bridge
        self.settings = settings
        box = card()
        box.setMaximumWidth(760)
        lay = QVBoxLayout(box)
        lay.setContentsMargins(20, 16, 20, 16)
        lay.setSpacing(14)
        form = QFormLayout()
        form.setHorizontalSpacing(18)
        form.setVerticalSpacing(12)
        form.setLabelAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)

        self.data_edit = QLineEdit(data_dir or self.tr("(not set)"))
        self.data_edit.setReadOnly(True)
        open_btn = button(self.tr("Open"), "folder")
        open_btn.clicked.connect(lambda: QDesktopServices.openUrl(QUrl.fromLocalFile(self.data_edit.text())))
        row = QHBoxLayout()
        row.addWidget(self.data_edit, 1)
        row.addWidget(open_btn)
        form.addRow(label(self.tr("Data location"), "metricLabel"), row)
        form.addRow("", label(self.tr("The count history, events, worker metrics, alerts and keys (SQLite). "
                                      "Set with --data-dir or CAMPOOL_DATA_DIR."), "muted", wrap=True))

        key = str(getattr(bridge.master, "public_key", "") or "")
        self.key_edit = QLineEdit(key or self.tr("(unknown)"))
        self.key_edit.setReadOnly(True)
        copy_btn = button(self.tr("Copy"))
        copy_btn.clicked.connect(lambda: QGuiApplication.clipboard().setText(self.key_edit.text()))
        krow = QHBoxLayout()
        krow.addWidget(self.key_edit, 1)
        krow.addWidget(copy_btn)
        form.addRow(label(self.tr("Control center key"), "metricLabel"), krow)
        form.addRow("", label(self.tr("Workers trust this key once adopted. To trust it without pairing, start a "
                                      "worker with  --accept-master=<key>."), "muted", wrap=True))

        self.theme_combo = QComboBox()
        for key, text in (("system", self.tr("Follow the system")), ("dark", self.tr("Dark")),
                          ("light", self.tr("Light"))):
            self.theme_combo.addItem(text, key)
        self.theme_combo.setCurrentIndex(max(0, self.theme_combo.findData(settings.value("ui/theme", "system"))))
        self.theme_combo.activated.connect(self._on_theme)
        form.addRow(label(self.tr("Theme"), "metricLabel"), self.theme_combo)

        self.language_combo = QComboBox()
        for key, name in LANGUAGES:
            self.language_combo.addItem(name or self.tr("Follow the system"), key)
        self.language_combo.setCurrentIndex(
            max(0, self.language_combo.findData(str(settings.value("ui/language", "system")))))
        self.language_combo.activated.connect(self._on_language)
        form.addRow(label(self.tr("Language"), "metricLabel"), self.language_combo)
        form.addRow("", label(self.tr("Applies at the next start of the control center."), "muted", wrap=True))

        self.policy_combo = QComboBox()
        self.policy_combo.activated.connect(self._on_policy)
        self.policy_help = label("", "muted", wrap=True)
        form.addRow(label(self.tr("Placement policy"), "metricLabel"), self.policy_combo)
        form.addRow("", self.policy_help)
        lay.addLayout(form)
        self.body.addWidget(box)
        self.integrations_panel = None
        if integrations is not None:
            from campool_gui.integrations.settings import SETTINGS_FILE
            from campool_gui.ui.integrations_panel import IntegrationsPanel
            path = integrations_file or Path(data_dir or ".") / SETTINGS_FILE
            self.integrations_panel = IntegrationsPanel(bridge, integrations, path)
            self.body.addWidget(self.integrations_panel)
        about = label(self.tr("CamPool control center {version} · workers are found on the LAN by zeroconf "
                              "and trusted by key (adoption).").format(version=__version__), "muted", wrap=True)
        self.body.addWidget(about)
        self.body.addStretch(1)
        self.bridge.stateChanged.connect(self._sync_policy)
        self._sync_policy()

    def _sync_policy(self) -> None:
        st = self.bridge.state
        names = list(st.policies) or list(POLICY_WORDS)
        if [self.policy_combo.itemData(i) for i in range(self.policy_combo.count())] != names:
            self.policy_combo.clear()
            for n in names:
                self.policy_combo.addItem(policy_word(n), n)
        if st.policy and not self.policy_combo.view().isVisible():
            self.policy_combo.setCurrentIndex(max(0, self.policy_combo.findData(st.policy)))
        self.policy_help.setText(policy_help(self.policy_combo.currentData() or ""))

    def _on_policy(self, _i: int) -> None:
        name = self.policy_combo.currentData()
        if name and name != self.bridge.state.policy:
            self.settings.setValue("pool/policy", name)
            self.bridge.set_policy(name)
        self.policy_help.setText(policy_help(name or ""))

    def _on_theme(self, _i: int) -> None:
        key = self.theme_combo.currentData()
        self.settings.setValue("ui/theme", key)
        self.themeChanged.emit(key)

    def _on_language(self, _i: int) -> None:
        key = self.language_combo.currentData()
        self.settings.setValue("ui/language", key)
        self.languageChanged.emit(key)

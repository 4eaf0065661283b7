"""Workers: one card per worker with live charts, newly found ones with "Adopt", details on click."""
from __future__ import annotations

import logging

from PySide6.QtCore import QT_TRANSLATE_NOOP, Qt, QTimer
from PySide6.QtWidgets import QScrollArea, QSplitter, QVBoxLayout, QWidget

from campool_gui.ui.adopt_dialog import AdoptDialog
from campool_gui.ui.bridge import PoolBridge
from campool_gui.ui.common import FlowLayout, Page, label
from campool_gui.ui.worker_card import AutoTargetCard, WorkerCard
from campool_gui.ui.worker_details import WorkerDetails

log = logging.getLogger(__name__)

PLOT_REFRESH_MS = 250  # charts move at 4 Hz: telemetry is 1 Hz, the eye needs no more


class WorkersView(Page):
    title = QT_TRANSLATE_NOOP("WorkersView", "Workers")
    subtitle = QT_TRANSLATE_NOOP("WorkersView",
                                 "Edge boxes running cameras. Drag cameras onto a card to pin them there.")

    def __init__(self, bridge: PoolBridge, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.bridge = bridge
        self.cards: dict[str, WorkerCard] = {}
        self.selected: str | None = None
        self.adopt_dialog: AdoptDialog | None = None

        split = QSplitter(Qt.Orientation.Horizontal)
        split.setChildrenCollapsible(False)
        self.splitter = split
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        inner = QWidget()
        col = QVBoxLayout(inner)
        col.setContentsMargins(0, 0, 8, 0)
        col.setSpacing(10)
        self.discovered_title = label(self.tr("Found on the LAN"), "sectionTitle")
        col.addWidget(self.discovered_title)
        self.discovered_flow = FlowLayout(spacing=14)
        col.addLayout(self.discovered_flow)
        self.adopted_title = label(self.tr("Adopted workers"), "sectionTitle")
        col.addWidget(self.adopted_title)
        self.flow = FlowLayout(spacing=14)
        col.addLayout(self.flow)
        self.empty_label = label(self.tr("No workers yet. Start `campool-worker serve` on an edge box on this LAN; "
                                         "it appears here within seconds."), "muted", wrap=True)
        col.addWidget(self.empty_label)
        col.addStretch(1)
        scroll.setWidget(inner)
        split.addWidget(scroll)
        self.auto_card = AutoTargetCard()
        self.auto_card.camerasDropped.connect(self._on_drop)
        self.auto_card.standbyDropped.connect(self._on_standby_drop)
        self.flow.addWidget(self.auto_card)

        self.details = WorkerDetails()
        self.details.closeRequested.connect(lambda: self.select(None))
        self.details.drainRequested.connect(self.bridge.drain)
        self.details.hide()
        split.addWidget(self.details)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 1)
        self.body.addWidget(split, 1)

        self._pending: set[str] = set()
        self.bridge.workersChanged.connect(self._on_workers_event)
        self.bridge.camerasChanged.connect(lambda _ids: self._refresh_details())
        self._timer = QTimer(self)
        self._timer.setInterval(PLOT_REFRESH_MS)
        self._timer.timeout.connect(self.refresh_plots)
        self._timer.start()
        self._pending.update(self.bridge.state.workers)
        self._flush_pending()

    # ------------------------------------------------------------------ sync with the pool
    def _on_workers_event(self, ids: list[str]) -> None:
        # Cards are built and updated while the page is visible; a hidden page only notes
        # which workers changed and catches up when it is shown.
        self._pending.update(ids)
        if self.isVisible():
            self._flush_pending()

    def _flush_pending(self) -> None:
        ids, self._pending = sorted(self._pending), set()
        if ids:
            self._on_workers_changed(ids)

    def shown(self) -> None:
        self._flush_pending()

    def _on_workers_changed(self, ids: list[str]) -> None:
        state = self.bridge.state
        cam_names = {cid: c.name for cid, c in state.cameras.items()}
        for wid in ids:
            w = state.workers.get(wid)
            card = self.cards.get(wid)
            if w is None:
                if card is not None:
                    card.setParent(None)
                    card.deleteLater()
                    del self.cards[wid]
                continue
            if card is not None and card.worker.adopted != w.adopted:
                card.setParent(None)  # moves between sections: rebuild it there
                card.deleteLater()
                del self.cards[wid]
                card = None
            if card is None:
                card = WorkerCard(w)
                card.clicked.connect(self.select)
                card.adoptRequested.connect(self.open_adopt)
                card.camerasDropped.connect(self._on_drop)
                card.standbyDropped.connect(self._on_standby_drop)
                self.cards[wid] = card
                self._insert_sorted(card)
            card.update_worker(w, cam_names)
        n_disc = sum(1 for c in self.cards.values() if not c.worker.adopted)
        n_adopted = len(self.cards) - n_disc
        self.discovered_title.setVisible(n_disc > 0)
        self.adopted_title.setText(self.tr("Adopted workers  ·  {n}").format(n=n_adopted))
        self.empty_label.setVisible(not self.cards)
        self.auto_card.set_policy(state.policy)
        self._refresh_details()

    def _insert_sorted(self, card: WorkerCard) -> None:
        """Cards keep a stable order by name; the Auto card stays last among adopted ones."""
        flow = self.flow if card.worker.adopted else self.discovered_flow
        parent = self.flow.parentWidget()
        card.setParent(parent)
        peers = [self.cards[w] for w in self.cards if self.cards[w].worker.adopted == card.worker.adopted]
        peers.sort(key=lambda c: (c.worker.name.lower(), c.worker.worker_id))
        # FlowLayout keeps insertion order; rebuild this section's order (cheap: a handful of cards).
        for c in peers:
            flow.removeWidget(c)
        if flow is self.flow:
            flow.removeWidget(self.auto_card)
        for c in peers:
            flow.addWidget(c)
            c.show()
        if flow is self.flow:
            flow.addWidget(self.auto_card)

    def refresh_plots(self) -> int:
        """Push new history into visible cards' charts; returns how many cards were redrawn."""
        if not self.isVisible():
            return 0
        n = 0
        for card in self.cards.values():
            if not card.visibleRegion().isEmpty() and card.refresh_plots():
                n += 1
        if self.details.isVisible():
            self.details.refresh_chart()
        return n

    # ------------------------------------------------------------------ actions
    def select(self, worker_id: str | None) -> None:
        if self.selected and self.selected in self.cards:
            self.cards[self.selected].set_selected(False)
        self.selected = worker_id
        if worker_id and worker_id in self.cards and self.cards[worker_id].worker.adopted:
            self.cards[worker_id].set_selected(True)
            self.details.show()
            self._refresh_details()
        else:
            self.selected = None
            self.details.hide()

    def _refresh_details(self) -> None:
        if not self.selected or not self.details.isVisible():
            return
        w = self.bridge.state.workers.get(self.selected)
        if w is None:
            self.select(None)
            return
        self.details.show_worker(w, self.bridge.state.cameras)

    def open_adopt(self, worker_id: str) -> AdoptDialog | None:
        w = self.bridge.state.workers.get(worker_id)
        if w is None:
            return None
        dlg = AdoptDialog(w, self.bridge.adopt, self)
        dlg.adopted.connect(lambda wid: self.bridge.refresh_now())
        self.adopt_dialog = dlg
        dlg.open()
        return dlg

    def _on_drop(self, camera_ids: list, target: str) -> None:
        self.bridge.pin_cameras(list(camera_ids), target or None)

    def _on_standby_drop(self, camera_ids: list, target: str) -> None:
        self.bridge.set_standby(list(camera_ids), target or None)

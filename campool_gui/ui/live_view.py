"""Live: a grid of 1, 4, 9 or 16 preview tiles.

Previews cost the workers CPU and the LAN bandwidth, so they are requested only for
the tiles on screen, only while this page is visible, at a modest size and rate, and
stopped as soon as a tile shows another camera or the page is left.
"""
from __future__ import annotations

import logging
import math

from PySide6.QtCore import QT_TRANSLATE_NOOP
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QButtonGroup, QComboBox, QGridLayout, QToolButton, QWidget

from campool_gui.ui.bridge import PoolBridge
from campool_gui.ui.common import Page, label
from campool_gui.ui.preview_tile import PreviewTile
from campool_worker import protocol

log = logging.getLogger(__name__)

GRID_SIZES = (1, 4, 9, 16)
PREVIEW_FPS = 5.0
PREVIEW_WIDTH = {1: 960, 4: 640, 9: 480, 16: 400}  # JPEG width asked of the worker, per grid


class LiveView(Page):
    title = QT_TRANSLATE_NOOP("LiveView", "Live")
    subtitle = QT_TRANSLATE_NOOP("LiveView",
                                 "Previews with detections, tracks, counting lines and zones. Double-click a tile to "
                                 "enlarge.")

    def __init__(self, bridge: PoolBridge, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.bridge = bridge
        self.grid_n = 4
        self.page_index = 0
        self.streaming: set[str] = set()  # cameras we asked previews of
        self._active = False
        self._stream_width = PREVIEW_WIDTH[self.grid_n]
        self.tiles: list[PreviewTile] = []

        self.size_group = QButtonGroup(self)
        for n in GRID_SIZES:
            b = QToolButton()
            b.setObjectName("segment")
            b.setText(f"{int(math.sqrt(n))}×{int(math.sqrt(n))}")
            b.setToolTip(self.tr("1 tile") if n == 1 else self.tr("{n} tiles").format(n=n))
            b.setCheckable(True)
            b.setChecked(n == self.grid_n)
            self.size_group.addButton(b, n)
            self.actions_layout.addWidget(b)
        self.size_group.idClicked.connect(self.set_grid)
        self.page_combo = QComboBox()
        self.page_combo.setMinimumWidth(130)
        self.page_combo.activated.connect(self._on_page)
        self.actions_layout.addSpacing(12)
        self.actions_layout.addWidget(label(self.tr("Page"), "muted"))
        self.actions_layout.addWidget(self.page_combo)

        self.grid_host = QWidget()
        self.grid = QGridLayout(self.grid_host)
        self.grid.setContentsMargins(0, 0, 0, 0)
        self.grid.setSpacing(6)
        self.body.addWidget(self.grid_host, 1)
        self.bridge.previewFrame.connect(self._on_frame)
        self.bridge.camerasChanged.connect(lambda _ids: self._active and self._fill())
        self._build_tiles()
        self._fill()

    # ------------------------------------------------------------------ layout
    def set_grid(self, n: int) -> None:
        if n not in GRID_SIZES:
            raise ValueError(f"grid size must be one of {GRID_SIZES}")
        self.grid_n = n
        self.size_group.button(n).setChecked(True)
        self.page_index = 0
        self._build_tiles()
        self._fill()

    def _build_tiles(self) -> None:
        for t in self.tiles:
            t.setParent(None)
            t.deleteLater()
        self.tiles = []
        side = int(math.sqrt(self.grid_n))
        for i in range(self.grid_n):
            tile = PreviewTile()
            tile.doubleClicked.connect(self._focus_camera)
            self.grid.addWidget(tile, i // side, i % side)
            self.tiles.append(tile)
        for r in range(4):
            self.grid.setRowStretch(r, 1 if r < side else 0)
            self.grid.setColumnStretch(r, 1 if r < side else 0)

    def camera_order(self) -> list[str]:
        """Running cameras first (they have something to show), then by name."""
        cams = self.bridge.state.cameras.values()
        rank = {"running": 0, "starting": 1, "reconnecting": 2, "failed": 3}
        return [c.camera_id for c in sorted(cams, key=lambda c: (rank.get(c.state, 4), c.name.lower()))]

    def _fill(self) -> None:
        order = self.camera_order()
        pages = max(1, math.ceil(len(order) / self.grid_n))
        self.page_index = min(self.page_index, pages - 1)
        if self.page_combo.count() != pages:
            self.page_combo.clear()
            self.page_combo.addItems([self.tr("{i} of {n}").format(i=i + 1, n=pages) for i in range(pages)])
        self.page_combo.setCurrentIndex(self.page_index)
        # Keep each camera in its tile if still on this page, so tiles do not jump around.
        page = order[self.page_index * self.grid_n:(self.page_index + 1) * self.grid_n]
        current = [t.camera_id for t in self.tiles]
        keep = {cid for cid in current if cid in page}
        free = [cid for cid in page if cid not in keep]
        for tile in self.tiles:
            cid = tile.camera_id if tile.camera_id in keep else (free.pop(0) if free else None)
            tile.set_camera(self.bridge.state.cameras.get(cid) if cid else None)
        self._sync_streams()

    def _on_page(self, index: int) -> None:
        self.page_index = index
        self._fill()

    def _focus_camera(self, camera_id: str) -> None:
        if self.grid_n == 1:
            self.set_grid(4)
            return
        self.set_grid(1)
        order = self.camera_order()
        if camera_id in order:
            self.page_index = order.index(camera_id)
            self._fill()

    # ------------------------------------------------------------------ streams
    def visible_cameras(self) -> set[str]:
        return {t.camera_id for t in self.tiles if t.camera_id} if self._active else set()

    def _sync_streams(self) -> None:
        want = self.visible_cameras()
        width = PREVIEW_WIDTH[self.grid_n]
        if width != self._stream_width:  # a new grid size: ask the same cameras for another size
            self._stream_width = width
            start = want
        else:
            start = want - self.streaming
        for cid in sorted(start):
            self.bridge.set_preview(cid, True, width, PREVIEW_FPS)
        for cid in sorted(self.streaming - want):
            self.bridge.set_preview(cid, False, width, PREVIEW_FPS)
        self.streaming = want

    def shown(self) -> None:
        self._active = True
        self._fill()

    def hidden(self) -> None:
        self._active = False
        self._sync_streams()

    def _on_frame(self, camera_id: str, image: QImage, preview: protocol.PreviewFrame | None) -> None:
        if camera_id not in self.streaming:
            return
        for tile in self.tiles:
            if tile.camera_id == camera_id:
                tile.camera = self.bridge.state.cameras.get(camera_id, tile.camera)
                tile.set_frame(image, preview)
                return

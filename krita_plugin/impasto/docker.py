"""The Impasto docker: a view of the shared `Controller` (connection, mode, styles, Apply)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from krita import DockWidget, Krita

from shared.job import ENGINES, photoreal_refused, uses_iterations
from shared.lessons import DEFAULT_MINUTES, style_name_for

from . import plugin
from .jobs import MODE_TITLES, StyleChoice
from .krita_io import is_mask
from .qt_compat import (
    ALIGN_CENTER,
    FORMAT_RGBA8888,
    KEEP_ASPECT,
    SMOOTH,
    USER_ROLE,
    QIcon,
    QImage,
    QPixmap,
    QSize,
    Qt,
    QtWidgets,
    enum,
)

log = logging.getLogger(__name__)

DOCKER_ID = "impasto_docker"
THUMB = 40
PREVIEW = 128
STATE_DOTS = {"connected": "#3a3", "connecting": "#c90", "offline": "#c33"}
PRESERVE_TITLES = {
    "none": "None",
    "luminance": "Luminance (keep the photo's colours)",
    "histogram": "Histogram (match the photo's palette)",
}
ADD_LAYER, ADD_FILE = "__layer__", "__file__"
TOOLTIP_ROLE = enum(Qt, "ItemDataRole.ToolTipRole")


def _spin(lo: float, hi: float, step: float, decimals: int, suffix: str = "") -> Any:
    box = QtWidgets.QDoubleSpinBox()
    box.setRange(lo, hi)
    box.setSingleStep(step)
    box.setDecimals(decimals)
    box.setSuffix(suffix)
    return box


class ImpastoDocker(DockWidget):
    """Shows and edits the controller's settings; Apply and Cancel act through it."""

    def __init__(self) -> None:
        super().__init__()
        self.setWindowTitle("Impasto")
        self.setObjectName(DOCKER_ID)
        self.controller = plugin.controller()
        self._icons: dict[str, Any] = {}
        self._styles_key: tuple = ()
        self._build()
        self.controller.subscribe(self.refresh)
        self.destroyed.connect(lambda *_: self.controller.unsubscribe(self.refresh))
        self.refresh()

    # -- layout -----------------------------------------------------------------------------------
    def _build(self) -> None:
        root = QtWidgets.QWidget(self)
        box = QtWidgets.QVBoxLayout(root)
        box.setContentsMargins(4, 4, 4, 4)

        status_row = QtWidgets.QHBoxLayout()
        self.status = QtWidgets.QLabel()
        self.status.setWordWrap(True)
        status_row.addWidget(self.status, 1)
        self.start_button = QtWidgets.QPushButton("Start daemon")
        self.start_button.setToolTip(
            "Start the Impasto daemon of the folder Impasto was installed from"
        )
        self.start_button.clicked.connect(plugin.guarded(self.controller.start_daemon))
        status_row.addWidget(self.start_button)
        box.addLayout(status_row)

        form = QtWidgets.QFormLayout()
        self.endpoint = QtWidgets.QLineEdit(self.controller.endpoint)
        self.endpoint.setToolTip("The daemon's address ($IMPASTO_ENDPOINT or tcp://127.0.0.1:5747)")
        self.endpoint.editingFinished.connect(plugin.guarded(self._endpoint_edited))
        form.addRow("Daemon", self.endpoint)
        self.mode = QtWidgets.QComboBox()
        for mode in ENGINES:
            self.mode.addItem(MODE_TITLES[mode], mode)
        self.mode.currentIndexChanged.connect(plugin.guarded(self._mode_chosen))
        form.addRow("Mode", self.mode)
        box.addLayout(form)

        box.addWidget(QtWidgets.QLabel("Styles (weight, where it goes)"))
        self.styles = QtWidgets.QTableWidget(0, 4)
        self.styles.horizontalHeader().setVisible(False)
        self.styles.verticalHeader().setVisible(False)
        self.styles.setIconSize(QSize(THUMB, THUMB))
        self.styles.horizontalHeader().setStretchLastSection(False)
        self.styles.horizontalHeader().setSectionResizeMode(
            0, enum(QtWidgets.QHeaderView, "ResizeMode.Stretch")
        )
        self.styles.setMinimumHeight(3 * (THUMB + 6))
        # Tab leaves the list (through each row's weight and buttons, `_refresh_styles`) instead
        # of walking its cells, so the keyboard reaches everything below it.
        self.styles.setTabKeyNavigation(False)
        box.addWidget(self.styles)
        self.add_style = QtWidgets.QComboBox()
        self.add_style.activated.connect(plugin.guarded(self._add_chosen))
        box.addWidget(self.add_style)
        learn_row = QtWidgets.QHBoxLayout()
        self.learn_button = QtWidgets.QToolButton()
        self.learn_button.setText("Add to fast styles…")
        self.learn_button.setToolTip(
            "Teach the daemon a painting as a fast style: usable within seconds as a first "
            "look (the nearest blend of the styles it has), then learned in the background "
            "(10 minutes on a CPU by default) while you keep working"
        )
        learn_menu = QtWidgets.QMenu(self.learn_button)
        learn_menu.addAction("The active layer…").triggered.connect(
            plugin.guarded(lambda *_: self._learn(layer=True))
        )
        learn_menu.addAction("An image file…").triggered.connect(
            plugin.guarded(lambda *_: self._learn(layer=False))
        )
        self.learn_button.setMenu(learn_menu)
        self.learn_button.setPopupMode(
            enum(QtWidgets.QToolButton, "ToolButtonPopupMode.InstantPopup")
        )
        learn_row.addWidget(self.learn_button)
        self.stop_learning = QtWidgets.QPushButton("Stop learning")
        self.stop_learning.setToolTip("Stop the lesson; its style keeps what it learned so far")
        self.stop_learning.clicked.connect(plugin.guarded(self._stop_learning))
        learn_row.addWidget(self.stop_learning)
        learn_row.addStretch(1)
        box.addLayout(learn_row)
        self.learning = QtWidgets.QLabel()
        self.learning.setWordWrap(True)
        box.addWidget(self.learning)

        form = QtWidgets.QFormLayout()
        self.strength = _spin(0, 100, 5, 0, " %")
        self.strength.valueChanged.connect(plugin.guarded(self._settings_edited))
        form.addRow("Strength", self.strength)
        self.preserve = QtWidgets.QComboBox()
        for key, title in PRESERVE_TITLES.items():
            self.preserve.addItem(title, key)
        self.preserve.currentIndexChanged.connect(plugin.guarded(self._settings_edited))
        form.addRow("Colours", self.preserve)
        self.scale = _spin(0.1, 8.0, 0.1, 2, " ×")
        self.scale.setToolTip("Brush size: above 1 paints bigger strokes")
        self.scale.valueChanged.connect(plugin.guarded(self._settings_edited))
        form.addRow("Style scale", self.scale)
        self.iterations = QtWidgets.QSpinBox()
        self.iterations.setRange(1, 10000)
        self.iterations.setToolTip("Gatys: optimisation steps at each scale (more is slower)")
        self.iterations.valueChanged.connect(plugin.guarded(self._settings_edited))
        form.addRow("Quality", self.iterations)
        self.temporal = QtWidgets.QCheckBox("Smooth from frame to frame")
        self.temporal.setToolTip(
            "Animated layers: each frame follows the motion from the one before, so the "
            "strokes do not flicker (off: every frame painted on its own)"
        )
        self.temporal.toggled.connect(plugin.guarded(self._settings_edited))
        form.addRow("Animation", self.temporal)
        self.texture = QtWidgets.QCheckBox("Paint fine texture at full size")
        self.texture.setToolTip(
            "Large layers: the strokes are painted at a working size and enlarged; this paints "
            "the fine texture under them at full size, so the layer holds up at 100% zoom "
            "(off: enlarged only, faster)"
        )
        self.texture.toggled.connect(plugin.guarded(self._settings_edited))
        form.addRow("Detail", self.texture)
        self.photoreal = QtWidgets.QCheckBox("Photo look: colour and tone only")
        self.photoreal.setToolTip(
            "The style's colours and light on the layer with no brush strokes: every edge stays "
            "as sharp and where it is (a photo or a painting as the style; fast and gatys modes)"
        )
        self.photoreal.toggled.connect(plugin.guarded(self._settings_edited))
        form.addRow("Look", self.photoreal)
        box.addLayout(form)

        buttons = QtWidgets.QHBoxLayout()
        self.apply_button = QtWidgets.QPushButton("Apply")
        self.apply_button.setToolTip(
            "Stylise the active layer (only the selection, if there is one) into a new layer; "
            "an animated layer: every frame of the playback range, into a new animated layer"
        )
        self.apply_button.clicked.connect(plugin.guarded(lambda *_: self.controller.apply()))
        buttons.addWidget(self.apply_button)
        self.cancel_button = QtWidgets.QPushButton("Cancel")
        self.cancel_button.clicked.connect(plugin.guarded(lambda *_: self.controller.cancel()))
        buttons.addWidget(self.cancel_button)
        box.addLayout(buttons)
        again = QtWidgets.QHBoxLayout()
        self.reapply_button = QtWidgets.QPushButton("Re-apply")
        self.reapply_button.setToolTip(
            "With a layer Impasto made selected: make it again from its source layer as it is "
            "now, with the same settings, into a new layer"
        )
        self.reapply_button.clicked.connect(plugin.guarded(lambda *_: self.controller.reapply()))
        again.addWidget(self.reapply_button)
        self.copy_button = QtWidgets.QPushButton("Copy as command")
        self.copy_button.setToolTip(
            "With a layer Impasto made selected: copy the `impasto stylize` command that makes "
            "it from its source layer saved as a PNG"
        )
        self.copy_button.clicked.connect(plugin.guarded(self._copy_command))
        again.addWidget(self.copy_button)
        box.addLayout(again)
        self.progress = QtWidgets.QProgressBar()
        self.progress.setRange(0, 1000)
        box.addWidget(self.progress)
        self.preview = QtWidgets.QLabel()
        self.preview.setAlignment(ALIGN_CENTER)
        self.preview.setMinimumHeight(PREVIEW)
        box.addWidget(self.preview)
        self.live = QtWidgets.QCheckBox("Live preview")
        self.live.setToolTip(
            "Fast mode: show the active layer with the current styles and settings here as you "
            "change them (no layer is added until Apply)"
        )
        self.live.toggled.connect(plugin.guarded(self.controller.set_live_preview))
        box.addWidget(self.live)
        self.message = QtWidgets.QLabel()
        self.message.setWordWrap(True)
        box.addWidget(self.message)
        box.addStretch(1)
        # In a scroll area: the docker fits whatever height Krita gives it (a laptop screen, the
        # layers docker above it) and the style list scrolls inside rather than growing.
        scroll = QtWidgets.QScrollArea(self)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(enum(QtWidgets.QFrame, "Shape.NoFrame"))
        scroll.setWidget(root)
        self.setWidget(scroll)

    def _copy_command(self, *_: Any) -> None:
        command = self.controller.command_for()
        if command is not None:
            QtWidgets.QApplication.clipboard().setText(command)
            self.controller.message = f"Copied: {command}"
            self.controller.changed()

    def canvasChanged(self, canvas: Any) -> None:  # noqa: N802 (Krita's name)
        """Krita calls this when the active view changes; Apply always reads the active layer."""

    # -- controller → widgets ---------------------------------------------------------------------
    def refresh(self) -> None:
        """Show the controller's state (called whenever it changes)."""
        c = self.controller
        state = c.state
        text = {
            "connected": "Connected",
            "connecting": "Connecting…",
            "offline": "Daemon not running",
        }
        self.status.setText(
            f"<span style='color:{STATE_DOTS[state]}'>●</span> {text[state]}"
            + (
                f" <small>({c.hello.get('device', {}).get('device', '')})</small>"
                if c.hello
                else ""
            )
        )
        self.start_button.setVisible(state == "offline")
        self.start_button.setEnabled(c.daemon_command() is not None)
        if not self.endpoint.hasFocus():
            self.endpoint.setText(c.endpoint)
        s = c.settings
        self._quietly(self.mode, lambda: self.mode.setCurrentIndex(ENGINES.index(s.mode)))
        unknown = "the modes show once a daemon answers"  # no hello yet: nothing is known
        for i, mode in enumerate(ENGINES):
            available = c.mode_available(mode)
            self.mode.model().item(i).setEnabled(available)
            tip = "" if available else "this daemon does not offer this mode"
            self.mode.setItemData(i, tip if c.engines else unknown, TOOLTIP_ROLE)
        self._quietly(self.strength, lambda: self.strength.setValue(100 * s.strength))
        self._quietly(
            self.preserve,
            lambda: self.preserve.setCurrentIndex(list(PRESERVE_TITLES).index(s.preserve_color)),
        )
        self._quietly(self.scale, lambda: self.scale.setValue(s.style_scale))
        self._quietly(self.iterations, lambda: self.iterations.setValue(s.iterations))
        self.iterations.setEnabled(uses_iterations(s.mode))
        self._quietly(self.temporal, lambda: self.temporal.setChecked(s.temporal))
        self._quietly(self.texture, lambda: self.texture.setChecked(s.texture))
        self._quietly(self.photoreal, lambda: self.photoreal.setChecked(s.photoreal))
        self.photoreal.setEnabled(photoreal_refused(s.mode) is None)
        self.preserve.setEnabled(not s.photoreal)  # the photo look moves the colours itself
        self.texture.setEnabled(not s.photoreal)
        self._refresh_styles()
        self.apply_button.setEnabled(not c.busy)
        self.reapply_button.setEnabled(not c.busy)
        self._quietly(self.live, lambda: self.live.setChecked(c.live_preview))
        self.live.setEnabled(s.mode == "fast")
        self.cancel_button.setEnabled(c.busy)
        self.progress.setValue(int(1000 * c.fraction) if c.busy or c.stage == "done" else 0)
        self.progress.setFormat(f"{c.stage} %p%" if c.busy else "%p%")
        self._show_preview(c.preview if c.busy or c.live_preview else None)
        self.message.setText(c.message)
        self.learn_button.setEnabled(state == "connected")
        self.stop_learning.setVisible(bool(c.active_lessons()))
        self.learning.setText(c.learning_text())
        self.learning.setVisible(bool(c.active_lessons()))

    def _quietly(self, widget: Any, change: Any) -> None:
        widget.blockSignals(True)
        try:
            change()
        finally:
            widget.blockSignals(False)

    def _icon(self, name: str) -> Any:
        if name not in self._icons:
            entry = next((s for s in self.controller.catalogue if s["name"] == name), None)
            pixmap = QPixmap()
            if entry is not None and entry.get("thumbnail_png"):
                pixmap.loadFromData(entry["thumbnail_png"])
            self._icons[name] = QIcon(pixmap) if not pixmap.isNull() else QIcon()
        return self._icons[name]

    def _refresh_styles(self) -> None:
        c, s = self.controller, self.controller.settings
        key = (
            s.mode,
            len(c.catalogue),
            tuple((x.kind, x.name, x.weight, x.where_label) for x in s.chosen),
            tuple(sorted((n, c.lesson_label(n)) for n in c.lessons)),
        )
        if key == self._styles_key:
            return
        self._styles_key = key
        if len(c.catalogue) != len(self._icons):
            self._icons.clear()
        self.styles.setRowCount(len(s.chosen))
        for row, style in enumerate(s.chosen):
            label = {"builtin": "", "layer": "layer: ", "file": "file: "}[style.kind] + style.name
            if style.kind == "builtin" and c.lesson_label(style.name):
                label += f" ({c.lesson_label(style.name)})"
            if style.where is not None:
                label += f"\n{style.where_label}"
            item = QtWidgets.QTableWidgetItem(self._icon(style.name), label)
            item.setFlags(enum(Qt, "ItemFlag.ItemIsEnabled"))
            self.styles.setItem(row, 0, item)
            weight = _spin(0, 100, 0.1, 2)
            weight.setValue(style.weight)
            weight.valueChanged.connect(plugin.guarded(lambda v, st=style: self._weight(st, v)))
            self.styles.setCellWidget(row, 1, weight)
            remove = QtWidgets.QToolButton()
            remove.setText("✕")
            remove.setToolTip("Remove this style")
            remove.clicked.connect(plugin.guarded(lambda *_, st=style: self._remove(st)))
            self.styles.setCellWidget(row, 3, remove)
            self.styles.setCellWidget(row, 2, self._where_button(style))
            self.styles.setRowHeight(row, THUMB + 4)
        for column in (1, 2, 3):
            self.styles.resizeColumnToContents(column)
        order = [self.styles]  # Tab: the list, each row's weight, where and remove, then "Add"
        for row in range(self.styles.rowCount()):
            order += [self.styles.cellWidget(row, column) for column in (1, 2, 3)]
        order.append(self.add_style)
        for first, then in zip(order, order[1:], strict=False):
            QtWidgets.QWidget.setTabOrder(first, then)
        self._quietly(self.add_style, self._fill_add_menu)

    def _where_button(self, style: StyleChoice) -> Any:
        """Where the style goes: everywhere, in the selection as it is now, or where a layer
        is opaque (paint a layer or a selection to place each style)."""
        button = QtWidgets.QToolButton()
        button.setText("◐" if style.where is not None else "○")
        button.setToolTip(
            "Where this style goes: " + (style.where_label or "everywhere") + " (click to change)"
        )
        menu = QtWidgets.QMenu(button)
        menu.addAction("Everywhere").triggered.connect(
            plugin.guarded(lambda *_: self._set_where(style, None))
        )
        menu.addAction("Only in the current selection").triggered.connect(
            plugin.guarded(lambda *_: self._where_selection(style))
        )
        menu.addAction("Only where a layer is painted or a mask is white…").triggered.connect(
            plugin.guarded(lambda *_: self._where_layer(style))
        )
        button.setMenu(menu)
        button.setPopupMode(enum(QtWidgets.QToolButton, "ToolButtonPopupMode.InstantPopup"))
        return button

    def _set_where(self, style: StyleChoice, where: Any) -> None:
        style.where = where
        self._styles_key = None
        self.controller.changed()

    def _where_selection(self, style: StyleChoice) -> None:
        document = Krita.instance().activeDocument()
        selection = document.selection() if document is not None else None
        if selection is None:
            self.controller.message = "Select where the style goes first, then choose this."
            self.controller.changed()
            return
        self._set_where(style, ("selection", selection.duplicate()))

    def _where_layer(self, style: StyleChoice) -> None:
        document = Krita.instance().activeDocument()
        if document is None:
            return
        places: list[tuple[str, Any]] = []  # layers (where painted) and masks (where white)

        def walk(node: Any, depth: int) -> None:
            for child in node.childNodes():
                if is_mask(child):
                    places.append((f"{'  ' * depth}mask: {child.name()}", child))
                elif not child.type().endswith("mask"):
                    places.append((f"{'  ' * depth}{child.name()}", child))
                    walk(child, depth + 1)

        walk(document.rootNode(), 0)
        if not places:
            return
        names = [name for name, _ in places]
        name, ok = QtWidgets.QInputDialog.getItem(
            self, "Where the style goes", "Only where this layer is painted (a mask: white):",
            names, 0, False,
        )  # fmt: skip
        if ok:
            self._set_where(style, ("alpha", (document, places[names.index(name)][1])))

    def _fill_add_menu(self) -> None:
        c, mode = self.controller, self.controller.settings.mode
        self.add_style.clear()
        self.add_style.addItem("Add a style…", None)
        for entry in c.styles_for(mode):
            title = entry.get("title") or entry["name"]
            if c.lesson_label(entry["name"]):
                title += f" ({c.lesson_label(entry['name'])})"
            self.add_style.addItem(self._icon(entry["name"]), title, entry["name"])
        suffix = "" if mode != "fast" else " (switches to Gatys)"
        self.add_style.addItem("This layer as style…" + suffix, ADD_LAYER)
        self.add_style.addItem("Image file as style…" + suffix, ADD_FILE)

    def _show_preview(self, preview: tuple[int, int, bytes] | None) -> None:
        if preview is None:
            self.preview.clear()
            return
        width, height, data = preview
        image = QImage(data, width, height, 4 * width, FORMAT_RGBA8888).copy()
        pixmap = QPixmap.fromImage(image).scaled(PREVIEW, PREVIEW, KEEP_ASPECT, SMOOTH)
        self.preview.setPixmap(pixmap)

    # -- widgets → controller ---------------------------------------------------------------------
    def _endpoint_edited(self) -> None:
        text = self.endpoint.text().strip()
        Krita.instance().writeSetting("impasto", "endpoint", text)
        self.controller.set_endpoint(text)

    def _mode_chosen(self, index: int) -> None:
        self.controller.set_mode(ENGINES[index])

    def _settings_edited(self, *_: Any) -> None:
        s = self.controller.settings
        s.strength = self.strength.value() / 100
        s.preserve_color = self.preserve.currentData(USER_ROLE)
        s.style_scale = self.scale.value()
        s.iterations = self.iterations.value()
        s.temporal = self.temporal.isChecked()
        s.texture = self.texture.isChecked()
        s.photoreal = self.photoreal.isChecked() and photoreal_refused(s.mode) is None
        if s.photoreal:
            s.preserve_color = "none"
        self.controller.changed()

    def _weight(self, style: StyleChoice, value: float) -> None:
        style.weight = value
        self.controller.changed()

    def _remove(self, style: StyleChoice) -> None:
        chosen = self.controller.settings.chosen
        if style in chosen:
            chosen.remove(style)
        self.controller.changed()

    def _add_chosen(self, index: int) -> None:
        what = self.add_style.itemData(index, USER_ROLE)
        self.add_style.setCurrentIndex(0)
        if what is None:
            return
        c = self.controller
        if what in (ADD_LAYER, ADD_FILE):
            choice = self._ask_layer() if what == ADD_LAYER else self._ask_file()
            if choice is None:
                return
            if c.settings.mode == "fast":
                c.settings.mode = "gatys"
                c.message = "Layers and image files as styles need Gatys mode: switched to Gatys."
        else:
            choice = StyleChoice("builtin", what)
        if not any((x.kind, x.name) == (choice.kind, choice.name) for x in c.settings.chosen):
            c.settings.chosen.append(choice)
        c.changed()

    def _ask_layer(self) -> StyleChoice | None:
        app = Krita.instance()
        entries: list[tuple[str, Any, Any]] = []

        def walk(document: Any, node: Any, path: str) -> None:
            for child in node.childNodes():
                if child.type().endswith("mask"):
                    continue
                name = f"{path}/{child.name()}" if path else child.name()
                entries.append(
                    (f"{Path(document.fileName()).name or 'Untitled'}: {name}", document, child)
                )
                walk(document, child, name)

        for document in app.documents():
            walk(document, document.rootNode(), "")
        if not entries:
            self.controller.message = "Open an image with a layer to use as style."
            return None
        active = app.activeDocument()
        current = 0
        if active is not None and active.activeNode() is not None:
            for i, (_, doc, node) in enumerate(entries):
                if doc == active and node == active.activeNode():
                    current = i
        label, ok = QtWidgets.QInputDialog.getItem(
            self,
            "Layer as style",
            "Use this layer of an open image as a style:",
            [e[0] for e in entries],
            current,
            False,
        )
        if not ok:
            return None
        _, document, node = next(e for e in entries if e[0] == label)
        return StyleChoice("layer", node.name(), source=(document, node))

    def _learn(self, layer: bool) -> None:
        """Add to fast styles: ask for the name and the minutes, then send the painting."""
        c = self.controller
        if layer:
            document = Krita.instance().activeDocument()
            node = document.activeNode() if document is not None else None
            if node is None:
                c.message = "Select the layer to learn as a fast style first."
                c.changed()
                return
            title, path = node.name(), None
        else:
            path, _ = QtWidgets.QFileDialog.getOpenFileName(
                self, "Add to fast styles", "", "Images (*.png *.jpg *.jpeg *.webp *.tif *.bmp)"
            )
            if not path:
                return
            title = Path(path).name
        name, ok = QtWidgets.QInputDialog.getText(
            self, "Add to fast styles", "Name of the new style:", text=style_name_for(title)
        )
        if not ok or not name.strip():
            return
        minutes, ok = QtWidgets.QInputDialog.getInt(
            self, "Add to fast styles", "Minutes to learn it (more is better):",
            int(DEFAULT_MINUTES), 1, 24 * 60,
        )  # fmt: skip
        if not ok:
            return
        if path is None:
            c.learn_layer(node, name.strip(), minutes)
        else:
            c.learn_file(path, name.strip(), minutes)

    def _stop_learning(self, *_: Any) -> None:
        for name in self.controller.active_lessons():
            self.controller.stop_lesson(name)

    def _ask_file(self) -> StyleChoice | None:
        path, _ = QtWidgets.QFileDialog.getOpenFileName(
            self, "Image file as style", "", "Images (*.png *.jpg *.jpeg *.webp *.tif *.tiff *.bmp)"
        )
        if not path:
            return None
        return StyleChoice("file", Path(path).name, source=path)

"""The procedures' dialog: the settings GIMP draws from the arguments, the styles as rows
(style_rows.py) that write the `styles` argument, one line about the daemon, and the live preview
(live_preview.py) of the layer in fast mode.
"""

from __future__ import annotations

from dataclasses import dataclass

import gi
import request
from gi.repository import Gimp, GimpUi, GObject
from live_preview import DialogPreview
from request import ArgumentError

from shared.job import photoreal_refused, uses_iterations

DIALOG_TIMEOUT_S = 1.0  # the dialog opens at once: no daemon within a second is "not running"


def show_dialog(
    procedure: Gimp.Procedure,
    config: Gimp.ProcedureConfig,
    image: Gimp.Image,
    drawable: Gimp.Layer | None = None,
) -> bool:
    """The procedure's dialog with the styles as rows (thumbnail, weight, where it goes), the
    fields a mode does not use greyed out, one line about the daemon and a live preview of
    `drawable` in fast mode; False when cancelled. The rows write the `styles` argument, so
    the dialog and PDB calls agree."""
    gi.require_version("Gtk", "3.0")
    from gi.repository import Gtk
    from style_rows import StyleRows

    GimpUi.init(request.PROCEDURE)
    dialog = GimpUi.ProcedureDialog(
        procedure=procedure, config=config, title="Impasto Style Transfer"
    )
    daemon = _dialog_daemon(config.get_property("endpoint") or None)
    status = Gtk.Label(label=request.daemon_line(daemon.styles, daemon.problem), xalign=0.0)
    status.set_line_wrap(True)  # a long message must not stretch the dialog
    status.set_max_width_chars(50)
    fields = ["mode", "strength", "preserve-color", "style-scale", "iterations", "texture"]
    fields += ["photoreal", "depth", "depth-range"]
    if procedure.get_name() == request.FRAMES_PROCEDURE:
        fields.append("temporal")
    dialog.fill([*fields, "endpoint"])
    try:
        chosen = request.parse_styles(config.get_property("styles") or "")
    except ArgumentError:  # a bad value from an earlier run: start from no style
        chosen = []
    places = _places(image) if procedure.get_name() != request.FRAMES_PROCEDURE else []
    rows = StyleRows(daemon.styles or [], places, lambda text: config.set_property("styles", text))
    rows.set_items(chosen)
    iterations = dialog.get_widget("iterations", GObject.TYPE_NONE)
    photoreal = dialog.get_widget("photoreal", GObject.TYPE_NONE)
    preserve = dialog.get_widget("preserve-color", GObject.TYPE_NONE)
    texture = dialog.get_widget("texture", GObject.TYPE_NONE)

    def mode_changed(*_args) -> None:
        mode = config.get_property("mode")
        rows.set_mode(mode)
        iterations.set_sensitive(uses_iterations(mode))
        photoreal.set_sensitive(photoreal_refused(mode) is None)
        if photoreal_refused(mode) is not None and config.get_property("photoreal"):
            config.set_property("photoreal", False)

    def look_changed(*_args) -> None:  # the photo look moves the colours itself
        on = config.get_property("photoreal")
        if on and config.get_property("preserve-color") != "none":
            config.set_property("preserve-color", "none")
        preserve.set_sensitive(not on)
        texture.set_sensitive(not on)

    config.connect("notify::mode", mode_changed)
    config.connect("notify::photoreal", look_changed)
    mode_changed()
    look_changed()
    frame = Gtk.Frame(label="Styles")
    rows.set_border_width(6)
    frame.add(rows)
    area = dialog.get_content_area()
    area.pack_start(status, False, False, 6)
    area.reorder_child(status, 0)
    below = Gtk.Box(orientation=Gtk.Orientation.HORIZONTAL, spacing=6)
    below.pack_start(frame, True, True, 0)
    area.pack_start(below, True, True, 6)
    preview = None
    if daemon.client is not None and drawable is not None:  # beside the styles: not taller
        preview = DialogPreview(image, drawable, config, daemon)
        below.pack_start(preview.frame, False, False, 0)
    status.show()
    area.show_all()
    try:
        accepted = dialog.run()
    finally:
        if preview is not None:
            preview.stop()
        if daemon.client is not None:
            daemon.client.close()
    dialog.destroy()
    return bool(accepted)


def _places(image: Gimp.Image) -> list[str]:
    """What a style can be limited to: the image's channels, then its layers with a mask."""
    names = [channel.get_name() for channel in image.get_channels()]
    names += [layer.get_name() for layer in image.get_layers() if layer.get_mask() is not None]
    return names


@dataclass
class DialogDaemon:
    """The daemon as the dialog sees it: a connection kept for previews, what it offers, or
    why there is nothing (`problem`)."""

    client: object | None = None
    hello: dict | None = None
    styles: list[dict] | None = None
    problem: str = ""


def _dialog_daemon(endpoint: str | None) -> DialogDaemon:
    """Connect for the dialog, waiting at most DIALOG_TIMEOUT_S for an answer."""
    try:
        from shared.client import Client
    except ImportError:
        return DialogDaemon(
            problem="GIMP's Python lacks pyzmq or msgpack: re-run `python3 install.py`."
        )
    client = None
    try:
        client = Client(endpoint, timeout=DIALOG_TIMEOUT_S)
        hello = client.request("hello", {"client": "impasto-gimp"}).body
        return DialogDaemon(client, hello, client.styles())
    except Exception:  # the dialog still opens; running will report the problem in full
        if client is not None:
            client.close()
        return DialogDaemon(
            problem="Daemon not running. Start it: `python3 install.py` in the Impasto folder."
        )


def show_learn_dialog(procedure: Gimp.Procedure, config: Gimp.ProcedureConfig) -> bool:
    """Add to Fast Styles' dialog: the style's name, minutes, licence and daemon; False when
    cancelled."""
    GimpUi.init(procedure.get_name())
    dialog = GimpUi.ProcedureDialog(
        procedure=procedure, config=config, title="Impasto: Add to Fast Styles"
    )
    dialog.fill(["style-name", "minutes", "licence", "endpoint"])
    accepted = dialog.run()
    dialog.destroy()
    return bool(accepted)

"""The dialog's live preview (fast mode): a fast job on a thumbnail of the layer at every change
of the settings, the newest result shown beside the styles.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import request
from gi.repository import Gegl, Gimp, GLib
from gimp_io import read_maps, read_styles, scaled, source_region
from request import ArgumentError, Region

from shared.errors import ImpastoError
from shared.protocol import PixelFormat

if TYPE_CHECKING:
    from dialog import DialogDaemon

PREVIEW_SIDE = 512  # the preview's picture (no `size`: the daemon's strokes are as on OK)
PREVIEW_SHOWN = 240  # px the dialog shows it at
PREVIEW_TICK_MS = 100
PREVIEW_FORMAT = PixelFormat("u8", "RGBA", 4)


class DialogPreview:
    """The dialog's live preview: on every change of the settings (polled on a timer, as the
    dialog has no one signal for all of them) a fast job on a thumbnail of the layer, the one
    in flight cancelled (shared.preview); the newest result shown. Fast mode only: gatys and
    hires take far longer than a preview may."""

    def __init__(self, image, drawable, config, daemon: DialogDaemon) -> None:
        from gi.repository import GdkPixbuf, Gtk

        from shared.preview import LatestPreview

        self.GdkPixbuf = GdkPixbuf
        self.image, self.drawable, self.config, self.daemon = image, drawable, config, daemon
        self.live = LatestPreview(daemon.client)
        self.frame = Gtk.Frame(label="Preview")
        box = Gtk.Box(orientation=Gtk.Orientation.VERTICAL, spacing=4)
        box.set_border_width(6)
        self.check = Gtk.CheckButton.new_with_mnemonic("_Live preview (fast mode)")
        self.check.set_active(True)
        self.picture = Gtk.Image()
        self.picture.set_size_request(PREVIEW_SHOWN, PREVIEW_SHOWN)
        self.note = Gtk.Label(xalign=0.0)
        self.note.set_line_wrap(True)
        self.note.set_max_width_chars(28)
        box.pack_start(self.check, False, False, 0)
        box.pack_start(self.picture, False, False, 0)
        box.pack_start(self.note, False, False, 0)
        self.frame.add(box)
        self.region, self.scale, self.pixels = _preview_source(image, drawable)
        self.timer = GLib.timeout_add(PREVIEW_TICK_MS, self.tick)

    def stop(self) -> None:
        GLib.source_remove(self.timer)
        self.live.drop()

    def tick(self) -> bool:
        try:
            self._ask()
            self._show(self.live.poll())
        except ImpastoError as exc:  # the daemon went away: say so, keep the dialog usable
            self.note.set_text(f"Preview: {exc.message}")
            self.live.reset()
        return True  # keep the timer

    def _ask(self) -> None:
        if not self.check.get_active():
            self.live.reset()
            self.note.set_text("")
            return
        options = _options_or_none(self.config)
        if options is None or options.mode != "fast":
            self.live.reset()
            self.note.set_text("The preview shows fast mode.")
            return
        key = (
            self.config.get_property("styles"), options.strength, options.preserve_color,
            options.style_scale, options.photoreal,
        )  # fmt: skip
        if key == self.live.key:
            return
        try:
            items = request.resolve_styles("fast", options.styles, self.daemon.hello)
            maps = read_maps(self.image, self.drawable, self.region, items, self.scale)
            styles, style_frames = read_styles(items, 2, maps)
            width, height = scaled(self.region, self.scale)
            content = PREVIEW_FORMAT.describe(1, width, height)
            spec = options.spec(content, styles)
        except ArgumentError as exc:
            self.live.reset()
            self.note.set_text(f"Preview: {exc}")
            return
        self.live.show(key, spec.to_wire(), [self.pixels, *style_frames])
        self.note.set_text("Updating...")

    def _show(self, shown) -> None:
        if shown is None:
            return
        if isinstance(shown, ImpastoError):
            self.note.set_text(f"Preview: {shown.message}")
            return
        pix = self.GdkPixbuf.Pixbuf.new_from_bytes(
            GLib.Bytes.new(shown.data), self.GdkPixbuf.Colorspace.RGB, shown.channels == 4, 8,
            shown.width, shown.height, shown.width * shown.channels,
        )  # fmt: skip
        fit = PREVIEW_SHOWN / max(shown.width, shown.height)
        width, height = max(1, round(shown.width * fit)), max(1, round(shown.height * fit))
        self.picture.set_from_pixbuf(
            pix.scale_simple(width, height, self.GdkPixbuf.InterpType.BILINEAR)
        )
        self.note.set_text(f"Preview ready in {shown.seconds:.1f} s.")


def _options_or_none(config: Gimp.ProcedureConfig) -> request.Options | None:
    try:
        return request.options_from_config(config)
    except ArgumentError:  # half-typed styles: no preview until they parse
        return None


def _preview_source(image: Gimp.Image, drawable: Gimp.Layer) -> tuple[Region, float, bytes]:
    """The region Apply would send, the scale that brings it to PREVIEW_SIDE (never up), and
    its pixels at that scale as 8-bit RGBA."""
    region = source_region(image, drawable)
    scale = min(1.0, PREVIEW_SIDE / max(region.width, region.height))
    w, h = scaled(region, scale)
    rect = Gegl.Rectangle.new(round(region.x * scale), round(region.y * scale), w, h)
    data = drawable.get_buffer().get(rect, scale, "R'G'B'A u8", Gegl.AbyssPolicy.CLAMP)
    return region, scale, bytes(data)

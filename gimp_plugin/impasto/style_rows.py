"""The dialog's styles as rows: thumbnail, name, weight, where it goes, and a remove button, with
a drop-down that adds one of the styles the current mode can use and a button that adds a
picture file (gatys and hires).

Plain GTK 3 (no GIMP calls), so it is tested in real GTK outside GIMP; `impasto.py` puts it in
the procedure dialog and keeps the procedure's `styles` argument (what PDB scripts pass) equal
to what the rows show: every change calls `on_change` with the `styles` text.
"""

from __future__ import annotations

import os
from collections.abc import Callable

import gi

gi.require_version("Gtk", "3.0")
gi.require_version("GdkPixbuf", "2.0")
from gi.repository import GdkPixbuf, GLib, Gtk  # noqa: E402
from request import StyleItem, format_styles, offered_for, unusable  # noqa: E402

from shared.job import MAX_STYLES, MAX_WEIGHT, matching_names, takes_pictures  # noqa: E402

THUMB = 40  # px, the thumbnails' height in the rows
EVERYWHERE = "Everywhere"
ROWS_HEIGHT = 320  # px before the rows scroll (16 styles must not make the dialog taller)


def thumbnail(png: bytes | None) -> GdkPixbuf.Pixbuf | None:
    """The daemon's PNG thumbnail at the rows' height, or None."""
    if not png:
        return None
    loader = GdkPixbuf.PixbufLoader.new_with_type("png")
    try:
        loader.write(png)
        loader.close()
    except GLib.Error:
        return None
    pix = loader.get_pixbuf()
    width = max(1, round(pix.get_width() * THUMB / pix.get_height()))
    return pix.scale_simple(width, THUMB, GdkPixbuf.InterpType.BILINEAR)


class StyleRows(Gtk.Box):
    """The chosen styles; `styles` is the daemon's `styles` reply (empty when it is not
    running), `places` the names a style can be limited to (channels, layers with a mask)."""

    def __init__(
        self, styles: list[dict], places: list[str], on_change: Callable[[str], None]
    ) -> None:
        super().__init__(orientation=Gtk.Orientation.VERTICAL, spacing=6)
        self.styles, self.places, self.on_change = styles, places, on_change
        self.by_name = {s["name"]: s for s in styles}
        self.items: list[StyleItem] = []
        self.mode = "fast"
        self.rows = Gtk.Box(orientation=Gtk.Orientation.VERTICAL, spacing=4)
        scroller = Gtk.ScrolledWindow()
        scroller.set_policy(Gtk.PolicyType.NEVER, Gtk.PolicyType.AUTOMATIC)
        scroller.set_propagate_natural_height(True)
        scroller.set_max_content_height(ROWS_HEIGHT)
        scroller.add(self.rows)
        self.scroller = scroller
        self.pack_start(scroller, True, True, 0)
        adders = Gtk.Box(orientation=Gtk.Orientation.HORIZONTAL, spacing=6)
        self.add_style = Gtk.ComboBoxText()
        self.add_style.set_tooltip_text("Add a painting to the blend")
        self.add_style.connect("changed", self._picked)
        adders.pack_start(self.add_style, True, True, 0)
        self.add_file = Gtk.Button.new_with_mnemonic("Add a _picture...")
        self.add_file.set_tooltip_text("Use any image file as a style (gatys and hires modes)")
        self.add_file.connect("clicked", self._choose_file)
        adders.pack_start(self.add_file, False, False, 0)
        self.pack_start(adders, False, False, 0)
        self.empty = Gtk.Label(xalign=0.0)
        self.empty.set_line_wrap(True)
        self.empty.set_max_width_chars(50)
        self.pack_start(self.empty, False, False, 0)

    # -- what the dialog calls ---------------------------------------------------------------
    def set_items(self, items: list[StyleItem]) -> None:
        self.items = list(items)
        self._rebuild()

    def set_mode(self, mode: str) -> None:
        """Offer the styles `mode` can use and mark the chosen ones it cannot."""
        self.mode = mode
        self._rebuild()

    def text(self) -> str:
        return format_styles(self.items)

    # -- the widgets -------------------------------------------------------------------------
    def _rebuild(self) -> None:
        for child in self.rows.get_children():
            self.rows.remove(child)
        problems = unusable(self.mode, self.items, self.styles)
        for i, item in enumerate(self.items):
            self.rows.pack_start(self._row(i, item, problems.get(i)), False, False, 0)
        self.rows.show_all()
        # as tall as the rows up to ROWS_HEIGHT, then they scroll (a dialog shown at its
        # smallest still shows them)
        self.scroller.set_min_content_height(min(ROWS_HEIGHT, len(self.items) * (THUMB + 10)))
        self.add_style.handler_block_by_func(self._picked)
        self.add_style.remove_all()
        offered = offered_for(self.mode, self.styles)
        self.add_style.append("", "Add a style..." if offered else "No styles to add")
        for style in offered:
            self.add_style.append(style["name"], style.get("title") or style["name"])
        self.add_style.set_active_id("")
        self.add_style.handler_unblock_by_func(self._picked)
        full = len(self.items) >= MAX_STYLES
        self.add_style.set_sensitive(bool(offered) and not full)
        self.add_file.set_sensitive(takes_pictures(self.mode) and not full)
        self.empty.set_text(
            "" if self.items else "No style chosen: the daemon's first style for this mode is used."
        )

    def _row(self, index: int, item: StyleItem, problem: str | None) -> Gtk.Widget:
        row = Gtk.Box(orientation=Gtk.Orientation.HORIZONTAL, spacing=6)
        style = self._style(item.name)
        pix = thumbnail(style.get("thumbnail_png"))
        image = Gtk.Image.new_from_pixbuf(pix) if pix else Gtk.Image()
        image.set_size_request(THUMB, THUMB)
        row.pack_start(image, False, False, 0)
        title = style.get("title") or item.title
        label = Gtk.Label(label=title, xalign=0.0)
        label.set_ellipsize(3)  # Pango.EllipsizeMode.END
        label.set_width_chars(18)
        label.set_tooltip_text(f"{item.path or item.name}: {problem}" if problem else title)
        if problem:  # shown, not dropped: the user decides (switch mode or remove it)
            label.set_markup(f"{GLib.markup_escape_text(title)}\n<small><i>{problem}</i></small>")
        row.pack_start(label, True, True, 0)
        weight = Gtk.SpinButton.new_with_range(0.0, min(MAX_WEIGHT, 100.0), 0.05)
        weight.set_digits(2)
        weight.set_value(item.weight)
        weight.set_tooltip_text(f"Weight of {title} in the blend")
        weight.connect("value-changed", self._weight_changed, index)
        row.pack_start(weight, False, False, 0)
        where = Gtk.ComboBoxText()
        where.append(EVERYWHERE, EVERYWHERE)
        for place in self.places:
            where.append(place, place)
        if item.where and item.where not in self.places:
            where.append(item.where, f"{item.where} (missing)")
        where.set_active_id(item.where or EVERYWHERE)
        where.set_tooltip_text(f"Where {title} goes: everywhere, or a channel or layer mask")
        where.connect("changed", self._where_changed, index)
        row.pack_start(where, False, False, 0)
        remove = Gtk.Button.new_from_icon_name("list-remove-symbolic", Gtk.IconSize.BUTTON)
        remove.set_tooltip_text(f"Remove {title}")
        remove.get_accessible().set_name(f"Remove {title}")
        remove.connect("clicked", self._remove, index)
        row.pack_start(remove, False, False, 0)
        return row

    def _style(self, name: str | None) -> dict:
        """The daemon's entry for a chosen name (a short name too, as the daemon reads it)."""
        if not name:
            return {}
        if name in self.by_name:
            return self.by_name[name]
        hits = matching_names(list(self.by_name), name)
        return self.by_name[hits[0]] if len(hits) == 1 else {}

    # -- changes -----------------------------------------------------------------------------
    def _changed(self, rebuild: bool = True) -> None:
        if rebuild:
            self._rebuild()
        self.on_change(self.text())

    def _picked(self, combo: Gtk.ComboBoxText) -> None:
        name = combo.get_active_id()
        if name:
            self.items.append(StyleItem(name=name))
            GLib.idle_add(self._changed)  # not inside the combo's own signal

    def _choose_file(self, button: Gtk.Button) -> None:
        chooser = Gtk.FileChooserNative.new(
            "Style picture", self.get_toplevel(), Gtk.FileChooserAction.OPEN, None, None
        )
        if chooser.run() == Gtk.ResponseType.ACCEPT:
            self.add_picture(chooser.get_filename())
        chooser.destroy()

    def add_picture(self, path: str) -> None:
        self.items.append(StyleItem(path=os.path.abspath(path)))
        self._changed()

    def _weight_changed(self, spin: Gtk.SpinButton, index: int) -> None:
        item = self.items[index]
        self.items[index] = StyleItem(spin.get_value(), item.name, item.path, item.where)
        self._changed(rebuild=False)

    def _where_changed(self, combo: Gtk.ComboBoxText, index: int) -> None:
        item = self.items[index]
        place = combo.get_active_id()
        where = None if place == EVERYWHERE else place
        self.items[index] = StyleItem(item.weight, item.name, item.path, where)
        self._changed(rebuild=False)

    def _remove(self, button: Gtk.Button, index: int) -> None:
        del self.items[index]
        GLib.idle_add(self._changed)  # not while the button's own signal runs

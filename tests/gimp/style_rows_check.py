"""Runs inside the GIMP 3 chroot under Xvfb (real GTK 3, the plug-in as installed): drives the
dialog's style rows as a user would (pick from the drop-down, type a weight, choose where, remove,
switch mode) and writes what happened to the JSON file named by argv[2], with a picture of the
widget; tests/gimp/test_gimp_e2e.py (`test_the_dialogs_style_rows_work_in_real_gtk`) checks it
from outside.

argv: the installed plug-in folder, the output JSON, the daemon's styles (JSON, thumbnails in
base64), the picture to write.
"""

import base64
import json
import sys
import time

sys.path.insert(0, sys.argv[1])

import gi  # noqa: E402

gi.require_version("Gtk", "3.0")
gi.require_version("Gdk", "3.0")
from gi.repository import Gdk, Gtk  # noqa: E402
from style_rows import StyleRows  # noqa: E402

out_path, styles_path, picture_path = sys.argv[2], sys.argv[3], sys.argv[4]
with open(styles_path) as f:
    styles = json.load(f)
for style in styles:
    style["thumbnail_png"] = base64.b64decode(style["thumbnail_png"])
fast = [s["name"] for s in styles if "fast" in s["engines"]]
texts = []
report = {}


def settle():
    while Gtk.events_pending():
        Gtk.main_iteration()


def snapshot(path):
    """The window at its smallest size, as the screen shows it, into a PNG."""
    window.resize(1, 1)
    for _ in range(3):
        settle()
        time.sleep(0.2)
    gdk_window = window.get_window()
    width, height = gdk_window.get_width(), gdk_window.get_height()
    Gdk.pixbuf_get_from_window(gdk_window, 0, 0, width, height).savev(path, "png", [], [])


def rows_of(widget):
    return widget.rows.get_children()


def parts(row):
    """image, label, weight, where, remove"""
    return row.get_children()


window = Gtk.Window(title="Impasto styles")
rows = StyleRows(styles, ["Sky", "Ground"], texts.append)
rows.set_border_width(6)
window.add(rows)
rows.set_mode("fast")
rows.set_items([])
window.show_all()
window.present()
settle()
report["fast_offered"] = [row[0] for row in rows.add_style.get_model()][1:]
report["file_button_in_fast"] = rows.add_file.get_sensitive()
report["empty_note"] = rows.empty.get_text()

rows.add_style.set_active_id(fast[0])  # what choosing in the drop-down does
settle()
rows.add_style.set_active_id(fast[1])
settle()
report["after_two_picks"] = texts[-1]
_, _, weight, where, _ = parts(rows_of(rows)[1])
weight.set_value(0.5)
settle()
where.set_active_id("Sky")
settle()
report["after_weight_and_where"] = texts[-1]
targets = {"weight": weight, "where": where, "remove": parts(rows_of(rows)[1])[4]}
reached = set()
for _ in range(60):  # Tab through the widget as the keyboard does
    window.child_focus(Gtk.DirectionType.TAB_FORWARD)
    focus = window.get_focus()
    for key, widget in targets.items():
        if focus is not None and (focus is widget or focus.is_ancestor(widget)):
            reached.add(key)
report["reached_by_tab"] = sorted(reached)
report["has_thumbnail"] = parts(rows_of(rows)[0])[0].get_pixbuf() is not None

rows.set_mode("gatys")
settle()
report["file_button_in_gatys"] = rows.add_file.get_sensitive()
report["gatys_offered"] = len(rows.add_style.get_model()) - 1
rows.add_picture("/home/me/sketch.png")  # what "Add a picture..." does with the file chosen
settle()
rows.set_mode("fast")
settle()
report["marked_in_fast"] = parts(rows_of(rows)[2])[1].get_label()
snapshot(picture_path)

parts(rows_of(rows)[0])[4].clicked()  # remove the first
settle()
report["after_remove"] = texts[-1]

rows.set_mode("gatys")
while len(rows.items) < 16:
    rows.add_style.set_active_id(fast[len(rows.items) % len(fast)])
    settle()
report["count"] = len(rows.items)
report["add_when_full"] = rows.add_style.get_sensitive()
settle()
report["height"] = rows.get_allocated_height()
snapshot(picture_path.replace(".png", "-16.png"))

with open(out_path, "w") as f:
    json.dump(report, f, indent=1)

"""Builds the real Impasto docker widget (offscreen, with PyQt5 or PyQt6: whichever qt_compat
finds) and a minimal fake `krita` module, against a real daemon, and checks what a user sees and
does. Run by test_krita_docker_widget.py
with a system Python that has PyQt5 (as Krita 5's does); with PyQt6 on PYTHONPATH it checks the
Krita 6 path. `python3 docker_widget_check.py ENDPOINT DEAD_ENDPOINT STYLE_IMAGE` prints
"PyQt<N> OK" and exits 0 when every check passes.
"""

import os
import sys
import time
import types
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from krita_plugin.impasto.qt_compat import QT_VERSION, QtCore, QtGui, QtWidgets  # noqa: E402

app = QtWidgets.QApplication([])


class Notifier(QtCore.QObject):
    applicationClosing = QtCore.pyqtSignal()  # noqa: N815 (Krita's name)


class FakeKrita:
    def __init__(self):
        self.settings = {}
        self._notifier = Notifier()
        self.active = None

    def readSetting(self, group, name, default):  # noqa: N802
        return self.settings.get((group, name), default)

    def writeSetting(self, group, name, value):  # noqa: N802
        self.settings[(group, name)] = value

    def notifier(self):
        return self._notifier

    def documents(self):
        return [SKETCHBOOK]

    def activeDocument(self):  # noqa: N802
        return self.active


class FakeNode:
    def __init__(self, name, node_type, children=()):
        self._name, self._type, self._children = name, node_type, list(children)

    def name(self):
        return self._name

    def type(self):
        return self._type

    def childNodes(self):  # noqa: N802
        return self._children


class FakeDocument:
    def __init__(self, path, root):
        self.path, self.root = path, root

    def fileName(self):  # noqa: N802
        return self.path

    def rootNode(self):  # noqa: N802
        return self.root


class Rect:
    def __init__(self, w, h):
        self.w, self.h = w, h

    def x(self):
        return 0

    def y(self):
        return 0

    def width(self):
        return self.w

    def height(self):
        return self.h


class PaintedNode(FakeNode):
    """A 64x48 layer that Krita would thumbnail as a horizontal gradient."""

    def uniqueId(self):  # noqa: N802
        return "{painted}"

    def bounds(self):
        return Rect(64, 48)

    def thumbnail(self, w, h):
        image = QtGui.QImage(w, h, QtGui.QImage.Format.Format_RGBA8888)
        for x in range(w):
            for y in range(h):
                image.setPixelColor(x, y, QtGui.QColor(4 * x, 100, 255 - 4 * x))
        return image


class PaintedDocument(FakeDocument):
    def activeNode(self):  # noqa: N802
        return self.root.childNodes()[0]

    def width(self):
        return 64

    def height(self):
        return 48


SKETCH = FakeNode("sketch", "paintlayer")
SKETCHBOOK = FakeDocument(
    "/art/sketchbook.kra", FakeNode("root", "grouplayer", [FakeNode("paper", "paintlayer"), SKETCH])
)


class DockWidget(QtWidgets.QDockWidget):
    pass


krita = types.ModuleType("krita")
krita.DockWidget = DockWidget
krita.Extension = QtCore.QObject
FAKE = FakeKrita()
krita.Krita = types.SimpleNamespace(instance=lambda: FAKE)
sys.modules["krita"] = krita

from krita_plugin.impasto import docker as docker_module  # noqa: E402
from krita_plugin.impasto import plugin  # noqa: E402


def pump(until, timeout=20.0):
    deadline = time.monotonic() + timeout
    while not until():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out; message: {plugin.controller().message!r}")
        app.processEvents()
        time.sleep(0.02)


def check(condition, what):
    if not condition:
        raise AssertionError(what)


def main():
    endpoint, dead, style_image = sys.argv[1:4]
    FAKE.settings[("impasto", "endpoint")] = endpoint
    dock = docker_module.ImpastoDocker()
    dock.show()
    c = plugin.controller()
    # Before the daemon's hello, no mode is known to run: all greyed, the tooltip says why.
    check(c.state != "connected", "connected before the first tick")
    check(not any(dock.mode.model().item(i).isEnabled() for i in range(3)), "modes before hello")
    tooltip = dock.mode.itemData(0, QtCore.Qt.ItemDataRole.ToolTipRole) or ""
    check("once a daemon answers" in tooltip, f"fast tooltip before hello {tooltip!r}")
    pump(lambda: c.state == "connected")
    check("Connected" in dock.status.text(), dock.status.text())
    check(not dock.start_button.isVisible(), "Start daemon button shown while connected")

    # Add to fast styles: offered once connected; a lesson in progress shows with a Stop button.
    check(dock.learn_button.isEnabled(), "Add to fast styles greyed while connected")
    actions = [a.text() for a in dock.learn_button.menu().actions()]
    check(actions == ["The active layer…", "An image file…"], actions)
    check(not dock.stop_learning.isVisibleTo(dock), "Stop learning shown with no lesson")
    c.lessons = {
        "my-barn": {"name": "my-barn", "state": "learning", "stage": "learned", "steps": 40,
                    "fraction": 0.5, "eta": 300.0, "paused": False},
    }  # fmt: skip
    c.changed()
    check(dock.stop_learning.isVisibleTo(dock), "Stop learning hidden during a lesson")
    line = dock.learning.text()
    check("my-barn: learned, 40 steps, 50%, 5 min left" in line, line)
    c.lessons = {}
    c.changed()
    check(not dock.learning.isVisibleTo(dock), "lesson line shown with no lesson")

    # The untouched docker shows the first fast style, with its thumbnail, weight 1.
    first_fast = next(s["name"] for s in c.catalogue if "fast" in s["engines"])
    check(dock.styles.rowCount() == 1, "one default style row")
    check(dock.styles.item(0, 0).text() == first_fast, dock.styles.item(0, 0).text())
    check(not dock.styles.item(0, 0).icon().isNull(), "thumbnail icon")
    check(dock.styles.cellWidget(0, 1).value() == 1.0, "weight 1")

    # Modes: every engine the daemon runs is listed and enabled (a mode it does not offer would
    # be greyed, with a tooltip saying so).
    items = [dock.mode.itemData(i) for i in range(dock.mode.count())]
    check(items == ["fast", "gatys", "hires"], items)
    check(all(dock.mode.model().item(i).isEnabled() for i in range(3)), "modes enabled")
    tooltip = dock.mode.itemData(2, QtCore.Qt.ItemDataRole.ToolTipRole) or ""
    check(tooltip == "", f"hires tooltip {tooltip!r}")
    check(not dock.iterations.isEnabled(), "quality is a gatys setting")

    # Adding a fast style and changing weights edits the settings the action uses.
    names = [dock.add_style.itemData(i) for i in range(dock.add_style.count())]
    second = next(
        n
        for n in names[1:]
        if n not in (first_fast, docker_module.ADD_LAYER, docker_module.ADD_FILE)
    )
    check(all("fast" in s["engines"] for s in c.styles_for("fast")), "fast list")
    dock._add_chosen(names.index(second))
    check([s.name for s in c.settings.chosen] == [first_fast, second], "style added")
    dock.styles.cellWidget(1, 1).setValue(0.25)
    check(c.settings.chosen[1].weight == 0.25, "weight edited")
    dock.strength.setValue(60)
    check(abs(c.settings.strength - 0.6) < 1e-9, "strength edited")
    check(dock.temporal.isChecked() and c.settings.temporal, "animation smoothing on by default")
    dock.temporal.setChecked(False)
    check(not c.settings.temporal, "animation smoothing turned off")
    dock.temporal.setChecked(True)
    check(dock.texture.isChecked() and c.settings.texture, "full-size texture on by default")
    dock.texture.setChecked(False)
    check(not c.settings.texture, "full-size texture turned off")
    dock.texture.setChecked(True)

    # An image file as style in fast mode switches to gatys, where pictures are allowed.
    QtWidgets.QFileDialog.getOpenFileName = staticmethod(lambda *a, **k: (style_image, ""))
    dock._add_chosen(names.index(docker_module.ADD_FILE))
    check(c.settings.mode == "gatys" and dock.mode.currentData() == "gatys", "switched to gatys")
    check(c.settings.chosen[-1].kind == "file", "file style added")
    check(dock.iterations.isEnabled(), "quality enabled in gatys")
    check("Gatys" in c.message, c.message)
    dock.styles.cellWidget(dock.styles.rowCount() - 1, 3).click()
    check(all(s.kind != "file" for s in c.settings.chosen), "style removed")

    # Where a style goes: its row's menu; without a selection, choosing it only says so.
    where = dock.styles.cellWidget(0, 2)
    actions = [a.text() for a in where.menu().actions()]
    check(actions[0] == "Everywhere" and len(actions) == 3, actions)
    where.menu().actions()[1].trigger()
    check(c.settings.chosen[0].where is None and "Select" in c.message, c.message)

    # "This layer as style" lists the layers of the open documents and adds the chosen one.
    offered = []

    def pick(parent, title, label, entries, current, editable):
        offered.extend(entries)
        return entries[1], True

    QtWidgets.QInputDialog.getItem = staticmethod(pick)
    names = [dock.add_style.itemData(i) for i in range(dock.add_style.count())]  # gatys menu
    dock._add_chosen(names.index(docker_module.ADD_LAYER))
    check(offered == ["sketchbook.kra: paper", "sketchbook.kra: sketch"], offered)
    layer_style = c.settings.chosen[-1]
    check(layer_style.kind == "layer" and layer_style.source == (SKETCHBOOK, SKETCH), "layer")
    check(dock.styles.item(dock.styles.rowCount() - 1, 0).text() == "layer: sketch", "row")

    # Live preview (fast mode): the active layer, stylised, shows in the docker without Apply.
    c.set_mode("fast")
    FAKE.active = PaintedDocument("/art/live.kra", FakeNode("root", "grouplayer", [
        PaintedNode("painted", "paintlayer")]))  # fmt: skip
    check(dock.live.isEnabled(), "live preview offered in fast mode")
    dock.live.setChecked(True)
    pump(lambda: c.preview is not None and not dock.preview.pixmap().isNull())
    check(c.preview[:2] == (64, 48) and not c.busy, f"preview {c.preview[:2]}")
    dock.live.setChecked(False)
    c.set_mode("gatys")
    check(not dock.live.isEnabled(), "live preview is a fast-mode feature")
    FAKE.active = None

    # Sixteen styles: the list scrolls inside the docker, which stays the size of a screen, and
    # the keyboard reaches every row's weight and buttons and everything below the list.
    c.set_mode("fast")
    content = dock.widget().widget()  # the docker's scroll area holds its widgets
    one = content.minimumSizeHint().height()
    for entry in c.styles_for("fast"):
        if len(c.settings.chosen) >= 16:
            break
        if entry["name"] not in [s.name for s in c.settings.chosen]:
            names = [dock.add_style.itemData(i) for i in range(dock.add_style.count())]
            dock._add_chosen(names.index(entry["name"]))
    check(dock.styles.rowCount() == 16, f"{dock.styles.rowCount()} rows")
    tall = content.minimumSizeHint().height()
    check(tall == one, f"the docker grew from {one} to {tall} px with 16 styles")
    small = dock.widget().minimumSizeHint().height()
    check(small < 200, f"the docker cannot be smaller than {small} px (it scrolls)")
    check(not dock.styles.tabKeyNavigation(), "Tab leaves the style list")
    dock.show()
    chain, widget = [], dock.mode
    for _ in range(5000):  # what Tab visits, in order, from the mode (Qt's focus chain)
        widget = widget.nextInFocusChain()
        tab = widget.focusPolicy() & QtCore.Qt.FocusPolicy.TabFocus
        if widget is dock.mode:
            break
        if tab and widget.isEnabled() and widget.isVisibleTo(dock) and dock.isAncestorOf(widget):
            chain.append(widget)
    rows = [dock.styles.cellWidget(r, k) for r in range(16) for k in (1, 2, 3)]
    wanted = [dock.styles, *rows, dock.add_style, dock.strength, dock.apply_button, dock.live]
    missing = [w for w in wanted if w not in chain]
    check(not missing, f"Tab never reaches {[type(w).__name__ for w in missing]}")
    at = [chain.index(w) for w in wanted]
    check(at == sorted(at), "Tab goes down the docker: the list's rows, then the settings")
    while len(c.settings.chosen) > 1:
        dock.styles.cellWidget(dock.styles.rowCount() - 1, 3).click()
    dock.hide()
    c.set_mode("gatys")

    # Apply with no image open says so instead of failing.
    dock.apply_button.click()
    check(c.message == "Open an image first.", c.message)

    # A dead daemon address: the status says so and offers the Start daemon button.
    dock.endpoint.setText(dead)
    dock._endpoint_edited()
    check(FAKE.settings[("impasto", "endpoint")] == dead, "endpoint setting saved")
    pump(lambda: c.state == "offline", timeout=15)
    check("not running" in dock.status.text(), dock.status.text())
    check(not dock.start_button.isHidden(), "Start daemon button offered")
    check(all(dock.mode.model().item(i).isEnabled() for i in range(3)), "last hello's modes")
    print(f"PyQt{QT_VERSION} OK")


if __name__ == "__main__":
    main()

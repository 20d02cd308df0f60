"""Test-only Krita plugin that drives the installed Impasto plugin like a user would.

For each case in $IMPASTO_E2E_CONFIG it opens a new document with a photo layer (and a feathered
selection, when asked), makes it the active view, triggers the `impasto_apply` action, waits for
the result layer, saves the document as .kra, undoes until the new layer is gone and records
what it saw (and how many undo steps that took). A `reapply` case then inverts the top half of
the photo layer, selects the result and triggers `impasto_reapply`, and records the command
lines Impasto gives for both result layers. A `preview` case turns the docker's live preview on
and changes the strength four times instead of applying, recording each preview's latency. An
`animation` case first makes the photo layer animated, one keyframe per raw file at the given
times, as a user does in the timeline (Create Blank Frame, then paint), and records the new
layer's keyframes and every frame's pixels of both layers. A `learn` case first adds the photo
layer to the fast styles (Add to fast styles, a short lesson), waits until the style is in the
docker's list, then applies it like any style. Then it takes a screenshot if asked
and exits. Any error exits non-zero (Krita's own excepthook would
open a modal dialog and hang a headless run).
"""

import json
import os
import sys
import time
import traceback

from krita import Krita, Selection

try:
    from PyQt6.QtCore import QTimer
except ImportError:
    from PyQt5.QtCore import QTimer

CONFIG = json.loads(open(os.environ["IMPASTO_E2E_CONFIG"]).read())
RESULTS = CONFIG["results"]
report = {"cases": [], "krita": Krita.instance().version()}


def finish(code, error=None):
    if error:
        report["error"] = error
    with open(RESULTS, "w") as f:
        json.dump(report, f, indent=1)
    os._exit(code)


def excepthook(kind, value, tb):
    finish(1, "".join(traceback.format_exception(kind, value, tb)))


sys.excepthook = excepthook


def guarded(fn):
    def run(*args):
        try:
            fn(*args)
        except Exception:
            finish(1, traceback.format_exc())

    return run


def later(ms, fn):
    QTimer.singleShot(ms, guarded(fn))


def layer_names(doc):
    """The document's top-level layers, bottom to top (the global selection mask left out)."""
    return [n.name() for n in doc.rootNode().childNodes() if not n.type().endswith("mask")]


def impasto_controller():
    from impasto import plugin

    return plugin.controller()


class StallProbe:
    """The longest time Krita's event loop went without running a 10 ms timer (a frozen UI)."""

    def __init__(self):
        self.timer = QTimer()
        self.timer.setInterval(10)
        self.timer.timeout.connect(self.tick)
        self.last = time.monotonic()
        self.worst = 0.0
        self.timer.start()

    def tick(self):
        now = time.monotonic()
        self.worst = max(self.worst, now - self.last)
        self.last = now

    def stop(self):
        self.tick()
        self.timer.stop()
        return self.worst


class Driver:
    def __init__(self):
        self.index = 0
        self.started = False
        Krita.instance().notifier().windowCreated.connect(guarded(self.window_created))

    def window_created(self):
        if not self.started:
            self.started = True
            later(500, self.next_case)

    def new_document(self, name, model, depth, layer, pixels):
        """A document shown in its own view, with a paint layer holding `pixels` (raw bytes)."""
        app = Krita.instance()
        w, h = CONFIG["width"], CONFIG["height"]
        doc = app.createDocument(w, h, name, model, depth, "", 72.0)
        app.activeWindow().addView(doc)
        node = doc.createNode(layer, "paintlayer")
        if pixels:
            with open(pixels, "rb") as f:
                node.setPixelData(f.read(), 0, 0, w, h)
        doc.rootNode().addChildNode(node, None)
        doc.setActiveNode(node)
        doc.waitForDone()
        return doc, node

    def next_case(self):
        if self.index >= len(CONFIG["cases"]):
            later(100, self.screenshot)
            return
        case = CONFIG["cases"][self.index]
        self.style_layer = None
        self.first = None  # a reapply case's first result layer
        if case.get("style_pixels"):  # another open document whose layer is the style
            self.style_layer = self.new_document(
                "style source", "RGBA", "U8", "style layer", case["style_pixels"]
            )
        model = case.get("model", "RGBA")
        doc, photo = self.new_document(case["name"], model, case["depth"], "photo", case["pixels"])
        if case.get("selection"):
            x, y, sw, sh, feather = case["selection"]
            selection = Selection()
            selection.select(x, y, sw, sh, 255)
            if feather:
                selection.feather(feather)
            doc.setSelection(selection)
        self.case, self.doc = case, doc
        self.before = layer_names(doc)
        if case.get("keys"):
            doc.setFullClipRangeStartTime(case["playback"][0])  # the playback range follows
            doc.setFullClipRangeEndTime(case["playback"][1])
            self.animated, self.key = photo, 0
            later(300, self.add_key)
            return
        later(300, self.apply)

    def add_key(self):
        """The next keyframe of the animation case, made as in the timeline by hand."""
        app, doc, case = Krita.instance(), self.doc, self.case
        if app.activeDocument() != doc or doc.activeNode() is None:
            later(100, self.add_key)  # the new view is not active yet
            return
        time, raw = case["keys"][self.key]
        doc.setCurrentTime(time)
        doc.waitForDone()
        app.action("add_blank_frame").trigger()
        doc.waitForDone()
        with open(raw, "rb") as f:
            self.animated.setPixelData(f.read(), 0, 0, CONFIG["width"], CONFIG["height"])
        doc.waitForDone()
        self.key += 1
        if self.key < len(case["keys"]):
            later(50, self.add_key)
            return
        doc.setCurrentTime(case["keys"][0][0])
        later(100, self.apply)

    def apply(self):
        app = Krita.instance()
        if app.activeDocument() != self.doc or self.doc.activeNode() is None:
            later(100, self.apply)  # the new view is not active yet
            return
        controller = impasto_controller()
        if self.case.get("preview"):
            self.preview_start()
            return
        if self.case.get("learn") and not getattr(self, "learned", None):
            self.learn_start()
            return
        if self.case.get("styles") or self.style_layer:  # pick styles as a user would
            if controller.state != "connected":
                later(100, self.apply)
                return
            from impasto.jobs import StyleChoice

            settings = controller.settings
            if self.style_layer:
                settings.mode, settings.iterations = "gatys", self.case["iterations"]
                doc, node = self.style_layer
                chosen = [StyleChoice("layer", node.name(), 1.0, source=(doc, node))]
            else:
                settings.mode = self.case.get("mode", "fast")
                chosen = []
                for name, weight, *where in self.case["styles"]:  # where: a rectangle
                    choice = StyleChoice("builtin", name, weight)
                    if where:
                        x, y, w, h = where[0]
                        placed = Selection()
                        placed.select(x, y, w, h, 255)
                        choice.where = ("selection", placed)
                    if where and self.case.get("masks"):  # a selection mask on the photo
                        mask = self.doc.createSelectionMask(f"{name} goes here")
                        mask.setSelection(placed)
                        self.doc.activeNode().addChildNode(mask, None)
                        self.doc.waitForDone()
                        choice.where = ("alpha", (self.doc, mask))
                    chosen.append(choice)
            settings.styles[settings.mode] = chosen
            settings.photoreal = bool(self.case.get("photoreal"))
            controller.changed()
        if self.case.get("endpoint"):  # another daemon address for this case (e.g. none there)
            self.endpoint = controller.endpoint
            controller.set_endpoint(self.case["endpoint"])
        self.probe = StallProbe() if self.case.get("probe") else None
        self.t0 = time.monotonic()
        app.action("impasto_apply").trigger()
        later(100, self.wait)

    def learn_start(self):
        controller = impasto_controller()
        if controller.state != "connected":
            later(100, self.learn_start)
            return
        name, minutes = self.case["learn"]
        self.t0 = time.monotonic()
        if not controller.learn_layer(self.doc.activeNode(), name, minutes):
            finish(1, f"Add to fast styles refused: {controller.message}")
            return
        later(100, self.learn_wait)

    def learn_wait(self):
        controller, name = impasto_controller(), self.case["learn"][0]
        listed = {s["name"] for s in controller.styles_for("fast")}
        if not controller.lesson_label(name) or name not in listed:
            if time.monotonic() - self.t0 > CONFIG["timeout"]:
                waited = CONFIG["timeout"]
                finish(1, f"no first look of {name} after {waited} s: {controller.message}")
            later(200, self.learn_wait)
            return
        self.learned = {
            "label": controller.lesson_label(name),
            "first_look_s": time.monotonic() - self.t0,
            "learning_text": controller.learning_text(),
        }
        self.apply()

    def wait(self):
        names = layer_names(self.doc)
        controller = impasto_controller()
        if controller.busy or controller.state == "connecting":
            if time.monotonic() - self.t0 > CONFIG["timeout"]:
                finish(1, f"no result after {CONFIG['timeout']} s: {controller.message}")
            later(100, self.wait)
            return
        record = {
            "name": self.case["name"],
            "seconds": time.monotonic() - self.t0,
            "layers": names,
            "message": controller.message,
        }
        if self.probe is not None:
            record["ui_worst_gap_s"] = self.probe.stop()
        if getattr(self, "learned", None):
            record["learned"], self.learned = self.learned, None
        if self.case.get("endpoint"):
            controller.set_endpoint(self.endpoint)
        layers = [n for n in self.doc.rootNode().childNodes() if not n.type().endswith("mask")]
        if self.case.get("reapply") and self.first is None and len(names) > len(self.before):
            self.first = layers[-1]
            self.edit_and_reapply(layers)
            return
        if self.first is not None:
            record["commands"] = [
                controller.command_for(self.doc, node) for node in (self.first, layers[-1])
            ]
        if self.case.get("keys"):
            self.record_animation(record, layers)
        elif len(names) > len(self.before):  # the new layer's masks, and what it shows with them
            new, w, h = layers[-1], self.doc.width(), self.doc.height()
            record["masks"] = [[m.type(), m.name()] for m in new.childNodes()]
            for m in new.childNodes():
                if m.type() == "transparencymask":
                    # Krita 5.2+ wraps it as TransparencyMask; 5.1's Node reads its selection
                    read = m.selection().pixelData if hasattr(m, "selection") else m.pixelData
                    with open(self.case["kra"] + ".mask.raw", "wb") as f:
                        f.write(bytes(read(0, 0, w, h)))
            self.doc.waitForDone()
            with open(self.case["kra"] + ".projection.raw", "wb") as f:
                f.write(bytes(new.projectionPixelData(0, 0, w, h)))
        self.doc.setBatchmode(True)
        record["saved"] = bool(self.doc.saveAs(self.case["kra"]))
        if len(names) > len(self.before) and not self.case.get("keep"):  # undo steps to remove it
            record["undos"] = 0
            while layer_names(self.doc) != self.before and record["undos"] < 4:
                Krita.instance().action("edit_undo").trigger()
                self.doc.waitForDone()
                record["undos"] += 1
            record["after_undo"] = layer_names(self.doc)
        report["cases"].append(record)
        if self.case.get("keep"):  # the screenshot's case: the result stays, a preview shows
            controller.set_live_preview(True)
            self.t0 = time.monotonic()
            later(100, self.preview_shown)
            return
        self.index += 1
        later(100, self.next_case)

    def preview_shown(self):
        c = impasto_controller()
        if c.preview is None or c.live.handle is not None:
            if time.monotonic() - self.t0 > CONFIG["timeout"]:
                finish(1, f"no preview after {CONFIG['timeout']} s: {c.message}")
            later(50, self.preview_shown)
            return
        self.index += 1
        later(100, self.next_case)

    def record_animation(self, record, layers):
        """Which times hold keyframes in each layer, and their pixels as raw files."""
        w, h, end = self.doc.width(), self.doc.height(), self.case["playback"][1] + 2
        record["time"] = self.doc.currentTime()
        record["playback"] = [self.doc.playBackStartTime(), self.doc.playBackEndTime()]
        record["active"] = self.doc.activeNode().name()
        for tag, node in (("source", self.animated), ("result", layers[-1])):
            record[f"{tag}_animated"] = bool(node.animated())
            record[f"{tag}_keys"] = [t for t in range(end + 1) if node.hasKeyframeAtTime(t)]
            for t in record[f"{tag}_keys"]:
                with open(f"{self.case['kra']}.{tag}{t}.raw", "wb") as f:
                    f.write(bytes(node.pixelDataAtTime(0, 0, w, h, t)))

    def preview_start(self):
        controller = impasto_controller()
        if controller.state != "connected":
            later(100, self.preview_start)
            return
        controller.preview, self.latencies, self.t0 = None, [], time.monotonic()
        controller.set_mode("fast")  # an earlier case may have left Gatys chosen
        self.probe = StallProbe() if self.case.get("probe") else None
        controller.set_live_preview(True)
        later(20, lambda: self.preview_wait(None))

    def preview_wait(self, shown):
        c = impasto_controller()
        if c.preview is shown or c.preview is None or c.live.handle is not None:
            if time.monotonic() - self.t0 > CONFIG["timeout"]:
                finish(1, f"no preview after {CONFIG['timeout']} s: {c.message}")
            later(20, lambda: self.preview_wait(shown))
            return
        self.latencies.append(c.preview_seconds)
        if len(self.latencies) < self.case.get("previews", 5):
            c.settings.strength = 1.0 - 0.05 * len(self.latencies)  # what a slider drag does
            later(20, lambda p=c.preview: self.preview_wait(p))
            return
        c.set_live_preview(False)
        c.settings.strength = 1.0
        report["cases"].append(
            {
                "name": self.case["name"],
                "layers": layer_names(self.doc),
                "preview_size": list(c.preview[:2]),
                "latencies": self.latencies,
                "message": c.message,
                **({"ui_worst_gap_s": self.probe.stop()} if self.probe else {}),
            }
        )
        self.index += 1
        later(100, self.next_case)

    def edit_and_reapply(self, layers):
        """Invert the top half of the photo (8-bit BGRA), select the result, re-apply."""
        photo = next(n for n in layers if n.name() == "photo")
        w, h = CONFIG["width"], CONFIG["height"]
        data = bytes(photo.pixelData(0, 0, w, h))
        half = 4 * w * (h // 2)
        top = bytes(b if i % 4 == 3 else 255 - b for i, b in enumerate(data[:half]))
        photo.setPixelData(top + data[half:], 0, 0, w, h)
        self.doc.setActiveNode(self.first)
        self.doc.waitForDone()
        later(300, self.reapply)

    def reapply(self):
        if self.doc.activeNode() != self.first:
            later(100, self.reapply)
            return
        self.t0 = time.monotonic()
        Krita.instance().action("impasto_reapply").trigger()
        later(100, self.wait)

    def screenshot(self):
        path = CONFIG.get("screenshot")
        if not path:
            finish(0)
        for dock in Krita.instance().dockers():  # the layers and Impasto dockers only
            if dock.objectName() in ("impasto_docker", "KisLayerBox"):
                dock.show()
                dock.raise_()
            else:
                dock.hide()
        window = Krita.instance().activeWindow()
        window.qwindow().resize(1280, 800)
        later(1000, lambda: self.zoom(window, path))

    def zoom(self, window, path):
        window.activeView().canvas().setZoomLevel(CONFIG.get("zoom", 1.0))
        later(1000, lambda: self.grab(window, path))

    def grab(self, window, path):
        report["screenshot"] = bool(window.qwindow().grab().save(path))
        finish(0)


Driver()

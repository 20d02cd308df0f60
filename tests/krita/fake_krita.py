"""A small stand-in for Krita's `krita` module: documents, layers with real pixel bytes in Krita's
layouts, selections and the application object, enough to drive the plugin's logic in tests."""

from __future__ import annotations

import sys
import types
from dataclasses import dataclass

import numpy as np

DTYPES = {"U8": np.uint8, "U16": np.uint16, "F16": np.float16, "F32": np.float32}
CHANNELS = {"RGBA": 4, "CMYKA": 5, "LABA": 4, "GRAYA": 2}


def _box(xs: np.ndarray, ys: np.ndarray) -> tuple[int, int, int, int]:
    x0, y0 = int(xs.min()), int(ys.min())
    return x0, y0, int(xs.max()) - x0 + 1, int(ys.max()) - y0 + 1


@dataclass
class QRect:
    """Krita hands out bounds as QRects; only the accessors are needed."""

    _x: int
    _y: int
    _w: int
    _h: int

    def x(self) -> int:
        return self._x

    def y(self) -> int:
        return self._y

    def width(self) -> int:
        return self._w

    def height(self) -> int:
        return self._h


class Node:
    """A layer whose pixels are a numpy array covering the canvas (Krita's bytes are native)."""

    def __init__(self, doc: Document, name: str, node_type: str = "paintlayer") -> None:
        self.doc, self._name, self._type = doc, name, node_type
        self._model, self._depth, self._profile = doc.model, doc.depth, doc.profile
        self.parent: Node | None = None
        self.children: list[Node] = []
        self.pixels = np.zeros((doc.h, doc.w, CHANNELS[doc.model]), DTYPES[doc.depth])
        self.frames: dict[int, np.ndarray] | None = None  # an animated layer's keyframes
        Node._ids += 1
        self._id = f"{{00000000-0000-0000-0000-{Node._ids:012d}}}"

    _ids = 0

    def name(self) -> str:
        return self._name

    def uniqueId(self) -> str:  # noqa: N802 (Krita returns a QUuid; its text is this form)
        return self._id

    def type(self) -> str:
        return self._type

    def colorModel(self) -> str:  # noqa: N802 (Krita's names)
        return self._model

    def colorDepth(self) -> str:  # noqa: N802
        return self._depth

    def colorProfile(self) -> str:  # noqa: N802
        return self._profile

    def setColorSpace(self, model: str, depth: str, profile: str) -> bool:  # noqa: N802
        self._model, self._depth, self._profile = model, depth, profile
        self.pixels = self.pixels.astype(DTYPES[depth])
        return True

    def bounds(self) -> QRect:
        alpha = self.pixels[..., -1]
        ys, xs = np.nonzero(alpha)
        if len(xs) == 0:
            return QRect(0, 0, 0, 0)
        return QRect(*_box(xs, ys))

    def _window(self, x: int, y: int, w: int, h: int) -> np.ndarray:
        out = np.zeros((h, w, self.pixels.shape[2]), self.pixels.dtype)
        x0, y0 = max(x, 0), max(y, 0)
        x1, y1 = min(x + w, self.doc.w), min(y + h, self.doc.h)
        if x1 > x0 and y1 > y0:
            out[y0 - y : y1 - y, x0 - x : x1 - x] = self.pixels[y0:y1, x0:x1]
        return out

    def pixelData(self, x: int, y: int, w: int, h: int) -> bytes:  # noqa: N802
        return self._window(x, y, w, h).tobytes()

    projectionPixelData = pixelData  # noqa: N815

    def setPixelData(self, data: bytes, x: int, y: int, w: int, h: int) -> None:  # noqa: N802
        """Into the layer, or in an animated one into the keyframe shown now (as Krita)."""
        block = np.frombuffer(bytes(data), self.pixels.dtype).reshape(h, w, -1)
        target = self.pixels
        if self.frames is not None:
            shown = [t for t in self.frames if t <= self.doc.time]
            target = self.frames[max(shown)] if shown else self.pixels
        target[y : y + h, x : x + w] = block

    # -- animation (Krita's scripting has no keyframe calls; the action adds them) -------------
    def animated(self) -> bool:
        return self.frames is not None

    def hasKeyframeAtTime(self, time: int) -> bool:  # noqa: N802
        return self.frames is not None and time in self.frames

    def pixelDataAtTime(self, x: int, y: int, w: int, h: int, time: int) -> bytes:  # noqa: N802
        """A keyframe's pixels; Krita returns nothing for a time without a keyframe."""
        if self.frames is None or time not in self.frames:
            return b""
        out = np.zeros((h, w, self.pixels.shape[2]), self.pixels.dtype)
        out[:, :] = self.frames[time][y : y + h, x : x + w]
        return out.tobytes()

    def add_blank_frame(self, time: int) -> None:
        """What Krita's add_blank_frame action does to the active layer at `time`: the first
        makes the layer animated (its content becomes the keyframe at 0)."""
        if self.frames is None:
            self.frames = {0: self.pixels.copy()}
        self.frames[time] = np.zeros_like(self.pixels)
        self.doc.undo_steps += 1

    def parentNode(self) -> Node | None:  # noqa: N802
        return self.parent

    def childNodes(self) -> list[Node]:  # noqa: N802
        return list(self.children)

    def addChildNode(self, child: Node, above: Node | None) -> bool:  # noqa: N802
        index = self.children.index(above) + 1 if above is not None else len(self.children)
        self.children.insert(index, child)
        child.parent = self
        if self._attached():  # changing nodes not yet in the image is no undo step
            self.doc.undo_steps += 1
        return True

    def _attached(self) -> bool:
        node: Node | None = self
        while node is not None and node is not self.doc.root:
            node = node.parent
        return node is self.doc.root

    def remove(self) -> bool:
        if self.parent is not None:
            self.parent.children.remove(self)
            self.parent = None
        return True


class TransparencyMask(Node):
    """A transparency mask: its selection hides the parent layer where it is 0."""

    def __init__(self, doc: Document, name: str) -> None:
        super().__init__(doc, name, "transparencymask")
        self._selection: Selection | None = None

    def selection(self) -> Selection | None:
        return self._selection

    def setSelection(self, selection: Selection) -> None:  # noqa: N802
        self._selection = selection


class Selection:
    """A global selection: an 8-bit mask over the canvas."""

    def __init__(self, mask: np.ndarray) -> None:
        self.mask = mask

    def duplicate(self) -> Selection:
        return Selection(self.mask.copy())

    def _rect(self) -> tuple[int, int, int, int]:
        ys, xs = np.nonzero(self.mask)
        if len(xs) == 0:
            return 0, 0, 0, 0
        return _box(xs, ys)

    def x(self) -> int:
        return self._rect()[0]

    def y(self) -> int:
        return self._rect()[1]

    def width(self) -> int:
        return self._rect()[2]

    def height(self) -> int:
        return self._rect()[3]

    def pixelData(self, x: int, y: int, w: int, h: int) -> bytes:  # noqa: N802
        out = np.zeros((h, w), np.uint8)
        out[:, :] = self.mask[y : y + h, x : x + w]
        return out.tobytes()


class Document:
    def __init__(self, w: int, h: int, model: str = "RGBA", depth: str = "U8") -> None:
        self.w, self.h, self.model, self.depth = w, h, model, depth
        self.profile = "sRGB-elle-V2-srgbtrc.icc"
        self.root = Node(self, "root", "grouplayer")
        self._selection: Selection | None = None
        self._active: Node | None = None
        self.undo_steps = 0
        self.annotations: dict[str, tuple[str, bytes]] = {}
        self.time = 0
        self.playback = (0, 0)

    def currentTime(self) -> int:  # noqa: N802
        return self.time

    def setCurrentTime(self, time: int) -> None:  # noqa: N802
        self.time = time

    def playBackStartTime(self) -> int:  # noqa: N802
        return self.playback[0]

    def playBackEndTime(self) -> int:  # noqa: N802
        return self.playback[1]

    def waitForDone(self) -> None:  # noqa: N802
        pass

    def add_animation(self, name: str, frames: dict[int, np.ndarray]) -> Node:
        """Test helper: an animated paint layer at the top with these keyframes (by time)."""
        node = self.add_layer(name)
        node.frames = {t: pixels.copy() for t, pixels in frames.items()}
        return node

    def annotationTypes(self) -> list[str]:  # noqa: N802
        return list(self.annotations)

    def annotation(self, key: str) -> bytes:
        return self.annotations.get(key, ("", b""))[1]

    def setAnnotation(self, key: str, description: str, data: bytes) -> None:  # noqa: N802
        self.annotations[key] = (description, bytes(data))

    def width(self) -> int:
        return self.w

    def height(self) -> int:
        return self.h

    def fileName(self) -> str:  # noqa: N802
        return ""

    def name(self) -> str:
        return "Untitled"

    def rootNode(self) -> Node:  # noqa: N802
        return self.root

    def createNode(self, name: str, node_type: str) -> Node:  # noqa: N802
        if node_type == "transparencymask":
            return TransparencyMask(self, name)
        return Node(self, name, node_type)

    def add_layer(self, name: str, pixels: np.ndarray | None = None) -> Node:
        """Test helper: a paint layer at the top holding `pixels` (H×W×C in Krita's layout)."""
        node = self.createNode(name, "paintlayer")
        if pixels is not None:
            node.pixels[: pixels.shape[0], : pixels.shape[1]] = pixels
        self.root.children.append(node)
        node.parent = self.root
        self._active = node
        return node

    def activeNode(self) -> Node | None:  # noqa: N802
        return self._active

    def setActiveNode(self, node: Node) -> None:  # noqa: N802
        self._active = node

    def selection(self) -> Selection | None:
        return self._selection

    def setSelection(self, selection: Selection | None) -> None:  # noqa: N802
        self._selection = selection

    def refreshProjection(self) -> None:  # noqa: N802
        pass


class Krita52Document(Document):
    """A document of Krita 5.2 and later, whose scripting can make transparency masks."""

    def createTransparencyMask(self, name: str) -> TransparencyMask:  # noqa: N802
        return TransparencyMask(self, name)


class View:
    def __init__(self, app: Krita, doc: Document) -> None:
        self.app, self.doc = app, doc

    def document(self) -> Document:
        return self.doc

    def setVisible(self) -> None:  # noqa: N802 (makes it the window's active view)
        if self.doc not in self.app.stuck:
            self.app.active = self.doc


class Window:
    def __init__(self, app: Krita) -> None:
        self.app = app

    def views(self) -> list[View]:
        return [View(self.app, d) for d in self.app.docs if d not in self.app.without_view]

    def activeView(self) -> View | None:  # noqa: N802
        return View(self.app, self.app.active) if self.app.active is not None else None


class Action:
    def __init__(self, app: Krita, name: str) -> None:
        self.app, self.name = app, name

    def trigger(self) -> None:
        doc = self.app.active
        if self.name == "add_blank_frame" and doc is not None and doc.activeNode() is not None:
            doc.activeNode().add_blank_frame(doc.time)


class Krita:
    _instance: Krita | None = None

    def __init__(self) -> None:
        self.docs: list[Document] = []
        self.active: Document | None = None
        self.settings: dict[tuple[str, str], str] = {}
        self.without_view: list[Document] = []  # documents open without a view (scripts)
        self.stuck: list[Document] = []  # documents Krita does not bring forward (a dialog open)

    def windows(self) -> list[Window]:
        return [Window(self)]

    def activeWindow(self) -> Window:  # noqa: N802
        return Window(self)

    def action(self, name: str) -> Action | None:
        return Action(self, name) if name == "add_blank_frame" else None

    @classmethod
    def instance(cls) -> Krita:
        if cls._instance is None:
            cls._instance = Krita()
        return cls._instance

    def documents(self) -> list[Document]:
        return list(self.docs)

    def activeDocument(self) -> Document | None:  # noqa: N802
        return self.active

    def open(self, doc: Document) -> Document:
        """Test helper: open a document and make it the active one."""
        self.docs.append(doc)
        self.active = doc
        return doc

    def readSetting(self, group: str, name: str, default: str) -> str:  # noqa: N802
        return self.settings.get((group, name), default)

    def writeSetting(self, group: str, name: str, value: str) -> None:  # noqa: N802
        self.settings[(group, name)] = value


def install() -> types.ModuleType:
    """Put this fake in sys.modules as `krita`, with a fresh application."""
    module = types.ModuleType("krita")
    Krita._instance = None
    module.Krita = Krita
    module.Selection = Selection
    sys.modules["krita"] = module
    return module


def thumbnail(node: Node, side: int):
    """What the plugin's Qt thumbnailer gives for a fake 8-bit layer: RGBA, long side ≤ `side`."""
    from PIL import Image

    from shared.protocol import PixelFormat
    from shared.settings import Pixels

    rgba = node.pixels[..., [2, 1, 0, 3]] if node.pixels.dtype == np.uint8 else None
    if rgba is None:
        raise OSError("the fake thumbnailer takes 8-bit layers")
    image = Image.fromarray(np.ascontiguousarray(rgba), "RGBA")
    image.thumbnail((side, side), Image.Resampling.BILINEAR)
    return Pixels(PixelFormat("u8", "RGBA"), image.width, image.height, image.tobytes())

"""Animated layers: read the keyframes of the document's playback range one at a time, and write
the stylised ones as the keyframes of one new layer.

Reading (`capture_animation`, `read_key`): every keyframe the playback range shows is stylised
once, in order — a frame between keyframes holds the keyframe before it, in the source as in the
result — over the canvas (or the selection's box), each read with `pixelDataAtTime` only when its
turn comes, so nothing grows with the animation's length in Krita's process.

Writing (`KeyframeWriter`): Krita's scripting (5.1, 5.2) has no call that adds a keyframe.
`Document.importAnimation` adds a layer of keyframes, but it crashed Krita intermittently in our
tests (SIGSEGV in libkritaimage, 5.1 and 5.2: it fills the keyframes of a layer it has just added
while the image's update threads work on it). What the timeline does by hand is safe: with the
new layer active in a view of its document, Krita's `add_blank_frame` action at each key time,
then `setPixelData` fills that frame. The action works on whatever view and layer are active, so
the writer checks both right before each one, and it goes one keyframe per tick of the
controller, because Krita applies a change of active layer or view in its event loop. The
user's active layer and current time are restored at the end. Undo: adding the layer is one
step and each keyframe one more; the layer's name says what it is, deleting it removes all.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from typing import Any

from shared.protocol import PixelFormat

from .krita_io import add_result_layer, canvas_rect, selection_in
from .pixels import pixel_format
from .selection import NothingToStylise, Rect

log = logging.getLogger(__name__)

ADD_FRAME = "add_blank_frame"  # Krita's "Create Blank Frame" action (the timeline's)
SWITCH_TICKS = 40  # ticks (2 s at 50 ms) for Krita to show the document and layer, then ask


@dataclass
class Animation:
    """An animated layer as Apply found it: what each frame job reads and the result needs."""

    document: Any
    node: Any
    region: Rect  # the canvas, or the selection's box in it
    fmt: PixelFormat
    color_space: tuple[str, str, str]  # model, depth, profile of the source layer
    keys: list[int]  # the source keyframes the playback range shows, in order
    times: list[int]  # where each one's result goes: its time, or the range's start if earlier
    selection: Any = None  # a copy of the document's selection at Apply, None when none
    mask: bytes | None = None  # the selection in `region` for the daemon (Krita 5.1), else None
    files: list[str] = field(default_factory=list)  # the stylised keyframes kept so far


def is_animated(node: Any) -> bool:
    return bool(getattr(node, "animated", None) and node.animated())


def capture_animation(document: Any, node: Any) -> Animation:
    """The keyframes of the animated `node` that the playback range shows (none are read yet)."""
    if node.type() != "paintlayer":
        raise NothingToStylise("Animated layers are stylised when they are paint layers.")
    fmt = pixel_format(node.colorModel(), node.colorDepth())
    start, end = document.playBackStartTime(), document.playBackEndTime()
    if end < start:
        raise NothingToStylise("The animation's playback range is empty.")
    keys: list[int] = []
    held = next((t for t in range(start, -1, -1) if node.hasKeyframeAtTime(t)), None)
    if held is not None:  # the keyframe shown at the start of the range
        keys.append(held)
    keys += [t for t in range(start + 1, end + 1) if node.hasKeyframeAtTime(t)]
    if not keys:
        raise NothingToStylise("The animated layer has no keyframe in the playback range.")
    canvas = canvas_rect(document)
    region, selection, mask = selection_in(document, canvas, canvas)
    return Animation(
        document=document,
        node=node,
        region=region,
        fmt=fmt,
        color_space=(node.colorModel(), node.colorDepth(), node.colorProfile()),
        keys=keys,
        times=[max(k, start) for k in keys],
        selection=selection,
        mask=mask,
    )


def read_key(animation: Animation, index: int) -> bytes:
    """The source layer's pixels in the region at keyframe `index`."""
    r = animation.region
    data = bytes(animation.node.pixelDataAtTime(r.x, r.y, r.width, r.height, animation.keys[index]))
    if len(data) != r.pixels * animation.fmt.pixel_bytes:
        raise RuntimeError(f"Krita returned {len(data)} bytes for frame {animation.keys[index]}")
    return data


def keep_key(animation: Animation, folder: str, data: bytes) -> None:
    """Keep the next stylised keyframe (raw pixels, any depth) until the layer is written."""
    path = os.path.join(folder, f"{len(animation.files):06d}.raw")
    with open(path, "wb") as f:
        f.write(data)
    animation.files.append(path)


class KeyframeWriter:
    """Writes an animation's stylised keyframes into a new layer above the source, one step per
    `step()` call (see the module's notes). `step()` returns the layer when it is complete and
    None while it works; it raises RuntimeError, with the layer removed, when it cannot go on.
    While Krita does not show the image (a dialog open, the window minimised) it waits and says
    so in `waiting`, rather than throw the stylised frames away."""

    def __init__(self, app: Any, animation: Animation, name: str) -> None:
        self.app, self.animation, self.name = app, animation, name
        self.layer: Any = None
        self.index = 0  # the next keyframe to write
        self.waited = 0
        self.waiting = ""  # what the user can do when Krita has not shown the image for a while
        self._restore: tuple[Any, int] | None = None  # the user's active layer and time

    def step(self) -> Any:
        try:
            if self.layer is None:
                self._add_layer()
                return None
            if not self._ready():
                return None
            if self.index < len(self.animation.files):
                self._write_key()
                return None
            self._finish()
            return self.layer
        except Exception:
            self.abort()
            raise

    def abort(self) -> None:
        """Remove the partial layer and give the user back their layer and time."""
        layer, self.layer = self.layer, None
        try:
            if layer is not None:
                layer.remove()
        finally:
            self._give_back()

    def _add_layer(self) -> None:
        anim, doc = self.animation, self.animation.document
        self._restore = (doc.activeNode(), doc.currentTime())
        self.layer = add_result_layer(
            doc, anim.node, self.name, anim.color_space, anim.selection,
            masked=anim.mask is not None,
        )  # fmt: skip
        self._show()

    def _view(self) -> Any:
        doc = self.animation.document
        if not any(d == doc for d in self.app.documents()):
            raise RuntimeError("the image was closed before its frames were added")
        for window in self.app.windows():
            for view in window.views():
                if view.document() == doc:
                    return view
        raise RuntimeError("the image has no open view to add the frames in")

    def _show(self) -> None:
        """Ask Krita to make the document's view and the new layer active (done in its loop)."""
        self._view().setVisible()
        self.animation.document.setActiveNode(self.layer)

    def _ready(self) -> bool:
        """Whether the action would work on our layer now; asks Krita again while it is not."""
        doc = self.animation.document
        window = self.app.activeWindow()
        view = window.activeView() if window is not None else None
        active = doc.activeNode()
        if (
            view is not None
            and view.document() == doc
            and active is not None
            and active.uniqueId() == self.layer.uniqueId()
        ):
            self.waited, self.waiting = 0, ""
            return True
        self.waited += 1
        if self.waited > SWITCH_TICKS:
            self.waiting = (
                f"Show the image '{doc.name()}' to add its stylised frames (Krita has to "
                "show it to make keyframes)."
            )
        self._show()
        return False

    def _write_key(self) -> None:
        anim, doc, r = self.animation, self.animation.document, self.animation.region
        time = anim.times[self.index]
        with open(anim.files[self.index], "rb") as f:
            data = f.read()
        if len(data) != r.pixels * anim.fmt.pixel_bytes:
            raise RuntimeError("a stylised frame does not match the layer's size and format")
        doc.setCurrentTime(time)
        doc.waitForDone()
        if not self.layer.hasKeyframeAtTime(time):
            action = self.app.action(ADD_FRAME)
            if action is None:
                raise RuntimeError(f"this Krita has no '{ADD_FRAME}' action")
            action.trigger()
            doc.waitForDone()
        if not self.layer.hasKeyframeAtTime(time):
            raise RuntimeError(f"Krita did not add a frame at {time}")
        self.layer.setPixelData(data, r.x, r.y, r.width, r.height)
        doc.waitForDone()
        self.index += 1

    def _finish(self) -> None:
        self._give_back()
        self.animation.document.refreshProjection()

    def _give_back(self) -> None:
        if self._restore is None:
            return
        (node, time), self._restore = self._restore, None
        doc = self.animation.document
        doc.setCurrentTime(time)
        if node is not None and node.parentNode() is not None:
            doc.setActiveNode(node)
        doc.waitForDone()

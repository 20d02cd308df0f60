"""Krita glue: the one shared controller and its timer, the `impasto_apply` and
`impasto_reapply` actions, and loading image files as styles through Qt."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any

from krita import Extension, Krita

from shared.protocol import PixelFormat
from shared.settings import Pixels

from .controller import Controller
from .qt_compat import FORMAT_RGBA8888, QImage, QTimer

log = logging.getLogger(__name__)

ACTION_ID = "impasto_apply"
REAPPLY_ID = "impasto_reapply"
TICK_MS = 50  # how often the controller looks at the socket; a poll costs microseconds

_controller: Controller | None = None
_timer: Any = None


def guarded(slot: Callable) -> Callable:
    """Wrap a Qt slot: an exception becomes a message in the docker, not Krita's error dialog."""

    @functools.wraps(slot)
    def run(*args: Any) -> Any:
        try:
            return slot(*args)
        except Exception as exc:  # a bug must not take Krita down or open a modal dialog
            log.exception("Impasto: unexpected error")
            if _controller is not None:
                _controller.message = f"Impasto hit an unexpected error: {exc!r}"
                _controller.changed()
            return None

    return run


def load_image_file(path: str) -> Pixels:
    """An image file's pixels as 8-bit RGBA, decoded by Qt."""
    image = QImage(path)
    if image.isNull():
        raise OSError(f"Could not read the image file {path}.")
    return _rgba(image)


def layer_thumbnail(node: Any, side: int) -> Pixels:
    """The layer made by Krita at most `side` px on its long side, as 8-bit RGBA (the live
    preview's picture: Krita scales it, whatever the layer's depth)."""
    bounds = node.bounds()
    w, h = bounds.width(), bounds.height()
    if w <= 0 or h <= 0:
        raise OSError("The layer is empty.")
    scale = min(1.0, side / max(w, h))
    image = node.thumbnail(max(1, round(w * scale)), max(1, round(h * scale)))
    if image.isNull():
        raise OSError("Krita gave no thumbnail of the layer.")
    return _rgba(image)


def _rgba(image: Any) -> Pixels:
    image = image.convertToFormat(FORMAT_RGBA8888)
    stride = image.bytesPerLine()
    data = image.constBits().asstring(stride * image.height())
    if stride != 4 * image.width():
        data = b"".join(
            data[y * stride : y * stride + 4 * image.width()] for y in range(image.height())
        )
    return Pixels(PixelFormat("u8", "RGBA"), image.width(), image.height(), data)


def controller() -> Controller:
    """The controller every docker and the action share, created (with its timer) on first use."""
    global _controller, _timer
    if _controller is None:
        app = Krita.instance()
        endpoint = app.readSetting("impasto", "endpoint", "") or None
        _controller = Controller(
            app, endpoint, load_image=load_image_file, thumbnail=layer_thumbnail
        )
        _timer = QTimer()
        _timer.setInterval(TICK_MS)
        _timer.timeout.connect(guarded(_controller.tick))
        _timer.start()
        app.notifier().applicationClosing.connect(_controller.close)
    return _controller


class ImpastoExtension(Extension):
    """Registers the `impasto_apply` and `impasto_reapply` actions (Tools ▸ Scripts; bind
    shortcuts to them)."""

    def setup(self) -> None:
        controller()

    def createActions(self, window: Any) -> None:  # noqa: N802 (Krita's name)
        action = window.createAction(ACTION_ID, "Apply Impasto style", "tools/scripts")
        action.setToolTip("Stylise the active layer with the Impasto docker's settings")
        action.triggered.connect(guarded(lambda *_: controller().apply()))
        again = window.createAction(REAPPLY_ID, "Re-apply Impasto to the source", "tools/scripts")
        again.setToolTip(
            "Make the selected Impasto layer again from its source layer as it is now, with the "
            "settings it was made with, into a new layer"
        )
        again.triggered.connect(guarded(lambda *_: controller().reapply()))

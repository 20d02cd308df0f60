"""The docker's live preview (fast mode), a part of the controller.

Every tick compares what a preview depends on (the active layer, the styles and weights,
strength, colour mode, style scale) with what the shown preview was made from; on a change it
sends a fast job on a thumbnail of the layer (PREVIEW_SIDE px; the daemon paints it at the fast
engine's working side as it paints the layer, so strokes look as they will) through
shared.preview, which cancels the one in flight, so the daemon drops older requests instead of
queueing them. Previews never create layers.
"""

from __future__ import annotations

import logging
from typing import Any

from shared.errors import ImpastoError
from shared.preview import Shown

from .jobs import build_job, check_styles
from .krita_io import canvas_rect, node_id, read_map
from .pixels import UnsupportedColorSpace
from .selection import NothingToStylise, Rect

log = logging.getLogger(__name__)

PREVIEW_SIDE = 512  # the live preview's long side (the daemon paints it as it paints OK's)


class LivePreview:
    """The controller's live preview: `Controller` runs it with these methods, on its own
    connection (`live`), settings, thumbnailer and views (`changed`); the newest preview is in
    `preview`, how long it took in `preview_seconds`."""

    def set_live_preview(self, on: bool) -> None:
        """Turn the fast-mode live preview of the active layer on or off."""
        self.live_preview = bool(on)
        if self.live is not None:
            self.live.reset()
        self.changed()

    def _live_target(self) -> tuple[tuple, Any] | None:
        """(what a preview depends on, the active layer), or None when no preview is due."""
        if not self.live_preview or self.settings.mode != "fast" or self.thumbnail is None:
            return None
        document = self.app.activeDocument()
        node = document.activeNode() if document is not None else None
        if node is None:
            return None
        s = self.settings
        styles = tuple(
            (c.kind, c.name, c.weight, c.where and (c.where[0], id(c.where[1]))) for c in s.chosen
        )
        key = (node_id(node), styles, s.strength, s.preserve_color, s.style_scale, s.photoreal)
        return key, node

    def _live_tick(self) -> None:
        target = self._live_target()
        if target is None or self.live is None or target[0] == self.live.key:
            return
        key, node = target
        styles = [c for c in self.settings.chosen if c.weight > 0]
        if check_styles("fast", styles) is not None:
            self.live.skip(key)  # nothing to preview; Apply says why
            return
        try:
            picture = self.thumbnail(node, PREVIEW_SIDE)
            content = picture.fmt.describe(1, picture.width, picture.height)
            document = self.app.activeDocument()
            region = Rect.of(node.bounds()).intersected(canvas_rect(document))
            maps = {i: read_map(c.where, region) for i, c in enumerate(styles) if c.where}
            spec, style_frames = build_job(
                self.settings, styles, content, {}, preview=False, maps=maps
            )
        except (ImpastoError, UnsupportedColorSpace, NothingToStylise, OSError) as exc:
            log.info("no live preview: %s", exc)
            self.live.skip(key)
            return
        frames = [picture.data, *style_frames]
        # the one in flight is cancelled: the daemon drops it if it has not started
        if self.live.show(key, spec.to_wire(), frames):
            self.live_jobs_sent += 1

    def _follow_live(self) -> None:
        shown = self.live.poll() if self.live is not None else None
        if isinstance(shown, Shown):
            self.preview = (shown.width, shown.height, shown.data)
            self.preview_seconds = shown.seconds
            self.changed()
        elif isinstance(shown, ImpastoError):
            self._say(f"Preview: {shown.message}")

"""Which pixels a stylisation reads and writes: the layer, clipped to the canvas and selection."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


class NothingToStylise(ValueError):
    """The region to stylise is empty (empty layer, or a selection that misses it)."""


@dataclass(frozen=True)
class Rect:
    """A pixel rectangle in document coordinates."""

    x: int
    y: int
    width: int
    height: int

    @classmethod
    def of(cls, qrect_like: Any) -> Rect:
        """From anything with x(), y(), width() and height() (QRect, krita.Selection)."""
        return cls(qrect_like.x(), qrect_like.y(), qrect_like.width(), qrect_like.height())

    @property
    def empty(self) -> bool:
        return self.width <= 0 or self.height <= 0

    @property
    def pixels(self) -> int:
        return 0 if self.empty else self.width * self.height

    def intersected(self, other: Rect) -> Rect:
        """The overlap of two rectangles (empty, with zero size, when they do not meet)."""
        x0, y0 = max(self.x, other.x), max(self.y, other.y)
        x1 = min(self.x + self.width, other.x + other.width)
        y1 = min(self.y + self.height, other.y + other.height)
        return Rect(x0, y0, max(0, x1 - x0), max(0, y1 - y0))


def stylise_region(layer: Rect, canvas: Rect, selection: Rect | None) -> Rect:
    """The rectangle to send: the layer's content on the canvas, within the selection's bounds."""
    region = layer.intersected(canvas)
    if region.empty:
        raise NothingToStylise("The layer has nothing on the canvas to stylise.")
    if selection is not None:
        if selection.empty:
            raise NothingToStylise("The selection is empty; select an area or deselect all.")
        region = region.intersected(selection)
        if region.empty:
            raise NothingToStylise(
                "The selection does not touch the layer's content; move it or deselect all."
            )
    return region

"""Tiles: cover an image with overlapping crops whose inner parts tile it exactly.

Every crop is read with `margin` pixels of real context on each side (clamped at the image's
edges) and contributes only its inner part, so a network whose receptive field is within the
margin computes each inner pixel exactly as it would on the whole image. Origins are multiples
of `align` so strided layers see the same sampling grid in every tile.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Tile:
    y0: int  # the crop read (with context)
    y1: int
    x0: int
    x1: int
    iy0: int  # the inner part it writes, in image coordinates
    iy1: int
    ix0: int
    ix1: int

    @property
    def inner_in_crop(self) -> tuple[slice, slice]:
        """Slices of the crop's output that belong to the inner part."""
        return (
            slice(self.iy0 - self.y0, self.iy1 - self.y0),
            slice(self.ix0 - self.x0, self.ix1 - self.x0),
        )


def tile_grid(height: int, width: int, tile: int, margin: int, align: int = 1) -> list[Tile]:
    """Row-major tiles with inner parts of at most `tile`×`tile` px covering height×width."""
    if tile < align or margin % align:
        raise ValueError("tile must be at least `align` and margin a multiple of it")
    step = tile // align * align
    out = []
    for iy0 in range(0, height, step):
        iy1 = min(height, iy0 + step)
        for ix0 in range(0, width, step):
            ix1 = min(width, ix0 + step)
            out.append(
                Tile(
                    max(0, iy0 - margin),
                    min(height, iy1 + margin),
                    max(0, ix0 - margin),
                    min(width, ix1 + margin),
                    iy0,
                    iy1,
                    ix0,
                    ix1,
                )
            )
    return out


def tile_side(max_pixels: int, margin: int, align: int = 1, minimum: int = 64) -> int:
    """The largest inner tile side whose crop, margins included, fits `max_pixels`."""
    side = int(math.isqrt(max(0, max_pixels))) - 2 * margin
    return max(minimum, side // align * align)

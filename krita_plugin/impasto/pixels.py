"""Krita pixel layouts as protocol pixel formats.

Krita's `Node.pixelData()` hands out tightly packed, little-endian pixels in the layer's own
colour space: integer RGBA depths as BGRA, float depths as RGBA (docs/protocol.md §2). The
daemon answers in the same layout, so the plugin only describes the bytes and writes back what
it receives. Pure Python (no Qt, no Krita) so it runs in any editor Python and in tests.
"""

from __future__ import annotations

from shared.protocol import PixelFormat

# Krita colour depth id → the layout pixelData() uses for it.
DEPTHS = {
    "U8": PixelFormat("u8", "BGRA"),
    "U16": PixelFormat("u16", "BGRA"),
    "F16": PixelFormat("f16", "RGBA"),
    "F32": PixelFormat("f32", "RGBA"),
}
MODEL_NAMES = {
    "RGBA": "RGB",
    "CMYKA": "CMYK",
    "LABA": "L*a*b*",
    "GRAYA": "greyscale",
    "XYZA": "XYZ",
    "YCbCrA": "YCbCr",
}


class UnsupportedColorSpace(ValueError):
    """The layer's colour model or depth is not one the daemon can stylise."""


def pixel_format(color_model: str, color_depth: str) -> PixelFormat:
    """The layout of a Krita colour space; raises UnsupportedColorSpace for non-RGBA ones."""
    if color_model != "RGBA":
        name = MODEL_NAMES.get(color_model, color_model)
        raise UnsupportedColorSpace(
            f"Impasto works on RGB layers; this one is {name}. Convert the image or layer to RGB "
            f"(Image ▸ Convert Image Color Space…) and apply again."
        )
    if color_depth not in DEPTHS:
        raise UnsupportedColorSpace(
            f"Impasto does not handle {color_depth} RGB layers; use 8, 16 or 32 bit."
        )
    return DEPTHS[color_depth]

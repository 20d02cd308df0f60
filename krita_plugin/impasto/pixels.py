"""Krita pixel layouts as protocol descriptors, and the alpha masking a selection needs.

Krita's `Node.pixelData()` hands out tightly packed, little-endian pixels in the layer's own
colour space: integer RGBA depths as BGRA, float depths as RGBA (docs/protocol.md §2). The
daemon answers in the same layout, so the plugin only describes the bytes and writes back what
it receives. Pure Python (no Qt, no Krita) so it runs in any editor Python and in tests.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from shared.protocol import SAMPLE_BYTES, ImageDesc

# Krita colour depth id → protocol sample type, and the channel order pixelData() uses for it.
DEPTHS = {
    "U8": ("u8", "BGRA"),
    "U16": ("u16", "BGRA"),
    "F16": ("f16", "RGBA"),
    "F32": ("f32", "RGBA"),
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


@dataclass(frozen=True)
class PixelFormat:
    """How one Krita colour space lays out its pixels."""

    dtype: str
    order: str

    @property
    def pixel_bytes(self) -> int:
        return 4 * SAMPLE_BYTES[self.dtype]

    def describe(self, frame: int, width: int, height: int) -> ImageDesc:
        """The descriptor for a tightly packed `width`×`height` buffer in buffer frame `frame`."""
        return ImageDesc(
            frame=frame,
            width=width,
            height=height,
            channels=4,
            dtype=self.dtype,
            order=self.order,
            stride=width * self.pixel_bytes,
        )


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
    return PixelFormat(*DEPTHS[color_depth])


def mask_alpha(data: bytes, fmt: PixelFormat, mask: bytes) -> bytes:
    """Multiply each pixel's alpha by an 8-bit selection mask (255 keeps it, 0 clears it).

    `data` is tightly packed pixels in `fmt`, one mask byte per pixel. Colour is left as it is, so
    a feathered edge keeps its colour and fades out; alpha is always channel 3 (BGRA and RGBA).
    """
    pixels = len(data) // fmt.pixel_bytes
    if len(mask) != pixels:
        raise ValueError(f"mask has {len(mask)} values for {pixels} pixels")
    if mask.count(255) == pixels:
        return bytes(data)
    size = SAMPLE_BYTES[fmt.dtype]
    code = {"u8": "B", "u16": "H", "f16": "e", "f32": "f"}[fmt.dtype]
    out = bytearray(data)
    # Gather the alpha samples' bytes (channel 3 of every pixel), scale them, scatter them back.
    raw = bytearray(size * pixels)
    for byte in range(size):
        raw[byte::size] = out[3 * size + byte :: 4 * size]
    alpha = struct.unpack(f"<{pixels}{code}", raw)
    if code in "ef":
        scaled = [a * m / 255.0 for a, m in zip(alpha, mask, strict=True)]
    else:  # rounded integer product
        scaled = [(a * m + 127) // 255 for a, m in zip(alpha, mask, strict=True)]
    raw = struct.pack(f"<{pixels}{code}", *scaled)
    for byte in range(size):
        out[3 * size + byte :: 4 * size] = raw[byte::size]
    return bytes(out)

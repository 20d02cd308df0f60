"""Krita pixel layouts → protocol descriptors."""

from __future__ import annotations

import pytest

from krita_plugin.impasto.pixels import UnsupportedColorSpace, pixel_format


@pytest.mark.parametrize(
    ("depth", "dtype", "order", "pixel_bytes"),
    [
        ("U8", "u8", "BGRA", 4),
        ("U16", "u16", "BGRA", 8),
        ("F16", "f16", "RGBA", 8),
        ("F32", "f32", "RGBA", 16),
    ],
)
def test_rgba_depths_map_to_krita_channel_orders(depth, dtype, order, pixel_bytes):
    fmt = pixel_format("RGBA", depth)
    assert (fmt.dtype, fmt.order, fmt.pixel_bytes) == (dtype, order, pixel_bytes)
    desc = fmt.describe(1, 7, 3)
    assert (desc.channels, desc.dtype, desc.order) == (4, dtype, order)
    assert desc.stride == 7 * pixel_bytes  # pixelData() rows are tight


@pytest.mark.parametrize(
    ("model", "word"), [("CMYKA", "CMYK"), ("LABA", "L*a*b*"), ("GRAYA", "greyscale")]
)
def test_non_rgb_layers_get_a_message_that_says_what_to_do(model, word):
    with pytest.raises(UnsupportedColorSpace, match=word) as err:
        pixel_format(model, "U8")
    assert "Convert" in str(err.value)

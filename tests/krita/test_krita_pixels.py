"""Krita pixel layouts → protocol descriptors, and selection masks applied to alpha."""

from __future__ import annotations

import numpy as np
import pytest

from krita_plugin.impasto.pixels import UnsupportedColorSpace, mask_alpha, pixel_format

NP = {"u8": np.uint8, "u16": np.uint16, "f16": np.float16, "f32": np.float32}


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


@pytest.mark.parametrize("dtype", ["u8", "u16", "f16", "f32"])
def test_mask_scales_alpha_only(dtype):
    fmt = pixel_format("RGBA", {"u8": "U8", "u16": "U16", "f16": "F16", "f32": "F32"}[dtype])
    top = 1.0 if dtype.startswith("f") else np.iinfo(NP[dtype]).max
    rng = np.random.default_rng(0)
    pixels = (rng.random((5, 4)) * top).astype(NP[dtype])
    pixels[:, 3] = NP[dtype](top)  # opaque
    pixels[4, 3] = NP[dtype](top / 2)  # one half-transparent pixel
    mask = bytes([255, 0, 128, 255, 255])
    out = np.frombuffer(mask_alpha(pixels.tobytes(), fmt, mask), NP[dtype]).reshape(5, 4)
    np.testing.assert_array_equal(out[:, :3], pixels[:, :3])  # colour untouched
    expect = pixels[:, 3].astype(np.float64) * np.frombuffer(mask, np.uint8) / 255
    tolerance = 0.51 if dtype in ("u8", "u16") else 2e-3
    np.testing.assert_allclose(
        out[:, 3].astype(np.float64),
        expect,
        atol=tolerance * (1 if dtype in ("u8", "u16") else top),
    )
    assert out[1, 3] == 0 and out[0, 3] == pixels[0, 3]


def test_full_mask_returns_the_bytes_unchanged_and_bad_sizes_are_refused():
    fmt = pixel_format("RGBA", "U8")
    data = bytes(range(16))
    assert mask_alpha(data, fmt, b"\xff" * 4) == data
    with pytest.raises(ValueError):
        mask_alpha(data, fmt, b"\xff" * 3)

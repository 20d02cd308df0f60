import numpy as np
import pytest
import torch

from daemon.io import pixels
from shared.protocol import ImageDesc

FORMATS = [(d, o) for d in ("u8", "u16", "f16", "f32") for o in ("RGBA", "BGRA")]


def random_image(dtype: str, h: int, w: int, c: int, rng: np.random.Generator) -> np.ndarray:
    if dtype in ("u8", "u16"):
        top = 255 if dtype == "u8" else 65535
        return rng.integers(0, top + 1, (h, w, c)).astype(pixels.NUMPY_DTYPES[dtype])
    # float documents may hold values outside 0..1 (HDR): they must survive untouched too
    return rng.uniform(-0.5, 2.0, (h, w, c)).astype(pixels.NUMPY_DTYPES[dtype])


@pytest.mark.parametrize("dtype, order", FORMATS)
@pytest.mark.parametrize("channels", [3, 4])
def test_decode_encode_returns_the_input_bytes(dtype, order, channels):
    arr = random_image(dtype, 5, 7, channels, np.random.default_rng(0))
    desc = ImageDesc(1, 7, 5, channels, dtype, order, 0)
    decoded = pixels.decode(desc, arr.tobytes())
    wire, data = pixels.encode(decoded.rgb, decoded)
    assert data == arr.tobytes()
    assert (wire.dtype, wire.order, wire.channels) == (dtype, order, channels)


def test_bgra_is_read_as_rgb_in_the_right_order():
    bgra = np.array([[[10, 20, 30, 40]]], np.uint8)  # B=10 G=20 R=30
    decoded = pixels.decode(ImageDesc(1, 1, 1, 4, "u8", "BGRA", 0), bgra.tobytes())
    assert decoded.rgb.flatten().tolist() == pytest.approx([30 / 255, 20 / 255, 10 / 255])
    assert decoded.alpha.tolist() == [[40]]


def test_padded_rows_are_read_through_the_stride_and_written_tight():
    rng = np.random.default_rng(1)
    tight = rng.integers(0, 65536, (3, 5, 4)).astype("<u2")
    padded = np.zeros((3, 48), np.uint8)
    padded[:, :40] = tight.view(np.uint8).reshape(3, 40)
    desc = ImageDesc(1, 5, 3, 4, "u16", "RGBA", 48)
    decoded = pixels.decode(desc, padded.tobytes())
    _, data = pixels.encode(decoded.rgb, decoded)
    assert data == tight.tobytes()


def test_alpha_is_copied_not_recomputed():
    arr = np.zeros((2, 2, 4), np.uint8)
    arr[..., 3] = [[0, 1], [254, 255]]
    decoded = pixels.decode(ImageDesc(1, 2, 2, 4, "u8", "RGBA", 0), arr.tobytes())
    _, data = pixels.encode(torch.ones(1, 3, 2, 2), decoded)
    out = np.frombuffer(data, np.uint8).reshape(2, 2, 4)
    assert out[..., 3].tolist() == [[0, 1], [254, 255]]
    assert (out[..., :3] == 255).all()


def test_integer_output_is_clamped_float_output_is_not():
    for dtype, expect in (("u8", 255), ("f32", 1.5)):
        arr = np.zeros((1, 1, 3), pixels.NUMPY_DTYPES[dtype])
        decoded = pixels.decode(ImageDesc(1, 1, 1, 3, dtype, "RGBA", 0), arr.tobytes())
        _, data = pixels.encode(torch.full((1, 3, 1, 1), 1.5), decoded)
        assert np.frombuffer(data, pixels.NUMPY_DTYPES[dtype])[0] == expect

import numpy as np
import pytest
from PIL import Image

from daemon.io.images import read_image, write_image
from shared.errors import BadImage, BadRequest


@pytest.mark.parametrize("suffix", [".png", ".tif"])
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
@pytest.mark.parametrize("channels", [3, 4])
def test_png_and_tiff_keep_every_bit_and_the_alpha(tmp_path, suffix, dtype, channels):
    arr = (
        np.random.default_rng(0)
        .integers(0, np.iinfo(dtype).max + 1, (6, 9, channels))
        .astype(dtype)
    )
    write_image(tmp_path / f"x{suffix}", arr)
    back = read_image(tmp_path / f"x{suffix}")
    assert back.dtype == dtype and np.array_equal(back, arr)


def test_jpeg_is_written_as_8bit_rgb(tmp_path):
    arr = np.full((4, 4, 4), 65535, np.uint16)
    write_image(tmp_path / "x.jpg", arr)
    back = read_image(tmp_path / "x.jpg")
    assert back.dtype == np.uint8 and back.shape == (4, 4, 3) and back.min() >= 250


def test_grey_and_palette_images_become_rgb(tmp_path):
    grey = (np.arange(16, dtype=np.uint8) * 16).reshape(4, 4)
    Image.fromarray(grey).save(tmp_path / "g.png")
    Image.fromarray(grey).convert("P").save(tmp_path / "p.png")
    for name in ("g.png", "p.png"):
        back = read_image(tmp_path / name)
        assert back.shape == (4, 4, 3) and np.array_equal(back[..., 0], back[..., 2])


def test_unreadable_and_missing_files_raise_bad_image(tmp_path):
    (tmp_path / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    for path in (tmp_path / "bad.png", tmp_path / "missing.png"):
        with pytest.raises(BadImage):
            read_image(path)
    with pytest.raises(BadRequest):
        write_image(tmp_path / "x.gif", np.zeros((2, 2, 3), np.uint8))

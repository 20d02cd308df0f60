"""The 100% view's measures (bench/view_measures.py) on synthetic pictures whose answer is known."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image, ImageDraw

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

from view_measures import CROP, FineMeter, fringe, grid_crops, grid_origins  # noqa: E402


def grey_texture(h: int = 160, w: int = 200, seed: int = 0) -> torch.Tensor:
    """Luminance detail only: R = G = B, fine noise over a smooth ramp."""
    g = torch.Generator().manual_seed(seed)
    ramp = torch.linspace(0.2, 0.8, w).expand(h, w)
    lum = (ramp + 0.15 * torch.rand(h, w, generator=g)).clamp(0, 1)
    return lum.expand(1, 3, h, w).clone()


def rainbow_dither(h: int, w: int, amplitude: float, seed: int = 1) -> torch.Tensor:
    """Per-pixel colour noise with no luminance of its own (Y = 0): pure chroma speckle."""
    g = torch.Generator().manual_seed(seed)
    noise = torch.randn(1, 3, h, w, generator=g)
    y = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)
    noise -= (noise * y).sum(1, keepdim=True)  # each channel minus the pixel's luminance
    return amplitude * noise


def test_fringe_of_a_grey_picture_is_zero():
    assert fringe(grey_texture()) == pytest.approx(0.0, abs=1e-9)


def test_rainbow_dither_pushes_fringe_up():
    x = grey_texture()
    dithered = (x + rainbow_dither(*x.shape[-2:], amplitude=0.05)).clamp(0, 1)
    assert fringe(dithered) > 0.5
    assert fringe(dithered) > 10 * fringe((x + rainbow_dither(*x.shape[-2:], 0.005)).clamp(0, 1))


def test_smooth_colour_does_not_count_as_fringe():
    x = grey_texture()
    h, w = x.shape[-2:]
    tint = torch.stack(
        [
            torch.linspace(0.1, -0.1, w).expand(h, w),
            torch.zeros(h, w),
            torch.linspace(-0.1, 0.1, w).expand(h, w),
        ]
    )[None]
    tinted = (x + tint).clamp(0, 1)
    assert fringe(tinted) < 0.01
    assert fringe(tinted) < 0.02 * fringe((x + rainbow_dither(h, w, 0.05)).clamp(0, 1))


def test_colour_noise_in_the_outer_pixels_is_left_out():
    x = grey_texture()
    edge = torch.zeros_like(x, dtype=torch.bool)
    edge[..., :2, :] = edge[..., -2:, :] = edge[..., :, :2] = edge[..., :, -2:] = True
    noisy = torch.where(edge, (x + rainbow_dither(*x.shape[-2:], 0.2)).clamp(0, 1), x)
    assert fringe(noisy) == pytest.approx(0.0, abs=1e-9)
    assert fringe(noisy, border=0) > 0.01


def test_the_grid_is_three_along_the_long_side_and_two_along_the_short():
    x = torch.arange(600 * 900, dtype=torch.float32).view(1, 1, 600, 900).expand(1, 3, -1, -1)
    crops = grid_crops(x)
    assert crops.shape == (6, 3, CROP, CROP)
    xs, ys = grid_origins(900, 3), grid_origins(600, 2)
    assert xs == [22, 322, 622] and ys == [22, 322]  # centred at 1/6, 1/2, 5/6 and 1/4, 3/4
    assert torch.equal(crops[4], x[0, :, 322 : 322 + CROP, 322 : 322 + CROP])
    portrait = grid_crops(x.transpose(-1, -2))
    assert portrait.shape == (6, 3, CROP, CROP)
    assert torch.equal(portrait[1], x.transpose(-1, -2)[0, :, 22 : 22 + CROP, 322 : 322 + CROP])


def test_crops_stay_inside_a_small_picture():
    x = torch.rand(1, 3, 200, 300)
    crops = grid_crops(x)
    assert crops.shape == (6, 3, 200, 200)  # the short side when smaller than a crop
    assert grid_origins(300, 3, 200) == [0, 50, 100]


def strokes(w: int, h: int, seed: int) -> torch.Tensor:
    """A canvas of short, thick, randomly turned brush strokes in a few colours."""
    rng = np.random.default_rng(seed)
    img = Image.new("RGB", (w, h), (200, 180, 140))
    draw = ImageDraw.Draw(img)
    palette = [(30, 60, 140), (230, 200, 60), (40, 120, 70), (240, 240, 220), (120, 40, 30)]
    for _ in range(w * h // 40):
        x, y = rng.uniform(0, w), rng.uniform(0, h)
        angle, length = rng.uniform(0, np.pi), rng.uniform(8, 16)
        dx, dy = np.cos(angle) * length / 2, np.sin(angle) * length / 2
        colour = palette[rng.integers(len(palette))]
        draw.line([(x - dx, y - dy), (x + dx, y + dy)], fill=colour, width=3)
    return torch.from_numpy(np.asarray(img).copy()).permute(2, 0, 1)[None].float() / 255


def soft_photo(w: int, h: int) -> torch.Tensor:
    """Smooth gradients and a few soft shapes: a photo's large-scale look, no brush texture."""
    yy, xx = torch.meshgrid(torch.linspace(0, 1, h), torch.linspace(0, 1, w), indexing="ij")
    r = 0.5 + 0.4 * torch.sin(3 * xx + 1)
    g = 0.5 + 0.3 * torch.cos(4 * yy)
    b = 0.3 + 0.6 * ((xx - 0.6) ** 2 + (yy - 0.4) ** 2 < 0.05).float()
    return torch.stack([r, g, b])[None].clamp(0, 1)


@pytest.fixture(scope="module")
def meter() -> FineMeter:
    return FineMeter()


def test_fine_gain_of_the_photo_itself_is_one(meter):
    photo = soft_photo(768, 512)
    painting = meter.grams(strokes(512, 384, seed=0))
    g = meter.grams(photo)
    assert meter.gain(g, g, painting) == pytest.approx(1.0)


def test_paint_at_100_percent_scores_high_and_an_enlarged_copy_low(meter):
    painting = meter.grams(strokes(512, 384, seed=0))
    photo = meter.grams(soft_photo(768, 512))
    native = strokes(768, 512, seed=1)  # the painting's texture at its own scale
    enlarged = F.interpolate(strokes(192, 128, seed=1), scale_factor=4, mode="bicubic")
    gain_native = meter.gain(photo, meter.grams(native), painting)
    gain_enlarged = meter.gain(photo, meter.grams(enlarged.clamp(0, 1)), painting)
    assert gain_native > 4.0
    assert gain_native > 2 * gain_enlarged

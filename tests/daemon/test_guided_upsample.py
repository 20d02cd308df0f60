"""Guided upsampling: the photo's edges at full sharpness, the painted texture kept."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from daemon.imaging.guided_upsample import guided_upsample, raise_slope
from daemon.optim.losses import resize_long_side


@pytest.mark.parametrize("floor", [0.0, 0.4])
def test_a_result_that_follows_the_photo_gets_its_edges_at_full_sharpness(floor):
    photo = torch.full((1, 3, 256, 256), 0.2)
    photo[..., 97:] = 0.8  # a hard vertical edge, not on the 4x grid
    small = resize_long_side(photo, 64)
    result = 1 - small  # the "stylised" result: the photo inverted (a detail floor keeps that)
    out = guided_upsample(result, small, photo, detail_floor=floor)
    bicubic = F.interpolate(result, size=(256, 256), mode="bicubic").clamp(0, 1)
    expect = 1 - photo
    assert (out - expect).abs().mean() < 0.5 * (bicubic - expect).abs().mean()
    row = out[0, 0, 128]
    assert (row[:94] - 0.8).abs().max() < 0.05 and (row[100:] - 0.2).abs().max() < 0.05


def test_texture_with_no_counterpart_in_the_photo_is_upsampled_as_it_is():
    gen = torch.Generator().manual_seed(0)
    photo = torch.full((1, 3, 200, 300), 0.5)
    small = resize_long_side(photo, 75)
    texture = torch.rand(1, 3, *small.shape[-2:], generator=gen)
    out = guided_upsample(texture, small, photo)
    bicubic = F.interpolate(texture, size=(200, 300), mode="bicubic").clamp(0, 1)
    torch.testing.assert_close(out, bicubic, rtol=0, atol=1e-5)


def test_a_detail_floor_gives_every_channel_that_share_of_the_photos_fine_detail():
    gen = torch.Generator().manual_seed(1)
    photo = (0.5 + 0.2 * (torch.rand(1, 1, 160, 240, generator=gen) - 0.5)).expand(1, 3, -1, -1)
    small = resize_long_side(photo, 60)
    flat = torch.full((1, 3, *small.shape[-2:]), 0.5)  # a result with nothing of the photo
    detail = photo[:, :1] - F.interpolate(small[:, :1], size=(160, 240), mode="bicubic")
    torch.testing.assert_close(guided_upsample(flat, small, photo), torch.full_like(photo, 0.5))
    out = guided_upsample(flat, small, photo, detail_floor=0.3)
    torch.testing.assert_close(out, (0.5 + 0.3 * detail).expand_as(out), rtol=0, atol=1e-4)


def test_raising_slopes_is_continuous_and_keeps_strong_ones_of_either_sign():
    a = torch.linspace(-1, 1, 2001)
    raised = raise_slope(a, 0.4)
    assert torch.equal(raised[a >= 0.4], a[a >= 0.4]) and torch.equal(
        raised[a <= -0.4], a[a <= -0.4]
    )
    assert (raised[(a >= 0) & (a < 0.4)] == 0.4).all()
    assert (raised.diff() >= 0).all() and raised.diff().abs().max() <= 2 * a.diff().max() + 1e-6

"""The photorealism measures of bench/photo_measures.py on pictures whose answer is known."""

from __future__ import annotations

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
from photo_measures import global_transfer, ssim_luma, swd_lab  # noqa: E402


def test_a_picture_is_its_own_best_match_and_noise_is_not():
    gen = torch.Generator().manual_seed(0)
    ramp = torch.linspace(0.1, 0.9, 96)
    x = torch.stack([ramp.expand(64, 96), ramp.flip(0).expand(64, 96), torch.full((64, 96), 0.5)])
    x = x.unsqueeze(0)
    assert abs(ssim_luma(x, x) - 1) < 1e-9 and swd_lab(x, x) < 1e-9
    noisy = (x + 0.2 * torch.randn(x.shape, generator=gen)).clamp(0, 1)
    assert ssim_luma(noisy, x) < 0.8 and swd_lab(noisy, x) > 1


def test_the_global_transfer_matches_the_references_mean_colour():
    photo = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(1)) * 0.5
    reference = torch.zeros(1, 3, 64, 64)
    reference[:, 0] = torch.linspace(0.5, 1, 64)
    moved = global_transfer(photo, reference)
    assert swd_lab(moved, reference) < 0.3 * swd_lab(photo, reference)

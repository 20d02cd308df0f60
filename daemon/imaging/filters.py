"""The Gaussian blur the imaging stages share (the 100% view's band and lattice filter, fast
mode's colour dither removal)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def gaussian_radius(sigma: float) -> int:
    """The blur's reach in px on each side: 3σ, at least 1."""
    return max(1, math.ceil(3 * sigma))


def gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """`x` [N,C,H,W] blurred by a Gaussian of σ px (truncated at 3σ, edges reflected)."""
    r = gaussian_radius(sigma)
    t = torch.arange(-r, r + 1, dtype=torch.float32, device=x.device)
    k = torch.exp(-(t**2) / (2 * sigma**2))
    k = k.to(x.dtype)
    c = x.shape[1]
    ry, rx = min(r, x.shape[-2] - 1), min(r, x.shape[-1] - 1)  # reflection needs the room
    kx, ky = k[r - rx : r + rx + 1], k[r - ry : r + ry + 1]
    y = F.pad(x, (rx, rx, 0, 0), mode="reflect") if rx else x
    y = F.conv2d(y, (kx / kx.sum()).view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
    y = F.pad(y, (0, 0, ry, ry), mode="reflect") if ry else y
    return F.conv2d(y, (ky / ky.sum()).view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)

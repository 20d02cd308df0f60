"""The photorealism measures of ../shared/guides/engines.md ("Photorealism"): bench/photoreal.py.

- structure: SSIM of the output's luminance (BT.601 Y) to the photo's, Gaussian window σ 1.5,
  the standard constants (K1 0.01, K2 0.03, range 1), mean over the picture.
- look: the sliced Wasserstein distance between two pictures' Lab pixel distributions, both at
  256 px (long side), along 128 fixed random unit directions: the mean absolute difference of
  256 quantiles of the projections, averaged over the directions.
- `global_transfer`: the colour transfer tools do (the photo's Lab mean and covariance matched
  to the reference's): the peer the look is compared with.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from daemon.imaging.filters import gaussian_blur
from daemon.imaging.lab import lab_to_rgb, rgb_to_lab
from daemon.optim.losses import resize_long_side

SWD_SIDE = 256
SWD_DIRECTIONS = 128
SWD_QUANTILES = 256
_Y = torch.tensor([0.299, 0.587, 0.114])


def _luma(x: torch.Tensor) -> torch.Tensor:
    return torch.einsum("c,nchw->nhw", _Y, x.float()).unsqueeze(1)


def ssim_luma(out: torch.Tensor, photo: torch.Tensor) -> float:
    """Mean SSIM of the two pictures' luminance (same size, RGB 0..1 [1,3,H,W])."""
    x, y = _luma(out).double(), _luma(photo).double()
    c1, c2 = 0.01**2, 0.03**2
    mx, my = gaussian_blur(x, 1.5), gaussian_blur(y, 1.5)
    vx = gaussian_blur(x * x, 1.5) - mx * mx
    vy = gaussian_blur(y * y, 1.5) - my * my
    cxy = gaussian_blur(x * y, 1.5) - mx * my
    s = ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))
    return float(s.mean())


_DIRECTIONS = F.normalize(
    torch.randn(SWD_DIRECTIONS, 3, generator=torch.Generator().manual_seed(0)), dim=1
)


def swd_lab(a: torch.Tensor, b: torch.Tensor) -> float:
    """Sliced Wasserstein distance between the Lab pixel distributions of two pictures."""
    qs = torch.linspace(0, 1, SWD_QUANTILES, dtype=torch.float64)

    def quantiles(x: torch.Tensor) -> torch.Tensor:
        lab = rgb_to_lab(resize_long_side(x.float(), SWD_SIDE).clamp(0, 1))
        proj = lab.flatten(2)[0].T.double() @ _DIRECTIONS.double().T  # [n,D]
        return torch.quantile(proj, qs, dim=0)

    return float((quantiles(a) - quantiles(b)).abs().mean())


def global_transfer(photo: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """The photo with the reference's Lab mean and covariance."""
    from daemon.imaging.color import match_color

    lab = rgb_to_lab(photo.float())
    ref = rgb_to_lab(resize_long_side(reference.float(), 512))
    scale = torch.tensor([100.0, 255.0, 255.0]).view(1, 3, 1, 1)
    offset = torch.tensor([0.0, 128.0, 128.0]).view(1, 3, 1, 1)
    moved = match_color((lab + offset) / scale, (ref + offset) / scale)
    return lab_to_rgb(moved * scale - offset).clamp(0, 1)

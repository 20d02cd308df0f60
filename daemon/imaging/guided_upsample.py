"""Guided upsampling: a result made at a smaller working size, brought to the photo's full size
with edges as sharp as the photo's and the painted texture kept.

At the working size every channel of the result is fitted, in small windows, as a linear function
of the photo's luminance, `q ≈ a·I + b` (the guided filter's local model, He et al. 2010; applied
across scales as in the fast guided filter, He & Sun 2015). The full-size result is the
upsampling of the result (`upscale`: the pipeline passes the job's upscaler, daemon.imaging.upscale
— Lanczos unless the job says otherwise; bicubic when none is given) plus
the photo's own fine detail scaled by the smoothed slope (`up`: bicubic):

    out = upscale(q) + up(a) · (I_full − up(I_small))

Where the result follows the photo's edges (|a| large) they come back at full resolution; in
painted texture with no counterpart in the photo `a` is ~0 and the texture is upsampled as it is
(the plain guided filter, `up(a)·I_full + up(b)`, would blur it: measured, and it did).

`detail_floor` raises `up(a)` to at least that value (`raise_slope`: slopes at or below minus the
floor, where a channel follows the photo inverted, are kept): every channel then gets at least that
share of the photo's fine detail, also where the result no longer follows the photo. Hires uses it
(daemon.engines.hires.DETAIL_FLOOR has the figures): its refinement smooths thin structures away, so
`a` is small almost everywhere and its 4K result, enlarged from a 960 px level, had edges at 0.81 of
the photo's sharpness (bench/hires.py's edge index). Fast mode's result follows the photo closely
enough without it (1.06 at 4K from its 384 px working side) and passes 0. Memory at full size: the
output, the luminance detail and one channel's maps at a time.

This enlarges: texture finer than the working size's pixels is not made here. Where the result is
enlarged more than 1.5x, the pipeline then adds the fast network's full-size texture
(daemon.imaging.texture), after smoothing the result's colour at the working size.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from daemon.imaging.color import luminance

RADIUS = 2  # window radius at the working size, in pixels
EPS = 1e-3  # regularisation: larger flattens `a` (fewer photo details), smaller copies more


def _box(x: torch.Tensor, r: int) -> torch.Tensor:
    """Mean over (2r+1)² windows, the borders reflected."""
    return F.avg_pool2d(F.pad(x, (r, r, r, r), mode="replicate"), 2 * r + 1, stride=1)


def guided_upsample(
    result: torch.Tensor,
    photo_small: torch.Tensor,
    photo_full: torch.Tensor,
    radius: int = RADIUS,
    eps: float = EPS,
    upscale: Callable[[torch.Tensor, tuple[int, int]], torch.Tensor] | None = None,
    detail_floor: float = 0.0,
) -> torch.Tensor:
    """`result` [1,C,h,w] (made from `photo_small` [1,3,h,w]) at the size of `photo_full`;
    `upscale` (RGB [1,3,h,w], size) → [1,3,H,W] enlarges the result itself; `detail_floor`: the
    least share of the photo's fine detail each channel gets (module doc)."""
    h, w = photo_full.shape[-2:]
    guide = luminance(photo_small.float())
    r = max(1, min(radius, (min(guide.shape[-2:]) - 1) // 2))
    mean_i = _box(guide, r)
    var_i = _box(guide * guide, r) - mean_i * mean_i
    detail = luminance(photo_full.float()).sub_(_up(guide, (h, w)))
    if upscale is not None and result.shape[1] == 3:
        out = upscale(result.float(), (h, w))
    else:
        out = _up(result.float(), (h, w))
    for c in range(result.shape[1]):
        p = result[:, c : c + 1].float()
        a = (_box(guide * p, r) - mean_i * _box(p, r)) / (var_i + eps)
        slope = _up(_box(a, r), (h, w))
        if detail_floor > 0:
            slope = raise_slope(slope, detail_floor)
        out[:, c : c + 1].add_(slope.mul_(detail))
    return out.clamp_(0, 1)


def raise_slope(a: torch.Tensor, floor: float) -> torch.Tensor:
    """Slopes below `floor` raised to it, continuously and keeping the order: `a` where
    a >= floor or a <= −floor (a channel that follows the photo, or follows it inverted, keeps
    its own edges), `floor` for 0 <= a < floor, and `floor + 2a` in between, from −floor up."""
    return torch.maximum(a, (floor + 2 * a).clamp(max=floor))


def _up(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    return F.interpolate(x, size=size, mode="bicubic", align_corners=False)

"""Upscalers for the hires engine's coarse-to-fine ladder and fast mode's final upscale, by name.

Each takes RGB 0..1 [1,3,h,w] and returns [1,3,H,W] clamped to 0..1 on the CPU. `learned` is the
shipped ×2 network (daemon.nets.upscale_net), in tiles, repeated for larger factors.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image


def lanczos(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Lanczos (a=3) per channel in float, through Pillow: sharper than bicubic, no ringing clip."""
    h, w = size
    out = torch.empty(1, x.shape[1], h, w)
    for i, c in enumerate(x[0].detach().float().cpu()):  # one plane at a time: memory at 8K
        plane = Image.fromarray(c.numpy()).resize((w, h), Image.Resampling.LANCZOS)
        out[0, i].numpy()[:] = np.asarray(plane)
    return out.clamp_(0, 1)


def bicubic(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    out = F.interpolate(x.detach().float().cpu(), size=size, mode="bicubic", align_corners=False)
    return out.clamp_(0, 1)


def learned(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    from daemon.nets import upscale_net

    return upscale_net.learned(x, size)


UPSCALERS: dict[str, Callable[[torch.Tensor, tuple[int, int]], torch.Tensor]] = {
    "lanczos": lanczos,
    "bicubic": bicubic,
    "learned": learned,
}

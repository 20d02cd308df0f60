"""The learned ×2 upscaler: a small ESPCN-class network that adds detail to bicubic upsampling.

    out = bicubic×2(x) + shuffle(conv(relu(conv(...relu(conv5x5(x))))))

Every convolution runs at the low resolution and a pixel shuffle makes the ×2 residual (Shi et
al. 2016), so the cost per output pixel is a quarter of a full-resolution network's. Predicting
the residual over bicubic keeps an untrained or weak network close to bicubic instead of wrong.

Files are safetensors + a JSON card (architecture, training command, data, licence, measured
PSNR), never pickles; `models/upscalers/x2.safetensors` is the shipped one (trained by
`impasto train-upscaler`, daemon.training.upscaler). Large pictures are processed in tiles with
an overlap wider than the network's reach, so memory is bounded by the tile and the result is
the same as one pass.
"""

from __future__ import annotations

import json
import math
import threading
from pathlib import Path

import impasto_models
import torch
import torch.nn.functional as F
from safetensors.torch import load_file
from torch import nn

from daemon.nets.model_files import card_path, write_model_files

SHIPPED = Path(impasto_models.__file__).resolve().parent / "upscalers" / "x2.safetensors"
TILE = 256  # low-resolution pixels per tile side
OVERLAP = 8  # low-resolution pixels of context on each side: more than the network's reach (7)


class UpscaleNet(nn.Module):
    """×2: a 5×5 feature conv, `depth` 3×3 convs of `width` channels (PReLU after each), a
    shuffled 3×3 output conv."""

    def __init__(self, width: int = 32, depth: int = 4):
        super().__init__()
        self.width, self.depth = width, depth
        layers: list[nn.Module] = [nn.Conv2d(3, width, 5, padding=2), nn.PReLU(width)]
        for _ in range(depth):
            layers += [nn.Conv2d(width, width, 3, padding=1), nn.PReLU(width)]
        layers += [nn.Conv2d(width, 3 * 4, 3, padding=1), nn.PixelShuffle(2)]
        self.body = nn.Sequential(*layers)
        # starts close to bicubic; PReLU rather than ReLU (as FSRCNN): with ReLU the hidden
        # units died within 5,000 steps here and the network stayed exactly bicubic
        nn.init.normal_(layers[-2].weight, std=1e-3)
        nn.init.zeros_(layers[-2].bias)

    @property
    def reach(self) -> int:
        """Low-resolution pixels on each side that influence an output pixel."""
        return 2 + self.depth + 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        base = F.interpolate(x, scale_factor=2, mode="bicubic", align_corners=False)
        return base + self.body(x)


def save_upscaler(path: Path, net: UpscaleNet, card: dict, extra: dict | None = None) -> None:
    """Weights (fp32, ~170 kB) and card, each written atomically."""
    tensors = {k: v.contiguous() for k, v in net.state_dict().items()}
    tensors.update(extra or {})
    arch = {"kind": "upscaler", "scale": 2, "width": net.width, "depth": net.depth}
    write_model_files(path, tensors, dict(card, architecture=arch))


def load_upscaler(path: Path) -> tuple[UpscaleNet, dict, dict]:
    """The network (fp32, CPU), its card, and any extra tensors (a checkpoint's optimiser)."""
    card = json.loads(card_path(path).read_text())
    arch = card["architecture"]
    if arch.get("kind") != "upscaler" or int(arch.get("scale", 0)) != 2:
        raise ValueError(f"{path.name} is not a ×2 upscaler")
    net = UpscaleNet(int(arch["width"]), int(arch["depth"]))
    tensors = load_file(str(path))
    own = set(net.state_dict())
    net.load_state_dict({k: v.float() for k, v in tensors.items() if k in own})
    extra = {k: v for k, v in tensors.items() if k not in own}
    return net, card, extra


_lock = threading.Lock()
_loaded: dict[str, UpscaleNet] = {}


def shipped_net() -> UpscaleNet:
    """The shipped upscaler, loaded once."""
    with _lock:
        if "x2" not in _loaded:
            net, _, _ = load_upscaler(SHIPPED)
            _loaded["x2"] = net.eval().requires_grad_(False)
        return _loaded["x2"]


@torch.no_grad()
def upscale_x2(net: UpscaleNet, x: torch.Tensor, tile: int = TILE) -> torch.Tensor:
    """`x` [1,3,h,w] at 2h×2w, in tiles of `tile`² low-resolution pixels plus OVERLAP context."""
    h, w = x.shape[-2:]
    x = x.float()
    if h <= tile and w <= tile:
        return net(x)
    out = torch.empty(1, 3, 2 * h, 2 * w)
    pad = max(OVERLAP, net.reach)
    for top in range(0, h, tile):
        for left in range(0, w, tile):
            t0, l0 = max(0, top - pad), max(0, left - pad)
            t1, l1 = min(h, top + tile + pad), min(w, left + tile + pad)
            part = net(x[..., t0:t1, l0:l1])
            bh, bw = min(tile, h - top), min(tile, w - left)
            dt, dl = 2 * (top - t0), 2 * (left - l0)
            out[..., 2 * top : 2 * (top + bh), 2 * left : 2 * (left + bw)] = part[
                ..., dt : dt + 2 * bh, dl : dl + 2 * bw
            ]
    return out


def learned(x: torch.Tensor, size: tuple[int, int], net: UpscaleNet | None = None) -> torch.Tensor:
    """`x` [1,3,h,w] 0..1 at `size`: ×2 steps until both sides reach it (to within 3.5%), then
    an antialiased bicubic resize to the exact size."""
    net = net or shipped_net()
    x = x.detach().float().cpu()
    ratio = max(size[0] / x.shape[-2], size[1] / x.shape[-1])
    # ×2 steps to reach the size, a few percent short allowed (the ladder rounds: 2730 → 5461 is
    # one step and a one-pixel resize, not two steps and a halving)
    steps = max(0, math.ceil(math.log2(ratio) - 0.05)) if ratio > 1 else 0
    for _ in range(steps):
        x = upscale_x2(net, x).clamp_(0, 1)
    if tuple(x.shape[-2:]) != tuple(size):
        x = F.interpolate(x, size=size, mode="bicubic", antialias=True, align_corners=False)
    return x.clamp_(0, 1)

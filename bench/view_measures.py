"""The benches' style measures: `StyleMeter` (Gram style distance at a long side: the style gain
of bench/fast_quality.py and bench/hires.py), and the 100% view's measures
(../shared/guides/engines.md, "The 100% view"): what a painter sees zoomed in on a large result.

- fine gain: the style gain of bench/fast_quality.py, but on native-resolution 256 px crops (a
  fixed 3x2 grid: three along the long side, two along the short one) at the fine VGG scales
  relu1_1..relu3_1, Gram matrices averaged over the crops: style distance (photo at the output's
  size, painting) over style distance (output, painting), the painting at its own size with 2%
  trimmed from each side. An enlarged soft picture scores ~1.5; paint-like texture at 100% 4–8.
- fringe: in YCbCr, each channel high-passed (minus a Gaussian blur of σ 2 px), 8 px border
  dropped; (E[Cb_hp²] + E[Cr_hp²]) / E[Y_hp²]. Rainbow dither and colour bands push it up; scans
  of paintings score 0.01–0.13, photos mostly under 0.05.
"""

from __future__ import annotations

import math
import statistics

import torch
import torch.nn.functional as F

from daemon.nets.vgg import STYLE_LAYERS, get_vgg
from daemon.optim.losses import gram, resize_long_side

MEASURE_SIDE = 256  # px: StyleMeter's default long side
FINE_LAYERS = ("relu1_1", "relu2_1", "relu3_1")
CROP = 256
GRID = (3, 2)  # crops along the long side, along the short side
FRINGE_SIGMA = 2.0  # px: the high-pass keeps what a Gaussian of this σ blurs away
FRINGE_BORDER = 8  # px dropped on each side (padding and a picture's own edge effects)
# Full-range BT.601 (JPEG) RGB → YCbCr; the offsets vanish in the high-pass.
RGB_TO_YCBCR = torch.tensor(
    [[0.299, 0.587, 0.114], [-0.168736, -0.331264, 0.5], [0.5, -0.418688, -0.081312]]
)


class StyleMeter:
    """Gram matrices at `side` px (long side) and the style distance between two sets of them."""

    def __init__(self, side: int = MEASURE_SIDE) -> None:
        self.vgg = get_vgg(torch.device("cpu"))
        self.side = side

    @torch.no_grad()
    def grams(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        feats = self.vgg(resize_long_side(x, self.side).clamp(0, 1), STYLE_LAYERS)
        return {k: gram(v) for k, v in feats.items()}

    @staticmethod
    def distance(a: dict, b: dict) -> float:
        """Mean over the layers of `b` of |G(a) − G(b)|² / |G(b)|²
        (daemon.optim.losses.style_distance)."""
        return statistics.fmean(float((a[k] - b[k]).pow(2).sum() / b[k].pow(2).sum()) for k in b)


def grid_origins(length: int, count: int, crop: int = CROP) -> list[int]:
    """Top-left offsets of `count` crops centred at (i + ½)/count of `length`, inside it."""
    top = max(0, length - crop)
    return [min(top, max(0, round((i + 0.5) * length / count - crop / 2))) for i in range(count)]


def grid_crops(x: torch.Tensor, crop: int = CROP, grid: tuple[int, int] = GRID) -> torch.Tensor:
    """The fixed grid of native-resolution crops of `x` [1,3,H,W] as a batch [N,3,c,c]
    (c: `crop`, or the picture's short side when smaller)."""
    h, w = x.shape[-2:]
    c = min(crop, h, w)
    across, down = grid if w >= h else grid[::-1]
    return torch.cat(
        [
            x[..., y : y + c, x0 : x0 + c]
            for y in grid_origins(h, down, c)
            for x0 in grid_origins(w, across, c)
        ]
    )


class FineMeter(StyleMeter):
    """Gram matrices of the fine VGG layers averaged over the grid's native crops."""

    @torch.no_grad()
    def grams(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        feats = self.vgg(grid_crops(x.clamp(0, 1)), FINE_LAYERS)
        return {k: gram(v).mean(0, keepdim=True) for k, v in feats.items()}

    def gain(self, photo: dict, output: dict, painting: dict) -> float:
        """Fine gain: d(photo, painting) / d(output, painting) from their `grams`."""
        return self.distance(photo, painting) / self.distance(output, painting)


def _gaussian_kernel(sigma: float) -> torch.Tensor:
    radius = math.ceil(3 * sigma)
    t = torch.arange(-radius, radius + 1, dtype=torch.float32)
    k = torch.exp(-(t**2) / (2 * sigma**2))
    return k / k.sum()


@torch.no_grad()
def high_pass(x: torch.Tensor, sigma: float = FRINGE_SIGMA) -> torch.Tensor:
    """`x` [N,C,H,W] minus its Gaussian blur (σ px, reflected edges), channel by channel."""
    k = _gaussian_kernel(sigma).to(x)
    r = k.numel() // 2
    c = x.shape[1]
    blurred = F.pad(x, (r, r, r, r), mode="reflect")
    blurred = F.conv2d(blurred, k.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
    blurred = F.conv2d(blurred, k.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)
    return x - blurred


@torch.no_grad()
def fringe(x: torch.Tensor, border: int = FRINGE_BORDER) -> float:
    """High-pass chroma energy over high-pass luma energy of an RGB 0..1 picture [1,3,H,W]."""
    ycc = torch.einsum("ij,njhw->nihw", RGB_TO_YCBCR, x.float())
    hp = high_pass(ycc)
    if border:
        hp = hp[..., border:-border, border:-border]
    energy = hp.pow(2).mean((0, 2, 3))
    return float((energy[1] + energy[2]) / energy[0].clamp_min(1e-12))

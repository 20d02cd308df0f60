"""The compact multi-style transformer network (the mobile multi-style paper's design).

    5x5 conv → 3x3 stride-2 conv → 3x3 stride-2 conv → residual blocks → nearest ×2 + 3x3 conv
    → nearest ×2 + 3x3 conv → 5x5 conv → sigmoid, reflection padding everywhere.

With `stem="patch"` the first two layers are one `PatchStem` instead: a 7x7 stride-2 convolution
straight to half size, then a 3x3 convolution, so no feature map at full size is normalised (on the
CPU those full-size passes cost more than the convolutions; see `PatchStem`).

Every convolution is followed by conditional instance normalisation (Dumoulin et al.): one
scale/shift pair per style. A blend of styles is a normalised non-negative weight vector that
mixes those pairs, so any blend costs one forward pass, and a one-hot vector is exactly that style.
Input and output are RGB in 0..1, [N,3,H,W]; any H and W (internally padded to a multiple of 4).

For images larger than memory allows, `NormStats` lets the network run in tiles that agree: a
pass over a thumbnail of the whole image records every norm layer's per-channel mean and
variance, and the tiles are then normalised with those instead of their own (thumbnail instance
normalisation, URST, Chen et al. 2022). See daemon.engines.fast.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from daemon.nets.stems import STEMS

# Channel widths per resolution level (full, half, quarter), chosen for CPU speed: convolution
# cost grows with channels² × pixels, so the full-resolution width stays small while the
# quarter-resolution residual blocks carry the style. Inference at 1024², fp32, 2-core CPU here:
# (16, 32, 48) 0.97 s, (16, 32, 64) 1.24 s, (32, 32, 32) 1.45 s, Johnson's (32, 64, 128) 2.79 s.
# Half of Johnson's widths is the size engines.md measured training at ~7000 steps/hour.
DEFAULT_WIDTHS = (16, 32, 64)
DEFAULT_RESIDUAL_BLOCKS = 3


EPS = 1e-5  # as F.instance_norm


@dataclass
class NormStats:
    """Per-layer instance-norm statistics: recorded on one pass, replayed on later passes."""

    mode: str = "record"  # "record" or "replay"
    stats: list[tuple[torch.Tensor, torch.Tensor]] = field(default_factory=list)
    _next: int = 0

    def replay(self) -> NormStats:
        """A replaying copy (the recorded tensors are shared, not copied)."""
        return NormStats("replay", self.stats)

    def normalise(self, x: torch.Tensor) -> torch.Tensor:
        if self.mode == "record":
            var, mean = torch.var_mean(x.float(), dim=(-2, -1), keepdim=True, correction=0)
            self.stats.append((mean, var))
        else:
            mean, var = self.stats[self._next]
            self._next += 1
        return ((x - mean) * torch.rsqrt(var + EPS)).to(x.dtype)


def region_norm(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """Instance norm whose statistics follow the style maps: each style's mean and variance
    over its own region (weighted by its map), mixed per pixel by the maps. A style painted
    over half the picture then sees the statistics it would see alone on that half, so each
    region looks like that style's own result (whole-image statistics would pull every region
    towards the mix)."""
    mean = torch.zeros_like(x)
    var = torch.zeros_like(x)
    for s in range(w.shape[1]):
        ws = w[:, s : s + 1]
        total = ws.sum((-2, -1), keepdim=True)
        if float(total.max()) <= 0:
            continue
        m = (x * ws).sum((-2, -1), keepdim=True) / total.clamp(min=1e-6)
        v = ((x - m).pow(2) * ws).sum((-2, -1), keepdim=True) / total.clamp(min=1e-6)
        mean += ws * m
        var += ws * v
    return (x - mean) * torch.rsqrt(var + EPS)


class ConditionalInstanceNorm(nn.Module):
    """Instance norm whose scale and shift are a weighted mix of per-style pairs."""

    def __init__(self, channels: int, styles: int) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.ones(styles, channels))
        self.shift = nn.Parameter(torch.zeros(styles, channels))

    def forward(
        self, x: torch.Tensor, weights: torch.Tensor, stats: NormStats | None = None
    ) -> torch.Tensor:
        """`weights`: [N, styles] rows summing to 1, or per pixel [N, styles, H', W'] (resampled
        to this layer's size); `stats`: record or replay statistics."""
        if weights.dim() == 4:  # a blend per pixel (style maps)
            w = F.interpolate(weights, size=x.shape[-2:], mode="bilinear", align_corners=False)
            scale = torch.einsum("nshw,sc->nchw", w, self.scale)
            shift = torch.einsum("nshw,sc->nchw", w, self.shift)
            normed = stats.normalise(x) if stats is not None else region_norm(x, w)
            return normed * scale + shift
        if stats is None and (weights.shape[0] == 1 or bool((weights == weights[:1]).all())):
            # one blend for the whole batch (inference, training): the affine fused into the norm
            return F.instance_norm(x, weight=weights[0] @ self.scale, bias=weights[0] @ self.shift)
        scale = (weights @ self.scale)[..., None, None]
        shift = (weights @ self.shift)[..., None, None]
        normed = F.instance_norm(x) if stats is None else stats.normalise(x)
        return normed * scale + shift


class ConvCIN(nn.Module):
    """Reflection-padded convolution followed by conditional instance norm.

    The convolution has no bias: the norm subtracts each channel's mean, so a bias would be
    removed exactly and its gradient is only rounding noise (which Adam would turn into full-size
    random steps). Model files written with biases still load; the biases are ignored.
    """

    def __init__(self, cin: int, cout: int, kernel: int, styles: int, stride: int = 1) -> None:
        super().__init__()
        self.pad = nn.ReflectionPad2d(kernel // 2)
        self.conv = nn.Conv2d(cin, cout, kernel, stride, bias=False)
        self.norm = ConditionalInstanceNorm(cout, styles)

    def forward(self, x: torch.Tensor, weights: torch.Tensor, stats=None) -> torch.Tensor:
        return self.norm(self.conv(self.pad(x)), weights, stats)


class PatchStem(nn.Module):
    """Full size → half size without a normalised full-size layer: the image reflection-padded
    (5 before, 4 after), a 7x7 stride-2 convolution with bias and ReLU, then a 3x3 convolution
    (no padding) and conditional instance norm. Output pixel i is centred on input pixel 2i, as
    in the "conv" stem (5x5 conv + norm, then a 3x3 stride-2 conv), which it replaces.

    The conv stem's full-size layer is 16 channels normalised, activated and padded at full size:
    at 2048² on this CPU those passes (norm, pad, layout changes) took 3x its convolution. Here the
    only full-size work is the strided convolution, which reads the padded image once.
    """

    def __init__(self, inner: int, cout: int, styles: int) -> None:
        super().__init__()
        self.pad = nn.ReflectionPad2d((5, 4, 5, 4))
        self.patch = nn.Conv2d(3, inner, 7, stride=2)
        self.conv = nn.Conv2d(inner, cout, 3, bias=False)
        self.norm = ConditionalInstanceNorm(cout, styles)

    def forward(self, x: torch.Tensor, weights: torch.Tensor, stats=None) -> torch.Tensor:
        inner = F.relu(self.patch(self.pad(x)), inplace=not torch.is_grad_enabled())
        return self.norm(self.conv(inner), weights, stats)


class Residual(nn.Module):
    def __init__(self, channels: int, styles: int) -> None:
        super().__init__()
        self.a = ConvCIN(channels, channels, 3, styles)
        self.b = ConvCIN(channels, channels, 3, styles)

    def forward(self, x: torch.Tensor, weights: torch.Tensor, stats=None) -> torch.Tensor:
        inner = F.relu(self.a(x, weights, stats), inplace=not torch.is_grad_enabled())
        return self.b(inner, weights, stats).add_(x)


class StyleNet(nn.Module):
    """Multi-style transformer: `net(images, weights)`; weights [N, styles] or [styles]."""

    def __init__(
        self,
        styles: int,
        widths: tuple[int, int, int] = DEFAULT_WIDTHS,
        residual_blocks: int = DEFAULT_RESIDUAL_BLOCKS,
        stem: str = "conv",
    ) -> None:
        super().__init__()
        if stem not in STEMS:
            raise ValueError(f"unknown stem {stem!r} (one of {', '.join(STEMS)})")
        c1, c2, c3 = widths
        self.styles, self.widths, self.residual_blocks = styles, tuple(widths), residual_blocks
        self.stem = stem
        first = (
            [ConvCIN(3, c1, 5, styles), ConvCIN(c1, c2, 3, styles, 2)]
            if stem == "conv"
            else [PatchStem(c1, c2, styles)]
        )
        self.down = nn.ModuleList([*first, ConvCIN(c2, c3, 3, styles, 2)])
        self.res = nn.ModuleList([Residual(c3, styles) for _ in range(residual_blocks)])
        self.up = nn.ModuleList([ConvCIN(c3, c2, 3, styles), ConvCIN(c2, c1, 3, styles)])
        self.out = ConvCIN(c1, 3, 5, styles)
        # The shift of each residual block's second norm adds a per-channel constant to the
        # residual stream, whose next stop is always a convolution + instance norm: it cancels
        # exactly, so it is not trained (its gradient is only rounding noise).
        for block in self.res:
            block.b.norm.shift.requires_grad_(False)

    def norms(self) -> list[ConditionalInstanceNorm]:
        """Every conditional norm layer (the per-style parameters)."""
        return [m for m in self.modules() if isinstance(m, ConditionalInstanceNorm)]

    def forward(
        self, x: torch.Tensor, weights: torch.Tensor, stats: NormStats | None = None
    ) -> torch.Tensor:
        """Stylise `x`; with `stats`, record the norm statistics or normalise with recorded ones."""
        weights = mix_weights(weights, x.shape[0], self.styles).to(x)
        h, w = x.shape[-2:]
        ph, pw = (-h) % 4, (-w) % 4
        if ph or pw:  # two stride-2 levels: work on a multiple of 4, crop afterwards
            x = F.pad(x, (0, pw, 0, ph), mode="reflect")
            if weights.dim() == 4:
                weights = F.pad(weights, (0, pw, 0, ph), mode="replicate")
        inplace = not torch.is_grad_enabled()  # saves a full-size copy per layer at inference
        for layer in self.down:
            x = F.relu(layer(x, weights, stats), inplace=inplace)
        for block in self.res:
            x = block(x, weights, stats)
        for layer in self.up:
            up = F.interpolate(x, scale_factor=2.0, mode="nearest")
            x = F.relu(layer(up, weights, stats), inplace=inplace)
        x = self.out(x, weights, stats).sigmoid_()
        return x[..., :h, :w]


def mix_weights(weights: torch.Tensor, batch: int, styles: int) -> torch.Tensor:
    """Validate and normalise style weights to [batch, styles] rows summing to 1; a per-pixel
    blend [batch, styles, H, W] is normalised pixel by pixel (where all are 0, evenly: the
    pipeline shows the source there)."""
    weights = torch.as_tensor(weights, dtype=torch.float32)
    if weights.dim() == 4:
        if weights.shape[:2] != (batch, styles):
            raise ValueError(f"style weight maps must be [{batch}, {styles}, H, W]")
        if (weights < 0).any() or not torch.isfinite(weights).all():
            raise ValueError("style weights must be finite and non-negative")
        total = weights.sum(1, keepdim=True)
        return torch.where(total > 0, weights / total.clamp(min=1e-12), 1.0 / styles)
    if weights.dim() == 1:
        weights = weights.expand(batch, -1)
    if weights.shape != (batch, styles):
        raise ValueError(f"style weights must be [{batch}, {styles}], got {list(weights.shape)}")
    if (weights < 0).any() or not torch.isfinite(weights).all():
        raise ValueError("style weights must be finite and non-negative")
    total = weights.sum(1, keepdim=True)
    if (total <= 0).any():
        raise ValueError("style weights must not all be zero")
    return weights / total

"""The Gatys objective over an image of any size in tiles, with whole-image style statistics.

Each evaluation makes two passes over overlapping tiles (daemon.tiling; origins on VGG19's
16 px grid so every layer samples the same positions as on the whole image):

1. Without gradients: every tile's *own* features (those of its inner part) are added into the
   whole-image Gram sums, so the Gram matrices, and the style loss, are those of the whole image.
2. With gradients, tile by tile: the loss is replaced by its first-order expansion around those
   whole-image Grams (⟨∂L/∂G, F Fᵀ⟩ per layer, plus the content term), which has exactly the
   whole-image gradient with respect to each feature; back-propagating it through the tile's
   crop gives the gradient of every pixel whose features lie inside the crop. Only the tile's
   inner pixels are kept, so each pixel gets its gradient from exactly one tile.

With a margin at least VGG19's receptive-field reach (relu5_1: ~100 px) on both sides of the
features that see a pixel, this equals the untiled gradient up to floating-point error; with the
default margin the difference is far below what the optimisation notices (see tests). Memory is
bounded by the crop size (tile + 2·margin), not the image (Galerne et al., "Scaling Painting Style
Transfer").
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from daemon import losses
from daemon.devices import DeviceProfile
from daemon.tiling import Tile, tile_grid
from daemon.vgg import CONTENT_LAYERS, VGGFeatures
from shared.errors import JobCancelled

VGG_STRIDE = 16  # four 2x2 poolings before relu5_1
LAYER_STRIDE = {"relu1_1": 1, "relu2_1": 2, "relu3_1": 4, "relu4_1": 8, "relu4_2": 8, "relu5_1": 16}
DEFAULT_MARGIN = 128


def tile_for(profile: DeviceProfile) -> int:
    """The inner tile side whose crop (margins included) fits VGG19 in the memory budget."""
    crop = int(math.isqrt(profile.max_vgg_pixels()))
    return max(VGG_STRIDE * 4, (crop - 2 * DEFAULT_MARGIN) // VGG_STRIDE * VGG_STRIDE)


def _owned(features: torch.Tensor, tile: Tile, stride: int, full: tuple[int, int]) -> torch.Tensor:
    """The part of a crop's feature map that lies in the tile's inner part."""
    top, left = (tile.iy0 - tile.y0) // stride, (tile.ix0 - tile.x0) // stride
    bottom = (tile.iy1 - tile.y0) // stride if tile.iy1 < full[0] else features.shape[-2]
    right = (tile.ix1 - tile.x0) // stride if tile.ix1 < full[1] else features.shape[-1]
    return features[..., top:bottom, left:right]


def tiled_grams(
    vgg: VGGFeatures, rgb: torch.Tensor, layers, profile: DeviceProfile, tile: int
) -> dict[str, torch.Tensor]:
    """Whole-image Gram matrices [1,C,C] of an RGB image of any size, tile by tile."""
    shape = (int(rgb.shape[-2]), int(rgb.shape[-1]))
    tile = max(VGG_STRIDE, tile // VGG_STRIDE * VGG_STRIDE)
    sums: dict[str, torch.Tensor] = {}
    counts = dict.fromkeys(layers, 0)
    for t in tile_grid(*shape, tile, DEFAULT_MARGIN, VGG_STRIDE):
        crop = rgb[..., t.y0 : t.y1, t.x0 : t.x1].to(profile.device)
        with torch.no_grad(), profile.autocast():
            feats = vgg(crop, layers)
        for name in layers:
            f = _owned(feats[name], t, LAYER_STRIDE[name], shape).float()
            flat = f.reshape(f.shape[1], -1)
            sums[name] = sums.get(name, 0) + flat @ flat.T
            counts[name] += flat.shape[1]
    return {k: (v / (v.shape[0] * counts[k]))[None] for k, v in sums.items()}


def refine(
    vgg: VGGFeatures,
    start: torch.Tensor,
    content: torch.Tensor,
    targets: dict[str, torch.Tensor],
    spec,
    profile: DeviceProfile,
    steps: int,
    tile: int,
    report: Callable[[float], None],
    cancelled: Callable[[], bool],
) -> torch.Tensor:
    """`steps` Adam steps of the tiled objective from `start` (RGB 0..1); returns RGB 0..1."""
    objective = TiledObjective(
        vgg, content, targets, spec.content_weight, spec.style_weight, profile, tile
    )
    x = vgg.preprocess(start.float().to(profile.device)).cpu().detach().requires_grad_(True)
    opt = torch.optim.Adam([x], lr=losses.ADAM_LR)
    for step in range(steps):

        def on_tile(i: int, n: int, step: int = step) -> None:
            report((step + (i + 1) / n) / steps)

        _, grad = objective(x.detach(), cancelled, on_tile)
        if spec.tv_weight:
            with torch.enable_grad():
                tv = spec.tv_weight * losses.tv_loss(x)
                grad += torch.autograd.grad(tv, x)[0]
        x.grad = grad
        opt.step()
    return vgg.to_rgb(x.detach().to(profile.device)).cpu()


class TiledObjective:
    """Loss and gradient of the Gatys objective for an image in VGG input space, tile by tile."""

    def __init__(
        self,
        vgg: VGGFeatures,
        content: torch.Tensor,
        targets: dict[str, torch.Tensor],
        content_weight: float,
        style_weight: float,
        profile: DeviceProfile,
        tile: int,
        margin: int = DEFAULT_MARGIN,
    ) -> None:
        self.vgg, self.targets, self.profile = vgg, targets, profile
        self.content_weight, self.style_weight = content_weight, style_weight
        self.content = content  # RGB 0..1 [1,3,H,W] on the CPU
        self.shape = (int(content.shape[-2]), int(content.shape[-1]))
        tile = max(VGG_STRIDE, tile // VGG_STRIDE * VGG_STRIDE)
        margin = -(-margin // VGG_STRIDE) * VGG_STRIDE
        self.tiles = tile_grid(*self.shape, tile, margin, VGG_STRIDE)
        self.layers = tuple(targets)
        self.content_layer = CONTENT_LAYERS[0]

    def _crop(self, image: torch.Tensor, t: Tile) -> torch.Tensor:
        return image[..., t.y0 : t.y1, t.x0 : t.x1].to(self.profile.device)

    def _content_features(self, t: Tile) -> torch.Tensor:
        with torch.no_grad(), self.profile.autocast():
            rgb = self._crop(self.content, t)
            return self.vgg(rgb, [self.content_layer])[self.content_layer].float()

    def __call__(
        self,
        x: torch.Tensor,
        cancelled: Callable[[], bool],
        on_tile: Callable[[int, int], None] | None = None,
    ) -> tuple[float, torch.Tensor]:
        """(loss, gradient) for `x` ([1,3,H,W], VGG input space, CPU)."""
        sums: dict[str, torch.Tensor] = {}
        counts = dict.fromkeys(self.layers, 0)
        n = len(self.tiles)
        for i, t in enumerate(self.tiles):
            if cancelled():
                raise JobCancelled("cancelled")
            with torch.no_grad(), self.profile.autocast():
                feats = self.vgg.run(self._crop(x, t), self.layers)
            for name in self.layers:
                f = _owned(feats[name], t, LAYER_STRIDE[name], self.shape).float()
                flat = f.reshape(f.shape[1], -1)
                sums[name] = sums.get(name, 0) + flat @ flat.T
                counts[name] += flat.shape[1]
            if on_tile:
                on_tile(i, 2 * n)
        # VGG19's pools floor: the content layer (stride 8) has (H//8)·(W//8) positions
        content_count = (self.shape[0] // 8) * (self.shape[1] // 8)
        grams, d_grams = {}, {}
        style = torch.zeros(())
        for name in self.layers:
            c = sums[name].shape[0]
            g = sums[name] / (c * counts[name])
            target = self.targets[name][0].float().to(g.device)
            grams[name] = g
            style = style + losses.STYLE_SCALE * (g - target).pow(2).mean()
            # ∂(STYLE_SCALE·mean((G−T)²))/∂G, then ∂G/∂(F Fᵀ) = 1/(C·count)
            d_grams[name] = losses.STYLE_SCALE * 2 * (g - target) / (c * c) / (c * counts[name])
        grad = torch.zeros_like(x)
        content_loss = 0.0
        for i, t in enumerate(self.tiles):
            if cancelled():
                raise JobCancelled("cancelled")
            target = self._content_features(t)
            crop = self._crop(x, t).detach().requires_grad_(True)
            with self.profile.autocast():
                feats = self.vgg.run(crop, (self.content_layer, *self.layers))
            surrogate = torch.zeros((), device=crop.device)
            for name in self.layers:
                f = feats[name].float()
                flat = f.reshape(f.shape[1], -1)
                surrogate = surrogate + (d_grams[name] * (flat @ flat.T)).sum()
            surrogate = self.style_weight * surrogate
            fc = feats[self.content_layer].float()
            c = fc.shape[1]
            sq = (fc - target).pow(2)
            content_scale = self.content_weight * losses.CONTENT_SCALE / (c * content_count)
            surrogate = surrogate + content_scale * sq.sum()
            surrogate.backward()
            with torch.no_grad():
                own = _owned(sq, t, LAYER_STRIDE[self.content_layer], self.shape)
                content_loss += float(content_scale * own.sum())
            rows, cols = t.inner_in_crop
            grad[..., t.iy0 : t.iy1, t.ix0 : t.ix1] = crop.grad[..., rows, cols].cpu()
            if on_tile:
                on_tile(n + i, 2 * n)
        return float(self.style_weight * style) + content_loss, grad

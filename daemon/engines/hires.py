"""High resolution: stylise a thumbnail, then upscale and refine with tiled Gatys up to full size.

1. Base: the content at BASE_SIDE px (512 on a CPU, 1024 on a GPU) through the gatys engine
   (default) or the fast engine (`base: "fast"`, the model's styles).
2. For each doubling of the long side up to the top refined level: upscale the previous
   result (`upscaler`: Lanczos by default, daemon.imaging.upscale), then refine it with Adam steps
   on the exact tiled Gatys objective (daemon.optim.tiled): whole-image style statistics, memory
   bounded by the tile, which the memory budget sizes.
3. Above the top refined level: guided upsampling to full size (daemon.imaging.guided_upsample, with
   the job's upscaler): edges from the full-size photo (at least DETAIL_FLOOR of its fine detail),
   the painted texture enlarged.

Which levels are refined (`top_level`) is decided by what a refinement can show and what the
budget holds:
- a level is refined only while the largest style picture, scaled to that level, is enlarged by
  at most NATIVE_ENLARGEMENT. Beyond that the painting has no detail left at the level's scale:
  the refinement matched the statistics of an upscaled, blurred painting, which came out as a soft
  picture with a fine VGG grain on top (the 4K results before this rule), for most of the time.
  The shipped paintings are 350–750 px, so a 2048² picture is refined up to 1024 px (at
  style scale 1) and guided from there; a large style scan is refined further.
- a level is refined only if its full-size state (image, gradient, Adam's moments, content:
  REFINE_BYTES_PER_PIXEL; with style maps each style's guides, GUIDE_BYTES_PER_PIXEL) takes at
  most half the memory budget; the tile is sized from what is left, so the budget bounds the
  whole job, not only VGG19's tile. `memory_estimate` says the planned peak (result metadata).

The style images are scaled with the output (style long side = working long side × style_scale,
their Gram matrices computed in tiles too), so brush strokes keep their size relative to the
picture instead of turning into tiny repeated patterns at 8K.

Style maps: the base engine places the styles on the thumbnail (maps resampled to it), and every
refined level matches each style inside its own region (tiled_gatys' regions: guides from the
maps at the level's size, each style's Grams from its own painting), so the regions stay where
the maps put them up to full size; the guided upsampling follows the photo's edges.

A sequence's frame (a `prior`: the previous result carried along the optical flow) skips the
ladder: it starts at full size from the previous result where the flow is trusted (the photo
elsewhere) and runs the top level's steps with the temporal loss. A picture no larger than the
thumbnail is the base engine's alone, prior included.
"""

from __future__ import annotations

import dataclasses
import logging
import math

import torch

from daemon.devices import (
    FAST_BYTES_PER_PIXEL,
    VGG_BYTES_PER_PIXEL,
    DeviceProfile,
    release_memory,
)
from daemon.engines import Cancelled, EngineInput, Report
from daemon.imaging.guided_upsample import guided_upsample
from daemon.imaging.upscale import UPSCALERS
from daemon.nets.vgg import STYLE_LAYERS, border_for, get_vgg
from daemon.optim import losses
from daemon.optim.tiled import (
    DEFAULT_MARGIN,
    GUIDE_BYTES_PER_PIXEL,
    REFINE_BYTES_PER_PIXEL,
    VGG_STRIDE,
    Region,
    canvas_pixels,
    fits_whole,
    optimizer_bytes,
    refine,
    state_bytes,
    tile_for,
    tiled_grams,
)
from daemon.tiling import tile_grid
from shared.job import JobSpec

log = logging.getLogger(__name__)

BASE_SIDE_CPU = 512
BASE_SIDE_GPU = 1024
BASE_SHARE = 0.3  # of the progress bar
MIN_REFINE_STEPS = 4
NATIVE_ENLARGEMENT = 1.5  # refine while the style pictures are enlarged by at most this
# The least share of the photo's fine detail the guided enlargement above the top refined level
# gives every channel (daemon.imaging.guided_upsample.raise_slope). Without it a 4K result, enlarged
# from a 960 px level whose refinement smoothed thin structures away, had edges at 0.81 of the
# photo's sharpness (bench/hires.py's edge index; the cables of its photo gone at 100%). On that
# level (starry-night, 20 iterations) 0.3 gave 0.92, 0.4 1.01, 0.5 1.12, with the style gain at the
# 512 and 1024 px views unchanged (2.55 / 2.48); 0.6 drew the cables as lines on top of the paint.
DETAIL_FLOOR = 0.4
# Bytes per full-size pixel the guided enlargement makes besides the job's picture: the result
# and the photo's detail (fp32), the upscaled coefficients per channel.
GUIDED_BYTES_PER_PIXEL = 32


def refine_steps(spec: JobSpec, level: int) -> int:
    """Adam steps at the `level`-th refinement (0 = first upscale): a fifth of the base's
    iterations, halved per doubling (each doubling costs four times as much per step)."""
    return max(MIN_REFINE_STEPS, round(spec.iterations / 5 / 2**level))


def top_level(
    sizes: list[tuple[int, int]],
    style_sides: list[int],
    style_scale: float,
    budget: int,
    maps: int = 0,
) -> int:
    """The index in `sizes` of the last level to refine (0: only the base is made); `maps`: how
    many styles have style maps (their guides are held at each level too)."""
    native = max(style_sides, default=0)
    per_pixel = REFINE_BYTES_PER_PIXEL + maps * GUIDE_BYTES_PER_PIXEL
    top = 0
    for i, (h, w) in enumerate(sizes[1:], 1):
        shows = max(h, w) * style_scale <= NATIVE_ENLARGEMENT * native
        fits = h * w * per_pixel <= budget // 2
        if not (shows and fits):
            break
        top = i
    return top


def ladder(shape: tuple[int, int], base_side: int) -> list[tuple[int, int]]:
    """(h, w) from the base up to `shape`, doubling the long side."""
    h, w = shape
    long = max(h, w)
    sides = [long]
    while sides[0] > base_side:
        sides.insert(0, math.ceil(sides[0] / 2))
    return [(max(16, round(h * s / long)), max(16, round(w * s / long))) for s in sides]


class HiresEngine:
    name = "hires"
    uses_pictures = True

    def working_side(self, spec: JobSpec, shape: tuple[int, int], profile: DeviceProfile) -> int:
        return spec.size or max(shape)  # the full resolution: memory is bounded by tiles

    def detail_side(self, inputs: EngineInput) -> int:
        """Long side of the top refined level: `run` enlarges the result above it."""
        sizes, top = _ladder(inputs)
        return max(sizes[top])

    def memory_estimate(self, inputs: EngineInput) -> int:
        """The job's planned peak beyond its baseline, in bytes: what it holds now (its decoded
        picture and working copies, measured) and its largest stage: the base (gatys: VGG19
        over the whole canvas and the optimiser's state, or its tiles; fast: its network), each
        refined level (its state, `_level_bytes`, and VGG19 over the largest crop of its tile
        grid), the guided enlargement to full size; a sequence's frame refines only its top
        level. Each tiled stage fills what the budget leaves, so this is the budget, unless the
        smallest tile does not fit in it, or the picture needs less."""
        spec, profile = inputs.spec, inputs.profile
        h, w = inputs.content.shape[-2:]
        sizes, top = _ladder(inputs)

        def tiled(size: tuple[int, int], reserved: int) -> int:
            """`reserved` and VGG19 forward+backward over the largest crop of the tiles."""
            pad = border_for(*size)
            tiles = tile_grid(
                size[0] + 2 * pad, size[1] + 2 * pad, tile_for(profile, reserved),
                DEFAULT_MARGIN, VGG_STRIDE,
            )  # fmt: skip
            return (
                reserved + max((t.y1 - t.y0) * (t.x1 - t.x0) for t in tiles) * VGG_BYTES_PER_PIXEL
            )

        def level(size: tuple[int, int]) -> int:
            return tiled(size, _level_bytes(size, inputs))

        if inputs.prior is not None and len(sizes) > 1:  # the top level from the previous frame
            stages = [level(sizes[top]) + sizes[top][0] * sizes[top][1] * (12 + 4)]
        else:
            base = sizes[0]
            if spec.base == "fast":
                stages = [base[0] * base[1] * FAST_BYTES_PER_PIXEL]
            elif fits_whole(spec, base, profile):
                stages = [canvas_pixels(base) * VGG_BYTES_PER_PIXEL + optimizer_bytes(spec, base)]
            else:  # gatys' own tiled objective (Adam)
                stages = [level(base)]
            stages += [level(size) for size in sizes[1 : top + 1]]
        if top < len(sizes) - 1:
            stages.append(h * w * GUIDED_BYTES_PER_PIXEL)
        return profile.held() + max(stages)

    def run(self, inputs: EngineInput, report: Report, cancelled: Cancelled) -> torch.Tensor:
        from daemon.engines import get_engine

        spec, profile = inputs.spec, inputs.profile
        content = inputs.content
        sizes, top = _ladder(inputs)
        refined = sizes[: top + 1]
        work = [h * w * refine_steps(spec, i) for i, (h, w) in enumerate(refined[1:])]
        total = sum(work) or 1
        finish = top < len(sizes) - 1  # guided upsampling from the top refined level

        def base_report(stage: str, fraction: float, preview=None) -> None:
            share = BASE_SHARE if len(refined) > 1 else 1.0
            report(f"base: {stage}", share * fraction, preview)

        def level_content(size: tuple[int, int]) -> torch.Tensor:
            if size == tuple(content.shape[-2:]):
                return content.cpu()
            return torch.nn.functional.interpolate(
                content.cpu(), size=size, mode="bicubic", antialias=True, align_corners=False
            ).clamp(0, 1)

        def tile_at(size: tuple[int, int]) -> int:
            release_memory()  # what the last stage freed, so `held` is what the job holds
            return tile_for(profile, _level_bytes(size, inputs))

        vgg = get_vgg(profile.device, profile.vgg_weights)
        prior = inputs.prior
        if prior is not None and len(sizes) > 1:
            size = sizes[top]
            small, tile = level_content(size), tile_at(size)
            warped, weight = _at(prior.warped, size), _at(prior.weight, size)
            steps = refine_steps(spec, max(0, top - 1))
            stage = f"refine from the previous frame ({size[1]}x{size[0]})"
            targets, regions = self._statistics(vgg, inputs, size, tile)
            image = refine(
                vgg, small.lerp(warped, weight), small, targets, spec, profile, steps, tile,
                lambda f: report(stage, f, None), cancelled, temporal=(warped, weight),
                regions=regions,
            )  # fmt: skip
            if finish:
                image = self._finish(image, small, content, spec, report)
            return image
        base_spec = dataclasses.replace(spec, engine=spec.base)
        base_inputs = dataclasses.replace(inputs, spec=base_spec, content=level_content(sizes[0]))
        if len(sizes) > 1:  # a full-size prior means nothing to the thumbnail
            base_inputs = dataclasses.replace(base_inputs, prior=None)
        if inputs.maps is not None:
            maps = [None if m is None else _at(m, sizes[0]) for m in inputs.maps]
            base_inputs = dataclasses.replace(base_inputs, maps=maps)
        image = get_engine(spec.base).run(base_inputs, base_report, cancelled)
        done = 0.0
        for level, (h, w) in enumerate(refined[1:]):
            image = UPSCALERS[spec.upscaler](image, (h, w))
            tile = tile_at((h, w))
            stage = f"refine {level + 1}/{len(refined) - 1} ({w}x{h}, tiles of {tile} px)"
            targets, regions = self._statistics(vgg, inputs, (h, w), tile)
            steps = refine_steps(spec, level)
            share = work[level] / total

            def on_fraction(f: float, stage=stage, done=done, share=share) -> None:
                report(stage, BASE_SHARE + (1 - BASE_SHARE) * (done + share * f), None)

            image = refine(
                vgg, image, level_content((h, w)), targets, spec, profile, steps, tile,
                on_fraction, cancelled, regions=regions,
            )  # fmt: skip
            done += share
        if finish:
            image = self._finish(image, level_content(refined[-1]), content, spec, report)
        return image

    @staticmethod
    def _finish(
        image: torch.Tensor, small: torch.Tensor, content: torch.Tensor, spec: JobSpec, report
    ) -> torch.Tensor:
        """The top refined level at full size: the job's upscaler, the photo's edges."""
        h, w = content.shape[-2:]
        report(f"enlarge to {w}x{h} with the photo's edges", 1.0, None)
        return guided_upsample(
            image, small, content.cpu(), upscale=UPSCALERS[spec.upscaler], detail_floor=DETAIL_FLOOR
        )

    @staticmethod
    def _statistics(
        vgg, inputs: EngineInput, size: tuple[int, int], tile: int
    ) -> tuple[dict[str, torch.Tensor], list[Region] | None]:
        """What a level matches, with the style pictures scaled to its size: the styles'
        blended Gram matrices, or with style maps each style's own inside its region."""
        if inputs.maps is not None:
            return {}, HiresEngine._regions(vgg, inputs, size, tile)
        targets: dict[str, torch.Tensor] = {}
        for i, (_, weight) in enumerate(inputs.styles):
            for k, g in HiresEngine._grams(vgg, inputs, i, size, tile).items():
                targets[k] = targets.get(k, 0) + weight * g
        return targets, None

    @staticmethod
    def _grams(vgg, inputs: EngineInput, index: int, size: tuple[int, int], tile: int):
        """Style `index`'s picture's Gram matrices, scaled to this size (× its style scale)."""
        side = max(32, round(max(size) * inputs.style_scale(index)))
        resized = losses.resize_long_side(inputs.styles[index][0], side).clamp(0, 1)
        return tiled_grams(vgg, resized, STYLE_LAYERS, inputs.profile, tile)

    @staticmethod
    def _regions(vgg, inputs: EngineInput, size: tuple[int, int], tile: int) -> list[Region]:
        """Per style with any area: (guide at this size, its painting's Grams, its share of the
        area), guides from `losses.region_guides` (as gatys.style_regions)."""
        assert inputs.maps is not None
        weights = [weight for _, weight in inputs.styles]
        return [
            (guide, HiresEngine._grams(vgg, inputs, i, size, tile), share)
            for i, guide, share in losses.region_guides(weights, inputs.maps, size)
        ]


def _ladder(inputs: EngineInput) -> tuple[list[tuple[int, int]], int]:
    """The job's sizes from the base up to full size, and the index of the top refined one."""
    spec, profile = inputs.spec, inputs.profile
    default = BASE_SIDE_CPU if profile.device.type == "cpu" else BASE_SIDE_GPU
    sizes = ladder(tuple(inputs.content.shape[-2:]), default)
    sides = [max(style.shape[-2:]) for style, _ in inputs.styles]
    return sizes, top_level(
        sizes, sides, spec.style_scale, profile.memory_budget, inputs.mapped_styles
    )


def _level_bytes(size: tuple[int, int], inputs: EngineInput) -> int:
    """What a refined level holds besides VGG19's tile (tiled_gatys.state_bytes)."""
    return state_bytes(size, inputs.mapped_styles)


def _at(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """`x` [1,C,h,w] at `size` (area-averaged when smaller)."""
    if tuple(x.shape[-2:]) == size:
        return x.cpu()
    return torch.nn.functional.interpolate(x.float().cpu(), size=size, mode="area")

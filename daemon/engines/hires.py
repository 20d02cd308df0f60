"""High resolution: stylise a thumbnail, then upscale and refine with tiled Gatys up to full size.

1. Base: the content at BASE_SIDE px (512 on a CPU, 1024 on a GPU) through the gatys engine
   (default) or the fast engine (`base: "fast"`, the model's styles).
2. For each doubling of the long side up to the layer's full resolution: upscale the previous
   result (`upscaler`: Lanczos by default, daemon.upscale), then refine it with Adam steps on the
   exact tiled Gatys objective (daemon.engines.tiled_gatys): whole-image style statistics, memory
   bounded by the tile, which the memory budget sizes.

The style images are scaled with the output (style long side = working long side × style_scale,
their Gram matrices computed in tiles too), so brush strokes keep their size relative to the
picture instead of turning into tiny repeated patterns at 8K.

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

from daemon import losses
from daemon.devices import DeviceProfile
from daemon.engines import Cancelled, EngineInput, Report
from daemon.engines.tiled_gatys import refine, tile_for, tiled_grams
from daemon.upscale import UPSCALERS
from daemon.vgg import STYLE_LAYERS, get_vgg
from shared.job import JobSpec

log = logging.getLogger(__name__)

BASE_SIDE_CPU = 512
BASE_SIDE_GPU = 1024
BASE_SHARE = 0.3  # of the progress bar
MIN_REFINE_STEPS = 4


def refine_steps(spec: JobSpec, level: int) -> int:
    """Adam steps at the `level`-th refinement (0 = first upscale): a fifth of the base's
    iterations, halved per doubling (each doubling costs four times as much per step)."""
    return max(MIN_REFINE_STEPS, round(spec.iterations / 5 / 2**level))


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

    def run(self, inputs: EngineInput, report: Report, cancelled: Cancelled) -> torch.Tensor:
        from daemon.engines import get_engine

        spec, profile = inputs.spec, inputs.profile
        content = inputs.content
        default = BASE_SIDE_CPU if profile.device.type == "cpu" else BASE_SIDE_GPU
        sizes = ladder(tuple(content.shape[-2:]), default)
        work = [h * w * refine_steps(spec, i) for i, (h, w) in enumerate(sizes[1:])]
        total = sum(work) or 1

        def base_report(stage: str, fraction: float, preview=None) -> None:
            share = BASE_SHARE if len(sizes) > 1 else 1.0
            report(f"base: {stage}", share * fraction, preview)

        vgg = get_vgg(profile.device, profile.vgg_weights)
        tile = tile_for(profile)
        prior = inputs.prior
        if prior is not None and len(sizes) > 1:
            start = content.cpu().lerp(prior.warped, prior.weight)
            steps = refine_steps(spec, len(sizes) - 2)
            stage = f"refine from the previous frame ({sizes[-1][1]}x{sizes[-1][0]})"
            return refine(
                vgg, start, content.cpu(), self._targets(vgg, inputs, sizes[-1], tile), spec,
                profile, steps, tile, lambda f: report(stage, f, None), cancelled,
                temporal=(prior.warped, prior.weight),
            )  # fmt: skip
        base_content = torch.nn.functional.interpolate(
            content, size=sizes[0], mode="bicubic", antialias=True, align_corners=False
        ).clamp(0, 1)
        base_spec = dataclasses.replace(spec, engine=spec.base)
        base_inputs = dataclasses.replace(inputs, spec=base_spec, content=base_content)
        if len(sizes) > 1:  # a full-size prior means nothing to the thumbnail
            base_inputs = dataclasses.replace(base_inputs, prior=None)
        image = get_engine(spec.base).run(base_inputs, base_report, cancelled)
        done = 0.0
        for level, (h, w) in enumerate(sizes[1:]):
            stage = f"refine {level + 1}/{len(sizes) - 1} ({w}x{h})"
            image = UPSCALERS[spec.upscaler](image, (h, w))
            scaled = torch.nn.functional.interpolate(
                content, size=(h, w), mode="bicubic", antialias=True, align_corners=False
            ).clamp(0, 1)
            targets = self._targets(vgg, inputs, (h, w), tile)
            steps = refine_steps(spec, level)
            share = work[level] / total

            def on_fraction(f: float, stage=stage, done=done, share=share) -> None:
                report(stage, BASE_SHARE + (1 - BASE_SHARE) * (done + share * f), None)

            image = refine(
                vgg, image, scaled, targets, spec, profile, steps, tile, on_fraction, cancelled
            )
            done += share
        return image

    @staticmethod
    def _targets(
        vgg, inputs: EngineInput, size: tuple[int, int], tile: int
    ) -> dict[str, torch.Tensor]:
        """The styles' blended Gram matrices with the style pictures scaled to this size."""
        side = max(32, round(max(size) * inputs.spec.style_scale))
        targets: dict[str, torch.Tensor] = {}
        for style, weight in inputs.styles:
            resized = losses.resize_long_side(style, side).clamp(0, 1)
            for k, g in tiled_grams(vgg, resized, STYLE_LAYERS, inputs.profile, tile).items():
                targets[k] = targets.get(k, 0) + weight * g
        return targets

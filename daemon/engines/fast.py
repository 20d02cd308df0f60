"""Fast mode: one forward pass of a multi-style network, any blend of its styles.

The styles are the model's own (daemon.model_library resolves the names and the blend); style
scale runs the network at a different input scale (the pipeline resamples the result back), so
`style_scale` 2 makes brush strokes twice as large relative to the picture.
"""

from __future__ import annotations

import logging
import math

import torch

from daemon.devices import DeviceProfile
from daemon.engines import Cancelled, EngineInput, Report
from shared.errors import BadRequest, JobCancelled
from shared.job import JobSpec

log = logging.getLogger(__name__)

MIN_SIDE = 16


class FastEngine:
    name = "fast"
    uses_style_images = False  # the styles live in the model

    def working_side(self, spec: JobSpec, shape: tuple[int, int], profile: DeviceProfile) -> int:
        long, short = max(shape), min(shape)
        side = max(MIN_SIDE, round((spec.size or long) / spec.style_scale))
        fits = int(math.sqrt(profile.max_fast_pixels() * long / short))
        if side > fits:  # until tiled inference lands, fit the budget by working smaller
            log.warning("working size %d px exceeds the memory budget; using %d px", side, fits)
        return min(side, fits)

    def run(self, inputs: EngineInput, report: Report, cancelled: Cancelled) -> torch.Tensor:
        spec, profile = inputs.spec, inputs.profile
        if inputs.models is None:
            raise BadRequest("fast mode needs the model library")
        if any(ref.name is None for ref in spec.styles):
            raise BadRequest(
                "fast mode uses a model's styles; send a picture as the style with gatys mode"
            )
        model, weights = inputs.models.resolve([(r.name, r.weight) for r in spec.styles])
        net = inputs.models.load(model, profile.device)
        if cancelled():
            raise JobCancelled("cancelled")
        report(f"stylising with {model.name}", 0.0, None)
        x = inputs.content.to(profile.device)
        if profile.device.type == "cuda":  # tensor cores want NHWC; no gain measured on CPU
            x = x.contiguous(memory_format=torch.channels_last)
            net = net.to(memory_format=torch.channels_last)
        with torch.inference_mode(), profile.autocast():
            y = net(x, weights.to(profile.device))
        return y.float().clamp(0, 1).cpu()

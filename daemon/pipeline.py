"""One job from wire pixels to wire pixels, around whichever engine it names.

decode → choose working size → colour preparation → engine → resample to the input size →
colour finish → strength blend with the original pixels → encode in the input's format.
Strength 0 skips the engine: the result is the content, re-encoded.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from daemon import color, pixels
from daemon.devices import DeviceProfile
from daemon.engines import Cancelled, EngineInput, Report, get_engine
from daemon.losses import resize_long_side
from daemon.model_library import ModelLibrary
from daemon.styles import StyleLibrary
from shared.job import JobSpec
from shared.protocol import ImageDesc

log = logging.getLogger(__name__)


@dataclass
class Output:
    images: list[tuple[ImageDesc, bytes]]
    metadata: dict = field(default_factory=dict)


def frame_bytes(frames: list, desc: ImageDesc) -> memoryview:
    frame = frames[desc.frame - 1]
    return frame.buffer if hasattr(frame, "buffer") else memoryview(frame)


def run(
    spec: JobSpec,
    frames: list,
    library: StyleLibrary,
    profile: DeviceProfile,
    report: Report,
    cancelled: Cancelled,
    models: ModelLibrary | None = None,
) -> Output:
    """Run one validated job (frames already checked against their descriptors)."""
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    content = pixels.decode(spec.content, frame_bytes(frames, spec.content))
    original = content.rgb
    h, w = original.shape[-2:]
    meta: dict = {"engine": spec.engine, "device": str(profile.device), "settings": spec.settings()}
    if spec.strength == 0:
        result = original
    else:
        engine = get_engine(spec.engine)
        styles = _load_styles(spec, frames, library, models) if engine.uses_style_images else []
        side = engine.working_side(spec, (h, w), profile)
        # Integer samples are finite and within 0..1 already: no copy (large layers are large).
        clean = original
        if content.desc.dtype not in pixels.INT_MAX:
            clean = torch.nan_to_num(original, nan=0.0, posinf=1.0, neginf=0.0).clamp_(0, 1)
        work = resize_long_side(clean, side)
        mode = spec.preserve_color
        prepared = [(color.prepare_style(s, work, mode), wt) for s, wt in styles]
        timings["prepare_s"] = time.perf_counter() - t0
        t1 = time.perf_counter()
        out = engine.run(
            EngineInput(spec, color.prepare_content(work, mode), prepared, profile, models),
            report,
            cancelled,
        )
        del work, prepared
        timings["engine_s"] = time.perf_counter() - t1
        meta["working_size"] = [int(out.shape[-1]), int(out.shape[-2])]
        if tuple(out.shape[-2:]) != (h, w):
            out = F.interpolate(out, size=(h, w), mode="bicubic", align_corners=False)
        out = color.finish(out.clamp_(0, 1), clean, mode, styles_matched=engine.uses_style_images)
        out = out.clamp_(0, 1)
        if spec.strength < 1:  # in place: out·strength + original·(1 − strength)
            out = out.lerp_(original, 1 - spec.strength)
        result = out
        del clean
    t2 = time.perf_counter()
    del original
    content.rgb = torch.empty(0)  # the decoded input is not needed any more
    images = [pixels.encode(result, content, consume=True)]
    timings["encode_s"] = time.perf_counter() - t2
    timings["total_s"] = time.perf_counter() - t0
    meta["timings"] = timings
    return Output(images, meta)


def _load_styles(
    spec: JobSpec, frames: list, library: StyleLibrary, models: ModelLibrary | None = None
) -> list[tuple[torch.Tensor, float]]:
    """Style images as RGB 0..1 with weights normalised to sum 1."""
    total = sum(s.weight for s in spec.styles)
    out = []
    for ref in spec.styles:
        if ref.weight == 0:
            continue
        if ref.image is not None:
            img = pixels.decode(ref.image, frame_bytes(frames, ref.image)).rgb.clamp(0, 1)
        elif ref.name in library.entries() or models is None:
            img = library.load(ref.name)
        else:  # a fast style's name: the painting its model was trained on
            img = models.painting(ref.name)
        out.append((img, ref.weight / total))
    return out

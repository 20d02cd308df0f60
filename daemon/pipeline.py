"""One job from wire pixels to wire pixels, around the engine its plan names.

decode → resize to the plan's working size → colour preparation → (a sequence's frame: the
previous result carried along the optical flow, daemon.imaging.flow) → engine → back to the input
size (enlarged by the job's upscaler and guided by the full-size photo when the engine worked
smaller: daemon.imaging.guided_upsample) → (more than 1.5x enlarged, the plan holds a fast model
and the job's `texture` is on: its full-size texture, daemon.imaging.texture) → colour finish →
strength blend with the original pixels → mask → encode in the input's format. Strength 0 skips
the engine: the result is the content, re-encoded. A depth map reaches the engine at the working
size (for gatys and hires as its bands placed like styles: daemon.imaging.depth). The photo look
(`photoreal`) replaces the engine-to-colour-finish part: the photo recoloured locally affinely to
the styles' pictures (daemon.imaging.photoreal); the engine runs only for a style without one.

The mask (a selection, optional) is composited with its feather kept: with an alpha channel it
scales the result's alpha (transparent outside, soft at the edge); without one, the result fades
into the original pixels.
"""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from daemon.catalogue import Catalogue
from daemon.catalogue.model_library import ModelLibrary
from daemon.devices import DeviceProfile
from daemon.engines import Cancelled, EngineInput, Report, fast
from daemon.imaging import color, depth, flow, photoreal, texture
from daemon.imaging.guided_upsample import guided_upsample
from daemon.imaging.upscale import UPSCALERS
from daemon.io import pixels
from daemon.optim.losses import resize_long_side
from daemon.plan import Plan
from daemon.sequences import Kept, SequenceStore
from shared.errors import JobCancelled
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
    plan: Plan,
    frames: list,
    catalogue: Catalogue,
    profile: DeviceProfile,
    report: Report,
    cancelled: Cancelled,
    models: ModelLibrary | None = None,
    sequences: SequenceStore | None = None,
    client: bytes = b"",
) -> Output:
    """Run one planned job (frames already checked against their descriptors). Style maps limit
    each style to its region (the engine blends per pixel); where they add up to nothing the
    result is the content, like outside a selection mask. A frame of a
    sequence takes the previous frame's state from `sequences` (kept per `client`) and leaves
    its own there."""
    spec = plan.spec
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    content = pixels.decode(spec.content, frame_bytes(frames, spec.content))
    original = content.rgb
    h, w = original.shape[-2:]
    meta: dict = {
        "engine": spec.engine,
        "device": str(profile.device),
        "styles": [{"name": s.title, "share": round(s.share, 3)} for s in plan.styles],
        "settings": spec.settings(),
    }
    coverage = None
    if spec.strength == 0:
        result = original
    else:
        styles, keys = _load_styles(plan, frames, catalogue) if plan.uses_pictures else ([], [])
        # Integer samples are finite and within 0..1 already: no copy (large layers are large).
        clean = original
        if content.desc.dtype not in pixels.INT_MAX:
            clean = torch.nan_to_num(original, nan=0.0, posinf=1.0, neginf=0.0).clamp_(0, 1)
        work = resize_long_side(clean, plan.side)
        maps, coverage = _style_maps(plan, frames, (h, w), tuple(work.shape[-2:]))
        timings["prepare_s"] = time.perf_counter() - t0
        ctx = _Context(profile, models, report, cancelled, sequences, client, timings, meta, frames)
        if spec.photoreal:
            out = _photo_look(plan, clean, work, styles, keys, maps, catalogue, ctx)
        else:
            out = _paint(plan, clean, work, styles, keys, maps, ctx)
        del work
        if spec.strength < 1:  # in place: out·strength + original·(1 − strength)
            out = out.lerp_(original, 1 - spec.strength)
        result = out
        del clean
    t2 = time.perf_counter()
    if spec.mask is not None or coverage is not None:
        mask = coverage  # where the style maps put any style
        if spec.mask is not None:
            selection = pixels.decode_mask(spec.mask, frame_bytes(frames, spec.mask))
            mask = selection if mask is None else mask.mul_(selection)
        if content.alpha is not None:
            content.alpha = pixels.mask_alpha(content.alpha, mask, spec.content.dtype)
        elif result is not original:  # no alpha to carry the feather: fade into the original
            result = result.lerp_(original, 1 - mask)
        del mask
    del original
    content.rgb = torch.empty(0)  # the decoded input is not needed any more
    images = [pixels.encode(result, content, consume=True)]
    timings["encode_s"] = time.perf_counter() - t2
    timings["total_s"] = time.perf_counter() - t0
    meta["timings"] = timings
    return Output(images, meta)


def _paint(
    plan: Plan,
    clean: torch.Tensor,
    work: torch.Tensor,
    styles: list[tuple[torch.Tensor, float]],
    keys: list[str | None],
    maps: list[torch.Tensor | None] | None,
    ctx: _Context,
) -> torch.Tensor:
    """The engine's painting of `work` (the photo `clean` at the working size), brought to full
    size: colour preparation, temporal prior, engine, enlargement, full-size texture, colour
    finish."""
    spec, profile, models, timings, meta = plan.spec, ctx.profile, ctx.models, ctx.timings, ctx.meta
    report, cancelled, sequences, client = ctx.report, ctx.cancelled, ctx.sequences, ctx.client
    h, w = clean.shape[-2:]
    mode = spec.preserve_color
    prepared = [(color.prepare_style(s, work, mode), wt) for s, wt in styles]
    if mode != "none":  # the prepared pictures depend on the photo: nothing to reuse
        keys = [None] * len(keys)
    t1 = time.perf_counter()
    engine_content = color.prepare_content(work, mode)
    seq = spec.sequence if spec.temporal and sequences is not None else None
    kept = sequences.take(client, seq.id, seq.index) if seq is not None else None
    prior = None
    if kept is not None and kept.input.shape == engine_content.shape:
        prior = flow.carry(kept.input, kept.result, engine_content, flow.CARRY_INTERPOLATION)
        timings["flow_s"] = time.perf_counter() - t1
    meta["temporal"] = prior is not None
    depth_map = _depth(plan, ctx.frames, tuple(work.shape[-2:]), meta)
    scales, placed = None, maps
    if depth_map is not None and plan.uses_pictures:  # the depth bands as placed styles
        prepared, keys, placed, scales = depth.bands_as_styles(
            prepared, keys, maps, depth_map, spec.depth_range
        )
        depth_map = None
    inputs = EngineInput(
        spec, engine_content, prepared, profile, plan, models, prior, placed, keys, depth_map,
        scales,
    )  # fmt: skip
    estimate = getattr(plan.engine, "memory_estimate", None)
    if estimate is not None:  # what the engine plans to use, beyond the job's baseline
        meta["memory"] = {"budget": profile.memory_budget}
        try:
            meta["memory"]["estimate"] = estimate(inputs)
        except Exception:  # a report: never the job's failure
            log.exception("memory estimate failed")
    out = plan.engine.run(inputs, report, cancelled)
    if seq is not None and not seq.last and out.shape == engine_content.shape:
        # a copy: the steps below work on `out` in place
        sequences.keep(client, seq.id, Kept(seq.index, engine_content, out.detach().clone()))
    detail = _detail_size(plan, inputs, tuple(out.shape[-2:]))
    del work, prepared, inputs, engine_content, kept, prior
    timings["engine_s"] = time.perf_counter() - t1
    meta["working_size"] = [int(out.shape[-1]), int(out.shape[-2])]
    textured = spec.texture and plan.model is not None and models is not None
    textured = textured and texture.applies((h, w), detail)
    meta["texture"] = textured
    if out.shape[-1] < w:  # made smaller than the photo: its edges come from the photo
        small = resize_long_side(clean, max(out.shape[-2:]))
        out = guided_upsample(out, small, clean, upscale=UPSCALERS[spec.upscaler])
    elif tuple(out.shape[-2:]) != (h, w):
        out = F.interpolate(out, size=(h, w), mode="bicubic", align_corners=False)
    if textured:  # the 100% view: the fast network's full-size texture below the strokes
        t3 = time.perf_counter()
        out = fast.paint_texture(plan, models, maps, detail, out, profile, report, cancelled)
        timings["texture_s"] = time.perf_counter() - t3
    out = color.finish(out.clamp_(0, 1), clean, mode, styles_matched=plan.uses_pictures)
    return out.clamp_(0, 1)


def _photo_look(
    plan: Plan,
    clean: torch.Tensor,
    work: torch.Tensor,
    styles: list[tuple[torch.Tensor, float]],
    keys: list[str | None],
    maps: list[torch.Tensor | None] | None,
    catalogue: Catalogue,
    ctx: _Context,
) -> torch.Tensor:
    """The photo look (daemon.imaging.photoreal): the photo recoloured, locally affinely, to the
    styles' pictures. A style with no picture (a model's style learned without one) takes its
    look from the engine's painting of the photo, so only then does the engine run."""
    looks = [p for p, _ in styles] if plan.uses_pictures else _pictures(plan, catalogue)
    ctx.meta["working_size"] = [int(work.shape[-1]), int(work.shape[-2])]
    if any(p is None for p in looks):
        painted = _paint(plan, work, work, styles, keys, maps, ctx)
        looks = [painted if p is None else p for p in looks]
    ctx.meta["texture"] = False
    t = time.perf_counter()
    if ctx.cancelled():
        raise JobCancelled("cancelled")
    ctx.report("moving the look onto the photo", 0.0, None)
    shares = [s.share for s in plan.styles]
    out = photoreal.photo_look(work, work, clean, looks, shares, maps)
    ctx.timings["photoreal_s"] = time.perf_counter() - t
    return out


@dataclass
class _Context:
    """What a job's stages share besides its pixels."""

    profile: DeviceProfile
    models: ModelLibrary | None
    report: Report
    cancelled: Cancelled
    sequences: SequenceStore | None
    client: bytes
    timings: dict[str, float]
    meta: dict
    frames: list


def _depth(plan: Plan, frames: list, size: tuple[int, int], meta: dict) -> torch.Tensor | None:
    """The job's depth map at the working size (0 far, 1 near), or None; a map of other
    proportions is stretched, with a note in the result's metadata."""
    desc = plan.spec.depth
    if desc is None:
        return None
    grey = pixels.decode_mask(desc, frame_bytes(frames, desc))
    fitted, note = depth.fit_depth(grey, size)
    meta["depth"] = {"range": plan.spec.depth_range, **({"note": note} if note else {})}
    return fitted


def _detail_size(plan: Plan, inputs: EngineInput, made: tuple[int, int]) -> tuple[int, int]:
    """(h, w) of the finest level the engine painted: the size it returned, or for an engine
    that enlarges its own result (hires: `detail_side`) the size it enlarged from."""
    side = getattr(plan.engine, "detail_side", None)
    if side is None:
        return made
    long = side(inputs)
    h, w = made
    scale = long / max(h, w)
    return max(1, round(h * scale)), max(1, round(w * scale))


def _style_maps(
    plan: Plan, frames: list, full: tuple[int, int], work: tuple[int, int]
) -> tuple[list[torch.Tensor | None] | None, torch.Tensor | None]:
    """Each plan style's map at the working size (None: everywhere), and the coverage at full
    size: the sum of the maps, a style without one counting 1 everywhere, clipped to 0..1."""
    if not plan.has_maps:
        return None, None
    maps, total = [], torch.zeros(1, 1, *full)
    for source in plan.styles:
        if source.map is None:
            maps.append(None)
            total += 1
            continue
        m = pixels.decode_mask(source.map, frame_bytes(frames, source.map))
        if tuple(m.shape[-2:]) != full:
            m = F.interpolate(m, size=full, mode="bilinear", align_corners=False)
        total += m
        maps.append(F.interpolate(m, size=work, mode="area") if work != full else m)
    return maps, total.clamp_(0, 1)


# Scans and photographs of paintings often keep the canvas edge or a strip of frame (The Starry
# Night's file has a white and a black line round it). Its straight edges would enter the style's
# statistics and come back as straight lines all over a result, so this share of each side of a
# style picture is left out.
STYLE_EDGE = 0.02


def trim_edges(img: torch.Tensor, share: float = STYLE_EDGE) -> torch.Tensor:
    """The picture less `share` of its height and width on each side."""
    h, w = img.shape[-2:]
    dy, dx = int(h * share), int(w * share)
    return img[..., dy : h - dy, dx : w - dx]


def _pictures(plan: Plan, catalogue: Catalogue) -> list[torch.Tensor | None]:
    """Each plan style's catalogue picture (edges trimmed), for an engine that works from a
    model; None where the style has none (a learned style without its painting)."""
    out = []
    for source in plan.styles:
        painting = source.painting
        has = painting is not None and "gatys" in painting.engines
        out.append(trim_edges(catalogue.picture(painting)) if has else None)
    return out


def _load_styles(
    plan: Plan, frames: list, catalogue: Catalogue
) -> tuple[list[tuple[torch.Tensor, float]], list[str | None]]:
    """The plan's style pictures as RGB 0..1 (edges trimmed) with their shares of the blend, and
    what identifies each (a catalogue painting's file and version, or the digest of the bytes a
    picture came in: not of a float copy)."""
    out, keys = [], []
    for source in plan.styles:
        if source.image is not None:
            data = frame_bytes(frames, source.image)
            img = pixels.decode(source.image, data).rgb.clamp(0, 1)
            keys.append("sent:" + hashlib.sha1(data).hexdigest())
        else:
            img = catalogue.picture(source.painting)
            keys.append(catalogue.picture_key(source.painting))
        out.append((trim_edges(img), source.share))
    return out, keys

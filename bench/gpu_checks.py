"""The GPU check's checks (bench/gpu_check.py runs them): inputs, tolerances, and what each runs.

A check is a function of a `Runner` (jobs on the checked device or on the CPU reference, through
make_plan and pipeline.run as the worker runs them) filling an `Outcome`: figures, failures,
rows for the timing table. `CHECKS` lists them in the order they run, each with its time cap.
"""

from __future__ import annotations

import contextlib
import logging
import re
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from common import REPO

from daemon import pipeline
from daemon.catalogue import Catalogue
from daemon.catalogue.model_library import ModelLibrary
from daemon.catalogue.styles import StyleLibrary
from daemon.devices import DeviceProfile, memory_budget
from daemon.engines import fast, hires
from daemon.io.images import read_image
from daemon.io.pixels import to_tensor
from daemon.nets.vgg import get_vgg
from daemon.optim import losses
from daemon.plan import make_plan
from daemon.training.train import TrainConfig, train
from shared.job import JobSpec, StyleRef
from shared.protocol import ImageDesc

DATA = REPO / "tests" / "data"
PHOTO = DATA / "chelsea.png"
PAINTINGS = REPO / "daemon" / "catalogue" / "styles"  # also training's styles
STYLE, OTHER = "vangogh-starry-night", "hokusai-great-wave"  # in the catalogue and the model
STYLE_FILE = PAINTINGS / f"{STYLE}.jpg"


# Tolerances. fp16 autocast was emulated on this project's CPU (every convolution's input,
# weights and output rounded to fp16, in fp32 arithmetic as cuDNN accumulates; it gave the same
# figures as the CPU's own, 400x slower, fp16 autocast) against fp32:
# - fast, one network pass at 384x256: |Δ| of the u8 output mean 0.09, 99th percentile 1, max 4
#   levels. Bounds 5x and 3x that; the max is not judged (pixels on the sigmoid's steep middle).
#   The out-of-memory fallback is held to the same against the budget-planned tiles: both run
#   the same tiles with the same thumbnail statistics (on the CPU: identical to the last bit).
PIXEL_MEAN, PIXEL_P99 = 0.5, 3.0
# - gatys, 30 L-BFGS (or Adam) steps at 192x128: the pixels went elsewhere (mean 12.6 levels,
#   p99 53 with L-BFGS; 5.3 and 28 with Adam) while the outcome stayed: style distance to the
#   painting within 1.5%, content distance to the photo within 0.8%; hires (fast base, 4 Adam
#   steps at 512x384): pixels mean 0.8, p99 8; distances within 0.1%. So optimised results are
#   judged by those two distances (CPU VGG19, fp32), each within this share of the CPU's.
QUALITY = 0.05
# - training, the first step at crop 64, batch 2 and at 128, 4: content, style and total loss
#   within 0.11% of fp32's. Bound: 1%.
TRAIN_LOSS = 0.01

TOLERANCES = (
    ("fast (device vs CPU)", f"mean |Δ| ≤ {PIXEL_MEAN}, p99 ≤ {PIXEL_P99} u8 levels",
     "fp16 emulated on the CPU: mean 0.09, p99 1 (max 4, not judged)"),
    ("gatys, hires (device vs CPU; fp16 vs fp32 on the device)",
     f"style and content distance within {QUALITY:.0%}",
     "fp16 emulated: pixels differ (gatys: mean 12.6 levels) but distances within 1.5%"),
    ("training step 1 (device vs CPU)", f"content, style, total loss within {TRAIN_LOSS:.0%}",
     "fp16 emulated: within 0.11%"),
    ("OOM fallback (vs budget-planned tiles)",
     f"mean |Δ| ≤ {PIXEL_MEAN}, p99 ≤ {PIXEL_P99} u8 levels",
     "the same tiles and statistics; fp16 rounding only"),
)  # fmt: skip


@dataclass(frozen=True)
class Sizes:
    """Inputs per mode: (height, width) of photos, iterations, training crop/batch/steps."""

    fast_small: tuple[int, int]
    gatys_small: tuple[int, int]
    gatys_steps: int
    hires_small: tuple[int, int]
    hires_base: int  # the ladder's base side on both devices (hires check)
    hires_steps: int
    train_small: tuple[int, int]  # crop, batch
    oom: tuple[tuple[int, int], ...]
    fast: tuple[tuple[int, int], ...]
    gatys: tuple[tuple[int, int], ...]
    hires: tuple[tuple[int, int], ...]
    timed_steps: int | None  # gatys and hires iterations when timed (None: the default)
    train: tuple[int, int, int]  # crop, batch, steps (the first 10 or a third are warm-up)
    side: int  # style distance side


FULL = Sizes(
    fast_small=(256, 384), gatys_small=(128, 192), gatys_steps=30, hires_small=(384, 512),
    hires_base=256, hires_steps=20, train_small=(64, 2), oom=((1536, 2048), (768, 1024)),
    fast=((1024, 1024), (2048, 2048), (2160, 3840)), gatys=((384, 512), (768, 1024)),
    hires=((2048, 2048), (2160, 3840)), timed_steps=None, train=(128, 4, 60), side=256,
)  # fmt: skip
SMOKE = Sizes(
    fast_small=(48, 64), gatys_small=(48, 64), gatys_steps=3, hires_small=(64, 96),
    hires_base=48, hires_steps=4, train_small=(32, 2), oom=((32, 2048),),
    fast=((48, 48), (36, 64)), gatys=((48, 64),), hires=((48, 64),), timed_steps=3,
    train=(32, 2, 3), side=64,
)  # fmt: skip


class CapReached(Exception):
    """A check ran past its time cap (or the run's budget)."""


@dataclass
class Outcome:
    """What a check found: one line of figures, failures, rows for the timing table."""

    detail: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    rows: list[dict] = field(default_factory=list)


@dataclass
class JobRun:
    out: np.ndarray  # H×W×3 u8
    meta: dict
    seconds: float  # the whole pipeline
    stages: list[tuple[float, str]]  # (seconds into the job, stage) at each change
    peak: int | None  # GPU bytes at the job's peak (CUDA)


def rgba(rgb: np.ndarray) -> bytes:
    """An RGB u8 array as an opaque RGBA frame."""
    alpha = np.full((*rgb.shape[:2], 1), 255, np.uint8)
    return np.ascontiguousarray(np.concatenate([rgb, alpha], 2)).tobytes()


@dataclass(frozen=True)
class FullPrecision(DeviceProfile):
    """A device's profile without autocast: fp32 on the device, the reference for its fp16."""

    @property
    def autocast_dtype(self) -> torch.dtype | None:
        return None


def picture(path: Path, hw: tuple[int, int]) -> np.ndarray:
    """The image at `path` resized (bicubic) to exactly (h, w), u8 RGB."""
    t = F.interpolate(to_tensor(read_image(path)[..., :3]), size=hw, mode="bicubic")
    return t[0].clamp(0, 1).mul(255).round().byte().permute(1, 2, 0).numpy()


class Runner:
    """Runs jobs in-process as the worker does, on the checked device or the CPU reference."""

    def __init__(self, device: torch.device, sizes: Sizes) -> None:
        self.device, self.sizes, self.cpu = device, sizes, torch.device("cpu")
        self.models = ModelLibrary()
        self.catalogue = Catalogue(StyleLibrary(), self.models)
        self.catalogue.refresh()
        self.deadline = float("inf")

    def cancelled(self) -> bool:
        return time.monotonic() > self.deadline

    def check_time(self) -> None:
        """Raise CapReached past the check's deadline (between jobs, training steps)."""
        if self.cancelled():
            raise CapReached

    def job(
        self,
        device: torch.device,
        photo: np.ndarray,
        engine: str,
        named: tuple[tuple[str, float], ...] = ((STYLE, 1.0),),
        pictures: tuple[np.ndarray, ...] = (),
        budget: int | None = None,
        fp32: bool = False,
        **fields,
    ) -> JobRun:
        """One job through make_plan and pipeline.run; `pictures` go as style images; `fp32`:
        without autocast."""
        self.check_time()
        h, w = photo.shape[:2]
        frames = [rgba(photo)]
        styles = [StyleRef(weight, name=name) for name, weight in named]
        for pic in pictures:
            frames.append(rgba(pic))
            styles.append(StyleRef(image=ImageDesc(len(frames), pic.shape[1], pic.shape[0])))
        spec = JobSpec(content=ImageDesc(1, w, h), styles=tuple(styles), engine=engine, **fields)
        profile = (FullPrecision if fp32 else DeviceProfile)(device, memory_budget(device, budget))
        plan = make_plan(spec, self.catalogue.snapshot, profile)
        stages: list[tuple[float, str]] = []
        cuda = device.type == "cuda"
        if cuda:
            torch.cuda.reset_peak_memory_stats(device)
        t0 = time.perf_counter()

        def report(stage: str, fraction: float, preview=None) -> None:
            if not stages or stages[-1][1] != stage:
                stages.append((time.perf_counter() - t0, stage))

        out = pipeline.run(
            plan, frames, self.catalogue, profile.for_job(), report, self.cancelled, self.models
        )
        seconds = time.perf_counter() - t0
        desc, data = out.images[0]
        arr = np.frombuffer(data, np.uint8).reshape(desc.height, desc.width, desc.channels)
        peak = torch.cuda.max_memory_allocated(device) if cuda else None
        return JobRun(arr[..., :3].copy(), out.metadata, seconds, stages, peak)


def pixel_diff(a: np.ndarray, b: np.ndarray) -> dict[str, float]:
    """|a − b| of two u8 images in levels: mean, 99th percentile, max."""
    if a.shape != b.shape:
        raise ValueError(f"shapes differ: {a.shape} and {b.shape}")
    d = np.abs(a.astype(np.int16) - b.astype(np.int16))
    return {"mean": float(d.mean()), "p99": float(np.percentile(d, 99)), "max": float(d.max())}


def pixel_failures(label: str, d: dict[str, float], mean: float, p99: float) -> list[str]:
    """The bounds `d` breaks (NaN breaks every bound)."""
    out = []
    if not d["mean"] <= mean:
        out.append(f"{label}: mean |Δ| {d['mean']:.2f} > {mean}")
    if not d["p99"] <= p99:
        out.append(f"{label}: p99 |Δ| {d['p99']:.1f} > {p99}")
    return out


def describe(label: str, d: dict[str, float]) -> str:
    return f"{label}: |Δ| mean {d['mean']:.2f}, p99 {d['p99']:.0f}, max {d['max']:.0f}"


CONTENT_SIDE = 1024  # content distances of larger pictures are taken at this long side


def distances(out: np.ndarray, photo: np.ndarray, painting: np.ndarray, side: int) -> dict:
    """Style distance of `out` to the painting (at `side` px) and content distance to the photo
    (at most CONTENT_SIDE px), with VGG19 on the CPU in fp32."""
    vgg = get_vgg(torch.device("cpu"))
    o, p, s = (to_tensor(a) for a in (out, photo, painting))
    o_c, p_c = (losses.resize_long_side(t, min(CONTENT_SIDE, max(t.shape[-2:]))) for t in (o, p))
    return {
        "style": losses.style_distance(vgg, o, s, side=side),
        "content": losses.content_distance(vgg, o_c, p_c),
    }


def compared(dev: dict, ref: dict, name: str = "CPU") -> str:
    return ", ".join(f"{k} {v:.4g} ({name} {ref[k]:.4g})" for k, v in dev.items())


def ratio_failures(label: str, dev: dict, ref: dict, share: float, name: str = "CPU") -> list[str]:
    """Each of `dev`'s figures more than `share` away from `ref`'s, relatively."""
    out = []
    for key, value in ref.items():
        r = dev[key] / value if value else float("nan")
        if not abs(r - 1) <= share:
            out.append(f"{label}: {key} {dev[key]:.4g} vs {name} {value:.4g} ({r - 1:+.1%})")
    return out


@contextlib.contextmanager
def same_ladder(base: int) -> Iterator[None]:
    """hires' base side set to `base` on every device (its default is 512 on CPUs, 1024 on
    GPUs), so both devices refine the same sizes."""
    saved = hires.BASE_SIDE_CPU, hires.BASE_SIDE_GPU
    hires.BASE_SIDE_CPU = hires.BASE_SIDE_GPU = base
    try:
        yield
    finally:
        hires.BASE_SIDE_CPU, hires.BASE_SIDE_GPU = saved


@contextlib.contextmanager
def fast_need(device: torch.device) -> Iterator[list[int]]:
    """What fast's network passes needed meanwhile, at most, in `forced_oom`'s unit: GPU bytes
    beyond what the process held before (CUDA); pixels of the largest pass (CPU)."""
    need = [0]
    if device.type == "cuda":
        base = torch.cuda.memory_allocated(device)
        torch.cuda.reset_peak_memory_stats(device)
        yield need
        need[0] = torch.cuda.max_memory_allocated(device) - base
        return
    forward = fast._forward

    def counting(net, x, *args):
        need[0] = max(need[0], x.shape[-2] * x.shape[-1])
        return forward(net, x, *args)

    fast._forward = counting
    try:
        yield need
    finally:
        fast._forward = forward


@contextlib.contextmanager
def forced_oom(device: torch.device, limit: int) -> Iterator[str]:
    """fast's network passes needing more than `limit` (`fast_need`'s unit) run out of memory:
    on CUDA the process's GPU memory is capped there; on the CPU such a pass raises
    torch.OutOfMemoryError (injected). Yields how, for the report."""
    if device.type == "cuda":
        torch.cuda.empty_cache()
        total = torch.cuda.get_device_properties(device).total_memory
        cap = torch.cuda.memory_allocated(device) + limit
        torch.cuda.set_per_process_memory_fraction(min(1.0, cap / total), device)
        try:
            yield f"GPU memory capped at {cap / 2**20:.0f} MiB"
        finally:
            torch.cuda.set_per_process_memory_fraction(1.0, device)
            torch.cuda.empty_cache()
        return
    forward = fast._forward

    def failing(net, x, *args):
        if x.shape[-2] * x.shape[-1] > limit:
            raise torch.OutOfMemoryError(f"injected: out of memory for {tuple(x.shape)}")
        return forward(net, x, *args)

    fast._forward = failing
    try:
        yield f"an OutOfMemoryError injected into passes over {limit} pixels"
    finally:
        fast._forward = forward


@contextlib.contextmanager
def warnings_of(name: str) -> Iterator[list[str]]:
    """The messages logged at WARNING and above by logger `name` meanwhile."""
    seen: list[str] = []
    handler = logging.Handler(logging.WARNING)
    handler.emit = lambda record: seen.append(record.getMessage())
    logger = logging.getLogger(name)
    logger.addHandler(handler)
    try:
        yield seen
    finally:
        logger.removeHandler(handler)


def check_fast(r: Runner, o: Outcome) -> None:
    photo = picture(PHOTO, r.sizes.fast_small)
    for label, named in (("one style", ((STYLE, 1.0),)), ("blend", ((STYLE, 0.5), (OTHER, 0.5)))):
        ref = r.job(r.cpu, photo, "fast", named, size=max(photo.shape[:2])).out
        dev = r.job(r.device, photo, "fast", named, size=max(photo.shape[:2])).out
        d = pixel_diff(dev, ref)
        o.detail.append(describe(label, d))
        o.failures += pixel_failures(label, d, PIXEL_MEAN, PIXEL_P99)


def judge(
    o: Outcome, label: str, run: JobRun, ref: JobRun, photo, painting, side: int, name: str = "CPU"
) -> None:
    """`run` against `ref` by their style and content distances, each within QUALITY."""
    q, q_ref = (distances(x.out, photo, painting[..., :3], side) for x in (run, ref))
    o.detail.append(
        f"{label}: {compared(q, q_ref, name)}; " + describe("pixels", pixel_diff(run.out, ref.out))
    )
    o.failures += ratio_failures(label, q, q_ref, QUALITY, name)


def check_gatys(r: Runner, o: Outcome) -> None:
    photo = picture(PHOTO, r.sizes.gatys_small)
    job = {"iterations": r.sizes.gatys_steps, "size": max(photo.shape[:2]), "seed": 0}
    with warnings_of("daemon") as seen:
        ref, dev = (r.job(d, photo, "gatys", **job) for d in (r.cpu, r.device))
    judge(o, "gatys", dev, ref, photo, read_image(STYLE_FILE), r.sizes.side)
    o.detail += [f"warning: {s}" for s in seen]


def check_hires(r: Runner, o: Outcome) -> None:
    photo = picture(PHOTO, r.sizes.hires_small)
    job = {"base": "fast", "iterations": r.sizes.hires_steps, "seed": 0}
    small = 512 << 20 if r.device.type == "cuda" else None  # tiles of ~160 px on the GPU
    with same_ladder(r.sizes.hires_base), warnings_of("daemon") as seen:
        ref = r.job(r.cpu, photo, "hires", **job)
        dev = r.job(r.device, photo, "hires", budget=small, **job)
    refined = [s for _, s in dev.stages if s.startswith("refine")]
    if not refined:
        o.failures.append(f"no level was refined on the device (stages: {dev.stages})")
    o.detail.append(f"device stages: {', '.join(refined)}")
    judge(o, "hires", dev, ref, photo, read_image(STYLE_FILE), r.sizes.side)
    o.detail += [f"warning: {s}" for s in seen]


def _train(r: Runner, device: torch.device, crop: int, batch: int, steps: int, **kw) -> list:
    """`steps` training steps of a fresh network on the catalogue's paintings and the test
    photos (`kw`: more TrainConfig fields): [(seconds into training, losses)] per step."""
    seen: list[tuple[float, dict]] = []
    t0 = time.perf_counter()

    def on_step(step: int, total: int, ema: dict) -> None:
        seen.append((time.perf_counter() - t0, dict(ema)))
        r.check_time()

    r.check_time()
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "m.safetensors"
        cfg = TrainConfig([PAINTINGS], DATA, out, crop, steps, batch, device=str(device), **kw)
        train(cfg, on_step)
    return seen


def check_training(r: Runner, o: Outcome) -> None:
    crop, batch = r.sizes.train_small
    ref = _train(r, r.cpu, crop, batch, 1, stem="patch")[0][1]
    dev = _train(r, r.device, crop, batch, 1, stem="patch")[0][1]
    dev, ref = ({k: x[k] for k in ("content", "style", "total")} for x in (dev, ref))
    o.detail.append(compared(dev, ref))
    o.failures += ratio_failures("step 1", dev, ref, TRAIN_LOSS)


def check_oom(r: Runner, o: Outcome) -> None:
    """Per size: the whole image, the tiles a small budget plans (thumbnail statistics), and the
    whole image again with memory for the tiles but not for it: the fallback must run and give
    the planned tiles' result."""
    for hw in r.sizes.oom:
        photo, side, label = picture(PHOTO, hw), max(hw), f"{hw[1]}x{hw[0]}"
        small = hw[0] * hw[1] * 400  # bytes: below fast's whole-image need, so it plans tiles
        with fast_need(r.device) as whole:
            normal = r.job(r.device, photo, "fast", size=side)
        with fast_need(r.device) as tiled:
            planned = r.job(r.device, photo, "fast", size=side, budget=small)
        if whole[0] <= tiled[0]:
            o.failures.append(
                f"{label}: the tiled path needs as much as the whole image ({tiled[0]:,} vs "
                f"{whole[0]:,}): an out-of-memory leaves its fallback no room"
            )
            continue
        with (
            forced_oom(r.device, (whole[0] + tiled[0]) // 2) as how,
            warnings_of("daemon.engines.fast") as seen,
        ):
            fallback = r.job(r.device, photo, "fast", size=side)
        if not any("out of memory" in s for s in seen):
            o.failures.append(f"{label}: no out-of-memory happened: the fallback did not run")
        d = pixel_diff(fallback.out, planned.out)
        o.failures += pixel_failures(f"{label} fallback", d, PIXEL_MEAN, PIXEL_P99)
        o.detail += [
            f"{label}: forced by {how}; {'; '.join(seen) or 'no warning'}",
            describe("vs the planned tiles", d),
            describe("vs the whole image (other statistics)", pixel_diff(fallback.out, normal.out)),
        ]


def engine_end(run: JobRun) -> float:
    """When the engine finished, in seconds into the job."""
    return run.meta["timings"]["prepare_s"] + run.meta["timings"]["engine_s"]


def _stage_times(run: JobRun) -> str:
    """The engine's seconds per stage kind (text up to its first comma or bracket), in order;
    set-up: from the engine's start to its first stage."""
    spans: dict[str, float] = {}
    marks = [(run.meta["timings"]["prepare_s"], "set-up"), *run.stages, (engine_end(run), "")]
    for (t, stage), (end, _) in zip(marks[:-1], marks[1:], strict=True):
        key = stage.split(",")[0].split(" (")[0]
        spans[key] = spans.get(key, 0.0) + max(0.0, end - t)
    return ", ".join(f"{k} {v:.1f} s" for k, v in spans.items())


def _row(job: str, hw: tuple[int, int], settings: str, run: JobRun, detail: str = "") -> dict:
    return {
        "job": job,
        "input": f"{hw[1]}x{hw[0]}",
        "settings": settings,
        "seconds": run.seconds,
        "engine": run.meta["timings"]["engine_s"],
        "detail": detail,
        "peak": run.peak,
    }


def _stylised(run: JobRun, photo: np.ndarray) -> list[str]:
    """A timed job's sanity: the input's size, and visibly changed."""
    if run.out.shape != photo.shape:
        return [f"output {run.out.shape} for input {photo.shape}"]
    change = pixel_diff(run.out, photo)["mean"]
    return [] if change >= 1 else [f"output barely differs from the photo (mean {change:.2f})"]


def time_fast(r: Runner, o: Outcome) -> None:
    for hw in r.sizes.fast:
        photo = picture(PHOTO, hw)
        for settings, fields in (
            ("working side 384", {}),
            ("network at full size", {"size": max(hw)}),
        ):
            runs = [r.job(r.device, photo, "fast", **fields) for _ in range(2)]
            best = min(runs, key=lambda x: x.seconds)
            o.failures += _stylised(best, photo)
            o.rows.append(_row("fast", hw, settings + ", best of 2", best))


def fp32_label(device: torch.device) -> str:
    """What fp32 means for the device's convolutions (cuDNN may use TF32)."""
    tf32 = device.type == "cuda" and torch.backends.cudnn.allow_tf32
    return "fp32, TF32 convolutions" if tf32 else "fp32"


def fp16_against_fp32(r: Runner, o: Outcome, run: JobRun, photo, **job) -> JobRun:
    """The same job on the device without autocast, and `run` judged against it: where the CPU
    would take minutes, fp32 on the device is the reference for fp16."""
    ref = r.job(r.device, photo, fp32=True, **job)
    painting = job["pictures"][0] if job.get("pictures") else read_image(STYLE_FILE)
    label = f"{job['engine']} fp16 at {photo.shape[1]}x{photo.shape[0]}"
    side = min(CONTENT_SIDE, max(photo.shape[:2]))  # fine texture: where fp16 would show
    judge(o, label, run, ref, photo, painting, side, "fp32")
    return ref


TOP_SCALE = re.compile(r"scale (\d+)/(\d+) ")  # gatys' stage: scale k/n (WxH)


def _gatys_row(run: JobRun, hw: tuple[int, int], steps: int, settings: str) -> dict:
    top = [t for t, s in run.stages if (m := TOP_SCALE.match(s)) and m[1] == m[2]]
    per_step = (engine_end(run) - top[0]) / steps if top else float("nan")
    detail = f"{per_step:.3f} s/step at the top scale"
    return _row("gatys", hw, f"{steps} L-BFGS steps per scale, {settings}", run, detail)


def time_gatys(r: Runner, o: Outcome) -> None:
    steps = r.sizes.timed_steps or JobSpec(content=ImageDesc(1, 1, 1), styles=()).iterations
    for hw in r.sizes.gatys:
        photo = picture(PHOTO, hw)
        job = {"engine": "gatys", "size": max(hw), "seed": 0, "iterations": steps}
        run = r.job(r.device, photo, **job)
        o.failures += _stylised(run, photo)
        o.rows.append(_gatys_row(run, hw, steps, "fp16 autocast"))
    ref = fp16_against_fp32(r, o, run, photo, **job)  # the largest
    o.rows.append(_gatys_row(ref, hw, steps, fp32_label(r.device)))


def time_hires(r: Runner, o: Outcome) -> None:
    steps = r.sizes.timed_steps or JobSpec(content=ImageDesc(1, 1, 1), styles=()).iterations
    for i, hw in enumerate(r.sizes.hires):
        photo = picture(PHOTO, hw)
        # a style picture as large as the photo: every level is refined (the shipped paintings,
        # 350-750 px, stop the refinement at ~1024 px)
        large = picture(STYLE_FILE, (round(max(hw) * 0.8), max(hw)))
        job = {"engine": "hires", "named": (), "pictures": (large,), "seed": 0, "iterations": steps}
        run = r.job(r.device, photo, **job)
        o.failures += _stylised(run, photo)
        settings = "style picture as large as the photo"
        o.rows.append(_row("hires", hw, settings, run, _stage_times(run)))
        if i == 0:  # the smallest
            ref = fp16_against_fp32(r, o, run, photo, **job)
            o.rows.append(
                _row("hires", hw, f"{settings}, {fp32_label(r.device)}", ref, _stage_times(ref))
            )
    run = r.job(r.device, photo, "hires", seed=0, iterations=steps)  # the largest
    o.failures += _stylised(run, photo)
    o.rows.append(_row("hires", hw, f"catalogue painting ({STYLE})", run, _stage_times(run)))


def time_training(r: Runner, o: Outcome) -> None:
    crop, batch, steps = r.sizes.train
    warm = min(10, steps // 3)
    cuda = r.device.type == "cuda"
    for precision in ("auto", "fp32") if cuda else ("auto",):
        seen = _train(r, r.device, crop, batch, steps, precision=precision, stem="patch")
        rate = (steps - warm) / max(seen[-1][0] - (seen[warm - 1][0] if warm else 0.0), 1e-9)
        row = {"job": "training", "input": f"{batch}x{crop}²", "seconds": seen[-1][0]}
        row["settings"] = (
            "fp16 autocast, gradient scaling" if cuda and precision == "auto" else "fp32"
        )
        row["engine"] = None
        row["peak"] = torch.cuda.max_memory_allocated(r.device) if cuda else None
        row["detail"] = f"{rate:.1f} steps/s ({rate * 3600:,.0f}/hour) after {warm} warm-up"
        o.rows.append(row)


@dataclass(frozen=True)
class Check:
    name: str
    what: str
    cap_s: float
    run: Callable[[Runner, Outcome], None]


CHECKS = (
    Check("fast", "fast, fp16 + channels_last vs CPU (one style, a blend)", 90, check_fast),
    Check("gatys", "gatys, fp16 autocast, L-BFGS vs CPU", 90, check_gatys),
    Check("hires", "hires refinement on the device in tiles vs CPU", 120, check_hires),
    Check("training", "training step 1, fp16 autocast + grad scaling vs CPU", 60, check_training),
    Check("oom-fallback", "fast after a forced out-of-memory vs planned tiles", 60, check_oom),
    Check("fast-timing", "fast at 1024², 2048², 3840x2160", 90, time_fast),
    Check("gatys-timing", "gatys at 512, 1024 px; fp16 vs fp32 at 1024", 120, time_gatys),
    Check("hires-timing", "hires at 2048², 3840x2160; fp16 vs fp32 at 2048²", 180, time_hires),
    Check("training-timing", "training steps at the shipped crop and batch", 90, time_training),
)

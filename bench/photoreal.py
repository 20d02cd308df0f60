"""The photo look (`--photoreal`, daemon.imaging.photoreal) against plain transfer and the colour
transfer tools do, on photo/reference pairs (../shared/guides/engines.md, "Photorealism").

Every job runs as the daemon's worker runs it (`make_plan` + `pipeline.run`, u8 RGB in and out),
the photo at 1024 px (long side). Per pair, in the same run:
- structure: SSIM of the output's luminance to the photo's (bench/photo_measures.py);
- look: the sliced Wasserstein distance between the Lab pixel distributions of output and
  reference, over the photo's own (look/photo) and over a global Lab mean and covariance
  transfer's (look/global);
- halos: the 100% fringe score (bench/view_measures.py) minus the photo's;
for the photo look, the global transfer, and plain transfer of the same mode (gatys at
`--plain-side` px and `--plain-iterations` steps, or fast at its default). Gatys pairs send the
reference as a picture; fast pairs name a shipped style (its painting is the reference).
Then the time of a photo-look job at 1920x1080, median of `--repeats`, in fast and gatys mode,
and on the first `--frames` frames of the two OpenCV sample clips at 320x240 (fast,
starry-night), the warping error (bench/video.py) of the photo look beside the clip's own and
plain fast mode's, frame by frame as a sequence's frames run (the look keeps no state: each
frame's is a function of that frame).
Writes docs/benchmarks.md's section and the gallery docs/gallery/photoreal.jpg.

    .venv/bin/python bench/photoreal.py [--quick] [--plain-iterations 40]
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import torch
from common import REPO, machine, publish, revision
from fine_view import Stylist, at_side
from photo_measures import global_transfer, ssim_luma, swd_lab
from PIL import Image, ImageDraw
from video import CLIPS, frames_of, mean_warping_error
from view_measures import fringe

from daemon.io.pixels import to_tensor
from daemon.pipeline import trim_edges
from shared.job import JobSpec, StyleRef
from shared.protocol import PixelFormat

log = logging.getLogger("bench")
BEGIN = "<!-- photoreal:begin (written by bench/photoreal.py) -->"
END = "<!-- photoreal:end -->"
DATA = REPO.parent / "shared" / "data"
SIDE = 1024
RGB8 = PixelFormat("u8", "RGBA", 3)
# (photo, reference, what the pair asks): gatys mode, the reference sent as a picture
GATYS_PAIRS = (
    ("content/scratch_lake.jpg", "content/plasma_EveningGlow.jpg", "day → sunset"),
    ("content/scratch_mansion.jpg", "content/gc_animal_polar_bear.jpg", "summer → winter"),
    ("content/gc_monument_colosseum.jpg", "content/scratch_city_with_water.jpg", "day → night"),
    ("content/scratch_forest.jpg", "content/plasma_FallenLeaf.jpg", "summer → autumn"),
    ("content/sklearn_china.jpg", "content/palapeli_cincinnati_bridge.jpg", "day → lights"),
    ("content/gc_monument_pontduGard.jpg", "style/hiroshige_inokashira_snow.png", "→ print"),
    ("content/scratch_village.jpg", "style/vangogh_starry_night.jpg", "→ painting"),
    ("content/mpl_grace_hopper.jpg", "style/vangogh_pere_tanguy.png", "portrait → painting"),
)
# fast mode: held-out photos (bench/holdout.txt) and shipped styles
FAST_PAIRS = (
    ("content/plasma_Path.jpg", "vangogh-starry-night", "fast"),
    ("content/gc_monument_chateaudeChenonceau.jpg", "hokusai-great-wave", "fast"),
    ("content/mate_LadyBird.jpg", "arcimboldo-spring", "fast"),
)
QUICK = (GATYS_PAIRS[0], FAST_PAIRS[0])


def load(path: str, side: int | None = None) -> np.ndarray:
    img = Image.open(DATA / path).convert("RGB")
    return at_side(img, side) if side else np.asarray(img)


class Runner(Stylist):
    def job(self, photo: np.ndarray, style: str | np.ndarray, mode: str, **fields) -> np.ndarray:
        """The daemon's result for `photo` with a catalogue style or a picture."""
        h, w, _ = photo.shape
        frames = [np.ascontiguousarray(photo).tobytes()]
        if isinstance(style, str):
            ref = StyleRef(1.0, name=style)
        else:
            ref = StyleRef(1.0, image=RGB8.describe(2, style.shape[1], style.shape[0]))
            frames.append(np.ascontiguousarray(style).tobytes())
        spec = JobSpec(content=RGB8.describe(1, w, h), styles=(ref,), engine=mode, **fields)
        return self.result(spec, frames)


def t(x: np.ndarray) -> torch.Tensor:
    return to_tensor(np.ascontiguousarray(x))


def measure(out: np.ndarray, photo: np.ndarray, reference: torch.Tensor, base: float, peer):
    o, p = t(out), t(photo)
    look = swd_lab(o, reference)
    return {
        "ssim": ssim_luma(o, p),
        "look/photo": look / base,
        "look/global": look / peer if peer else 1.0,
        "fringe+": fringe(o) - fringe(p),
    }


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="one gatys and one fast pair")
    p.add_argument("--plain-side", type=int, default=256)
    p.add_argument("--plain-iterations", type=int, default=40)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--frames", type=int, default=30)
    p.add_argument("--markdown", type=Path, default=REPO / "docs" / "benchmarks.md")
    p.add_argument("--gallery", type=Path, default=REPO / "docs" / "gallery" / "photoreal.jpg")
    args = p.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    torch.set_num_threads(args.threads)
    started = datetime.now(UTC)
    runner = Runner()
    pairs = QUICK if args.quick else (*GATYS_PAIRS, *FAST_PAIRS)
    rows, tiles = [], []
    for photo_path, style, label in pairs:
        mode = "fast" if label == "fast" else "gatys"
        photo = load(photo_path, SIDE)
        if mode == "fast":
            ref_t, ref_img, title = runner.painting(style), style, style
        else:
            ref_img = load(style, 1024)
            ref_t, title = trim_edges(t(ref_img)), Path(style).stem
        base = swd_lab(t(photo), ref_t)
        glob = (global_transfer(t(photo), ref_t)[0].permute(1, 2, 0) * 255).round().byte().numpy()
        peer = swd_lab(t(glob), ref_t)
        plain_fields = (
            {"size": args.plain_side, "iterations": args.plain_iterations, "seed": 0}
            if mode == "gatys"
            else {}
        )
        started_job = time.perf_counter()
        look = runner.job(photo, ref_img, mode, photoreal=True)
        look_s = time.perf_counter() - started_job
        plain = runner.job(photo, ref_img, mode, **plain_fields)
        row = {"pair": f"{Path(photo_path).stem} → {title}", "label": label, "mode": mode}
        for name, out in (("look", look), ("global", glob), ("plain", plain)):
            row[name] = measure(out, photo, ref_t, base, peer)
        row["look_s"] = look_s
        rows.append(row)
        log.info("%s: %s", row["pair"], {k: row[k] for k in ("look", "global", "plain")})
        tiles.append((row["pair"], label, photo, ref_t, plain, glob, look))
    timing = {}
    wide = load("content/scratch_lake.jpg")
    wide = np.asarray(Image.fromarray(wide).resize((1920, 1080), Image.Resampling.LANCZOS))
    for mode, style in (("fast", "vangogh-starry-night"), ("gatys", load(GATYS_PAIRS[0][1]))):
        times = []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            runner.job(wide, style, mode, photoreal=True)
            times.append(time.perf_counter() - t0)
        timing[mode] = statistics.median(times)
    video = {clip: warping(runner, clip, args.frames) for clip in CLIPS}
    if args.gallery and not args.quick:
        gallery(tiles).save(args.gallery, quality=74, optimize=True)
        log.info("wrote %s", args.gallery)
    publish(report(rows, timing, video, started, args), args.markdown, BEGIN, END)
    return 0


def warping(runner: Runner, clip: str, count: int) -> dict[str, float]:
    """Mean warping error over the clip's first `count` frames: the clip's, the photo look's and
    plain fast mode's (each frame alone)."""
    frames = frames_of(clip, (320, 240), count)
    out = {"clip": mean_warping_error(frames, frames)}
    for name, fields in (("look", {"photoreal": True}), ("fast", {})):
        outs = [runner.job(f, "vangogh-starry-night", "fast", **fields) for f in frames]
        out[name] = mean_warping_error(frames, outs)
    return out


def gallery(tiles: list) -> Image.Image:
    """One row per pair: photo | reference | plain | global transfer | photo look."""
    w, h, label = 192, 128, 14
    heads = ("photo", "reference", "plain", "global colour transfer", "photo look")
    sheet = Image.new("RGB", (w * len(heads), label + len(tiles) * (h + label)), "white")
    draw = ImageDraw.Draw(sheet)
    for c, head in enumerate(heads):
        draw.text((c * w + 4, 1), head, fill="black")
    for r, (pair, tag, photo, ref, plain, glob, look) in enumerate(tiles):
        y = label + r * (h + label)
        ref_img = (ref[0].permute(1, 2, 0).clamp(0, 1) * 255).round().byte().numpy()
        for c, img in enumerate((photo, ref_img, plain, glob, look)):
            tile = Image.fromarray(np.ascontiguousarray(img))
            tile.thumbnail((w, h), Image.Resampling.LANCZOS)
            sheet.paste(tile, (c * w + (w - tile.width) // 2, y + (h - tile.height) // 2))
        text = pair if tag == "fast" or tag.startswith("→") else f"{pair} ({tag})"
        text = text.replace("→", "->")  # the default font has no arrow
        draw.text((4, y + h), f"{text} [{'fast' if tag == 'fast' else 'gatys'}]", fill="black")
    return sheet


def report(rows: list[dict], timing: dict, video: dict, started: datetime, args) -> str:
    m = machine()
    keys = ("ssim", "look/photo", "look/global", "fringe+")
    lines = [
        BEGIN,
        "## The photo look (`--photoreal`)",
        "",
        f"`.venv/bin/python bench/photoreal.py` — run {started:%Y-%m-%d %H:%M} UTC, Impasto "
        f"{revision()}, {m['cpu']}, {m['nproc']} cores, torch {m['torch']}, "
        f"{args.threads} thread(s). Photos at {SIDE} px; plain gatys at "
        f"{args.plain_side} px, {args.plain_iterations} steps. Targets (issue 28): SSIM ≥ 0.85, "
        "look/photo ≤ 0.5, look/global ≤ 0.8, fringe+ ≤ 0.02.",
        "",
        "| pair | mode | photo look: SSIM / look÷photo / look÷global / fringe+ | global "
        "transfer: SSIM / look÷photo / fringe+ | plain: SSIM / look÷photo / look÷global |",
        "|---|---|---|---|---|",
    ]
    for r in rows:
        lk, gl, pl = r["look"], r["global"], r["plain"]
        lines.append(
            f"| {r['pair']} ({r['label']}) | {r['mode']} | {lk['ssim']:.3f} / "
            f"{lk['look/photo']:.2f} / {lk['look/global']:.2f} / {lk['fringe+']:+.3f} | "
            f"{gl['ssim']:.3f} / {gl['look/photo']:.2f} / {gl['fringe+']:+.3f} | "
            f"{pl['ssim']:.3f} / {pl['look/photo']:.2f} / {pl['look/global']:.2f} |"
        )
    lines.append("")
    for name in ("look", "global", "plain"):
        med = {k: statistics.median(r[name][k] for r in rows) for k in keys}
        worst = min(r[name]["ssim"] for r in rows)
        lines.append(
            f"- median, {name}: SSIM {med['ssim']:.3f} (lowest {worst:.3f}), look÷photo "
            f"{med['look/photo']:.2f}, look÷global {med['look/global']:.2f}, fringe+ "
            f"{med['fringe+']:+.3f}"
        )
    lines += [
        f"- time of a photo-look job at 1920x1080 (median of {args.repeats}, whole pipeline, "
        f"u8 in and out): fast {timing['fast']:.2f} s, gatys {timing['gatys']:.2f} s",
        *(
            f"- warping error on {clip} (first {args.frames} frames, 320x240): the clip itself "
            f"{v['clip']:.5f}, photo look {v['look']:.5f} ({v['look'] / v['clip']:.2f}x the "
            f"clip's), plain fast mode frame by frame {v['fast']:.5f}"
            for clip, v in video.items()
        ),
        "",
        END,
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())

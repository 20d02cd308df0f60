"""Benchmark: large images in fast and hires mode — wall time, the daemon's peak RSS, seams.

A real daemon subprocess (with `--max-memory`, 2G by default, so the memory budget, not the
machine, decides the tiles) receives u8 RGBA jobs over ZeroMQ:
- fast at 1920x1080, 3840x2160 and 7680x4320;
- hires (gatys base, few refinement steps) at 2048x2048 and 3840x2160.
Before each job the daemon's peak-RSS counter is reset (`/proc/PID/clear_refs` 5), and read
after it (`VmHWM`), so each figure is that job's peak for the whole daemon process (weights,
VGG19, buffers, everything).

Seams: for each tiled output, the mean squared gradient (along x across vertical tile borders,
along y across horizontal ones) in 4 px bands centred on the borders divided by the same over
the whole image; 1.0 means the borders look like anywhere else (target <= 1.05). The same ratio
at non-border positions with the same spacing is reported as the noise floor. 100% crops across
a border are written to docs/images/hires/.

From the repository root:
    .venv/bin/python bench/hires.py           # full run; rewrites its part of docs/benchmarks.md
    .venv/bin/python bench/hires.py --quick    # 1024/2048 px smoke run, writes nothing
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import os
import shlex
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from common import REPO, BenchDaemon, loadavg, machine, publish, revision
from PIL import Image

from daemon.cli import _memory as parse_size
from daemon.devices import DeviceProfile
from daemon.engines.fast import tile_plan
from daemon.engines.tiled_gatys import tile_for
from daemon.imageio import read_image
from shared.client import Client

log = logging.getLogger("bench")
BEGIN = "<!-- hires:begin (written by bench/hires.py) -->"
END = "<!-- hires:end -->"
DATA = REPO.parent / "shared" / "data"
PHOTO = "lomiri_bridge_4352x2448.jpg"
CROPS = REPO / "docs" / "images" / "hires"


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
    t = time.perf_counter()
    with Client(daemon.endpoint, timeout=120) as c:
        result = c.run(body, [rgba.tobytes()], timeout=7200)
    wall = time.perf_counter() - t
    peak = daemon.peak_rss()
    desc, data = result.image_bytes(0)
    out = np.frombuffer(data, np.uint8).reshape(desc.height, desc.width, 4)[..., :3]
    meta = result.body["metadata"]
    return out, {"wall": wall, "peak": peak, "engine_s": meta["timings"].get("engine_s", 0.0)}


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


def fast_borders(w: int, h: int, budget: int) -> tuple[list[int], list[int], int]:
    side = tile_plan(w * h, DeviceProfile(torch.device("cpu"), budget))
    if side is None:
        return [], [], 0
    return list(range(side, w, side)), list(range(side, h, side)), side


def hires_borders(w: int, h: int, budget: int) -> tuple[list[int], list[int], int]:
    side = tile_for(DeviceProfile(torch.device("cpu"), budget))
    return list(range(side, w, side)), list(range(side, h, side)), side


def save_crop(img: np.ndarray, x: int, y: int, name: str, size: int = 256) -> Path:
    CROPS.mkdir(parents=True, exist_ok=True)
    x0, y0 = max(0, x - size // 2), max(0, y - size // 2)
    path = CROPS / name
    Image.fromarray(np.ascontiguousarray(img[y0 : y0 + size, x0 : x0 + size])).save(path)
    return path


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--max-memory", default="2G")
    p.add_argument("--fast", nargs="*", default=["1920x1080", "3840x2160", "7680x4320"])
    p.add_argument("--hires", nargs="*", default=["2048x2048", "3840x2160"])
    p.add_argument("--iterations", type=int, default=20, help="hires base iterations per scale")
    p.add_argument("--markdown", type=Path, default=REPO / "docs" / "benchmarks.md")
    p.add_argument("--quick", action="store_true")
    args = p.parse_args(argv)
    command = "python " + " ".join(shlex.quote(a) for a in [sys.argv[0], *sys.argv[1:]])
    if args.quick:
        args.fast, args.hires, args.iterations, args.markdown = ["1024x768"], ["1024x768"], 4, None
    budget = parse_size(args.max_memory)
    started, t0 = dt.datetime.now(dt.timezone.utc), time.perf_counter()
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-hires-") as tmp:
        daemon = BenchDaemon(Path(tmp), "--max-memory", args.max_memory, "--client-timeout", "3600")
        try:
            run_job(daemon, photo_at(256, 256), engine="fast", styles=[{"name": "starry"}])
            idle = daemon.peak_rss()
            for mode, sizes in (("fast", args.fast), ("hires", args.hires)):
                for size in sizes:
                    w, h = map(int, size.split("x"))
                    fields = {"engine": mode, "styles": [{"name": "starry"}]}
                    if mode == "hires":  # the built-in picture of the same painting
                        fields.update(
                            iterations=args.iterations, seed=0, styles=[{"name": "starry-night"}]
                        )
                    out, m = run_job(daemon, photo_at(w, h), **fields)
                    bx, by, side = (fast_borders if mode == "fast" else hires_borders)(w, h, budget)
                    m.update(mode=mode, w=w, h=h, tile=side, seam=seam_ratio(out, bx, by))
                    off = [b + side // 2 for b in bx if b + side // 2 < w]
                    offy = [b + side // 2 for b in by if b + side // 2 < h]
                    m["floor"] = seam_ratio(out, off, offy)
                    if bx and args.markdown:
                        m["crop"] = save_crop(
                            out, bx[0], by[0] if by else h // 2, f"{mode}-{w}x{h}.png"
                        )
                    rows.append(m)
                    log.info(
                        "%s %dx%d: %.1f s wall, peak RSS %.2f GB, tile %s, seam %.3f (floor %.3f),"
                        " load %s",
                        mode,
                        w,
                        h,
                        m["wall"],
                        m["peak"] / 2**30,
                        side,
                        m["seam"],
                        m["floor"],
                        loadavg(),
                    )
        finally:
            daemon.stop()
    info = machine()
    elapsed = time.perf_counter() - t0
    lines = [
        BEGIN,
        "## Large images: fast and hires",
        "",
        f"Run {started:%Y-%m-%d %H:%M} UTC, {elapsed / 60:.1f} min, on {info['cpu']} "
        f"({info['nproc']} cores, {info['ram']}), torch {info['torch']}, Impasto {revision()}. "
        f"Daemon with `--max-memory {args.max_memory}`; its peak RSS after a small warm-up job: "
        f"{idle / 2**30:.2f} GB. Command: `{command}`",
        "",
        "| mode | size | Mpx | wall (s) | engine (s) | s per Mpx | peak RSS (GB) | tile (px) "
        "| seam ratio | floor |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for m in rows:
        mpx = m["w"] * m["h"] / 1e6
        lines.append(
            f"| {m['mode']} | {m['w']}x{m['h']} | {mpx:.1f} | {m['wall']:.1f} | "
            f"{m['engine_s']:.1f} | {m['wall'] / mpx:.2f} | {m['peak'] / 2**30:.2f} | "
            f"{m['tile'] or 'untiled'} | {m['seam']:.3f} | {m['floor']:.3f} |"
        )
    lines += [
        "",
        "hires: gatys base at 512 px with "
        f"{args.iterations} iterations per scale, then refinement steps per doubling "
        "(`refine_steps`: a fifth of the iterations, halved per doubling, at least 4). *seam "
        "ratio*: gradient energy in 4 px bands on the tile borders / in bands 8–40 px beside them "
        "(target <= 1.05); *floor*: the same ratio for bands halfway between borders (what no "
        "seam looks like).",
        "",
    ]
    crops = [m for m in rows if m.get("crop")]
    if crops:
        lines.append("100% crops centred on a tile corner (borders run through the middle):")
        lines.append("")
        for m in crops:
            rel = os.path.relpath(m["crop"], REPO / "docs")
            lines.append(f"![{m['mode']} {m['w']}x{m['h']}]({rel})")
        lines.append("")
    lines += [END, ""]
    publish("\n".join(lines), args.markdown, BEGIN, END)
    return 0


if __name__ == "__main__":
    sys.exit(main())

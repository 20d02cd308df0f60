"""How long the Krita plugin's own Python keeps Krita's UI thread for a selection job at 4K.

Times, with the fake `krita` module of the tests (so only the plugin's Python is measured, not
Krita's C++), reading a 3840x2160 8-bit layer with a feathered selection (`capture_layer`) and
writing a result back (`write_result`): now (the selection becomes a transparency mask) and as
the plugin did it before (the selection baked into the result's alpha by a per-pixel Python loop,
`mask_alpha` of commit 4b51787, loaded from git).

    .venv/bin/python bench/krita_selection.py [--repeats 5] [--markdown docs/benchmarks.md]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
import types
from pathlib import Path

import numpy as np
from common import REPO, machine, publish, revision

sys.path.insert(0, str(REPO))
from krita_plugin.impasto.krita_io import capture_layer, write_result  # noqa: E402
from tests.krita import fake_krita  # noqa: E402

BEFORE = "4b51787"
W, H = 3840, 2160
BEGIN, END = "<!-- krita-selection:begin -->", "<!-- krita-selection:end -->"


def old_mask_alpha() -> types.ModuleType:
    """`mask_alpha` as the plugin had it before the transparency mask."""
    source = subprocess.run(
        ["git", "show", f"{BEFORE}:krita_plugin/impasto/pixels.py"],
        cwd=REPO, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    module = types.ModuleType("old_pixels")
    sys.modules["old_pixels"] = module  # dataclasses look their module up
    exec(compile(source, "old_pixels.py", "exec"), module.__dict__)
    return module


def document() -> tuple[fake_krita.Document, fake_krita.Node]:
    fake_krita.install()
    doc = fake_krita.Krita.instance().open(fake_krita.Document(W, H))
    rng = np.random.default_rng(0)
    layer = doc.add_layer("photo", rng.integers(0, 256, (H, W, 4), np.uint8))
    mask = np.zeros((H, W), np.uint8)
    mask[200:2000, 300:3500] = 255
    mask[200:2000, 290:300] = np.linspace(0, 255, 10, dtype=np.uint8)  # a feathered edge
    selection = fake_krita.Selection(mask)
    # Krita answers bounds from its own bookkeeping; the fake scans every pixel each time, which
    # is not the plugin's cost: answer from a scan done once here.
    rect = selection._rect()
    selection._rect = lambda: rect
    bounds = layer.bounds()
    layer.bounds = lambda: bounds
    doc.setSelection(selection)
    return doc, layer


def timed(fn, *args) -> tuple[float, object]:
    t = time.perf_counter()
    out = fn(*args)
    return time.perf_counter() - t, out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--markdown", type=Path, default=None)
    args = parser.parse_args()
    old = old_mask_alpha()
    now_capture, now_write, then_mask = [], [], []
    for _ in range(args.repeats):
        doc, layer = document()
        seconds, capture = timed(capture_layer, doc, layer)
        now_capture.append(seconds)
        now_write.append(timed(write_result, capture, capture.data, "Impasto: test")[0])
        r = capture.region
        mask = bytes(doc.selection().pixelData(r.x, r.y, r.width, r.height))
        fmt = old.pixel_format("RGBA", "U8")
        then_mask.append(timed(old.mask_alpha, capture.data, fmt, mask)[0])
    now = [a + b for a, b in zip(now_capture, now_write, strict=True)]
    info = machine()
    text = "\n".join(
        [
            BEGIN,
            "## Krita: the plugin's Python on the UI thread for a 4K selection job",
            "",
            f"`.venv/bin/python bench/krita_selection.py --repeats {args.repeats}` on "
            f"{info['cpu']} ({info['nproc']} cores), revision {revision()}. A {W}x{H} 8-bit "
            "layer with a feathered selection, fake `krita` module (Krita's own C++ work is not "
            "in these figures). Medians:",
            "",
            "| step | seconds |",
            "|---|---|",
            f"| now: `capture_layer` (layer + selection) | {statistics.median(now_capture):.3f} |",
            f"| now: `write_result` (layer + its mask) | {statistics.median(now_write):.3f} |",
            f"| now: total | {statistics.median(now):.3f} |",
            f"| before ({BEFORE}): baking the selection into alpha (`mask_alpha`) alone | "
            f"{statistics.median(then_mask):.3f} |",
            "",
            END,
        ]
    )  # fmt: skip
    publish(text, args.markdown, BEGIN, END)
    return 0


if __name__ == "__main__":
    sys.exit(main())

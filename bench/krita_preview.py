"""Live preview latency in real Krita: from a change of a docker setting to the new preview.

The test driver plugin turns the docker's live preview on for a 1024x1024 8-bit photo layer in
fast mode and changes the strength PREVIEWS times, each as soon as the previous preview is shown;
the controller times each from the tick that saw the change to the preview's arrival (thumbnail
made by Krita, a fast job on it through a real daemon on the same machine, pixels back). The
first preview counts from turning the preview on. A 10 ms timer records the longest UI freeze
meanwhile. In the system's Krita and in every Krita the chroots hold (trixie 5.2, forky 5.3).

    .venv/bin/python bench/krita_preview.py [--markdown docs/benchmarks.md]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

import numpy as np
from common import REPO, BenchDaemon, loadavg, machine, publish, revision

sys.path.insert(0, str(REPO))
from daemon.io.images import read_image, resize_array  # noqa: E402
from tests.krita.krita_harness import run_in_each_krita  # noqa: E402

SIDE = 1024
PREVIEWS = 10
BEGIN, END = "<!-- krita-preview:begin -->", "<!-- krita-preview:end -->"
PHOTO = REPO / "docs" / "images" / "mont-st-michel.png"


def photo_bgra() -> np.ndarray:
    rgb = resize_array(read_image(PHOTO)[..., :3], SIDE)
    canvas = np.zeros((SIDE, SIDE, 3), np.uint8)
    canvas[: rgb.shape[0], : rgb.shape[1]] = rgb
    return np.concatenate([canvas[..., ::-1], np.full((SIDE, SIDE, 1), 255, np.uint8)], axis=2)


def cases(work: Path, raw: Path) -> list[dict]:
    return [
        {"name": "preview", "depth": "U8", "pixels": str(raw), "preview": True,
         "previews": PREVIEWS, "probe": True, "kra": str(work / "preview.kra")}
    ]  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--markdown", type=Path, default=None)
    args = parser.parse_args()
    pixels = photo_bgra().tobytes()
    with tempfile.TemporaryDirectory() as tmp:
        daemon = BenchDaemon(Path(tmp))
        try:
            rows = run_in_each_krita(daemon.endpoint, pixels, cases, (SIDE, SIDE))
        finally:
            daemon.stop()
    info = machine()
    lines = [
        BEGIN,
        "## Krita: live preview latency",
        "",
        f"`.venv/bin/python bench/krita_preview.py` on {info['cpu']} ({info['nproc']} cores), "
        f"revision {revision()}, load {loadavg()}: real Krita under Xvfb, the docker's live "
        f"preview of a {SIDE}x{SIDE} 8-bit photo layer in fast mode (a thumbnail of at most "
        f"512 px through a real daemon), the strength changed {PREVIEWS - 1} times, each "
        "as soon as the previous preview showed; latency from the controller tick that saw the "
        "change to the preview in the docker (the first from turning the preview on, which "
        "also loads the model).",
        "",
        "| Krita | median latency | min | max | first | preview size | longest UI freeze |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lat = r["latencies"][1:]
        lines.append(
            f"| {r['krita']} | {1000 * statistics.median(lat):.0f} ms | {1000 * min(lat):.0f} ms "
            f"| {1000 * max(lat):.0f} ms | {1000 * r['latencies'][0]:.0f} ms "
            f"| {r['preview_size'][0]}x{r['preview_size'][1]} "
            f"| {1000 * r['ui_worst_gap_s']:.0f} ms |"
        )
    lines += ["", END]
    publish("\n".join(lines), args.markdown, BEGIN, END)
    return 0


if __name__ == "__main__":
    sys.exit(main())

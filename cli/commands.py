"""The CLI's other commands: run the daemon, train, make keys, list styles, show the status.

The daemon and the training code are imported inside their commands, so only `impasto daemon` and
the training commands load torch.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
from pathlib import Path

import zmq

from cli.connection import client
from shared.client import default_endpoint
from shared.errors import BadImage, BadRequest
from shared.keys import remote_dir

log = logging.getLogger("impasto")


def cmd_daemon(args: argparse.Namespace) -> int:
    from daemon import logs
    from daemon.server import Daemon, DaemonConfig

    path = logs.setup(args.log_level, args.log_file)
    config = DaemonConfig(
        endpoint=args.endpoint or default_endpoint(),
        device=args.device,
        memory_budget=args.max_memory,
        keys=args.keys,
        client_timeout=args.client_timeout,
        max_queue=args.max_queue,
        style_dirs=args.styles_dir + [_user_data_dir() / "styles"],
        model_dirs=args.models_dir + [_user_data_dir() / "models"],
        vgg_weights=args.vgg_weights,
        user_dir=_user_data_dir(),
    )
    try:
        daemon = Daemon(config)
    except FileNotFoundError as exc:
        raise BadRequest(str(exc)) from None
    except zmq.ZMQError as exc:
        raise BadRequest(f"cannot listen on {config.endpoint}: {exc}") from None
    if path:
        log.info("logging to %s", path)

    def stop(signum: int, _frame: object) -> None:
        log.info("signal %d: stopping", signum)
        daemon.stop()

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    print(f"impasto daemon listening on {daemon.endpoint}", flush=True)
    daemon.serve()
    return 0


def _user_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "impasto"


def run_training(run, cfg, on_step, bar, verb: str) -> dict:
    """`run(cfg, on_step)` (train, distill, train_upscaler) with its errors typed for the user
    (missing images: BadImage; what cannot be done, e.g. resuming another model: BadRequest)."""
    try:
        return run(cfg, on_step)
    except FileNotFoundError as exc:
        raise BadImage(str(exc)) from None
    except RuntimeError as exc:
        raise BadRequest(f"cannot {verb}: {exc}") from None
    finally:
        bar.close()


def check_training_args(args: argparse.Namespace, *positive: str) -> None:
    """BadRequest unless --out names a .safetensors file and each of `positive` is at least 1."""
    if args.out.suffix != ".safetensors":
        raise BadRequest("--out must end in .safetensors")
    for name in positive:
        if getattr(args, name) < 1:
            raise BadRequest(f"--{name} must be at least 1")


def l1_steps(bar):
    """`on_step(step, total, l1)` for a training loop with one L1 loss: the progress bar (a
    resumed run's rate and ETA count from where it resumed) and a log line every 50 steps."""

    def on_step(step: int, total: int, l1: float) -> None:
        if bar.n == 0 and step > 1:  # a resumed run: rate and ETA count from here
            bar.reset(total)
            bar.initial = bar.n = step - 1
        bar.n = step
        bar.set_postfix(l1=f"{l1:.4g}", refresh=True)
        if step % 50 == 0:
            log.info("step %d/%d l1=%.5g", step, total, l1)

    return on_step


def cmd_train(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from daemon.training.train import TrainConfig, train

    check_training_args(args, "size", "steps", "batch")
    if args.style_side is not None and args.style_side < 16:
        raise BadRequest("--style-side must be at least 16")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    cfg = TrainConfig(
        styles=args.styles,
        content=args.content,
        out=args.out,
        size=args.size,
        steps=args.steps,
        batch=args.batch,
        content_weight=args.content_weight,
        style_weight=args.style_weight,
        tv_weight=args.tv_weight,
        lr=args.lr,
        seed=args.seed,
        device=args.device,
        resume=args.resume,
        extend=args.extend,
        checkpoint_seconds=60 * args.checkpoint_minutes,
        manifest=args.manifest,
        hold_out=args.hold_out,
        init_from=args.init_from,
        style_side=args.style_side,
        stem=args.stem,
        precision=args.precision,
        command="impasto " + " ".join(sys.argv[1:]),
    )
    # under torchrun only the first process draws the bar and logs (RANK is torchrun's variable)
    bar = tqdm(
        total=args.steps, file=sys.stderr, unit="step", disable=os.environ.get("RANK", "0") != "0"
    )

    def on_step(step: int, total: int, ema: dict) -> None:
        if bar.n == 0 and step > 1:  # a resumed run: rate and ETA count from here
            bar.reset(total)
            bar.initial = bar.n = step - 1
        bar.n = step
        bar.set_postfix({k: f"{v:.3g}" for k, v in ema.items()}, refresh=True)
        if step % 50 == 0:
            log.info("step %d/%d %s", step, total, " ".join(f"{k}={v:.4g}" for k, v in ema.items()))

    card = run_training(train, cfg, on_step, bar, "train")
    print(f"wrote {args.out} ({card['training']['steps']} steps)")
    return 0


def cmd_distill(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from daemon.training.distill import DistillConfig, distill

    check_training_args(args, "size", "batch")
    if args.stem_steps < 0 or args.steps < 0:
        raise BadRequest("--stem-steps and --steps must not be negative")
    if not args.teacher.is_file():
        raise BadRequest(f"no teacher model {args.teacher}")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    cfg = DistillConfig(
        teacher=args.teacher,
        content=args.content,
        out=args.out,
        stem=args.stem,
        hold_out=args.hold_out,
        feature_steps=args.stem_steps,
        steps=args.steps,
        size=args.size,
        batch=args.batch,
        lr=args.lr,
        seed=args.seed,
        command="impasto " + " ".join(sys.argv[1:]),
    )
    bar = tqdm(total=args.stem_steps + args.steps, file=sys.stderr, unit="step")

    def on_step(stage: str, step: int, total: int, loss: float) -> None:
        bar.update(1)
        bar.set_postfix({"stage": stage, "loss": f"{loss:.4g}"}, refresh=False)
        if step % 250 == 0 or step == total:
            log.info("%s step %d/%d loss=%.5g", stage, step, total, loss)

    card = run_training(distill, cfg, on_step, bar, "distill")
    psnr = card["distillation"].get("psnr_vs_teacher_db")
    print(f"wrote {args.out}" + (f" (PSNR against the teacher {psnr} dB)" if psnr else ""))
    return 0


def cmd_train_upscaler(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from daemon.training.upscaler import UpscalerConfig, train_upscaler

    check_training_args(args, "steps", "batch", "width", "depth")
    if args.patch < 16 or args.patch % 2:
        raise BadRequest("--patch must be an even number of at least 16")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    names = (
        "content",
        "out",
        "steps",
        "batch",
        "patch",
        "lr",
        "width",
        "depth",
        "hold_out",
        "resume",
        "seed",
        "checkpoint_minutes",
        "manifest",
    )
    cfg = UpscalerConfig(
        **{k: getattr(args, k) for k in names}, command="impasto " + " ".join(sys.argv[1:])
    )
    bar = tqdm(total=args.steps, file=sys.stderr, unit="step")
    card = run_training(train_upscaler, cfg, l1_steps(bar), bar, "train")
    print(f"wrote {args.out} ({card['training']['steps']} steps)")
    return 0


def cmd_train_texture(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from daemon.training.texture_student import TextureConfig, train_texture

    check_training_args(args, "steps", "batch", "blocks")
    if args.size < 32 or args.size % 4 or min(args.widths) < 1:
        raise BadRequest("--size must be a multiple of 4 of at least 32, --widths at least 1")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    cfg = TextureConfig(
        teacher=args.teacher,
        content=args.content,
        out=args.out,
        widths=tuple(args.widths),
        residual_blocks=args.blocks,
        hold_out=args.hold_out,
        steps=args.steps,
        size=args.size,
        batch=args.batch,
        lr=args.lr,
        seed=args.seed,
        command="impasto " + " ".join(sys.argv[1:]),
    )
    bar = tqdm(total=args.steps, file=sys.stderr, unit="step")
    card = run_training(train_texture, cfg, l1_steps(bar), bar, "train")
    print(f"wrote {args.out} ({card['texture_distillation']['steps']} steps)")
    return 0


def cmd_keys(args: argparse.Namespace) -> int:
    from daemon.security import create_keys

    for line in create_keys(args.dir, args.client):
        print(line)
    print(
        f"start the daemon with: impasto daemon --endpoint tcp://0.0.0.0:5747 --keys {args.dir}\n"
        f"on each client, copy {args.dir / 'daemon.key'} to {remote_dir() / 'server.key'} and "
        f"its clients/NAME.key_secret to {remote_dir() / 'client.key_secret'}"
    )
    return 0


def cmd_styles(args: argparse.Namespace) -> int:
    with client(args) as daemon:
        styles = daemon.styles()
    width = max((len(s["name"]) for s in styles), default=4)
    for s in styles:
        who = f"{s['title']}, {s['artist']}" if s.get("artist") else s.get("title", "")
        engines = ",".join(s.get("engines", []))
        models = f"model {','.join(s['models'])}" if s.get("models") else "no fast model"
        print(f"{s['name']:<{width}}  {engines:<16} {models:<18} {who}")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    with client(args) as daemon:
        st = daemon.status()
    dev = st["device"]
    print(f"impasto daemon {st['version']} on {daemon.endpoint}")
    print(
        f"device {dev['device']}, memory budget {dev['memory_budget'] / 2**30:.1f} GB, "
        f"up {st['uptime_s']:.0f} s"
    )
    print(f"{st['running']} running, {st['queued']} queued")
    for job in st["jobs"]:
        ident = job.get("id", "(another client)")
        print(
            f"  {ident}  {job['engine']}  {job['state']}  "
            f"{100 * job['fraction']:.0f}%  {job['stage']}"
        )
    return 0

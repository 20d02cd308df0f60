"""The training loop: VGG19 perceptual losses, a style drawn per step, Adam, checkpoints, resume.

Content loss at relu3_1 against the input photo; style loss (Gram, as daemon.optim.losses) over
relu1_1..relu4_1 against the drawn style's targets, computed once per style; the loss network
runs only to relu4_1. `extend` adds styles to an existing model and trains only their norm pairs;
`init_from` starts every weight of a new model from an existing one (styles matched by name, new
styles' norm pairs at the mean of the old ones) and trains them all.

Data-parallel: started by `torchrun --nproc-per-node N` (PyTorch DDP, gloo on CPU, NCCL on CUDA),
every process draws the same style and the same global batch from the same seeded generator and
works on its 1/N slice of it; DDP averages the gradients, which for these per-sample-mean losses
and per-sample instance norm is the one-process gradient of the global batch (in float64 the two
agree to ~1e-14; in float32 to ~2e-6, the rounding of two half-batch means: Adam's first steps can
amplify that, tests/daemon/test_training_ddp.py says how it compares them). Only rank 0 writes
checkpoints and logs.
"""

from __future__ import annotations

import base64
import contextlib
import io
import logging
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from PIL import Image

from daemon.catalogue.styles import shipped_names
from daemon.devices import choose_device
from daemon.io.images import read_image
from daemon.io.pixels import to_tensor
from daemon.nets.fast_net import StyleNet
from daemon.nets.model_files import architecture, load_model, save_model
from daemon.nets.vgg import get_vgg
from daemon.optim import losses
from daemon.pipeline import trim_edges
from daemon.training.checkpoint import progress_tensors, restore_moments
from daemon.training.data import (
    content_files,
    image_files,
    load_photos,
    random_batch,
    read_hold_out,
)

log = logging.getLogger(__name__)

CONTENT_LAYER = "relu3_1"
STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1")
# Paintings are seen at this many times the crop size unless `style_side` says otherwise (a larger
# side teaches larger strokes). The network then paints strokes of the painting's size, seen at
# 2x the crop, for a picture of about that size: fast mode's working side (daemon.engines.fast)
# was chosen by measurement for the shipped model trained this way.
STYLE_SIDE_FACTOR = 2


@dataclass
class TrainConfig:
    styles: list[Path]
    content: list[Path] | Path
    out: Path
    size: int = 128
    steps: int = 1000
    batch: int = 4
    content_weight: float = 1.0
    style_weight: float = 0.01
    tv_weight: float = 1e-4
    lr: float = 1e-3
    seed: int = 0
    device: str | None = None
    resume: bool = False
    extend: Path | None = None
    checkpoint_seconds: float = 3600.0
    precision: str = "auto"  # auto (fp16 on CUDA, fp32 elsewhere), fp32, bf16, fp16
    command: str = ""
    manifest: Path | None = None  # TSV (file, license, note columns) naming each painting's licence
    hold_out: Path | None = None  # file names (one per line) kept out of the content photos
    init_from: Path | None = None  # start every weight from this model (styles matched by name)
    style_side: int | None = None  # long side the paintings are seen at (default size × 2)
    stem: str | None = None  # a new network's first layers (fast_net.STEMS); None: conv

    @property
    def painting_side(self) -> int:
        return self.style_side or self.size * STYLE_SIDE_FACTOR


def style_name(path: Path) -> str:
    return re.sub(r"[^a-z0-9]+", "-", path.stem.lower()).strip("-")


def precision_dtype(precision: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype for training, None for fp32.

    `auto` is fp16 on CUDA and fp32 elsewhere: on this project's 2-core CPU bf16 autocast made
    the training step slower, not faster (docs/benchmarks.md, "Training speed").
    """
    if precision == "auto":
        return torch.float16 if device.type == "cuda" else None
    return {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}[precision]


def checkpoint_path(out: Path) -> Path:
    return out.with_name(out.stem + ".ckpt.safetensors")


def read_manifest(path: Path | None) -> dict[str, dict[str, str]]:
    """{file name: {"licence", "painting"}} from a TSV with `file`, `license`, `note` columns."""
    if path is None:
        return {}
    rows = [line.split("\t") for line in path.read_text(encoding="utf-8").splitlines() if line]
    head = rows[0]
    col = {name: head.index(name) for name in ("file", "license", "note") if name in head}
    if "file" not in col or "license" not in col:
        raise ValueError(f"{path} needs 'file' and 'license' columns")
    out = {}
    for row in rows[1:]:
        cells = {k: row[i].strip() if i < len(row) else "" for k, i in col.items()}
        out[Path(cells["file"]).name] = {
            "licence": cells["license"],
            "painting": cells.get("note", "").split(";")[0].strip(),  # drop file-level notes
        }
    return out


def _thumbnail(rgb: torch.Tensor, side: int = 96, fmt: str = "PNG") -> str:
    img = Image.fromarray(rgb[0].mul(255).round().byte().permute(1, 2, 0).numpy())
    img.thumbnail((side, side), Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    img.save(buf, fmt, **({"quality": 92} if fmt == "JPEG" else {}))
    return base64.b64encode(buf.getvalue()).decode()


PAINTING_SIDE = 512  # the painting travels in the card, so gatys and hires can use the style


def _distributed(device: torch.device) -> tuple[int, int]:
    """(rank, world size); joins torchrun's process group when started by torchrun."""
    import torch.distributed as dist

    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    if dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def _rank_device(requested: str | None) -> torch.device:
    device = choose_device(requested)
    if device.type == "cuda" and "LOCAL_RANK" in os.environ:
        device = torch.device("cuda", int(os.environ["LOCAL_RANK"]))
        torch.cuda.set_device(device)
    return device


def _init_from(net: StyleNet, path: Path, names: list[str]) -> None:
    """Copy every weight of the model at `path` into `net`; norm pairs by style name."""
    base, base_card, _ = load_model(path)
    if (base.widths, base.residual_blocks, base.stem) != (
        net.widths,
        net.residual_blocks,
        net.stem,
    ):
        raise RuntimeError(f"{path} has another architecture; cannot start from it")
    index = {s["name"]: i for i, s in enumerate(base_card["styles"])}
    state = base.state_dict()
    with torch.no_grad():
        for name, p in net.named_parameters():
            if not name.endswith(("scale", "shift")):
                p.copy_(state[name])
                continue
            for row, style in enumerate(names):
                p[row] = state[name][index[style]] if style in index else state[name].mean(0)
    log.info(
        "started from %s (%d of %d styles matched)",
        path,
        sum(n in index for n in names),
        len(names),
    )


def _stem(cfg: TrainConfig) -> str:
    """The network's stem: the resumed run's, else the --init-from or --extend model's, else
    cfg.stem (default conv); a cfg.stem that contradicts the model's is refused."""
    sources = [checkpoint_path(cfg.out), cfg.out] if cfg.resume else [cfg.init_from, cfg.extend]
    for source in sources:
        if source is not None and source.exists():
            stem = architecture(source)["stem"]
            if cfg.stem not in (None, stem):
                raise RuntimeError(f"{source} has the {stem} stem, not {cfg.stem}")
            return stem
    return cfg.stem or "conv"


def train(cfg: TrainConfig, on_step=None) -> dict:
    """Train; returns the final card. `on_step(step, total, losses)` observes progress."""
    device = _rank_device(cfg.device)
    rank, world = _distributed(device)
    if cfg.batch % world:
        raise RuntimeError(f"batch {cfg.batch} does not split over {world} processes")
    gen = torch.Generator().manual_seed(cfg.seed)
    vgg = get_vgg(device)
    # after VGG19: building it the first time in a process draws from the global generator, so
    # seeding before it made the network's initial weights depend on whether it was cached
    torch.manual_seed(cfg.seed)
    files = [f for p in cfg.styles for f in image_files(p)]
    new_styles = [(style_name(f), to_tensor(read_image(f)), f) for f in files]
    card_styles: list[dict] = []
    old = 0
    if cfg.extend is not None:
        base, base_card, _ = load_model(cfg.extend)
        old = base.styles
        card_styles = list(base_card["styles"])
        net = StyleNet(old + len(new_styles), base.widths, base.residual_blocks, _stem(cfg))
        state = base.state_dict()
        with torch.no_grad():
            for name, p in net.named_parameters():
                if name.endswith(("scale", "shift")):
                    p[:old] = state[name]
                    p[old:] = state[name].mean(0)
                else:
                    p.copy_(state[name])
        for name, p in net.named_parameters():  # frozen: no gradients computed for them
            p.requires_grad_(p.requires_grad and name.endswith(("scale", "shift")))
        params = [p for p in net.parameters() if p.requires_grad]
    else:
        net = StyleNet(len(new_styles), stem=_stem(cfg))
        if cfg.init_from is not None and not cfg.resume:
            _init_from(net, cfg.init_from, [name for name, _, _ in new_styles])
        params = [p for p in net.parameters() if p.requires_grad]
    manifest = read_manifest(cfg.manifest)
    shipped = shipped_names()  # their files ship: the card needs no copy for gatys and hires
    for name, rgb, path in new_styles:
        info = manifest.get(path.name, {})
        entry = {
            "name": name,
            "source": path.name,
            "painting": info.get("painting", ""),
            "licence": info.get("licence") or "unknown: not in a manifest",
            "thumbnail_png_base64": _thumbnail(rgb),
        }
        if name not in shipped:
            entry["painting_jpeg_base64"] = _thumbnail(rgb, PAINTING_SIDE, "JPEG")
        card_styles.append(entry)
    net = net.to(device).train()
    model = net
    if world > 1:
        from torch.nn.parallel import DistributedDataParallel

        model = DistributedDataParallel(net, device_ids=[device] if device.type == "cuda" else None)
    opt = torch.optim.Adam(params, lr=cfg.lr)
    named = [(n, p) for n, p in net.named_parameters() if any(p is q for q in params)]
    with torch.no_grad():
        targets = [
            {
                k: losses.gram(v)
                for k, v in vgg(
                    # edges trimmed as the pipeline does for gatys (a scan's frame line would
                    # enter the statistics and come back as lines along the results' edges)
                    losses.resize_long_side(trim_edges(rgb), cfg.painting_side).to(device),
                    STYLE_LAYERS,
                ).items()
            }
            for _, rgb, _ in new_styles
        ]
    contents = cfg.content if isinstance(cfg.content, list | tuple) else [cfg.content]
    photo_files = content_files(contents, read_hold_out(cfg.hold_out))
    photos = load_photos(photo_files, cfg.size)
    step, seconds = 0, 0.0
    history: list[dict] = []
    ckpt = checkpoint_path(cfg.out)
    if cfg.resume:
        step, seconds, history = _resume(cfg, net, opt, named, gen, device)
    if not history or history[-1]["command"] != cfg.command:
        history.append({"command": cfg.command, "from_step": step})
    dtype = precision_dtype(cfg.precision, device)
    autocast = (
        (lambda: torch.autocast(device.type, dtype=dtype)) if dtype else contextlib.nullcontext
    )
    # fp16 gradients can underflow: scale them (CUDA); a disabled scaler is a plain pass-through
    scaler = torch.amp.GradScaler(device.type, enabled=dtype == torch.float16)
    log.info("training in %s on %s (process %d of %d)", dtype or torch.float32, device, rank, world)
    ema: dict[str, float] = {}
    last_ckpt = time.monotonic()
    if step >= cfg.steps:
        raise RuntimeError(f"the checkpoint is already at step {step}; ask for more --steps")
    share = cfg.batch // world
    while step < cfg.steps:
        t0 = time.perf_counter()
        s = int(torch.randint(len(new_styles), (1,), generator=gen))
        x = random_batch(photos, cfg.size, cfg.batch, gen)[rank * share : (rank + 1) * share]
        x = x.to(device)
        weights = torch.zeros(net.styles)
        weights[old + s] = 1
        with autocast():  # networks in reduced precision when asked; Gram and losses in fp32
            y = model(x, weights)
            feats = vgg(y, STYLE_LAYERS)
            with torch.no_grad():
                content = vgg(x, [CONTENT_LAYER])[CONTENT_LAYER]
        y = y.float()
        lc = cfg.content_weight * F.mse_loss(feats[CONTENT_LAYER].float(), content.float())
        ls = cfg.style_weight * losses.style_loss(
            {k: losses.gram(v) for k, v in feats.items()},
            {k: g.expand(share, -1, -1) for k, g in targets[s].items()},
        )
        lt = cfg.tv_weight * losses.tv_loss(y) * 255
        loss = lc + ls + lt
        opt.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.unscale_(opt)
        if old:  # extending: the existing styles' pairs stay exactly as they were
            for p in params:
                p.grad[:old] = 0
        scaler.step(opt)
        scaler.update()
        step += 1
        seconds += time.perf_counter() - t0
        values = torch.stack([v.detach().float() for v in (lc, ls, lt, loss)])
        if world > 1:  # the log shows the global batch's losses
            import torch.distributed as dist

            dist.all_reduce(values)
            values /= world
        for k, value in zip(("content", "style", "tv", "total"), values.tolist(), strict=True):
            ema[k] = 0.98 * ema.get(k, value) + 0.02 * value
        if on_step is not None and rank == 0:
            on_step(step, cfg.steps, ema)
        done = step == cfg.steps
        if rank == 0 and (done or time.monotonic() - last_ckpt > cfg.checkpoint_seconds):
            card = _card(cfg, card_styles, history, step, len(photos), seconds, ema, world)
            save_model(ckpt, net, card, progress_tensors(opt, named, step, seconds, gen))
            # The weights-only fp16 model beside it: small enough to commit, usable by the daemon
            # at once, and enough to resume on another machine (with fresh optimiser moments).
            save_model(cfg.out, net, card, half=True)
            last_ckpt = time.monotonic()
    return _card(cfg, card_styles, history, step, len(photos), seconds, ema, world)


def _card(cfg, card_styles, history, step, photos, seconds, ema, world) -> dict:
    contents = cfg.content if isinstance(cfg.content, list | tuple) else [cfg.content]
    return {
        "styles": card_styles,
        "training": {
            "command": cfg.command,
            "history": history,
            "steps": step,
            "size": cfg.size,
            "style_side": cfg.painting_side,
            "batch": cfg.batch,
            "processes": world,
            "content": f"{', '.join(map(str, contents))} ({photos} photos and crops)",
            "held_out": str(cfg.hold_out) if cfg.hold_out else None,
            "seconds": seconds,
            "steps_per_hour": 3600 * step / max(seconds, 1e-9),
            "weights": {
                "content": cfg.content_weight,
                "style": cfg.style_weight,
                "tv": cfg.tv_weight,
            },
            "losses": dict(ema),
        },
    }


def _resume(cfg: TrainConfig, net, opt, named, gen, device) -> tuple[int, float, list]:
    """Load the full checkpoint (weights, Adam moments, RNG) or else the weights-only model."""
    ckpt = checkpoint_path(cfg.out)
    if ckpt.exists():
        resumed, card, extra = load_model(ckpt, device)
        net.load_state_dict(resumed.state_dict())
        gen.set_state(extra["rng"].cpu())
        if not restore_moments(opt, named, extra):
            log.warning("%s has no optimiser moments by parameter name: fresh moments", ckpt)
        step, seconds = int(extra["step"]), float(extra["seconds"])
        log.info("resumed %s at step %d", ckpt, step)
    elif cfg.out.exists():
        resumed, card, _ = load_model(cfg.out, device)
        net.load_state_dict(resumed.state_dict())
        step, seconds = int(card["training"]["steps"]), float(card["training"]["seconds"])
        log.warning(
            "no checkpoint %s: resuming %s at step %d, fresh optimiser", ckpt, cfg.out, step
        )
    else:
        raise RuntimeError(f"nothing to resume: neither {ckpt} nor {cfg.out} exists")
    history = list(
        card["training"].get("history")
        or [{"command": card["training"]["command"], "from_step": 0}]
    )
    return step, seconds, history

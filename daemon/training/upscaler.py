"""Training the learned ×2 upscaler (daemon.nets.upscale_net): L1 against the photo, Adam,
resumable.

Each step draws `batch` patches: a random photo, a crop of 1–2× the patch size brought to the
patch size with an antialiased resize (so the network sees detail at several scales and no JPEG
blocks at their native size), a random flip and quarter turn. The low-resolution input is the
patch downscaled ×2 with antialiased bicubic, the way a picture is made smaller everywhere
else in Impasto. The learning rate follows a cosine from `lr` to 1% of it over `steps`.

Checkpoints (`OUT.ckpt.safetensors`: weights, Adam moments by parameter name, step, RNG) are
written every `checkpoint_minutes` and at the end, with the weights-only model at OUT beside it.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from daemon.io.images import read_image
from daemon.io.pixels import to_tensor
from daemon.nets.upscale_net import UpscaleNet, load_upscaler, save_upscaler
from daemon.training.checkpoint import progress_tensors, restore_moments
from daemon.training.data import content_files, read_hold_out
from daemon.training.train import checkpoint_path, read_manifest

log = logging.getLogger(__name__)

MAX_SHORT_SIDE = 1080  # photos larger than this are reduced first (memory; sensor softness)


@dataclass
class UpscalerConfig:
    content: list[Path]
    out: Path
    steps: int = 6000
    batch: int = 16
    patch: int = 96  # high-resolution patch side
    lr: float = 1e-3
    width: int = 32
    depth: int = 4
    hold_out: Path | None = None
    resume: bool = False
    seed: int = 0
    checkpoint_minutes: float = 10.0
    command: str = ""
    manifest: Path | None = None  # TSV naming each photo's licence, recorded in the card


def load_photos(files: list[Path]) -> list[torch.Tensor]:
    """Each photo as uint8 [3,H,W], the short side at most MAX_SHORT_SIDE."""
    photos = []
    for path in files:
        rgb = to_tensor(read_image(path))
        short = min(rgb.shape[-2:])
        if short > MAX_SHORT_SIDE:
            rgb = F.interpolate(
                rgb, scale_factor=MAX_SHORT_SIDE / short, mode="bicubic", antialias=True
            )
        photos.append(rgb[0].clamp(0, 1).mul(255).round().byte())
    return photos


def downscale(hr: torch.Tensor) -> torch.Tensor:
    """The ×2 smaller picture the network learns to undo (antialiased bicubic)."""
    h, w = hr.shape[-2:]
    return F.interpolate(
        hr, size=(h // 2, w // 2), mode="bicubic", antialias=True, align_corners=False
    ).clamp(0, 1)


def random_patches(
    photos: list[torch.Tensor], patch: int, batch: int, gen: torch.Generator
) -> torch.Tensor:
    """[batch,3,patch,patch] float high-resolution patches (scale, flip and rotation varied)."""
    out = []
    for _ in range(batch):
        img = photos[int(torch.randint(len(photos), (1,), generator=gen))]
        h, w = img.shape[-2:]
        side = int(patch * (1 + float(torch.rand((), generator=gen))))
        side = max(patch, min(side, h, w))
        top = int(torch.randint(h - side + 1, (1,), generator=gen))
        left = int(torch.randint(w - side + 1, (1,), generator=gen))
        crop = img[None, :, top : top + side, left : left + side].float() / 255
        if side != patch:
            crop = F.interpolate(crop, size=(patch, patch), mode="bicubic", antialias=True)
        if float(torch.rand((), generator=gen)) < 0.5:
            crop = crop.flip(-1)
        crop = torch.rot90(crop, int(torch.randint(4, (1,), generator=gen)), (-2, -1))
        out.append(crop)
    return torch.cat(out).clamp(0, 1)


def train_upscaler(
    cfg: UpscalerConfig, on_step: Callable[[int, int, float], None] | None = None
) -> dict:
    """Train (or resume) and write the model; returns its card."""
    torch.manual_seed(cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed)
    files = content_files(cfg.content, read_hold_out(cfg.hold_out))
    photos = [p for p in load_photos(files) if min(p.shape[-2:]) >= cfg.patch]
    if not photos:
        raise FileNotFoundError(f"no photo is at least {cfg.patch} px on its short side")
    net = UpscaleNet(cfg.width, cfg.depth)
    named = list(net.named_parameters())
    opt = torch.optim.Adam(net.parameters(), lr=cfg.lr)
    step, seconds, history = 0, 0.0, [{"command": cfg.command, "from_step": 0}]
    ckpt = checkpoint_path(cfg.out)
    if cfg.resume:
        if not ckpt.exists():
            raise RuntimeError(f"nothing to resume: {ckpt} does not exist")
        resumed, card, extra = load_upscaler(ckpt)
        net.load_state_dict(resumed.state_dict())
        gen.set_state(extra["rng"])
        restore_moments(opt, named, extra)
        step, seconds = int(extra["step"]), float(extra["seconds"])
        history = card["training"]["history"] + [{"command": cfg.command, "from_step": step}]
        log.info("resumed %s at step %d", ckpt, step)
    ema = None
    last_ckpt = time.monotonic()
    card: dict = {}
    while step < cfg.steps:
        t0 = time.perf_counter()
        lr = cfg.lr * (0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * step / cfg.steps)))
        for group in opt.param_groups:
            group["lr"] = lr
        hr = random_patches(photos, cfg.patch, cfg.batch, gen)
        loss = F.l1_loss(net(downscale(hr)), hr)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        step += 1
        seconds += time.perf_counter() - t0
        value = loss.item()
        ema = value if ema is None else 0.98 * ema + 0.02 * value
        if on_step is not None:
            on_step(step, cfg.steps, ema)
        if step == cfg.steps or time.monotonic() - last_ckpt > 60 * cfg.checkpoint_minutes:
            card = _card(cfg, files, history, step, seconds, ema)
            save_upscaler(ckpt, net, card, progress_tensors(opt, named, step, seconds, gen))
            save_upscaler(cfg.out, net, card)
            last_ckpt = time.monotonic()
    return card or _card(cfg, files, history, step, seconds, ema)


def _card(cfg: UpscalerConfig, files: list[Path], history, step, seconds, ema) -> dict:
    manifest = read_manifest(cfg.manifest)
    return {
        "name": cfg.out.stem,
        "description": "×2 upscaler for photos and stylised pictures (residual over bicubic)",
        "licence": "the weights: CC0-1.0; each training photo's licence is listed with it",
        "training": {
            "command": cfg.command,
            "history": history,
            "steps": step,
            "batch": cfg.batch,
            "patch": cfg.patch,
            "lr": cfg.lr,
            "loss": "L1",
            "degradation": "antialiased bicubic ×1/2",
            "photos": [
                {"file": f.name, "licence": manifest.get(f.name, {}).get("licence", "")}
                for f in files
            ],
            "seconds": seconds,
            "l1": ema,
        },
    }

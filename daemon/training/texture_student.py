"""The texture network: a small fast network taught to paint a model's 100% view.

The full-size texture stage (daemon.imaging.texture) runs a fast network over every pixel of the
enlarged picture and keeps only the fine band of its luminance. The shipped model does that well
but costs ~0.45 s per megapixel on a 2-core CPU; this trains a narrower network of the same
design (default widths 8/16/32, one residual block: ~4x fewer operations per pixel) to produce
that band, for the model's styles and blends:

    photo crop → down by a random factor f (1.5–10) → the teacher paints it there → enlarged back
    (bicubic: what the stage receives) = x;   target = fine_band(teacher(x)),   σ_hi = 0.75·f
    loss = L1(fine_band(student(x)), target)

`fine_band` is the stage's own (luminance, lattice removed, less its Gaussian blur at σ_hi), so
the student learns exactly the part the stage keeps; the rest of its output is free. No
paintings, no VGG19: only the teacher's forward passes, so it trains on a CPU in hours.
`impasto train-texture` runs it; it resumes from its checkpoint (`OUT.ckpt.safetensors`,
written every `checkpoint_every` steps) when one exists. The student is written to `out` as a
model file whose card names the teacher's styles in its order (with their paintings and
licences, without thumbnails) and adds a `texture_distillation` section: command, teacher,
photos, steps, time, loss, and the band's correlation with the teacher's on held-out photos.
The daemon runs it when it lies in a `texture/` folder beside its teacher
(daemon.catalogue.model_library.ModelLibrary.texture_net).
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from daemon.imaging.texture import HIGH_SIGMA, fine_band
from daemon.nets.fast_net import StyleNet, mix_weights
from daemon.nets.model_files import load_model, save_model
from daemon.training.checkpoint import progress_tensors, restore_moments
from daemon.training.data import (
    content_files,
    image_files,
    load_photos,
    random_batch,
    read_hold_out,
)
from daemon.training.distill import random_blend

log = logging.getLogger(__name__)

MIN_FACTOR, MAX_FACTOR = 1.5, 10.0  # enlargements the stage sees (384 px → 576 px .. 3840 px)


@dataclass
class TextureConfig:
    teacher: Path
    content: list[Path]
    out: Path
    widths: tuple[int, int, int] = (8, 16, 32)
    residual_blocks: int = 1
    hold_out: Path | None = None  # file names kept out of training; the check runs on them
    steps: int = 5500
    size: int = 192  # crop side
    batch: int = 6
    lr: float = 2e-3
    seed: int = 0
    checkpoint_every: int = 250
    command: str = ""


def checkpoint_path(out: Path) -> Path:
    return out.with_name(out.stem + ".ckpt.safetensors")


def training_pair(
    teacher: StyleNet, photos: torch.Tensor, weights: torch.Tensor, factor: float
) -> tuple[torch.Tensor, float]:
    """What the stage receives for `photos` [N,3,S,S] painted at S/`factor` and enlarged back,
    and its σ_hi."""
    s = photos.shape[-1]
    small = max(16, round(s / factor / 4) * 4)
    low = F.interpolate(photos, size=(small, small), mode="bilinear", antialias=True)
    with torch.no_grad():
        painted = teacher(low.clamp(0, 1), weights)
        x = F.interpolate(painted, size=(s, s), mode="bicubic", align_corners=False).clamp(0, 1)
    return x, HIGH_SIGMA * s / small


def band_loss(
    student: StyleNet, teacher: StyleNet, x: torch.Tensor, weights: torch.Tensor, sigma: float
) -> torch.Tensor:
    with torch.no_grad():
        target = fine_band(teacher(x, weights), sigma)
    return F.l1_loss(fine_band(student(x, weights), sigma), target)


def band_correlation(
    student: StyleNet, teacher: StyleNet, x: torch.Tensor, weights: torch.Tensor, sigma: float
) -> float:
    """Correlation of the student's fine band with the teacher's (1: the same texture)."""
    return band_figures(student, teacher, x, weights, sigma)[0]


def band_figures(
    student: StyleNet, teacher: StyleNet, x: torch.Tensor, weights: torch.Tensor, sigma: float
) -> tuple[float, float]:
    """(correlation of the student's fine band with the teacher's, the teacher's band's standard
    deviation over the student's)."""
    with torch.no_grad():
        a = fine_band(student(x, weights), sigma).flatten()
        b = fine_band(teacher(x, weights), sigma).flatten()
    a, b = a - a.mean(), b - b.mean()
    corr = float((a @ b) / (a.norm() * b.norm()).clamp(min=1e-12))
    return corr, float(b.norm() / a.norm().clamp(min=1e-12))


def train_texture(cfg: TextureConfig, on_step=None) -> dict:
    """Train (or resume) the student; write it to `cfg.out` and return its card.
    `on_step(step, total, loss)` gets the loss's running average."""
    torch.manual_seed(cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed)
    teacher, teacher_card, _ = load_model(cfg.teacher)
    teacher.eval().requires_grad_(False)
    student = StyleNet(teacher.styles, cfg.widths, cfg.residual_blocks, "patch")
    opt = torch.optim.Adam([p for p in student.parameters() if p.requires_grad], lr=cfg.lr)
    named = [(n, p) for n, p in student.named_parameters() if p.requires_grad]
    step, seconds, ema = 0, 0.0, None
    ckpt = checkpoint_path(cfg.out)
    if ckpt.exists():
        saved, card, extra = load_model(ckpt)
        if (
            tuple(saved.widths) == tuple(cfg.widths)
            and saved.residual_blocks == cfg.residual_blocks
        ):
            student.load_state_dict(saved.state_dict())
            named = [(n, p) for n, p in student.named_parameters() if p.requires_grad]
            restore_moments(opt, named, extra)
            step, seconds = int(extra["step"]), float(extra["seconds"])
            gen.set_state(extra["rng"])
            ema = card.get("texture_distillation", {}).get("loss")
            log.info("resuming %s at step %d", ckpt, step)
    hold_out = read_hold_out(cfg.hold_out)
    photos = load_photos(content_files(cfg.content, hold_out), cfg.size)
    held = [f for p in cfg.content for f in image_files(p) if f.name in hold_out]
    student.train()

    def lr_at(i: int) -> float:  # cosine from lr to lr/20
        return cfg.lr * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * i / max(cfg.steps, 1))))

    def save(path: Path, final: bool) -> dict:
        keep = ("name", "painting", "licence")  # the teacher's styles, in its order
        card = {"styles": [{k: s[k] for k in keep if k in s} for s in teacher_card["styles"]]}
        record = {
            "command": cfg.command,
            "teacher": cfg.teacher.name,
            "content": [str(p) for p in cfg.content],
            "hold_out": None if cfg.hold_out is None else str(cfg.hold_out),
            "steps": step,
            "crop": cfg.size,
            "batch": cfg.batch,
            "enlargements": [MIN_FACTOR, MAX_FACTOR],
            "seconds": round(seconds, 1),
            "loss": None if ema is None else round(ema, 6),
        }
        if final and held:
            record.update(_check(student, teacher, held, cfg))
        card["texture_distillation"] = record
        extra = None if final else progress_tensors(opt, named, step, seconds, gen)
        save_model(path, student, card, extra=extra, half=final)
        return card

    t0 = time.perf_counter() - seconds
    while step < cfg.steps:
        for group in opt.param_groups:
            group["lr"] = lr_at(step)
        x = random_batch(photos, cfg.size, cfg.batch, gen)
        w = mix_weights(random_blend(cfg.batch, teacher.styles, gen), cfg.batch, teacher.styles)
        factor = MIN_FACTOR + (MAX_FACTOR - MIN_FACTOR) * float(torch.rand((), generator=gen))
        x, sigma = training_pair(teacher, x, w, factor)
        loss = band_loss(student, teacher, x, w, sigma)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        step += 1
        seconds = time.perf_counter() - t0
        ema = loss.item() if ema is None else 0.98 * ema + 0.02 * loss.item()
        if on_step is not None:
            on_step(step, cfg.steps, ema)
        if step % cfg.checkpoint_every == 0 and step < cfg.steps:
            save(ckpt, final=False)
    student.eval()
    card = save(cfg.out, final=True)
    return card


def _check(student: StyleNet, teacher: StyleNet, held: list[Path], cfg: TextureConfig) -> dict:
    """The band's correlation with the teacher's on held-out crops, at enlargements 2.5 and 8,
    and `band_gain`: the teacher's band's strength over the student's there (the mean of the
    two), by which the texture stage scales the student's band (L1 training leaves it weaker:
    what it cannot predict it averages away)."""
    gen = torch.Generator().manual_seed(cfg.seed + 1)
    photos = load_photos(held, 2 * cfg.size)
    out: dict = {}
    ratios = []
    for factor in (2.5, 8.0):
        x = random_batch(photos, 2 * cfg.size, 4, gen)
        w = mix_weights(random_blend(4, teacher.styles, gen), 4, teacher.styles)
        x, sigma = training_pair(teacher, x, w, factor)
        corr, ratio = band_figures(student, teacher, x, w, sigma)
        out[f"band_correlation_x{factor:g}"] = round(corr, 3)
        ratios.append(ratio)
    out["band_gain"] = round(sum(ratios) / len(ratios), 3)
    out["checked_on"] = f"{len(held)} held-out photos, crops of {2 * cfg.size} px"
    return out

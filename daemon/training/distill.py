"""Distillation: a fast model with another stem, taught by a trained model to paint as it does.

`impasto distill --teacher T --stem patch --out S` builds T's network with the new stem (every
other layer copied from T) and trains it in two stages on content photos, against T's own outputs
(no paintings, no VGG19: minutes on a CPU, where style training takes days):

1. the stem alone, to reproduce T's features where the stems meet (T's last stem layer's output
   before its ReLU; mean squared error), for random styles and blends;
2. the whole network, to reproduce T's stylised image (L1), the same blends.

The student keeps T's styles and card (its training record stays: that is how the styles were
learned) and adds a `distillation` section: command, teacher, steps, time, losses, and the
student's PSNR against the teacher on held-out photos. Blends are drawn as one style (70%) or a
mix of two with a random weight, so blends stay as good as single styles.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from daemon.nets.fast_net import StyleNet, mix_weights
from daemon.nets.model_files import load_model, save_model
from daemon.optim.losses import psnr
from daemon.training.data import (
    content_files,
    image_files,
    load_photos,
    random_batch,
    read_hold_out,
)

log = logging.getLogger(__name__)


@dataclass
class DistillConfig:
    teacher: Path
    content: list[Path]
    out: Path
    stem: str = "patch"
    hold_out: Path | None = None  # file names kept out of training; the PSNR is measured on them
    feature_steps: int = 3000
    steps: int = 3000
    size: int = 128  # crop side
    batch: int = 8
    lr: float = 2e-3  # the stem stage; the whole-network stage starts at a tenth of it
    seed: int = 0
    command: str = ""


def student_from(teacher: StyleNet, stem: str) -> StyleNet:
    """`teacher`'s network with another stem: every layer after the stem copied."""
    student = StyleNet(teacher.styles, teacher.widths, teacher.residual_blocks, stem)
    with torch.no_grad():
        student.down[-1].load_state_dict(teacher.down[-1].state_dict())
        for name in ("res", "up", "out"):
            getattr(student, name).load_state_dict(getattr(teacher, name).state_dict())
    return student


def stem_features(net: StyleNet, x: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """The stem's output before its ReLU (what the next layer's ReLU reads)."""
    layers = list(net.down[:-1])
    for layer in layers[:-1]:
        x = F.relu(layer(x, weights))
    return layers[-1](x, weights)


def random_blend(batch: int, styles: int, gen: torch.Generator) -> torch.Tensor:
    """[batch, styles]: one style each (70%) or two mixed with a random weight."""
    w = torch.zeros(batch, styles)
    for i in range(batch):
        a = int(torch.randint(styles, (1,), generator=gen))
        if float(torch.rand((), generator=gen)) < 0.3:
            b = int(torch.randint(styles, (1,), generator=gen))
            t = float(torch.rand((), generator=gen))
            w[i, a] += t
            w[i, b] += 1 - t
        else:
            w[i, a] = 1
    return w


def distill(cfg: DistillConfig, on_step=None) -> dict:
    """Write the student to `cfg.out`; returns its card. `on_step(stage, step, total, loss)`
    gets the loss's running average."""
    torch.manual_seed(cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed)
    teacher, teacher_card, _ = load_model(cfg.teacher)
    teacher.eval().requires_grad_(False)
    if teacher.stem == cfg.stem:
        raise RuntimeError(f"{cfg.teacher} already has the {cfg.stem} stem")
    student = student_from(teacher, cfg.stem).train()
    hold_out = read_hold_out(cfg.hold_out)
    photos = load_photos(content_files(cfg.content, hold_out), cfg.size)
    held = [f for p in cfg.content for f in image_files(p) if f.name in hold_out]
    check_gen = torch.Generator().manual_seed(cfg.seed + 1)
    check = None
    if held:
        check_x = random_batch(load_photos(held, cfg.size), 2 * cfg.size, 8, check_gen)
        check = (
            check_x,
            mix_weights(random_blend(8, teacher.styles, check_gen), 8, teacher.styles),
        )
    t0 = time.perf_counter()
    record: dict = {}

    ema: dict[str, float] = {}  # the losses' running averages (one batch's are noisy)
    stages = (  # name, what is trained, learning rate, steps, what is compared, loss
        ("stem", list(student.down[:-1].parameters()), cfg.lr, cfg.feature_steps,
         stem_features, F.mse_loss),
        ("whole", [p for p in student.parameters() if p.requires_grad], cfg.lr / 10, cfg.steps,
         StyleNet.__call__, F.l1_loss),
    )  # fmt: skip
    for stage, params, lr, steps, output, loss_fn in stages:
        opt = torch.optim.Adam(params, lr=lr)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, max(steps, 1))
        for step in range(steps):
            x = random_batch(photos, cfg.size, cfg.batch, gen)
            w = mix_weights(random_blend(cfg.batch, teacher.styles, gen), cfg.batch, teacher.styles)
            with torch.no_grad():
                target = output(teacher, x, w)
            loss = loss_fn(output(student, x, w), target)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            ema[stage] = 0.98 * ema.get(stage, loss.item()) + 0.02 * loss.item()
            if on_step is not None:
                on_step(stage, step + 1, steps, ema[stage])
    record.update({f"{stage}_loss": round(v, 6) for stage, v in ema.items()})
    student.eval()
    if check is not None:
        with torch.no_grad():
            record["psnr_vs_teacher_db"] = round(psnr(student(*check), teacher(*check)), 2)
        record["psnr_measured_on"] = f"{len(held)} held-out photos, crops of {2 * cfg.size} px"
    card = dict(teacher_card)
    card.pop("architecture", None)
    card["distillation"] = {
        "command": cfg.command,
        "teacher": cfg.teacher.name,
        "teacher_steps": teacher_card.get("training", {}).get("steps"),
        "teacher_stem": teacher.stem,
        "stem_steps": cfg.feature_steps,
        "steps": cfg.steps,
        "crop": cfg.size,
        "batch": cfg.batch,
        "seconds": round(time.perf_counter() - t0, 1),
        **record,
    }
    save_model(cfg.out, student, card, half=True)
    return card

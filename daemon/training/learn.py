"""Learn one painting as a new fast style: only its own norm rows, against a frozen model.

`learn(lesson)` starts from the painting's first look (daemon.training.first_look: the nearest
blend of the model's styles), saves that at once as a style pack (daemon.nets.style_packs) in the
user's models folder, then trains the pack's rows alone with the model's own training losses
(daemon.training.train: content at relu3_1, Gram style loss relu1_1..relu4_1, total variation,
the card's weights) until the lesson's minutes of training are spent, saving the pack every
`SAVE_SECONDS` so fast mode uses the style as it improves, and a checkpoint (rows, Adam moments,
step, clock, random state) in the lesson's folder, from which a cut-off lesson resumes exactly.
The model and every style it already holds are never changed.

A lesson is a folder `LESSONS/NAME/` holding `painting.png` (the painting as received) and
`lesson.json` (what to learn and how far it got); daemon.learning runs lessons in a process of
their own, one at a time.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F

from daemon.devices import choose_device
from daemon.io.images import read_image
from daemon.io.pixels import to_tensor
from daemon.nets.fast_net import StyleNet
from daemon.nets.model_files import load_model, write_model_files
from daemon.nets.style_packs import file_digest, row_names, save_pack
from daemon.nets.vgg import get_vgg
from daemon.optim import losses
from daemon.pipeline import trim_edges
from daemon.training.checkpoint import progress_tensors, restore_moments
from daemon.training.data import content_files, load_photos, random_batch
from daemon.training.first_look import first_look
from daemon.training.train import CONTENT_LAYER, STYLE_LAYERS, _thumbnail

log = logging.getLogger(__name__)

TRAINING_PHOTOS = Path(__file__).resolve().parent / "photos"  # CC0 / public domain, committed
SAVE_SECONDS = 30.0  # of training: how often fast mode gets the style as it stands
FIRST_LOOK_SECONDS = 6.0
FIRST_LOOK_CROPS = 2
FIRST_LOOK_SIDE = 96
PAINTING_SIDE = 512  # the copy the card carries, for gatys and hires
LESSON_FILE = "lesson.json"
PAINTING_FILE = "painting.png"
CHECKPOINT_FILE = "checkpoint.safetensors"


@dataclass
class Lesson:
    """What to learn and how far it got (lesson.json)."""

    name: str
    base: str  # the model file it extends
    out_dir: str  # where the pack goes: the user's models folder
    minutes: float = 10.0
    painting: str = ""  # the painting's title, for the card
    licence: str = "user's own"
    content: list[str] = field(default_factory=lambda: [str(TRAINING_PHOTOS)])
    size: int = 128
    batch: int = 4
    lr: float = 0.1  # Adam on the norm rows alone: measured best of 0.001-0.1 at 2.5 min
    threads: int = 1
    device: str = ""  # "" picks as the daemon does (daemon.devices.choose_device)
    seed: int = 0
    created: float = 0.0  # time.time() when asked for: lessons run in this order
    # progress, written by the learner
    state: str = "queued"  # queued → learning → done | cancelled | failed
    steps: int = 0
    seconds: float = 0.0
    stage: str = ""  # "", "first look", "learned"
    error: str = ""

    @property
    def pack(self) -> Path:
        return Path(self.out_dir) / f"{self.name}.safetensors"

    @classmethod
    def read(cls, folder: Path) -> Lesson:
        raw = json.loads((folder / LESSON_FILE).read_text())
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in raw.items() if k in known})

    def write(self, folder: Path) -> None:
        tmp = folder / (LESSON_FILE + ".tmp")
        tmp.write_text(json.dumps(asdict(self), indent=1))
        tmp.replace(folder / LESSON_FILE)


def one_style(base: StyleNet, rows: dict[str, torch.Tensor]) -> StyleNet:
    """A one-style network: `base`'s shared weights (frozen) and `rows` as its norm pairs, the
    only parameters that take gradients (the residual blocks' second shift excepted, as in
    training: it cancels exactly)."""
    net = StyleNet(1, base.widths, base.residual_blocks, base.stem)
    names = set(row_names(base))
    state = base.state_dict()
    with torch.no_grad():
        for name, p in net.named_parameters():
            p.copy_(rows[name] if name in names else state[name])
    trainable = {n for n, p in net.named_parameters() if n in names and p.requires_grad}
    for name, p in net.named_parameters():
        p.requires_grad_(name in trainable)
    return net


def learn(
    folder: Path,
    on_progress: Callable[[Lesson], None] = lambda lesson: None,
    stop: Callable[[], bool] = lambda: False,
    wait: Callable[[], None] = lambda: None,
) -> Lesson:
    """Run (or resume) the lesson in `folder` until its minutes are spent or `stop()`; `wait()`
    is called between steps (it blocks while the learner must yield to stylisation jobs)."""
    lesson = Lesson.read(folder)
    torch.set_num_threads(max(1, lesson.threads))
    device = choose_device(lesson.device or None)
    base_path = Path(lesson.base)
    base, base_card, _ = load_model(base_path, device)
    base.eval().requires_grad_(False)
    digest = file_digest(base_path)
    painting = to_tensor(read_image(folder / PAINTING_FILE))
    weights = base_card.get("training", {}).get("weights", {})
    defaults = (("content", 1.0), ("style", 0.01), ("tv", 1e-4))
    wc, ws, wt = (float(weights.get(k, d)) for k, d in defaults)
    painting_side = int(base_card.get("training", {}).get("style_side", 2 * lesson.size))
    vgg = get_vgg(device)
    gen = torch.Generator().manual_seed(lesson.seed)
    photos = load_photos(content_files([Path(p) for p in lesson.content]), lesson.size)
    ckpt = folder / CHECKPOINT_FILE
    card = _card(lesson, base_path, base_card, digest, painting)
    if ckpt.exists():
        net, extra = _resume(ckpt, base, device)
        lesson.steps, lesson.seconds = int(extra["step"]), float(extra["seconds"])
        gen.set_state(extra["rng"].cpu())
        card["learning"]["first_look"] = json.loads((folder / "first_look.json").read_text())
    else:
        crops = random_batch(photos, FIRST_LOOK_SIDE, FIRST_LOOK_CROPS, gen).to(device)
        look = first_look(base, painting.to(device), crops, vgg, FIRST_LOOK_SECONDS)
        names = [s["name"] for s in base_card["styles"]]
        summary = {
            "blend": {
                n: round(float(w), 3) for n, w in zip(names, look.weights, strict=True) if w > 0.005
            },
            "distance": look.distance,
            "seconds": look.seconds,
        }
        (folder / "first_look.json").write_text(json.dumps(summary))
        card["learning"]["first_look"] = summary
        net = one_style(base, look.rows)
        extra = {}
        lesson.stage = "first look"
        _save(lesson, net, card)
    net.to(device).train()
    named = [(n, p) for n, p in net.named_parameters() if p.requires_grad]
    opt = torch.optim.Adam([p for _, p in named], lr=lesson.lr)
    if extra:
        restore_moments(opt, named, extra)
    with torch.no_grad():
        target = {
            k: losses.gram(v)
            for k, v in vgg(
                losses.resize_long_side(trim_edges(painting), painting_side).to(device),
                STYLE_LAYERS,
            ).items()
        }
    lesson.state = "learning"
    lesson.write(folder)
    on_progress(lesson)
    budget = lesson.minutes * 60
    last_save = lesson.seconds
    while lesson.seconds < budget and not stop():
        wait()
        if stop():
            break
        t0 = time.perf_counter()
        x = random_batch(photos, lesson.size, lesson.batch, gen).to(device)
        y = net(x, torch.ones(1))
        feats = vgg(y, STYLE_LAYERS)
        with torch.no_grad():
            content = vgg(x, [CONTENT_LAYER])[CONTENT_LAYER]
        loss = (
            wc * F.mse_loss(feats[CONTENT_LAYER], content)
            + ws
            * losses.style_loss(
                {k: losses.gram(v) for k, v in feats.items()},
                {k: g.expand(x.shape[0], -1, -1) for k, g in target.items()},
            )
            + wt * losses.tv_loss(y) * 255
        )
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        lesson.steps += 1
        lesson.seconds += time.perf_counter() - t0
        card["learning"]["loss"] = float(loss.detach())
        if lesson.seconds - last_save >= SAVE_SECONDS or lesson.seconds >= budget:
            lesson.stage = "learned"
            _save(lesson, net, card)
            save_checkpoint(ckpt, net, opt, named, lesson, gen)
            last_save = lesson.seconds
        lesson.write(folder)
        on_progress(lesson)
    if not ckpt.exists() or lesson.seconds > last_save:  # stopped between saves, or no steps
        lesson.stage = "learned" if lesson.steps else "first look"
        _save(lesson, net, card)
        save_checkpoint(ckpt, net, opt, named, lesson, gen)
    if lesson.seconds >= budget:
        lesson.state = "done"
    lesson.write(folder)
    on_progress(lesson)
    return lesson


def save_checkpoint(path: Path, net: StyleNet, opt, named, lesson: Lesson, gen) -> None:
    tensors = {f"rows.{n}": p.detach().float().cpu().contiguous() for n, p in named}
    fixed = {n: p for n, p in net.named_parameters() if n in row_names(net) and not p.requires_grad}
    tensors.update({f"rows.{n}": p.detach().float().cpu().contiguous() for n, p in fixed.items()})
    tensors.update(progress_tensors(opt, named, lesson.steps, lesson.seconds, gen))
    write_model_files(path, tensors, {"lesson": lesson.name})


def _resume(path: Path, base: StyleNet, device) -> tuple[StyleNet, dict]:
    from safetensors.torch import load_file

    tensors = load_file(str(path))
    rows = {k[5:]: v.to(device) for k, v in tensors.items() if k.startswith("rows.")}
    log.info("resuming %s at step %d", path.parent.name, int(tensors["step"]))
    return one_style(base, rows), tensors


def _save(lesson: Lesson, net: StyleNet, card: dict) -> None:
    card["learning"].update(
        stage=lesson.stage, steps=lesson.steps, seconds=round(lesson.seconds, 1)
    )
    params = dict(net.named_parameters())
    save_pack(lesson.pack, {n: params[n].detach() for n in row_names(net)}, card)
    log.info("saved %s (%s, %d steps)", lesson.pack, lesson.stage, lesson.steps)


def _card(lesson: Lesson, base_path: Path, base_card: dict, digest: str, painting) -> dict:
    return {
        "extends": {"model": base_path.stem, "digest": digest},
        "styles": [
            {
                "name": lesson.name,
                "painting": lesson.painting or lesson.name,
                "licence": lesson.licence,
                "thumbnail_png_base64": _thumbnail(painting),
                "painting_jpeg_base64": _thumbnail(painting, PAINTING_SIDE, "JPEG"),
            }
        ],
        "learning": {
            "minutes": lesson.minutes,
            "size": lesson.size,
            "batch": lesson.batch,
            "lr": lesson.lr,
            "threads": lesson.threads,
            "content": ", ".join(Path(c).name for c in lesson.content),
            "weights": base_card.get("training", {}).get("weights", {}),
        },
    }


def _serve(folder: Path) -> int:
    """The learner process (daemon.learning starts it): runs the lesson in `folder`, prints one
    JSON line per step ({"steps", "seconds", "stage", "state"}), and obeys lines on its stdin:
    `pause` (wait before the next step), `resume`, `stop` (save and exit)."""
    import sys
    import threading

    paused, stopped = threading.Event(), threading.Event()

    def listen() -> None:
        for line in sys.stdin:
            command = line.strip()
            if command == "pause":
                paused.set()
            elif command == "resume":
                paused.clear()
            elif command == "stop":
                stopped.set()
        stopped.set()  # the daemon is gone: save and end

    threading.Thread(target=listen, daemon=True).start()

    def wait() -> None:
        while paused.is_set() and not stopped.is_set():
            time.sleep(0.02)

    def report(lesson: Lesson) -> None:
        line = {k: getattr(lesson, k) for k in ("steps", "seconds", "stage", "state")}
        print(json.dumps(line), flush=True)

    try:
        learn(folder, report, stopped.is_set, wait)
    except Exception as exc:  # told to the daemon through the lesson file
        log.exception("lesson %s failed", folder.name)
        lesson = Lesson.read(folder)
        lesson.state, lesson.error = "failed", f"{type(exc).__name__}: {exc}"
        lesson.write(folder)
        return 1
    return 0


if __name__ == "__main__":
    import sys

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    raise SystemExit(_serve(Path(sys.argv[1])))

"""A first look at a new painting in fast mode, within seconds: the blend of a model's styles
whose output comes closest to the painting, as a style of its own.

A fast model mixes its styles' conditional-norm pairs linearly (daemon.nets.fast_net), so a blend
with weights w paints exactly what one style whose rows are w @ rows paints. The search:

1. every style of the model paints a few small photo crops at once; each is scored by its style
   distance to the painting (Gram matrices at relu1_1..relu4_1, each layer's squared difference
   over the painting's, averaged; the painting seen at twice the crops' side, as training sees it);
2. the blend weights of the TOP nearest styles (a softmax over them) descend that distance by
   gradient through the frozen network and VGG19 for the rest of the time budget; the best blend
   seen is kept.

Its rows are where `impasto learn` starts (daemon.training.learn), and what fast mode paints
until the first learned save. A matched colour (per-channel means and spreads of the output
fitted to the painting's) was tried and left out: it moved three of four test paintings' style
distance the wrong way.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import torch

from daemon.nets.fast_net import StyleNet
from daemon.nets.style_packs import row_names
from daemon.nets.vgg import VGGFeatures
from daemon.optim import losses
from daemon.pipeline import trim_edges

log = logging.getLogger(__name__)

LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1")
TOP = 4  # styles the blend is searched over


@dataclass
class FirstLook:
    weights: torch.Tensor  # [styles]: the blend over the model's styles
    rows: dict[str, torch.Tensor]  # norm parameter name → the new style's row [1, channels]
    distance: float  # the blend's style distance to the painting on the crops
    nearest: int  # the nearest single style
    steps: int  # blend steps taken
    seconds: float


def painting_grams(vgg: VGGFeatures, painting: torch.Tensor, side: int) -> dict:
    """Gram targets of `painting` [1,3,H,W] (edges trimmed) at `side` px long side."""
    with torch.no_grad():
        x = losses.resize_long_side(trim_edges(painting), side).clamp(0, 1)
        return {k: losses.gram(v) for k, v in vgg(x, LAYERS).items()}


def distance(vgg: VGGFeatures, out: torch.Tensor, targets: dict, group: int) -> torch.Tensor:
    """|G(out) − G(painting)|² / |G(painting)|², mean over layers, per group of `group` crops
    (out: [styles × group, 3, s, s]) → [styles]."""
    feats = vgg(out, LAYERS)
    total = 0.0
    for k, t in targets.items():
        g = losses.gram(feats[k])
        d = (g - t).pow(2).sum((1, 2)) / t.pow(2).sum()
        total = total + d.view(-1, group).mean(1)
    return total / len(targets)


def first_look(
    net: StyleNet,
    painting: torch.Tensor,
    crops: torch.Tensor,
    vgg: VGGFeatures,
    seconds: float = 6.0,
) -> FirstLook:
    """The first look of `painting` [1,3,H,W] in `net` (frozen), searched on `crops`
    [N,3,s,s] within about `seconds` (at least the scoring of every style)."""
    t0 = time.perf_counter()
    targets = painting_grams(vgg, painting, 2 * max(crops.shape[-2:]))
    n, styles = crops.shape[0], net.styles
    with torch.no_grad():
        weights = torch.eye(styles).repeat_interleave(n, 0)
        outs = net(crops.repeat(styles, 1, 1, 1), weights)
        scores = distance(vgg, outs, targets, n)
    order = scores.argsort().tolist()
    top = torch.tensor(order[: min(TOP, styles)])
    logits = torch.zeros(len(top), requires_grad=True)
    opt = torch.optim.Adam([logits], lr=0.3)
    best = (float(scores[order[0]]), torch.eye(styles)[order[0]])
    steps = 0
    while time.perf_counter() - t0 < seconds:
        w = torch.zeros(styles).index_put((top,), logits.softmax(0))
        d = distance(vgg, net(crops, w), targets, n)[0]
        if float(d.detach()) < best[0]:
            best = (float(d.detach()), w.detach().clone())
        opt.zero_grad()
        d.backward()
        opt.step()
        steps += 1
    params = dict(net.named_parameters())
    rows = {
        name: (best[1].to(params[name].device) @ params[name].detach())[None]
        for name in row_names(net)
    }
    look = FirstLook(best[1], rows, best[0], order[0], steps, time.perf_counter() - t0)
    log.info(
        "first look in %.1f s (%d blend steps): distance %.3f, nearest style %d %.3f",
        look.seconds, steps, look.distance, order[0], float(scores[order[0]]),
    )  # fmt: skip
    return look

"""Tiled Gatys: whole-image statistics tile by tile give the untiled loss, gradient and steps;
the tile size does not matter; jobs beyond the memory budget take the tiled path."""

from __future__ import annotations

import torch

from daemon.devices import VGG_BYTES_PER_PIXEL, DeviceProfile
from daemon.engines import EngineInput
from daemon.engines.gatys import GatysEngine
from daemon.engines.hires import ladder, top_level
from daemon.io.pixels import to_tensor
from daemon.nets.vgg import (
    CONTENT_LAYERS,
    STYLE_LAYERS,
    border_for,
    get_vgg,
    inner_features,
    reflect,
)
from daemon.optim import losses
from daemon.optim.tiled import TiledObjective, refine, tiled_grams
from shared.job import JobSpec
from shared.protocol import ImageDesc
from tests.conftest import load_rgb

CPU = DeviceProfile(torch.device("cpu"), 1 << 30)
SPEC = JobSpec(content=ImageDesc(1, 1, 1), styles=(), content_weight=10.0)


def setup(side=96):
    vgg = get_vgg(CPU.device)
    content = losses.resize_long_side(to_tensor(load_rgb("red_panda.png")), side).clamp(0, 1)
    style = losses.resize_long_side(to_tensor(load_rgb("night_cafe.png")), side)
    with torch.no_grad():
        targets = {k: losses.gram(v) for k, v in vgg(style, STYLE_LAYERS).items()}
    torch.manual_seed(0)
    start = (content + 0.1 * torch.randn_like(content)).clamp(0, 1)
    return vgg, content, targets, start


def whole_image(vgg, start, content, names):
    """The whole-image objective's view (engines/gatys.py): the canvas (the image and its free
    border, started as a reflection) as the leaf, the features over the image, the content
    target."""
    pad = border_for(*start.shape[-2:])
    x = vgg.preprocess(reflect(start, pad)).requires_grad_(True)
    feats = inner_features(vgg.run(x, names), pad, tuple(start.shape[-2:]))
    with torch.no_grad():
        target = vgg.padded(vgg.preprocess(content), CONTENT_LAYERS)[CONTENT_LAYERS[0]]
    return x, feats, target


def test_tiled_loss_and_gradient_equal_the_untiled_ones():
    vgg, content, targets, start = setup()
    x, feats, target = whole_image(vgg, start, content, CONTENT_LAYERS + STYLE_LAYERS)
    loss = 10 * losses.content_loss(feats[CONTENT_LAYERS[0]], target) + losses.style_loss(
        {k: losses.gram(feats[k]) for k in STYLE_LAYERS}, targets
    )
    loss.backward()
    objective = TiledObjective(vgg, content, targets, 10.0, 1.0, CPU, tile=32, margin=64)
    assert len(objective.tiles) == 20  # 32 px tiles over the 160x118 bordered canvas
    tiled_loss, grad = objective(x.detach(), lambda: False)
    assert abs(tiled_loss - loss.item()) <= 1e-4 * loss.item()
    assert (grad - x.grad).norm() <= 1e-3 * x.grad.norm()


def test_tiled_style_maps_give_the_untiled_guided_loss_and_gradient():
    """Two styles, each on its half (a seam on the 16 px grid, where pooled and area-resampled
    guides agree): the tiled regions equal gatys' whole-image guided objective."""
    vgg, content, targets, start = setup()
    other = losses.resize_long_side(to_tensor(load_rgb("chelsea.png")), 96)
    with torch.no_grad():
        other_targets = {k: losses.gram(v) for k, v in vgg(other, STYLE_LAYERS).items()}
    h, w = content.shape[-2:]
    left = torch.zeros(1, 1, h, w)
    left[..., : w // 2] = 1.0
    assert (w // 2) % 16 == 0
    regions = [(left, targets, 0.5), (1 - left, other_targets, 0.5)]
    x, feats, target = whole_image(vgg, start, content, CONTENT_LAYERS + STYLE_LAYERS)
    loss = 10 * losses.content_loss(feats[CONTENT_LAYERS[0]], target)
    for guide, grams, share in regions:
        own = {k: losses.guided_gram(feats[k], guide) for k in STYLE_LAYERS}
        loss = loss + share * losses.style_loss(own, grams)
    loss.backward()
    objective = TiledObjective(
        vgg, content, {}, 10.0, 1.0, CPU, tile=32, margin=64, regions=regions
    )
    tiled_loss, grad = objective(x.detach(), lambda: False)
    assert abs(tiled_loss - loss.item()) <= 1e-4 * loss.item()
    assert (grad - x.grad).norm() <= 1e-3 * x.grad.norm()


def test_style_maps_empty_at_this_size_leave_only_the_content_term():
    """Every style's map is empty (a layer painted only outside the selection): no region, and
    the tiled objective is the content term alone instead of an error."""
    vgg, content, _, start = setup(64)
    x, feats, target = whole_image(vgg, start, content, CONTENT_LAYERS)
    loss = 10 * losses.content_loss(feats[CONTENT_LAYERS[0]], target)
    loss.backward()
    objective = TiledObjective(vgg, content, {}, 10.0, 1.0, CPU, tile=32, margin=64, regions=[])
    tiled_loss, grad = objective(x.detach(), lambda: False)
    assert abs(tiled_loss - loss.item()) <= 1e-4 * loss.item()
    assert (grad - x.grad).norm() <= 1e-3 * x.grad.norm()


def test_the_same_steps_give_the_same_image_whatever_the_tiles():
    vgg, content, targets, start = setup()
    runs = {
        tile: refine(
            vgg, start, content, targets, SPEC, CPU, 3, tile, lambda f: None, lambda: False
        )
        for tile in (512, 32, 48)  # 512: one tile, the untiled computation
    }
    assert (runs[32] - runs[512]).abs().max() < 2 / 255
    assert (runs[48] - runs[32]).abs().max() < 2 / 255
    assert (runs[512] - start).abs().mean() > 0.01  # and the steps did change the image


def test_tiled_grams_equal_whole_image_grams():
    vgg, content, _, _ = setup(128)
    with torch.no_grad():
        feats = vgg.padded(vgg.preprocess(content), STYLE_LAYERS)
        whole = {k: losses.gram(v) for k, v in feats.items()}
    tiled = tiled_grams(vgg, content, STYLE_LAYERS, CPU, 32)
    for k in STYLE_LAYERS:
        assert (tiled[k] - whole[k]).norm() <= 1e-3 * whole[k].norm(), k


def test_a_gatys_job_beyond_the_memory_budget_runs_in_tiles():
    _, content, _, _ = setup(96)
    small = DeviceProfile(torch.device("cpu"), 64 * 64 * VGG_BYTES_PER_PIXEL)
    style = to_tensor(load_rgb("night_cafe.png"))
    spec = JobSpec(content=ImageDesc(1, 1, 1), styles=(), iterations=2, scales=1)
    stages = []
    out = GatysEngine().run(
        EngineInput(spec, content, [(style, 1.0)], small),
        lambda stage, f, p=None: stages.append(stage),
        lambda: False,
    )
    assert out.shape == content.shape and any("tiled" in s for s in stages)
    assert (out - content).abs().mean() > 0.005


def test_the_hires_ladder_doubles_from_the_base_to_full_size():
    assert ladder((2160, 3840), 512) == [(270, 480), (540, 960), (1080, 1920), (2160, 3840)]
    assert ladder((300, 400), 512) == [(300, 400)]


def test_hires_refines_only_levels_the_paintings_show_and_the_budget_holds():
    square = ladder((2048, 2048), 512)  # 512, 1024, 2048
    budget = 2 << 30
    # a 722 px painting: 1024 px is an enlargement of 1.4 (refined), 2048 of 2.8 (guided)
    assert top_level(square, [722], 1.0, budget) == 1
    assert top_level(square, [340, 722], 1.0, budget) == 1  # the largest picture counts
    assert top_level(square, [722], 0.5, budget) == 2  # bigger strokes: smaller style picture
    assert top_level(square, [300], 1.0, budget) == 0  # a small picture: the base alone
    assert top_level(square, [4000], 1.0, budget) == 2
    # a large scan at 8K: the levels whose full-size state fits half the budget
    big = ladder((4320, 7680), 512)  # ..., 1920, 3840, 7680 wide
    assert big[top_level(big, [8000], 1.0, budget)] == (1080, 1920)
    assert big[top_level(big, [8000], 1.0, 8 << 30)] == (2160, 3840)
    # style maps' guides count too: 20 styles with maps make a 1920 px level too large for 1G
    assert big[top_level(big, [8000], 1.0, 1 << 30)] == (1080, 1920)
    assert big[top_level(big, [8000], 1.0, 1 << 30, maps=20)] == (540, 960)

"""The Gatys engine: quality floor through the real daemon, and its behaviours in-process."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from daemon.devices import profile
from daemon.engines import EngineInput
from daemon.engines.gatys import GatysEngine, scale_sizes
from daemon.io.pixels import to_tensor
from daemon.nets.vgg import get_vgg
from daemon.optim import losses
from shared.job import JobSpec
from shared.protocol import ImageDesc
from tests.conftest import image_job, load_rgb, rgba_u8

SIDE = 128


def result_tensor(result) -> torch.Tensor:
    desc, data = result.image_bytes(0)
    arr = np.frombuffer(data, np.uint8).reshape(desc.height, desc.width, desc.channels)
    return to_tensor(arr)


def test_output_is_at_least_3x_closer_in_style_to_the_painting_than_the_photo(daemon):
    photo, painting = load_rgb("chelsea.png"), load_rgb("night_cafe.png")
    body, frames = image_job(rgba_u8(photo), painting, size=SIDE, iterations=60, seed=0)
    with daemon.client() as c:
        result = c.run(body, frames, timeout=300)
    vgg = get_vgg(torch.device("cpu"))
    out, photo_t, style_t = result_tensor(result), to_tensor(photo), to_tensor(painting)
    before = losses.style_distance(vgg, photo_t, style_t, side=SIDE)
    after = losses.style_distance(vgg, out, style_t, side=SIDE)
    assert before / after >= 3.0, f"style gain only {before / after:.2f}x"
    # and it is still the photo: far closer to it in content than the painting is
    painting_at_size = torch.nn.functional.interpolate(style_t, size=out.shape[-2:], mode="area")
    assert losses.content_distance(vgg, out, photo_t) < 0.9 * losses.content_distance(
        vgg, painting_at_size, photo_t
    )


def run_engine(content, styles, **fields) -> torch.Tensor:
    spec = JobSpec(content=ImageDesc(1, 1, 1), styles=(), **fields)
    prof = profile("cpu")
    return GatysEngine().run(
        EngineInput(spec, content, styles, prof), lambda *a: None, lambda: False
    )


@pytest.fixture(scope="module")
def small():
    photo = torch.nn.functional.interpolate(
        to_tensor(load_rgb("chelsea.png")), size=(40, 60), mode="area"
    )
    return photo, to_tensor(load_rgb("night_cafe.png")), to_tensor(load_rgb("red_panda.png"))


def test_same_seed_gives_the_same_image_and_another_seed_does_not(small):
    photo, cafe, _ = small
    a = run_engine(photo, [(cafe, 1.0)], iterations=3, init="noise", seed=1)
    b = run_engine(photo, [(cafe, 1.0)], iterations=3, init="noise", seed=1)
    c = run_engine(photo, [(cafe, 1.0)], iterations=3, init="noise", seed=2)
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


def test_style_weights_move_the_result_between_two_styles(small):
    photo, cafe, panda = small
    vgg = get_vgg(torch.device("cpu"))
    outs = {
        w: run_engine(photo, [(cafe, w), (panda, 1 - w)], iterations=15, seed=0, scales=1)
        for w in (1.0, 0.5, 0.0)
    }
    d_cafe = {w: losses.style_distance(vgg, o, cafe, side=60) for w, o in outs.items()}
    assert d_cafe[1.0] < d_cafe[0.5] < d_cafe[0.0]


def test_style_scale_changes_the_result(small):
    photo, cafe, _ = small
    a = run_engine(photo, [(cafe, 1.0)], iterations=3, seed=0, scales=1)
    b = run_engine(photo, [(cafe, 1.0)], iterations=3, seed=0, scales=1, style_scale=2.0)
    assert (a - b).abs().mean() > 1e-3


def test_adam_also_stylises(small):
    photo, cafe, _ = small
    vgg = get_vgg(torch.device("cpu"))
    out = run_engine(photo, [(cafe, 1.0)], iterations=20, optimizer="adam", scales=1)
    assert losses.style_distance(vgg, out, cafe, side=60) < losses.style_distance(
        vgg, photo, cafe, side=60
    )


def test_cancel_flag_is_checked_every_step(small):
    from shared.errors import JobCancelled

    photo, cafe, _ = small
    steps = []
    spec = JobSpec(content=ImageDesc(1, 1, 1), styles=(), iterations=100, scales=1)
    with pytest.raises(JobCancelled):
        GatysEngine().run(
            EngineInput(spec, photo, [(cafe, 1.0)], profile("cpu")),
            lambda *a: steps.append(1),
            lambda: len(steps) >= 2,
        )
    assert len(steps) == 2


def test_coarse_to_fine_doubles_up_to_the_working_size():
    assert scale_sizes((300, 512), None) == [(75, 128), (150, 256), (300, 512)]
    assert scale_sizes((60, 100), None) == [(60, 100)]
    assert scale_sizes((300, 512), 1) == [(300, 512)]


def test_working_size_is_not_capped_by_the_budget_beyond_it_the_engine_tiles():
    from daemon.devices import VGG_BYTES_PER_PIXEL, DeviceProfile

    small = DeviceProfile(torch.device("cpu"), memory_budget=200 * 100 * VGG_BYTES_PER_PIXEL)
    spec = JobSpec(content=ImageDesc(1, 1, 1), styles=(), size=3000)
    assert GatysEngine().working_side(spec, (1000, 2000), small) == 3000


def frame_ratio(rgb: torch.Tensor) -> float:
    """Mean squared luminance gradient in the outer 8 px over the band 16–48 px inside (as
    bench/border.py)."""
    y = (rgb[0] * torch.tensor([0.299, 0.587, 0.114]).view(3, 1, 1)).sum(0).double()
    g = (y[1:, :-1] - y[:-1, :-1]) ** 2 + (y[:-1, 1:] - y[:-1, :-1]) ** 2
    h, w = g.shape
    yy, xx = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    d = torch.minimum(torch.minimum(yy, h - 1 - yy), torch.minimum(xx, w - 1 - xx))
    return float(g[d < 8].mean() / g[(d >= 16) & (d < 48)].mean())


def test_no_frame_along_the_border(monkeypatch):
    """The image is optimised with a free border VGG19 sees around it: no dark/light frame
    forms along the edges, where the plain zero-padded objective makes one (measured here in
    the same test)."""
    from daemon.engines import gatys
    from daemon.nets.vgg import VGGFeatures
    from daemon.pipeline import trim_edges

    photo = losses.resize_long_side(to_tensor(load_rgb("chelsea.png")), 256).clamp(0, 1)
    painting = trim_edges(to_tensor(load_rgb("night_cafe.png")))
    now = run_engine(photo, [(painting, 1.0)], iterations=25, seed=0, scales=1)
    gatys._TARGETS.clear()
    monkeypatch.setattr(VGGFeatures, "padded", VGGFeatures.run)  # targets: zero padding
    monkeypatch.setattr(gatys, "border_for", lambda h, w: 0)  # no border around the image
    before = run_engine(photo, [(painting, 1.0)], iterations=25, seed=0, scales=1)
    gatys._TARGETS.clear()
    assert frame_ratio(now) < 1.2 and frame_ratio(now) < 0.75 * frame_ratio(before), (
        frame_ratio(now),
        frame_ratio(before),
        frame_ratio(photo),
    )

"""The photo look (daemon.imaging.photoreal): locally affine in the photo's colour, the
reference's colour distribution, through the real daemon in fast and gatys mode."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from daemon.imaging import photoreal
from daemon.imaging.lab import lab_to_rgb, rgb_to_lab
from daemon.io.pixels import to_tensor
from daemon.optim.losses import resize_long_side
from shared.errors import BadRequest
from shared.job import JobSpec, StyleRef
from shared.protocol import PixelFormat
from tests.conftest import load_rgb, luma_ssim

RGB = PixelFormat("u8", "RGBA", 3)
GREY = PixelFormat("u8", "RGBA", 1)


def test_lab_round_trips_and_knows_white_and_red():
    x = torch.rand(1, 3, 40, 40, generator=torch.Generator().manual_seed(0))
    assert (lab_to_rgb(rgb_to_lab(x)) - x).abs().max() < 1e-4
    white = rgb_to_lab(torch.ones(1, 3, 1, 1)).flatten()
    red = rgb_to_lab(torch.tensor([1.0, 0, 0]).view(1, 3, 1, 1)).flatten()
    assert torch.allclose(white, torch.tensor([100.0, 0, 0]), atol=1e-3)
    assert torch.allclose(red, torch.tensor([53.24, 80.09, 67.20]), atol=0.05)


def test_an_affine_recolouring_of_the_photo_is_fitted_exactly_at_any_size():
    photo = to_tensor(load_rgb("chelsea.png"))
    small = resize_long_side(photo, 128)
    matrix = torch.tensor([[0.5, 0.2, 0.0], [0.1, 0.6, 0.1], [0.0, 0.3, 0.4]])

    def recolour(x):
        return (torch.einsum("ij,njhw->nihw", matrix, x) + 0.1).clamp(0, 1)

    a, b = photoreal.affine_fit(recolour(small), small, radius=3, eps=1e-6)
    out = photoreal.apply_affine(a, b, photo)
    assert (out - recolour(photo)).abs().mean() < 0.01


def test_the_transfer_gives_the_points_the_references_distribution():
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(20_000, 3, generator=gen) * torch.tensor([1.0, 3.0, 0.5])
    ref = torch.randn(30_000, 3, generator=gen) @ torch.tensor(
        [[2.0, 0.5, 0.0], [0.0, 1.0, 0.0], [0.3, 0.0, 0.7]]
    ) + torch.tensor([10.0, -4.0, 2.0])
    moved = photoreal.transfer_distribution(x, ref)
    assert torch.allclose(moved.mean(0), ref.mean(0), atol=0.1)
    assert (torch.cov(moved.T) - torch.cov(ref.T)).abs().max() < 0.2
    assert (torch.cov(x.T) - torch.cov(ref.T)).abs().max() > 1  # it had to move


def test_lightness_follows_the_photos_order():
    values = torch.tensor([5.0, 1.0, 3.0])
    assert photoreal.follow_order(values, torch.tensor([0.2, 0.9, 0.1])).tolist() == [3, 5, 1]


def test_the_look_keeps_every_edge_of_the_photo_and_takes_the_references_colours():
    photo = to_tensor(load_rgb("chelsea.png"))
    reference = to_tensor(load_rgb("red_panda.png"))
    small = resize_long_side(photo, 128)
    out = photoreal.photo_look(small, small, photo, [reference])
    # locally affine in the photo: refitted at full size with small windows it is reproduced
    a, b = photoreal.affine_fit(out, photo, radius=2, eps=1e-5)
    assert (photoreal.apply_affine(a, b, photo) - out).abs().mean() < 0.01
    # and its colours are the reference's, not the photo's (Lab means)
    mean = [rgb_to_lab(x).mean((0, 2, 3)) for x in (out, reference, photo)]
    assert (mean[0] - mean[1]).norm() < 0.35 * (mean[2] - mean[1]).norm()


def _run(daemon, photo, styles, frames=(), **fields):
    h, w, _ = photo.shape
    spec = JobSpec(content=RGB.describe(1, w, h), styles=tuple(styles), **fields)
    with daemon.client(timeout=30) as client:
        result = client.run(spec.to_wire(), [photo.tobytes(), *frames], timeout=180)
    desc, data = result.image_bytes(0)
    return np.frombuffer(data, np.uint8).reshape(desc.height, desc.width, 3), result.body[
        "metadata"
    ]


@pytest.mark.parametrize("engine", ["fast", "gatys"])
def test_a_photo_look_job_keeps_the_photos_structure_where_a_painted_one_moves_it(daemon, engine):
    photo = np.ascontiguousarray(load_rgb("chelsea.png"))
    panda = np.ascontiguousarray(load_rgb("red_panda.png"))
    if engine == "fast":
        styles, frames = [StyleRef(name="starry-night")], []
    else:
        styles = [StyleRef(image=RGB.describe(2, panda.shape[1], panda.shape[0]))]
        frames = [panda.tobytes()]
    look, meta = _run(daemon, photo, styles, frames, engine=engine, photoreal=True,
                      iterations=20, size=128)  # fmt: skip
    painted, _ = _run(daemon, photo, styles, frames, engine=engine, iterations=20, size=128)
    assert meta["settings"]["photoreal"] is True and "photoreal_s" in meta["timings"]
    assert meta["texture"] is False
    assert np.abs(look.astype(int) - photo).mean() > 10  # the colours moved
    assert luma_ssim(look, photo) > 0.75  # the structure did not
    if engine == "fast":  # where the network's own painting moves it
        assert luma_ssim(look, photo) > luma_ssim(painted, photo) + 0.2


def test_each_region_of_a_style_map_takes_its_own_references_look(daemon):
    photo = np.ascontiguousarray(load_rgb("chelsea.png"))
    h, w, _ = photo.shape
    red = np.zeros((64, 64, 3), np.uint8)
    red[..., 0] = 200
    blue = np.zeros((64, 64, 3), np.uint8)
    blue[..., 2] = 200
    left = np.zeros((h, w), np.uint8)
    left[:, : w // 2] = 255
    right = np.ascontiguousarray(255 - left)
    styles = [
        StyleRef(image=RGB.describe(2, 64, 64), map=GREY.describe(4, w, h)),
        StyleRef(image=RGB.describe(3, 64, 64), map=GREY.describe(5, w, h)),
    ]
    frames = [red.tobytes(), blue.tobytes(), left.tobytes(), right.tobytes()]
    out, _ = _run(daemon, photo, styles, frames, engine="gatys", photoreal=True)
    q = w // 4
    reds, blues = out[:, :q].astype(float).mean((0, 1)), out[:, -q:].astype(float).mean((0, 1))
    assert reds[0] > reds[2] + 60 and blues[2] > blues[0] + 60


def test_the_daemon_refuses_a_photo_look_in_hires_mode(daemon):
    photo = np.ascontiguousarray(load_rgb("chelsea.png"))
    body = {
        "content": RGB.describe(1, photo.shape[1], photo.shape[0]).to_wire(),
        "styles": [{"name": "starry-night"}],
        "engine": "hires",
        "photoreal": True,
    }
    with daemon.client(timeout=30) as client, pytest.raises(BadRequest, match="photo look"):
        client.run(body, [photo.tobytes()], timeout=30)

"""Style maps through the real daemon: each style in its own region in one fast pass, in gatys
and in hires up to full size, and the source where no style goes, and the CLI's @MAP."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch

from daemon.io.images import read_image, resize_array, write_image
from daemon.io.pixels import to_tensor
from daemon.nets.vgg import get_vgg
from daemon.optim.losses import style_distance
from shared.job import JobSpec, StyleRef, split_style_map
from shared.protocol import PixelFormat
from tests.conftest import DATA, ROOT, assert_halves_follow, load_rgb

GREY = PixelFormat("u8", "RGBA", 1)


def photo(side: int = 512, alpha: bool = False) -> np.ndarray:
    rgb = resize_array(load_rgb("chelsea.png"), side)
    if alpha:
        rgb = np.concatenate([rgb, np.full(rgb.shape[:2] + (1,), 200, np.uint8)], 2)
    return np.ascontiguousarray(rgb)


def run(daemon, content: np.ndarray, styles: list[tuple[str, np.ndarray | None]], **fields):
    h, w, c = content.shape
    frames = [content.tobytes()]
    refs = []
    for name, where in styles:
        desc = None
        if where is not None:
            desc = GREY.describe(len(frames) + 1, where.shape[1], where.shape[0])
            frames.append(np.ascontiguousarray(where).tobytes())
        refs.append(StyleRef(name=name, map=desc))
    spec = JobSpec(
        content=PixelFormat("u8", "RGBA", c).describe(1, w, h), styles=tuple(refs), **fields
    )
    with daemon.client(timeout=30) as client:
        result = client.run(spec.to_wire(), frames, timeout=120)
    desc, data = result.image_bytes(0)
    return np.frombuffer(data, np.uint8).reshape(desc.height, desc.width, desc.channels)


def halves(h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    left = np.zeros((h, w), np.uint8)
    left[:, : w // 2] = 255
    return left, 255 - left


def test_two_styles_with_complementary_half_maps_each_keep_their_half(daemon):
    content = photo()
    h, w = content.shape[:2]
    left, right = halves(h, w)
    both = run(daemon, content, [("starry-night", left), ("great-wave", right)]).astype(int)
    a = run(daemon, content, [("starry-night", None)]).astype(int)
    b = run(daemon, content, [("great-wave", None)]).astype(int)
    assert_halves_follow(both, a, b)


def test_all_zero_maps_return_the_source_and_a_partial_map_keeps_it_outside(daemon):
    content = photo(256)
    h, w = content.shape[:2]
    zero = np.zeros((h, w), np.uint8)
    out = run(daemon, content, [("starry-night", zero), ("great-wave", zero)])
    assert np.array_equal(out, content)
    left, _ = halves(h, w)
    small_map = resize_array(left[..., None], 64)[..., 0]  # any size: resampled
    out = run(daemon, content, [("starry-night", small_map)])
    assert np.abs(out[:, -w // 4 :].astype(int) - content[:, -w // 4 :]).max() <= 1
    assert np.abs(out[:, : w // 4].astype(int) - content[:, : w // 4]).mean() > 10
    with_alpha = photo(256, alpha=True)
    out = run(daemon, with_alpha, [("starry-night", left)])
    assert (out[:, -w // 4 :, 3] == 0).all() and (out[:, : w // 4, 3] == 200).all()


@pytest.mark.parametrize(
    ("engine", "side", "iterations"),
    [
        ("gatys", 192, 40),
        # 576 px: the gatys base at 288 px places the styles, the refinement at 576 px matches
        # each inside its own region (tiled_gatys' regions; their maths against the whole-image
        # objective is tests/daemon/test_tiled_gatys.py's)
        ("hires", 576, 12),
    ],
)
def test_gatys_and_hires_match_each_style_inside_its_own_region(daemon, engine, side, iterations):
    content = photo(side)
    left, right = halves(*content.shape[:2])
    out = run(
        daemon, content, [("starry-night", left), ("great-wave", right)],
        engine=engine, iterations=iterations, seed=0,
    )  # fmt: skip
    assert out.shape == content.shape
    assert_each_half_nearer_its_own_painting(out)


def assert_each_half_nearer_its_own_painting(out: np.ndarray) -> None:
    """Away from the seam, the left half's Gram statistics are nearer Starry Night's than the
    Great Wave's, and the right half's the reverse."""
    w = out.shape[1]
    vgg = get_vgg(torch.device("cpu"))
    paintings = {
        name: to_tensor(read_image(ROOT / "daemon" / "catalogue" / "styles" / f"{name}.jpg"))
        for name in ("vangogh-starry-night", "hokusai-great-wave")
    }
    image = to_tensor(out[..., :3])
    q = w // 2 - w // 8  # away from the seam
    halves_px = {"left": image[..., :q], "right": image[..., w - q :]}
    d = {
        (side, name): style_distance(vgg, px, pic, side=max(px.shape[-2:]))
        for side, px in halves_px.items()
        for name, pic in paintings.items()
    }
    assert d["left", "vangogh-starry-night"] < d["left", "hokusai-great-wave"], d
    assert d["right", "hokusai-great-wave"] < d["right", "vangogh-starry-night"], d


def test_cli_style_at_map(daemon, tmp_path):
    content = photo(256)
    h, w = content.shape[:2]
    left, right = halves(h, w)
    write_image(tmp_path / "photo.png", content)
    write_image(tmp_path / "left.png", np.repeat(left[..., None], 3, 2))
    out = tmp_path / "out.png"
    style = f"starry@{tmp_path / 'left.png'}"
    cmd = [sys.executable, "-m", "cli", "stylize", str(tmp_path / "photo.png"), "-s", style,
           "-o", str(out), "--endpoint", daemon.endpoint]  # fmt: skip
    run_ = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert run_.returncode == 0, run_.stderr
    result = read_image(out)
    assert np.abs(result[:, -w // 4 :].astype(int) - content[:, -w // 4 :]).max() <= 1


def test_split_style_map(tmp_path):
    assert split_style_map("starry:0.5@maps/left.png") == ("starry:0.5", "maps/left.png")
    at = tmp_path / "monet@2x.png"  # an existing file with an @ in its name stays whole
    at.write_bytes(b"")
    assert split_style_map(f"{at}:0.5") == (f"{at}:0.5", None)
    assert split_style_map(f"{at}@left.png") == (str(at), "left.png")
    assert split_style_map("starry") == ("starry", None)
    assert split_style_map(str(DATA / "night_cafe.png")) == (str(DATA / "night_cafe.png"), None)

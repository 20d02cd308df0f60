"""Stroke size by depth (daemon.imaging.depth): bands that add up, a map of other proportions
fitted with a note, and through the real daemon, bigger strokes where the map says near."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from daemon.imaging import depth
from daemon.io.images import resize_array
from shared.errors import BadRequest
from shared.job import JobSpec, StyleRef
from shared.protocol import PixelFormat
from tests.conftest import load_rgb

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
from depth import stroke_size, thirds  # noqa: E402

RGB = PixelFormat("u8", "RGBA", 3)
GREY = PixelFormat("u8", "RGBA", 1)


@pytest.mark.parametrize("depth_range", [1.0, 1.4, 3.0, 16.0])
def test_bands_span_the_range_in_small_steps_and_share_every_pixel(depth_range):
    factors = depth.band_factors(depth_range)
    assert factors[0] == 1 and abs(factors[-1] - depth_range) < 1e-9
    steps = [b / a for a, b in zip(factors, factors[1:], strict=False)]
    assert all(s <= depth.BAND_STEP + 1e-9 for s in steps)
    d = torch.linspace(0, 1, 101).view(1, 1, 1, -1)
    shares = depth.band_weights(d, len(factors))
    assert torch.allclose(shares.sum(1), torch.ones(1, 1, 101))
    assert (shares >= 0).all() and (shares.gt(0).sum(1) <= 2).all()  # two bands at most


def test_a_depth_map_of_other_proportions_is_stretched_with_a_note():
    d = torch.rand(1, 1, 30, 40)
    same, note = depth.fit_depth(d, (60, 80))
    assert same.shape[-2:] == (60, 80) and note is None
    wide, note = depth.fit_depth(d, (60, 160))
    assert wide.shape[-2:] == (60, 160) and "stretched" in note


def _job(daemon, photo, depth_map=None, engine="fast", **fields):
    h, w, _ = photo.shape
    frames = [photo.tobytes()]
    if depth_map is not None:
        fields["depth"] = GREY.describe(2, depth_map.shape[1], depth_map.shape[0])
        frames.append(np.ascontiguousarray(depth_map).tobytes())
    spec = JobSpec(
        content=RGB.describe(1, w, h), styles=(StyleRef(name="starry-night"),), engine=engine,
        **fields,
    )  # fmt: skip
    with daemon.client(timeout=30) as client:
        result = client.run(spec.to_wire(), frames, timeout=120)
    desc, data = result.image_bytes(0)
    out = np.frombuffer(data, np.uint8).reshape(desc.height, desc.width, desc.channels)
    return out, result.body["metadata"]


def left_over_right(img: np.ndarray) -> float:
    """The stroke size of the left third over the right third's."""
    left, _, right = thirds(img)
    return stroke_size(left) / stroke_size(right)


@pytest.mark.parametrize(
    "engine, side, fields",
    [
        ("fast", 384, {}),
        ("gatys", 192, {"iterations": 30, "seed": 0, "scales": 1}),
    ],
)
def test_the_near_side_gets_the_stroke_size_a_larger_style_scale_gives(
    daemon, engine, side, fields
):
    photo = np.ascontiguousarray(resize_array(load_rgb("red_panda.png"), side))
    h, w, _ = photo.shape
    near_left = np.ascontiguousarray(np.tile(np.linspace(255, 0, w).astype(np.uint8), (h, 1)))
    near_right = np.ascontiguousarray(near_left[:, ::-1])
    left, meta = _job(daemon, photo, near_left, engine, depth_range=4.0, **fields)
    right, _ = _job(daemon, photo, near_right, engine, depth_range=4.0, **fields)
    assert meta["depth"] == {"range": 4.0} and left.shape == photo.shape
    # turning the map round changes the thirds' stroke sizes the way a larger style scale does
    # (the photo's own texture is the same in both runs)
    turned = math.log(left_over_right(left) / left_over_right(right))
    big = stroke_size(_job(daemon, photo, engine=engine, style_scale=2.0, **fields)[0])
    small = stroke_size(_job(daemon, photo, engine=engine, style_scale=0.5, **fields)[0])
    assert turned * math.copysign(1, math.log(big / small)) > math.log(1.3), (turned, big, small)
    if engine == "fast":  # where a larger scale means bigger strokes, as it does here
        assert big > small and turned > math.log(1.5)


def test_a_depth_map_of_other_proportions_runs_with_a_note(daemon):
    photo = np.ascontiguousarray(load_rgb("chelsea.png"))
    _, meta = _job(daemon, photo, np.full((20, 20), 128, np.uint8))
    assert "stretched" in meta["depth"]["note"]


@pytest.mark.parametrize(
    "fields, expect",
    [
        ({"engine": "hires", "base": "fast"}, "gatys base"),
        ({"photoreal": True}, "no strokes"),
        ({"depth_range": 0.5}, "depth_range"),
    ],
)
def test_depth_where_it_cannot_work_is_refused_saying_why(fields, expect):
    content = RGB.describe(1, 64, 48)
    body = {
        "content": content.to_wire(),
        "styles": [{"name": "starry-night"}],
        "depth": GREY.describe(2, 64, 48).to_wire(),
        **fields,
    }
    with pytest.raises(BadRequest, match=expect):
        JobSpec.from_wire(body)
    colour = dict(body, depth=RGB.describe(2, 64, 48).to_wire())
    with pytest.raises(BadRequest):
        JobSpec.from_wire(colour)

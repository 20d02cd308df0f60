"""Hires mode through the real daemon: base, upscale, tiled refinement, in the input's format."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from daemon.devices import DeviceProfile
from daemon.imaging import texture
from daemon.nets.vgg import reflect
from daemon.optim.tiled import TiledObjective
from shared.errors import JobCancelled
from tests.conftest import DaemonProcess, load_rgb
from tests.daemon.test_tiled_gatys import setup


def u16_job(rgb: np.ndarray, **fields) -> tuple[dict, list]:
    h, w, _ = rgb.shape
    arr = np.concatenate([rgb, np.full((h, w, 1), 255, np.uint8)], 2).astype(np.uint16) * 257
    arr[..., 3] = np.arange(w, dtype=np.uint16)[None, :] * 97  # a gradient alpha
    body = {
        "engine": "hires",
        "content": {"frame": 1, "width": w, "height": h, "channels": 4, "dtype": "u16"},
    }
    body.update(fields)
    return body, [arr.tobytes()]


def run(daemon, body, frames):
    events = []
    with daemon.client(timeout=30) as c:
        result = c.run(body, frames, on_event=events.append, timeout=600)
    stages = [e.body.get("stage", "") for e in events if e.type == "progress"]
    desc, data = result.image_bytes(0)
    out = np.frombuffer(data, "<u2").reshape(desc.height, desc.width, desc.channels)
    return out, stages, frames[0]


@pytest.mark.parametrize(
    "fields",
    [
        {"styles": [{"name": "night-cafe"}]},
        {"styles": [{"name": "starry"}], "base": "fast", "upscaler": "learned"},
    ],
    ids=["gatys-base", "fast-base"],
)
def test_hires_stylises_a_thumbnail_then_refines_at_full_size_in_16_bits(daemon, fields):
    photo = np.asarray(Image.fromarray(load_rgb("chelsea.png")).resize((640, 424)))
    body, frames = u16_job(photo, iterations=5, seed=0, **fields)
    out, stages, raw = run(daemon, body, frames)
    src = np.frombuffer(raw, np.uint16).reshape(out.shape)
    assert out.shape == (424, 640, 4)
    assert np.array_equal(out[..., 3], src[..., 3])  # alpha verbatim, 16 bits
    assert any(s.startswith("base: ") for s in stages)
    assert any(s.startswith("refine 1/1 (640x424, tiles of") for s in stages), stages
    assert np.abs(out[..., :3].astype(float) - src[..., :3]).mean() > 0.04 * 65535
    assert len(np.unique(out[..., :3])) > 4096  # real 16-bit output, not 8-bit steps


def test_levels_the_painting_cannot_show_are_guided_from_the_photo_not_refined(daemon):
    """Starry Night's picture is ~720 px: with strokes twice as big (style scale 2) a 640 px level
    would need it at 1280 px, an enlargement with no detail to match, so hires stops at the base
    and brings it to full size with the photo's edges."""
    photo = np.asarray(Image.fromarray(load_rgb("chelsea.png")).resize((640, 424)))
    body, frames = u16_job(
        photo, iterations=5, seed=0, style_scale=2.0, styles=[{"name": "starry-night"}]
    )
    out, stages, raw = run(daemon, body, frames)
    src = np.frombuffer(raw, np.uint16).reshape(out.shape)
    assert out.shape == (424, 640, 4)
    assert any(s.startswith("base: ") for s in stages)
    assert not any(s.startswith("refine") for s in stages), stages
    assert np.abs(out[..., :3].astype(float) - src[..., :3]).mean() > 0.04 * 65535
    # the photo's edges: the output's horizontal gradient follows the photo's, seen through a
    # 2 px blur (finer, the full-size texture of daemon.imaging.texture: σ_hi 1.5 px here);
    # measured 0.66 (0.74 without the texture)
    grey = out[..., :3].astype(float).mean(-1), src[..., :3].astype(float).mean(-1)
    grey = [texture.gaussian_blur(torch.from_numpy(g)[None, None], 2.0)[0, 0] for g in grey]
    dx = [np.abs(np.diff(g.numpy(), axis=1)).ravel() for g in grey]
    assert np.corrcoef(*dx)[0, 1] > 0.3


def test_cancel_is_checked_between_tiles():
    vgg, content, targets, start = setup()
    objective = TiledObjective(
        vgg, content, targets, 10.0, 1.0, DeviceProfile(torch.device("cpu"), 1 << 30), 32, 64
    )
    calls = []

    def cancelled() -> bool:
        calls.append(1)
        return len(calls) > 3

    with pytest.raises(JobCancelled):
        objective(vgg.preprocess(reflect(start, objective.pad)), cancelled)
    assert len(calls) == 4  # stopped at the fourth tile


@pytest.mark.skipif(
    not Path("/proc/self/clear_refs").exists(), reason="the daemon measures its peak on Linux"
)
def test_a_small_budget_holds_the_whole_job_and_its_estimate_is_within_20_percent(tmp_path):
    """A daemon limited to 700 MB refines a 560x320 picture in tiles; the job's peak (the
    daemon's peak RSS during it, beyond what it held at the start, `memory.peak`) is within 20%
    of the engine's estimate, and the estimate within the budget."""
    budget = 700 * 2**20
    proc = DaemonProcess(tmp_path, "--max-memory", "700M")
    try:
        small = np.asarray(Image.fromarray(load_rgb("chelsea.png")).resize((96, 64)))
        run(proc, *u16_job(small, iterations=2, styles=[{"name": "night-cafe"}]))  # warm up
        photo = np.asarray(Image.fromarray(load_rgb("chelsea.png")).resize((560, 320)))
        body, frames = u16_job(photo, iterations=4, seed=0, styles=[{"name": "night-cafe"}])
        with proc.client(timeout=30) as c:
            events = []
            result = c.run(body, frames, on_event=events.append, timeout=600)
    finally:
        proc.stop()
    stages = [e.body.get("stage", "") for e in events if e.type == "progress"]
    tiled = [s for s in stages if s.startswith("refine 1/1 (560x320, tiles of")]
    assert tiled and int(tiled[0].split("tiles of ")[1].split()[0]) < 560, stages
    memory = result.body["metadata"]["memory"]
    assert memory["budget"] == budget
    assert memory["estimate"] <= budget, memory
    assert 0.8 * memory["estimate"] <= memory["peak"] <= 1.2 * memory["estimate"], memory

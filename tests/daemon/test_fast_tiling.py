"""Fast mode in tiles: the tiles partition the image, agree with the untiled network, and do not
depend on the tile size; a daemon with a small memory budget stylises in tiles."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from daemon.devices import DeviceProfile
from daemon.engines.fast import TILE_MARGIN, stylise_tiled
from daemon.nets.fast_net import StyleNet
from daemon.tiling import tile_grid, tile_side
from tests.conftest import DaemonProcess, load_rgb, rgba_u8
from tests.daemon.test_fast_mode import fast_job
from tests.daemon.test_fast_net import randomised

CPU = DeviceProfile(torch.device("cpu"), 1 << 30)


@pytest.mark.parametrize("shape", [(1, 1), (64, 64), (97, 203), (300, 45)])
def test_inner_parts_partition_the_image_and_crops_are_aligned(shape):
    h, w = shape
    seen = np.zeros(shape, int)
    for t in tile_grid(h, w, 64, 16, 4):
        seen[t.iy0 : t.iy1, t.ix0 : t.ix1] += 1
        assert t.y0 <= t.iy0 < t.iy1 <= t.y1 and t.x0 <= t.ix0 < t.ix1 <= t.x1
        assert t.y0 % 4 == 0 and t.x0 % 4 == 0
        assert t.iy0 - t.y0 in (0, 16) or t.y0 == 0
    assert (seen == 1).all()


def test_tile_side_fits_the_budget_with_margins():
    side = tile_side(1000 * 1000, 48, 4)
    assert side % 4 == 0 and (side + 96) ** 2 <= 1000 * 1000 < (side + 100) ** 2
    assert tile_side(10, 48, 4) == 64  # never below the minimum


def net_and_image(seed=0):
    torch.manual_seed(seed)
    net = randomised(StyleNet(3), seed)  # the default widths and depth: the real receptive field
    x = torch.rand(1, 3, 181, 250)
    return net, x, torch.tensor([0.2, 0.5, 0.3])


def test_tiled_equals_untiled_when_the_thumbnail_is_the_whole_image():
    net, x, weights = net_and_image()
    with torch.inference_mode():
        whole = net(x, weights)
    events = []
    tiled = stylise_tiled(net, x, weights, CPU, 64, lambda *a: events.append(a), lambda: False)
    assert (tiled - whole).abs().max() <= 2 / 255
    assert len(events) == len(tile_grid(181, 250, 64, TILE_MARGIN, 4)) > 4
    assert events[-1][1] == 1.0 and events[0][0].startswith("tile 1/")


def test_the_tile_size_does_not_change_the_result():
    net, x, weights = net_and_image(1)
    a = stylise_tiled(net, x, weights, CPU, 64, lambda *a: None, lambda: False)
    b = stylise_tiled(net, x, weights, CPU, 128, lambda *a: None, lambda: False)
    assert (a - b).abs().max() < 1e-4


def test_a_daemon_with_a_small_budget_stylises_in_tiles_with_the_same_result(daemon, tmp_path):
    proc = DaemonProcess(tmp_path, "--max-memory", "8M")
    try:
        content = rgba_u8(load_rgb("chelsea.png"))
        body, frames = fast_job(content, [("starry", 1.0)])
        events = []
        with proc.client(timeout=30) as c:
            result = c.run(body, frames, on_event=events.append, timeout=120)
        stages = [e.body.get("stage", "") for e in events if e.type == "progress"]
        assert any(s.startswith("tile ") for s in stages), stages
        desc, data = result.image_bytes(0)
        out = np.frombuffer(data, np.uint8).reshape(desc.height, desc.width, 4)
        with daemon.client(timeout=30) as c:  # the session daemon: default budget, no tiles
            _, whole = c.run(body, frames, timeout=120).image_bytes(0)
        whole = np.frombuffer(whole, np.uint8).reshape(out.shape)
        assert np.abs(out.astype(int) - whole).max() <= 2
        assert np.abs(out[..., :3].astype(int) - content[..., :3]).mean() > 10
    finally:
        proc.stop()


def test_a_whole_image_for_onnx_runtime_is_planned_with_its_smaller_peak():
    from daemon.devices import FAST_BYTES_PER_PIXEL, ONNX_FAST_BYTES_PER_PIXEL
    from daemon.engines.fast import RESIDENT_BYTES_PER_PIXEL, tile_plan

    pixels = 1024 * 1024
    budget = pixels * (
        RESIDENT_BYTES_PER_PIXEL + (FAST_BYTES_PER_PIXEL + ONNX_FAST_BYTES_PER_PIXEL) // 2
    )
    profile = DeviceProfile(torch.device("cpu"), budget)
    assert tile_plan(pixels, profile, onnx=True) is None
    side = tile_plan(pixels, profile)
    assert side is not None and side < 1024

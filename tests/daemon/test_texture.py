"""The 100% view (daemon.imaging.texture): the fast network's full-size texture below the strokes
of an enlarged result. Its parts (the lattice filter, the chroma smoothing, the tiled band), the
pipeline's use of it (today's result where there is nothing to refine, texture without colour
bands where there is, gatys and style maps), and a daemon with a small memory budget painting it
in tiles with the same result."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from daemon import pipeline
from daemon.catalogue import Catalogue
from daemon.catalogue.model_library import ModelLibrary
from daemon.catalogue.styles import StyleLibrary
from daemon.devices import DeviceProfile
from daemon.engines import fast
from daemon.engines.fast import TILE_MARGIN, texture_painter
from daemon.imaging import texture
from daemon.imaging.color import luminance, rgb_to_yiq
from daemon.io.images import resize_array
from daemon.io.pixels import to_tensor
from daemon.nets.fast_net import StyleNet
from daemon.plan import make_plan
from shared.job import JobSpec, StyleRef
from shared.protocol import PixelFormat
from tests.conftest import DaemonProcess, assert_halves_follow, load_rgb, rgba_u8
from tests.daemon.test_fast_mode import fast_job
from tests.daemon.test_fast_net import randomised

CPU = DeviceProfile(torch.device("cpu"), 1 << 30)
RGB8 = PixelFormat("u8", "RGB", 3)
GREY = PixelFormat("u8", "RGBA", 1)


def smooth_noise(shape: tuple[int, ...], sigma: float, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return texture.gaussian_blur(torch.randn(*shape, generator=g), sigma)


def high_energy(x: torch.Tensor) -> float:
    return float((x - texture.gaussian_blur(x, 2.0)).pow(2).mean())


def test_delattice_removes_a_pattern_locked_to_the_4_px_grid_and_keeps_the_rest():
    h, w = 203, 250  # not multiples of the grid
    paint = smooth_noise((1, 1, h, w), 1.5, 0)
    cell = torch.randn(4, 4, generator=torch.Generator().manual_seed(1))
    strength = 0.5 + smooth_noise((1, 1, h, w), 20.0, 2) * 20  # varies slowly over the picture
    lattice = cell.repeat(h // 4 + 1, w // 4 + 1)[:h, :w] * strength * float(paint.std())
    out = texture.delattice(paint + lattice)
    left = (out - paint)[..., 12:-12, 12:-12]  # the edges' reflection is not the pattern's
    assert high_energy(left) < 0.02 * high_energy(lattice[..., 12:-12, 12:-12])
    kept = texture.delattice(paint)
    assert float((kept - paint).pow(2).mean()) < 0.02 * float(paint.pow(2).mean())


def picture_and_net(seed: int = 0) -> tuple[torch.Tensor, StyleNet]:
    net = randomised(StyleNet(3), seed)  # the default widths and depth: the real receptive field
    return (0.5 + 0.2 * smooth_noise((1, 3, 229, 310), 2.0, seed)).clamp(0, 1), net


@pytest.mark.parametrize("mapped", [False, True])
def test_tiles_paint_what_one_pass_over_the_whole_picture_paints(mapped):
    """Seamless: every inner pixel of a tile sees enough context for the network, the lattice
    filter and the band, and every tile the same norm statistics."""
    picture, net = picture_and_net(int(mapped))
    weights = torch.tensor([0.2, 0.5, 0.3])
    if mapped:  # style maps: per-pixel weights at a working size, sampled at each tile
        weights = torch.rand(1, 3, 50, 68, generator=torch.Generator().manual_seed(4))
    paint = texture_painter(net, picture, weights, CPU)
    sigma = texture.high_sigma(310, 90)
    whole = texture.add_texture(picture.clone(), paint, sigma, None, TILE_MARGIN)
    events = []
    tiled = texture.add_texture(
        picture.clone(), paint, sigma, 32, TILE_MARGIN, lambda *a: events.append(a)
    )
    assert len(events) > 4 and events[-1][1] == 1.0
    # measured 7e-7; without the band's own margin (the network's alone) 4e-5
    assert (tiled - whole).abs().max() < 1e-5
    added = whole - picture
    assert high_energy(luminance(added)) > 1e-4  # something was painted


def test_the_texture_adds_luminance_only():
    picture, net = picture_and_net(2)
    paint = texture_painter(net, picture, torch.tensor([1.0, 0.0, 0.0]), CPU)
    added = texture.add_texture(picture.clone(), paint, 2.0, None, TILE_MARGIN) - picture
    inside = (picture > 0.1).all(1, keepdim=True) & (picture < 0.9).all(1, keepdim=True)
    spread = (added.max(1, keepdim=True).values - added.min(1, keepdim=True).values)[inside]
    assert float(spread.max()) < 1e-5 and float(added.abs().mean()) > 1e-3
    # a texture network's gain scales the band (within the picture's range)
    more = texture.add_texture(picture.clone(), paint, 2.0, None, TILE_MARGIN, gain=1.5) - picture
    kept = inside.expand_as(more) & (picture + more > 1e-4) & (picture + more < 1 - 1e-4)
    assert kept.float().mean() > 0.8
    torch.testing.assert_close(more[kept], 1.5 * added[kept])


@pytest.fixture(scope="module")
def stylist():
    models = ModelLibrary()
    catalogue = Catalogue(StyleLibrary(), models)
    catalogue.refresh()
    return models, catalogue, DeviceProfile(torch.device("cpu"), 4 << 30)


def run_pipeline(stylist, photo: np.ndarray, styles, engine: str = "fast", maps=(), **fields):
    """The daemon's pipeline in process: (u8 RGB result, metadata)."""
    models, catalogue, profile = stylist
    h, w, _ = photo.shape
    frames, refs = [np.ascontiguousarray(photo).tobytes()], []
    for i, name in enumerate(styles):
        desc = None
        if i < len(maps):
            desc = GREY.describe(len(frames) + 1, w, h)
            frames.append(np.ascontiguousarray(maps[i]).tobytes())
        refs.append(StyleRef(1.0, name=name, map=desc))
    spec = JobSpec(content=RGB8.describe(1, w, h), styles=tuple(refs), engine=engine, **fields)
    plan = make_plan(spec, catalogue.snapshot, profile)
    out = pipeline.run(plan, frames, catalogue, profile, lambda *a: None, lambda: False, models)
    desc, data = out.images[0]
    return np.frombuffer(data, np.uint8).reshape(desc.height, desc.width, 3), out.metadata


def photo_at(side: int) -> np.ndarray:
    return np.ascontiguousarray(resize_array(load_rgb("red_panda.png"), side))


def test_a_picture_within_the_enlargement_limit_gets_todays_result(stylist):
    """Up to 1.5x the working side (384 px) nothing is refined: the result is the enlargement
    alone (what a job with `texture` off gets at every size), byte for byte; above it the
    stage paints."""
    outs = {}
    for side in (300, 384, 576, 768):
        outs[side] = run_pipeline(stylist, photo_at(side), ["starry-night"])
    today = {
        side: run_pipeline(stylist, photo_at(side), ["starry-night"], texture=False)
        for side in outs
    }
    for side, (out, meta) in outs.items():
        assert meta["texture"] is (side > 576) and meta["working_size"][0] == 384
        assert today[side][1]["texture"] is False
        assert np.array_equal(out, today[side][0]) is (side <= 576), side


def fringe(x: torch.Tensor) -> float:
    """High-pass chroma energy over high-pass luminance energy (bench/view_measures.py)."""
    yiq = rgb_to_yiq(x)
    return high_energy(yiq[:, 1:]) * 2 / high_energy(yiq[:, :1])


def test_an_enlarged_fast_result_gets_fine_texture_without_colour_bands(stylist):
    photo = photo_at(1152)  # 3x the working side
    out, meta = run_pipeline(stylist, photo, ["starry-night"])
    assert meta["texture"] and meta["timings"]["texture_s"] > 0
    today, meta = run_pipeline(stylist, photo, ["starry-night"], texture=False)
    assert meta["texture"] is False
    new, old = to_tensor(out), to_tensor(today)
    # measured 3.6x the enlargement's fine luminance detail, fringe 0.42 -> 0.04
    assert high_energy(luminance(new)) > 2 * high_energy(luminance(old))
    assert fringe(new) < 0.3 * fringe(old)
    # the strokes are the enlargement's: the pictures agree once the fine band is blurred away
    blur = texture.high_sigma(1152, 384) * 2
    coarse = texture.gaussian_blur(new - old, blur).abs().mean()
    assert float(coarse) < 0.02


def test_gatys_gets_the_texture_when_the_fast_model_holds_its_styles(stylist):
    models, catalogue, profile = stylist
    both = make_plan(
        JobSpec(content=RGB8.describe(1, 64, 64), styles=(StyleRef(1.0, name="starry"),),
                engine="gatys"),
        catalogue.snapshot, profile,
    )  # fmt: skip
    assert both.model is not None and both.blend[both.styles[0].index] == 1.0
    sent = make_plan(
        JobSpec(content=RGB8.describe(1, 64, 64), engine="gatys",
                styles=(StyleRef(1.0, image=RGB8.describe(2, 8, 8)),)),
        catalogue.snapshot, profile,
    )  # fmt: skip
    assert sent.model is None  # a picture sent with the job: no network knows it
    photo = photo_at(200)
    out, meta = run_pipeline(stylist, photo, ["starry-night"], "gatys", size=64, iterations=2)
    assert meta["texture"] and meta["working_size"][0] == 64 and out.shape == photo.shape


def test_hires_gets_the_texture_above_its_top_refined_level(stylist, monkeypatch):
    """600 px at style scale 2: hires refines its 300 px base no further (the painting has no
    detail at that scale) and enlarges it; the texture begins there."""
    photo, fields = photo_at(600), {"iterations": 2, "style_scale": 2.0}
    out, meta = run_pipeline(stylist, photo, ["starry-night"], "hires", **fields)
    assert meta["texture"] and out.shape == photo.shape
    with monkeypatch.context() as m:
        m.setattr(texture, "MIN_ENLARGEMENT", float("inf"))
        today, _ = run_pipeline(stylist, photo, ["starry-night"], "hires", **fields)
    new, old = to_tensor(out), to_tensor(today)
    assert high_energy(luminance(new)) > 1.5 * high_energy(luminance(old))


def test_style_maps_keep_their_regions_at_full_size(stylist):
    photo = photo_at(1000)
    h, w = photo.shape[:2]
    left = np.zeros((h, w), np.uint8)
    left[:, : w // 2] = 255
    both, meta = run_pipeline(
        stylist, photo, ["starry-night", "great-wave"], maps=(left, 255 - left)
    )
    a, _ = run_pipeline(stylist, photo, ["starry-night"])
    b, _ = run_pipeline(stylist, photo, ["great-wave"])
    assert meta["texture"]
    assert_halves_follow(both, a, b)


def test_a_daemon_with_a_small_budget_paints_the_texture_in_tiles_with_the_same_result(
    daemon, tmp_path
):
    proc = DaemonProcess(tmp_path, "--max-memory", "24M")
    try:
        content = rgba_u8(photo_at(900))
        body, frames = fast_job(content, [("starry", 1.0)])
        events = []
        with proc.client(timeout=30) as c:
            result = c.run(body, frames, on_event=events.append, timeout=300)
        stages = [e.body.get("stage", "") for e in events if e.type == "progress"]
        tiles = [s for s in stages if s.startswith("texture at full size: tile ")]
        assert tiles and not tiles[-1].endswith(" 1/1"), stages
        desc, data = result.image_bytes(0)
        out = np.frombuffer(data, np.uint8).reshape(desc.height, desc.width, 4)
        with daemon.client(timeout=30) as c:  # the session daemon: one tile
            whole = c.run(body, frames, timeout=300)
        assert whole.body["metadata"]["texture"]
        whole = np.frombuffer(whole.image_bytes(0)[1], np.uint8).reshape(out.shape)
        assert np.abs(out.astype(int) - whole).max() <= 2
    finally:
        proc.stop()


def test_out_of_memory_for_the_whole_picture_retries_in_tiles(stylist, monkeypatch):
    models, catalogue, profile = stylist
    spec = JobSpec(content=RGB8.describe(1, 600, 400), styles=(StyleRef(1.0, name="starry"),))
    plan = make_plan(spec, catalogue.snapshot, profile)
    picture = (0.5 + 0.2 * smooth_noise((1, 3, 400, 600), 3.0, 5)).clamp(0, 1)
    small = DeviceProfile(torch.device("cpu"), 64 << 20)  # tiles from the start
    tiled = fast.paint_texture(plan, models, None, (128, 192), picture.clone(), small,
                               lambda *a: None, lambda: False)  # fmt: skip
    forward, whole_tries = fast._forward, []

    def no_room_for_the_whole(net, x, weights, prof, stats=None):
        if x.shape[-2:] == picture.shape[-2:] and stats is None:  # not the thumbnail's record
            whole_tries.append(x.shape)
            raise torch.OutOfMemoryError("out of memory (test)")
        return forward(net, x, weights, prof, stats)

    monkeypatch.setattr(fast, "_forward", no_room_for_the_whole)
    events = []
    retried = fast.paint_texture(plan, models, None, (128, 192), picture.clone(), profile,
                                 lambda *a: events.append(a), lambda: False)  # fmt: skip
    assert whole_tries and len(events) > 1
    assert (retried - tiled).abs().max() < 1e-5

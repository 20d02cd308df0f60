"""Sequences of frames through the real daemon: order and size kept, temporal consistency,
state freed after the last frame, on cancel and when the client goes away."""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch

from daemon.imaging.flow import warping_error
from daemon.io.images import resize_array
from daemon.io.pixels import to_tensor
from shared.job import JobSpec, SequenceRef, StyleRef
from shared.protocol import PixelFormat
from tests.conftest import load_rgb, rgba_u8

H, W, STEP = 72, 96, 3


def clip(frames: int = 5) -> list[np.ndarray]:
    """A camera pan of STEP px per frame over a photo: motion known, no occlusion but the edge."""
    wide = resize_array(load_rgb("chelsea.png"), 150)[:H]
    return [rgba_u8(np.ascontiguousarray(wide[:, i * STEP : i * STEP + W])) for i in range(frames)]


def job(**fields) -> JobSpec:
    content = PixelFormat("u8", "RGBA").describe(1, W, H)
    return JobSpec(content=content, styles=(StyleRef(name="starry-night"),), size=W, **fields)


def pixels(result) -> np.ndarray:
    desc, data = result.image_bytes(0)
    return np.frombuffer(data, np.uint8).reshape(desc.height, desc.width, desc.channels)


def run_clip(daemon, frames, **fields) -> list[np.ndarray]:
    with daemon.client(timeout=30) as c:
        return [pixels(r) for r in c.stylize_frames([f.tobytes() for f in frames], job(**fields))]


def mean_warping_error(frames, outs) -> float:
    def t(a):
        return to_tensor(a[..., :3])

    return float(
        np.mean(
            [
                warping_error(t(outs[i - 1]), t(outs[i]), t(frames[i - 1]), t(frames[i]))
                for i in range(1, len(frames))
            ]
        )
    )


def test_a_naive_sequence_is_each_frame_alone_in_order_and_size(daemon):
    frames = clip(4)
    outs = run_clip(daemon, frames, temporal=False)
    assert len(outs) == len(frames)
    with daemon.client(timeout=30) as c:
        for frame, out in zip(frames, outs, strict=True):
            alone = pixels(c.run(job().to_wire(), [frame.tobytes()], timeout=60))
            assert out.shape == frame.shape and np.array_equal(out, alone)


# consistent / naive warping error must be below this; measured here: fast ~0.3, gatys ~0.62 on
# these 72x96 frames (on the real clips of bench/video.py gatys reaches 0.10-0.14)
BOUND = {"fast": 0.6, "gatys": 0.8}


@pytest.mark.parametrize("engine", ["fast", "gatys"])
def test_consistent_frames_have_a_lower_warping_error_than_naive_ones(daemon, engine):
    frames = clip(5 if engine == "fast" else 3)
    extra = {"engine": engine}
    if engine == "gatys":
        extra.update(iterations=30, seed=0)
    naive = run_clip(daemon, frames, temporal=False, **extra)
    consistent = run_clip(daemon, frames, **extra)
    before, after = mean_warping_error(frames, naive), mean_warping_error(frames, consistent)
    assert after < BOUND[engine] * before, (before, after)
    # the frames are still stylised, not frozen copies of the first one
    assert np.abs(consistent[-1].astype(int) - frames[-1].astype(int)).mean() > 10


def kept(daemon) -> int:
    with daemon.client(timeout=30) as c:
        return c.status()["sequences"]


def test_the_last_frame_and_a_cancel_free_what_the_sequence_kept(daemon):
    frames = clip(2)
    run_clip(daemon, frames)
    assert kept(daemon) == 0  # the last frame freed it
    with daemon.client(timeout=30) as c:
        first = job(sequence=SequenceRef("cancel-me", 0))
        c.run(first.to_wire(), [frames[0].tobytes()], timeout=60)
        assert c.status()["sequences"] == 1
        slow = job(engine="gatys", iterations=500, sequence=SequenceRef("cancel-me", 1))
        handle = c.submit(slow.to_wire(), [frames[1].tobytes()])
        time.sleep(1.0)
        c.cancel(handle.id)
        with pytest.raises(Exception, match="cancel"):
            c.wait(handle, timeout=60)
        assert c.status()["sequences"] == 0


def test_a_vanished_clients_sequence_is_dropped(daemon):
    frames = clip(2)
    with daemon.client(timeout=30) as c:
        c.run(job(sequence=SequenceRef("left", 0)).to_wire(), [frames[0].tobytes()], timeout=60)
    assert kept(daemon) == 1  # kept for the next frame, which never comes
    deadline = time.monotonic() + 15  # the test daemon forgets a client after 3 s of silence
    while kept(daemon) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert kept(daemon) == 0


def test_frames_that_do_not_follow_start_afresh(daemon):
    frames = clip(3)
    with daemon.client(timeout=30) as c:
        metas = []
        for index in (0, 2):  # a gap: frame 2 cannot use frame 0
            spec = job(sequence=SequenceRef("gap", index, index == 2))
            metas.append(c.run(spec.to_wire(), [frames[index].tobytes()], timeout=60).body)
    assert [m["metadata"]["temporal"] for m in metas] == [False, False]
    torch.manual_seed(0)


def test_hires_frames_larger_than_the_thumbnail_start_from_the_previous_result(daemon):
    """Beyond the thumbnail side a hires frame skips the ladder: it refines at full size from
    the previous result (with the temporal loss) instead of stylising a thumbnail again."""
    wide = resize_array(load_rgb("chelsea.png"), 700)[:400]
    frames = [rgba_u8(np.ascontiguousarray(wide[:, i * 8 : i * 8 + 640])) for i in range(2)]
    content = PixelFormat("u8", "RGBA").describe(1, 640, 400)
    spec = JobSpec(
        content=content, styles=(StyleRef(name="starry-night"),), engine="hires", iterations=5,
        seed=0,
    )  # fmt: skip
    stages: list[str] = []
    with daemon.client(timeout=30) as c:
        results = list(
            c.stylize_frames(
                [f.tobytes() for f in frames],
                spec,
                on_event=lambda e: stages.append(e.body.get("stage", "")),
                timeout=600,
            )  # fmt: skip
        )
    meta = [r.body["metadata"] for r in results]
    assert [m["temporal"] for m in meta] == [False, True]
    assert any(s.startswith("base: ") for s in stages)  # the first frame: thumbnail, ladder
    assert any(s.startswith("refine from the previous frame (640x400)") for s in stages)
    first, second = (pixels(r)[..., :3].astype(int) for r in results)
    assert np.abs(second - frames[1][..., :3]).mean() > 10  # stylised, not the photo
    # the pan moved 8 px: the second result is the first one moved, where both see the scene
    assert np.abs(second[:, :-8] - first[:, 8:]).mean() < 0.5 * np.abs(second - first).mean()

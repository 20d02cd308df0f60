"""`learn` through the real daemon: a background lesson, its style in fast mode while and after it
learns, the shipped styles' results unchanged, bad input refused, stop and restart."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest

from shared.errors import BadImage, BadRequest, NotFound
from shared.lessons import LearnSpec
from shared.protocol import ImageDesc
from tests.conftest import DaemonProcess, load_rgb, rgba_u8
from tests.daemon.test_fast_mode import run_fast


def learn(daemon: DaemonProcess, name: str, rgb: np.ndarray, minutes: float) -> dict:
    h, w = rgb.shape[:2]
    spec = LearnSpec(name, ImageDesc(1, w, h, 3, "u8"), minutes, "Night café")
    with daemon.client(timeout=30) as c:
        return c.learn(spec, np.ascontiguousarray(rgb[..., :3]).tobytes())


def lesson(daemon: DaemonProcess, name: str) -> dict:
    with daemon.client() as c:
        return next(x for x in c.lessons() if x["name"] == name)


def wait_for(daemon: DaemonProcess, name: str, test, timeout: float = 180) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        now = lesson(daemon, name)
        if test(now):
            return now
        assert time.monotonic() < deadline, now
        time.sleep(0.5)


@pytest.fixture
def learner(tmp_path):
    proc = DaemonProcess(tmp_path / "d", "--client-timeout", "3")
    yield proc
    proc.stop()


def test_a_learned_style_works_in_fast_mode_and_every_shipped_result_stays_the_same(learner):
    photo = rgba_u8(load_rgb("chelsea.png")[:96, :128])
    painting = load_rgb("night_cafe.png")
    shipped_before, _ = run_fast(learner, photo, [("starry-night", 1.0)])
    blend_before, _ = run_fast(learner, photo, [("starry-night", 0.4), ("great-wave", 0.6)])
    with pytest.raises(BadRequest, match="exists already"):
        learn(learner, "vangogh-night-cafe", painting, 0.1)
    with pytest.raises(BadImage, match="at least 64"):
        learn(learner, "tiny", painting[:40, :40], 0.1)
    with learner.client() as c, pytest.raises(BadRequest, match="one frame"):
        c.request("learn", LearnSpec("two", ImageDesc(1, 8, 8, 3, "u8")).to_wire())
    started = learn(learner, "my-cafe", painting, 0.25)
    assert started["state"] == "queued" and started["minutes"] == 0.25
    with pytest.raises(BadRequest, match="being learned"):
        learn(learner, "my-cafe", painting, 0.1)
    first = wait_for(learner, "my-cafe", lambda x: x["stage"] != "")
    assert first["state"] in ("learning", "done")
    deadline = time.monotonic() + 10  # the catalogue rescans every 2 s
    while True:
        with learner.client() as c:
            styles = {s["name"]: s for s in c.styles()}
        if "my-cafe" in styles or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert styles["my-cafe"]["engines"] == ["fast", "gatys", "hires"]
    assert styles["my-cafe"]["source"] == "user"
    during, _ = run_fast(learner, photo, [("my-cafe", 1.0)])  # a job while it learns
    done = wait_for(learner, "my-cafe", lambda x: x["state"] == "done")
    assert done["stage"] == "learned" and done["steps"] > 0 and done["eta"] == 0
    mine, _ = run_fast(learner, photo, [("my-cafe", 1.0)])
    mixed, _ = run_fast(learner, photo, [("my-cafe", 0.5), ("starry-night", 0.5)])
    shipped_after, _ = run_fast(learner, photo, [("starry-night", 1.0)])
    blend_after, _ = run_fast(learner, photo, [("starry-night", 0.4), ("great-wave", 0.6)])
    assert np.array_equal(shipped_before, shipped_after)
    assert np.array_equal(blend_before, blend_after)
    assert np.abs(mine.astype(int) - shipped_after).mean() > 5
    to_mine = np.abs(mixed.astype(int) - mine).mean()
    assert 0 < to_mine < np.abs(shipped_after.astype(int) - mine).mean()
    assert during.shape == mine.shape
    with learner.client() as c, pytest.raises(NotFound):
        c.stop_learning("my-cafe")
    card = json.loads((learner.data / "impasto" / "models" / "my-cafe.json").read_text())
    assert card["extends"]["model"] == "impasto-17" and card["learning"]["steps"] == done["steps"]
    (learner.data / "impasto" / "models" / "my-cafe.safetensors").unlink()
    deadline = time.monotonic() + 10
    while "my-cafe" in styles and time.monotonic() < deadline:
        time.sleep(0.5)
        with learner.client() as c:
            styles = {s["name"] for s in c.styles()}
    assert "my-cafe" not in styles


def test_a_lesson_resumes_after_a_restart_and_stopping_it_keeps_what_it_learned(tmp_path):
    painting = load_rgb("night_cafe.png")
    first = DaemonProcess(tmp_path / "d", "--client-timeout", "3")
    try:
        learn(first, "my-cafe", painting, 5.0)
        before = wait_for(first, "my-cafe", lambda x: x["steps"] >= 2)
    finally:
        first.stop()
    folder = tmp_path / "d" / "data" / "impasto" / "lessons" / "my-cafe"
    saved = json.loads((folder / "lesson.json").read_text())
    assert saved["state"] == "learning" and saved["steps"] >= before["steps"]
    again = DaemonProcess(tmp_path / "d", "--client-timeout", "3")
    try:
        resumed = wait_for(again, "my-cafe", lambda x: x["steps"] > saved["steps"])
        assert resumed["state"] == "learning"
        with again.client() as c:
            stopped = c.stop_learning("my-cafe")
        assert stopped["state"] == "stopping"
        final = wait_for(again, "my-cafe", lambda x: x["state"] == "cancelled")
        photo = rgba_u8(load_rgb("chelsea.png")[:64, :64])
        time.sleep(2.5)  # the catalogue's rescan
        out, _ = run_fast(again, photo, [("my-cafe", 1.0)])
        assert out.shape == (64, 64, 4) and final["steps"] >= resumed["steps"]
    finally:
        again.stop()

"""shared.preview against a real daemon: the newest settings win, nothing queues, errors come
back as errors."""

from __future__ import annotations

import time

import numpy as np

from daemon.io.images import resize_array
from shared.errors import UnknownStyle
from shared.preview import LatestPreview, Shown
from tests.conftest import load_rgb, rgba_u8


def body(style: str, strength: float, img: np.ndarray) -> tuple[dict, list]:
    h, w, _ = img.shape
    content = {"frame": 1, "width": w, "height": h, "channels": 4, "dtype": "u8"}
    fields = {"engine": "fast", "styles": [{"name": style}], "strength": strength}
    return {"content": content, **fields}, [img.tobytes()]


def wait(live: LatestPreview, seconds: float = 60):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        shown = live.poll()
        if shown is not None:
            return shown
        time.sleep(0.01)
    raise AssertionError("no preview came")


def test_the_newest_settings_win_and_a_repeat_sends_nothing(daemon):
    img = rgba_u8(resize_array(load_rgb("chelsea.png"), 256))
    with daemon.client(timeout=30) as client:
        live = LatestPreview(client)
        assert live.show(("wave", 1.0), *body("great-wave", 1.0, img))
        assert live.show(("starry", 0.5), *body("starry", 0.5, img))  # the first is dropped
        assert not live.show(("starry", 0.5), *body("starry", 0.5, img))  # already asked
        shown = wait(live)
        assert isinstance(shown, Shown) and live.sent == 2
        assert (shown.width, shown.height, shown.channels) == (img.shape[1], img.shape[0], 4)
        assert client.jobs == {}  # nothing kept: the dropped and the shown handles are forgotten
        expected = client.run(*body("starry", 0.5, img), timeout=60).image_bytes(0)[1]
        got = np.frombuffer(shown.data, np.uint8).astype(int)
        assert np.abs(got - np.frombuffer(expected, np.uint8)).max() <= 1
        time.sleep(0.3)
        assert live.poll() is None  # the dropped job's late events show nothing


def test_a_refused_preview_is_its_error_and_reset_asks_again(daemon):
    img = rgba_u8(resize_array(load_rgb("chelsea.png"), 128))
    with daemon.client(timeout=30) as client:
        live = LatestPreview(client)
        live.show("x", *body("no-such-style", 1.0, img))
        assert isinstance(wait(live), UnknownStyle)
        live.reset()
        assert live.show("x", *body("great-wave", 1.0, img))
        assert isinstance(wait(live), Shown)

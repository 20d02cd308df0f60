"""Animated layers through the docker's controller and a real daemon, with documents from the fake
`krita` module: every keyframe the playback range shows becomes a keyframe of one new layer (the
timeline's add-frame action, as in Krita), the source is only read, Cancel adds nothing."""

from __future__ import annotations

import glob
import os
import tempfile

import numpy as np

from tests.krita import fake_krita
from tests.krita.test_krita_controller import SIDE, finished, photo, run


def pan(shift: int) -> np.ndarray:
    """The photo moved `shift` px to the left (a camera pan), in Krita's BGRA."""
    wide = photo("U8", side=SIDE + 8)
    return np.ascontiguousarray(wide[:SIDE, shift : shift + SIDE])


def open_animation(app, keys=(0, 2, 3), playback=(1, 3)):
    doc = app.open(fake_krita.Document(SIDE, SIDE))
    source = doc.add_animation("frames", {t: pan(2 * i) for i, t in enumerate(keys)})
    doc.playback = playback
    return doc, source


def frames_folders() -> set[str]:
    return set(glob.glob(os.path.join(tempfile.gettempdir(), "impasto-frames-*")))


def test_an_animated_layer_becomes_one_new_layer_with_a_stylised_keyframe_per_shown_key(
    app, controller
):
    doc, source = open_animation(app)  # keys 0, 2, 3; the range 1–3 shows key 0 held at 1
    before = {t: f.copy() for t, f in source.frames.items()}
    doc.time = 2
    folders = frames_folders()
    assert controller.apply()
    run(controller, lambda: finished(controller), timeout=120)
    assert controller.message.startswith("Added") and "3 frames" in controller.message, (
        controller.message
    )
    assert [n.name() for n in doc.root.children][0] == "frames"
    layer = doc.root.children[1]
    assert layer.name().startswith("Impasto: ") and layer.animated()
    assert sorted(t for t in layer.frames if layer.frames[t][..., 3].any()) == [1, 2, 3]
    for t, f in before.items():  # the source is only read
        np.testing.assert_array_equal(source.frames[t], f)
    for result_time, key in ((1, 0), (2, 2), (3, 3)):
        out, src = layer.frames[result_time].astype(float), before[key].astype(float)
        assert np.abs(out[..., :3] - src[..., :3]).mean() > 10  # stylised, not a copy
        np.testing.assert_array_equal(out[..., 3], 255)
    # the pan moves the stylised frames with it: frame 3 is frame 2 moved by 2 px
    moved = np.abs(layer.frames[3][:, :-8].astype(float) - layer.frames[2][:, 2:-6]).mean()
    unmoved = np.abs(layer.frames[3][:, :-8].astype(float) - layer.frames[2][:, :-8]).mean()
    assert moved < unmoved
    assert doc.time == 2 and doc.activeNode() is source  # the user's time and layer back
    assert frames_folders() <= folders  # the kept frames are gone


def test_the_frames_go_into_their_own_image_when_another_is_active(app, controller):
    doc, _ = open_animation(app, keys=(0, 1), playback=(0, 1))
    assert controller.apply()
    other = app.open(fake_krita.Document(SIDE, SIDE))  # the user switches images meanwhile
    other.add_layer("drawing")
    run(controller, lambda: finished(controller), timeout=120)
    assert controller.message.startswith("Added"), controller.message
    assert [n.name() for n in other.root.children] == ["drawing"]
    assert not other.root.children[0].animated()
    assert doc.root.children[1].animated() and sorted(doc.root.children[1].frames) == [0, 1]


def test_an_image_without_a_view_gets_a_message_and_no_layer(app, controller):
    doc, _ = open_animation(app, keys=(0, 1), playback=(0, 1))
    app.without_view.append(doc)
    assert controller.apply()
    run(controller, lambda: finished(controller), timeout=120)
    assert controller.message.startswith("Could not add the frames"), controller.message
    assert "no open view" in controller.message and len(doc.root.children) == 1


def test_frames_wait_for_their_image_to_show_and_cancel_then_adds_nothing(app, controller):
    """Krita does not bring the image forward (a dialog open elsewhere): the frames wait, the
    docker says what to do; Cancel then removes the partial layer and the kept frames."""
    doc, source = open_animation(app, keys=(0, 1), playback=(0, 1))
    folders = frames_folders()
    assert controller.apply()
    other = app.open(fake_krita.Document(SIDE, SIDE))
    app.stuck.append(doc)
    run(controller, lambda: controller.message.startswith("Show the image"), timeout=120)
    assert controller.busy and len(doc.root.children) == 2  # the layer waits for its frames
    controller.cancel()
    assert not controller.busy and controller.message.startswith("Cancelled")
    assert [n.name() for n in doc.root.children] == ["frames"] and doc.activeNode() is source
    assert frames_folders() <= folders and len(other.root.children) == 0


def test_cancel_during_the_frames_adds_nothing_and_drops_the_kept_frames(app, controller):
    doc, _ = open_animation(app, keys=(0, 1, 2), playback=(0, 2))
    controller.set_mode("gatys")
    controller.settings.iterations = 10000
    folders = frames_folders()
    assert controller.apply()
    run(controller, lambda: controller.job is not None and controller.stage.startswith("frame 1"))
    controller.cancel()
    run(controller, lambda: not controller.busy, timeout=30)
    assert controller.message.startswith("Cancelled") and len(doc.root.children) == 1
    assert frames_folders() <= folders


def test_a_playback_range_before_any_keyframe_is_refused_with_a_message(app, controller):
    doc, _ = open_animation(app, keys=(5, 6), playback=(0, 3))
    assert not controller.apply()
    assert "no keyframe" in controller.message and len(doc.root.children) == 1

"""The docker's controller against a real daemon, with documents from the fake `krita` module:
Apply, selections, depths, layer styles, cancel, a dead daemon, colour spaces it refuses."""

from __future__ import annotations

import socket
import sys
import time

import numpy as np
import pytest

from krita_plugin.impasto import controller as controller_module
from krita_plugin.impasto.controller import Controller
from krita_plugin.impasto.jobs import StyleChoice
from tests.conftest import ROOT, DaemonProcess, assert_halves_follow, free_port, load_rgb
from tests.krita import fake_krita

SIDE = 64


def photo(depth: str, side: int = SIDE) -> np.ndarray:
    """chelsea.png as a layer in Krita's layout for `depth` (BGRA for integers), opaque."""
    rgb = load_rgb("chelsea.png")[:side, :side].astype(np.float64) / 255
    rgba = np.concatenate([rgb, np.ones(rgb.shape[:2] + (1,))], axis=2)
    if depth in ("U8", "U16"):
        top = 255 if depth == "U8" else 65535
        rgba = rgba[..., [2, 1, 0, 3]] * top
        return np.round(rgba).astype(np.uint8 if depth == "U8" else np.uint16)
    return rgba.astype(np.float16 if depth == "F16" else np.float32)


def open_photo(app, depth: str = "U8", model: str = "RGBA"):
    doc = app.open(fake_krita.Document(SIDE, SIDE, model, depth))
    source = doc.add_layer("photo", photo(depth) if model == "RGBA" else None)
    return doc, source


def run(controller: Controller, until, timeout: float = 60.0) -> None:
    """Tick like the docker's QTimer until `until()` holds."""
    deadline = time.monotonic() + timeout
    while not until():
        assert time.monotonic() < deadline, controller.message
        controller.tick()
        time.sleep(0.02)


def finished(controller: Controller) -> bool:
    return controller.state != "connecting" and not controller.busy


def as_float(pixels: np.ndarray) -> np.ndarray:
    if pixels.dtype == np.uint8:
        return pixels / 255
    if pixels.dtype == np.uint16:
        return pixels / 65535
    return pixels.astype(np.float64)


def test_untouched_docker_applies_the_first_fast_style_into_a_new_layer(app, controller):
    doc, source = open_photo(app)
    before = source.pixels.copy()
    assert controller.apply()  # before the connection exists: the Apply waits for it
    run(controller, lambda: finished(controller))
    first_fast = next(s["name"] for s in controller.catalogue if "fast" in s["engines"])
    assert controller.message.startswith("Added"), controller.message
    assert [n.name() for n in doc.root.children] == ["photo", f"Impasto: {first_fast}"]
    layer = doc.root.children[1]
    np.testing.assert_array_equal(source.pixels, before)  # the source is never touched
    assert layer.colorDepth() == "U8" and doc.undo_steps == 1
    np.testing.assert_array_equal(layer.pixels[..., 3], 255)  # alpha copied verbatim
    assert np.abs(as_float(layer.pixels[..., :3]) - as_float(before[..., :3])).mean() > 0.05


@pytest.mark.parametrize("depth", ["U16", "F16", "F32"])
def test_deep_documents_come_back_in_their_own_depth(app, controller, depth):
    doc, source = open_photo(app, depth)
    before = source.pixels.copy()
    source.pixels[:4, :4, 3] = 0  # a transparent corner stays transparent
    assert controller.apply()
    run(controller, lambda: finished(controller))
    assert controller.message.startswith("Added"), controller.message
    layer = doc.root.children[1]
    assert layer.pixels.dtype == before.dtype and layer.colorDepth() == depth
    np.testing.assert_array_equal(layer.pixels[..., 3], source.pixels[..., 3])
    diff = np.abs(as_float(layer.pixels[4:, 4:, :3]) - as_float(before[4:, 4:, :3])).mean()
    assert diff > 0.05


@pytest.mark.parametrize("krita", ["5.1", "5.2"])
def test_a_selection_keeps_its_feather_and_in_krita_5_2_becomes_an_editable_mask(
    app, controller, krita
):
    """Krita 5.2+ scripting makes transparency masks: the selection becomes one on the new
    layer. Krita 5.1's cannot: the selection goes to the daemon, which fades the alpha."""
    cls = fake_krita.Document if krita == "5.1" else fake_krita.Krita52Document
    doc = app.open(cls(SIDE, SIDE))
    source = doc.add_layer("photo", photo("U8"))
    before = source.pixels.copy()
    mask = np.zeros((SIDE, SIDE), np.uint8)
    mask[16:48, 20:52] = 255
    mask[16:48, 20] = 100  # a soft (feathered) column at the left edge
    doc.setSelection(fake_krita.Selection(mask))
    assert controller.apply()
    doc.setSelection(fake_krita.Selection(np.full((SIDE, SIDE), 7, np.uint8)))  # changed meanwhile
    run(controller, lambda: finished(controller))
    assert controller.message.startswith("Added"), controller.message
    layer = doc.root.children[1]
    alpha = layer.pixels[..., 3].astype(int)
    assert (alpha[:16] == 0).all() and (alpha[:, :20] == 0).all()  # only the selection's bounds
    if krita == "5.2":
        (transparency,) = layer.childNodes()
        assert transparency.type() == "transparencymask"
        kept = transparency.selection().mask
        assert kept[16:48, 20].tolist() == [100] * 32 and kept[16:48, 21:52].min() == 255
        assert kept.sum() == 255 * 32 * 31 + 100 * 32  # the selection of Apply, not the new one
        assert (alpha[16:48, 20:52] == 255).all()  # the mask alone decides what shows
    else:
        assert layer.childNodes() == []
        assert (alpha[16:48, 21:52] == 255).all() and (np.abs(alpha[16:48, 20] - 100) <= 1).all()
    assert np.array_equal(source.pixels, before) and doc.undo_steps == 1


def test_a_layer_of_another_document_as_gatys_style(app, controller):
    style_doc = app.open(fake_krita.Document(SIDE, SIDE))
    style_layer = style_doc.add_layer("stripes", np.zeros((SIDE, SIDE, 4), np.uint8))
    style_layer.pixels[:, :, 3] = 255
    style_layer.pixels[::8, :, 2] = 255  # red stripes (BGRA)
    doc, _ = open_photo(app)
    controller.set_mode("gatys")
    controller.settings.iterations = 3
    controller.settings.styles["gatys"] = [
        StyleChoice("layer", "stripes", 1.0, source=(style_doc, style_layer))
    ]
    assert controller.apply()
    run(controller, lambda: finished(controller), timeout=300)
    assert controller.message.startswith("Added"), controller.message
    assert doc.root.children[1].name() == "Impasto: stripes"
    assert controller.preview is not None  # gatys sends previews while it works


def test_fast_mode_refuses_a_layer_style_with_a_message(app, controller):
    doc, _ = open_photo(app)
    controller.settings.styles["fast"] = [StyleChoice("layer", "x", source=(doc, doc.root))]
    assert not controller.apply()
    assert "gatys" in controller.message and len(doc.root.children) == 1


def test_cancel_leaves_the_document_as_it_was(app, controller):
    doc, _ = open_photo(app)
    controller.set_mode("gatys")
    controller.settings.iterations = 10000
    assert controller.apply()
    run(controller, lambda: controller.job is not None and controller.stage != "queued")
    controller.cancel()
    run(controller, lambda: not controller.busy, timeout=30)
    assert controller.message.startswith("Cancelled") and len(doc.root.children) == 1


def test_an_error_while_writing_the_result_is_reported_once_and_adds_one_layer_at_most(
    app, controller, monkeypatch
):
    doc, source = open_photo(app)
    calls = []
    real_write = controller_module.write_result

    def write_then_fail(capture, data, name):
        calls.append(name)
        real_write(capture, data, name)  # the layer goes in…
        raise ValueError("disk full")  # … and then something unforeseen fails

    monkeypatch.setattr(controller_module, "write_result", write_then_fail)
    assert controller.apply()
    run(controller, lambda: finished(controller) and calls)
    for _ in range(20):  # further ticks must not write again
        controller.tick()
        time.sleep(0.02)
    assert len(calls) == 1 and len(doc.root.children) == 2
    assert controller.message == "Could not add the result: disk full"
    assert not controller.busy


def test_a_docker_that_stalls_past_the_daemons_limit_learns_why_and_is_free_again(app, controller):
    """Krita's UI thread busy longer than the daemon's silence limit (3 s): no tick, no ping."""
    doc, _ = open_photo(app)
    controller.set_mode("gatys")
    controller.settings.iterations = 10000
    assert controller.apply()
    run(controller, lambda: controller.job is not None and controller.stage != "queued")
    time.sleep(5)  # the editor is frozen: nothing is sent
    resumed = time.monotonic()
    run(controller, lambda: not controller.busy, timeout=10)
    assert time.monotonic() - resumed < 6
    assert "heard nothing from this client" in controller.message, controller.message
    assert len(doc.root.children) == 1
    controller.set_endpoint("tcp://127.0.0.1:1")  # no longer refused as busy
    assert controller.endpoint == "tcp://127.0.0.1:1"


def test_hires_runs_through_the_daemon(app, controller):
    run(controller, lambda: controller.state == "connected")
    assert all(controller.mode_available(m) for m in ("fast", "gatys", "hires"))
    doc, _ = open_photo(app)
    controller.set_mode("hires")
    controller.settings.iterations = 5
    assert controller.apply()
    run(controller, lambda: finished(controller), timeout=300)
    assert controller.message.startswith("Added"), controller.message
    first_hires = next(s["name"] for s in controller.catalogue if "hires" in s["engines"])
    assert doc.root.children[1].name() == f"Impasto: {first_hires}"


def test_a_mode_the_daemon_does_not_offer_is_refused_with_a_message(app, controller):
    run(controller, lambda: controller.state == "connected")
    controller.engines = ("fast", "gatys")  # as an older daemon's hello, without hires
    assert not controller.mode_available("hires")
    doc, _ = open_photo(app)
    controller.set_mode("hires")
    assert controller.apply()
    run(controller, lambda: finished(controller))
    assert "does not offer the hires mode" in controller.message
    assert len(doc.root.children) == 1


def test_cmyk_documents_get_a_message_and_no_job(app, controller):
    doc, _ = open_photo(app, model="CMYKA")
    assert not controller.apply()
    assert "CMYK" in controller.message and controller.job is None and not controller.busy
    assert len(doc.root.children) == 1


def test_no_daemon_says_how_to_start_it_and_changes_nothing(app, monkeypatch):
    monkeypatch.setattr(controller_module, "REPLY_TIMEOUT", 0.5)
    c = Controller(app, f"tcp://127.0.0.1:{free_port()}")
    doc, _ = open_photo(app)
    started = time.monotonic()
    assert c.apply()
    c.tick()  # the UI thread never waits: each tick returns at once
    assert time.monotonic() - started < 0.5
    run(c, lambda: c.state == "offline", timeout=5)
    c.close()
    assert "No Impasto daemon answers" in c.message and "Nothing was changed" in c.message
    assert not c.busy and len(doc.root.children) == 1


def test_daemon_dying_mid_job_shows_a_message_and_changes_nothing(app, monkeypatch, tmp_path):
    monkeypatch.setattr(controller_module, "JOB_SILENCE_TIMEOUT", 2.0)
    daemon = DaemonProcess(tmp_path)
    c = Controller(app, daemon.endpoint)
    try:
        doc, _ = open_photo(app)
        c.set_mode("gatys")
        c.settings.iterations = 10000
        assert c.apply()
        run(c, lambda: c.job is not None and c.stage != "queued")
        daemon.proc.kill()
        run(c, lambda: not c.busy, timeout=20)
    finally:
        c.close()
        daemon.stop()
    assert c.state == "offline" and "Nothing was changed" in c.message
    assert len(doc.root.children) == 1


def test_the_modes_offered_are_the_ones_the_daemons_hello_named(app, daemon, monkeypatch):
    monkeypatch.setattr(controller_module, "RETRY_SECONDS", 60.0)
    monkeypatch.setattr(controller_module, "REPLY_TIMEOUT", 0.5)
    c = Controller(app, daemon.endpoint)
    try:
        assert not any(c.mode_available(m) for m in ("fast", "gatys", "hires"))  # no hello yet
        run(c, lambda: c.state == "connected")
        with daemon.client() as client:
            assert c.engines == tuple(client.hello()["engines"])
        assert all(c.mode_available(m) for m in c.engines)
        c.set_endpoint(f"tcp://127.0.0.1:{free_port()}")  # a daemon that does not answer
        run(c, lambda: c.state == "offline", timeout=10)
        assert all(c.mode_available(m) for m in c.engines)  # what the last hello said
    finally:
        c.close()


def stop_started(c: Controller) -> None:
    c.close()
    if c.started_daemon is not None and c.started_daemon.process.poll() is None:
        c.started_daemon.process.terminate()
        c.started_daemon.process.wait(30)


def test_start_daemon_button_starts_the_installed_checkouts_daemon(app, monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))  # the daemon's user folders
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    c = Controller(app, f"tcp://127.0.0.1:{free_port()}")
    c._install_info = {"python": sys.executable, "repo": str(ROOT)}  # as install.json says
    try:
        assert c.daemon_command() is not None
        c.start_daemon()
        assert "Starting the daemon" in c.message
        run(c, lambda: c.state == "connected", timeout=90)
        assert c.started_daemon.process.poll() is None
        assert c.started_daemon.log == tmp_path / "cache" / "impasto" / "krita-daemon.log"
        assert "listening on" in c.started_daemon.log.read_text()  # its output is kept
    finally:
        stop_started(c)
    no_install = Controller(app)
    no_install._install_info = {}
    assert no_install.daemon_command() is None
    assert "install.py" in no_install.offline_message()


def test_a_daemon_that_cannot_start_says_why_in_the_docker_and_keeps_its_log(
    app, monkeypatch, tmp_path
):
    """Bug 5: Start daemon on a port another program holds. The daemon stops at once; the docker
    shows its reason and where its log is (its output once went nowhere)."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(controller_module, "REPLY_TIMEOUT", 0.5)
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    c = Controller(app, f"tcp://127.0.0.1:{holder.getsockname()[1]}")
    c._install_info = {"python": sys.executable, "repo": str(ROOT)}
    try:
        c.start_daemon()
        run(c, lambda: "stopped while starting" in c.message, timeout=120)
        log = tmp_path / "cache" / "impasto" / "krita-daemon.log"
        assert "Address already in use" in c.message and f"Its log: {log}" in c.message
        assert "Address already in use" in log.read_text()
        looked = c.clock()
        run(c, lambda: c.state == "offline" and c._next_try > looked, timeout=30)
        assert "Address already in use" in c.message  # looking for a daemon again keeps it
    finally:
        holder.close()
        stop_started(c)


def test_a_daemon_restarted_mid_job_ends_the_job_clearly_and_the_docker_reconnects(
    app, monkeypatch, tmp_path
):
    monkeypatch.setattr(controller_module, "RETRY_SECONDS", 0.5)
    first = DaemonProcess(tmp_path / "a")
    c = Controller(app, first.endpoint)
    second = None
    try:
        doc, _ = open_photo(app)
        c.set_mode("gatys")
        c.settings.iterations = 10000
        assert c.apply()
        run(c, lambda: c.job is not None and c.stage not in ("queued", ""))
        first.stop()
        second = DaemonProcess(tmp_path / "b", endpoint=first.endpoint)
        run(c, lambda: not c.busy, timeout=30)
        assert "restarted" in c.message or "No Impasto daemon answers" in c.message, c.message
        assert len(doc.root.children) == 1  # nothing changed in the document
        run(c, lambda: c.state == "connected", timeout=30)  # by itself: nobody pressed anything
        c.set_mode("fast")
        assert c.apply()
        run(c, lambda: finished(c))
        assert c.message.startswith("Added") and len(doc.root.children) == 2
    finally:
        c.close()
        if second is not None:
            second.stop()


def test_a_result_remembers_its_settings_and_reapply_remakes_it_from_the_edited_source(
    app, controller
):
    style_doc = app.open(fake_krita.Document(SIDE, SIDE))
    style_layer = style_doc.add_layer("stripes", np.zeros((SIDE, SIDE, 4), np.uint8))
    style_layer.pixels[..., 3] = 255
    style_layer.pixels[::8, :, 2] = 255
    doc, source = open_photo(app)
    controller.set_mode("gatys")
    controller.settings.iterations = 3
    controller.settings.strength = 0.8
    controller.settings.styles["gatys"] = [
        StyleChoice("builtin", "starry-night", 0.7),
        StyleChoice("layer", "stripes", 0.3, source=(style_doc, style_layer)),
    ]
    assert controller.apply()
    run(controller, lambda: finished(controller), timeout=300)
    first = doc.root.children[1]
    command = controller.command_for(doc, first)
    assert command == (
        "impasto stylize photo.png -s starry-night:0.7 -s stripes.png:0.3 --mode gatys "
        "--iterations 3 --strength 0.8 -o result.png"
    )
    controller.settings = type(controller.settings)()  # the docker changed since: not used
    source.pixels[: SIDE // 2] = 255 - source.pixels[: SIDE // 2]  # the user edits the source
    source.pixels[..., 3] = 255
    doc.setActiveNode(first)
    assert controller.reapply()
    run(controller, lambda: finished(controller), timeout=300)
    assert controller.message.startswith("Added"), controller.message
    names = [n.name() for n in doc.root.children]
    assert names == ["photo", first.name(), first.name()] or names[1:] == [first.name()] * 2
    second = next(n for n in doc.root.children if n.name() == first.name() and n is not first)
    assert controller.command_for(doc, second) == command  # the same settings
    top = np.abs(as_float(second.pixels[: SIDE // 2]) - as_float(first.pixels[: SIDE // 2]))
    bottom = np.abs(as_float(second.pixels[SIDE // 2 :]) - as_float(first.pixels[SIDE // 2 :]))
    assert top.mean() > 3 * bottom.mean()  # made from the edited pixels


def test_reapply_on_a_layer_impasto_did_not_make_says_so(app, controller):
    doc, source = open_photo(app)
    assert not controller.reapply(doc, source)
    assert "not made by Impasto" in controller.message
    assert controller.command_for(doc, source) is None


def test_live_preview_follows_the_settings_drops_old_requests_and_adds_no_layer(app, daemon):
    c = Controller(app, daemon.endpoint, thumbnail=fake_krita.thumbnail)
    try:
        doc, source = open_photo(app)
        c.set_live_preview(True)
        run(c, lambda: c.preview is not None)
        assert c.live_jobs_sent == 1 and c.preview[:2] == (SIDE, SIDE)
        shown = c.preview
        c.settings.styles["fast"] = [StyleChoice("builtin", "starry-night", 1.0)]
        for weight in (0.5, 0.2):  # edits faster than the daemon: only the last is previewed
            c.settings.styles["fast"].append(StyleChoice("builtin", "great-wave", weight))
            c.tick()
            c.settings.styles["fast"].pop()
        c.settings.styles["fast"].append(StyleChoice("builtin", "great-wave", 3.0))
        sent = c.live_jobs_sent
        run(c, lambda: c.preview is not shown and c.live.handle is None)
        assert c.live_jobs_sent == sent + 1 == 4  # the two superseded ones were cancelled
        wave = c.preview
        assert np.abs(np.frombuffer(wave[2], np.uint8).astype(int) - np.frombuffer(
            shown[2], np.uint8)).mean() > 3  # fmt: skip
        c.settings.strength = 0.0  # strength 0: the preview is the layer itself
        run(c, lambda: c.preview is not wave and c.live.handle is None)
        rgba = source.pixels[..., [2, 1, 0, 3]]
        assert np.abs(np.frombuffer(c.preview[2], np.uint8) - rgba.ravel().astype(int)).max() <= 1
        c.set_mode("gatys")  # fast mode only
        c.settings.strength = 1.0
        for _ in range(5):
            c.tick()
        assert c.live.handle is None and [n.name() for n in doc.root.children] == ["photo"]
    finally:
        c.close()


def test_styles_placed_by_a_saved_selection_and_by_a_painted_layer_keep_their_halves(
    app, controller
):
    doc, source = open_photo(app)
    left = np.zeros((SIDE, SIDE), np.uint8)
    left[:, : SIDE // 2] = 255
    sea = doc.add_layer("sea", np.zeros((SIDE, SIDE, 4), np.uint8))
    sea.pixels[:, SIDE // 2 :, 3] = 255  # painted on the right half
    doc.setActiveNode(source)
    starry = StyleChoice("builtin", "starry-night", 1.0)
    wave = StyleChoice("builtin", "great-wave", 1.0)

    def apply(*styles: StyleChoice) -> np.ndarray:
        controller.settings.styles["fast"] = list(styles)
        assert controller.apply(doc, source)
        run(controller, lambda: finished(controller))
        assert controller.message.startswith("Added"), controller.message
        return controller.last_layer.pixels[..., :3].astype(int)

    placed = [
        StyleChoice(
            "builtin", "starry-night", 1.0, where=("selection", fake_krita.Selection(left))
        ),
        StyleChoice("builtin", "great-wave", 1.0, where=("alpha", (doc, sea))),
    ]
    both = apply(*placed)
    command = controller.command_for(doc, controller.last_layer)
    assert "-s 'starry-night@selection map.png' -s 'great-wave@sea map.png'" in command
    # Re-apply: the saved selection travels in the recipe, the layer is found again by its id
    assert controller.reapply(doc, controller.last_layer)
    run(controller, lambda: finished(controller))
    assert controller.message.startswith("Added"), controller.message
    assert controller.command_for(doc, controller.last_layer) == command
    again = controller.last_layer.pixels[..., :3].astype(int)
    assert np.abs(again - both).max() <= 2  # the same source and settings: the same result
    a, b = apply(starry), apply(wave)
    assert_halves_follow(both, a, b)


def test_add_to_fast_styles_learns_the_active_layer_and_offers_it_while_it_learns(app, tmp_path):
    learner = DaemonProcess(tmp_path / "d", "--client-timeout", "3")
    c = Controller(app, learner.endpoint, thumbnail=fake_krita.thumbnail)
    try:
        run(c, lambda: c.state == "connected")
        doc = app.open(fake_krita.Document(96, 96, "RGBA", "U8"))
        painting = load_rgb("night_cafe.png")[:96, :96]
        bgra = np.concatenate([painting[..., [2, 1, 0]], np.full((96, 96, 1), 255, np.uint8)], 2)
        doc.add_layer("My Café (final)", bgra)
        c.learn_layer(name="vangogh-night-cafe")  # a name that is taken: a message, still online
        run(c, lambda: "exists already" in c.message)
        assert c.state == "connected"
        assert c.learn_layer(minutes=1)
        run(c, lambda: "my-cafe-final" in c.lessons)
        run(c, lambda: c.lesson_label("my-cafe-final") != "", timeout=120)
        run(c, lambda: "my-cafe-final" in {s["name"] for s in c.catalogue}, timeout=30)
        assert c.lessons["my-cafe-final"]["state"] in ("learning", "done")
        assert "my-cafe-final" in {s["name"] for s in c.styles_for("fast")}
        assert "Learning my-cafe-final" in c.learning_text()
        c.settings.styles["fast"] = [StyleChoice("builtin", "my-cafe-final", 1.0)]
        doc2, source = open_photo(app)
        assert c.apply(doc2, source)  # a fast job while it learns
        run(c, lambda: finished(c), timeout=120)
        assert [n.name() for n in doc2.root.children][-1] == "Impasto: my-cafe-final"
        c.stop_lesson("my-cafe-final")
        run(c, lambda: c.lessons["my-cafe-final"]["state"] == "cancelled", timeout=60)
        assert "keeps what it learned" in c.message and c.learning_text() == ""
        assert c.lesson_label("my-cafe-final") in ("first look",) or c.lesson_label(
            "my-cafe-final"
        ).startswith("learned, ")
    finally:
        c.close()
        learner.stop()

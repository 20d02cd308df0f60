"""The plug-in's GIMP edge against a fake GIMP (tests/gimp/fake_gimp.py) and a real daemon."""

from __future__ import annotations

import pytest

from gimp_plugin.impasto.request import pixel_format, selection_region
from tests.conftest import free_port
from tests.gimp.fake_gimp import (
    FakeConfig,
    FakeImage,
    FakeLayer,
    FakeProcedure,
    Rect,
    load_plugin,
    sibling,
)


@pytest.fixture
def plugin(monkeypatch):
    """The plug-in module loaded against a fresh fake GIMP, and that fake."""
    return load_plugin(monkeypatch)


def photo(alpha: bool = False, offsets=(0, 0)) -> tuple[FakeImage, FakeLayer]:
    group = object()
    below = FakeLayer("below", 40, 30)
    source = FakeLayer("photo", 40, 30, alpha=alpha, offsets=offsets, parent=group)
    return FakeImage(layers=[FakeLayer("above", 5, 5), source, below]), source


def options(cfg: FakeConfig):
    """The stylise options the plug-in reads from `cfg` (its own `request` module's)."""
    return sibling("request").options_from_config(cfg)


def config(endpoint: str, **values) -> FakeConfig:
    base = {
        "mode": "gatys",
        "styles": "starry-night",
        "strength": 1.0,
        "preserve-color": "none",
        "style-scale": 1.0,
        "iterations": 2,
        "texture": True,
        "photoreal": False,
        "depth": "",
        "depth-range": 3.0,
        "endpoint": endpoint,
    }
    return FakeConfig({**base, **values})


def test_without_a_selection_the_whole_layer_is_read_in_the_images_precision(plugin):
    module, _ = plugin
    image, source = photo(alpha=True)
    image.precision = "u16-linear"
    region, fmt, pixels = module.read_source(image, source)
    assert (region.x, region.y, region.width, region.height, region.masked) == (0, 0, 40, 30, False)
    assert source.buffer.reads == [(Rect(0, 0, 40, 30), "R'G'B'A u16")]
    assert fmt.pixels.dtype == "u16" and len(pixels) == 40 * 30 * 8


def test_with_a_selection_only_its_bounds_on_the_layer_are_read(plugin):
    module, _ = plugin
    image, source = photo()
    image.selection_empty = False
    source.intersect = (True, 3, 4, 10, 6)
    region, fmt, pixels = module.read_source(image, source)
    assert (region.x, region.y, region.width, region.height, region.masked) == (3, 4, 10, 6, True)
    assert source.buffer.reads == [(Rect(3, 4, 10, 6), "R'G'B' u8")]
    assert len(pixels) == 10 * 6 * 3


def test_a_selection_beside_the_layer_is_refused(plugin):
    module, _ = plugin
    image, source = photo()
    image.selection_empty = False
    source.intersect = (False, 0, 0, 0, 0)
    with pytest.raises(module.ArgumentError, match="does not overlap"):
        module.read_source(image, source)


def test_the_result_goes_into_a_masked_layer_above_the_source_in_one_undo_group(plugin):
    module, _ = plugin
    image, source = photo(offsets=(100, 50))
    region = selection_region(True, 3, 4, 10, 6, selection_empty=False)
    fmt = pixel_format("u8-non-linear", False)
    pixels = bytes(range(180))
    layer = module.write_result(image, source, region, fmt, pixels, "Impasto: x")
    assert image.layers.index(layer) == image.layers.index(source) - 1  # right above it
    assert layer.parent is source.parent and layer.name == "Impasto: x"
    assert layer.offsets == (103, 54) and (layer.width, layer.height) == (10, 6)
    assert layer.shadow.writes == [(Rect(0, 0, 10, 6), "R'G'B' u8", pixels)]
    assert layer.shadow.flushed and layer.shadow_merged
    assert layer.mask == ("mask", "selection")
    assert image.undo_groups == 1 and image.undo_depth == 0
    assert not source.buffer.writes and not source.shadow.writes and source.mask is None


def test_without_a_selection_the_new_layer_has_no_mask_and_keeps_alpha(plugin):
    module, _ = plugin
    image, source = photo(alpha=True)
    region = selection_region(True, 0, 0, 40, 30, selection_empty=True)
    fmt = pixel_format("float-linear", True)
    layer = module.write_result(image, source, region, fmt, bytes(40 * 30 * 16), "n")
    assert layer.mask is None and layer.alpha and layer.offsets == (0, 0)


def test_stylize_sends_the_layer_to_the_daemon_and_writes_its_answer(plugin, daemon):
    module, gimp = plugin
    image, source = photo(alpha=True)
    sent = source.buffer.get(Rect(0, 0, 40, 30), 1.0, "R'G'B'A u8", None)
    source.buffer.reads.clear()
    layer = module.stylize(image, source, options(config(daemon.endpoint, strength=0.0)))
    # strength 0: the daemon returns the content itself, so every byte made the round trip
    assert layer.shadow.writes == [(Rect(0, 0, 40, 30), "R'G'B'A u8", sent)]
    assert layer.name == "Impasto: vangogh-starry-night"  # the painting used, not the words typed
    assert gimp.progress.texts[0] == "Impasto: connecting to the daemon"


def test_stylize_reports_the_daemons_progress(plugin, daemon):
    module, gimp = plugin
    image, source = photo()
    layer = module.stylize(image, source, options(config(daemon.endpoint)))
    assert gimp.progress.fractions and gimp.progress.fractions[-1] == pytest.approx(1.0)
    assert any("scale" in text for text in gimp.progress.texts)
    assert layer.shadow.writes[0][2] != source.buffer.get(Rect(0, 0, 40, 30), 1.0, "R'G'B' u8", 0)


def test_run_turns_an_unreachable_daemon_into_an_execution_error(plugin, monkeypatch):
    module, gimp = plugin
    monkeypatch.setattr(module, "HELLO_TIMEOUT_S", 0.3)
    image, source = photo()
    dead = f"tcp://127.0.0.1:{free_port()}"
    status, error = module.run(
        FakeProcedure(), "noninteractive", image, [source], config(dead), None
    )
    assert status == "execution-error"
    assert "No Impasto daemon answered at " + dead in error.message
    assert len(image.layers) == 3 and gimp.progress.ended == 1


def test_run_returns_the_new_layer(plugin, daemon):
    module, _ = plugin
    image, source = photo()
    status, layer = module.run(
        FakeProcedure(),
        "noninteractive",
        image,
        [source],
        config(daemon.endpoint, strength=0.0),
        None,
    )
    assert status == "success" and layer is image.layers[1]


def test_run_needs_exactly_one_layer(plugin):
    module, _ = plugin
    image, source = photo()
    status, error = module.run(
        FakeProcedure(), "noninteractive", image, [source, image.layers[2]], config(""), None
    )
    assert status == "calling-error" and "exactly one layer" in error.message


def test_run_reports_argument_problems_as_calling_errors(plugin, daemon):
    module, _ = plugin
    image, source = photo()
    cfg = config(daemon.endpoint, mode="fast", styles="/x/sketch.png")
    status, error = module.run(FakeProcedure(), "noninteractive", image, [source], cfg, None)
    assert status == "calling-error" and "gatys" in error.message


def test_unset_styles_mean_the_daemons_first_style(plugin, daemon):
    module, _ = plugin
    image, source = photo()
    with daemon.client() as client:
        first = client.hello()["engine_styles"]["gatys"][0]
    layer = module.stylize(
        image, source, options(config(daemon.endpoint, styles=None, strength=0.0))
    )
    assert layer.name == f"Impasto: {first}"


def test_the_dialog_offers_the_daemons_styles_or_says_why_not(plugin, daemon, monkeypatch):
    dialog = sibling("dialog")
    found = dialog._dialog_daemon(daemon.endpoint)
    try:
        assert found.problem == "" and found.hello["engine_styles"]["fast"]
        assert all(style["name"] and style["engines"] for style in found.styles)
        assert {"fast", "gatys", "hires"} <= {e for style in found.styles for e in style["engines"]}
        assert found.client.status()["running"] == 0  # kept open for the previews
    finally:
        found.client.close()
    import time

    t0 = time.monotonic()
    missing = dialog._dialog_daemon(f"tcp://127.0.0.1:{free_port()}")
    assert missing.client is None and missing.styles is None
    assert missing.problem.startswith("Daemon not running. Start it:")
    assert len(missing.problem) < 80  # one short line, not the client's full explanation
    assert time.monotonic() - t0 < 3 * dialog.DIALOG_TIMEOUT_S  # the dialog does not wait long


def test_a_daemon_restarted_mid_job_ends_the_filter_with_an_error_within_seconds(plugin, tmp_path):
    """GIMP's poll loop learns that the daemon lost the job instead of waiting forever."""
    import threading
    import time

    from tests.conftest import DaemonProcess

    module, gimp = plugin
    first = DaemonProcess(tmp_path / "a")
    image, source = photo()
    outcome = {}

    def apply() -> None:
        cfg = config(first.endpoint, iterations=10000)
        outcome["run"] = module.run(FakeProcedure(), "noninteractive", image, [source], cfg, None)

    worker = threading.Thread(target=apply)
    worker.start()
    deadline = time.monotonic() + 60
    while not any("scale" in t for t in gimp.progress.texts):
        assert time.monotonic() < deadline and worker.is_alive(), gimp.progress.texts
        time.sleep(0.05)
    first.stop()
    second = DaemonProcess(tmp_path / "b", endpoint=first.endpoint)
    try:
        restarted = time.monotonic()
        worker.join(30)
        assert not worker.is_alive(), "the filter still waits for a job nobody runs"
        assert time.monotonic() - restarted < 10
    finally:
        second.stop()
    status, error = outcome["run"]
    # job_lost from the new daemon, or no answer at all while it was starting: either way a
    # clear error, soon
    assert status == "execution-error", error
    assert "restarted" in error.message or "No Impasto daemon answered" in error.message
    assert len(image.layers) == 3  # nothing was added


def test_a_result_keeps_its_recipe_for_reapply_and_the_command_line(plugin, daemon):
    module, _ = plugin
    image, source = photo(alpha=True)
    cfg = config(daemon.endpoint, mode="fast", styles="starry-night:0.7, great-wave:0.3")
    cfg.values["strength"] = 0.5
    first = module.stylize(image, source, options(cfg))
    assert module.RECIPE_PARASITE in first.parasites and image.undo_depth == 0
    command = module.run_recipe(
        FakeProcedure(module.COMMAND_PROCEDURE), "noninteractive", image, [first], cfg, None
    )
    assert command == [
        "success",
        "impasto stylize photo.png -s starry-night:0.7 -s great-wave:0.3 --mode fast "
        "--strength 0.5 -o result.png",
    ]
    again = FakeConfig({"endpoint": daemon.endpoint})
    status, second = module.run_recipe(
        FakeProcedure(module.REAPPLY_PROCEDURE), "noninteractive", image, [first], again, None
    )
    assert status == "success" and second.name == first.name and second is not first
    assert image.layers.index(second) == image.layers.index(source) - 1  # right above the source
    assert second.parasites[module.RECIPE_PARASITE].data == first.parasites[
        module.RECIPE_PARASITE].data  # fmt: skip
    status, error = module.run_recipe(
        FakeProcedure(module.REAPPLY_PROCEDURE), "noninteractive", image, [source], again, None
    )
    assert status == "calling-error" and "not made by Impasto" in error.message


def test_add_to_fast_styles_learns_the_layer_and_returns_once_its_first_look_is_in(
    plugin, tmp_path
):
    from tests.conftest import DaemonProcess

    module, gimp = plugin
    learner = DaemonProcess(tmp_path / "d", "--client-timeout", "3")
    try:

        def learn(image, layer, **values):
            cfg = FakeConfig(
                {"style-name": "", "minutes": 0.2, "licence": "CC0", "endpoint": learner.endpoint}
                | values
            )
            return module.run_learn(
                FakeProcedure("plug-in-impasto-learn"), "noninteractive", image, [layer], cfg, None
            )

        image, small = photo()
        status, error = learn(image, small)  # 40x30: too small to have brushwork to learn
        assert status == "execution-error" and "at least 64" in error.message
        big = FakeLayer("My Barn", 96, 80)
        image = FakeImage(layers=[big])
        status, name = learn(image, big)
        assert (status, name) == ("success", "my-barn")
        assert big.buffer.reads and gimp.progress.ended == 2
        assert any("first look" in m for m in gimp.messages)
        with learner.client() as c:
            lesson = next(x for x in c.lessons() if x["name"] == "my-barn")
        assert lesson["stage"] in ("first look", "learned")
        status, error = learn(image, big, **{"style-name": "my-barn"})  # still learning
        assert status == "execution-error" and "my-barn" in error.message
    finally:
        learner.stop()

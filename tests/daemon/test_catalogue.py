"""One style catalogue: folder paintings and model styles merged by name, names resolved once."""

from __future__ import annotations

import pytest
from PIL import Image

from daemon.catalogue import Catalogue
from daemon.catalogue.model_library import ModelLibrary
from daemon.catalogue.styles import StyleLibrary
from shared.errors import BadRequest, UnknownStyle
from tests.daemon.test_model_library import write_model


@pytest.fixture
def catalogue(tmp_path):
    write_model(tmp_path / "m", "van", ["vangogh-starry-night", "vangogh-night-cafe"])
    write_model(tmp_path / "m", "japan", ["hokusai-great-wave", "hiroshige-snow"], seed=1)
    styles = tmp_path / "s"
    styles.mkdir()
    Image.new("RGB", (40, 30), "navy").save(styles / "monet-water-lilies.png")
    cat = Catalogue(StyleLibrary([styles]), ModelLibrary([tmp_path / "m"], shipped=None))
    cat.refresh()
    return cat


def test_a_painting_in_a_folder_and_in_a_model_is_listed_once_with_every_engine(catalogue):
    snap = catalogue.snapshot
    starry = snap.paintings["vangogh-starry-night"]  # shipped file + the test model
    assert starry.picture is not None and starry.fast == (("van", 0),)
    assert starry.engines == ["fast", "gatys", "hires"]
    assert snap.paintings["monet-water-lilies"].engines == ["gatys", "hires"]
    assert snap.names().count("vangogh-starry-night") == 1
    assert "monet-water-lilies" not in snap.names("fast")
    wire = starry.to_wire()
    assert wire["models"] == ["van"] and wire["thumbnail_png"].startswith(b"\x89PNG")


def test_gatys_gets_the_full_painting_not_the_cards_copy(catalogue):
    snap = catalogue.snapshot
    starry = catalogue.picture(snap.paintings["vangogh-starry-night"])
    assert tuple(starry.shape) == (1, 3, 600, 752)  # the file at its source resolution


def test_names_are_full_names_word_runs_or_model_slash_style(catalogue):
    snap = catalogue.snapshot
    assert snap.resolve("vangogh-starry-night")[0].name == "vangogh-starry-night"
    assert snap.resolve("starry-night")[0].name == "vangogh-starry-night"
    assert snap.resolve("great-wave") == (snap.paintings["hokusai-great-wave"], None)
    assert snap.resolve("japan/wave") == (snap.paintings["hokusai-great-wave"], "japan")


def test_unknown_and_ambiguous_names_are_refused_with_reasons(catalogue):
    snap = catalogue.snapshot
    with pytest.raises(UnknownStyle, match="unknown style 'turner'"):
        snap.resolve("turner")
    with pytest.raises(UnknownStyle, match="could be .*vangogh-night-cafe.*vangogh-starry-night"):
        snap.resolve("night")
    with pytest.raises(UnknownStyle, match="no model named 'nope'"):
        snap.resolve("nope/starry")


def test_fast_blends_stay_within_one_model(catalogue):
    snap = catalogue.snapshot
    starry, cafe, wave, lilies = (snap.resolve(n)[0] for n in ("starry", "cafe", "wave", "lilies"))
    model, weights = snap.fast_blend([(starry, None, 0.7), (cafe, None, 0.3)])
    assert model.name == "van" and weights == [0.7, 0.3]
    with pytest.raises(BadRequest, match="one model"):
        snap.fast_blend([(starry, None, 1.0), (wave, None, 1.0)])
    with pytest.raises(UnknownStyle, match="not trained into a fast model"):
        snap.fast_blend([(lilies, None, 1.0)])


def test_a_model_style_without_a_file_uses_the_painting_its_card_carries(tmp_path):
    write_model(tmp_path / "m", "mine", ["my-own-style"])
    cat = Catalogue(StyleLibrary([]), ModelLibrary([tmp_path / "m"], shipped=None))
    painting = cat.refresh().paintings["my-own-style"]
    assert painting.picture is None and painting.engines == ["fast"]  # its card has no copy


def test_a_user_styles_json_with_bad_entries_skips_them_and_keeps_serving(tmp_path, caplog):
    styles = tmp_path / "s"
    styles.mkdir()
    for name in ("odd.png", "good.png", "long.png"):
        Image.new("RGB", (40, 30), "navy").save(styles / name)
    (styles / "styles.json").write_text(
        '{"styles": [{"file": "odd.png", "name": 7}, "not an object",'
        ' {"file": "long.png", "title": ["a list"]},'
        ' {"file": "good.png", "name": "my-good-one", "artist": "me"}]}'
    )
    cat = Catalogue(StyleLibrary([styles]), ModelLibrary([], shipped=None))
    cat.refresh()
    snap = cat.snapshot
    names = snap.names()
    assert all(isinstance(n, str) for n in names)
    assert "my-good-one" in names and "odd" in names and "long" in names  # bad entries: file names
    assert snap.paintings["my-good-one"].to_wire()["artist"] == "me"
    for name in names:  # what `hello` sends: every painting's wire form
        snap.paintings[name].to_wire()
    assert "skipping entry 0" in caplog.text and "skipping entry 2" in caplog.text


def test_the_shipped_card_carries_a_copy_only_of_paintings_that_ship_without_a_file():
    cat = Catalogue(StyleLibrary(), ModelLibrary())
    cat.refresh()
    fast = [p for p in cat.snapshot.paintings.values() if p.fast]
    assert len(fast) >= 17
    for painting in fast:  # gatys and hires get each from exactly one place
        assert (painting.picture is None) == bool(painting.card_jpeg), painting.name

"""The plug-in's pure logic: the styles argument, defaults, pixel formats, selection, job body."""

from __future__ import annotations

import os
import types

import pytest

from gimp_plugin.impasto.request import (
    ArgumentError,
    Options,
    StyleItem,
    daemon_line,
    format_styles,
    offered_for,
    options_from_config,
    options_from_recipe,
    parse_styles,
    pixel_format,
    recipe_styles,
    resolve_styles,
    selection_region,
    unusable,
)
from gimp_plugin.impasto.vendor import vendor_tag
from shared.job import JobSpec, StyleRef
from shared.protocol import ImageDesc
from shared.recipe import make_recipe

HELLO = {
    "engine_styles": {
        "fast": ["hokusai-wave", "x-y"],
        "gatys": ["langlois-bridge", "starry-night"],
        "hires": ["langlois-bridge"],
    }
}


def test_styles_are_names_with_optional_weights():
    assert parse_styles(" starry:0.7, wave:0.3 ,,cafe ") == [
        StyleItem(0.7, name="starry"),
        StyleItem(0.3, name="wave"),
        StyleItem(1.0, name="cafe"),
    ]
    assert parse_styles("") == [] and parse_styles(" , ") == []
    assert parse_styles("a:2\nb") == [StyleItem(2.0, name="a"), StyleItem(1.0, name="b")]


def test_paths_are_style_files_even_with_colons_and_tildes():
    assert parse_styles("/p/my style.jpg:0.5") == [StyleItem(0.5, path="/p/my style.jpg")]
    assert parse_styles("starry:0.5@Sky, /p/a.png@Sea") == [
        StyleItem(0.5, name="starry", where="Sky"),
        StyleItem(1.0, path="/p/a.png", where="Sea"),
    ]
    assert parse_styles("/art/monet@2x.jpg, /a@b/c.png:0.5") == [  # @ inside paths
        StyleItem(1.0, path="/art/monet@2x.jpg"),
        StyleItem(0.5, path="/a@b/c.png"),
    ]
    assert parse_styles(r"C:\art\sketch.png") == [StyleItem(1.0, path=r"C:\art\sketch.png")]
    assert parse_styles(r"C:\art\sketch.png:2") == [StyleItem(2.0, path=r"C:\art\sketch.png")]
    assert parse_styles("sketch.PNG") == [StyleItem(1.0, path="sketch.PNG")]
    home = os.path.expanduser("~")
    assert parse_styles("~/a.jpg") == [StyleItem(1.0, path=f"{home}/a.jpg")]
    assert parse_styles("~/a.jpg")[0].title == "a"


def test_an_existing_file_without_a_known_suffix_is_a_path(tmp_path, monkeypatch):
    (tmp_path / "painting").write_bytes(b"x")
    monkeypatch.chdir(tmp_path)
    assert parse_styles("painting") == [StyleItem(1.0, path="painting")]


def test_a_colon_that_is_not_a_weight_stays_in_the_name_and_model_slash_name_is_a_name():
    assert parse_styles("model:starry") == [StyleItem(1.0, name="model:starry")]
    assert parse_styles("impasto-8/starry:2") == [StyleItem(2.0, name="impasto-8/starry")]
    assert parse_styles("./sketch") == [StyleItem(1.0, path="./sketch")]


def test_bad_weights_are_refused():
    with pytest.raises(ArgumentError, match="0 or more"):
        parse_styles("starry:-1")
    with pytest.raises(ArgumentError, match="0 or more"):
        parse_styles("starry:nan")
    with pytest.raises(ArgumentError, match="all be 0"):
        parse_styles("a:0, b:0")


def test_empty_styles_default_to_the_daemons_first_style_for_the_mode():
    assert resolve_styles("fast", [], HELLO) == [StyleItem(name="hokusai-wave")]
    assert resolve_styles("gatys", [], HELLO) == [StyleItem(name="langlois-bridge")]
    given = [StyleItem(name="wave")]
    assert resolve_styles("fast", given, HELLO) == given


def test_no_style_to_default_to_is_a_clear_error():
    with pytest.raises(ArgumentError, match="no styles for mode fast"):
        resolve_styles("fast", [], {"engine_styles": {"gatys": ["a"], "fast": []}})


def test_fast_mode_refuses_style_files_and_names_gatys():
    with pytest.raises(ArgumentError, match="gatys") as err:
        resolve_styles("fast", [StyleItem(name="wave"), StyleItem(path="/x/p.jpg")], HELLO)
    assert "/x/p.jpg" in str(err.value)
    assert resolve_styles("gatys", [StyleItem(path="/x/p.jpg")], HELLO)


def test_unknown_mode_is_refused_but_hires_goes_to_the_daemon():
    with pytest.raises(ArgumentError, match="mode"):
        resolve_styles("turbo", [], HELLO)
    assert resolve_styles("hires", [StyleItem(name="a")], HELLO)


@pytest.mark.parametrize(
    ("nick", "alpha", "babl", "dtype", "size"),
    [
        ("u8-non-linear", False, "R'G'B' u8", "u8", 1),
        ("u8-linear", True, "R'G'B'A u8", "u8", 1),
        ("u16-perceptual", True, "R'G'B'A u16", "u16", 2),
        ("u16-linear", False, "R'G'B' u16", "u16", 2),
        ("u32-linear", True, "R'G'B'A float", "f32", 4),
        ("half-linear", True, "R'G'B'A half", "f16", 2),
        ("float-non-linear", False, "R'G'B' float", "f32", 4),
        ("double-linear", True, "R'G'B'A float", "f32", 4),
    ],
)
def test_pixel_format_keeps_the_precision_and_always_reads_perceptual(
    nick, alpha, babl, dtype, size
):
    fmt = pixel_format(nick, alpha)
    assert (fmt.babl, fmt.pixels.dtype, fmt.pixels.channels) == (babl, dtype, 4 if alpha else 3)
    desc = fmt.pixels.describe(1, 10, 7)
    assert desc.stride == 10 * desc.channels * size and desc.order == "RGBA"


def test_unknown_precision_is_refused():
    with pytest.raises(ArgumentError, match="precision"):
        pixel_format("u64-linear", False)


def test_selection_region_is_the_intersection_and_says_whether_it_is_masked():
    assert selection_region(True, 0, 0, 128, 85, True).masked is False
    region = selection_region(True, 24, 16, 64, 48, False)
    assert (region.x, region.y, region.width, region.height, region.masked) == (
        24,
        16,
        64,
        48,
        True,
    )
    with pytest.raises(ArgumentError, match="does not overlap"):
        selection_region(False, 0, 0, 0, 0, False)


def test_the_job_is_a_valid_submit_for_the_daemon():
    content = pixel_format("u16-linear", True).pixels.describe(1, 8, 4)
    styles = [StyleRef(0.7, name="starry"), StyleRef(image=ImageDesc(2, 3, 3))]
    gatys = Options("gatys", 0.5, "luminance", 2.0, 25).spec(content, styles)
    spec = JobSpec.from_wire(gatys.to_wire())
    assert (spec.engine, spec.strength, spec.preserve_color) == ("gatys", 0.5, "luminance")
    assert (spec.style_scale, spec.iterations, spec.content.dtype) == (2.0, 25, "u16")
    assert Options("fast").spec(content, styles[:1]).engine == "fast"
    assert Options("hires", iterations=5).spec(content, styles).engine == "hires"
    assert Options("fast", temporal=False).spec(content, styles[:1]).temporal is False
    with pytest.raises(ArgumentError, match="preserve_color"):
        Options("fast", preserve_color="all").spec(content, styles[:1])


def test_the_procedures_arguments_become_the_options():
    values = {
        "mode": "hires",
        "styles": "starry:0.5@Sky, /p/a.png",
        "strength": 0.25,
        "preserve-color": "histogram",
        "style-scale": 2.0,
        "iterations": 30,
        "texture": False,
        "photoreal": True,
        "depth": "Near",
        "depth-range": 2.5,
        "endpoint": "",
    }
    config = types.SimpleNamespace(get_property=values.__getitem__)
    assert options_from_config(config) == Options(
        "hires",
        0.25,
        "histogram",
        2.0,
        30,
        texture=False,
        photoreal=True,
        depth="Near",
        depth_range=2.5,
        styles=[StyleItem(0.5, name="starry", where="Sky"), StyleItem(path="/p/a.png")],
    )
    values["styles"] = None  # unset in a PDB call
    assert options_from_config(config).styles == []


def test_a_recipe_gives_back_the_options_and_leaves_out_styles_of_weight_0():
    items = [StyleItem(0.7, name="starry", where="Sky"), StyleItem(0.0, path="/p/a.png")]
    options = Options("gatys", 0.5, "luminance", 2.0, 25, styles=items)
    spec = options.spec(ImageDesc(1, 8, 4), [StyleRef(0.7, name="starry")])
    recipe = make_recipe(spec, {"name": "photo", "id": "3"}, recipe_styles(items))
    again = options_from_recipe(recipe, "tcp://127.0.0.1:9")
    assert again == Options(
        "gatys", 0.5, "luminance", 2.0, 25, styles=items[:1], endpoint="tcp://127.0.0.1:9"
    )
    with pytest.raises(ArgumentError, match="unreadable"):
        options_from_recipe({"settings": {}, "styles": []}, None)


def test_vendor_tag_names_one_python():
    assert vendor_tag(3, 13, "win-amd64") == "cp313-win-amd64"
    assert vendor_tag(3, 12, "macosx-11.0-arm64") == "cp312-macosx-11-0-arm64"


STYLES = [
    {"name": "hokusai-wave", "engines": ["fast", "gatys", "hires"]},
    {"name": "starry-night", "engines": ["gatys", "hires"]},
]


def test_the_dialogs_rows_write_the_styles_text_that_parses_back_to_them():
    items = [
        StyleItem(name="hokusai-wave"),
        StyleItem(weight=0.25, name="starry-night", where="Sky"),
        StyleItem(weight=2.0, path="/home/me/my sketch.png", where="Layer mask"),
    ]
    text = format_styles(items)
    assert text == "hokusai-wave, starry-night:0.25@Sky, /home/me/my sketch.png:2@Layer mask"
    assert parse_styles(text) == items
    assert format_styles([]) == "" and parse_styles("") == []


def test_the_dialog_offers_each_mode_its_styles_and_marks_chosen_ones_it_cannot_use():
    assert [s["name"] for s in offered_for("fast", STYLES)] == ["hokusai-wave"]
    assert [s["name"] for s in offered_for("gatys", STYLES)] == ["hokusai-wave", "starry-night"]
    chosen = [StyleItem(name="starry"), StyleItem(path="/a.png"), StyleItem(name="x")]
    assert unusable("fast", chosen, STYLES) == {
        0: "not trained for fast mode",
        1: "a picture needs gatys or hires, not fast",
    }  # an unknown name is the daemon's to refuse, with its own message
    assert unusable("gatys", chosen, STYLES) == {}


def test_the_daemon_line_is_short():
    assert daemon_line(STYLES, "") == "Daemon ready: 2 styles."
    assert daemon_line(None, "Daemon not running.") == "Daemon not running."

"""shared/settings.py: editor settings → JobSpec, recipes back to settings, a blend's buffers,
typed style text."""

from __future__ import annotations

import pytest

from shared.errors import BadRequest
from shared.job import JobSpec, SequenceRef
from shared.protocol import ImageDesc, PixelFormat
from shared.settings import (
    BlendStyle,
    JobSettings,
    Pixels,
    StyleText,
    parse_style_text,
    parse_style_texts,
    style_refs,
)

CONTENT = ImageDesc(1, 8, 6)
GREY = PixelFormat("u8", channels=1)


def test_untouched_settings_make_the_default_job():
    assert JobSettings().job_spec(CONTENT, ()) == JobSpec(content=CONTENT, styles=())


def test_settings_map_onto_the_job_with_further_fields():
    settings = JobSettings("gatys", 0.5, "luminance", 2.0, 7, temporal=False)
    refs, _ = style_refs([BlendStyle(name="starry-night")], 2)
    spec = settings.job_spec(CONTENT, refs, preview=True, sequence=SequenceRef("a"))
    assert (spec.engine, spec.strength, spec.preserve_color) == ("gatys", 0.5, "luminance")
    assert (spec.style_scale, spec.iterations, spec.temporal) == (2.0, 7, False)
    assert spec.preview and spec.sequence == SequenceRef("a")
    assert JobSpec.from_wire(spec.to_wire()) == spec
    with pytest.raises(BadRequest, match="preserve_color"):
        JobSettings(preserve_color="all").job_spec(CONTENT, refs)


def test_a_recipe_gives_back_the_settings_it_recorded_and_defaults_for_the_rest():
    settings = JobSettings("hires", 0.25, "histogram", 3.0, 40, temporal=False)
    refs, _ = style_refs([BlendStyle(name="starry-night")], 2)
    recorded = settings.job_spec(CONTENT, refs).settings()
    assert JobSettings.from_recipe(recorded) == settings
    assert JobSettings.from_recipe({"engine": "gatys"}) == JobSettings("gatys")
    with pytest.raises(KeyError):
        JobSettings.from_recipe({})
    with pytest.raises(ValueError):
        JobSettings.from_recipe({"engine": "fast", "strength": "strong"})


def test_a_subclass_reads_its_own_fields_from_the_caller():
    from dataclasses import dataclass

    @dataclass
    class Dialog(JobSettings):
        endpoint: str = ""

    found = Dialog.from_recipe({"engine": "fast", "strength": 0.5}, endpoint="tcp://x:1")
    assert found == Dialog("fast", 0.5, endpoint="tcp://x:1")


def test_pictures_take_the_frames_after_the_first_then_the_maps_follow():
    rgba = PixelFormat("u16", "BGRA")
    styles = [
        BlendStyle(1.0, picture=Pixels(rgba, 5, 4, b"p" * 160), label="sketch"),
        BlendStyle(0.5, name="starry-night", map=Pixels(GREY, 8, 6, b"a" * 48)),
        BlendStyle(0.0, name="muted", map=Pixels(GREY, 8, 6, b"z" * 48)),  # left out
        BlendStyle(
            2.0,
            picture=Pixels(rgba, 3, 3, b"q" * 72),
            label="paper",
            map=Pixels(GREY, 4, 3, b"b" * 12),
        ),
    ]
    refs, frames = style_refs(styles, 3)
    assert [(r.name, r.label, r.weight) for r in refs] == [
        (None, "sketch", 1.0),
        ("starry-night", None, 0.5),
        (None, "paper", 2.0),
    ]
    assert refs[0].image == rgba.describe(3, 5, 4) and refs[2].image == rgba.describe(4, 3, 3)
    assert refs[1].map == GREY.describe(5, 8, 6) and refs[2].map == GREY.describe(6, 4, 3)
    assert refs[0].map is None and frames == [b"p" * 160, b"q" * 72, b"a" * 48, b"b" * 12]
    spec = JobSettings("gatys").job_spec(CONTENT, refs)
    assert [d.frame for d in spec.images] == [1, 3, 4, 5, 6]  # every buffer named once, in order


def test_a_blend_of_only_zero_weights_is_refused():
    with pytest.raises(BadRequest, match="weight above 0"):
        style_refs([BlendStyle(0.0, name="a"), BlendStyle(0.0, name="b")], 2)


def test_style_text_splits_weight_and_map():
    assert parse_style_text("starry:0.5@maps/left.png") == StyleText("starry", 0.5, "maps/left.png")
    assert parse_style_text(" starry ") == StyleText("starry")
    assert parse_style_text(r"C:\art\wave.png:2") == StyleText(r"C:\art\wave.png", 2.0)
    assert parse_style_text("model:starry") == StyleText("model:starry")
    with pytest.raises(BadRequest, match="0 or more"):
        parse_style_text("starry:-1@Sky")


def test_is_map_keeps_an_at_inside_a_path_in_the_style(tmp_path):
    def channel(where: str) -> bool:
        return "/" not in where and not where.endswith(".jpg")

    assert parse_style_text("starry@Sky", channel) == StyleText("starry", 1.0, "Sky")
    assert parse_style_text("/art/monet@2x.jpg", channel) == StyleText("/art/monet@2x.jpg")
    assert parse_style_text("/a@b/c.png:0.5", channel) == StyleText("/a@b/c.png", 0.5)
    assert parse_style_text("/a@b/c.png:0.5") == StyleText("/a", 1.0, "b/c.png:0.5")
    named = tmp_path / "monet@2x.png"  # an existing file keeps its @ whatever is_map says
    named.write_bytes(b"x")
    assert parse_style_text(f"{named}:2") == StyleText(str(named), 2.0)


def test_style_lists_take_commas_and_new_lines_and_refuse_all_zero_weights():
    assert parse_style_texts(" starry:0.7@Sky, wave:0.3 ,,cafe\nsea ") == [
        StyleText("starry", 0.7, "Sky"),
        StyleText("wave", 0.3),
        StyleText("cafe"),
        StyleText("sea"),
    ]
    assert parse_style_texts("") == [] and parse_style_texts(" , ") == []
    with pytest.raises(BadRequest, match="all be 0"):
        parse_style_texts("a:0@Sky, b:0")

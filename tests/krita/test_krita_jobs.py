"""Docker settings → submit bodies: default style, mode rules, layer names, validation."""

from __future__ import annotations

from krita_plugin.impasto.jobs import (
    Pixels,
    Settings,
    StyleChoice,
    build_job,
    check_styles,
    default_style,
    recipe_styles,
    settings_from_recipe,
)
from krita_plugin.impasto.pixels import pixel_format
from shared.job import JobSpec
from shared.protocol import ImageDesc, PixelFormat
from shared.recipe import make_recipe

CATALOGUE = [
    {"name": "starry-night", "engines": ["gatys", "hires"]},
    {"name": "hokusai-great-wave", "engines": ["fast", "gatys", "hires"]},
    {"name": "vangogh-night-cafe", "engines": ["fast", "gatys", "hires"]},
]
CONTENT = pixel_format("RGBA", "U16").describe(1, 32, 24)


def test_untouched_docker_uses_the_first_style_of_the_mode():
    assert default_style("fast", CATALOGUE).name == "hokusai-great-wave"
    assert default_style("gatys", CATALOGUE).name == "starry-night"
    assert default_style("hires", CATALOGUE).name == "starry-night"
    assert default_style("fast", CATALOGUE[:1]) is None


def test_fast_body_names_model_styles_and_sends_no_iterations():
    settings = Settings(strength=0.5, preserve_color="luminance", style_scale=2.0)
    styles = [
        StyleChoice("builtin", "hokusai-great-wave", 3.0),
        StyleChoice("builtin", "vangogh-night-cafe", 1.0),
    ]
    spec, frames = build_job(settings, styles, CONTENT, {})
    assert JobSpec.from_wire(spec.to_wire()) == spec
    assert spec.engine == "fast" and frames == []
    assert [(s.name, s.weight) for s in spec.styles] == [
        ("hokusai-great-wave", 3.0),
        ("vangogh-night-cafe", 1.0),
    ]
    assert (spec.strength, spec.preserve_color, spec.style_scale) == (0.5, "luminance", 2.0)
    assert (spec.content.dtype, spec.content.order, spec.content.stride) == ("u16", "BGRA", 256)


def test_gatys_body_sends_layer_and_file_pictures_in_later_frames():
    settings = Settings(mode="gatys", iterations=7)
    styles = [
        StyleChoice("layer", "sketch", 1.0),
        StyleChoice("builtin", "starry-night", 0.0),
        StyleChoice("file", "paper.png", 2.0),
    ]
    pics = {
        0: Pixels(pixel_format("RGBA", "F32"), 5, 4, b"\1" * 320),
        2: Pixels(pixel_format("RGBA", "U8"), 3, 3, b"\2" * 36),
    }
    spec, frames = build_job(settings, styles, CONTENT, pics)
    assert spec.engine == "gatys" and spec.iterations == 7
    assert frames == [b"\1" * 320, b"\2" * 36]
    assert [s.label for s in spec.styles] == ["sketch", "paper.png"]  # weight 0 left out
    assert [(s.image.frame, s.image.dtype) for s in spec.styles] == [(2, "f32"), (3, "u8")]


def test_fast_mode_refuses_pictures_and_empty_or_zero_weights():
    assert "gatys" in check_styles("fast", [StyleChoice("layer", "x")])
    assert check_styles("gatys", [StyleChoice("layer", "x")]) is None
    assert check_styles("fast", []) == "Add a style first."
    assert "weight" in check_styles("fast", [StyleChoice("builtin", "a", 0.0)])


def test_hires_body_uses_the_hires_engine_with_gatys_styles_and_pictures():
    settings = Settings(mode="hires", iterations=40)
    styles = [StyleChoice("builtin", "starry-night"), StyleChoice("file", "paper.png")]
    pics = {1: Pixels(pixel_format("RGBA", "U8"), 3, 3, b"\1" * 36)}
    spec, frames = build_job(settings, styles, CONTENT, pics)
    assert (spec.engine, spec.iterations, frames) == ("hires", 40, [b"\1" * 36])
    assert check_styles("hires", styles) is None


def test_a_selection_mask_takes_frame_2_and_pictures_follow_it():
    settings = Settings(mode="gatys")
    styles = [StyleChoice("file", "paper.png")]
    pics = {0: Pixels(pixel_format("RGBA", "U8"), 3, 3, b"\0" * 36)}
    mask = ImageDesc(2, 32, 24, 1, "u8", "RGBA", 32)
    spec, frames = build_job(settings, styles, CONTENT, pics, mask)
    assert spec.mask == mask and spec.styles[0].image.frame == 3 and frames == [b"\0" * 36]


def test_style_maps_follow_the_pictures_for_the_styles_with_a_weight():
    settings = Settings(mode="gatys")
    grey = PixelFormat("u8", channels=1)
    styles = [
        StyleChoice("builtin", "starry-night", 1.0),
        StyleChoice("file", "paper.png", 0.0),
        StyleChoice("file", "sketch.png", 2.0),
    ]
    pics = {2: Pixels(pixel_format("RGBA", "U8"), 3, 3, b"p" * 36)}
    maps = {0: Pixels(grey, 32, 24, b"a" * 768), 1: Pixels(grey, 32, 24, b"z" * 768)}
    spec, frames = build_job(settings, styles, CONTENT, pics, maps=maps)
    assert [(s.name, s.label) for s in spec.styles] == [
        ("starry-night", None),
        (None, "sketch.png"),
    ]
    assert spec.styles[0].map == grey.describe(3, 32, 24) and spec.styles[1].image.frame == 2
    assert frames == [b"p" * 36, b"a" * 768]  # the muted style's map is not sent


def test_settings_and_styles_come_back_from_a_recipe():
    settings = Settings(mode="hires", strength=0.5, iterations=12, temporal=False, texture=False)
    styles = [StyleChoice("builtin", "starry-night", 0.7), StyleChoice("file", "a.png", 0.3)]
    pics = {1: Pixels(pixel_format("RGBA", "U8"), 3, 3, b"p" * 36)}
    spec, _ = build_job(settings, styles, CONTENT, pics)
    assert spec.texture is False  # the docker's "Detail" box reaches the job
    recipe = make_recipe(spec, {"name": "photo", "id": "1"}, recipe_styles(styles, id))
    again, chosen = settings_from_recipe(recipe)
    assert (again.mode, again.strength, again.iterations, again.temporal, again.texture) == (
        "hires",
        0.5,
        12,
        False,
        False,
    )
    assert again.chosen == chosen and [(c.kind, c.name, c.weight) for c in chosen] == [
        ("builtin", "starry-night", 0.7),
        ("file", "a.png", 0.3),
    ]


def test_a_failed_job_says_once_that_nothing_was_changed():
    from krita_plugin.impasto.work import failure_text
    from shared.errors import BadRequest, JobLost

    lost = failure_text(JobLost("The daemon stopped the job. Nothing was changed; apply again."))
    assert lost.lower().count("nothing was changed") == 1
    assert failure_text(BadRequest("Unknown style.")) == "Unknown style. Nothing was changed."

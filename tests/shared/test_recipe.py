"""Recipes: what a result layer keeps, read back safely, and the command line it gives."""

from __future__ import annotations

import shlex

from shared.job import JobSpec, StyleRef
from shared.protocol import PixelFormat
from shared.recipe import (
    MAX_RECIPE_BYTES,
    cli_command,
    decode_recipes,
    encode_recipes,
    make_recipe,
)
from shared.settings import JobSettings

CONTENT = PixelFormat("u8", "RGBA").describe(1, 64, 48)


def test_a_recipe_round_trips_and_gives_the_cli_command_of_the_same_job():
    picture = PixelFormat("u8", "RGBA").describe(2, 32, 32)
    spec = JobSpec(
        content=CONTENT,
        styles=(StyleRef(name="great-wave", weight=2.0), StyleRef(image=picture, label="My sky")),
        engine="hires",
        strength=0.5,
        upscaler="learned",
        iterations=40,
    )
    recipe = make_recipe(
        spec,
        {"name": "Photo 1", "id": "{a}"},
        [
            {"kind": "builtin", "name": "great-wave", "weight": 2.0},
            {"kind": "layer", "name": "My sky", "weight": 1.0, "id": "{b}"},
        ],
    )
    assert decode_recipes(encode_recipes({"{r}": recipe})) == {"{r}": recipe}
    args = shlex.split(cli_command(recipe, "out.tif"))
    assert args == [
        "impasto", "stylize", "Photo 1.png", "-s", "great-wave:2", "-s", "My sky.png",
        "--mode", "hires", "--iterations", "40", "--strength", "0.5", "--upscaler", "learned",
        "-o", "out.tif",
    ]  # fmt: skip


def test_garbage_is_no_recipes_and_old_ones_go_first_beyond_the_limit():
    assert decode_recipes(b"\xff{") == {} and decode_recipes(b"[1]") == {}
    assert decode_recipes(b'{"x": {"impasto": 99}}') == {}
    spec = JobSpec(content=CONTENT, styles=(StyleRef(name="starry-night"),))
    recipe = make_recipe(
        spec, {"name": "p", "id": "1"}, [{"kind": "builtin", "name": "x" * 5000, "weight": 1.0}]
    )
    many = {str(i): recipe for i in range(2 * MAX_RECIPE_BYTES // 5000)}
    kept = decode_recipes(encode_recipes(many))
    assert 0 < len(kept) < len(many) and str(len(many) - 1) in kept and "0" not in kept


def test_an_animations_command_reads_and_writes_image_sequences():
    spec = JobSpec(
        content=PixelFormat("u8").describe(1, 64, 48), styles=(StyleRef(name="wave"),),
        engine="fast",
        temporal=False,
        texture=False,
    )  # fmt: skip
    recipe = make_recipe(
        spec, {"name": "walk cycle", "id": "7", "animation": True},
        [{"kind": "builtin", "name": "wave", "weight": 1.0}],
    )  # fmt: skip
    args = shlex.split(cli_command(recipe))
    assert args[:3] == ["impasto", "stylize", "walk cycle%04d.png"]
    assert args[-4:] == ["--no-temporal", "--no-texture", "-o", "painted%04d.png"]


def test_a_photo_look_recipe_comes_back_as_the_same_settings_and_command():
    spec = JobSpec(
        content=PixelFormat("u8").describe(1, 64, 48), styles=(StyleRef(name="wave"),),
        engine="gatys", photoreal=True,
    )  # fmt: skip
    recipe = make_recipe(
        spec, {"name": "photo", "id": "7"}, [{"kind": "builtin", "name": "wave", "weight": 1.0}]
    )
    assert "--photoreal" in shlex.split(cli_command(recipe))
    assert JobSettings.from_recipe(recipe["settings"]).photoreal is True
    plain = JobSpec(content=spec.content, styles=spec.styles)
    again = make_recipe(plain, {"name": "p", "id": "1"}, recipe["styles"])
    assert JobSettings.from_recipe(again["settings"]).photoreal is False

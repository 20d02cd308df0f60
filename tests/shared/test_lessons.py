"""The `learn` request's vocabulary: round trip, refusals, names from titles."""

from __future__ import annotations

import pytest

from shared.errors import BadImage, BadRequest
from shared.lessons import LearnSpec, style_name_for
from shared.protocol import ImageDesc

IMAGE = ImageDesc(1, 80, 60, 3, "u8")


def test_a_learn_body_round_trips_and_its_defaults_fill_in():
    spec = LearnSpec("my-barn", IMAGE, 5.0, "The barn", "CC0", ("/photos",))
    assert LearnSpec.from_wire(spec.to_wire()) == spec
    plain = LearnSpec.from_wire({"name": "my-barn", "image": IMAGE.to_wire(), "minutes": 3})
    assert (plain.minutes, plain.licence, plain.content) == (3.0, "user's own", ())


@pytest.mark.parametrize(
    "change, error",
    [
        ({"name": "My Barn"}, "lowercase words"),
        ({"name": 7}, "lowercase words"),
        ({"minutes": 0}, "minutes"),
        ({"minutes": float("nan")}, "minutes"),
        ({"minutes": True}, "minutes"),
        ({"minutes": 1e9}, "minutes"),
        ({"painting": "x" * 201}, "painting"),
        ({"content": "/photos"}, "content"),
        ({"content": ["/a"] * 17}, "content"),
        ({"content": [3]}, "content"),
        ({"colour": "red"}, "unknown fields"),
    ],
)
def test_bad_learn_bodies_are_refused_with_a_typed_error(change, error):
    body = LearnSpec("my-barn", IMAGE).to_wire() | change
    with pytest.raises(BadRequest, match=error):
        LearnSpec.from_wire(body)


def test_a_learn_body_without_its_painting_is_refused():
    with pytest.raises(BadRequest, match="'name' and 'image'"):
        LearnSpec.from_wire({"name": "my-barn"})
    with pytest.raises((BadRequest, BadImage)):
        LearnSpec.from_wire({"name": "my-barn", "image": {"frame": 1, "width": -3, "height": 2}})


def test_style_names_come_from_file_and_layer_names():
    assert style_name_for("My Café (final).png") == "my-cafe-final"
    assert style_name_for("Layer 1") == "layer-1"
    assert style_name_for("日本.png") == "my-painting"

import pytest

from shared.errors import BadImage, BadRequest
from shared.job import DEFAULT_ITERATIONS, JobSpec

CONTENT = {"frame": 1, "width": 4, "height": 3}


def body(**kw):
    out = {"content": CONTENT, "styles": [{"name": "starry-night"}]}
    out.update(kw)
    return out


def test_defaults_are_filled_in():
    spec = JobSpec.from_wire(body())
    assert spec.engine == "gatys" and spec.strength == 1.0 and spec.iterations == DEFAULT_ITERATIONS
    assert spec.preserve_color == "none" and spec.optimizer == "lbfgs" and spec.size is None
    assert spec.styles[0].name == "starry-night" and spec.styles[0].weight == 1.0


def test_wire_round_trip_is_stable():
    spec = JobSpec.from_wire(body(size=256, seed=3, strength=0.5, preserve_color="luminance"))
    assert JobSpec.from_wire(spec.to_wire()) == spec


@pytest.mark.parametrize(
    "bad",
    [
        {"styles": [{"name": "a", "weight": float("nan")}]},
        {"styles": [{"name": "a", "weight": float("inf")}]},
        {"styles": [{"name": "a", "weight": -1}]},
        {"styles": [{"name": "a", "weight": 0}]},
        {"styles": []},
        {"styles": [{"name": "a", "image": CONTENT}]},
        {"styles": [{}]},
        {"strength": 1.5},
        {"strength": "1"},
        {"iterations": 0},
        {"iterations": 2.5},
        {"size": 100000},
        {"engine": "magic"},
        {"preserve_color": "sepia"},
        {"colour": "x"},
        {"style_scale": 0},
    ],
)
def test_bad_fields_are_refused_with_a_message_naming_them(bad):
    with pytest.raises(BadRequest) as info:
        JobSpec.from_wire(body(**bad))
    assert info.value.code == "bad_request" and info.value.message


def test_content_is_required_and_validated():
    with pytest.raises(BadRequest):
        JobSpec.from_wire({"styles": [{"name": "a"}]})
    with pytest.raises(BadImage):
        JobSpec.from_wire(body(content={"frame": 1, "width": 4, "height": 3, "stride": 2}))

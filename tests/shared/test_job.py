import pytest

from shared.errors import BadImage, BadRequest
from shared.job import (
    DEFAULT_ITERATIONS,
    JobSpec,
    StyleRef,
    is_picture_path,
    parse_style,
    result_layer_name,
)
from shared.protocol import ImageDesc

CONTENT = {"frame": 1, "width": 4, "height": 3}


def body(**kw):
    out = {"content": CONTENT, "styles": [{"name": "starry-night"}]}
    out.update(kw)
    return out


def test_defaults_are_filled_in():
    spec = JobSpec.from_wire(body())
    assert spec.engine == "fast" and spec.strength == 1.0 and spec.iterations == DEFAULT_ITERATIONS
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
        {"photoreal": "yes"},
        {"photoreal": True, "engine": "hires"},
        {"photoreal": True, "engine": "gatys", "preserve_color": "luminance"},
    ],
)
def test_bad_fields_are_refused_with_a_message_naming_them(bad):
    with pytest.raises(BadRequest) as info:
        JobSpec.from_wire(body(**bad))
    assert info.value.code == "bad_request" and info.value.message


def test_the_photo_look_says_why_a_mode_cannot_make_it():
    with pytest.raises(BadRequest, match="fast or gatys"):
        JobSpec.from_wire(body(photoreal=True, engine="hires"))
    with pytest.raises(BadRequest, match="colour preservation"):
        JobSpec.from_wire(body(photoreal=True, preserve_color="histogram"))
    spec = JobSpec.from_wire(body(photoreal=True))
    assert spec.photoreal and JobSpec.from_wire(spec.to_wire()) == spec


def test_content_is_required_and_validated():
    with pytest.raises(BadRequest):
        JobSpec.from_wire({"styles": [{"name": "a"}]})
    with pytest.raises(BadImage):
        JobSpec.from_wire(body(content={"frame": 1, "width": 4, "height": 3, "stride": 2}))


def test_parse_style_splits_weights_but_keeps_colons_in_paths():
    assert parse_style("starry-night:0.7") == ("starry-night", 0.7)
    assert parse_style("starry-night") == ("starry-night", 1.0)
    assert parse_style(r"C:\art\wave.png") == (r"C:\art\wave.png", 1.0)
    assert parse_style(r"C:\art\wave.png:2") == (r"C:\art\wave.png", 2.0)
    for bad in ("x:-1", "x:nan", "x:inf", ":1"):
        with pytest.raises(BadRequest):
            parse_style(bad)


def test_paths_are_pictures_and_model_slash_style_is_a_name():
    for path in ("/p/a.jpg", "~/a", "./a", r"C:\a\b", "sketch.PNG"):
        assert is_picture_path(path), path
    assert not is_picture_path("impasto-8/vangogh-starry-night")
    assert not is_picture_path("starry-night")


def test_layer_names_say_the_styles_and_their_share_of_the_blend():
    assert result_layer_name([StyleRef(2.0, name="great-wave")]) == "Impasto: great-wave"
    blend = [
        StyleRef(3.0, name="starry-night"),
        StyleRef(1.0, image=ImageDesc(2, 3, 3), label="sketch"),
        StyleRef(0.0, name="unused"),
    ]
    assert result_layer_name(blend) == "Impasto: starry-night 75% + sketch 25%"


def test_a_job_object_validates_on_construction_and_round_trips():
    content = ImageDesc(1, 8, 4)
    spec = JobSpec(content, (StyleRef(name="starry"),), engine="gatys", iterations=7)
    assert JobSpec.from_wire(spec.to_wire()) == spec
    with pytest.raises(BadRequest, match="strength"):
        JobSpec(content, (StyleRef(name="a"),), strength=2)
    with pytest.raises(BadRequest, match="gatys"):
        JobSpec(content, (StyleRef(image=ImageDesc(2, 3, 3)),), engine="fast")
    with pytest.raises(BadRequest, match="at least one style"):
        JobSpec(content, ()).to_wire()


def test_a_mask_is_one_channel_of_the_contents_size():
    mask = {"frame": 2, "width": 4, "height": 3, "channels": 1}
    assert JobSpec.from_wire(body(mask=mask)).mask.channels == 1
    for bad in ({**mask, "channels": 4}, {**mask, "width": 5}):
        with pytest.raises(BadRequest):
            JobSpec.from_wire(body(mask=bad))


def test_the_job_vocabulary_imports_without_pyzmq_and_msgpack():
    """An editor plugin builds jobs before it knows whether its Python has pyzmq and msgpack."""
    import subprocess
    import sys

    from tests.conftest import ROOT

    code = (
        "import sys; sys.modules['zmq'] = None; sys.modules['msgpack'] = None\n"
        "from shared.job import JobSpec, StyleRef\n"
        "from shared.protocol import ImageDesc, PixelFormat\n"
        "spec = JobSpec(PixelFormat('u8', 'BGRA').describe(1, 4, 4), (StyleRef(name='a'),))\n"
        "print(spec.to_wire()['engine'])\n"
    )
    run = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert run.returncode == 0 and run.stdout.strip() == "fast", run.stderr

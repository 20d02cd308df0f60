import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared import protocol
from shared.errors import (
    BadImage,
    BadRequest,
    ImpastoError,
    MalformedMessage,
    UnknownType,
    UnsupportedVersion,
)
from shared.protocol import ImageDesc


def test_encode_decode_round_trip_keeps_type_id_body_and_frames():
    frames = protocol.encode("submit", "abc", {"x": 1}, [b"\x00\x01", b"zz"])
    assert protocol.decode(frames, protocol.REQUESTS) == (
        "submit",
        "abc",
        {"x": 1},
        [b"\x00\x01", b"zz"],
    )


@pytest.mark.parametrize(
    "header, error",
    [
        (b"\xc1garbage", MalformedMessage),
        (msgpack.packb([1, 2]), MalformedMessage),
        (msgpack.packb({"v": 1, "type": "hello"}), MalformedMessage),
        (msgpack.packb({"v": 99, "type": "hello", "id": "a"}), UnsupportedVersion),
        (msgpack.packb({"v": 1, "type": "launch", "id": "a"}), UnknownType),
        (msgpack.packb({"v": 1, "type": "hello", "id": "a", "body": [1]}), MalformedMessage),
    ],
)
def test_decode_rejects_bad_headers_with_typed_errors(header, error):
    with pytest.raises(error):
        protocol.decode([header], protocol.REQUESTS)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.binary(max_size=64), min_size=0, max_size=4))
def test_decode_of_random_frames_only_raises_impasto_errors(frames):
    try:
        protocol.decode(frames, protocol.REQUESTS)
    except ImpastoError:
        pass


@settings(max_examples=300, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(["frame", "width", "height", "channels", "dtype", "order", "stride", "x"]),
        st.one_of(st.integers(-5, 10**6), st.text(max_size=4), st.floats(), st.none()),
    )
)
def test_image_descriptor_validation_only_raises_impasto_errors(raw):
    try:
        desc = ImageDesc.from_wire(raw)
    except ImpastoError:
        return
    assert desc.width >= 1 and desc.height >= 1 and desc.stride >= desc.row_bytes


def test_descriptor_checks_buffer_length_against_its_claims():
    desc = ImageDesc.from_wire(
        {"frame": 1, "width": 3, "height": 2, "channels": 4, "dtype": "u16", "stride": 32}
    )
    assert desc.row_bytes == 24
    desc.check_buffer(32 + 24)  # last row need not be padded
    desc.check_buffer(64)
    for bad in (32 + 23, 65, 0):
        with pytest.raises(BadImage):
            desc.check_buffer(bad)


def test_descriptor_rejects_short_stride_and_unknown_formats():
    with pytest.raises(BadImage):
        ImageDesc.from_wire({"frame": 1, "width": 3, "height": 2, "stride": 11})
    with pytest.raises(BadRequest):
        ImageDesc.from_wire({"frame": 1, "width": 3, "height": 2, "dtype": "f64"})
    with pytest.raises(BadRequest):
        ImageDesc.from_wire({"frame": 1, "width": 3, "height": 2, "order": "ARGB"})
    with pytest.raises(BadRequest):
        ImageDesc.from_wire({"frame": 1, "width": True, "height": 2})
    assert ImageDesc.from_wire({"frame": 1, "width": 3, "height": 1, "dtype": "f32"}).stride == 48


def test_shared_imports_without_numpy_torch_or_pillow():
    import subprocess
    import sys

    code = (
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in ('numpy', 'torch', 'PIL'):\n"
        "            raise ImportError('blocked ' + name)\n"
        "sys.meta_path.insert(0, Block())\n"
        "import shared, shared.client, shared.job, shared.protocol, shared.errors\n"
        "print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.strip() == "ok", out.stderr

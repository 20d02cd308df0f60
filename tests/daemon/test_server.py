"""The real daemon in a subprocess, driven over real sockets by the real client and by raw ones."""

from __future__ import annotations

import time

import msgpack
import numpy as np
import pytest
import zmq
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from daemon.io.pixels import NUMPY_DTYPES
from daemon.server import DaemonConfig, check_endpoint
from shared import protocol
from shared.client import Client
from shared.errors import (
    ERROR_CODES,
    BadRequest,
    JobCancelled,
    JobLost,
    QueueFull,
    Unavailable,
    UnknownStyle,
    UnsupportedVersion,
)
from tests.conftest import DaemonProcess, image_job, load_rgb, rgba_u8

LONG = {"iterations": 5000, "size": 96}


def raw_request(endpoint: str, frames: list, timeout: float = 10.0) -> tuple[str, dict]:
    """Send arbitrary frames on a fresh DEALER socket; return the reply's type and body."""
    ctx = zmq.Context.instance()
    sock = ctx.socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.connect(endpoint)
    try:
        sock.send_multipart(frames)
        assert sock.poll(int(timeout * 1000)), "the daemon did not answer"
        reply = sock.recv_multipart()
        header = msgpack.unpackb(reply[0])
        return header["type"], header["body"]
    finally:
        sock.close()


def header(msg_type: str, body: dict, msg_id: str = "req1", v: int = 1) -> bytes:
    return msgpack.packb({"v": v, "type": msg_type, "id": msg_id, "body": body})


def wait_until(predicate, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def polled(client, predicate) -> bool:
    """Let the client process what arrived, then check."""
    client.poll(0.1)
    return predicate()


def running_jobs(daemon: DaemonProcess) -> int:
    with daemon.client() as c:
        st = c.status()
    return st["running"] + st["queued"]


def test_hello_reports_version_devices_engines_styles_and_limits(daemon):
    with daemon.client() as c:
        hello = c.hello()
    assert hello["protocol"] == protocol.PROTOCOL_VERSION
    assert "cpu" in hello["devices"] and hello["engines"] == ["fast", "gatys", "hires"]
    assert "vangogh-starry-night" in hello["styles"]
    assert hello["engine_styles"]["fast"] == hello["engine_styles"]["gatys"] == hello["styles"]
    assert hello["limits"]["max_pixels"] > 0


def test_styles_come_with_png_thumbnails_and_licences(daemon):
    with daemon.client() as c:
        styles = c.styles()
    names = [s["name"] for s in styles]
    assert names == sorted(set(names)), "each painting is listed once"
    starry = next(s for s in styles if s["name"] == "vangogh-starry-night")
    assert starry["thumbnail_png"].startswith(b"\x89PNG") and "public domain" in starry["licence"]
    assert starry["engines"] == ["fast", "gatys", "hires"] and starry["models"] == ["impasto-17"]


def test_submit_streams_progress_then_a_result_in_the_input_format(daemon):
    content = rgba_u8(load_rgb("chelsea.png"))
    content[..., 3] = np.arange(content.shape[1], dtype=np.uint8)[None, :]  # a gradient alpha
    body, frames = image_job(content, iterations=4, size=64, preview=True)
    events = []
    with daemon.client() as c:
        result = c.run(body, frames, on_event=events.append)
    fractions = [e.body["fraction"] for e in events if e.type == "progress"]
    assert fractions and fractions == sorted(fractions) and fractions[-1] == pytest.approx(1.0)
    assert any("preview" in e.body for e in events if e.type == "progress")
    desc, data = result.image_bytes(0)
    assert (desc.width, desc.height, desc.channels, desc.dtype) == (160, 106, 4, "u8")
    out = np.frombuffer(data, np.uint8).reshape(106, 160, 4)
    assert np.array_equal(out[..., 3], content[..., 3])  # alpha passes through untouched
    assert np.abs(out[..., :3].astype(int) - content[..., :3]).mean() > 5  # and RGB changed
    meta = result.body["metadata"]
    assert (
        meta["device"] == "cpu"
        and meta["working_size"] == [64, 42]
        and meta["timings"]["total_s"] > 0
    )


@pytest.mark.parametrize("dtype", ["u8", "u16", "f16", "f32"])
@pytest.mark.parametrize("order", ["RGBA", "BGRA"])
def test_identity_job_returns_the_input_bytes(daemon, dtype, order):
    rng = np.random.default_rng(7)
    if dtype in ("u8", "u16"):
        arr = rng.integers(0, np.iinfo(NUMPY_DTYPES[dtype]).max + 1, (9, 13, 4)).astype(
            NUMPY_DTYPES[dtype]
        )
    else:
        arr = rng.uniform(-0.25, 1.5, (9, 13, 4)).astype(NUMPY_DTYPES[dtype])
    body = {
        "content": {
            "frame": 1,
            "width": 13,
            "height": 9,
            "channels": 4,
            "dtype": dtype,
            "order": order,
        },
        "styles": [{"name": "starry-night"}],
        "strength": 0.0,
    }
    with daemon.client() as c:
        result = c.run(body, [arr.tobytes()])
    desc, data = result.image_bytes(0)
    assert (desc.dtype, desc.order) == (dtype, order)
    assert data == arr.tobytes()


def test_cancel_stops_a_running_job_within_two_seconds(daemon):
    body, frames = image_job(rgba_u8(load_rgb("chelsea.png")), **LONG)
    with daemon.client() as c:
        job = c.submit(body, frames)
        assert wait_until(
            lambda: polled(c, lambda: job.state == "running" and job.progress.body["fraction"] > 0),
            30,
        )
        start = time.monotonic()
        c.cancel(job.id)
        with pytest.raises(JobCancelled):
            c.wait(job, timeout=10)
        assert time.monotonic() - start < 2.0
    assert wait_until(lambda: running_jobs(daemon) == 0, 5)


def test_two_clients_at_once_each_get_their_own_result(daemon):
    cat = rgba_u8(load_rgb("chelsea.png"))
    panda = rgba_u8(load_rgb("red_panda.png"))
    with daemon.client() as a, daemon.client() as b:
        ja = a.submit(*image_job(cat, iterations=3, size=48))
        jb = b.submit(*image_job(panda, iterations=3, size=48))
        # both clients keep polling (as an editor's timer does), so neither falls silent while
        # the other's job runs first
        assert wait_until(
            lambda: polled(a, lambda: ja.finished) & polled(b, lambda: jb.finished), 120
        )
        ra, rb = a.wait(ja, timeout=1), b.wait(jb, timeout=1)
    assert ra.image_bytes(0)[0].width == 160 and ra.image_bytes(0)[0].height == 106
    assert rb.image_bytes(0)[0].width == 160 and rb.image_bytes(0)[0].height == 90


def test_a_client_that_disconnects_mid_job_has_its_job_cancelled(daemon):
    body, frames = image_job(rgba_u8(load_rgb("chelsea.png")), **LONG)
    c = daemon.client()
    job = c.submit(body, frames)
    assert wait_until(lambda: polled(c, lambda: job.state == "running"), 30)
    c.close()
    assert wait_until(lambda: running_jobs(daemon) == 0, 8), "the orphaned job kept running"
    with daemon.client() as other:
        assert other.hello()["daemon"] == "impasto"


def test_a_client_that_goes_silent_has_its_job_cancelled_after_the_timeout(daemon):
    body, frames = image_job(rgba_u8(load_rgb("chelsea.png")), **LONG)
    ctx = zmq.Context.instance()
    sock = ctx.socket(zmq.DEALER)  # connected but never pings, like a frozen editor
    sock.setsockopt(zmq.LINGER, 0)
    sock.connect(daemon.endpoint)
    before = running_jobs(daemon)
    try:
        sock.send_multipart(protocol.encode("submit", "silent-job", body, frames))
        assert wait_until(lambda: running_jobs(daemon) == before + 1, 10)
        assert wait_until(lambda: running_jobs(daemon) == before, 10), "silent job not cancelled"
    finally:
        sock.close()


MALFORMED = [
    ("garbage bytes", [b"\xde\xad\xbe\xef" * 10], "malformed"),
    ("empty header", [b""], "malformed"),
    ("unknown type", [header("paint", {})], "unknown_type"),
    ("future version", [header("hello", {}, v=2)], "unsupported_version"),
    (
        "missing frame",
        [header("submit", image_job(np.zeros((4, 4, 4), np.uint8))[0])],
        "bad_request",
    ),
    (
        "extra frame",
        [header("submit", image_job(np.zeros((4, 4, 4), np.uint8))[0]), b"\0" * 64, b"x"],
        "bad_request",
    ),
    (
        "size that lies",
        [header("submit", image_job(np.zeros((4, 4, 4), np.uint8))[0]), b"\0" * 63],
        "bad_image",
    ),
    (
        "NaN weight",
        [
            header(
                "submit",
                {
                    **image_job(np.zeros((4, 4, 4), np.uint8))[0],
                    "styles": [{"name": "starry-night", "weight": float("nan")}],
                },
            ),
            b"\0" * 64,
        ],
        "bad_request",
    ),
    (
        "100000x100000 claim",
        [
            header(
                "submit",
                {
                    "content": {"frame": 1, "width": 100000, "height": 100000},
                    "styles": [{"name": "starry-night"}],
                },
            ),
            b"\0" * 64,
        ],
        "too_large",
    ),
    (
        "unknown style",
        [
            header(
                "submit",
                {
                    **image_job(np.zeros((4, 4, 4), np.uint8))[0],
                    "styles": [{"name": "no-such-painting"}],
                },
            ),
            b"\0" * 64,
        ],
        "unknown_style",
    ),
    (
        "body not a map",
        [msgpack.packb({"v": 1, "type": "submit", "id": "x", "body": "paint!"})],
        "malformed",
    ),
    ("cancel unknown job", [header("cancel", {"job": "nope"})], "not_found"),
]


@pytest.mark.parametrize("name, frames, code", MALFORMED, ids=[m[0] for m in MALFORMED])
def test_malformed_input_gets_an_error_reply_and_the_daemon_keeps_serving(
    daemon, name, frames, code
):
    msg_type, body = raw_request(daemon.endpoint, frames)
    assert (msg_type, body["code"]) == ("error", code), body
    assert body["message"]
    with daemon.client() as c:
        assert c.hello()["daemon"] == "impasto"
    assert daemon.alive()


def test_typed_errors_reach_the_client(daemon):
    body, frames = image_job(np.zeros((4, 4, 4), np.uint8))
    body["styles"] = [{"name": "no-such-painting"}]
    with daemon.client() as c, pytest.raises(UnknownStyle) as info:
        c.run(body, frames, timeout=10)
    assert "starry-night" in info.value.message  # the message lists what exists


def test_queue_limit_refuses_extra_jobs(tmp_path):
    d = DaemonProcess(tmp_path, "--max-queue", "1")
    try:
        body, frames = image_job(rgba_u8(load_rgb("chelsea.png")), **LONG)
        with d.client() as c:
            first = c.submit(body, frames)
            second = c.submit(body, frames)
            assert wait_until(lambda: polled(c, lambda: second.finished), 10)
            assert isinstance(second.error, QueueFull) and not first.finished
            c.cancel(first.id)
            with pytest.raises(JobCancelled):
                c.wait(first, timeout=10)
    finally:
        d.stop()


def test_no_daemon_gives_a_clear_unavailable_error():
    from shared.client import Client
    from tests.conftest import free_port

    with (
        Client(f"tcp://127.0.0.1:{free_port()}", timeout=0.5) as c,
        pytest.raises(Unavailable) as info,
    ):
        c.hello()
    assert "impasto daemon" in info.value.message


@pytest.mark.parametrize(
    "endpoint", ["tcp://0.0.0.0:5747", "tcp://*:5747", "tcp://192.168.1.4:5747"]
)
def test_non_loopback_endpoints_need_keys(endpoint):
    with pytest.raises(BadRequest, match="without keys"):
        check_endpoint(endpoint, secure=False)
    if "*" not in endpoint:
        check_endpoint(endpoint, secure=True)
    check_endpoint(DaemonConfig().endpoint, secure=False)


frame_lists = st.lists(
    st.one_of(
        st.binary(max_size=48),
        st.builds(
            lambda t, body: msgpack.packb({"v": 1, "type": t, "id": "fuzz", "body": body}),
            st.sampled_from(protocol.REQUESTS),
            st.dictionaries(
                st.sampled_from(["content", "styles", "job", "size", "strength", "frame"]),
                st.one_of(
                    st.integers(-(2**63), 2**64 - 1),
                    st.floats(),
                    st.text(max_size=5),
                    st.none(),
                    st.lists(st.integers(0, 2**32), max_size=3),
                ),
                max_size=4,
            ),
        ),
    ),
    min_size=1,
    max_size=3,
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(frames=frame_lists)
def test_fuzzed_messages_get_a_reply_and_never_take_the_daemon_down(daemon, frames):
    msg_type, body = raw_request(daemon.endpoint, frames)
    if msg_type == "error":
        assert body["code"] in ERROR_CODES and body["code"] != "internal", body
    assert daemon.alive()


def test_a_job_id_can_be_reused_once_its_job_was_cancelled(daemon):
    body, frames = image_job(rgba_u8(load_rgb("chelsea.png")), **LONG)
    with daemon.client() as c:
        first = c.submit(body, frames)
        assert wait_until(lambda: polled(c, lambda: first.state == "running"), 30)
        c.cancel(first.id)
        with pytest.raises(JobCancelled):
            c.wait(first, timeout=10)
        quick, quick_frames = image_job(rgba_u8(load_rgb("chelsea.png")), iterations=2, size=32)
        c.send("submit", quick, quick_frames, msg_id=first.id)  # same id, new job
        c.jobs[first.id] = again = type(first)(id=first.id)
        result = c.wait(again, timeout=60)
    assert result.image_bytes(0)[0].width == 160


def test_too_many_frames_are_refused_before_anything_is_decoded(daemon):
    msg_type, body = raw_request(daemon.endpoint, [header("hello", {})] + [b"x"] * 100)
    assert (msg_type, body["code"]) == ("error", "malformed")


def test_a_job_the_daemon_lost_in_a_restart_fails_instead_of_waiting_forever(tmp_path):
    first = DaemonProcess(tmp_path / "a")
    body, frames = image_job(rgba_u8(load_rgb("chelsea.png")), **LONG)
    with first.client(timeout=30) as c:
        job = c.submit(body, frames)
        assert wait_until(lambda: polled(c, lambda: job.state == "running"), 60)
        endpoint = first.endpoint
        first.stop()
        second = DaemonProcess(tmp_path / "b", endpoint=endpoint)  # same address
        try:
            started = time.monotonic()
            with pytest.raises(JobLost, match="restarted"):
                c.wait(job, timeout=30)
            assert time.monotonic() - started < 10
        finally:
            second.stop()


@pytest.mark.parametrize("dtype", ["u8", "u16", "f32"])
def test_a_mask_becomes_the_results_transparency_with_its_feather(daemon, dtype):
    photo = load_rgb("chelsea.png")[:48, :64]
    h, w = photo.shape[:2]
    np_type = {"u8": np.uint8, "u16": np.uint16, "f32": np.float32}[dtype]
    top = 1.0 if dtype == "f32" else np.iinfo(np_type).max
    content = np.concatenate([photo / 255, np.ones((h, w, 1))], 2) * top
    content = content.astype(np_type)
    mask = np.zeros((h, w), np.uint8)
    mask[8:40, 16:48] = 255
    mask[8:40, 16] = 100  # a feathered column
    body = {
        "engine": "fast",
        "content": {"frame": 1, "width": w, "height": h, "channels": 4, "dtype": dtype},
        "mask": {"frame": 2, "width": w, "height": h, "channels": 1, "dtype": "u8"},
        "styles": [{"name": "starry-night"}],
    }
    with daemon.client() as c:
        result = c.run(body, [content.tobytes(), mask.tobytes()], timeout=60)
    desc, data = result.image_bytes(0)
    out = np.frombuffer(data, np_type).reshape(h, w, 4)
    alpha = out[..., 3].astype(np.float64) / top
    assert (alpha[mask == 0] == 0).all() and (alpha[mask == 255] == 1).all()
    np.testing.assert_allclose(alpha[8:40, 16], 100 / 255, atol=1 / 255)
    assert np.abs(out[mask == 255][:, :3] / top - content[mask == 255][:, :3] / top).mean() > 0.04


def test_without_alpha_a_mask_fades_the_result_into_the_photo(daemon):
    photo = np.ascontiguousarray(load_rgb("chelsea.png")[:48, :64])
    h, w = photo.shape[:2]
    mask = np.zeros((h, w), np.uint8)
    mask[:, 32:] = 255
    body = {
        "engine": "fast",
        "content": {"frame": 1, "width": w, "height": h, "channels": 3},
        "mask": {"frame": 2, "width": w, "height": h, "channels": 1},
        "styles": [{"name": "great-wave"}],
    }
    with daemon.client() as c:
        result = c.run(body, [photo.tobytes(), mask.tobytes()], timeout=60)
    out = np.frombuffer(result.image_bytes(0)[1], np.uint8).reshape(h, w, 3)
    assert np.array_equal(out[:, :32], photo[:, :32])  # the photo, byte for byte
    assert np.abs(out[:, 32:].astype(int) - photo[:, 32:]).mean() > 10


def test_a_mask_of_another_size_is_refused_before_the_job_runs(daemon):
    photo = np.zeros((8, 8, 4), np.uint8)
    body = {
        "engine": "fast",
        "content": {"frame": 1, "width": 8, "height": 8},
        "mask": {"frame": 2, "width": 4, "height": 4, "channels": 1},
        "styles": [{"name": "great-wave"}],
    }
    with pytest.raises(BadRequest, match="mask"), daemon.client() as c:
        c.run(body, [photo.tobytes(), bytes(16)], timeout=30)


def test_a_client_of_another_protocol_version_is_told_both_versions_and_what_to_update(daemon):
    _, body = raw_request(daemon.endpoint, [header("hello", {}, v=2)])
    assert body["code"] == "unsupported_version"
    assert "client speaks Impasto protocol 2" in body["message"]
    assert "daemon speaks 1" in body["message"] and "update the daemon" in body["message"]
    _, body = raw_request(daemon.endpoint, [header("hello", {}, v=0)])
    assert "update the client" in body["message"] and "install.py" in body["message"]


def test_a_daemon_of_another_protocol_version_gives_the_client_a_clear_error():
    """A newer daemon (a raw ROUTER answering in protocol 2): the request fails at once."""
    import threading

    ctx = zmq.Context.instance()
    router = ctx.socket(zmq.ROUTER)
    router.setsockopt(zmq.LINGER, 0)
    port = router.bind_to_random_port("tcp://127.0.0.1")

    def answer() -> None:
        if router.poll(10_000):
            ident, head = router.recv_multipart()
            request = msgpack.unpackb(head)
            reply = {"v": 2, "type": "hello", "id": request["id"], "body": {"features": []}}
            router.send_multipart([ident, msgpack.packb(reply)])

    thread = threading.Thread(target=answer)
    thread.start()
    try:
        started = time.monotonic()
        with (
            pytest.raises(UnsupportedVersion) as info,
            Client(f"tcp://127.0.0.1:{port}") as c,
        ):
            c.hello()
        assert time.monotonic() - started < 5  # not a time-out: the answer was understood
    finally:
        thread.join()
        router.close()
    message = info.value.message
    assert "daemon speaks Impasto protocol 2" in message and "client speaks 1" in message
    assert "update the client" in message


def test_a_stop_that_comes_before_serving_starts_is_not_lost():
    """SIGTERM right after `listening on` is printed, before serve() runs, still stops it."""
    import threading

    from daemon.server import Daemon
    from tests.conftest import free_port

    daemon = Daemon(DaemonConfig(endpoint=f"tcp://127.0.0.1:{free_port()}"))
    daemon.stop()
    serving = threading.Thread(target=daemon.serve)
    serving.start()
    serving.join(20)
    assert not serving.is_alive(), "serve() forgot the stop"

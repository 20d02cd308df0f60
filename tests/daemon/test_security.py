"""A daemon that needs keys (CURVE), forced on over loopback: the right key works, no key or a
wrong one gets nothing, the daemon logs each refusal, and a bad file among the allowed keys is
skipped without stopping anyone else. Real daemon, real sockets."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
import zmq
import zmq.auth

from daemon.security import Guard, create_keys
from shared.client import Client
from shared.errors import BadRequest, Unavailable
from tests.conftest import ROOT, DaemonProcess, load_rgb, rgba_u8


@pytest.fixture(scope="module")
def keyed(tmp_path_factory):
    """`impasto keys` for two clients, a key pair the daemon never allowed, and a daemon."""
    tmp = tmp_path_factory.mktemp("keys")
    keys = tmp / "daemon-keys"
    made = subprocess.run(
        [sys.executable, "-m", "cli", "keys", "--dir", str(keys), "--client", "laptop",
         "--client", "tablet"],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    _, stranger = zmq.auth.create_certificates(tmp, "stranger")
    proc = DaemonProcess(tmp / "d", "--keys", str(keys), keys=key_files(keys, "laptop"))
    yield proc, keys, stranger
    proc.stop()


def key_files(keys, name: str) -> dict:
    return {
        "server_key": keys / "daemon.key",
        "client_key": keys / "clients" / f"{name}.key_secret",
    }


def test_allowed_clients_get_served_over_curve(keyed):
    proc, keys, _ = keyed
    for name in ("laptop", "tablet"):
        with Client(proc.endpoint, **key_files(keys, name)) as c:
            assert c.keys is not None and c.hello()["daemon"] == "impasto"
    photo = rgba_u8(load_rgb("chelsea.png")[:32, :32])
    body = {
        "content": {"frame": 1, "width": 32, "height": 32},
        "styles": [{"name": "great-wave"}],
    }
    with Client(proc.endpoint, **key_files(keys, "laptop")) as c:
        result = c.run(body, [np.ascontiguousarray(photo).tobytes()], timeout=60)
    assert result.image_bytes(0)[0].width == 32


@pytest.mark.parametrize("who", ["no keys", "a stranger's keys", "the wrong daemon key"])
def test_anyone_else_gets_no_connection_and_the_daemon_logs_it(keyed, who):
    proc, keys, stranger = keyed
    before = proc.log.read_text()
    kw = {
        "no keys": {},
        "a stranger's keys": {"server_key": keys / "daemon.key", "client_key": stranger},
        "the wrong daemon key": {**key_files(keys, "laptop"), "server_key": stranger},
    }[who]
    with pytest.raises(Unavailable), Client(proc.endpoint, timeout=2.0, **kw) as c:
        c.hello()
    if who != "the wrong daemon key":  # that client is the one refusing: the daemon never hears
        deadline = time.monotonic() + 5
        while "refused" not in proc.log.read_text()[len(before) :]:
            assert time.monotonic() < deadline, proc.log.read_text()[len(before) :]
            time.sleep(0.1)
    with proc.client() as c:
        assert c.status()["jobs"] == []  # nothing of theirs ever ran


def test_a_client_key_file_without_its_secret_is_a_clear_error(keyed):
    proc, keys, _ = keyed
    with pytest.raises(BadRequest, match="secret key file"):
        Client(proc.endpoint, server_key=keys / "daemon.key", client_key=keys / "daemon.key")


def test_the_cli_takes_key_files_and_keys_never_reuses_a_client_name(keyed):
    proc, keys, _ = keyed
    run = subprocess.run(
        [sys.executable, "-m", "cli", "status", "--endpoint", proc.endpoint,
         "--server-key", str(keys / "daemon.key"),
         "--client-key", str(keys / "clients" / "tablet.key_secret")],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert run.returncode == 0 and "impasto daemon" in run.stdout, run.stderr
    again = subprocess.run(
        [sys.executable, "-m", "cli", "keys", "--dir", str(keys), "--client", "laptop"],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert again.returncode == 2 and "already has keys" in again.stderr


def test_a_daemon_on_a_network_address_without_keys_refuses_to_start(tmp_path):
    run = subprocess.run(
        [sys.executable, "-m", "cli", "daemon", "--endpoint", "tcp://0.0.0.0:5747"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert run.returncode == 2 and "without keys" in run.stderr


@pytest.fixture
def spoiled(tmp_path):
    """A daemon whose allowed/ folder, once it serves, also holds an empty key file, one of
    garbage and one that cannot be read (a folder); plus a key pair it never allowed."""
    keys = tmp_path / "daemon-keys"
    create_keys(keys, ["laptop", "tablet"])
    _, stranger = zmq.auth.create_certificates(tmp_path, "stranger")
    proc = DaemonProcess(tmp_path / "d", "--keys", str(keys), keys=key_files(keys, "laptop"))
    allowed = keys / "allowed"
    (allowed / "empty.key").write_bytes(b"")
    (allowed / "garbage.key").write_bytes(bytes(range(256)) * 4)
    (allowed / "folder.key").mkdir()
    yield proc, keys, stranger
    proc.stop()


def test_bad_allowed_key_files_are_skipped_and_logged_and_good_clients_connect(spoiled):
    proc, keys, _ = spoiled
    for name in ("tablet", "laptop"):
        with Client(proc.endpoint, timeout=5.0, **key_files(keys, name)) as c:
            assert c.hello()["daemon"] == "impasto"
    log = proc.log.read_text()
    for bad in ("empty.key", "garbage.key", "folder.key"):
        assert f"skipped {keys / 'allowed' / bad}" in log, log


def test_the_daemon_stops_on_sigterm_after_a_bad_allowed_key_file(spoiled):
    proc, keys, stranger = spoiled
    kw = {"server_key": keys / "daemon.key", "client_key": stranger}
    with pytest.raises(Unavailable), Client(proc.endpoint, timeout=2.0, **kw) as c:
        c.hello()  # the daemon reads the allowed keys to refuse it
    proc.proc.send_signal(signal.SIGTERM)
    try:
        assert proc.proc.wait(5) == 0
    except subprocess.TimeoutExpired:
        pytest.fail(f"the daemon did not stop within 5 s of SIGTERM: {proc.log.read_text()}")


class BrokenCheck:
    """A key check with a bug: it ends pyzmq's authenticator thread."""

    def callback(self, domain: str, key: bytes) -> bool:
        raise RuntimeError("a bug in the key check")


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")  # BrokenCheck
def test_stopping_never_waits_on_an_authenticator_thread_that_died(tmp_path):
    keys = tmp_path / "keys"
    create_keys(keys, ["laptop"])
    ctx = zmq.Context()
    sock = ctx.socket(zmq.ROUTER)
    guard = Guard(ctx, keys)
    guard.secure(sock)
    guard.auth.configure_curve_callback("*", credentials_provider=BrokenCheck())
    sock.bind("tcp://127.0.0.1:*")
    with Client(sock.last_endpoint.decode(), timeout=1.0, **key_files(keys, "laptop")) as c:
        with pytest.raises(Unavailable):
            c.hello()
    guard.auth.thread.join(5)
    assert not guard.auth.is_alive()
    stopping = threading.Thread(target=guard.stop, daemon=True)
    stopping.start()
    stopping.join(5)
    assert not stopping.is_alive(), "Guard.stop waits on an authenticator thread that died"
    sock.close(linger=0)
    ctx.term()

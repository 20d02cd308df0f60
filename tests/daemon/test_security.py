"""A daemon that needs keys (CURVE), forced on over loopback: the right key works, no key or a
wrong one gets nothing, and the daemon logs each refusal. Real daemon, real sockets."""

from __future__ import annotations

import subprocess
import sys
import time

import numpy as np
import pytest
import zmq.auth

from shared.client import Client
from shared.errors import BadRequest, Unavailable
from tests.conftest import ROOT, DaemonProcess, load_rgb, rgba_u8


@pytest.fixture(scope="module")
def keyed(tmp_path_factory):
    """`impasto keys` for two clients, a key pair the daemon never allowed, and a daemon."""
    tmp = tmp_path_factory.mktemp("keys")
    keys = tmp / "daemon-keys"
    made = subprocess.run(
        [sys.executable, "-m", "daemon", "keys", "--dir", str(keys), "--client", "laptop",
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
        [sys.executable, "-m", "daemon", "status", "--endpoint", proc.endpoint,
         "--server-key", str(keys / "daemon.key"),
         "--client-key", str(keys / "clients" / "tablet.key_secret")],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert run.returncode == 0 and "impasto daemon" in run.stdout, run.stderr
    again = subprocess.run(
        [sys.executable, "-m", "daemon", "keys", "--dir", str(keys), "--client", "laptop"],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert again.returncode == 2 and "already has keys" in again.stderr


def test_a_daemon_on_a_network_address_without_keys_refuses_to_start(tmp_path):
    run = subprocess.run(
        [sys.executable, "-m", "daemon", "daemon", "--endpoint", "tcp://0.0.0.0:5747"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert run.returncode == 2 and "without keys" in run.stderr

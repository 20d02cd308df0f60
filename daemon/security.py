"""A daemon on a network address: ZeroMQ CURVE encryption, and only the clients whose public keys
it holds. See `impasto keys` (cli.main) and shared/keys.py for the client side.

A key folder (default `<config>/impasto/daemon`, see shared.keys.config_dir) holds:
- `daemon.key_secret` / `daemon.key`: the daemon's key pair (the `.key` file goes to clients);
- `allowed/NAME.key`: the public key of each client allowed in (read again at every connection,
  so adding or deleting a file takes effect at once);
- `clients/NAME.key_secret`: key pairs `impasto keys --client NAME` made, to hand to each client.

A client without keys, with a key the folder does not hold, or expecting another daemon key gets
no connection at all, so no request of it is ever read; the daemon logs each refusal.
"""

from __future__ import annotations

import logging
import shutil
import threading
import time
from pathlib import Path

import zmq
from zmq.auth import create_certificates, load_certificate, load_certificates
from zmq.auth.thread import ThreadAuthenticator
from zmq.utils.monitor import recv_monitor_message

from shared.errors import BadRequest
from shared.keys import config_dir

log = logging.getLogger(__name__)

DAEMON = "daemon"
REFUSAL_LOG_SECONDS = 30.0
HANDSHAKE_FAILED = {
    zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL: "the handshake failed",
    zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL: "it does not speak CURVE with this daemon's key",
    zmq.EVENT_HANDSHAKE_FAILED_AUTH: "its key is not among the allowed ones",
}


def default_key_dir() -> Path:
    return config_dir() / "daemon"


def create_keys(folder: Path, clients: list[str]) -> list[str]:
    """The daemon's key pair (kept if it exists) and one pair per client, each client's public
    key allowed in; returns what was written, for people."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "allowed").mkdir(exist_ok=True)
    (folder / "clients").mkdir(exist_ok=True)
    said = []
    if not (folder / f"{DAEMON}.key_secret").is_file():
        create_certificates(folder, DAEMON)
        said.append(f"the daemon's keys: {folder / f'{DAEMON}.key_secret'} (stays here)")
    said.append(f"the daemon's public key, for every client: {folder / f'{DAEMON}.key'}")
    for name in clients:
        if not name or not name.replace("-", "").replace("_", "").isalnum():
            raise BadRequest(f"a client name is letters, digits, - and _, not {name!r}")
        if (folder / "allowed" / f"{name}.key").exists():
            raise BadRequest(f"a client called {name!r} already has keys; choose another name")
        public, secret = create_certificates(folder / "clients", name)
        shutil.copy2(public, folder / "allowed" / f"{name}.key")
        said.append(f"client {name}'s key pair, for that client only: {secret}")
    (folder / f"{DAEMON}.key_secret").chmod(0o600)
    for secret in (folder / "clients").glob("*.key_secret"):
        secret.chmod(0o600)
    return said


class _Refusals:
    """Logs refusals, each kind at most once per REFUSAL_LOG_SECONDS (a refused client retries
    its connection several times a second), with how many were not logged since."""

    def __init__(self) -> None:
        self._last: dict[str, tuple[float, int]] = {}
        self._lock = threading.Lock()

    def __call__(self, kind: str, message: str) -> None:
        now = time.monotonic()
        with self._lock:
            last, quiet = self._last.get(kind, (-REFUSAL_LOG_SECONDS, 0))
            if now - last < REFUSAL_LOG_SECONDS:
                self._last[kind] = (last, quiet + 1)
                return
            self._last[kind] = (now, 0)
        more = f" ({quiet} more such refusals since the last message)" if quiet else ""
        log.warning("%s%s", message, more)


class _AllowedKeys:
    """The ZAP callback: is this client's public key in the allowed folder?"""

    def __init__(self, folder: Path, refused: _Refusals) -> None:
        self.folder, self.refused = folder, refused

    def callback(self, domain: str, key: bytes) -> bool:
        try:
            allowed = load_certificates(str(self.folder))
        except OSError as exc:
            log.error("cannot read the allowed client keys in %s: %s", self.folder, exc)
            return False
        if allowed.get(key):
            return True
        self.refused(
            f"key {key!r}",
            f"refused a client whose public key {key.decode()} is not in {self.folder}",
        )
        return False


class Guard:
    """CURVE on a ROUTER socket, an authenticator for its clients and a log of refusals."""

    def __init__(self, ctx: zmq.Context, folder: Path) -> None:
        secret = folder / f"{DAEMON}.key_secret"
        try:
            self.public, self.secret = load_certificate(str(secret))
        except (OSError, ValueError) as exc:
            raise BadRequest(
                f"cannot read the daemon's keys in {folder} ({exc}); make them with "
                "`impasto keys --client NAME`"
            ) from None
        if self.secret is None:
            raise BadRequest(f"{secret} holds no secret key")
        self.allowed = folder / "allowed"
        self.auth = ThreadAuthenticator(ctx)
        self.monitor: zmq.Socket | None = None
        self.refused = _Refusals()

    def secure(self, sock: zmq.Socket) -> None:
        """Make `sock` (before it binds) a CURVE server that only the allowed clients reach."""
        self.auth.start()
        allowed = _AllowedKeys(self.allowed, self.refused)
        self.auth.configure_curve_callback("*", credentials_provider=allowed)
        sock.curve_server = True
        sock.curve_publickey = self.public
        sock.curve_secretkey = self.secret
        self.monitor = sock.get_monitor_socket(sum(HANDSHAKE_FAILED))
        log.info("CURVE on: clients need this daemon's public key and one of %s", self.allowed)

    def log_refusals(self) -> None:
        """Log the failed handshakes the monitor saw (called from the I/O loop)."""
        assert self.monitor is not None
        while self.monitor.poll(0):
            event = recv_monitor_message(self.monitor)
            reason = HANDSHAKE_FAILED.get(event["event"], "the handshake failed")
            where = event["endpoint"].decode()
            self.refused(f"{where} {reason}", f"refused a connection on {where}: {reason}")

    def stop(self) -> None:
        if self.monitor is not None:
            self.monitor.close(linger=0)
        self.auth.stop()

"""A daemon on a network address: ZeroMQ CURVE encryption, and only the clients whose public keys
it holds. See `impasto keys` (cli.main) and shared/keys.py for the client side.

A key folder (default `<config>/impasto/daemon`, see shared.keys.config_dir) holds:
- `daemon.key_secret` / `daemon.key`: the daemon's key pair (the `.key` file goes to clients);
- `allowed/NAME.key`: the public key of each client allowed in (read again at every connection,
  so adding or deleting a file takes effect at once; a file that cannot be read is skipped and
  logged, and the others still count);
- `clients/NAME.key_secret`: key pairs `impasto keys --client NAME` made, to hand to each client.
The folders are readable by their owner only, the secret key files too.

A client without keys, with a key the folder does not hold, or expecting another daemon key gets
no connection at all, so no request of it is ever read; the daemon logs each refusal.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import zmq
from zmq.auth import create_certificates, load_certificate
from zmq.auth.base import Authenticator
from zmq.auth.thread import ThreadAuthenticator
from zmq.utils.monitor import recv_monitor_message

from shared.errors import BadRequest

log = logging.getLogger(__name__)

DAEMON = "daemon"
REPEAT_LOG_SECONDS = 30.0
STOP_SECONDS = 2.0  # how long stopping waits for the authenticator thread
HANDSHAKE_FAILED = {
    zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL: "the handshake failed",
    zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL: "it does not speak CURVE with this daemon's key",
    zmq.EVENT_HANDSHAKE_FAILED_AUTH: "its key is not among the allowed ones",
}


def create_keys(folder: Path, clients: Sequence[str]) -> list[str]:
    """Make the daemon's key pair (kept if it exists) and one pair per client, each client's
    public key allowed in; writes nothing unless every name is good. Returns what was written,
    for people."""
    _check_names(folder, clients)
    said = []
    with _owner_only():
        for path in (folder, folder / "allowed", folder / "clients"):
            path.mkdir(parents=True, exist_ok=True)
            path.chmod(0o700)  # also closes a folder an older version left open
        for secret in (folder / f"{DAEMON}.key_secret", *(folder / "clients").glob("*.key_secret")):
            if secret.is_file():
                secret.chmod(0o600)
        if not (folder / f"{DAEMON}.key_secret").is_file():
            create_certificates(folder, DAEMON)
            said.append(f"the daemon's keys: {folder / f'{DAEMON}.key_secret'} (stays here)")
        said.append(f"the daemon's public key, for every client: {folder / f'{DAEMON}.key'}")
        for name in clients:
            public, secret = create_certificates(folder / "clients", name)
            shutil.copy2(public, folder / "allowed" / f"{name}.key")
            said.append(f"client {name}'s key pair, for that client only: {secret}")
    return said


def _check_names(folder: Path, clients: Sequence[str]) -> None:
    """Refuse a client name that is not a plain file name, is given twice or already has keys."""
    for i, name in enumerate(clients):
        if not name or not name.replace("-", "").replace("_", "").isalnum():
            raise BadRequest(f"a client name is letters, digits, - and _, not {name!r}")
        if name in clients[:i]:
            raise BadRequest(f"the client name {name!r} is given twice")
        if (folder / "allowed" / f"{name}.key").exists():
            raise BadRequest(f"a client called {name!r} already has keys; choose another name")


@contextlib.contextmanager
def _owner_only() -> Iterator[None]:
    """Files and folders made inside are the owner's only (umask 077; the umask is the process's,
    and `impasto keys` runs no other thread)."""
    old = os.umask(0o077)
    try:
        yield
    finally:
        os.umask(old)


class _ThrottledLog:
    """Logs warnings, each kind at most once per REPEAT_LOG_SECONDS (a refused client retries its
    connection several times a second), with how many were not logged since."""

    def __init__(self) -> None:
        self._last: dict[str, tuple[float, int]] = {}
        self._lock = threading.Lock()

    def __call__(self, kind: str, message: str) -> None:
        now = time.monotonic()
        with self._lock:
            last, quiet = self._last.get(kind, (-REPEAT_LOG_SECONDS, 0))
            if now - last < REPEAT_LOG_SECONDS:
                self._last[kind] = (last, quiet + 1)
                return
            self._last[kind] = (now, 0)
        more = f" ({quiet} more like it since the last message)" if quiet else ""
        log.warning("%s%s", message, more)


class _AllowedKeys:
    """The ZAP callback: is this client's public key in the allowed folder? It never raises: an
    exception would end pyzmq's authenticator thread, and every handshake after it would hang."""

    def __init__(self, folder: Path, warn: _ThrottledLog) -> None:
        self.folder, self.warn = folder, warn

    def keys(self) -> set[bytes]:
        """The public keys in the folder's key files; a file that cannot be read is logged and
        skipped."""
        keys = set()
        for path in sorted(self.folder.glob("*.key")):
            try:
                if not path.is_file():  # a folder, a dangling link, a pipe that would block
                    raise OSError("not a file")
                public, _ = load_certificate(path)
                if not public:
                    raise ValueError("its public key is empty")
            except (OSError, ValueError) as exc:
                self.warn(
                    f"file {path}", f"skipped {path}: {exc}; the other allowed keys still count"
                )
                continue
            keys.add(public)
        return keys

    def callback(self, domain: str, key: bytes) -> bool:
        """Whether the client with the public key `key` (z85) may connect."""
        try:
            if key in self.keys():
                return True
        except Exception:  # anything, see the class: refuse this client, keep the thread
            log.exception("refused a client: cannot read the allowed keys in %s", self.folder)
            return False
        self.warn(
            f"key {key!r}",
            f"refused a client whose public key {key.decode()} is not in {self.folder}",
        )
        return False


class _Authenticator(ThreadAuthenticator):
    """pyzmq's ZAP thread, stopped without waiting on a thread that has ended or hangs (pyzmq's
    own stop would block for ever sending to a thread that died)."""

    def stop(self) -> None:
        """End the thread, waiting at most STOP_SECONDS, and close the ZAP socket."""
        if self.pipe is not None:
            with contextlib.suppress(zmq.Again):  # nobody reads the pipe: the thread has ended
                self.pipe.send(b"TERMINATE", zmq.NOBLOCK)
            if self.thread is not None:
                self.thread.join(STOP_SECONDS)
                if self.thread.is_alive():
                    log.warning("the key-checking thread did not stop; leaving it behind")
            self.thread = None
            self.pipe.close(linger=0)
            self.pipe = None
        Authenticator.stop(self)


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
        self.auth = _Authenticator(ctx)
        self.monitor: zmq.Socket | None = None
        self.warn = _ThrottledLog()

    def secure(self, sock: zmq.Socket) -> None:
        """Make `sock` (before it binds) a CURVE server that only the allowed clients reach."""
        self.auth.start()
        allowed = _AllowedKeys(self.allowed, self.warn)
        self.auth.configure_curve_callback("*", credentials_provider=allowed)
        sock.curve_server = True
        sock.curve_publickey = self.public
        sock.curve_secretkey = self.secret
        self.monitor = sock.get_monitor_socket(sum(HANDSHAKE_FAILED))
        count = len(allowed.keys())
        log.info(
            "CURVE on: clients need this daemon's public key and one of the %d in %s",
            count,
            self.allowed,
        )
        if not count:
            log.warning("no client can connect until %s holds its public key", self.allowed)

    def log_refusals(self) -> None:
        """Log the failed handshakes the monitor saw (called from the I/O loop)."""
        assert self.monitor is not None
        while self.monitor.poll(0):
            event = recv_monitor_message(self.monitor)
            reason = HANDSHAKE_FAILED.get(event["event"], "the handshake failed")
            where = event["endpoint"].decode()
            self.warn(f"{where} {reason}", f"refused a connection on {where}: {reason}")

    def stop(self) -> None:
        """Close the monitor and end the authenticator (never waiting long on its thread)."""
        if self.monitor is not None:
            self.monitor.close(linger=0)
        self.auth.stop()

"""Keys for a daemon on another machine: ZeroMQ CURVE (encryption and authentication).

A daemon on a network address only serves clients whose public key it holds (see
daemon/security.py and `impasto keys`). A client then needs the daemon's public key and its own
key pair, both certificate files as `impasto keys` writes them (pyzmq's `zmq.auth` format):

- the daemon's public key: the `server_key` argument, else `$IMPASTO_SERVER_KEY`, else
  `<config>/impasto/remote/server.key` when the endpoint is not on this machine;
- the client's key pair: `client_key`, else `$IMPASTO_CLIENT_KEY`, else
  `<config>/impasto/remote/client.key_secret`.

`<config>` is `$XDG_CONFIG_HOME` or `~/.config` on Linux, `~/Library/Application Support` on
macOS and `%APPDATA%` on Windows. A daemon on this machine (loopback) needs nothing.
"""

from __future__ import annotations

import ipaddress
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from shared.errors import BadRequest

SERVER_KEY_ENV = "IMPASTO_SERVER_KEY"
CLIENT_KEY_ENV = "IMPASTO_CLIENT_KEY"


def config_dir() -> Path:
    """Impasto's folder for settings and keys in the user's configuration folder."""
    if sys.platform == "win32":
        base = Path(os.environ.get("APPDATA") or Path.home() / "AppData" / "Roaming")
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Application Support"
    else:
        base = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return base / "impasto"


def daemon_key_dir() -> Path:
    """The daemon's key folder when none is given (`impasto keys`, `impasto daemon --keys`)."""
    return config_dir() / "daemon"


def remote_dir() -> Path:
    """Where a client keeps the keys for a remote daemon by default."""
    return config_dir() / "remote"


def is_loopback(endpoint: str) -> bool:
    """Whether an endpoint stays on this machine (ipc, inproc, or a loopback TCP host)."""
    parts = urlsplit(endpoint)
    if parts.scheme in ("ipc", "inproc"):
        return True
    host = parts.hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class ClientKeys:
    """What a client socket needs for CURVE: the daemon's public key and its own pair (z85)."""

    server_public: bytes
    public: bytes
    secret: bytes

    def apply(self, socket) -> None:
        """Configure a zmq socket (before it connects) to talk CURVE with the daemon."""
        socket.curve_serverkey = self.server_public
        socket.curve_publickey = self.public
        socket.curve_secretkey = self.secret


def client_keys(
    endpoint: str, server_key: str | Path | None = None, client_key: str | Path | None = None
) -> ClientKeys | None:
    """The CURVE keys to reach `endpoint`, or None for a plain connection (see the module)."""
    server = server_key or os.environ.get(SERVER_KEY_ENV)
    if not server:
        default = remote_dir() / "server.key"
        if is_loopback(endpoint) or not default.is_file():
            return None
        server = default
    client = client_key or os.environ.get(CLIENT_KEY_ENV) or remote_dir() / "client.key_secret"
    server_public, _ = _load(server, "the daemon's public key")
    public, secret = _load(client, "this client's key pair")
    if secret is None:
        raise BadRequest(
            f"{client} holds only a public key; a client needs its secret key file "
            "(NAME.key_secret, made by `impasto keys --client NAME` on the daemon's machine)"
        )
    return ClientKeys(server_public, public, secret)


def _load(path: str | Path, what: str) -> tuple[bytes, bytes | None]:
    from zmq.auth import load_certificate

    try:
        return load_certificate(os.fspath(path))
    except (OSError, ValueError) as exc:
        raise BadRequest(
            f"cannot read {what} from {path} ({exc}); `impasto keys` on the daemon's machine "
            "makes the key files (see the README, 'A daemon on another machine')"
        ) from None

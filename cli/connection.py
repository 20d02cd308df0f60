"""How a CLI command reaches the daemon: --endpoint, the key options and the client they make."""

from __future__ import annotations

import argparse
from pathlib import Path

from shared.client import Client
from shared.keys import CLIENT_KEY_ENV, SERVER_KEY_ENV, remote_dir


def add_key_options(parser: argparse.ArgumentParser) -> None:
    """--server-key and --client-key for the commands that talk to a daemon."""
    parser.add_argument(
        "--server-key",
        type=Path,
        default=None,
        help=f"a remote daemon's public key file (default ${SERVER_KEY_ENV}, else "
        f"{remote_dir() / 'server.key'} for a non-loopback endpoint)",
    )
    parser.add_argument(
        "--client-key",
        type=Path,
        default=None,
        help=f"this client's key pair for a remote daemon (default ${CLIENT_KEY_ENV}, else "
        f"{remote_dir() / 'client.key_secret'})",
    )


def client(args: argparse.Namespace, **kw) -> Client:
    """A client for the command's --endpoint and keys."""
    return Client(args.endpoint, server_key=args.server_key, client_key=args.client_key, **kw)

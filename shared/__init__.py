"""Impasto's wire protocol, job vocabulary and client.

`shared.job`, `shared.protocol` (descriptors) and `shared.errors` need only the standard library,
so an editor plugin can import them before it knows whether pyzmq and msgpack are there; the
client (`shared.client`) and message encoding need pyzmq and msgpack, imported on first use.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "Client",
    "Event",
    "JobHandle",
    "ImageDesc",
    "ImpastoError",
    "DEFAULT_ENDPOINT",
    "PROTOCOL_VERSION",
    "default_endpoint",
]

_HOMES = {
    "Client": "shared.client",
    "Event": "shared.client",
    "JobHandle": "shared.client",
    "default_endpoint": "shared.client",
    "ImpastoError": "shared.errors",
    "ImageDesc": "shared.protocol",
    "DEFAULT_ENDPOINT": "shared.protocol",
    "PROTOCOL_VERSION": "shared.protocol",
}


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module 'shared' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(_HOMES[name]), name)

"""Impasto's wire protocol and client: importable with only pyzmq and msgpack."""

from shared.client import Client, Event, JobHandle, default_endpoint
from shared.errors import ImpastoError
from shared.protocol import DEFAULT_ENDPOINT, PROTOCOL_VERSION, ImageDesc

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

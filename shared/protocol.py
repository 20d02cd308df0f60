"""The Impasto wire protocol: message envelopes and pixel-buffer descriptors.

A message is a ZeroMQ multipart message. Frame 0 is a msgpack map
``{"v": PROTOCOL_VERSION, "type": str, "id": str, "body": map}``; frames 1.. are raw pixel
buffers that image descriptors in the body point at by index (``"frame": 1`` is the first
buffer frame).
See docs/protocol.md. Pure Python so it runs inside an editor's embedded interpreter; msgpack is
imported by the functions that encode and decode messages, so descriptors work without it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from shared.errors import BadImage, BadRequest, MalformedMessage, UnknownType, UnsupportedVersion

PROTOCOL_VERSION = 1
DEFAULT_PORT = 5747
DEFAULT_ENDPOINT = f"tcp://127.0.0.1:{DEFAULT_PORT}"
ENDPOINT_ENV = "IMPASTO_ENDPOINT"

# Requests a client sends; the daemon answers each with a message of the same type (or `error`).
REQUESTS = (
    "hello", "submit", "cancel", "status", "styles", "ping", "learn", "lessons", "stop_learning",
)  # fmt: skip
# Events the daemon sends about a submitted job, all carrying the submit request's id.
JOB_EVENTS = ("accepted", "progress", "result", "error", "cancelled")
REPLIES = (
    "hello", "cancel", "status", "styles", "pong", "error", "learn", "lessons", "stop_learning",
)  # fmt: skip

SAMPLE_BYTES = {"u8": 1, "u16": 2, "f16": 2, "f32": 4}
CHANNEL_ORDERS = ("RGBA", "BGRA")
MAX_HEADER_BYTES = 16 << 20  # style lists carry PNG thumbnails
MAX_FRAMES = 64  # header + content + styles (+ masks later)
# A client with unfinished jobs pings this often (the daemon's hello repeats it in its limits),
# so the daemon's silence limit and the client's are counted in a few heartbeats.
HEARTBEAT_SECONDS = 2.0
MAX_PING_JOBS = 64  # job ids one ping may name (the daemon refuses more)


@dataclass(frozen=True)
class ImageDesc:
    """Describes one raw pixel buffer frame: little-endian samples, rows `stride` bytes apart."""

    frame: int
    width: int
    height: int
    channels: int = 4
    dtype: str = "u8"
    order: str = "RGBA"
    stride: int = 0  # 0 = tight rows

    def __post_init__(self) -> None:
        if not self.stride and self.dtype in SAMPLE_BYTES:
            object.__setattr__(self, "stride", self.row_bytes)

    @property
    def row_bytes(self) -> int:
        """Bytes of pixel data in one row, without padding."""
        return self.width * self.channels * SAMPLE_BYTES[self.dtype]

    @property
    def pixels(self) -> int:
        return self.width * self.height

    def to_wire(self) -> dict:
        return {
            "frame": self.frame,
            "width": self.width,
            "height": self.height,
            "channels": self.channels,
            "dtype": self.dtype,
            "order": self.order,
            "stride": self.stride,
        }

    @classmethod
    def from_wire(
        cls, raw: Any, what: str = "image", channels: tuple[int, ...] = (3, 4)
    ) -> ImageDesc:
        """Validate a descriptor map (types and ranges only; sizes are checked against frames).
        `channels` are the channel counts allowed: colour images have 3 or 4, masks 1."""
        if not isinstance(raw, dict):
            raise BadRequest(f"{what} must be a map describing a pixel buffer")
        unknown = set(raw) - {"frame", "width", "height", "channels", "dtype", "order", "stride"}
        if unknown:
            raise BadRequest(f"{what} has unknown fields: {', '.join(sorted(map(str, unknown)))}")
        for key in ("frame", "width", "height"):
            if not _is_int(raw.get(key)):
                raise BadRequest(f"{what}.{key} must be an integer")
        allowed = channels
        channels = raw.get("channels", allowed[-1])
        dtype = raw.get("dtype", "u8")
        order = raw.get("order", "RGBA")
        if not _is_int(channels) or channels not in allowed:
            options = " or ".join(map(str, allowed))
            raise BadRequest(f"{what}.channels must be {options}, not {channels!r}")
        if not isinstance(dtype, str) or dtype not in SAMPLE_BYTES:
            raise BadRequest(
                f"{what}.dtype must be one of {', '.join(SAMPLE_BYTES)}, not {dtype!r}"
            )
        if not isinstance(order, str) or order not in CHANNEL_ORDERS:
            raise BadRequest(f"{what}.order must be RGBA or BGRA, not {order!r}")
        if raw["frame"] < 1 or raw["width"] < 1 or raw["height"] < 1:
            raise BadRequest(f"{what}: frame, width and height must be positive")
        desc = cls(raw["frame"], raw["width"], raw["height"], channels, dtype, order, 0)
        stride = raw.get("stride", desc.row_bytes)
        if not _is_int(stride) or stride < desc.row_bytes:
            raise BadImage(
                f"{what}.stride {stride!r} is shorter than a row ({desc.row_bytes} bytes)"
            )
        return cls(desc.frame, desc.width, desc.height, channels, dtype, order, stride)

    def check_buffer(self, nbytes: int, what: str = "image") -> None:
        """Raise BadImage unless a frame of `nbytes` holds exactly this image."""
        need_min = self.stride * (self.height - 1) + self.row_bytes
        if not need_min <= nbytes <= self.stride * self.height:
            raise BadImage(
                f"{what} claims {self.width}x{self.height} {self.channels}x{self.dtype} "
                f"(stride {self.stride}) but its frame has {nbytes} bytes"
            )


@dataclass(frozen=True)
class PixelFormat:
    """How an editor lays out a layer's pixels: sample type, channel order and count. Each
    plugin maps its editor's formats onto these; `describe` makes the wire descriptor."""

    dtype: str
    order: str = "RGBA"
    channels: int = 4

    @property
    def pixel_bytes(self) -> int:
        return self.channels * SAMPLE_BYTES[self.dtype]

    def describe(self, frame: int, width: int, height: int) -> ImageDesc:
        """The descriptor of a tightly packed `width`×`height` buffer in buffer frame `frame`."""
        return ImageDesc(
            frame, width, height, self.channels, self.dtype, self.order, width * self.pixel_bytes
        )


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def encode(msg_type: str, msg_id: str, body: dict | None = None, frames: Sequence = ()) -> list:
    """Build the multipart frames of one message."""
    import msgpack

    header = {"v": PROTOCOL_VERSION, "type": msg_type, "id": msg_id, "body": body or {}}
    return [msgpack.packb(header, use_bin_type=True), *frames]


def decode(frames: Sequence, known_types: Sequence[str]) -> tuple[str, str, dict, list]:
    """Parse multipart frames into (type, id, body, buffer frames), raising typed errors."""
    if not frames:
        raise MalformedMessage("empty message")
    if len(frames) > MAX_FRAMES:
        raise MalformedMessage(f"{len(frames)} frames; a message has at most {MAX_FRAMES}")
    head = frames[0]
    if len(head) > MAX_HEADER_BYTES:  # before copying anything
        raise MalformedMessage(f"header frame of {len(head)} bytes exceeds {MAX_HEADER_BYTES}")
    head = head.bytes if hasattr(head, "bytes") else bytes(head)
    import msgpack

    try:
        header = msgpack.unpackb(head, raw=False, strict_map_key=True)
    except Exception as exc:  # msgpack raises several unrelated exception types on garbage
        raise MalformedMessage(f"header frame is not msgpack: {exc}") from None
    if not isinstance(header, dict):
        raise MalformedMessage("header frame must be a msgpack map")
    msg_id = header.get("id")
    if not isinstance(msg_id, str) or not 0 < len(msg_id) <= 128:
        raise MalformedMessage("header needs an 'id' string of 1 to 128 characters")
    version = header.get("v")
    if version != PROTOCOL_VERSION:
        raise UnsupportedVersion(version_mismatch(version, known_types))
    msg_type = header.get("type")
    if msg_type not in known_types:
        raise UnknownType(f"unknown message type {msg_type!r}")
    body = header.get("body", {})
    if not isinstance(body, dict):
        raise MalformedMessage("'body' must be a map")
    return msg_type, msg_id, body, list(frames[1:])


def version_mismatch(theirs: Any, known_types: Sequence[str]) -> str:
    """What to tell a person when the other side speaks another protocol version."""
    here, there = ("daemon", "client") if "submit" in known_types else ("client", "daemon")
    if not _is_int(theirs):
        return (
            f"the {there} sent a message without a valid protocol version ({theirs!r}); "
            f"this {here} speaks Impasto protocol {PROTOCOL_VERSION}"
        )
    older = here if theirs > PROTOCOL_VERSION else there
    return (
        f"the {there} speaks Impasto protocol {theirs} and this {here} speaks "
        f"{PROTOCOL_VERSION}: update the {older} (re-run `python3 install.py` in the Impasto "
        "folder, which updates the daemon, the command line and the editor plugins together, "
        "then restart the editor)"
    )


def peek_id(frames: Sequence) -> str:
    """Best-effort request id of a message that failed to decode, for the error reply."""
    import msgpack

    try:
        head = frames[0]
        if len(head) > MAX_HEADER_BYTES:
            return ""
        head = head.bytes if hasattr(head, "bytes") else bytes(head)
        header = msgpack.unpackb(head, raw=False)
        msg_id = header.get("id") if isinstance(header, dict) else None
        return msg_id if isinstance(msg_id, str) and len(msg_id) <= 128 else ""
    except Exception:  # garbage has no id; the reply then carries an empty one
        return ""

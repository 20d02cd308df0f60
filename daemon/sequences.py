"""What the daemon keeps between the frames of a sequence, per client and sequence id.

After each frame of a sequence the worker keeps that frame's input and result at the working
size; the next frame (index + 1, same client and id) takes them to carry the result along the
optical flow (daemon.imaging.flow). A sequence is freed after its `last` frame, when one of its
frames is cancelled or fails, when its client goes away, after IDLE_SECONDS without a frame, and the
oldest goes when more than MAX_SEQUENCES are kept, so memory does not grow with clips or clients.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field

import torch

MAX_SEQUENCES = 8
IDLE_SECONDS = 300.0


@dataclass
class Kept:
    index: int
    input: torch.Tensor  # the frame as the engine saw it, [1,3,h,w]
    result: torch.Tensor  # the engine's result, [1,3,h,w]
    touched: float = field(default_factory=time.monotonic)


class SequenceStore:
    """Thread-safe: the worker takes and keeps, the I/O loop drops and expires."""

    def __init__(self, limit: int = MAX_SEQUENCES, idle: float = IDLE_SECONDS) -> None:
        self.limit, self.idle = limit, idle
        self._kept: OrderedDict[tuple[bytes, str], Kept] = OrderedDict()
        self._lock = threading.Lock()

    def take(self, client: bytes, sequence: str, index: int) -> Kept | None:
        """The previous frame's state if `index` follows it (removed from the store either way:
        the caller keeps the new frame's state with `keep`)."""
        with self._lock:
            kept = self._kept.pop((client, sequence), None)
        return kept if kept is not None and kept.index == index - 1 else None

    def keep(self, client: bytes, sequence: str, kept: Kept) -> None:
        with self._lock:
            self._kept[(client, sequence)] = kept
            self._kept.move_to_end((client, sequence))
            while len(self._kept) > self.limit:
                self._kept.popitem(last=False)

    def drop(self, client: bytes, sequence: str) -> None:
        with self._lock:
            self._kept.pop((client, sequence), None)

    def drop_client(self, client: bytes) -> None:
        with self._lock:
            for key in [k for k in self._kept if k[0] == client]:
                del self._kept[key]

    def expire(self) -> None:
        now = time.monotonic()
        with self._lock:
            for key in [k for k, v in self._kept.items() if now - v.touched > self.idle]:
                del self._kept[key]

    def __len__(self) -> int:
        with self._lock:
            return len(self._kept)

"""Live previews for editor dialogs: at most one preview job in flight, the newest.

A new request for different settings cancels the one in flight (the daemon drops it if it has
not started) and forgets its handle, so previews are never queued behind old ones and a
long-lived dialog holds no finished results. Pure Python over `shared.client`, so any editor's
UI loop can drive it with a timer: `show(key, body, frames)` on every change, `poll()` on every
tick.
"""

from __future__ import annotations

import time
from collections.abc import Hashable, Sequence
from dataclasses import dataclass

from shared.client import Client, JobHandle
from shared.errors import ImpastoError


@dataclass(frozen=True)
class Shown:
    """A finished preview: the result's first image, and how long it took from the request."""

    width: int
    height: int
    channels: int
    data: bytes
    seconds: float


class LatestPreview:
    """The newest preview job of one dialog."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self.key: Hashable | None = None  # the settings of the preview asked for last
        self.handle: JobHandle | None = None
        self.asked = 0.0
        self.sent = 0  # jobs submitted (a measure for tests and benchmarks)

    def show(self, key: Hashable, body: dict, frames: Sequence = ()) -> bool:
        """Ask for the preview of `key`'s settings unless it is the one asked for last; True
        when a job was sent."""
        if key == self.key:
            return False
        self.drop()
        self.key, self.asked = key, time.monotonic()
        self.handle = self.client.submit(body, frames)
        self.sent += 1
        return True

    def poll(self) -> Shown | ImpastoError | None:
        """What arrived: the finished preview, its error, or None (still working, or nothing
        asked); a cancelled preview is nothing."""
        if self.handle is None:
            return None
        self.client.poll(0.0)
        handle = self.handle
        if not handle.finished:
            return None
        self.handle = None
        self.client.forget(handle.id)
        if handle.state == "done" and handle.result is not None:
            desc, data = handle.result.image_bytes(0)
            seconds = time.monotonic() - self.asked
            return Shown(desc.width, desc.height, desc.channels, data, seconds)
        if handle.state == "failed" and handle.error is not None:
            return handle.error
        return None

    def skip(self, key: Hashable) -> None:
        """Settings that give no preview (nothing to show, or a problem the editor reports):
        drop the one in flight and do not ask for them again."""
        self.drop()
        self.key = key

    def drop(self) -> None:
        """Cancel the preview in flight, if any, and forget it (`key` is kept: a repeat of the
        same settings is not asked again)."""
        if self.handle is not None:
            if not self.handle.finished:
                self.client.cancel(self.handle.id)
            self.client.forget(self.handle.id)
            self.handle = None

    def reset(self) -> None:
        """Drop the preview and forget its settings (the next `show` sends a job)."""
        self.drop()
        self.key = None

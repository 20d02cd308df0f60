"""Folders the daemon watches: a scan that is redone only when their contents change."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Generic, TypeVar

T = TypeVar("T")


class WatchedFolders(Generic[T]):
    """`get()` returns `scan()`'s result, rescanning when a file in `folders` was added, removed
    or modified (names and modification times; cheap enough to check on every request)."""

    def __init__(self, folders: list[Path], scan: Callable[[], T], empty: T) -> None:
        self.folders, self._scan = folders, scan
        self._lock = threading.Lock()
        self._stamp: tuple | None = None
        self._value = empty

    def _current_stamp(self) -> tuple:
        stamp = []
        for folder in self.folders:
            if folder.is_dir():
                stamp += [(str(p), p.stat().st_mtime_ns) for p in sorted(folder.iterdir())]
        return tuple(stamp)

    def get(self) -> T:
        with self._lock:
            stamp = self._current_stamp()
            if stamp != self._stamp:
                self._value = self._scan()
                self._stamp = stamp
            return self._value

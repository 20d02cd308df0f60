"""Style folders: named painting files (daemon.catalogue merges them with the fast models).

Each folder scanned (the shipped one here and the user's, `~/.local/share/impasto/styles` unless
configured) holds images and a `styles.json` card naming them with their licences. Folders are
rescanned when their contents change, so a style added by the user appears without a restart.
"""

from __future__ import annotations

import json
import logging
import threading
from dataclasses import dataclass
from pathlib import Path

import torch

from daemon.catalogue import fields
from daemon.catalogue.folders import WatchedFolders
from daemon.io.images import read_image
from daemon.io.pixels import to_tensor
from shared.errors import UnknownStyle
from shared.job import IMAGE_SUFFIXES

log = logging.getLogger(__name__)

SHIPPED_DIR = Path(__file__).parent
IMAGE_CACHE = 16  # decoded style images kept in memory


@dataclass(frozen=True)
class StyleEntry:
    name: str
    path: Path
    title: str
    artist: str
    licence: str
    source: str  # "built-in" or "user"


def shipped_names() -> set[str]:
    """The names of the paintings whose files ship in this folder."""
    return set(StyleLibrary().entries())


class StyleLibrary:
    """Named style images from the shipped folder and the user's folders."""

    def __init__(self, folders: list[Path] | None = None) -> None:
        self.folders = [SHIPPED_DIR] + [Path(f) for f in folders or []]
        self._lock = threading.Lock()
        self._watch = WatchedFolders(self.folders, self._scan, {})
        self._images: dict[tuple[Path, int], torch.Tensor] = {}

    def entries(self) -> dict[str, StyleEntry]:
        """All styles by name, rescanning the folders if they changed."""
        return dict(self._watch.get())

    def _scan(self) -> dict[str, StyleEntry]:
        entries: dict[str, StyleEntry] = {}
        for folder in self.folders:
            card = folder / "styles.json"
            source = "built-in" if folder == SHIPPED_DIR else "user"
            listed = _read_card(card) if card.is_file() else {}
            if not folder.is_dir():
                continue
            inside = folder.resolve()
            for path in sorted(folder.iterdir()):
                if path.suffix.lower() not in IMAGE_SUFFIXES:
                    continue
                if not path.resolve().is_relative_to(inside):
                    log.warning("skipping style %s: it links outside %s", path, folder)
                    continue
                meta = listed.get(path.name, {})
                name = meta.get("name", path.stem)
                entries.setdefault(
                    name,
                    StyleEntry(
                        name,
                        path,
                        meta.get("title", path.stem),
                        meta.get("artist", ""),
                        meta.get("licence", ""),
                        source,
                    ),
                )
        return entries

    def get(self, name: str) -> StyleEntry:
        entries = self.entries()
        if name not in entries:
            known = ", ".join(sorted(entries)) or "none"
            raise UnknownStyle(f"unknown style {name!r}; built-in styles: {known}")
        return entries[name]

    def load(self, name: str) -> torch.Tensor:
        """The style image as RGB 0..1 [1,3,H,W] (decoded once, then cached)."""
        entry = self.get(name)
        key = (entry.path, entry.path.stat().st_mtime_ns)
        with self._lock:
            cached = self._images.get(key)
        if cached is None:  # decode outside the lock: `entries()` serves the I/O loop meanwhile
            cached = to_tensor(read_image(entry.path))
            with self._lock:
                if len(self._images) >= IMAGE_CACHE:
                    self._images.pop(next(iter(self._images)))
                self._images[key] = cached
        return cached


def _read_card(card: Path) -> dict[str, dict[str, str]]:
    """A folder's styles.json by file name, each entry checked with the model cards' field rules
    (daemon.catalogue.fields); an unreadable card or a bad entry is skipped with a logged reason
    (that file is then listed under its own name, as a file the card does not mention)."""
    try:
        raw = json.loads(card.read_text())["styles"]
        if not isinstance(raw, list):
            raise TypeError("'styles' must be a list")
    except (OSError, ValueError, KeyError, TypeError) as exc:
        log.warning("ignoring unreadable style card %s: %s", card, exc)
        return {}
    listed: dict[str, dict[str, str]] = {}
    for i, entry in enumerate(raw):
        try:
            if not isinstance(entry, dict):
                raise ValueError("an entry must be an object")
            file = fields.text(entry, "file")
            meta = {"name": fields.style_name(entry["name"])} if "name" in entry else {}
            for key in ("title", "artist", "licence"):
                if key in entry:
                    meta[key] = fields.text(entry, key)
        except ValueError as exc:
            log.warning("skipping entry %d of %s: %s", i, card, exc)
            continue
        listed[file] = meta
    return listed

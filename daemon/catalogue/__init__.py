"""One style catalogue: a style name means one painting, in every engine.

A painting comes from a style folder (an image file and its `styles.json` card: the shipped
`daemon/catalogue/styles/`, `--styles-dir` and the user's folder) and/or from a fast model's card
(the styles trained into `models/*.safetensors`). A model style whose name is a folder painting's
name *is* that painting: fast mode runs it through the model, gatys and hires use the file at its
full resolution. A model style with no such file is still usable by gatys and hires through the copy
of the painting its card carries (about 512 px).

Names: a painting's own name (`vangogh-starry-night`), `MODEL/STYLE` (that model's style), or any
run of its words (`starry-night`, `great-wave`) when that picks out one painting.

Scanning (cards, thumbnails) happens in `refresh()`, which the daemon calls from its own thread,
never from the I/O loop; the loop only reads the latest `Snapshot`.
"""

from __future__ import annotations

import hashlib
import io
import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from daemon.catalogue.model_library import ModelEntry, ModelLibrary
from daemon.catalogue.styles import StyleLibrary
from daemon.io.images import MAX_FILE_PIXELS
from shared.errors import BadImage, BadRequest, ImpastoError, UnknownStyle
from shared.job import matching_names

log = logging.getLogger(__name__)

THUMBNAIL_SIDE = 96
REFRESH_SECONDS = 2.0


@dataclass(frozen=True)
class Painting:
    """One named style: where its picture is and which fast models hold it."""

    name: str
    title: str
    artist: str
    licence: str
    source: str  # "built-in" or "user"
    picture: Path | None  # the painting's file (full resolution)
    card_jpeg: bytes  # the copy a model card carries, used when there is no file
    fast: tuple[tuple[str, int], ...]  # (model name, style index in that model)
    thumbnail_png: bytes

    @property
    def engines(self) -> list[str]:
        """The engines that can use this painting, in the editors' order."""
        out = ["fast"] if self.fast else []
        if self.picture is not None or self.card_jpeg:
            out += ["gatys", "hires"]
        return out

    def to_wire(self) -> dict:
        return {
            "name": self.name,
            "title": self.title,
            "artist": self.artist,
            "licence": self.licence,
            "engines": self.engines,
            "models": sorted({m for m, _ in self.fast}),
            "source": self.source,
            "thumbnail_png": self.thumbnail_png,
        }


@dataclass(frozen=True)
class Snapshot:
    """The catalogue as it was at one scan: safe to read from any thread."""

    paintings: dict[str, Painting] = field(default_factory=dict)
    models: dict[str, ModelEntry] = field(default_factory=dict)

    def names(self, engine: str | None = None) -> list[str]:
        """Painting names (usable by `engine`, when given), sorted."""
        return sorted(n for n, p in self.paintings.items() if engine in (None, *p.engines))

    def resolve(self, query: str) -> tuple[Painting, str | None]:
        """The painting `query` names, and the model it pinned (`MODEL/STYLE`) or None."""
        if query in self.paintings:
            return self.paintings[query], None
        owner, _, style = query.rpartition("/")
        if owner:
            model = self.models.get(owner)
            if model is None:
                raise UnknownStyle(f"no model named {owner!r}; models: {self._models()}")
            hits = matching_names([s.name for s in model.styles], style)
            if len(hits) != 1:
                raise self._not_one(query, hits)
            return self.paintings[hits[0]], owner
        hits = matching_names(list(self.paintings), query)
        if len(hits) != 1:
            raise self._not_one(query, hits)
        return self.paintings[hits[0]], None

    def fast_blend(
        self, choices: Sequence[tuple[Painting, str | None, float]]
    ) -> tuple[ModelEntry, list[float]]:
        """The one model holding every painting, and the blend as weights over its styles."""
        for painting, _, _ in choices:
            if not painting.fast:
                raise UnknownStyle(
                    f"{painting.name} is not trained into a fast model; use gatys or hires mode "
                    "with it, or train a model that holds it (impasto train)"
                )
        candidates = None
        for painting, pinned, _ in choices:
            held = {m for m, _ in painting.fast if pinned in (None, m)}
            candidates = held if candidates is None else candidates & held
        if not candidates:
            raise BadRequest(
                "fast mode blends styles of one model, and no model holds all of "
                + ", ".join(p.name for p, _, _ in choices)
            )
        model = self.models[sorted(candidates)[0]]
        weights = [0.0] * len(model.styles)
        for painting, _, weight in choices:
            index = dict(painting.fast)[model.name]
            weights[index] += weight
        return model, weights

    def _not_one(self, query: str, hits: list[str]) -> ImpastoError:
        if hits:
            return UnknownStyle(f"{query!r} could be {', '.join(hits)}; use the full name")
        return UnknownStyle(f"unknown style {query!r}; styles: {', '.join(self.names())}")

    def _models(self) -> str:
        return ", ".join(sorted(self.models)) or "none"


class Catalogue:
    """The style folders and the models, merged into named paintings."""

    def __init__(self, library: StyleLibrary, models: ModelLibrary) -> None:
        self.library, self.models = library, models
        self._snapshot = Snapshot()
        self._thumbs: dict[tuple[Path, int], bytes] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def snapshot(self) -> Snapshot:
        """The latest scan (never scans: cheap enough for the I/O loop)."""
        return self._snapshot

    def refresh(self) -> Snapshot:
        """Rescan if the folders changed (the libraries know), rebuild and publish."""
        with self._lock:
            entries = self.library.entries()
            models = self.models.models()
            paintings: dict[str, Painting] = {}
            for entry in entries.values():
                try:
                    thumb = self._thumbnail(entry.path)
                except (OSError, ValueError, BadImage) as exc:  # one bad file hides no other
                    log.warning("skipping style %s: %s", entry.name, exc)
                    continue
                paintings[entry.name] = Painting(
                    entry.name, entry.title, entry.artist, entry.licence, entry.source,
                    entry.path, b"", (), thumb,
                )  # fmt: skip
            for model in models.values():
                for style in model.styles:
                    known = paintings.get(style.name)
                    if known is None:
                        known = Painting(
                            style.name, style.painting or style.name, "", style.licence,
                            style.source or model.source, None, style.painting_jpeg, (),
                            style.thumbnail_png,
                        )  # fmt: skip
                    paintings[style.name] = _with_model(known, model.name, style.index)
            self._snapshot = Snapshot(paintings, models)
            return self._snapshot

    def _thumbnail(self, path: Path) -> bytes:
        """The picture's PNG thumbnail, made again only when the file changes."""
        stamp = (path, path.stat().st_mtime_ns)
        if stamp not in self._thumbs:
            self._thumbs = {k: v for k, v in self._thumbs.items() if k[0] != path}
            self._thumbs[stamp] = _thumbnail(path)
        return self._thumbs[stamp]

    def start(self) -> None:
        """Scan now, then rescan in the background every couple of seconds."""
        self.refresh()
        self._thread = threading.Thread(target=self._watch, name="catalogue", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def _watch(self) -> None:
        while not self._stop.wait(REFRESH_SECONDS):
            try:
                self.refresh()
            except Exception:  # a folder that vanished mid-scan: try again next time
                log.exception("rescanning the style folders failed")

    def picture_key(self, painting: Painting) -> str:
        """What identifies the picture `picture` returns: its file and that file's version, else
        the model card's copy, so derived statistics can be cached without hashing pixels."""
        if painting.picture is not None:
            stat = painting.picture.stat()
            return f"file:{painting.picture}:{stat.st_mtime_ns}:{stat.st_size}"
        return "card:" + hashlib.sha1(painting.card_jpeg).hexdigest()

    def picture(self, painting: Painting) -> torch.Tensor:
        """The painting as RGB 0..1 [1,3,H,W]: its file, else its model card's copy."""
        if painting.picture is not None:
            return self.library.load(painting.name)
        with Image.open(io.BytesIO(painting.card_jpeg)) as im:
            return _rgb(im)


def _with_model(painting: Painting, model: str, index: int) -> Painting:
    return replace(painting, fast=(*painting.fast, (model, index)))


def _rgb(im: Image.Image) -> torch.Tensor:
    arr = np.asarray(im.convert("RGB"))
    return torch.from_numpy(arr.copy()).permute(2, 0, 1)[None].float() / 255


def _thumbnail(path: Path) -> bytes:
    try:
        im = Image.open(path)
    except Image.DecompressionBombError as exc:  # Pillow refuses the most absurd at open
        raise BadImage(str(exc)) from None
    with im:
        if im.width * im.height > MAX_FILE_PIXELS:  # before Pillow decodes anything
            raise BadImage(f"{path} claims {im.width}x{im.height} pixels")
        im = im.convert("RGB")
        im.thumbnail((THUMBNAIL_SIDE, THUMBNAIL_SIDE), Image.LANCZOS)
        buf = io.BytesIO()
        im.save(buf, "PNG")
    return buf.getvalue()

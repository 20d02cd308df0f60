"""The fast engine's models: every `*.safetensors` + card in the shipped and the user's folders.

Folders are rescanned when their contents change, so a model file dropped into the user folder
(`~/.local/share/impasto/models` unless configured) is offered without a restart. Only the cards
are read while scanning; a network is loaded on first use and kept for the next job. Training
checkpoints (`*.ckpt.safetensors`) are not models and are skipped.

A style is named by the model's own style name (`vangogh-starry-night`), by `MODEL/STYLE`, or by
any run of its words (`starry`, `great-wave`) when that picks out one style.
"""

from __future__ import annotations

import base64
import binascii
import io
import json
import logging
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from daemon.engines.fast_net import StyleNet
from daemon.folders import WatchedFolders
from daemon.models import card_path, load_model
from shared.errors import BadRequest, UnknownStyle

log = logging.getLogger(__name__)

SHIPPED_DIR = Path(__file__).resolve().parent.parent / "models"
LOADED_MODELS = 2  # networks kept in memory (each is a few MB)


@dataclass(frozen=True)
class FastStyle:
    name: str
    index: int  # row of the model's norm parameters
    painting: str
    licence: str
    thumbnail_png: bytes
    painting_jpeg: bytes  # the painting at ~512 px, for gatys and hires (empty in old cards)


@dataclass(frozen=True)
class ModelEntry:
    name: str
    path: Path
    source: str  # "built-in" or "user"
    styles: tuple[FastStyle, ...]
    card: dict

    def find(self, query: str) -> list[FastStyle]:
        """Styles this model's `query` can mean: exact name first, else runs of words."""
        exact = [s for s in self.styles if s.name == query]
        if exact:
            return exact
        words = query.lower().replace("_", "-").replace(" ", "-").split("-")
        n = len(words)
        return [
            s
            for s in self.styles
            if any(s.name.split("-")[i : i + n] == words for i in range(len(s.name.split("-"))))
        ]


class ModelLibrary:
    """Fast-style models from the shipped folder and the user's folders."""

    def __init__(self, folders: list[Path] | None = None, shipped: Path | None = SHIPPED_DIR):
        self.folders = ([shipped] if shipped else []) + [Path(f) for f in folders or []]
        self._lock = threading.Lock()
        self._watch = WatchedFolders(self.folders, self._scan, {})
        self._loaded: dict[tuple, StyleNet] = {}

    def models(self) -> dict[str, ModelEntry]:
        """Every readable model by name, rescanning the folders if they changed."""
        return dict(self._watch.get())

    def _scan(self) -> dict[str, ModelEntry]:
        found: dict[str, ModelEntry] = {}
        for folder in self.folders:
            if not folder.is_dir():
                continue
            source = "built-in" if folder == SHIPPED_DIR else "user"
            for path in sorted(folder.glob("*.safetensors")):
                if path.name.endswith(".ckpt.safetensors") or path.stem in found:
                    continue
                try:
                    found[path.stem] = _entry(path, source)
                except (OSError, ValueError, KeyError, TypeError, binascii.Error) as exc:
                    log.warning("skipping model %s: unreadable card (%s)", path, exc)
        return found

    def resolve(self, queries: list[tuple[str, float]]) -> tuple[ModelEntry, torch.Tensor]:
        """The one model holding every named style, and the blend as weights over its styles."""
        models = self.models()
        if not models:
            raise UnknownStyle("no fast-style models are installed; see models/README.md")
        candidates = []  # per query: every (model, style) it can mean
        for query, _ in queries:
            owner, _, name = query.rpartition("/")
            if owner and owner not in models:
                raise UnknownStyle(f"no model named {owner!r}; {self._known()}")
            hits = [(m, s) for m in models.values() if owner in ("", m.name) for s in m.find(name)]
            if not hits:
                raise UnknownStyle(f"unknown fast style {query!r}; {self._known()}")
            candidates.append(hits)
        for model in models.values():
            picks = [[s for m, s in hits if m is model] for hits in candidates]
            if all(len(p) == 1 for p in picks):
                weights = torch.zeros(len(model.styles))
                for (_, weight), (style,) in zip(queries, picks, strict=True):
                    weights[style.index] += weight
                return model, weights
        for (query, _), hits in zip(queries, candidates, strict=True):
            names = [s.name for _, s in hits]
            if len(names) > 1 and len({m.name for m, _ in hits}) == 1:
                raise UnknownStyle(f"{query!r} could be {', '.join(names)}; use the full name")
        raise BadRequest(
            "fast mode blends styles of one model, and no model holds all of "
            + ", ".join(q for q, _ in queries)
        )

    def painting(self, query: str) -> torch.Tensor:
        """The painting a fast style was trained on, RGB 0..1 [1,3,H,W] (for gatys and hires)."""
        model, weights = self.resolve([(query, 1.0)])
        style = model.styles[int(weights.argmax())]
        if not style.painting_jpeg:
            raise UnknownStyle(
                f"model {model.name} does not carry the painting of {style.name}; "
                "use fast mode or send the picture"
            )
        with Image.open(io.BytesIO(style.painting_jpeg)) as im:
            arr = np.asarray(im.convert("RGB"))
        return torch.from_numpy(arr.copy()).permute(2, 0, 1)[None].float() / 255

    def _known(self) -> str:
        names = [f"{m.name}/{s.name}" for m in self.models().values() for s in m.styles]
        return "fast styles: " + (", ".join(names) or "none")

    def load(self, entry: ModelEntry, device: torch.device) -> StyleNet:
        """The model's network on `device`, in eval mode (loaded once, then cached)."""
        key = (str(entry.path), entry.path.stat().st_mtime_ns, str(device))
        with self._lock:
            net = self._loaded.get(key)
        if net is None:
            try:
                net, _, _ = load_model(entry.path, device)
            except Exception as exc:  # a truncated or foreign file: say which, keep serving
                raise BadRequest(f"model {entry.name} cannot be loaded: {exc}") from None
            net.eval().requires_grad_(False)
            with self._lock:
                while len(self._loaded) >= LOADED_MODELS:
                    self._loaded.pop(next(iter(self._loaded)))
                self._loaded[key] = net
        return net

    def describe(self) -> list[dict]:
        """Wire descriptions of every fast style."""
        out = []
        for model in self.models().values():
            for s in model.styles:
                out.append(
                    {
                        "name": s.name,
                        "title": s.painting or s.name,
                        "artist": "",
                        "licence": s.licence,
                        "kind": "model",
                        "engines": ["fast"],
                        "model": model.name,
                        "source": model.source,
                        "thumbnail_png": s.thumbnail_png,
                    }
                )
        return out

    def names(self) -> list[str]:
        return [s.name for m in self.models().values() for s in m.styles]


def _entry(path: Path, source: str) -> ModelEntry:
    card = json.loads(card_path(path).read_text())
    arch = card["architecture"]
    if len(card["styles"]) != int(arch["styles"]):
        raise ValueError("the card's styles do not match its architecture")
    styles = tuple(
        FastStyle(
            name=str(s["name"]),
            index=i,
            painting=str(s.get("painting", "")),
            licence=str(s.get("licence", "")),
            thumbnail_png=base64.b64decode(s.get("thumbnail_png_base64", "")),
            painting_jpeg=base64.b64decode(s.get("painting_jpeg_base64", "")),
        )
        for i, s in enumerate(card["styles"])
    )
    return ModelEntry(path.stem, path, source, styles, card)

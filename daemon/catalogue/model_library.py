"""The fast engine's models: every `*.safetensors` + card in the shipped and the user's folders.

Folders are rescanned when their contents change, so a model file dropped into the user folder
(`~/.local/share/impasto/models` unless configured) is offered without a restart. Only the cards
are read while scanning; a network is loaded on first use and kept for the next job. Training
checkpoints (`*.ckpt.safetensors`) are not models and are skipped. A model may have a texture
network in a `texture/` folder beside it (`texture_net`), which the 100% view's full-size pass
runs instead of the model's own network.

A model's style names are painting names of the one style catalogue (daemon.catalogue), which
resolves the names people type.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import threading
from dataclasses import dataclass
from pathlib import Path

import impasto_models
import torch

from daemon.catalogue import fields
from daemon.catalogue.folders import WatchedFolders
from daemon.nets.fast_net import StyleNet
from daemon.nets.model_files import card_architecture, card_path, load_model
from daemon.nets.stems import STEMS
from shared.errors import BadRequest

log = logging.getLogger(__name__)

SHIPPED_DIR = Path(impasto_models.__file__).resolve().parent  # models/ in the repository
LOADED_MODELS = 2  # networks kept in memory (each is a few MB)
MAX_CARD_BYTES = 64 << 20  # the shipped 8-style card is 1.1 MB
MAX_CARD_STYLES = 256
TEXTURE_DIR = "texture"  # beside a model: its texture network (`texture_net`)


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
            inside = folder.resolve()
            for path in sorted(folder.glob("*.safetensors")):
                if path.name.endswith(".ckpt.safetensors") or path.stem in found:
                    continue
                if not all(p.resolve().is_relative_to(inside) for p in (path, card_path(path))):
                    log.warning("skipping model %s: it links outside %s", path, folder)
                    continue
                try:
                    found[path.stem] = _entry(path, source)
                except (OSError, ValueError, KeyError, TypeError, binascii.Error) as exc:
                    log.warning("skipping model %s: unreadable card (%s)", path, exc)
        return found

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

    def texture_net(self, entry: ModelEntry, device: torch.device) -> tuple[StyleNet, float]:
        """The network that paints `entry`'s full-size texture (daemon.imaging.texture) and the
        gain its band gets: its texture model, `texture/NAME.safetensors` beside it (a smaller
        network trained to paint that band alike: daemon.training.texture_student), when one
        holds the same styles in the same order, with its card's `band_gain` (its band is
        weaker than the model's by that much); else the model's own network, gain 1."""
        own = (self.load(entry, device), 1.0)
        path = entry.path.parent / TEXTURE_DIR / entry.path.name
        try:
            card = json.loads(card_path(path).read_text())
            names = [s["name"] for s in card["styles"]]
            gain = float(card.get("texture_distillation", {}).get("band_gain", 1.0))
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return own
        if names != [s.name for s in entry.styles] or not 0.5 <= gain <= 2.0:
            log.warning(
                "ignoring %s: its styles are not %s's, or its gain is off", path, entry.name
            )
            return own
        try:
            texture = ModelEntry(entry.name + "/texture", path, entry.source, (), {})
            return self.load(texture, device), gain
        except BadRequest as exc:
            log.warning("%s; its model's own network paints the texture", exc)
            return own


def _entry(path: Path, source: str) -> ModelEntry:
    """A model's card, read and checked field by field (a card is a file anyone may drop in the
    models folder): bounded sizes, names and types, or ValueError."""
    card_file = card_path(path)
    if card_file.stat().st_size > MAX_CARD_BYTES:
        raise ValueError(f"the card is larger than {MAX_CARD_BYTES >> 20} MB")
    card = json.loads(card_file.read_text())
    arch = card_architecture(card)
    if arch["stem"] not in STEMS:
        raise ValueError(f"unknown stem {str(arch['stem'])[:40]!r}")
    styles_raw = card["styles"]
    if not isinstance(styles_raw, list) or not 0 < len(styles_raw) <= MAX_CARD_STYLES:
        raise ValueError(f"'styles' must list 1 to {MAX_CARD_STYLES} styles")
    if len(styles_raw) != int(arch["styles"]):
        raise ValueError("the card's styles do not match its architecture")
    for s in styles_raw:
        if not isinstance(s, dict):
            raise ValueError("each of the card's styles must be an object")
        name = fields.style_name(s.get("name"))
        fields.text(s, "painting")
        fields.text(s, "licence")
        for key, limit in (("thumbnail_png_base64", 1 << 20), ("painting_jpeg_base64", 16 << 20)):
            if len(s.get(key, "")) > limit:
                raise ValueError(f"{name}: '{key}' is larger than {limit >> 20} MB")
    styles = tuple(
        FastStyle(
            name=str(s["name"]),
            index=i,
            painting=s.get("painting", ""),
            licence=s.get("licence", ""),
            thumbnail_png=base64.b64decode(s.get("thumbnail_png_base64", "")),
            painting_jpeg=base64.b64decode(s.get("painting_jpeg_base64", "")),
        )
        for i, s in enumerate(card["styles"])
    )
    return ModelEntry(path.stem, path, source, styles, card)

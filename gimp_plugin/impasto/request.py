"""From the procedure's arguments and the drawable's format to an Impasto job.

Pure Python (no GIMP, no pyzmq) so it is unit-tested outside GIMP; `impasto.py`, `gimp_io.py`
and the dialog are the GIMP edge. The job vocabulary (engines, style text, what each engine
accepts, layer names) is `shared.job`'s; how settings and styles map onto a job is
`shared.settings`', as in the Krita docker.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from shared.errors import BadRequest
from shared.job import (
    ENGINES,
    IMAGE_SUFFIXES,
    JobSpec,
    StyleRef,
    is_picture_path,
    matching_names,
    pictures_refused,
    takes_pictures,
)
from shared.protocol import ImageDesc, PixelFormat
from shared.settings import JobSettings, parse_style_texts

# The procedures the plug-in registers (impasto.py); the dialog tells them apart by these.
PROCEDURE = "plug-in-impasto-stylize"
FRAMES_PROCEDURE = "plug-in-impasto-stylize-frames"
REAPPLY_PROCEDURE = "plug-in-impasto-reapply"
COMMAND_PROCEDURE = "plug-in-impasto-command"

# Files GIMP itself opens besides the ones Impasto's readers know: typed style text ending in
# one of these is a picture file too.
STYLE_SUFFIXES = IMAGE_SUFFIXES + (".xcf", ".psd", ".ora", ".avif", ".heic", ".jxl")


class ArgumentError(ValueError):
    """An argument the plug-in refuses before asking the daemon (the message is for the user)."""


@dataclass(frozen=True)
class StyleItem:
    """One entry of the `styles` argument: a daemon style `name` or an image file `path`."""

    weight: float = 1.0
    name: str | None = None
    path: str | None = None
    where: str | None = None  # a channel (or a layer with a mask) saying where the style goes

    @property
    def title(self) -> str:
        """A short name for the new layer's title."""
        return self.name or os.path.splitext(os.path.basename(self.path or ""))[0]


def parse_styles(text: str) -> list[StyleItem]:
    """Parse `name[:weight][@channel],...` (`shared.settings.parse_style_texts`); a name is a
    daemon style or an image file path, the channel (or a layer whose mask to use) says where
    the style goes."""
    try:
        typed = parse_style_texts(text, is_map=_is_channel)
    except BadRequest as exc:
        raise ArgumentError(exc.message) from None
    return [
        StyleItem(weight=t.weight, path=os.path.expanduser(t.style), where=t.map)
        if is_picture_path(t.style, STYLE_SUFFIXES)
        else StyleItem(weight=t.weight, name=t.style, where=t.map)
        for t in typed
    ]


def _is_channel(where: str) -> bool:
    """Whether what follows an @ names a channel: not when it looks like the rest of a file's
    path (`monet@2x.jpg`, `/a@b/c.png`)."""
    return not (where.lower().endswith(STYLE_SUFFIXES) or "/" in where or "\\" in where)


def format_styles(items: list[StyleItem]) -> str:
    """The `styles` argument for `items` (parse_styles' inverse; weight 1 is left out)."""
    parts = []
    for item in items:
        text = item.path or item.name or ""
        if item.weight != 1.0:
            text += f":{item.weight:g}"
        if item.where:
            text += f"@{item.where}"
        parts.append(text)
    return ", ".join(parts)


def offered_for(mode: str, styles: list[dict]) -> list[dict]:
    """The daemon's styles (its `styles` reply) that `mode` can use, in the daemon's order."""
    return [s for s in styles if mode in (s.get("engines") or ())]


def unusable(mode: str, items: list[StyleItem], styles: list[dict]) -> dict[int, str]:
    """Why each chosen style (by index) cannot go with `mode`, for the dialog to show."""
    engines = {s["name"]: s.get("engines") or () for s in styles}
    out = {}
    for i, item in enumerate(items):
        hits = (
            [item.name] if item.name in engines else matching_names(list(engines), item.name or "")
        )
        if item.path and not takes_pictures(mode):
            out[i] = f"a picture needs gatys or hires, not {mode}"
        elif len(hits) == 1 and mode not in engines[hits[0]]:
            out[i] = f"not trained for {mode} mode"
    return out


def daemon_line(styles: list[dict] | None, problem: str) -> str:
    """The dialog's one line about the daemon: ready with how many styles, or what to do."""
    if styles is None:
        return problem
    return f"Daemon ready: {len(styles)} styles."


@dataclass
class Options(JobSettings):
    """What one stylise job asks for (the job settings, the styles, the daemon): from the
    procedure's arguments, or from a recipe."""

    styles: list[StyleItem] = field(default_factory=list)
    endpoint: str | None = None
    depth: str = ""  # the channel or layer whose grey sets the stroke size (empty: none)

    def spec(self, content: ImageDesc, styles: Sequence[StyleRef], **fields: Any) -> JobSpec:
        """The job; building it validates every value (an ArgumentError names the bad one)."""
        try:
            return self.job_spec(content, styles, **fields)
        except BadRequest as exc:
            raise ArgumentError(exc.message) from None


def options_from_config(config: Any) -> Options:
    """The stylise options a procedure's arguments (its `Gimp.ProcedureConfig`) give."""
    return Options(
        mode=config.get_property("mode"),
        styles=parse_styles(config.get_property("styles") or ""),  # unset: None
        strength=config.get_property("strength"),
        preserve_color=config.get_property("preserve-color"),
        style_scale=config.get_property("style-scale"),
        iterations=config.get_property("iterations"),
        texture=config.get_property("texture"),
        photoreal=config.get_property("photoreal"),
        depth=config.get_property("depth") or "",
        depth_range=config.get_property("depth-range"),
        endpoint=config.get_property("endpoint") or None,
    )


def recipe_styles(items: list[StyleItem]) -> list[dict]:
    """Where each style with a weight came from, for the result layer's recipe (shared.recipe;
    a style of weight 0 is not in the job)."""
    out = []
    for item in items:
        if item.weight <= 0:
            continue
        entry = (
            {"kind": "file", "name": item.title, "weight": item.weight, "path": item.path}
            if item.path
            else {"kind": "builtin", "name": item.name, "weight": item.weight}
        )
        if item.where:
            entry["where"] = {"kind": "channel", "name": item.where}
        out.append(entry)
    return out


def options_from_recipe(recipe: dict, endpoint: str | None) -> Options:
    """The options a result layer's recipe records (`endpoint`: the daemon to ask now)."""
    try:
        items = []
        for entry in recipe["styles"]:
            weight = float(entry.get("weight", 1.0))
            where = entry.get("where")
            if where is not None and where.get("kind") != "channel":
                raise ArgumentError(f"its style '{entry.get('name')}' was placed in Krita")
            where = where and str(where["name"])
            if entry["kind"] == "file":
                items.append(StyleItem(weight=weight, path=str(entry["path"]), where=where))
            elif entry["kind"] == "builtin":
                items.append(StyleItem(weight=weight, name=str(entry["name"]), where=where))
            else:
                raise ArgumentError(
                    f"its style '{entry.get('name')}' was a Krita layer; GIMP cannot read it"
                )
        if recipe["settings"].get("depth"):
            raise ArgumentError("it was made with a depth map, which re-apply cannot read yet")
        return Options.from_recipe(recipe["settings"], styles=items, endpoint=endpoint)
    except (KeyError, TypeError, ValueError) as exc:
        if isinstance(exc, ArgumentError):
            raise
        raise ArgumentError(f"the layer's Impasto settings are unreadable ({exc})") from None


def resolve_styles(mode: str, items: list[StyleItem], hello: dict) -> list[StyleItem]:
    """The styles to send: the given ones, or the daemon's first style for the mode when empty."""
    if mode not in ENGINES:
        raise ArgumentError(f"mode must be one of {', '.join(ENGINES)}, not {mode!r}")
    if not takes_pictures(mode) and any(s.path for s in items):
        files = ", ".join(s.path for s in items if s.path)
        raise ArgumentError(f"{pictures_refused(mode)} ({files})")
    if items:
        return items
    offered = (hello.get("engine_styles") or {}).get(mode) or []
    if not offered:
        raise ArgumentError(
            f"the Impasto daemon offers no styles for mode {mode}; name one in 'styles'"
        )
    return [StyleItem(name=offered[0])]


# GIMP precision (first word of Gimp.Precision's nick) → babl sample type, protocol dtype.
# The protocol has no 32-bit integers and no doubles: those images travel as float, which holds
# everything GIMP shows of them.
_SAMPLES = {
    "u8": ("u8", "u8"),
    "u16": ("u16", "u16"),
    "u32": ("float", "f32"),
    "half": ("half", "f16"),
    "float": ("float", "f32"),
    "double": ("float", "f32"),
}


@dataclass(frozen=True)
class GimpFormat:
    """How pixels travel: the babl format GIMP reads and writes, and the protocol's layout."""

    babl: str
    pixels: PixelFormat


def pixel_format(precision_nick: str, has_alpha: bool) -> GimpFormat:
    """The format to read a drawable in, from `image.get_precision().value_nick`."""
    sample = precision_nick.split("-", 1)[0]
    if sample not in _SAMPLES:
        raise ArgumentError(f"unsupported image precision {precision_nick!r}")
    babl_type, dtype = _SAMPLES[sample]
    # Always the perceptual (sRGB-encoded, "R'G'B'") encoding, whatever the image stores: the
    # daemon does no colour-space conversion, and its VGG statistics and fast models were made
    # from sRGB-encoded pictures. Linear-light images are converted by babl on the way out and
    # back on the way in (exact for half and float; u8/u16 linear round once each way).
    channels = "R'G'B'A" if has_alpha else "R'G'B'"
    return GimpFormat(f"{channels} {babl_type}", PixelFormat(dtype, "RGBA", 4 if has_alpha else 3))


@dataclass(frozen=True)
class Region:
    """The part of the drawable to stylise, in drawable coordinates; `masked` = a selection."""

    x: int
    y: int
    width: int
    height: int
    masked: bool


def selection_region(
    intersects: bool, x: int, y: int, width: int, height: int, selection_empty: bool
) -> Region:
    """The region from `drawable.mask_intersect()` and `Gimp.Selection.is_empty(image)`."""
    if not intersects or width <= 0 or height <= 0:
        raise ArgumentError(
            "the selection does not overlap the selected layer; select part of it, or none"
        )
    return Region(x, y, width, height, masked=not selection_empty)

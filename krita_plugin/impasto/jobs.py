"""The docker's settings and how they become a job: styles, weights, modes.

No Qt and no Krita here: the docker edits a `Settings`, Apply turns it into a `shared.job.JobSpec`
with `build_job`. The job vocabulary (engines, what each accepts, layer names) is `shared.job`'s;
how settings and styles map onto a job is `shared.settings`', as in the GIMP plug-in.
"""

from __future__ import annotations

import base64
import zlib
from dataclasses import dataclass, field
from typing import Any

from shared.job import ENGINES, PRESERVE_COLOR, JobSpec, pictures_refused, takes_pictures
from shared.protocol import ImageDesc, PixelFormat
from shared.settings import BlendStyle, JobSettings, Pixels, style_refs

MODE_TITLES = {
    "fast": "Fast (trained styles, instant)",
    "gatys": "Gatys (any painting, slow)",
    "hires": "High resolution (full size, tiled)",
}
# Style kinds that are pictures sent with the job.
PICTURE_KINDS = ("layer", "file")
MASK_FORMAT = PixelFormat("u8", channels=1)  # Krita's selections: 8 bit


@dataclass
class StyleChoice:
    """One style in the docker's list: a daemon style, a layer of an open document, or a file."""

    kind: str  # "builtin" | "layer" | "file"
    name: str  # the daemon's style name, the layer's name or the file's name
    weight: float = 1.0
    source: Any = None  # "layer": (document, node); "file": the path
    # Where the style goes (a style map): None everywhere; ("selection", a copy of a selection
    # taken when chosen); ("alpha", (document, node)): where that layer is opaque, or that mask
    # white (Krita 5.2+), read at Apply;
    # ("mask", (x, y, w, h, 8-bit coverage)): a saved selection as a recipe keeps it.
    where: tuple[str, Any] | None = None

    @property
    def is_picture(self) -> bool:
        return self.kind in PICTURE_KINDS

    @property
    def where_label(self) -> str:
        """Where the style goes, in the docker's words ("" for everywhere)."""
        if self.where is None:
            return ""
        kind, what = self.where
        if kind == "alpha":
            node = what[1]
            if node.type().endswith("mask"):
                return f"where the mask '{node.name()}' is white"
            return f"where '{node.name()}' is"
        return "in the saved selection"


@dataclass
class Settings(JobSettings):
    """Everything the docker lets the user choose (the job settings and a style list per mode);
    the defaults are what the action uses."""

    styles: dict[str, list[StyleChoice]] = field(
        default_factory=lambda: {mode: [] for mode in ENGINES}
    )

    @property
    def chosen(self) -> list[StyleChoice]:
        """The style list of the current mode."""
        return self.styles[self.mode]

    def __post_init__(self) -> None:
        if self.preserve_color not in PRESERVE_COLOR:
            raise ValueError(f"preserve_color must be one of {PRESERVE_COLOR}")


def daemon_styles_for(mode: str, catalogue: list[dict]) -> list[dict]:
    """The daemon's styles (its `styles` reply) that `mode` can use, in the daemon's order."""
    return [s for s in catalogue if mode in s.get("engines", ())]


def default_style(mode: str, catalogue: list[dict]) -> StyleChoice | None:
    """The style an untouched docker uses: the first daemon style the mode can run."""
    usable = daemon_styles_for(mode, catalogue)
    return StyleChoice("builtin", usable[0]["name"]) if usable else None


def check_styles(mode: str, styles: list[StyleChoice]) -> str | None:
    """Why these styles cannot run in this mode (a message for the user), or None."""
    if not styles:
        return "Add a style first."
    if sum(s.weight for s in styles) <= 0:
        return "Give at least one style a weight above 0."
    if not takes_pictures(mode) and any(s.is_picture for s in styles):
        return pictures_refused(mode).capitalize() + "."
    return None


def build_job(
    settings: Settings,
    styles: list[StyleChoice],
    content: ImageDesc,
    pictures: dict[int, Pixels],
    mask: ImageDesc | None = None,
    preview: bool = True,
    maps: dict[int, Pixels] | None = None,
) -> tuple[JobSpec, list[bytes]]:
    """The job for `settings`, and the buffers its styles name, which follow the content (and
    the mask, when there is one): the pictures, then the style maps (`shared.settings`).

    `content` describes frame 1, `mask` the selection in frame 2; `pictures` maps an index into
    `styles` to the pixels of a layer or file style, `maps` to a one-channel map of where that
    style goes. Styles of weight 0 are left out. Building the `JobSpec` validates it (raises
    BadRequest)."""
    maps = maps or {}
    blend = [
        BlendStyle(
            style.weight,
            name=None if style.is_picture else style.name,
            picture=pictures.get(i) if style.is_picture else None,
            label=style.name if style.is_picture else None,
            map=maps.get(i),
        )
        for i, style in enumerate(styles)
    ]
    refs, frames = style_refs(blend, (mask or content).frame + 1)
    return settings.job_spec(content, refs, preview=preview, mask=mask), frames


def recipe_styles(styles: list[StyleChoice], layer_id: Any) -> list[dict]:
    """Where each style with a weight came from, for the result's recipe (shared.recipe);
    `layer_id(node)` is Krita's id of a layer."""
    out = []
    for style in styles:
        if style.weight <= 0:
            continue
        entry: dict[str, Any] = {"kind": style.kind, "name": style.name, "weight": style.weight}
        if style.where is not None:
            kind, what = style.where
            if kind == "alpha":
                entry["where"] = {"kind": "alpha", "name": what[1].name(), "id": layer_id(what[1])}
            else:  # the saved selection itself: nothing in the document holds it
                entry["where"] = {"kind": "selection", **_pack_selection(kind, what)}
        if style.kind == "layer":
            entry["id"] = layer_id(style.source[1])
        elif style.kind == "file":
            entry["path"] = str(style.source)
        out.append(entry)
    return out


MAX_KEPT_SELECTION = 48 << 10  # compressed bytes of a saved selection a recipe keeps


def _pack_selection(kind: str, what: Any) -> dict:
    """A saved selection (or a kept one) as its bounding box and zlib-compressed 8-bit coverage,
    or nothing when it is larger than MAX_KEPT_SELECTION compressed."""
    if kind == "mask":
        x, y, w, h, coverage = what
    else:
        x, y, w, h = what.x(), what.y(), what.width(), what.height()
        coverage = bytes(what.pixelData(x, y, w, h))
    packed = zlib.compress(coverage, 6)
    if len(packed) > MAX_KEPT_SELECTION:
        return {}
    return {"box": [x, y, w, h], "coverage": base64.b64encode(packed).decode("ascii")}


def settings_from_recipe(recipe: dict) -> tuple[Settings, list[StyleChoice]]:
    """The docker settings and styles a recipe records; a layer style's `source` is its layer
    id, for the caller to find among the open documents."""
    settings = Settings.from_recipe(recipe["settings"])
    styles = []
    for entry in recipe["styles"]:
        kind, name, weight = entry["kind"], str(entry["name"]), float(entry.get("weight", 1.0))
        source = {"layer": entry.get("id"), "file": entry.get("path")}.get(kind)
        where = entry.get("where")
        choice = StyleChoice(kind, name, weight, source=source)
        if where is not None and where.get("kind") == "alpha":
            choice.where = ("alpha-id", where["id"])  # the caller finds the layer
        elif where is not None:
            if "coverage" not in where:
                raise ValueError(f"'{name}' went in a selection too large to keep with the layer")
            x, y, w, h = (int(v) for v in where["box"])
            coverage = zlib.decompress(base64.b64decode(where["coverage"]))
            if len(coverage) != w * h:
                raise ValueError(f"the selection kept for '{name}' is damaged")
            choice.where = ("mask", (x, y, w, h, coverage))
        styles.append(choice)
    settings.styles[settings.mode] = styles
    return settings, styles

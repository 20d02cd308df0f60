"""The docker's settings and how they become a submit body: styles, weights, modes, layer names.

No Qt and no Krita here: the docker edits a `Settings`, Apply turns it into a job with
`build_job`, and the new layer is named with `layer_name`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from shared.job import DEFAULT_ITERATIONS, PRESERVE_COLOR, JobSpec
from shared.protocol import ImageDesc

from .pixels import PixelFormat

# Modes the docker offers, in menu order; the daemon's `hello.engines` says which ones it runs.
MODES = ("fast", "gatys", "hires")
MODE_TITLES = {
    "fast": "Fast (trained styles, instant)",
    "gatys": "Gatys (any painting, slow)",
    "hires": "High resolution (full size, tiled)",
}
# Style kinds that are pictures sent with the job: only the optimising engines can use them.
PICTURE_KINDS = ("layer", "file")


@dataclass
class StyleImage:
    """Pixels of a style picture, as read from a layer or an image file."""

    fmt: PixelFormat
    width: int
    height: int
    data: bytes


@dataclass
class StyleChoice:
    """One style in the docker's list: a daemon style, a layer of an open document, or a file."""

    kind: str  # "builtin" | "layer" | "file"
    name: str  # the daemon's style name, the layer's name or the file's name
    weight: float = 1.0
    source: Any = None  # "layer": (document, node); "file": the path

    @property
    def is_picture(self) -> bool:
        return self.kind in PICTURE_KINDS


@dataclass
class Settings:
    """Everything the docker lets the user choose; the defaults are what the action uses."""

    mode: str = "fast"
    styles: dict[str, list[StyleChoice]] = field(
        default_factory=lambda: {mode: [] for mode in MODES}
    )
    strength: float = 1.0
    preserve_color: str = "none"
    style_scale: float = 1.0
    iterations: int = DEFAULT_ITERATIONS

    @property
    def chosen(self) -> list[StyleChoice]:
        """The style list of the current mode."""
        return self.styles[self.mode]

    def __post_init__(self) -> None:
        if self.preserve_color not in PRESERVE_COLOR:
            raise ValueError(f"preserve_color must be one of {PRESERVE_COLOR}")


def daemon_styles_for(mode: str, catalogue: list[dict]) -> list[dict]:
    """The daemon's styles (its `styles` reply) that `mode` can use, in the daemon's order.

    Hires starts from a gatys thumbnail, so it takes gatys's styles.
    """
    engine = "fast" if mode == "fast" else "gatys"
    return [s for s in catalogue if engine in s.get("engines", ())]


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
    if mode == "fast" and any(s.is_picture for s in styles):
        return (
            "Fast mode only knows its trained styles; layers and image files as styles need "
            "Gatys (or High resolution) mode."
        )
    return None


def layer_name(styles: list[StyleChoice]) -> str:
    """The new layer's name: the styles, with their share of the blend when there are several."""
    live = [s for s in styles if s.weight > 0]
    if len(live) == 1:
        return f"Impasto: {live[0].name}"
    total = sum(s.weight for s in live)
    return "Impasto: " + " + ".join(f"{s.name} {round(100 * s.weight / total)}%" for s in live)


def build_job(
    settings: Settings,
    styles: list[StyleChoice],
    content: ImageDesc,
    pictures: dict[int, StyleImage],
    preview: bool = True,
) -> tuple[dict, list[int]]:
    """The submit body for `settings`, and which style pictures go in frames 2, 3, …

    `content` describes frame 1; `pictures` maps an index into `styles` to the pixels of a layer
    or file style. The body is validated with the protocol's own `JobSpec` before it is sent.
    """
    refs: list[dict] = []
    order: list[int] = []
    for i, style in enumerate(styles):
        if style.weight <= 0:
            continue
        if style.is_picture:
            pic = pictures[i]
            desc = pic.fmt.describe(2 + len(order), pic.width, pic.height)
            refs.append({"image": desc.to_wire(), "weight": style.weight, "label": style.name})
            order.append(i)
        else:
            refs.append({"name": style.name, "weight": style.weight})
    body: dict = {
        "engine": settings.mode,  # hires refines a gatys thumbnail up to full size
        "content": content.to_wire(),
        "styles": refs,
        "strength": settings.strength,
        "preserve_color": settings.preserve_color,
        "style_scale": settings.style_scale,
        "preview": preview,
    }
    if settings.mode != "fast":
        body["iterations"] = settings.iterations
    JobSpec.from_wire(body)
    return body, order

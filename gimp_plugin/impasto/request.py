"""From the procedure's arguments and the drawable's format to an Impasto submit body.

Pure Python (no GIMP, no pyzmq) so it is unit-tested outside GIMP; `impasto.py` is the GIMP edge.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

MODES = ("fast", "gatys", "hires")
PRESERVE_COLOR = ("none", "luminance", "histogram")
# Files GIMP can open that people use as style pictures: a token with one of these endings is a
# file (so is an absolute, home or relative path, or an existing file), anything else a name.
IMAGE_SUFFIXES = (
    ".png",
    ".jpg",
    ".jpeg",
    ".tif",
    ".tiff",
    ".webp",
    ".bmp",
    ".gif",
    ".xcf",
    ".psd",
    ".ora",
    ".avif",
    ".heic",
    ".jxl",
)


class ArgumentError(ValueError):
    """An argument the plug-in refuses before asking the daemon (the message is for the user)."""


@dataclass(frozen=True)
class StyleItem:
    """One entry of the `styles` argument: a daemon style `name` or an image file `path`."""

    weight: float = 1.0
    name: str | None = None
    path: str | None = None

    @property
    def title(self) -> str:
        """A short name for the new layer's title."""
        return self.name or os.path.splitext(os.path.basename(self.path or ""))[0]


def parse_styles(text: str) -> list[StyleItem]:
    """Parse `name[:weight],...`; a name is a daemon style or an image file path."""
    items = []
    for token in text.replace("\n", ",").split(","):
        token = token.strip()
        if not token:
            continue
        ref, weight = token, 1.0
        head, sep, tail = token.rpartition(":")
        if sep and head:
            try:
                weight = float(tail)
            except ValueError:
                pass  # "C:\\x.png" or a name with a colon: the colon belongs to the name
            else:
                ref = head.strip()
                if not math.isfinite(weight) or weight < 0:
                    raise ArgumentError(f"style weight {tail!r} in {token!r} must be 0 or more")
        if _is_path(ref):
            items.append(StyleItem(weight=weight, path=os.path.expanduser(ref)))
        else:
            items.append(StyleItem(weight=weight, name=ref))
    if items and sum(s.weight for s in items) <= 0:
        raise ArgumentError("style weights must not all be 0")
    return items


def _is_path(ref: str) -> bool:
    # "MODEL/NAME" is a style name (docs/protocol.md), so a slash alone does not make a path.
    return (
        ref.startswith(("/", "~", "."))
        or "\\" in ref
        or ref[1:3] in (":\\", ":/")
        or ref.lower().endswith(IMAGE_SUFFIXES)
        or os.path.isfile(ref)
    )


def resolve_styles(mode: str, items: list[StyleItem], hello: dict) -> list[StyleItem]:
    """The styles to send: the given ones, or the daemon's first style for the mode when empty."""
    if mode not in MODES:
        raise ArgumentError(f"mode must be one of {', '.join(MODES)}, not {mode!r}")
    if mode == "fast" and any(s.path for s in items):
        files = ", ".join(s.path for s in items if s.path)
        raise ArgumentError(
            f"fast mode uses the styles trained into its model, not image files ({files}); "
            "choose mode gatys for a style picture"
        )
    if items:
        return items
    offered = hello.get("fast_styles" if mode == "fast" else "styles") or []
    if not offered:
        raise ArgumentError(
            f"the Impasto daemon offers no styles for mode {mode}; name one in 'styles'"
        )
    return [StyleItem(name=offered[0])]


@dataclass(frozen=True)
class PixelFormat:
    """How pixels travel: the babl format GIMP reads and writes, and the protocol's descriptor."""

    babl: str
    dtype: str
    channels: int
    sample_bytes: int

    def descriptor(self, frame: int, width: int, height: int) -> dict:
        """An ImageDesc (docs/protocol.md) for tight rows of this format."""
        return {
            "frame": frame,
            "width": width,
            "height": height,
            "channels": self.channels,
            "dtype": self.dtype,
            "order": "RGBA",
            "stride": width * self.channels * self.sample_bytes,
        }


# GIMP precision (first word of Gimp.Precision's nick) → babl sample type, dtype, bytes.
# The protocol has no 32-bit integers and no doubles: those images travel as float, which holds
# everything GIMP shows of them.
_SAMPLES = {
    "u8": ("u8", "u8", 1),
    "u16": ("u16", "u16", 2),
    "u32": ("float", "f32", 4),
    "half": ("half", "f16", 2),
    "float": ("float", "f32", 4),
    "double": ("float", "f32", 4),
}


def pixel_format(precision_nick: str, has_alpha: bool) -> PixelFormat:
    """The format to read a drawable in, from `image.get_precision().value_nick`."""
    sample = precision_nick.split("-", 1)[0]
    if sample not in _SAMPLES:
        raise ArgumentError(f"unsupported image precision {precision_nick!r}")
    babl_type, dtype, size = _SAMPLES[sample]
    # Always the perceptual (sRGB-encoded, "R'G'B'") encoding, whatever the image stores: the
    # daemon does no colour-space conversion, and its VGG statistics and fast models were made
    # from sRGB-encoded pictures. Linear-light images are converted by babl on the way out and
    # back on the way in (exact for half and float; u8/u16 linear round once each way).
    channels = "R'G'B'A" if has_alpha else "R'G'B'"
    return PixelFormat(f"{channels} {babl_type}", dtype, 4 if has_alpha else 3, size)


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


def job_body(
    mode: str,
    styles: list[dict],
    content: dict,
    strength: float,
    preserve_color: str,
    style_scale: float,
    iterations: int,
) -> dict:
    """The submit body; the daemon validates every value (it is the source of truth)."""
    if preserve_color not in PRESERVE_COLOR:
        raise ArgumentError(
            f"preserve-color must be one of {', '.join(PRESERVE_COLOR)}, not {preserve_color!r}"
        )
    body = {
        "engine": mode,
        "content": content,
        "styles": styles,
        "strength": strength,
        "preserve_color": preserve_color,
        "style_scale": style_scale,
    }
    if mode != "fast":  # a fast model runs once; iterations are the optimiser's steps
        body["iterations"] = iterations
    return body


def layer_name(styles: list[StyleItem]) -> str:
    """The new layer's name, e.g. `Impasto: starry 0.7 + wave 0.3`."""
    if len(styles) == 1:
        return f"Impasto: {styles[0].title}"
    return "Impasto: " + " + ".join(f"{s.title} {s.weight:g}" for s in styles)


def vendor_tag(major: int, minor: int, platform: str) -> str:
    """The `vendor/` subfolder holding wheels for one Python (`cp313-win-amd64`)."""
    return f"cp{major}{minor}-{platform.replace('_', '-').replace('.', '-')}"

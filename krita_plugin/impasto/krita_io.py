"""Reading layers out of Krita and writing results back: the only module that touches pixels in
Krita documents. It uses Krita objects (Document, Node, Selection) by their methods only, so tests
drive it with a fake `krita` module.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from shared.protocol import PixelFormat
from shared.recipe import decode_recipes, encode_recipes
from shared.settings import Pixels

from .pixels import pixel_format
from .selection import NothingToStylise, Rect, stylise_region

log = logging.getLogger(__name__)

# The document annotation holding every result layer's recipe (shared.recipe), by layer id: it is
# saved in the .kra with the document.
RECIPES = "impasto-recipes"


@dataclass
class Capture:
    """A snapshot of what Apply works on: the layer's pixels in the region, and the selection."""

    document: Any
    node: Any
    region: Rect
    fmt: PixelFormat
    color_space: tuple[str, str, str]  # model, depth, profile of the source layer
    data: bytes
    selection: Any  # a copy of the document's selection at Apply, None when there was none
    mask: bytes | None  # the selection in `region` for the daemon (Krita 5.1), else None


def canvas_rect(document: Any) -> Rect:
    """The document's canvas in pixels."""
    return Rect(0, 0, document.width(), document.height())


def read_pixels(node: Any, rect: Rect, fmt: PixelFormat) -> bytes:
    """The node's pixels in `rect` as Krita stores them (a paint device, else its projection)."""
    read = node.pixelData if node.type() == "paintlayer" else node.projectionPixelData
    data = bytes(read(rect.x, rect.y, rect.width, rect.height))
    if len(data) != rect.pixels * fmt.pixel_bytes:
        raise RuntimeError(
            f"Krita returned {len(data)} bytes for a {rect.width}x{rect.height} read"
        )
    return data


def selection_in(document: Any, bounds: Rect, canvas: Rect) -> tuple[Rect, Any, bytes | None]:
    """For content within `bounds`: the region to stylise, a copy of the document's selection
    (None when there is none), and that selection over the region for the daemon when Krita
    cannot make it a mask itself (5.1), else None."""
    selection = document.selection()
    sel_rect = Rect.of(selection) if selection is not None else None
    region = stylise_region(bounds, canvas, sel_rect)
    if selection is None:
        return region, None, None
    inside = bytes(selection.pixelData(region.x, region.y, region.width, region.height))
    if not inside.strip(b"\x00"):
        raise NothingToStylise("Nothing of the layer is selected; change the selection.")
    # Krita 5.2+ makes the selection a transparency mask on the result (`write_result`); for
    # Krita 5.1, whose scripting cannot, the daemon applies it to the result's alpha instead.
    send_mask = not hasattr(document, "createTransparencyMask")
    return region, selection.duplicate(), inside if send_mask else None


def capture_layer(document: Any, node: Any) -> Capture:
    """Read what Apply stylises: `node` inside the canvas and the document's selection."""
    fmt = pixel_format(node.colorModel(), node.colorDepth())
    region, selection, mask = selection_in(document, Rect.of(node.bounds()), canvas_rect(document))
    return Capture(
        document=document,
        node=node,
        region=region,
        fmt=fmt,
        color_space=(node.colorModel(), node.colorDepth(), node.colorProfile()),
        data=read_pixels(node, region, fmt),
        selection=selection,
        mask=mask,
    )


def is_mask(node: Any) -> bool:
    """A mask whose coverage scripting can read (Krita 5.2+ gives masks a `selection()`)."""
    return node.type().endswith("mask") and hasattr(node, "selection")


def read_map(where: tuple[str, Any], region: Rect) -> Pixels:
    """A style map over `region`: a saved selection's coverage (8 bit), where a layer is
    opaque (its alpha, in the layer's own depth), or where a mask is white (8 bit)."""
    kind, what = where
    if kind == "selection":
        data = bytes(what.pixelData(region.x, region.y, region.width, region.height))
        return Pixels(PixelFormat("u8", channels=1), region.width, region.height, data)
    if kind == "mask":  # a kept selection: its box's coverage, cropped to the region
        x, y, w, h, coverage = what
        out = bytearray(region.width * region.height)
        x0, x1 = max(region.x, x), min(region.x + region.width, x + w)
        for row in range(max(region.y, y), min(region.y + region.height, y + h)) if x0 < x1 else ():
            at = (row - region.y) * region.width
            src = (row - y) * w
            out[at + x0 - region.x : at + x1 - region.x] = coverage[src + x0 - x : src + x1 - x]
        return Pixels(PixelFormat("u8", channels=1), region.width, region.height, bytes(out))
    _, node = what
    if is_mask(node):  # a transparency or selection mask: where it is white (Krita 5.2+)
        data = bytes(node.selection().pixelData(region.x, region.y, region.width, region.height))
        return Pixels(PixelFormat("u8", channels=1), region.width, region.height, data)
    fmt = pixel_format(node.colorModel(), node.colorDepth())
    data = read_pixels(node, region, fmt)
    size = fmt.pixel_bytes // 4  # bytes per sample; alpha is the last sample in BGRA and RGBA
    out = bytearray(region.width * region.height * size)
    for k in range(size):  # byte k of every alpha sample, by slices (no per-pixel Python)
        out[k::size] = data[3 * size + k :: 4 * size]
    alpha = bytes(out)
    return Pixels(PixelFormat(fmt.dtype, channels=1), region.width, region.height, alpha)


def read_style_layer(document: Any, node: Any) -> Pixels:
    """A layer used as a style picture: its visible content on the canvas."""
    fmt = pixel_format(node.colorModel(), node.colorDepth())
    rect = Rect.of(node.bounds()).intersected(canvas_rect(document))
    if rect.empty:
        raise NothingToStylise(f"The style layer '{node.name()}' is empty.")
    return Pixels(fmt, rect.width, rect.height, read_pixels(node, rect, fmt))


def add_result_layer(
    document: Any,
    source: Any,
    name: str,
    color_space: tuple[str, str, str],
    selection: Any,
    masked: bool,
    pixels: tuple[bytes, Rect] | None = None,
) -> Any:
    """A new paint layer in `color_space`, holding `pixels` (bytes in the rectangle) when given,
    with `selection` as a transparency mask unless the daemon applied it already (`masked`:
    Krita 5.1), added right above `source` (at the top of the image when the source was deleted
    meanwhile); returns it. The layer is complete before it joins the image, so adding it is
    the one undoable change."""
    layer = document.createNode(name, "paintlayer")
    if (layer.colorModel(), layer.colorDepth(), layer.colorProfile()) != color_space:
        layer.setColorSpace(*color_space)
    if pixels is not None:
        data, rect = pixels
        layer.setPixelData(data, rect.x, rect.y, rect.width, rect.height)
    if selection is not None and not masked:
        mask = document.createTransparencyMask(f"{name} (selection)")
        mask.setSelection(selection)
        layer.addChildNode(mask, None)
    parent = source.parentNode()
    if parent is None:  # the source layer was deleted while the job ran
        log.info("source layer gone; adding the result at the top of the image")
        document.rootNode().addChildNode(layer, None)
    else:
        parent.addChildNode(layer, source)
    return layer


def write_result(capture: Capture, data: bytes, name: str) -> Any:
    """Put the daemon's pixels into a new paint layer right above the source; returns the layer.

    With a selection, in Krita 5.2 and later the layer gets a transparency mask made from it
    (Krita feathers and composites; the user can paint on the mask afterwards). Krita 5.1's
    scripting cannot fill a mask: there the selection went to the daemon with the job, which
    made the result transparent outside it (feather kept; see `capture_layer`). One undo
    removes the layer (`add_result_layer`). The source layer is only read.
    """
    region, fmt = capture.region, capture.fmt
    if len(data) != region.pixels * fmt.pixel_bytes:
        raise RuntimeError("the daemon's result does not match the layer's size and format")
    layer = add_result_layer(
        capture.document, capture.node, name, capture.color_space, capture.selection,
        masked=capture.mask is not None, pixels=(data, region),
    )  # fmt: skip
    capture.document.refreshProjection()
    return layer


def node_id(node: Any) -> str:
    """Krita's unique id of a layer, as text."""
    uid = node.uniqueId()
    return str(uid.toString() if hasattr(uid, "toString") else uid)


def find_node(document: Any, wanted: str) -> Any:
    """The layer of `document` with this id (any depth), or None."""
    todo = list(document.rootNode().childNodes())
    while todo:
        node = todo.pop()
        if node_id(node) == wanted:
            return node
        todo.extend(node.childNodes())
    return None


def read_recipes(document: Any) -> dict[str, dict]:
    """The recipes recorded in the document, by result-layer id."""
    if RECIPES not in document.annotationTypes():
        return {}
    return decode_recipes(bytes(document.annotation(RECIPES)))


def store_recipe(document: Any, layer: Any, recipe: dict) -> None:
    """Record how `layer` was made, in the document's annotation (saved with the .kra)."""
    recipes = read_recipes(document)
    recipes[node_id(layer)] = recipe
    document.setAnnotation(
        RECIPES, "Impasto: how each result layer was made", encode_recipes(recipes)
    )

"""Reading layers, channels and style files out of GIMP and writing results back: the plug-in's
pixels in and out of GIMP images (`impasto.py` runs the procedures, the dialog previews).

Regions, formats and the job are `request.py`'s; this module only moves pixels.
"""

from __future__ import annotations

import json
import os

from gi.repository import Gegl, Gimp
from request import ArgumentError, GimpFormat, Region, StyleItem, pixel_format, selection_region

from shared.errors import BadRequest
from shared.job import StyleRef
from shared.protocol import PixelFormat
from shared.settings import BlendStyle, Pixels, style_refs

RECIPE_PARASITE = "impasto-recipe"  # a result layer's recipe (shared.recipe), saved in the XCF
MAP_FORMAT = PixelFormat("u8", channels=1)  # a style map: a channel's 8-bit coverage


def read_source(image: Gimp.Image, drawable: Gimp.Layer) -> tuple[Region, GimpFormat, bytes]:
    """The region to stylise (the selection's bounds, else the whole layer) and its pixels."""
    region = source_region(image, drawable)
    fmt = pixel_format(image.get_precision().value_nick, drawable.has_alpha())
    rect = Gegl.Rectangle.new(region.x, region.y, region.width, region.height)
    pixels = drawable.get_buffer().get(rect, 1.0, fmt.babl, Gegl.AbyssPolicy.CLAMP)
    return region, fmt, pixels


def source_region(image: Gimp.Image, drawable: Gimp.Layer) -> Region:
    """The selection's bounds on the layer, else the whole layer."""
    intersects, x, y, width, height = drawable.mask_intersect()
    return selection_region(intersects, x, y, width, height, Gimp.Selection.is_empty(image))


def read_maps(
    image: Gimp.Image,
    drawable: Gimp.Layer,
    region: Region,
    items: list[StyleItem],
    scale: float = 1.0,
) -> dict[int, Pixels]:
    """Each placed style's map over `region` (by item index; none for a style of weight 0):
    the channel named in its `@where`, else the mask of the layer of that name, read as 8-bit
    coverage (`scale` < 1: shrunk, for a preview)."""
    maps = {}
    _, ox, oy = drawable.get_offsets()
    width, height = scaled(region, scale)
    for i, item in enumerate(items):
        if not item.where or item.weight <= 0:
            continue
        source, cx, cy = image.get_channel_by_name(item.where), 0, 0
        if source is None:
            layer = image.get_layer_by_name(item.where)
            source = layer.get_mask() if layer is not None else None
            if source is None:
                raise ArgumentError(
                    f"no channel (or layer with a mask) named '{item.where}' in the image"
                )
            _, cx, cy = layer.get_offsets()
        x, y = round((ox + region.x - cx) * scale), round((oy + region.y - cy) * scale)
        rect = Gegl.Rectangle.new(x, y, width, height)
        data = source.get_buffer().get(rect, scale, "Y u8", Gegl.AbyssPolicy.NONE)
        maps[i] = Pixels(MAP_FORMAT, width, height, bytes(data))
    return maps


def read_depth(image: Gimp.Image, drawable: Gimp.Layer, region: Region, name: str) -> Pixels:
    """The depth map over `region`: the channel named `name`, else the layer of that name read
    as grey (white near, black far), 8-bit."""
    _, ox, oy = drawable.get_offsets()
    source, cx, cy = image.get_channel_by_name(name), 0, 0
    if source is None:
        source = image.get_layer_by_name(name)
        if source is None:
            raise ArgumentError(f"no channel or layer named '{name}' for the depth map")
        _, cx, cy = source.get_offsets()
    rect = Gegl.Rectangle.new(ox + region.x - cx, oy + region.y - cy, region.width, region.height)
    data = source.get_buffer().get(rect, 1.0, "Y' u8", Gegl.AbyssPolicy.CLAMP)
    return Pixels(MAP_FORMAT, region.width, region.height, bytes(data))


def scaled(region: Region, scale: float) -> tuple[int, int]:
    """The size of `region` at `scale` (at least 1 px)."""
    return max(1, round(region.width * scale)), max(1, round(region.height * scale))


def read_style_file(path: str) -> Pixels:
    """A style picture opened by GIMP itself, flattened, as 8-bit RGB pixels."""
    if not os.path.isfile(path):
        raise ArgumentError(f"style image {path!r} does not exist")
    from gi.repository import Gio

    style = Gimp.file_load(Gimp.RunMode.NONINTERACTIVE, Gio.File.new_for_path(path))
    try:
        layer = style.flatten()
        width, height = layer.get_width(), layer.get_height()
        fmt = pixel_format("u8", has_alpha=False)  # style alpha is ignored anyway
        rect = Gegl.Rectangle.new(0, 0, width, height)
        data = layer.get_buffer().get(rect, 1.0, fmt.babl, Gegl.AbyssPolicy.CLAMP)
    finally:
        style.delete()
    return Pixels(fmt.pixels, width, height, data)


def read_styles(
    items: list[StyleItem], first_frame: int, maps: dict[int, Pixels] | None = None
) -> tuple[tuple[StyleRef, ...], list[bytes]]:
    """The job's styles and the pixel frames they name, numbered from `first_frame`
    (`shared.settings.style_refs`): the style pictures, opened by GIMP, then the style maps
    (`maps`: by item index). A style of weight 0 is left out, its file not read."""
    maps = maps or {}
    blend = [
        BlendStyle(
            item.weight,
            name=item.name,
            picture=read_style_file(item.path) if item.path and item.weight > 0 else None,
            label=item.title if item.path else None,
            map=maps.get(i),
        )
        for i, item in enumerate(items)
    ]
    try:
        return style_refs(blend, first_frame)
    except BadRequest as exc:
        raise ArgumentError(exc.message) from None


def write_result(
    image: Gimp.Image,
    source: Gimp.Layer,
    region: Region,
    fmt: GimpFormat,
    pixels: bytes,
    name: str,
    recipe: dict | None = None,
) -> Gimp.Layer:
    """A new layer right above `source` holding `pixels`, masked by the selection if any, with
    `recipe` as a persistent parasite; one undo step removes all of it."""
    layer_type = Gimp.ImageType.RGBA_IMAGE if fmt.pixels.channels == 4 else Gimp.ImageType.RGB_IMAGE
    image.undo_group_start()
    try:
        layer = Gimp.Layer.new(
            image, name, region.width, region.height, layer_type, 100, Gimp.LayerMode.NORMAL
        )
        image.insert_layer(layer, source.get_parent(), image.get_item_position(source))
        _, ox, oy = source.get_offsets()
        layer.set_offsets(ox + region.x, oy + region.y)
        buffer = layer.get_shadow_buffer()
        buffer.set(Gegl.Rectangle.new(0, 0, region.width, region.height), fmt.babl, pixels)
        buffer.flush()
        layer.merge_shadow(True)
        layer.update(0, 0, region.width, region.height)
        if region.masked:  # GIMP feathers and composites; the user can still edit the mask
            layer.add_mask(layer.create_mask(Gimp.AddMaskType.SELECTION))
        if recipe is not None:  # JSON is ASCII: GIMP's parasite data are signed chars
            data = list(json.dumps(recipe, ensure_ascii=True).encode())
            flags = Gimp.PARASITE_PERSISTENT | Gimp.PARASITE_UNDOABLE
            layer.attach_parasite(Gimp.Parasite.new(RECIPE_PARASITE, flags, data))
    finally:
        image.undo_group_end()
    return layer

#!/usr/bin/env python3
"""Impasto for GIMP 3: Filters > Artistic > Impasto Style Transfer... (`plug-in-impasto-stylize`)
and Filters > Animation > Impasto Style Transfer, Frames... (`plug-in-impasto-stylize-frames`),
with Filters > Artistic > Impasto Re-apply (`plug-in-impasto-reapply`) and Impasto Settings as
Command (`plug-in-impasto-command`) for the layers it made.

Its dialog shows the styles as rows (style_rows.py) that write the procedure's `styles` argument,
and a live preview in fast mode (shared.preview). The first reads the selected layer (or the
selection's bounds) in the image's own precision, sends
the pixels as they are to the Impasto daemon, and puts the stylised pixels into a new layer above
the source, masked by the selection when there is one; the new layer keeps how it was made (a
persistent parasite holding the recipe of shared.recipe, saved in the XCF), which Re-apply runs
again on the source layer as it is now and Settings as Command writes as an `impasto stylize`
command line. The frames procedure takes an image whose layers
are animation frames (GIMP's convention for GIF and WebP animations: the bottom layer is the first
frame) and makes a new image of stylised frames, each consistent with the one before (the daemon's
sequences), with the same layer names (so the frame timings in them are kept). Needs only GIMP's
GI modules, pyzmq and msgpack; the installer copies `shared/` (the protocol and client) next to
this file.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import sysconfig
from dataclasses import dataclass

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)  # request.py, vendor.py and the copied shared/

from vendor import vendor_tag  # noqa: E402

# Wheels the installer downloaded for this very Python (Windows, macOS), after the system's own.
sys.path.append(
    os.path.join(HERE, "vendor", vendor_tag(*sys.version_info[:2], sysconfig.get_platform()))
)

import gi  # noqa: E402
import request  # noqa: E402
from request import ArgumentError, GimpFormat, Region  # noqa: E402

from shared.errors import ImpastoError  # noqa: E402
from shared.job import (  # noqa: E402
    DEFAULT_ENGINE,
    DEFAULT_ITERATIONS,
    ENGINES,
    MAX_ITERATIONS,
    PRESERVE_COLOR,
    StyleRef,
    result_name,
    uses_iterations,
)
from shared.protocol import ImageDesc, PixelFormat  # noqa: E402
from shared.recipe import cli_command, make_recipe  # noqa: E402

gi.require_version("Gimp", "3.0")
gi.require_version("GimpUi", "3.0")
gi.require_version("Gegl", "0.4")
from gi.repository import Gegl, Gimp, GimpUi, GLib, GObject  # noqa: E402

log = logging.getLogger("impasto.gimp")

PROCEDURE = "plug-in-impasto-stylize"
FRAMES_PROCEDURE = "plug-in-impasto-stylize-frames"
REAPPLY_PROCEDURE = "plug-in-impasto-reapply"
COMMAND_PROCEDURE = "plug-in-impasto-command"
RECIPE_PARASITE = "impasto-recipe"
MAP_FORMAT = PixelFormat("u8", channels=1)  # a style map: a channel's 8-bit coverage
HELLO_TIMEOUT_S = 5.0  # a daemon on this machine answers hello in milliseconds
DIALOG_TIMEOUT_S = 1.0  # the dialog opens at once: no daemon within a second is "not running"
POLL_S = 0.1
PREVIEW_SIDE = 512  # the preview's picture (no `size`: the daemon's strokes are as on OK)
PREVIEW_SHOWN = 240  # px the dialog shows it at
PREVIEW_TICK_MS = 100
PREVIEW_FORMAT = PixelFormat("u8", "RGBA", 4)


def _choice(values: tuple[str, ...]) -> Gimp.Choice:
    choice = Gimp.Choice.new()
    for i, value in enumerate(values):
        choice.add(value, i, value.capitalize(), "")
    return choice


class ImpastoPlugIn(Gimp.PlugIn):
    """Registers `plug-in-impasto-stylize` and `plug-in-impasto-stylize-frames`."""

    def do_set_i18n(self, name: str) -> bool:
        return False

    def do_query_procedures(self) -> list[str]:
        return [PROCEDURE, FRAMES_PROCEDURE, REAPPLY_PROCEDURE, COMMAND_PROCEDURE]

    def do_create_procedure(self, name: str) -> Gimp.Procedure:
        if name == FRAMES_PROCEDURE:
            return _frames_procedure(self, name)
        if name in (REAPPLY_PROCEDURE, COMMAND_PROCEDURE):
            return _recipe_procedure(self, name)
        proc = Gimp.ImageProcedure.new(self, name, Gimp.PDBProcType.PLUGIN, run, None)
        proc.set_image_types("RGB*")
        proc.set_sensitivity_mask(Gimp.ProcedureSensitivityMask.DRAWABLE)
        proc.set_menu_label("Impasto Style Transfer...")
        proc.add_menu_path("<Image>/Filters/Artistic")
        proc.set_documentation(
            "Paint the layer in the style of a painting (neural style transfer)",
            "Sends the selected layer (or the selection) to the Impasto daemon and puts the "
            "stylised result in a new layer above it. 'styles' is name[:weight],... where a name "
            "is a style the daemon lists or an image file (mode gatys). Needs the daemon running "
            "(python3 install.py in the Impasto folder).",
            name,
        )
        proc.set_attribution("Impasto", "Impasto", "2026")
        _add_style_arguments(proc)
        rw = GObject.ParamFlags.READWRITE
        proc.add_layer_return_value("layer", "Layer", "The new stylised layer", False, rw)
        return proc


def _add_style_arguments(proc: Gimp.Procedure) -> None:
    """The arguments both procedures share: mode, styles, strength, colour, brush size…"""
    rw = GObject.ParamFlags.READWRITE
    proc.add_choice_argument(
        "mode", "_Mode", ", ".join(ENGINES), _choice(ENGINES), DEFAULT_ENGINE, rw
    )
    proc.add_string_argument(
        "styles",
        "St_yles",
        "name[:weight][@channel],... (a daemon style or an image file; @channel: only where that "
        "channel, or that layer's mask, is white); empty = the daemon's first",
        "",
        rw,
    )
    proc.add_double_argument(
        "strength", "S_trength", "Blend with the original (0..1)", 0.0, 1.0, 1.0, rw
    )
    proc.add_choice_argument(
        "preserve-color",
        "_Preserve color",
        "none, luminance or histogram",
        _choice(PRESERVE_COLOR),
        "none",
        rw,
    )
    proc.add_double_argument(
        "style-scale", "Brush si_ze", "Style scale (0.05..16)", 0.05, 16.0, 1.0, rw
    )
    proc.add_int_argument(
        "iterations",
        "_Iterations",
        "Optimiser steps per scale (gatys, hires)",
        1,
        MAX_ITERATIONS,
        DEFAULT_ITERATIONS,
        rw,
    )
    proc.add_string_argument(
        "endpoint",
        "_Daemon",
        "ZeroMQ endpoint; empty = $IMPASTO_ENDPOINT, else tcp://127.0.0.1:5747",
        "",
        rw,
    )


def run(
    procedure: Gimp.ImageProcedure,
    run_mode: Gimp.RunMode,
    image: Gimp.Image,
    drawables: list[Gimp.Drawable],
    config: Gimp.ProcedureConfig,
    data: object,
) -> Gimp.ValueArray:
    """The procedure: dialog when interactive, then stylise; errors become PDB errors."""
    if len(drawables) != 1 or not isinstance(drawables[0], Gimp.Layer):
        return _failure(procedure, "Select exactly one layer to stylise.", calling=True)
    interactive = run_mode == Gimp.RunMode.INTERACTIVE
    if interactive and not show_dialog(procedure, config, image, drawables[0]):
        return procedure.new_return_values(Gimp.PDBStatusType.CANCEL, GLib.Error())
    return _run_and_return(
        procedure, lambda: stylize(image, drawables[0], _options(config)), Gimp.Layer, "stylise"
    )


def _options(config: Gimp.ProcedureConfig) -> request.Options:
    """The stylise options the procedure's arguments give."""
    return request.Options(
        mode=config.get_property("mode"),
        styles=request.parse_styles(config.get_property("styles") or ""),  # unset: None
        strength=config.get_property("strength"),
        preserve_color=config.get_property("preserve-color"),
        style_scale=config.get_property("style-scale"),
        iterations=config.get_property("iterations"),
        endpoint=config.get_property("endpoint") or None,
    )


def _recipe_procedure(plugin: Gimp.PlugIn, name: str) -> Gimp.Procedure:
    """Re-apply (a new layer) or Settings as Command (a string) for a layer Impasto made."""
    reapply = name == REAPPLY_PROCEDURE
    proc = Gimp.ImageProcedure.new(plugin, name, Gimp.PDBProcType.PLUGIN, run_recipe, None)
    proc.set_image_types("RGB*")
    proc.set_sensitivity_mask(Gimp.ProcedureSensitivityMask.DRAWABLE)
    proc.set_menu_label("Impasto Re-apply" if reapply else "Impasto Settings as Command")
    proc.add_menu_path("<Image>/Filters/Artistic")
    proc.set_documentation(
        "Make an Impasto layer again from its source layer as it is now"
        if reapply
        else "The impasto stylize command line that makes this Impasto layer",
        "Select a layer Impasto made. "
        + (
            "Runs the same job (mode, styles, weights, every setting) on the layer it was made "
            "from, as that layer is now, into a new layer above it."
            if reapply
            else "Shows (and returns) the command that makes the same result from the source "
            "layer exported as a PNG."
        ),
        name,
    )
    proc.set_attribution("Impasto", "Impasto", "2026")
    rw = GObject.ParamFlags.READWRITE
    if reapply:
        proc.add_string_argument(
            "endpoint", "_Daemon", "ZeroMQ endpoint; empty = $IMPASTO_ENDPOINT, else the default",
            "", rw,
        )  # fmt: skip
        proc.add_layer_return_value("layer", "Layer", "The new stylised layer", False, rw)
    else:
        proc.add_string_return_value("command", "Command", "impasto stylize …", "", rw)
    return proc


def run_recipe(
    procedure: Gimp.ImageProcedure,
    run_mode: Gimp.RunMode,
    image: Gimp.Image,
    drawables: list[Gimp.Drawable],
    config: Gimp.ProcedureConfig,
    data: object,
) -> Gimp.ValueArray:
    """Re-apply or Settings as Command on the selected layer's recipe."""
    if len(drawables) != 1 or not isinstance(drawables[0], Gimp.Layer):
        return _failure(procedure, "Select exactly one layer Impasto made.", calling=True)
    layer = drawables[0]
    parasite = layer.get_parasite(RECIPE_PARASITE)
    if parasite is None:
        return _failure(procedure, f"'{layer.get_name()}' was not made by Impasto.", calling=True)
    try:
        recipe = json.loads(bytes(parasite.get_data()).decode())
        command = cli_command(recipe)
        source_id = int(recipe["source"]["id"])
    except (ValueError, KeyError, TypeError, UnicodeDecodeError):
        return _failure(
            procedure, f"The Impasto settings kept with '{layer.get_name()}' are damaged."
        )
    if procedure.get_name() == COMMAND_PROCEDURE:
        if run_mode == Gimp.RunMode.INTERACTIVE:
            Gimp.message(command)
        return _run_and_return(procedure, lambda: command, str, "writing the command")
    source = image.get_layer_by_tattoo(source_id)
    if source is None:
        return _failure(
            procedure, f"The layer '{recipe['source']['name']}' it was made from is gone."
        )

    def work() -> Gimp.Layer:
        options = request.options_from_recipe(recipe, config.get_property("endpoint") or None)
        return stylize(image, source, options)

    return _run_and_return(procedure, work, Gimp.Layer, "re-applying")


def _run_and_return(procedure: Gimp.Procedure, work, kind: type, what: str) -> Gimp.ValueArray:
    """Run `work()` with GIMP's progress; its result (a `kind`) becomes the return value, a bad
    argument a calling error, anything else (daemon, network, a bug) an execution error."""
    try:
        made = work()
    except ArgumentError as exc:
        return _failure(procedure, f"Impasto: {exc}", calling=True)
    except ImpastoError as exc:  # expected (no daemon, a refused job): a message, no traceback
        log.warning("%s failed: %s", what, exc.message)
        return _failure(procedure, f"Impasto: {exc.message}")
    except Exception as exc:  # a bug: its traceback goes to the log
        log.exception("%s failed", what)
        return _failure(procedure, f"Impasto: {exc}")
    finally:
        Gimp.progress_end()
    Gimp.displays_flush()
    values = procedure.new_return_values(Gimp.PDBStatusType.SUCCESS, GLib.Error())
    values.remove(1)
    values.insert(1, GObject.Value(kind, made))
    return values


def _failure(procedure: Gimp.Procedure, message: str, calling: bool = False) -> Gimp.ValueArray:
    status = Gimp.PDBStatusType.CALLING_ERROR if calling else Gimp.PDBStatusType.EXECUTION_ERROR
    return procedure.new_return_values(status, GLib.Error(message))


def stylize(image: Gimp.Image, drawable: Gimp.Layer, options: request.Options) -> Gimp.Layer:
    """Run one job for the drawable; returns the new layer (the source is only read), which
    keeps the job's recipe."""
    try:
        from shared.client import Client
    except ImportError as exc:  # pyzmq or msgpack missing from GIMP's Python
        raise RuntimeError(
            f"{exc}. Re-run `python3 install.py` in the Impasto folder to provide pyzmq and "
            "msgpack for GIMP's Python."
        ) from exc

    Gimp.progress_init("Impasto: connecting to the daemon")
    with Client(options.endpoint) as client:
        mode, items = _resolve(client, options)
        region, fmt, pixels = read_source(image, drawable)
        maps = read_maps(image, drawable, region, items)
        styles, style_frames = _style_refs(items, 2, maps)
        frames = [pixels, *style_frames]
        spec = _spec(options, styles, fmt.pixels.describe(1, region.width, region.height))
        Gimp.progress_set_text(f"Impasto: {mode} {', '.join(s.title for s in items)}")
        job = client.submit(spec.to_wire(), frames)
        while not job.finished:
            for event in client.poll(POLL_S):
                if event.id == job.id and event.type == "progress":
                    Gimp.progress_set_text(f"Impasto: {event.body.get('stage', '')}")
                    Gimp.progress_update(float(event.body.get("fraction", 0.0)))
        if job.error is not None:
            raise job.error
        desc, result = job.result.image_bytes(0)
        name = result_name(job.result.body.get("metadata", {}), spec.styles)
    expected = fmt.pixels.describe(desc.frame, region.width, region.height)
    if desc != expected:  # the protocol promises the input's own format, tight rows
        raise RuntimeError(f"the daemon answered with an unexpected image: {desc}")
    source = {"name": drawable.get_name(), "id": str(drawable.get_tattoo())}
    recipe = make_recipe(spec, source, request.recipe_styles(items))
    return write_result(image, drawable, region, fmt, result, name, recipe)


def _resolve(client, options: request.Options) -> tuple[str, list[request.StyleItem]]:
    """The mode and the styles asked for, checked against what the daemon offers."""
    hello = client.request("hello", {"client": "impasto-gimp"}, timeout=HELLO_TIMEOUT_S).body
    return options.mode, request.resolve_styles(options.mode, options.styles, hello)


def _style_refs(
    items: list, first_frame: int, maps: dict[int, tuple[int, int, bytes]] | None = None
) -> tuple[list[StyleRef], list[bytes]]:
    """Style refs, and the pixel frames they name (numbered from `first_frame`): the style
    pictures, then the style maps (`maps`: item index → 8-bit width, height, coverage)."""
    frames: list[bytes] = []
    pictures: dict[int, ImageDesc] = {}
    for i, item in enumerate(items):
        if item.path:
            desc, data = read_style_file(item.path, first_frame + len(frames))
            pictures[i] = desc
            frames.append(data)
    wheres: dict[int, ImageDesc] = {}
    for i, (width, height, data) in sorted((maps or {}).items()):
        wheres[i] = MAP_FORMAT.describe(first_frame + len(frames), width, height)
        frames.append(data)
    styles = [
        StyleRef(weight=item.weight, image=pictures[i], label=item.title, map=wheres.get(i))
        if item.path
        else StyleRef(weight=item.weight, name=item.name, map=wheres.get(i))
        for i, item in enumerate(items)
    ]
    return styles, frames


def read_maps(
    image: Gimp.Image, drawable: Gimp.Layer, region: Region, items: list, scale: float = 1.0
) -> dict[int, tuple[int, int, bytes]]:
    """Each placed style's map over `region`: the channel named in its `@where`, else the mask
    of the layer of that name, read as 8-bit coverage (`scale` < 1: shrunk, for a preview)."""
    maps = {}
    _, ox, oy = drawable.get_offsets()
    width, height = _scaled(region, scale)
    for i, item in enumerate(items):
        if not item.where:
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
        maps[i] = (width, height, bytes(data))
    return maps


def _scaled(region: Region, scale: float) -> tuple[int, int]:
    return max(1, round(region.width * scale)), max(1, round(region.height * scale))


def _spec(options: request.Options, styles, content: ImageDesc, **fields):
    return request.build_spec(
        options.mode,
        styles,
        content,
        options.strength,
        options.preserve_color,
        options.style_scale,
        options.iterations,
        **fields,
    )


def _frames_procedure(plugin: Gimp.PlugIn, name: str) -> Gimp.Procedure:
    proc = Gimp.ImageProcedure.new(plugin, name, Gimp.PDBProcType.PLUGIN, run_frames, None)
    proc.set_image_types("RGB*")
    proc.set_sensitivity_mask(Gimp.ProcedureSensitivityMask.ALWAYS)
    proc.set_menu_label("Impasto Style Transfer, Frames...")
    proc.add_menu_path("<Image>/Filters/Animation")
    proc.set_documentation(
        "Paint every frame of an animation in the style of a painting, without flicker",
        "Takes the image's layers as animation frames (the bottom layer is the first frame, as "
        "GIMP opens GIF and WebP animations) and makes a new image of stylised frames with the "
        "same names and timings; each frame follows the one before along the optical flow "
        "unless 'temporal' is off. Needs the Impasto daemon running.",
        name,
    )
    proc.set_attribution("Impasto", "Impasto", "2026")
    _add_style_arguments(proc)
    rw = GObject.ParamFlags.READWRITE
    proc.add_boolean_argument(
        "temporal",
        "_Smooth between frames",
        "Keep each frame consistent with the one before (off: each frame on its own)",
        True,
        rw,
    )
    proc.add_image_return_value("new-image", "New image", "The stylised frames", False, rw)
    return proc


def run_frames(
    procedure: Gimp.ImageProcedure,
    run_mode: Gimp.RunMode,
    image: Gimp.Image,
    drawables: list[Gimp.Drawable],
    config: Gimp.ProcedureConfig,
    data: object,
) -> Gimp.ValueArray:
    """The frames procedure: dialog when interactive, then a new image; errors as PDB errors."""
    if len(image.get_layers()) < 2:
        return _failure(
            procedure, "The image needs at least two layers, one per frame.", calling=True
        )
    first = image.get_layers()[-1]  # the first frame: the bottom layer
    if run_mode == Gimp.RunMode.INTERACTIVE and not show_dialog(procedure, config, image, first):
        return procedure.new_return_values(Gimp.PDBStatusType.CANCEL, GLib.Error())

    def work() -> Gimp.Image:
        new_image = stylize_frames(image, config)
        if run_mode == Gimp.RunMode.INTERACTIVE:
            Gimp.Display.new(new_image)
        return new_image

    return _run_and_return(procedure, work, Gimp.Image, "stylising the frames")


def stylize_frames(image: Gimp.Image, config: Gimp.ProcedureConfig) -> Gimp.Image:
    """Every layer of `image` as one frame of a sequence (bottom first) into a new image with
    the same layer names, in the same order; `image` is only read."""
    from shared.client import Client

    frames = list(reversed(image.get_layers()))
    width, height = image.get_width(), image.get_height()
    fmt = request.pixel_format(image.get_precision().value_nick, has_alpha=True)

    def read(layer: Gimp.Layer) -> bytes:
        """The layer over the whole canvas (transparent where it does not reach)."""
        _, ox, oy = layer.get_offsets()
        rect = Gegl.Rectangle.new(-ox, -oy, width, height)
        return layer.get_buffer().get(rect, 1.0, fmt.babl, Gegl.AbyssPolicy.NONE)

    Gimp.progress_init("Impasto: connecting to the daemon")
    new_image = Gimp.Image.new_with_precision(
        width, height, Gimp.ImageBaseType.RGB, image.get_precision()
    )
    new_image.undo_disable()
    try:
        options = _options(config)
        with Client(options.endpoint) as client:
            _, items = _resolve(client, options)
            if any(item.where for item in items):
                raise ArgumentError("styles placed by a channel work on one layer, not on frames")
            styles, style_frames = _style_refs(items, 2)
            spec = _spec(
                options,
                styles,
                fmt.pixels.describe(1, width, height),
                temporal=config.get_property("temporal"),
            )
            results = client.stylize_frames((read(f) for f in frames), spec, style_frames)
            for i, (source, result) in enumerate(zip(frames, results, strict=True)):
                Gimp.progress_set_text(f"Impasto: frame {i + 1} of {len(frames)}")
                Gimp.progress_update((i + 1) / len(frames))
                desc, pixels = result.image_bytes(0)
                if desc != fmt.pixels.describe(desc.frame, width, height):
                    raise RuntimeError(f"the daemon answered with an unexpected image: {desc}")
                layer = Gimp.Layer.new(
                    new_image, source.get_name(), width, height, Gimp.ImageType.RGBA_IMAGE,
                    100, Gimp.LayerMode.NORMAL,
                )  # fmt: skip
                new_image.insert_layer(layer, None, 0)  # on top: the first frame ends lowest
                buffer = layer.get_buffer()
                buffer.set(Gegl.Rectangle.new(0, 0, width, height), fmt.babl, pixels)
                buffer.flush()
    except BaseException:
        new_image.delete()
        raise
    new_image.undo_enable()
    return new_image


def read_source(image: Gimp.Image, drawable: Gimp.Layer) -> tuple[Region, GimpFormat, bytes]:
    """The region to stylise (the selection's bounds, else the whole layer) and its pixels."""
    region = _region(image, drawable)
    fmt = request.pixel_format(image.get_precision().value_nick, drawable.has_alpha())
    rect = Gegl.Rectangle.new(region.x, region.y, region.width, region.height)
    pixels = drawable.get_buffer().get(rect, 1.0, fmt.babl, Gegl.AbyssPolicy.CLAMP)
    return region, fmt, pixels


def _region(image: Gimp.Image, drawable: Gimp.Layer) -> Region:
    """The selection's bounds on the layer, else the whole layer."""
    intersects, x, y, width, height = drawable.mask_intersect()
    return request.selection_region(intersects, x, y, width, height, Gimp.Selection.is_empty(image))


def read_style_file(path: str, frame: int) -> tuple[ImageDesc, bytes]:
    """A style picture opened by GIMP itself, flattened, as an 8-bit RGB descriptor and bytes."""
    if not os.path.isfile(path):
        raise ArgumentError(f"style image {path!r} does not exist")
    from gi.repository import Gio

    style = Gimp.file_load(Gimp.RunMode.NONINTERACTIVE, Gio.File.new_for_path(path))
    try:
        layer = style.flatten()
        width, height = layer.get_width(), layer.get_height()
        fmt = request.pixel_format("u8", has_alpha=False)  # style alpha is ignored anyway
        rect = Gegl.Rectangle.new(0, 0, width, height)
        data = layer.get_buffer().get(rect, 1.0, fmt.babl, Gegl.AbyssPolicy.CLAMP)
    finally:
        style.delete()
    return fmt.pixels.describe(frame, width, height), data


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


def show_dialog(
    procedure: Gimp.Procedure,
    config: Gimp.ProcedureConfig,
    image: Gimp.Image,
    drawable: Gimp.Layer | None = None,
) -> bool:
    """The procedure's dialog with the styles as rows (thumbnail, weight, where it goes), the
    fields a mode does not use greyed out, one line about the daemon and a live preview of
    `drawable` in fast mode; False when cancelled. The rows write the `styles` argument, so
    the dialog and PDB calls agree."""
    gi.require_version("Gtk", "3.0")
    from gi.repository import Gtk
    from style_rows import StyleRows

    GimpUi.init(PROCEDURE)
    dialog = GimpUi.ProcedureDialog(
        procedure=procedure, config=config, title="Impasto Style Transfer"
    )
    daemon = _dialog_daemon(config.get_property("endpoint") or None)
    status = Gtk.Label(label=request.daemon_line(daemon.styles, daemon.problem), xalign=0.0)
    status.set_line_wrap(True)  # a long message must not stretch the dialog
    status.set_max_width_chars(50)
    fields = ["mode", "strength", "preserve-color", "style-scale", "iterations"]
    if procedure.get_name() == FRAMES_PROCEDURE:
        fields.append("temporal")
    dialog.fill([*fields, "endpoint"])
    try:
        chosen = request.parse_styles(config.get_property("styles") or "")
    except ArgumentError:  # a bad value from an earlier run: start from no style
        chosen = []
    places = _places(image) if procedure.get_name() != FRAMES_PROCEDURE else []
    rows = StyleRows(daemon.styles or [], places, lambda text: config.set_property("styles", text))
    rows.set_items(chosen)
    iterations = dialog.get_widget("iterations", GObject.TYPE_NONE)

    def mode_changed(*_args) -> None:
        mode = config.get_property("mode")
        rows.set_mode(mode)
        iterations.set_sensitive(uses_iterations(mode))

    config.connect("notify::mode", mode_changed)
    mode_changed()
    frame = Gtk.Frame(label="Styles")
    rows.set_border_width(6)
    frame.add(rows)
    area = dialog.get_content_area()
    area.pack_start(status, False, False, 6)
    area.reorder_child(status, 0)
    below = Gtk.Box(orientation=Gtk.Orientation.HORIZONTAL, spacing=6)
    below.pack_start(frame, True, True, 0)
    area.pack_start(below, True, True, 6)
    preview = None
    if daemon.client is not None and drawable is not None:  # beside the styles: not taller
        preview = DialogPreview(image, drawable, config, daemon)
        below.pack_start(preview.frame, False, False, 0)
    status.show()
    area.show_all()
    try:
        accepted = dialog.run()
    finally:
        if preview is not None:
            preview.stop()
        if daemon.client is not None:
            daemon.client.close()
    dialog.destroy()
    return bool(accepted)


class DialogPreview:
    """The dialog's live preview: on every change of the settings (polled on a timer, as the
    dialog has no one signal for all of them) a fast job on a thumbnail of the layer, the one
    in flight cancelled (shared.preview); the newest result shown. Fast mode only: gatys and
    hires take far longer than a preview may."""

    def __init__(self, image, drawable, config, daemon: DialogDaemon) -> None:
        from gi.repository import GdkPixbuf, Gtk

        from shared.preview import LatestPreview

        self.GdkPixbuf = GdkPixbuf
        self.image, self.drawable, self.config, self.daemon = image, drawable, config, daemon
        self.live = LatestPreview(daemon.client)
        self.frame = Gtk.Frame(label="Preview")
        box = Gtk.Box(orientation=Gtk.Orientation.VERTICAL, spacing=4)
        box.set_border_width(6)
        self.check = Gtk.CheckButton.new_with_mnemonic("_Live preview (fast mode)")
        self.check.set_active(True)
        self.picture = Gtk.Image()
        self.picture.set_size_request(PREVIEW_SHOWN, PREVIEW_SHOWN)
        self.note = Gtk.Label(xalign=0.0)
        self.note.set_line_wrap(True)
        self.note.set_max_width_chars(28)
        box.pack_start(self.check, False, False, 0)
        box.pack_start(self.picture, False, False, 0)
        box.pack_start(self.note, False, False, 0)
        self.frame.add(box)
        self.region, self.scale, self.pixels = _preview_source(image, drawable)
        self.timer = GLib.timeout_add(PREVIEW_TICK_MS, self.tick)

    def stop(self) -> None:
        GLib.source_remove(self.timer)
        self.live.drop()

    def tick(self) -> bool:
        try:
            self._ask()
            self._show(self.live.poll())
        except ImpastoError as exc:  # the daemon went away: say so, keep the dialog usable
            self.note.set_text(f"Preview: {exc.message}")
            self.live.reset()
        return True  # keep the timer

    def _ask(self) -> None:
        if not self.check.get_active():
            self.live.reset()
            self.note.set_text("")
            return
        options = _options_or_none(self.config)
        if options is None or options.mode != "fast":
            self.live.reset()
            self.note.set_text("The preview shows fast mode.")
            return
        key = (
            self.config.get_property("styles"), options.strength, options.preserve_color,
            options.style_scale,
        )  # fmt: skip
        if key == self.live.key:
            return
        try:
            items = request.resolve_styles("fast", options.styles, self.daemon.hello)
            maps = read_maps(self.image, self.drawable, self.region, items, self.scale)
            styles, style_frames = _style_refs(items, 2, maps)
            width, height = _scaled(self.region, self.scale)
            content = PREVIEW_FORMAT.describe(1, width, height)
            spec = _spec(options, styles, content)
        except ArgumentError as exc:
            self.live.reset()
            self.note.set_text(f"Preview: {exc}")
            return
        self.live.show(key, spec.to_wire(), [self.pixels, *style_frames])
        self.note.set_text("Updating...")

    def _show(self, shown) -> None:
        if shown is None:
            return
        if isinstance(shown, ImpastoError):
            self.note.set_text(f"Preview: {shown.message}")
            return
        pix = self.GdkPixbuf.Pixbuf.new_from_bytes(
            GLib.Bytes.new(shown.data), self.GdkPixbuf.Colorspace.RGB, shown.channels == 4, 8,
            shown.width, shown.height, shown.width * shown.channels,
        )  # fmt: skip
        fit = PREVIEW_SHOWN / max(shown.width, shown.height)
        width, height = max(1, round(shown.width * fit)), max(1, round(shown.height * fit))
        self.picture.set_from_pixbuf(
            pix.scale_simple(width, height, self.GdkPixbuf.InterpType.BILINEAR)
        )
        self.note.set_text(f"Preview ready in {shown.seconds:.1f} s.")


def _options_or_none(config: Gimp.ProcedureConfig) -> request.Options | None:
    try:
        return _options(config)
    except ArgumentError:  # half-typed styles: no preview until they parse
        return None


def _preview_source(image: Gimp.Image, drawable: Gimp.Layer) -> tuple[Region, float, bytes]:
    """The region Apply would send, the scale that brings it to PREVIEW_SIDE (never up), and
    its pixels at that scale as 8-bit RGBA."""
    region = _region(image, drawable)
    scale = min(1.0, PREVIEW_SIDE / max(region.width, region.height))
    w, h = _scaled(region, scale)
    rect = Gegl.Rectangle.new(round(region.x * scale), round(region.y * scale), w, h)
    data = drawable.get_buffer().get(rect, scale, "R'G'B'A u8", Gegl.AbyssPolicy.CLAMP)
    return region, scale, bytes(data)


def _places(image: Gimp.Image) -> list[str]:
    """What a style can be limited to: the image's channels, then its layers with a mask."""
    names = [channel.get_name() for channel in image.get_channels()]
    names += [layer.get_name() for layer in image.get_layers() if layer.get_mask() is not None]
    return names


@dataclass
class DialogDaemon:
    """The daemon as the dialog sees it: a connection kept for previews, what it offers, or
    why there is nothing (`problem`)."""

    client: object | None = None
    hello: dict | None = None
    styles: list[dict] | None = None
    problem: str = ""


def _dialog_daemon(endpoint: str | None) -> DialogDaemon:
    """Connect for the dialog, waiting at most DIALOG_TIMEOUT_S for an answer."""
    try:
        from shared.client import Client
    except ImportError:
        return DialogDaemon(
            problem="GIMP's Python lacks pyzmq or msgpack: re-run `python3 install.py`."
        )
    client = None
    try:
        client = Client(endpoint, timeout=DIALOG_TIMEOUT_S)
        hello = client.request("hello", {"client": "impasto-gimp"}).body
        return DialogDaemon(client, hello, client.styles())
    except Exception:  # the dialog still opens; running will report the problem in full
        if client is not None:
            client.close()
        return DialogDaemon(
            problem="Daemon not running. Start it: `python3 install.py` in the Impasto folder."
        )


if __name__ == "__main__":
    Gimp.main(ImpastoPlugIn.__gtype__, sys.argv)

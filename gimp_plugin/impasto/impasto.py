#!/usr/bin/env python3
"""Impasto for GIMP 3: Filters > Artistic > Impasto Style Transfer... (`plug-in-impasto-stylize`)
and Filters > Animation > Impasto Style Transfer, Frames... (`plug-in-impasto-stylize-frames`),
with Filters > Artistic > Impasto Re-apply (`plug-in-impasto-reapply`) and Impasto Settings as
Command (`plug-in-impasto-command`) for the layers it made.

This file registers the four procedures and runs them; GIMP runs it as a program. Beside it:
request.py (arguments → job, no GIMP), gimp_io.py (pixels in and out of GIMP images), dialog.py
(the dialog, its styles as rows from style_rows.py) and live_preview.py (its fast-mode preview).

The first reads the selected layer (or the selection's bounds) in the image's own precision, sends
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
from dataclasses import replace

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)  # the plug-in's other modules and the copied shared/

from vendor import vendor_tag  # noqa: E402

# Wheels the installer downloaded for this very Python (Windows, macOS), after the system's own.
sys.path.append(
    os.path.join(HERE, "vendor", vendor_tag(*sys.version_info[:2], sysconfig.get_platform()))
)

import gi  # noqa: E402
import request  # noqa: E402
from request import (  # noqa: E402
    COMMAND_PROCEDURE,
    FRAMES_PROCEDURE,
    PROCEDURE,
    REAPPLY_PROCEDURE,
    ArgumentError,
    options_from_config,
)

from shared.errors import ImpastoError  # noqa: E402
from shared.job import (  # noqa: E402
    DEFAULT_ENGINE,
    DEFAULT_ITERATIONS,
    ENGINES,
    MAX_ITERATIONS,
    PRESERVE_COLOR,
    result_name,
)
from shared.recipe import cli_command, make_recipe  # noqa: E402

gi.require_version("Gimp", "3.0")
gi.require_version("GimpUi", "3.0")
gi.require_version("Gegl", "0.4")
from dialog import show_dialog, show_learn_dialog  # noqa: E402
from gi.repository import Gegl, Gimp, GLib, GObject  # noqa: E402
from gimp_io import (  # noqa: E402
    RECIPE_PARASITE,
    read_depth,
    read_maps,
    read_source,
    read_styles,
    write_result,
)
from learn import LEARN_PROCEDURE, learn_layer, learn_procedure  # noqa: E402

log = logging.getLogger("impasto.gimp")

HELLO_TIMEOUT_S = 5.0  # a daemon on this machine answers hello in milliseconds
POLL_S = 0.1


def _choice(values: tuple[str, ...]) -> Gimp.Choice:
    choice = Gimp.Choice.new()
    for i, value in enumerate(values):
        choice.add(value, i, value.capitalize(), "")
    return choice


class ImpastoPlugIn(Gimp.PlugIn):
    """Registers the plug-in's five procedures: stylize, stylize-frames, reapply, command and
    learn."""

    def do_set_i18n(self, name: str) -> bool:
        return False

    def do_query_procedures(self) -> list[str]:
        return [PROCEDURE, FRAMES_PROCEDURE, REAPPLY_PROCEDURE, COMMAND_PROCEDURE, LEARN_PROCEDURE]

    def do_create_procedure(self, name: str) -> Gimp.Procedure:
        if name == LEARN_PROCEDURE:
            return learn_procedure(self, name, run_learn)
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
    proc.add_boolean_argument(
        "texture",
        "Fine te_xture at full size",
        "Large layers: paint the fine texture under the strokes at full size, so the result "
        "holds up at 100% zoom (off: the strokes enlarged only, faster)",
        True,
        rw,
    )
    proc.add_boolean_argument(
        "photoreal",
        "_Photo look",
        "The style's colours and light on the layer with no brush strokes: every edge stays as "
        "sharp and where it is (a photo or a painting as the style; fast and gatys modes; "
        "colours left at none)",
        False,
        rw,
    )
    proc.add_string_argument(
        "depth",
        "_Depth map",
        "A channel or layer, white near and black far: strokes are bigger where it is near "
        "(a painted gradient gives perspective); empty: none",
        "",
        rw,
    )
    proc.add_double_argument(
        "depth-range",
        "Depth ran_ge",
        "How many times bigger the nearest strokes are than the farthest (1..16)",
        1.0,
        16.0,
        3.0,
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
        procedure,
        lambda: stylize(image, drawables[0], options_from_config(config)),
        Gimp.Layer,
        "stylise",
    )


def run_learn(
    procedure: Gimp.ImageProcedure,
    run_mode: Gimp.RunMode,
    image: Gimp.Image,
    drawables: list[Gimp.Drawable],
    config: Gimp.ProcedureConfig,
    data: object,
) -> Gimp.ValueArray:
    """Add to Fast Styles: GIMP's own dialog for its arguments when interactive, then learn."""
    if len(drawables) != 1 or not isinstance(drawables[0], Gimp.Layer):
        return _failure(procedure, "Select exactly one layer to learn.", calling=True)
    if run_mode == Gimp.RunMode.INTERACTIVE and not show_learn_dialog(procedure, config):
        return procedure.new_return_values(Gimp.PDBStatusType.CANCEL, GLib.Error())
    return _run_and_return(
        procedure, lambda: learn_layer(image, drawables[0], config), str, "learning"
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
        styles, style_frames = read_styles(items, 2, maps)
        frames = [pixels, *style_frames]
        depth = None
        if options.depth:
            grey = read_depth(image, drawable, region, options.depth)
            frames.append(grey.data)
            depth = grey.describe(len(frames))
        spec = options.spec(
            fmt.pixels.describe(1, region.width, region.height), styles, depth=depth
        )
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
        options = replace(options_from_config(config), temporal=config.get_property("temporal"))
        with Client(options.endpoint) as client:
            _, items = _resolve(client, options)
            if any(item.where for item in items):
                raise ArgumentError("styles placed by a channel work on one layer, not on frames")
            if options.depth:
                raise ArgumentError("a depth map works on one layer, not on frames")
            styles, style_frames = read_styles(items, 2)
            spec = options.spec(fmt.pixels.describe(1, width, height), styles)
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


if __name__ == "__main__":
    Gimp.main(ImpastoPlugIn.__gtype__, sys.argv)

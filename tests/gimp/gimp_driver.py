"""Runs inside the real GIMP 3 (batch mode, python-fu-eval): the e2e test's hands.

For each case of the JSON file named by $IMPASTO_E2E_JOB: open the photo, optionally select a
rectangle, call `plug-in-impasto-stylize` non-interactively, save XCF and PNG, then open the saved
XCF afresh and dump every layer (and mask) as raw pixels with a JSON description. A case with
`frames` builds a frame stack (one layer per picture, the first at the bottom), calls
`plug-in-impasto-stylize-frames` and dumps the new image and the source image. A case with
`channels` first saves rectangles as named channels (for styles placed by them). A case with
`reapply` then inverts the top half of the source, calls `plug-in-impasto-reapply` on the new
layer and `plug-in-impasto-command` on both results, and records the recipes the saved XCF
keeps. A case with `interactive` calls the procedure as a menu click does (its dialog opens).
A case with `learn` first calls `plug-in-impasto-learn` on the photo with those arguments (the
layer becomes a fast style) and records what it returned, then stylises as any case.
Results go to the job's `results` path, by case name, with GIMP's version under "version";
the test checks them from outside. Any exception exits GIMP non-zero.
"""

import json
import os

import gi

gi.require_version("Gimp", "3.0")
gi.require_version("Gegl", "0.4")
from gi.repository import Gegl, Gimp, Gio  # noqa: E402

PROCEDURE = "plug-in-impasto-stylize"
FRAMES_PROCEDURE = "plug-in-impasto-stylize-frames"
REAPPLY_PROCEDURE = "plug-in-impasto-reapply"
COMMAND_PROCEDURE = "plug-in-impasto-command"
LEARN_PROCEDURE = "plug-in-impasto-learn"
DUMP_FORMATS = {"u8": "R'G'B'A u8", "u16": "R'G'B'A u16"}


def load(path):
    return Gimp.file_load(Gimp.RunMode.NONINTERACTIVE, Gio.File.new_for_path(path))


def save(image, path):
    if not Gimp.file_save(Gimp.RunMode.NONINTERACTIVE, image, Gio.File.new_for_path(path), None):
        raise RuntimeError(f"could not save {path}")


def call_plugin(image, layer, args, name=PROCEDURE, interactive=False):
    proc = Gimp.get_pdb().lookup_procedure(name)
    if proc is None:
        raise RuntimeError(f"{name} is not registered: the plug-in did not load")
    config = proc.create_config()
    mode = Gimp.RunMode.INTERACTIVE if interactive else Gimp.RunMode.NONINTERACTIVE
    config.set_property("run-mode", mode)
    config.set_property("image", image)
    config.set_core_object_array("drawables", [layer])
    for key, value in args.items():
        config.set_property(key, value)
    result = proc.run(config)
    status = result.index(0)
    message = "" if status == Gimp.PDBStatusType.SUCCESS else str(result.index(1) or "")
    returned = result.index(1) if status == Gimp.PDBStatusType.SUCCESS else None
    return status.value_nick, message, returned


def frame_stack(paths):
    """An image with one layer per picture, the first picture at the bottom (GIF convention)."""
    image = load(paths[0])
    image.get_layers()[0].set_name("frame 1 (100ms)")
    for i, path in enumerate(paths[1:], start=2):
        layer = Gimp.file_load_layer(
            Gimp.RunMode.NONINTERACTIVE, image, Gio.File.new_for_path(path)
        )
        layer.set_name(f"frame {i} (100ms)")
        image.insert_layer(layer, None, 0)
    return image


def run_frames_case(case, out_dir):
    image = frame_stack(case["frames"])
    status, message, new_image = call_plugin(
        image, image.get_layers()[0], case["args"], FRAMES_PROCEDURE
    )
    result = {"status": status, "message": message, "layer_count": len(image.get_layers())}
    if status == "success":
        save(new_image, case["xcf"])
        save(image, case["source_xcf"])
        result.update(dump_layers(case["xcf"], out_dir, case["name"]))
        result["source"] = dump_layers(case["source_xcf"], out_dir, case["name"] + "-source")
        new_image.delete()
    image.delete()
    return result


def dump_layers(xcf, out_dir, tag):
    image = load(xcf)
    sample = image.get_precision().value_nick.split("-")[0]
    layers = []
    for position, layer in enumerate(image.get_layers()):
        width, height = layer.get_width(), layer.get_height()
        rect = Gegl.Rectangle.new(0, 0, width, height)
        raw = os.path.join(out_dir, f"{tag}-layer{position}.raw")
        data = layer.get_buffer().get(rect, 1.0, DUMP_FORMATS[sample], Gegl.AbyssPolicy.CLAMP)
        with open(raw, "wb") as f:
            f.write(data)
        recipe = layer.get_parasite("impasto-recipe")
        entry = {
            "recipe": json.loads(bytes(recipe.get_data()).decode()) if recipe else None,
            "name": layer.get_name(),
            "offsets": list(layer.get_offsets()[1:]),
            "size": [width, height],
            "has_alpha": layer.has_alpha(),
            "raw": raw,
            "mask": None,
        }
        mask = layer.get_mask()
        if mask is not None:
            entry["mask"] = os.path.join(out_dir, f"{tag}-layer{position}-mask.raw")
            with open(entry["mask"], "wb") as f:
                f.write(mask.get_buffer().get(rect, 1.0, "Y u8", Gegl.AbyssPolicy.CLAMP))
        layers.append(entry)
    image.delete()
    return {"precision": sample, "layers": layers}


def invert_top_half(layer):
    """The user edits the source: the top half of an 8-bit RGB(A) layer inverted."""
    w, h = layer.get_width(), layer.get_height() // 2
    fmt = "R'G'B'A u8" if layer.has_alpha() else "R'G'B' u8"
    step = 4 if layer.has_alpha() else 3
    rect = Gegl.Rectangle.new(0, 0, w, h)
    buffer = layer.get_buffer()
    data = buffer.get(rect, 1.0, fmt, Gegl.AbyssPolicy.CLAMP)
    inverted = bytes(b if step == 4 and i % 4 == 3 else 255 - b for i, b in enumerate(data))
    buffer.set(rect, fmt, inverted)
    buffer.flush()
    layer.update(0, 0, w, h)


def main():
    with open(os.environ["IMPASTO_E2E_JOB"]) as f:
        job = json.load(f)
    results = {"version": Gimp.version()}
    for case in job["cases"]:
        if case.get("frames"):
            results[case["name"]] = run_frames_case(case, job["out"])
            continue
        image = load(case["input"])
        source = image.get_layers()[0]
        for name, (x, y, w, h) in case.get("channels", {}).items():  # saved selections
            image.select_rectangle(Gimp.ChannelOps.REPLACE, x, y, w, h)
            Gimp.Selection.save(image).set_name(name)
            Gimp.Selection.none(image)
        if case.get("select"):
            x, y, w, h = case["select"]
            image.select_rectangle(Gimp.ChannelOps.REPLACE, x, y, w, h)
        learned = None
        if case.get("learn"):
            learned = list(call_plugin(image, source, case["learn"], LEARN_PROCEDURE))
        status, message, new = call_plugin(
            image, source, case["args"], interactive=case.get("interactive", False)
        )
        result = {"status": status, "message": message}
        if learned is not None:
            result["learned"] = learned
        if status == "success" and case.get("reapply"):
            invert_top_half(source)
            endpoint = {"endpoint": case["args"]["endpoint"]}
            r_status, r_message, again = call_plugin(image, new, endpoint, REAPPLY_PROCEDURE)
            result["reapply"] = [r_status, r_message]
            if r_status == "success":
                result["commands"] = [
                    call_plugin(image, layer, {}, COMMAND_PROCEDURE)[2] for layer in (new, again)
                ]
        result["layer_count"] = len(image.get_layers())
        if status == "success":
            save(image, case["xcf"])
            save(image, case["png"])
            result.update(dump_layers(case["xcf"], job["out"], case["name"]))
        image.delete()
        results[case["name"]] = result
    with open(job["results"], "w") as f:
        json.dump(results, f, indent=1)


main()

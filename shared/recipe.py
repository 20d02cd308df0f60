"""Results that remember how they were made: the recipe an editor records with a result layer.

A recipe is plain JSON: the job's settings as sent (`JobSpec.settings`, no pixels), the source
layer (name and the editor's id for it) and, per style, where it came from (a daemon style by
name, a layer by name and id, an image file by path). "Re-apply" rebuilds the job from it on
the source layer's current pixels; `cli_command` writes the same job as an `impasto stylize`
command line. Both editors use this module, so a recipe means the same thing in each.
"""

from __future__ import annotations

import json
import shlex
from typing import Any

from shared.job import IMAGE_SUFFIXES, JOB_DEFAULTS, JobSpec

RECIPE_VERSION = 1
MAX_RECIPE_BYTES = 1 << 20  # a document keeps at most this much of them (oldest dropped)

# Settings that `impasto stylize` takes as options (left out of a command at their default).
_CLI_OPTIONS = {
    key: JOB_DEFAULTS[key]
    for key in (
        "size",
        "iterations",
        "preserve_color",
        "strength",
        "style_scale",
        "optimizer",
        "init",
        "seed",
        "base",
        "upscaler",
    )
}


def make_recipe(spec: JobSpec, source: dict[str, str], styles: list[dict[str, Any]]) -> dict:
    """The recipe of a job: `source` {"name", "id"} of the stylised layer; `styles` one entry per
    style of `spec` ({"kind": "builtin"|"layer"|"file", "name", "weight", "id"/"path"})."""
    if len(styles) != len(spec.styles):
        raise ValueError("one style source per style of the job")
    return {
        "impasto": RECIPE_VERSION,
        "settings": spec.settings(),
        "source": dict(source),
        "styles": [dict(s) for s in styles],
    }


def encode_recipes(recipes: dict[str, dict]) -> bytes:
    """A document's recipes by result-layer id as UTF-8 JSON, the oldest dropped beyond
    MAX_RECIPE_BYTES (the newest is kept whatever its size)."""
    items = list(recipes.items())
    while True:
        data = json.dumps(dict(items), separators=(",", ":")).encode()
        if len(data) <= MAX_RECIPE_BYTES or len(items) <= 1:  # the newest is always kept
            return data
        items.pop(0)


def decode_recipes(data: bytes) -> dict[str, dict]:
    """The recipes stored by `encode_recipes`; anything unreadable is no recipes."""
    try:
        found = json.loads(bytes(data).decode() or "{}")
    except (UnicodeDecodeError, ValueError):
        return {}
    if not isinstance(found, dict):
        return {}
    return {
        str(k): v
        for k, v in found.items()
        if isinstance(v, dict) and v.get("impasto") == RECIPE_VERSION
    }


def picture_file(name: str) -> str:
    """The file a layer would be exported as: its name made safe, `.png` added unless the name
    ends in an image suffix already (GIMP names a layer after the file it came from)."""
    safe = "".join(c if c.isalnum() or c in "-_. " else "-" for c in name).strip(" .") or "layer"
    return safe if safe.lower().endswith(IMAGE_SUFFIXES) else f"{safe}.png"


def cli_command(recipe: dict, output: str = "result.png") -> str:
    """The `impasto stylize` command that makes the same result from the source layer exported
    as a PNG (layers used as styles too, named after them; style maps as `NAME map.png`). An
    animated source (`"animation": true` in the recipe's source) is its frames rendered as an
    image sequence (`NAME%04d.png`, Krita's File ▸ Render Animation naming), and so is the
    output."""
    settings = recipe["settings"]
    source = picture_file(recipe["source"]["name"])
    if recipe["source"].get("animation"):
        stem = source.rsplit(".", 1)[0]
        source, output = f"{stem}%04d.png", "painted%04d.png"
    args = ["impasto", "stylize", source]
    for style in recipe["styles"]:
        name = style["path"] if style["kind"] == "file" else style["name"]
        if style["kind"] == "layer":
            name = picture_file(style["name"])
        weight = style.get("weight", 1.0)
        text = name if weight == 1.0 else f"{name}:{weight:g}"
        where = style.get("where")
        if where:  # a style map: the selection or the layer saved as a grey picture
            text += "@" + picture_file(f"{where.get('name', 'selection')} map")
        args += ["-s", text]
    args += ["--mode", settings["engine"]]
    for key, default in _CLI_OPTIONS.items():
        value = settings.get(key)
        if value is None or value == default:
            continue
        if key == "base" and settings["engine"] != "hires":
            continue
        if key == "iterations" and settings["engine"] == "fast":
            continue
        text = f"{value:g}" if isinstance(value, float) else str(value)
        args += [f"--{key.replace('_', '-')}", text]
    if recipe["source"].get("animation") and settings.get("temporal") is False:
        args.append("--no-temporal")
    if settings.get("texture") is False:
        args.append("--no-texture")
    if settings.get("photoreal") is True:
        args.append("--photoreal")
    args += ["-o", output]
    return shlex.join(args)

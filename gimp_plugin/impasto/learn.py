"""Filters > Artistic > Impasto Add to Fast Styles... (`plug-in-impasto-learn`): the daemon learns
the selected layer (or the selection's bounds on it) as a new fast style.

The layer's pixels go to the daemon as they are (its own precision; the daemon keeps the painting
at 1024 px at most) with the `learn` request (shared.lessons); the filter then waits, with GIMP's
progress, for the first look (the daemon saves it within seconds) to be among the daemon's fast
styles, and returns the style's name.
The daemon goes on learning in the background for the minutes asked; the style is in Impasto
Style Transfer's fast styles from the first look on and improves as it learns (`impasto
lessons` shows how far it got).
"""

from __future__ import annotations

import time

from gi.repository import Gimp, GObject
from gimp_io import read_source

from shared.errors import ImpastoError, Timeout
from shared.lessons import DEFAULT_MINUTES, MAX_MINUTES, LearnSpec, style_name_for

LEARN_PROCEDURE = "plug-in-impasto-learn"
FIRST_LOOK_TIMEOUT_S = 120.0  # the learner process starts (VGG19 loads), then searches ~6 s
POLL_S = 0.5


def learn_procedure(plugin: Gimp.PlugIn, name: str, run) -> Gimp.Procedure:
    """The procedure's registration (`run`: impasto.py's runner for it)."""
    proc = Gimp.ImageProcedure.new(plugin, name, Gimp.PDBProcType.PLUGIN, run, None)
    proc.set_image_types("RGB*")
    proc.set_sensitivity_mask(Gimp.ProcedureSensitivityMask.DRAWABLE)
    proc.set_menu_label("Impasto Add to Fast Styles...")
    proc.add_menu_path("<Image>/Filters/Artistic")
    proc.set_documentation(
        "Learn the layer as a new fast style",
        "Sends the selected layer (or the selection on it) to the Impasto daemon, which makes a "
        "first look of it within seconds (the nearest blend of its styles) and then learns the "
        "painting's own style in the background for the minutes given. The style is in Impasto "
        "Style Transfer's fast styles from then on and improves as it learns.",
        name,
    )
    proc.set_attribution("Impasto", "Impasto", "2026")
    rw = GObject.ParamFlags.READWRITE
    proc.add_string_argument(
        "style-name", "Style _name", "lowercase words and hyphens; empty = from the layer's name",
        "", rw,
    )  # fmt: skip
    proc.add_double_argument(
        "minutes", "_Minutes", "How long the daemon learns it (more is better)",
        0.05, MAX_MINUTES, DEFAULT_MINUTES, rw,
    )  # fmt: skip
    proc.add_string_argument(
        "licence", "_Licence", "The painting's licence, kept with the style", "user's own", rw
    )
    proc.add_string_argument(
        "endpoint", "_Daemon", "ZeroMQ endpoint; empty = $IMPASTO_ENDPOINT, else the default",
        "", rw,
    )  # fmt: skip
    proc.add_string_return_value("style", "Style", "The new fast style's name", "", rw)
    return proc


def learn_layer(image: Gimp.Image, drawable: Gimp.Layer, config: Gimp.ProcedureConfig) -> str:
    """Send the layer to learn and wait for its first look; returns the style's name."""
    from shared.client import Client

    name = config.get_property("style-name").strip() or style_name_for(drawable.get_name())
    minutes = float(config.get_property("minutes"))
    region, fmt, pixels = read_source(image, drawable)
    spec = LearnSpec(
        name,
        fmt.pixels.describe(1, region.width, region.height),
        minutes,
        drawable.get_name(),
        config.get_property("licence") or "user's own",
    )
    Gimp.progress_init(f"Impasto: sending '{name}' to learn")
    with Client(config.get_property("endpoint") or None) as client:
        client.learn(spec, pixels)
        Gimp.progress_set_text(f"Impasto: a first look of '{name}'")
        deadline = time.monotonic() + FIRST_LOOK_TIMEOUT_S
        while True:
            lesson = next((x for x in client.lessons() if x["name"] == name), None)
            if lesson is None or lesson["state"] == "failed":
                error = lesson["error"] if lesson else "the daemon lost the lesson"
                raise ImpastoError(f"learning '{name}' failed: {error}")
            if lesson["stage"]:  # saved; the daemon's next folder scan (≤ 2 s) offers it
                hello = client.request("hello", {"client": "impasto-gimp"}).body
                if name in hello.get("engine_styles", {}).get("fast", []):
                    break
            if time.monotonic() > deadline:
                raise Timeout(
                    f"no first look of '{name}' after {FIRST_LOOK_TIMEOUT_S:.0f} s; the daemon "
                    "may still be learning it (impasto lessons)"
                )
            Gimp.progress_pulse()
            time.sleep(POLL_S)
    if lesson["state"] in ("queued", "learning"):
        Gimp.message(
            f"'{name}' is in Impasto's fast styles as a first look; the daemon goes on learning "
            f"it for {minutes:g} min in the background and it improves as it learns."
        )
    return name

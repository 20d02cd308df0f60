"""The docker's brain: connection to the daemon, Apply, Re-apply, live preview, progress,
Cancel. No Qt.

Apply on an animated layer stylises every keyframe of the playback range as one sequence (each
frame consistent with the one before, in the daemon, unless `Settings.temporal` is off), one job
at a time, keeps the results in a temporary folder, and writes them as one new animated layer
when the last is done (`animation.KeyframeWriter`, a keyframe per tick); Cancel at any frame
adds nothing.

A `Controller` never blocks: the plugin calls `tick()` from a QTimer, and every exchange with the
daemon (hello, styles, jobs) is a message sent now and a reply picked up by a later tick. Views
(the docker, the action) read its attributes and subscribe to be told when they change.

Live preview (fast mode): every tick compares what a preview depends on (the active layer, the
styles and weights, strength, colour mode, style scale) with what the shown preview was made from;
on a change it sends a fast job on a thumbnail of the layer (PREVIEW_SIDE px; the daemon paints it
at the fast engine's working side as it paints the layer, so strokes look as they will) through
shared.preview, which cancels the one in flight, so the daemon drops older requests instead of
queueing them. Previews never create layers.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import zmq

from shared.client import Client, JobHandle, default_endpoint
from shared.errors import ImpastoError, Unavailable
from shared.job import ENGINES, SequenceRef, result_layer_name, result_name
from shared.preview import LatestPreview, Shown
from shared.protocol import PixelFormat
from shared.recipe import cli_command, make_recipe

from .animation import (
    Animation,
    KeyframeWriter,
    capture_animation,
    is_animated,
    keep_key,
    read_key,
)
from .jobs import (
    Settings,
    StyleChoice,
    StyleImage,
    build_job,
    check_styles,
    daemon_styles_for,
    default_style,
    recipe_styles,
    settings_from_recipe,
    style_frames,
)
from .krita_io import (
    Capture,
    canvas_rect,
    capture_layer,
    find_node,
    node_id,
    read_map,
    read_recipes,
    read_style_layer,
    store_recipe,
    write_result,
)
from .pixels import UnsupportedColorSpace
from .selection import NothingToStylise, Rect

log = logging.getLogger(__name__)

REPLY_TIMEOUT = 5.0  # s to wait for hello/styles/pong before calling the daemon absent
RETRY_SECONDS = 5.0  # while offline, look for the daemon again this often
STARTING_RETRY_SECONDS = 1.0  # … and this often right after the docker started it
IDLE_PING_SECONDS = 5.0  # while connected and idle, check the daemon is still there
JOB_SILENCE_TIMEOUT = 15.0  # a running job fails when the daemon says nothing for this long
INSTALL_INFO = Path(__file__).resolve().parent / "install.json"  # written by the installer

PREVIEW_SIDE = 512  # the live preview's long side (the daemon paints it as it paints OK's)

ImageLoader = Callable[[str], StyleImage]
Thumbnailer = Callable[[Any, int], StyleImage]  # (layer, long side) → 8-bit RGBA pixels
MASK_FORMAT = PixelFormat("u8", channels=1)  # Krita's selections: 8 bit


@dataclass
class Pending:
    """An Apply waiting for the connection: the pixels are read already, at the moment of Apply."""

    capture: Capture | None  # None for an animation (its frames are read as they are sent)
    settings: Settings
    styles: list[StyleChoice]
    pictures: dict[int, StyleImage]
    maps: dict[int, StyleImage]  # where each style goes, over the captured region
    animation: Animation | None = None


@dataclass
class ActiveJob:
    """A job the daemon is running for us."""

    handle: JobHandle
    capture: Capture | None  # None for a frame of an animation
    name: str
    started: float
    recipe: dict | None = None  # how the result is made, recorded with its layer
    styles: tuple = ()  # the job's StyleRefs, to name the layer if the daemon does not


@dataclass
class SequenceRun:
    """An animated layer going through the daemon keyframe by keyframe."""

    animation: Animation
    settings: Settings
    styles: list[StyleChoice]
    pictures: dict[int, StyleImage]
    maps: dict[int, StyleImage]
    id: str
    folder: str  # the stylised keyframes until the layer is written
    started: float
    recipe: dict | None = None
    spec_styles: tuple = ()
    name: str = ""
    index: int = 0  # the keyframe being stylised


class Controller:
    """Connection state, settings and the one job in flight, shared by all dockers and actions."""

    def __init__(
        self,
        app: Any,
        endpoint: str | None = None,
        load_image: ImageLoader | None = None,
        clock: Callable[[], float] = time.monotonic,
        thumbnail: Thumbnailer | None = None,
    ) -> None:
        self.app = app
        self.thumbnail = thumbnail
        self.endpoint = endpoint or default_endpoint()
        self.load_image = load_image
        self.clock = clock
        self.settings = Settings()
        self.state = "offline"  # offline | connecting | connected
        self.message = ""
        self.hello: dict = {}
        self.catalogue: list[dict] = []
        self.job: ActiveJob | None = None
        self.pending: Pending | None = None
        self.sequence: SequenceRun | None = None  # an animation in the daemon
        self.writer: KeyframeWriter | None = None  # … or being written into its layer
        self.fraction = 0.0
        self.stage = ""
        self.preview: tuple[int, int, bytes] | None = None  # RGBA u8 width, height, pixels
        self.last_layer: Any = None
        self.live_preview = False  # fast mode: preview the active layer as settings change
        self.preview_seconds: float | None = None  # the last live preview: change → shown
        self.live_jobs_sent = 0
        self.live: LatestPreview | None = None  # the newest preview job (with a connection)
        self.started_daemon: subprocess.Popen | None = None  # the daemon Start daemon launched
        self._client: Client | None = None
        self._waiting: dict[str, str] = {}  # request id → request type
        self._sent_at = 0.0
        self._next_try = 0.0
        self._starting_until = 0.0
        self._last_ping = 0.0
        self._listeners: list[Callable[[], None]] = []
        self._ticking = False
        self._writing = False  # a result is being written into the document
        try:
            self._install_info = json.loads(INSTALL_INFO.read_text())
        except (OSError, ValueError):
            self._install_info = {}

    # -- observers --------------------------------------------------------------------------------
    def subscribe(self, listener: Callable[[], None]) -> None:
        """Call `listener()` whenever the state, settings, progress or message change."""
        self._listeners.append(listener)

    def unsubscribe(self, listener: Callable[[], None]) -> None:
        if listener in self._listeners:
            self._listeners.remove(listener)

    def changed(self) -> None:
        """Tell the views something changed."""
        for listener in list(self._listeners):
            listener()

    def _say(self, message: str) -> None:
        log.info("%s", message)
        self.message = message
        self.changed()

    # -- what the daemon offers -------------------------------------------------------------------
    @property
    def busy(self) -> bool:
        return (
            self.job is not None
            or self.pending is not None
            or self.sequence is not None
            or self.writer is not None
            or self._writing
        )

    def mode_available(self, mode: str) -> bool:
        """Whether the daemon runs this mode (`hello.engines` is the source of truth)."""
        return mode in self.hello.get("engines", ("gatys", "fast"))

    def styles_for(self, mode: str) -> list[dict]:
        """The daemon's styles usable in `mode`."""
        return daemon_styles_for(mode, self.catalogue)

    def set_mode(self, mode: str) -> None:
        if mode not in ENGINES:
            raise ValueError(f"unknown mode {mode!r}")
        self.settings.mode = mode
        self.changed()

    # -- connection -------------------------------------------------------------------------------
    def set_endpoint(self, endpoint: str) -> None:
        """Talk to another daemon from now on (refused while a job runs)."""
        endpoint = endpoint.strip() or default_endpoint()
        if endpoint == self.endpoint:
            return
        if self.busy:
            self._say("Wait for the stylisation (or cancel it) before changing the daemon address.")
            return
        self.endpoint = endpoint
        self.connect()

    def connect(self) -> None:
        """(Re)connect: a fresh socket and a `hello`; the reply arrives through `tick`."""
        self._close_client()
        try:
            self._client = Client(self.endpoint, timeout=JOB_SILENCE_TIMEOUT)
            self.live = LatestPreview(self._client)
        except ImpastoError as exc:  # unreadable key files for a remote daemon
            self._offline(f"{exc.message} Nothing was changed.")
            return
        self.state = "connecting"
        self._request("hello", {"client": "impasto-krita"})
        self.changed()

    def _request(self, msg_type: str, body: dict | None = None) -> None:
        assert self._client is not None
        msg_id = self._client.send(msg_type, body)
        self._waiting[msg_id] = msg_type
        self._sent_at = self.clock()

    def _close_client(self) -> None:
        if self._client is not None:
            self._client.close()
        self._client = None
        self._waiting.clear()

    def _offline(self, reason: str) -> None:
        self._close_client()
        self.live = None  # previews start afresh on the next connection
        self.state = "offline"
        self.hello = {}
        now = self.clock()
        self._next_try = now + (
            STARTING_RETRY_SECONDS if now < self._starting_until else RETRY_SECONDS
        )
        if self.pending is not None:
            self.pending = None
            reason += " Nothing was changed."
        self._say(reason)

    def offline_message(self) -> str:
        """What to tell the user when no daemon answers, with how to start one."""
        how = "press Start daemon" if self.daemon_command() else "run `python3 install.py`"
        return f"No Impasto daemon answers at {self.endpoint}: {how}, then apply again."

    def daemon_command(self) -> tuple[list[str], str] | None:
        """The command (and folder) that starts the daemon of the checkout that installed us."""
        python, repo = self._install_info.get("python"), self._install_info.get("repo")
        if not python or not repo or not Path(python).exists():
            return None
        return [python, "-m", "daemon", "daemon", "--endpoint", self.endpoint], repo

    def start_daemon(self) -> None:
        """Start the daemon in the background (it outlives Krita) and connect to it."""
        found = self.daemon_command()
        if found is None:
            self._say("Start the daemon yourself: `python3 install.py` in the Impasto folder.")
            return
        cmd, cwd = found
        kw: dict[str, Any] = {"start_new_session": True}
        if os.name == "nt":
            kw = {"creationflags": subprocess.DETACHED_PROCESS | subprocess.CREATE_NO_WINDOW}
        try:
            self.started_daemon = subprocess.Popen(
                cmd,
                cwd=cwd,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                **kw,
            )
        except OSError as exc:
            self._say(f"Could not start the daemon ({exc}); run `python3 install.py` instead.")
            return
        self._starting_until = self.clock() + 60.0
        self._next_try = self.clock() + STARTING_RETRY_SECONDS
        self._say("Starting the daemon (it loads its models; this takes a few seconds)…")

    # -- the timer --------------------------------------------------------------------------------
    def tick(self) -> None:
        """Do whatever is due; called every few tens of milliseconds from the UI thread."""
        if self._ticking:  # Krita may run the event loop while it adds a layer: no re-entry
            return
        self._ticking = True
        try:
            self._tick()
        finally:
            self._ticking = False

    def _tick(self) -> None:
        if self.writer is not None:
            self._write_step()
        now = self.clock()
        if self._client is None:
            if now >= self._next_try:
                self.connect()
            return
        try:
            events = self._client.poll(0)
        except (zmq.ZMQError, ImpastoError) as exc:
            self._fail_job(str(exc))
            self._offline(self.offline_message())
            return
        for event in events:
            kind = self._waiting.pop(event.id, None)
            if kind is not None:
                self._reply(kind, event.type, event.body)
        self._follow_live()
        if self.state == "connected":
            self._live_tick()
        if self.job is not None:
            self._follow_job(events)
        elif self._waiting and now - self._sent_at > REPLY_TIMEOUT:
            self._offline(self.offline_message())
        elif self.state == "connected" and not self._waiting:
            if now - self._last_ping > IDLE_PING_SECONDS:
                self._last_ping = now
                self._request("ping")

    def _reply(self, kind: str, msg_type: str, body: dict) -> None:
        if msg_type == "error":
            self._offline(f"The daemon refused '{kind}': {body.get('message', '')}")
            return
        if kind == "hello":
            self.hello = body
            self._request("styles")
        elif kind == "styles":
            self.catalogue = list(body.get("styles", []))
            self.state = "connected"
            self._starting_until = 0.0
            for mode in ENGINES:
                if not self.settings.styles[mode]:
                    first = default_style(mode, self.catalogue)
                    if first is not None:
                        self.settings.styles[mode].append(first)
            device = self.hello.get("device", {}).get("device", "?")
            self.message = f"Connected to Impasto {self.hello.get('version', '')} on {device}."
            if self.pending is not None:
                self._submit()
            self.changed()

    # -- Apply ------------------------------------------------------------------------------------
    def apply(self, document: Any = None, node: Any = None) -> bool:
        """Stylise `node` (default: the active layer of the active document); False if refused.

        The pixels are read now; the job is sent as soon as the daemon is connected.
        """
        if self.busy:
            self._say("Impasto is already working on a layer; wait for it or press Cancel.")
            return False
        if document is None:
            document = self.app.activeDocument()
        if document is None:
            self._say("Open an image first.")
            return False
        if node is None:
            node = document.activeNode()
        if node is None:
            self._say("Select a layer to stylise.")
            return False
        settings = replace(
            self.settings, styles={m: list(s) for m, s in self.settings.styles.items()}
        )
        return self._start(document, node, settings, list(settings.chosen))

    def reapply(self, document: Any = None, node: Any = None) -> bool:
        """Make `node` (default: the active layer), an Impasto result, again from its source
        layer's current pixels with the settings recorded with it, into a new layer."""
        if self.busy:
            self._say("Impasto is already working on a layer; wait for it or press Cancel.")
            return False
        found = self._recipe_of(document, node)
        if found is None:
            return False
        document, recipe = found
        source = find_node(document, recipe["source"]["id"])
        if source is None:
            self._say(f"The layer '{recipe['source']['name']}' this result was made from is gone.")
            return False
        try:
            settings, styles = settings_from_recipe(recipe)
        except ValueError as exc:
            self._say(f"Cannot re-apply: {exc}.")
            return False
        for style in styles:
            if style.where is not None and style.where[0] == "alpha-id":
                node = find_node(document, style.where[1])
                if node is None:
                    self._say(f"The layer that placed '{style.name}' is gone.")
                    return False
                style.where = ("alpha", (document, node))
            if style.kind == "layer":
                where = [(d, find_node(d, style.source)) for d in self.app.documents()]
                where = [(d, n) for d, n in where if n is not None]
                if not where:
                    self._say(f"The style layer '{style.name}' is no longer open.")
                    return False
                style.source = where[0]
        return self._start(document, source, settings, styles)

    def command_for(self, document: Any = None, node: Any = None) -> str | None:
        """The `impasto stylize` command line that remakes the result layer `node` (default: the
        active layer) from its source layer exported as a PNG; None (with a message) otherwise."""
        found = self._recipe_of(document, node)
        return cli_command(found[1]) if found is not None else None

    def _recipe_of(self, document: Any, node: Any) -> tuple[Any, dict] | None:
        document = document or self.app.activeDocument()
        node = node or (document.activeNode() if document is not None else None)
        if document is None or node is None:
            self._say("Select a layer Impasto made first.")
            return None
        recipe = read_recipes(document).get(node_id(node))
        if recipe is None:
            self._say(f"'{node.name()}' was not made by Impasto: select a layer it made.")
            return None
        return document, recipe

    def _start(self, document: Any, node: Any, settings: Settings, styles: list) -> bool:
        """Read the layer and the style pictures now and send the job when connected."""
        problem = check_styles(settings.mode, styles) if styles else None
        if problem:
            self._say(problem)
            return False
        try:
            capture, animation = None, None
            if is_animated(node):
                animation = capture_animation(document, node)
            else:
                capture = capture_layer(document, node)
            region = (capture or animation).region
            pictures = self._read_pictures(styles)
            maps = {
                i: read_map(style.where, region)
                for i, style in enumerate(styles)
                if style.where is not None and style.weight > 0
            }
        except (UnsupportedColorSpace, NothingToStylise, OSError) as exc:
            self._say(str(exc))
            return False
        self.pending = Pending(capture, settings, styles, pictures, maps, animation)
        self.fraction, self.stage, self.preview = 0.0, "waiting for the daemon", None
        if self.state == "connected":
            self._submit()
        elif self._client is None:
            self.connect()
        self.changed()
        return True

    def _read_pictures(self, styles: list[StyleChoice]) -> dict[int, StyleImage]:
        pictures: dict[int, StyleImage] = {}
        for i, style in enumerate(styles):
            if style.weight <= 0:
                continue
            if style.kind == "layer":
                document, node = style.source
                if not any(d == document for d in self.app.documents()):
                    raise NothingToStylise(f"The style layer '{style.name}' was closed.")
                pictures[i] = read_style_layer(document, node)
            elif style.kind == "file":
                if self.load_image is None:
                    raise OSError("image files as styles are not available here")
                pictures[i] = self.load_image(style.source)
        return pictures

    def _submit(self) -> None:
        pending, self.pending = self.pending, None
        assert pending is not None and self._client is not None
        settings, styles = pending.settings, pending.styles
        if not self.mode_available(settings.mode):
            self._say(f"This daemon does not offer the {settings.mode} mode yet.")
            return
        if not styles:
            first = default_style(settings.mode, self.catalogue)
            if first is None:
                self._say(f"The daemon has no styles for {settings.mode} mode.")
                return
            styles = [first]
        problem = check_styles(settings.mode, styles)
        if problem:
            self._say(problem)
            return
        if pending.animation is not None:
            self._start_sequence(pending, styles)
            return
        capture = pending.capture
        assert capture is not None
        width, height = capture.region.width, capture.region.height
        content = capture.fmt.describe(1, width, height)
        mask = MASK_FORMAT.describe(2, width, height) if capture.mask is not None else None
        try:
            spec, order = build_job(
                settings, styles, content, pending.pictures, mask, maps=pending.maps
            )
        except ImpastoError as exc:
            self._say(exc.message)
            return
        frames = [capture.data] + ([capture.mask] if mask is not None else [])
        frames += style_frames(styles, order, pending.pictures, pending.maps)
        handle = self._client.submit(spec.to_wire(), frames)
        source = {"name": capture.node.name(), "id": node_id(capture.node)}
        recipe = make_recipe(spec, source, recipe_styles(styles, node_id))
        name = result_layer_name(spec.styles)
        self.job = ActiveJob(handle, capture, name, self.clock(), recipe, spec.styles)
        self.stage = "queued"
        log.info("submitted %s (%s)", handle.id, self.job.name)
        self.changed()

    # -- animations -------------------------------------------------------------------------------
    def _start_sequence(self, pending: Pending, styles: list[StyleChoice]) -> None:
        anim = pending.animation
        assert anim is not None
        self.sequence = SequenceRun(
            anim,
            pending.settings,
            styles,
            pending.pictures,
            pending.maps,
            uuid.uuid4().hex[:16],
            tempfile.mkdtemp(prefix="impasto-frames-"),
            self.clock(),
        )
        self._submit_frame()

    def _submit_frame(self) -> None:
        """Send the sequence's next keyframe, read from the layer now."""
        run = self.sequence
        assert run is not None and self._client is not None
        anim, count = run.animation, len(run.animation.keys)
        width, height = anim.region.width, anim.region.height
        mask = MASK_FORMAT.describe(2, width, height) if anim.mask is not None else None
        try:
            data = read_key(anim, run.index)
            spec, order = build_job(
                run.settings,
                styles=run.styles,
                content=anim.fmt.describe(1, width, height),
                pictures=run.pictures,
                mask=mask,
                maps=run.maps,
            )
        except (ImpastoError, RuntimeError) as exc:
            reason = str(getattr(exc, "message", exc)).rstrip(".")
            self._end_sequence(f"{reason}. Nothing was changed.")
            return
        spec = replace(spec, sequence=SequenceRef(run.id, run.index, run.index == count - 1))
        frames = [data] + ([anim.mask] if mask is not None else [])
        frames += style_frames(run.styles, order, run.pictures, run.maps)
        handle = self._client.submit(spec.to_wire(), frames)
        if run.recipe is None:
            source = {"name": anim.node.name(), "id": node_id(anim.node), "animation": True}
            run.recipe = make_recipe(spec, source, recipe_styles(run.styles, node_id))
            run.spec_styles, run.name = spec.styles, result_layer_name(spec.styles)
        self.job = ActiveJob(handle, None, run.name, run.started)
        self.fraction, self.stage = run.index / count, f"frame {run.index + 1} of {count}"
        self.changed()

    def _follow_frame(self, handle: JobHandle) -> None:
        """A keyframe finished: keep it and send the next, or start writing the layer."""
        run = self.sequence
        assert run is not None
        if handle.state == "cancelled":
            self._end_sequence("Cancelled; nothing was changed.")
            return
        if handle.state != "done":
            error = handle.error or Unavailable("the stylisation failed")
            self._end_sequence(f"{error.message} Nothing was changed.")
            if isinstance(error, Unavailable):
                self._offline(self.message)
            return
        if not any(d == run.animation.document for d in self.app.documents()):
            self._end_sequence("The image was closed before the frames were done; nothing added.")
            return
        assert handle.result is not None
        _, data = handle.result.image_bytes(0)
        if run.index == 0:
            metadata = handle.result.body.get("metadata", {})
            run.name = result_name(metadata, run.spec_styles)
        try:
            keep_key(run.animation, run.folder, data)
        except OSError as exc:
            self._end_sequence(f"Could not keep frame {run.index + 1}: {exc}. Nothing was changed.")
            return
        run.index += 1
        if run.index < len(run.animation.keys):
            self._submit_frame()
            return
        self.writer = KeyframeWriter(self.app, run.animation, run.name)
        self.stage = "adding the frames"
        self.changed()

    def _write_step(self) -> None:
        """One step of writing the animated layer (Krita works in between)."""
        run, writer = self.sequence, self.writer
        assert run is not None and writer is not None
        try:
            layer = writer.step()
        except Exception as exc:  # the writer removed its partial layer
            log.exception("adding the animated result failed")
            self.writer = None
            self._end_sequence(f"Could not add the frames: {exc}. Nothing was changed.")
            return
        if layer is None:
            self.fraction = 0.99
            if writer.waiting and self.message != writer.waiting:
                self._say(writer.waiting)
            return
        self.writer, self.last_layer = None, layer
        try:
            if run.recipe is not None:
                store_recipe(run.animation.document, layer, run.recipe)
        except Exception:  # the layer is in; only Re-apply will not know it
            log.exception("recording the settings of the animation failed")
        self.fraction, self.stage = 1.0, "done"
        count, seconds = len(run.animation.keys), self.clock() - run.started
        self._end_sequence(f"Added '{run.name}', {count} frames ({seconds:.1f} s).")

    def _end_sequence(self, message: str) -> None:
        run, self.sequence = self.sequence, None
        if run is not None:
            shutil.rmtree(run.folder, ignore_errors=True)
        self._say(message)

    # -- live preview -----------------------------------------------------------------------------
    def set_live_preview(self, on: bool) -> None:
        """Turn the fast-mode live preview of the active layer on or off."""
        self.live_preview = bool(on)
        if self.live is not None:
            self.live.reset()
        self.changed()

    def _live_target(self) -> tuple[tuple, Any] | None:
        """(what a preview depends on, the active layer), or None when no preview is due."""
        if not self.live_preview or self.settings.mode != "fast" or self.thumbnail is None:
            return None
        document = self.app.activeDocument()
        node = document.activeNode() if document is not None else None
        if node is None:
            return None
        s = self.settings
        styles = tuple(
            (c.kind, c.name, c.weight, c.where and (c.where[0], id(c.where[1]))) for c in s.chosen
        )
        return (node_id(node), styles, s.strength, s.preserve_color, s.style_scale), node

    def _live_tick(self) -> None:
        target = self._live_target()
        if target is None or self.live is None or target[0] == self.live.key:
            return
        key, node = target
        styles = [c for c in self.settings.chosen if c.weight > 0]
        if check_styles("fast", styles) is not None:
            self.live.skip(key)  # nothing to preview; Apply says why
            return
        try:
            picture = self.thumbnail(node, PREVIEW_SIDE)
            content = picture.fmt.describe(1, picture.width, picture.height)
            document = self.app.activeDocument()
            region = Rect.of(node.bounds()).intersected(canvas_rect(document))
            maps = {i: read_map(c.where, region) for i, c in enumerate(styles) if c.where}
            spec, _ = build_job(self.settings, styles, content, {}, preview=False, maps=maps)
        except (ImpastoError, UnsupportedColorSpace, NothingToStylise, OSError) as exc:
            log.info("no live preview: %s", exc)
            self.live.skip(key)
            return
        frames = [picture.data, *style_frames(styles, [], {}, maps)]
        # the one in flight is cancelled: the daemon drops it if it has not started
        if self.live.show(key, spec.to_wire(), frames):
            self.live_jobs_sent += 1

    def _follow_live(self) -> None:
        shown = self.live.poll() if self.live is not None else None
        if isinstance(shown, Shown):
            self.preview = (shown.width, shown.height, shown.data)
            self.preview_seconds = shown.seconds
            self.changed()
        elif isinstance(shown, ImpastoError):
            self._say(f"Preview: {shown.message}")

    def cancel(self) -> None:
        """Stop the running job (or the Apply waiting for a connection, or an animation's
        frames being added); nothing is changed."""
        if self.writer is not None:
            writer, self.writer = self.writer, None
            writer.abort()
            self._end_sequence("Cancelled; nothing was changed.")
        elif self.pending is not None:
            self.pending = None
            self._say("Cancelled; nothing was changed.")
        elif self.job is not None and self._client is not None:
            self._client.cancel(self.job.handle.id)
            self.stage = "cancelling"
            self.changed()

    def _follow_job(self, events: list) -> None:
        assert self.job is not None
        handle = self.job.handle
        for event in events:
            if event.id == handle.id and event.type == "progress":
                self.fraction = float(event.body.get("fraction", 0.0))
                self.stage = str(event.body.get("stage", ""))
                if self.sequence is not None:  # progress over the whole animation
                    count = len(self.sequence.animation.keys)
                    self.fraction = (self.sequence.index + self.fraction) / count
                    self.stage = f"frame {self.sequence.index + 1} of {count}: {self.stage}"
                if "preview" in event.body:
                    desc, data = event.image_bytes(0)
                    self.preview = (desc.width, desc.height, data)
                self.changed()
        if not handle.finished:
            return
        job, self.job = self.job, None  # the job ends here, whatever writing its result does
        if self._client is not None:
            self._client.forget(handle.id)  # its handle keeps the result's pixels otherwise
        if self.sequence is not None:
            self._follow_frame(handle)
            return
        if handle.state == "done":
            self._writing = True  # busy until the layer is in: Apply stays disabled
            try:
                message = self._finish(job)
            finally:
                self._writing = False
        elif handle.state == "cancelled":
            message = "Cancelled; nothing was changed."
        else:
            error = handle.error or Unavailable("the stylisation failed")
            message = f"{error.message} Nothing was changed."
            if isinstance(error, Unavailable):
                self._offline(message)
                return
        self._say(message)

    def _finish(self, job: ActiveJob) -> str:
        """Write the result into the document; returns what to tell the user."""
        assert job.handle.result is not None and job.capture is not None
        document = job.capture.document
        if not any(d == document for d in self.app.documents()):
            return "The image was closed before the result arrived; nothing was added."
        _, data = job.handle.result.image_bytes(0)
        job.name = result_name(job.handle.result.body.get("metadata", {}), job.styles)
        try:
            self.last_layer = write_result(job.capture, data, job.name)
        except Exception as exc:  # reported once: the job is over and is never written twice
            log.exception("writing the result of %s failed", job.handle.id)
            return f"Could not add the result: {exc}"
        try:
            if job.recipe is not None:
                store_recipe(document, self.last_layer, job.recipe)
        except Exception:  # the layer is in; only Re-apply will not know it
            log.exception("recording the settings of %s failed", job.handle.id)
        self.fraction, self.stage = 1.0, "done"
        return f"Added '{job.name}' ({self.clock() - job.started:.1f} s)."

    def _fail_job(self, reason: str) -> None:
        if self.job is not None:
            self.job = None
            log.warning("job lost: %s", reason)
        if self.sequence is not None and self.writer is None:  # the frames so far are dropped
            shutil.rmtree(self.sequence.folder, ignore_errors=True)
            self.sequence = None

    def close(self) -> None:
        """Drop the connection and any animation's kept frames (Krita is closing)."""
        self._close_client()
        if self.sequence is not None:
            shutil.rmtree(self.sequence.folder, ignore_errors=True)
            self.sequence = None

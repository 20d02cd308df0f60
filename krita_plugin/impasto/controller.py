"""The docker's brain: connection to the daemon, Apply, Re-apply, progress, Cancel, and the
daemon Start daemon launches. No Qt.

A `Controller` never blocks: the plugin calls `tick()` from a QTimer, and every exchange with the
daemon (hello, styles, jobs) is a message sent now and a reply picked up by a later tick. Views
(the docker, the action) read its attributes and subscribe to be told when they change.

Re-apply (`reapply.Reapply`), animated layers (`sequencing.Sequencing`) and the fast-mode live
preview (`live_preview.LivePreview`) are parts of the controller kept in their own modules.
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import zmq

from shared.client import Client, default_endpoint
from shared.errors import ImpastoError, Unavailable
from shared.job import ENGINES, result_layer_name, result_name
from shared.preview import LatestPreview
from shared.recipe import make_recipe
from shared.settings import Pixels

from . import daemon_process
from .animation import KeyframeWriter, capture_animation, is_animated
from .jobs import (
    MASK_FORMAT,
    Settings,
    StyleChoice,
    build_job,
    check_styles,
    daemon_styles_for,
    default_style,
    recipe_styles,
)
from .krita_io import (
    capture_layer,
    node_id,
    read_map,
    read_style_layer,
    store_recipe,
    write_result,
)
from .learning import LEARNING_REQUESTS, Learning
from .live_preview import LivePreview
from .pixels import UnsupportedColorSpace
from .reapply import Reapply
from .selection import NothingToStylise
from .sequencing import Sequencing
from .work import ActiveJob, Pending, SequenceRun, failure_text

log = logging.getLogger(__name__)

REPLY_TIMEOUT = 5.0  # s to wait for hello/styles/pong before calling the daemon absent
RETRY_SECONDS = 5.0  # while offline, look for the daemon again this often
STARTING_RETRY_SECONDS = 1.0  # … and this often right after the docker started it
IDLE_PING_SECONDS = 5.0  # while connected and idle, check the daemon is still there
JOB_SILENCE_TIMEOUT = 15.0  # a running job fails when the daemon says nothing for this long
INSTALL_INFO = Path(__file__).resolve().parent / "install.json"  # written by the installer

ImageLoader = Callable[[str], Pixels]
Thumbnailer = Callable[[Any, int], Pixels]  # (layer, long side) → 8-bit RGBA pixels


class Controller(Reapply, LivePreview, Sequencing, Learning):
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
        self.engines: tuple[str, ...] = ()  # what the last hello offered, kept while offline
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
        self.started_daemon: daemon_process.StartedDaemon | None = None  # Start daemon's
        self._start_failure = ""  # why it stopped before answering, until it is started again
        self._client: Client | None = None
        self._waiting: dict[str, str] = {}  # request id → request type
        self._sent_at = 0.0
        self._next_try = 0.0
        self._starting_until = 0.0
        self._last_ping = 0.0
        self._listeners: list[Callable[[], None]] = []
        self.lessons: dict[str, dict] = {}  # the daemon's lessons (Add to fast styles)
        self._lessons_at = 0.0
        self._lessons_asked = False  # this connection asked for them once
        self._followed: set[str] = set()  # lessons seen queued or learning (learning.py)
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
        """Whether the daemon runs this mode: its `hello` says (the last one while offline;
        before the first, no mode is known to run)."""
        return mode in self.engines

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
        self._start_failure = ""
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
        self._lessons_asked = False
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
        """What to tell the user when no daemon answers: why the daemon Start daemon launched
        stopped, or how to start one."""
        if self._start_failure:
            return self._start_failure
        how = "press Start daemon" if self.daemon_command() else "run `python3 install.py`"
        return f"No Impasto daemon answers at {self.endpoint}: {how}, then apply again."

    def daemon_command(self) -> tuple[list[str], str] | None:
        """The command (and folder) that starts the daemon of the checkout that installed us."""
        python, repo = self._install_info.get("python"), self._install_info.get("repo")
        if not python or not repo or not Path(python).exists():
            return None
        return daemon_process.daemon_command(python, self.endpoint), repo

    def start_daemon(self) -> None:
        """Start the daemon in the background (it outlives Krita), its output in a log file,
        and connect to it."""
        found = self.daemon_command()
        if found is None:
            self._say("Start the daemon yourself: `python3 install.py` in the Impasto folder.")
            return
        cmd, cwd = found
        try:
            self.started_daemon = daemon_process.StartedDaemon.start(cmd, cwd)
        except OSError as exc:
            self._say(f"Could not start the daemon ({exc}); run `python3 install.py` instead.")
            return
        self._start_failure = ""
        self._starting_until = self.clock() + 60.0
        self._next_try = self.clock() + STARTING_RETRY_SECONDS
        self._say("Starting the daemon (it loads its models; this takes a few seconds)…")

    def _check_started_daemon(self) -> None:
        """Say why the daemon Start daemon launched stopped before it answered, if it did."""
        if self.started_daemon is None or not self._starting_until:
            return
        failure = self.started_daemon.failure()
        if failure is not None:
            log.warning("%s", failure)
            self._starting_until = 0.0
            self._start_failure = failure
            self._say(failure)

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
        self._check_started_daemon()
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
            self._lessons_tick(now)
        if self.job is not None:
            self._follow_job(events)
        elif self._waiting and now - self._sent_at > REPLY_TIMEOUT:
            self._offline(self.offline_message())
        elif self.state == "connected" and not self._waiting:
            if now - self._last_ping > IDLE_PING_SECONDS:
                self._last_ping = now
                self._request("ping")

    def _reply(self, kind: str, msg_type: str, body: dict) -> None:
        if kind in LEARNING_REQUESTS:
            self._learning_reply(kind, msg_type, body)
            return
        if msg_type == "error":
            self._offline(f"The daemon refused '{kind}': {body.get('message', '')}")
            return
        if kind == "hello":
            self.hello = body
            self.engines = tuple(body.get("engines") or ())
            self._request("styles")
        elif kind == "styles":
            self.catalogue = list(body.get("styles", []))
            if self.state == "connected":  # a refresh (a learned style saved): nothing else
                self.changed()
                return
            self.state = "connected"
            self._starting_until, self._start_failure = 0.0, ""
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

    def _read_pictures(self, styles: list[StyleChoice]) -> dict[int, Pixels]:
        pictures: dict[int, Pixels] = {}
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
            spec, style_frames = build_job(
                settings, styles, content, pending.pictures, mask, maps=pending.maps
            )
        except ImpastoError as exc:
            self._say(exc.message)
            return
        frames = [capture.data] + ([capture.mask] if mask is not None else []) + style_frames
        handle = self._client.submit(spec.to_wire(), frames)
        source = {"name": capture.node.name(), "id": node_id(capture.node)}
        recipe = make_recipe(spec, source, recipe_styles(styles, node_id))
        name = result_layer_name(spec.styles)
        self.job = ActiveJob(handle, capture, name, self.clock(), recipe, spec.styles)
        self.stage = "queued"
        log.info("submitted %s (%s)", handle.id, self.job.name)
        self.changed()

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
            message = failure_text(error)
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

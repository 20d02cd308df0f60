"""The daemon: a ROUTER socket and an I/O loop that validates, plans, queues and forwards.

The loop never computes: requests are answered at once from what is in memory (the style
catalogue is rescanned by its own thread), a submitted job is resolved into a plan
(daemon.plan: names, model, working size) and queued for the worker of the daemon's device.

A client is alive while it sends anything (the client pings every 2 s while it has jobs); when it
has been silent for `client_timeout` seconds, or the socket reports it unreachable, its jobs are
cancelled, whatever they still produce is dropped, and why is remembered: a client's ping names
the jobs it waits for, and each one the daemon no longer holds gets an `error` (`job_lost`) with
that reason, or saying the daemon does not know it (it was restarted).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import torch
import zmq

from daemon import __version__
from daemon.catalogue import Catalogue
from daemon.catalogue.model_library import ModelLibrary
from daemon.catalogue.styles import StyleLibrary
from daemon.devices import DeviceProfile, available_devices, tune_allocator
from daemon.devices import profile as make_profile
from daemon.io import pixels
from daemon.learning import Learner
from daemon.nets.vgg import get_vgg
from daemon.plan import make_plan
from daemon.security import Guard
from daemon.sequences import SequenceStore
from daemon.worker import Job, Worker
from shared import protocol
from shared.errors import (
    BadRequest,
    ImpastoError,
    InternalError,
    JobLost,
    NotFound,
    QueueFull,
    TooLarge,
)
from shared.job import ENGINES, MAX_STYLES, JobSpec
from shared.keys import is_loopback
from shared.lessons import LearnSpec
from shared.protocol import HEARTBEAT_SECONDS, MAX_PING_JOBS

log = logging.getLogger(__name__)

PIPE = "inproc://impasto-events"
MAX_REQUESTS_PER_TURN = 100
# Why recently dropped jobs were dropped, told to their client when it asks about them again.
MAX_DROPPED = 1024


@dataclass
class DaemonConfig:
    endpoint: str = protocol.DEFAULT_ENDPOINT
    device: str | None = None
    memory_budget: int | None = None
    keys: Path | None = None  # a key folder (daemon.security): CURVE on, allowed clients only
    max_message_bytes: int = 2 << 30
    max_pixels: int = 16384 * 16384
    max_queue: int = 8
    client_timeout: float = 10.0
    style_dirs: list[Path] = field(default_factory=list)
    model_dirs: list[Path] = field(default_factory=list)
    vgg_weights: str = "original"
    # where learned styles go (`models/`, also scanned) and their lessons (`lessons/`); None:
    # this daemon does not learn styles
    user_dir: Path | None = None
    learn_threads: int = 1


def check_endpoint(endpoint: str, secure: bool) -> None:
    """Refuse to listen beyond this machine unless clients need keys (`secure`)."""
    parts = urlsplit(endpoint)
    if parts.scheme in ("ipc", "inproc"):
        return
    try:
        port = parts.port
    except ValueError:
        port = None
    if parts.scheme != "tcp" or not parts.hostname or port is None:
        raise BadRequest(f"endpoint {endpoint!r} must look like tcp://127.0.0.1:5747")
    if not secure and not is_loopback(endpoint):
        raise BadRequest(
            f"refusing to listen on {parts.hostname} without keys: anyone on the network could "
            "use the daemon. Make keys with `impasto keys --client NAME` and start the daemon "
            "with --keys (README: 'A daemon on another machine'), or use 127.0.0.1."
        )


class Daemon:
    """The Impasto server: call `serve()`; `stop()` from another thread or a signal ends it."""

    def __init__(self, config: DaemonConfig) -> None:
        check_endpoint(config.endpoint, secure=config.keys is not None)
        self.config = config
        tune_allocator()
        self.profile: DeviceProfile = make_profile(
            config.device, config.memory_budget, config.vgg_weights
        )
        get_vgg(self.profile.device, config.vgg_weights)  # load now: fail at start, not mid-job
        model_dirs = list(config.model_dirs)
        if config.user_dir is not None and config.user_dir / "models" not in model_dirs:
            model_dirs.append(config.user_dir / "models")
        self.models = ModelLibrary(model_dirs)
        self.catalogue = Catalogue(StyleLibrary(config.style_dirs), self.models)
        self.ctx = zmq.Context()
        self.sock = self.ctx.socket(zmq.ROUTER)
        self.sock.setsockopt(zmq.ROUTER_MANDATORY, 1)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.setsockopt(zmq.MAXMSGSIZE, config.max_message_bytes)
        self.sock.setsockopt(zmq.RCVHWM, 64)  # bounds what a flooding client can queue
        # … and what a client that never reads can make the daemon hold: 256 replies (a `styles`
        # reply is ~170 KB with 17 thumbnails), then it counts as gone (`_send_raw`)
        self.sock.setsockopt(zmq.SNDHWM, 256)
        self.guard = Guard(self.ctx, config.keys) if config.keys is not None else None
        if self.guard is not None:
            self.guard.secure(self.sock)
        self.events = self.ctx.socket(zmq.PULL)
        self.events.bind(PIPE)
        self.sock.bind(config.endpoint)
        self.endpoint = self.sock.getsockopt_string(zmq.LAST_ENDPOINT)
        self.sequences = SequenceStore()
        self.learner: Learner | None = None
        if config.user_dir is not None:
            self.learner = Learner(
                config.user_dir / "lessons",
                config.user_dir / "models",
                self._learning_base(),
                str(self.profile.device),
                config.learn_threads,
            )
        self.worker = Worker(
            self.ctx, PIPE, self.profile, self.catalogue, self.models, self.sequences, self.learner
        )
        self.jobs: dict[tuple[bytes, str], Job] = {}
        self.last_seen: dict[bytes, float] = {}
        self.dropped: OrderedDict[tuple[bytes, str], JobLost] = OrderedDict()  # (client, id) → why
        self.started = time.monotonic()
        self.served = 0
        self._stopping = threading.Event()  # set once, by stop(): also before serve() runs

    # -- loop -------------------------------------------------------------------------------------
    def serve(self) -> None:
        """Serve until `stop()`."""
        self.catalogue.start()
        self.worker.start()
        if self.learner is not None:
            self.learner.start()
        poller = zmq.Poller()
        poller.register(self.sock, zmq.POLLIN)
        poller.register(self.events, zmq.POLLIN)
        if self.guard is not None:
            poller.register(self.guard.monitor, zmq.POLLIN)
        log.info(
            "Impasto daemon %s listening on %s (device %s)",
            __version__,
            self.endpoint,
            self.profile.device,
        )
        try:
            while not self._stopping.is_set():
                ready = dict(poller.poll(250))
                if self.events in ready:
                    self._drain_events()
                if self.sock in ready:
                    self._drain_requests()
                if self.guard is not None and self.guard.monitor in ready:
                    self.guard.log_refusals()
                self._reap_silent_clients()
                self.sequences.expire()
        finally:
            for job in self.jobs.values():
                job.cancel.set()
            self.worker.stop()
            self.worker.join()  # a cancelled job ends within one step; its socket closes with it
            if self.learner is not None:
                self.learner.stop()  # the lesson saves; it resumes when the daemon starts again
            self.catalogue.stop()
            if self.guard is not None:
                self.guard.stop()
            self.ctx.destroy(linger=0)
            log.info("daemon stopped")

    def stop(self) -> None:
        """End `serve()` (from a signal handler or another thread; also before it started)."""
        self._stopping.set()

    def _drain_requests(self) -> None:
        for _ in range(MAX_REQUESTS_PER_TURN):  # then forward events and reap, even under a flood
            try:
                frames = self.sock.recv_multipart(zmq.NOBLOCK, copy=False)
            except zmq.Again:
                return
            client, rest = frames[0].bytes, frames[1:]
            self.last_seen[client] = time.monotonic()
            self._handle(client, rest)

    def _drain_events(self) -> None:
        while True:
            try:
                kind, client, job_id, *msg = self.events.recv_multipart(zmq.NOBLOCK, copy=False)
            except zmq.Again:
                return
            key = (client.bytes, job_id.bytes.decode())
            job = self.jobs.get(key)
            if job is None:
                continue
            if kind.bytes == b"final":
                del self.jobs[key]
            if job.silent:
                continue
            self._send_raw(client.bytes, msg)

    def _send_raw(self, client: bytes, msg: list) -> None:
        try:
            self.sock.send_multipart([client, *msg], zmq.NOBLOCK, copy=False)
        except zmq.ZMQError as exc:  # EHOSTUNREACH: the client is gone; EAGAIN: it stopped reading
            log.info("client %s unreachable (%s); cancelling its jobs", client.hex(), exc)
            self._forget_client(
                client,
                "The daemon could not reach this client (it stopped reading its messages), "
                "so it stopped the job",
            )

    def _reply(
        self, client: bytes, msg_type: str, msg_id: str, body: dict, frames: list = ()
    ) -> None:
        self._send_raw(client, protocol.encode(msg_type, msg_id, body, frames))

    def _error(self, client: bytes, msg_id: str, exc: ImpastoError) -> None:
        self._reply(client, "error", msg_id, exc.to_wire())

    def _forget_client(self, client: bytes, why: str) -> None:
        """Cancel the client's jobs, drop what they still say, and remember why for the client;
        its sequences' kept frames go too."""
        self.sequences.drop_client(client)
        for key, job in list(self.jobs.items()):
            if key[0] == client:
                if not job.silent:
                    self._remember_dropped(key, why)
                job.silent = True
                with job.lock:
                    job.cancel.set()
                    queued = job.state == "queued"
                if queued:  # the worker skips it without a final event
                    del self.jobs[key]

    def _remember_dropped(self, key: tuple[bytes, str], why: str) -> None:
        self.dropped[key] = JobLost(f"{why}. Nothing was changed; apply again.")
        while len(self.dropped) > MAX_DROPPED:
            self.dropped.popitem(last=False)

    def _reap_silent_clients(self) -> None:
        # pings that arrived while this loop was held up (a worker holding the GIL, e.g. while
        # exporting the fast network) count before anyone is judged silent
        self._drain_requests()
        now = time.monotonic()
        owners = {owner for (owner, _), job in self.jobs.items() if not job.silent}
        for client in [c for c, seen in self.last_seen.items() if c not in owners]:
            if now - self.last_seen[client] > self.config.client_timeout:
                del self.last_seen[client]  # idle clients (status, styles…) are forgotten
                self.sequences.drop_client(client)  # and so is what their sequences kept
        for client in owners:
            silent = now - self.last_seen.get(client, 0.0)
            if silent > self.config.client_timeout:
                log.info("client %s silent for %.0f s; cancelling its jobs", client.hex(), silent)
                self._forget_client(
                    client,
                    f"The daemon heard nothing from this client for {silent:.0f} s (its limit "
                    f"is {self.config.client_timeout:g} s: was the editor busy or the computer "
                    "asleep?), so it stopped the job",
                )

    # -- requests ---------------------------------------------------------------------------------
    def _handle(self, client: bytes, frames: list) -> None:
        self.served += 1
        try:
            msg_type, msg_id, body, buffers = protocol.decode(frames, protocol.REQUESTS)
        except ImpastoError as exc:
            self._error(client, protocol.peek_id(frames), exc)
            return
        try:
            handler = getattr(self, f"_on_{msg_type}")
            handler(client, msg_id, body, buffers)
        except ImpastoError as exc:
            self._error(client, msg_id, exc)
        except Exception as exc:  # never let one request take the daemon down
            log.exception("request %s (%s) failed", msg_id, msg_type)
            self._error(
                client, msg_id, InternalError(f"{type(exc).__name__}: {exc}; see the daemon log")
            )

    def limits(self) -> dict:
        return {
            "max_message_bytes": self.config.max_message_bytes,
            "max_pixels": self.config.max_pixels,
            "max_queue": self.config.max_queue,
            "max_styles": MAX_STYLES,
            "client_timeout": self.config.client_timeout,
            "heartbeat": HEARTBEAT_SECONDS,
        }

    def _on_ping(self, client: bytes, msg_id: str, body: dict, buffers: list) -> None:
        """Pong; then an `error` event for each job the client still waits for that this
        daemon no longer holds, so no client waits for a job that will never end."""
        waiting = body.get("jobs", [])
        if (
            not isinstance(waiting, list)
            or len(waiting) > MAX_PING_JOBS
            or not all(isinstance(j, str) and 0 < len(j) <= 128 for j in waiting)
        ):
            raise BadRequest(f"'jobs' must be a list of at most {MAX_PING_JOBS} job ids")
        self._reply(client, "pong", msg_id, {})
        for job_id in waiting:
            if (client, job_id) in self.jobs:
                continue
            lost = self.dropped.get((client, job_id)) or JobLost(
                f"The daemon has no job {job_id}: it was restarted since the job was sent, "
                "or it stopped the job while this client was not answering. Nothing was "
                "changed; apply again."
            )
            self._reply(client, "error", job_id, lost.to_wire())

    def _on_hello(self, client: bytes, msg_id: str, body: dict, buffers: list) -> None:
        catalogue = self.catalogue.snapshot
        self._reply(
            client,
            "hello",
            msg_id,
            {
                "daemon": "impasto",
                "version": __version__,
                "protocol": protocol.PROTOCOL_VERSION,
                "torch": torch.__version__,
                "devices": available_devices(),
                "device": self.profile.to_wire(),
                "engines": list(ENGINES),
                "styles": catalogue.names(),
                "engine_styles": {e: catalogue.names(e) for e in ENGINES},
                "models": sorted(catalogue.models),
                "limits": self.limits(),
            },
        )

    def _on_styles(self, client: bytes, msg_id: str, body: dict, buffers: list) -> None:
        paintings = self.catalogue.snapshot.paintings
        styles = [paintings[name].to_wire() for name in sorted(paintings)]
        self._reply(client, "styles", msg_id, {"styles": styles})

    def _on_status(self, client: bytes, msg_id: str, body: dict, buffers: list) -> None:
        jobs = []
        for (owner, job_id), job in self.jobs.items():
            entry = job.summary()
            if owner == client:
                entry["id"] = job_id
            entry["mine"] = owner == client
            jobs.append(entry)
        self._reply(
            client,
            "status",
            msg_id,
            {
                "version": __version__,
                "device": self.profile.to_wire(),
                "uptime_s": time.monotonic() - self.started,
                "requests_served": self.served,
                "queued": sum(j.state == "queued" for j in self.jobs.values()),
                "running": sum(j.state == "running" for j in self.jobs.values()),
                "jobs": jobs,
                "sequences": len(self.sequences),  # sequences with a kept frame (all clients)
            },
        )

    def _on_cancel(self, client: bytes, msg_id: str, body: dict, buffers: list) -> None:
        job_id = body.get("job")
        job = self.jobs.get((client, job_id)) if isinstance(job_id, str) else None
        if job is None:
            raise NotFound(f"no running or queued job {job_id!r} of this client")
        with job.lock:
            job.cancel.set()
            state = job.state
        if job.plan.spec.sequence is not None:  # a cancelled frame ends its sequence
            self.sequences.drop(client, job.plan.spec.sequence.id)
        self._reply(client, "cancel", msg_id, {"job": job_id, "state": state})
        if state == "queued":  # the worker will skip it; tell the client now
            self.jobs.pop((client, job_id), None)
            self._reply(client, "cancelled", job_id, {})

    def _on_submit(self, client: bytes, msg_id: str, body: dict, buffers: list) -> None:
        if (client, msg_id) in self.jobs:
            raise BadRequest(f"job id {msg_id!r} is already in use")
        spec = JobSpec.from_wire(body)
        self._check_limits(spec, buffers)
        plan = make_plan(spec, self.catalogue.snapshot, self.profile)
        if len(self.jobs) >= self.config.max_queue:
            raise QueueFull(
                f"{len(self.jobs)} jobs are already queued or running; try again shortly"
            )
        job = Job(client, msg_id, plan, buffers)
        self.jobs[(client, msg_id)] = job
        self._reply(client, "accepted", msg_id, {"position": len(self.jobs) - 1})
        self.worker.jobs.put(job)

    # -- learning -----------------------------------------------------------------------------
    def _learning_base(self) -> Path:
        """The model learned styles extend: the first shipped one."""
        built_in = [m for m in self.models.models().values() if m.source == "built-in"]
        if not built_in:
            raise BadRequest("no shipped fast model to learn styles with")
        return built_in[0].path

    def _the_learner(self) -> Learner:
        if self.learner is None:
            raise BadRequest("this daemon has no user folder to learn styles into")
        return self.learner

    def _on_learn(self, client: bytes, msg_id: str, body: dict, buffers: list) -> None:
        learner = self._the_learner()
        spec = LearnSpec.from_wire(body)
        if len(buffers) != 1 or spec.image.frame != 1:
            raise BadRequest("learn carries the painting's pixels as its one frame (frame 1)")
        if spec.image.pixels > self.config.max_pixels:
            raise TooLarge(
                f"the painting claims {spec.image.width}x{spec.image.height} pixels; the limit "
                f"is {self.config.max_pixels} pixels"
            )
        spec.image.check_buffer(len(buffers[0]), "painting")
        rgb = pixels.decode(spec.image, buffers[0]).rgb
        rgb8 = rgb[0].clamp(0, 1).mul(255).round().byte().permute(1, 2, 0).numpy()
        taken = set(self.catalogue.snapshot.paintings)
        lesson = learner.submit(
            spec.name, rgb8, spec.minutes, spec.painting, spec.licence, taken, spec.content
        )
        self._reply(client, "learn", msg_id, lesson)

    def _on_lessons(self, client: bytes, msg_id: str, body: dict, buffers: list) -> None:
        lessons = self.learner.lessons() if self.learner is not None else []
        self._reply(client, "lessons", msg_id, {"lessons": lessons})

    def _on_stop_learning(self, client: bytes, msg_id: str, body: dict, buffers: list) -> None:
        name = body.get("name")
        if not isinstance(name, str):
            raise BadRequest("stop_learning needs the lesson's 'name'")
        self._reply(client, "stop_learning", msg_id, self._the_learner().stop_lesson(name))

    def _check_limits(self, spec: JobSpec, buffers: list) -> None:
        """Every claim in the job checked against the frames and the limits, before decoding."""
        total = sum(len(b) for b in buffers)
        if total > self.config.max_message_bytes:
            raise TooLarge(f"message of {total} bytes exceeds {self.config.max_message_bytes}")
        used = set()
        for what, desc in spec.named_images:
            if desc.pixels > self.config.max_pixels:
                raise TooLarge(
                    f"{what} claims {desc.width}x{desc.height} pixels; the limit is "
                    f"{self.config.max_pixels} pixels"
                )
            if desc.frame > len(buffers):
                raise BadRequest(
                    f"{what} points at frame {desc.frame} but the message has {len(buffers)}"
                )
            if desc.frame in used:
                raise BadRequest(f"{what} reuses frame {desc.frame}")
            used.add(desc.frame)
            desc.check_buffer(len(buffers[desc.frame - 1]), what)
        if len(buffers) != len(used):
            raise BadRequest(
                f"the message has {len(buffers)} pixel frames but the job uses {len(used)}"
            )

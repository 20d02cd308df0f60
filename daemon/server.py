"""The daemon: a ROUTER socket and an I/O loop that validates, queues and forwards; never computes.

Requests are answered at once; jobs go to the worker of the daemon's device. A client is alive
while it sends anything (the client pings every 2 s while it has jobs); when it has been silent
for `client_timeout` seconds, or the socket reports it unreachable, its jobs are cancelled and
whatever they still produce is dropped.
"""

from __future__ import annotations

import ipaddress
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import torch
import zmq

from daemon import __version__
from daemon.devices import DeviceProfile, available_devices
from daemon.devices import profile as make_profile
from daemon.model_library import ModelLibrary
from daemon.styles import StyleLibrary
from daemon.vgg import get_vgg
from daemon.worker import Job, Worker
from shared import protocol
from shared.client import HEARTBEAT_SECONDS
from shared.errors import (
    BadRequest,
    ImpastoError,
    InternalError,
    NotFound,
    QueueFull,
    TooLarge,
    UnknownStyle,
)
from shared.job import ENGINES, MAX_STYLES, JobSpec

log = logging.getLogger(__name__)

PIPE = "inproc://impasto-events"
MAX_REQUESTS_PER_TURN = 100


@dataclass
class DaemonConfig:
    endpoint: str = protocol.DEFAULT_ENDPOINT
    device: str | None = None
    memory_budget: int | None = None
    allow_remote: bool = False
    max_message_bytes: int = 2 << 30
    max_pixels: int = 16384 * 16384
    max_queue: int = 8
    client_timeout: float = 10.0
    style_dirs: list[Path] = field(default_factory=list)
    model_dirs: list[Path] = field(default_factory=list)
    vgg_weights: str = "original"


def check_endpoint(endpoint: str, allow_remote: bool) -> None:
    """Refuse to listen beyond this machine unless explicitly allowed."""
    parts = urlsplit(endpoint)
    if parts.scheme in ("ipc", "inproc"):
        return
    try:
        port = parts.port
    except ValueError:
        port = None
    if parts.scheme != "tcp" or not parts.hostname or port is None:
        raise BadRequest(f"endpoint {endpoint!r} must look like tcp://127.0.0.1:5747")
    if allow_remote:
        return
    host = parts.hostname
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise BadRequest(
            f"refusing to listen on {host}: anyone on the network could use the daemon. "
            "Use 127.0.0.1, or pass --allow-remote if you really mean it."
        )


class Daemon:
    """The Impasto server: call `serve()`; `stop()` from another thread or a signal ends it."""

    def __init__(self, config: DaemonConfig) -> None:
        check_endpoint(config.endpoint, config.allow_remote)
        self.config = config
        self.profile: DeviceProfile = make_profile(
            config.device, config.memory_budget, config.vgg_weights
        )
        get_vgg(self.profile.device, config.vgg_weights)  # load now: fail at start, not mid-job
        self.library = StyleLibrary(config.style_dirs)
        self.models = ModelLibrary(config.model_dirs)
        self.ctx = zmq.Context()
        self.sock = self.ctx.socket(zmq.ROUTER)
        self.sock.setsockopt(zmq.ROUTER_MANDATORY, 1)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.setsockopt(zmq.MAXMSGSIZE, config.max_message_bytes)
        self.sock.setsockopt(zmq.RCVHWM, 64)  # bounds what a flooding client can queue
        self.events = self.ctx.socket(zmq.PULL)
        self.events.bind(PIPE)
        self.sock.bind(config.endpoint)
        self.endpoint = self.sock.getsockopt_string(zmq.LAST_ENDPOINT)
        self.worker = Worker(self.ctx, PIPE, self.profile, self.library, self.models)
        self.jobs: dict[tuple[bytes, str], Job] = {}
        self.last_seen: dict[bytes, float] = {}
        self.started = time.monotonic()
        self.served = 0
        self._running = False

    # -- loop -------------------------------------------------------------------------------------
    def serve(self) -> None:
        """Serve until `stop()`."""
        self.worker.start()
        self._running = True
        poller = zmq.Poller()
        poller.register(self.sock, zmq.POLLIN)
        poller.register(self.events, zmq.POLLIN)
        log.info(
            "Impasto daemon %s listening on %s (device %s)",
            __version__,
            self.endpoint,
            self.profile.device,
        )
        try:
            while self._running:
                ready = dict(poller.poll(250))
                if self.events in ready:
                    self._drain_events()
                if self.sock in ready:
                    self._drain_requests()
                self._reap_silent_clients()
        finally:
            for job in self.jobs.values():
                job.cancel.set()
            self.worker.stop()
            self.worker.join(timeout=5)
            self.ctx.destroy(linger=0)  # also if the worker is still inside a long step
            log.info("daemon stopped")

    def stop(self) -> None:
        self._running = False

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
                kind, client, job_id, serial, *msg = self.events.recv_multipart(
                    zmq.NOBLOCK, copy=False
                )
            except zmq.Again:
                return
            key = (client.bytes, job_id.bytes.decode())
            job = self.jobs.get(key)
            if job is None or job.serial != int.from_bytes(serial.bytes, "little"):
                continue  # a finished job whose id the client has since reused
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
            self._forget_client(client)

    def _reply(
        self, client: bytes, msg_type: str, msg_id: str, body: dict, frames: list = ()
    ) -> None:
        self._send_raw(client, protocol.encode(msg_type, msg_id, body, frames))

    def _error(self, client: bytes, msg_id: str, exc: ImpastoError) -> None:
        self._reply(client, "error", msg_id, exc.to_wire())

    def _forget_client(self, client: bytes) -> None:
        for key, job in list(self.jobs.items()):
            if key[0] == client:
                job.silent = True
                with job.lock:
                    job.cancel.set()
                    queued = job.state == "queued"
                if queued:  # the worker skips it without a final event
                    del self.jobs[key]

    def _reap_silent_clients(self) -> None:
        now = time.monotonic()
        owners = {owner for (owner, _), job in self.jobs.items() if not job.silent}
        for client in [c for c, seen in self.last_seen.items() if c not in owners]:
            if now - self.last_seen[client] > self.config.client_timeout:
                del self.last_seen[client]  # idle clients (status, styles…) are forgotten
        for client in owners:
            if now - self.last_seen.get(client, 0.0) > self.config.client_timeout:
                log.info(
                    "client %s silent for %.0f s; cancelling its jobs",
                    client.hex(),
                    self.config.client_timeout,
                )
                self._forget_client(client)

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
        self._reply(client, "pong", msg_id, {})

    def _on_hello(self, client: bytes, msg_id: str, body: dict, buffers: list) -> None:
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
                "styles": self.library.names(),
                "fast_styles": self.models.names(),
                "models": sorted(self.models.models()),
                "limits": self.limits(),
            },
        )

    def _on_styles(self, client: bytes, msg_id: str, body: dict, buffers: list) -> None:
        styles = self.library.describe() + self.models.describe()
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
        self._reply(client, "cancel", msg_id, {"job": job_id, "state": state})
        if state == "queued":  # the worker will skip it; tell the client now
            self.jobs.pop((client, job_id), None)
            self._reply(client, "cancelled", job_id, {})

    def _on_submit(self, client: bytes, msg_id: str, body: dict, buffers: list) -> None:
        if (client, msg_id) in self.jobs:
            raise BadRequest(f"job id {msg_id!r} is already in use")
        spec = JobSpec.from_wire(body)
        self._check_limits(spec, buffers)
        self._check_styles(spec)
        if len(self.jobs) >= self.config.max_queue:
            raise QueueFull(
                f"{len(self.jobs)} jobs are already queued or running; try again shortly"
            )
        job = Job(client, msg_id, spec, buffers)
        self.jobs[(client, msg_id)] = job
        self._reply(client, "accepted", msg_id, {"position": len(self.jobs) - 1})
        self.worker.jobs.put(job)

    def _check_styles(self, spec: JobSpec) -> None:
        """Named styles must exist for the job's engine (cheap: cards and names only)."""
        fast = spec.engine == "fast" or (spec.engine == "hires" and spec.base == "fast")
        if fast:
            if any(ref.name is None for ref in spec.styles):
                raise BadRequest(
                    "fast mode uses a model's styles; send a picture as the style with gatys mode"
                )
            self.models.resolve([(ref.name, ref.weight) for ref in spec.styles])
        if spec.engine == "fast":
            return
        for ref in spec.styles:
            if ref.name is None or ref.name in self.library.entries():
                continue
            try:
                model, weights = self.models.resolve([(ref.name, 1.0)])
            except ImpastoError:
                raise UnknownStyle(
                    f"unknown style {ref.name!r}; style images: {', '.join(self.library.names())}"
                    f"; fast styles: {', '.join(self.models.names())}"
                ) from None
            if not model.styles[int(weights.argmax())].painting_jpeg:
                raise UnknownStyle(
                    f"{ref.name!r} is a fast-mode style whose model does not carry its painting; "
                    f"use fast mode or one of the style images: {', '.join(self.library.names())}"
                )

    def _check_limits(self, spec: JobSpec, buffers: list) -> None:
        """Every claim in the job checked against the frames and the limits, before decoding."""
        total = sum(len(b) for b in buffers)
        if total > self.config.max_message_bytes:
            raise TooLarge(f"message of {total} bytes exceeds {self.config.max_message_bytes}")
        used = set()
        for i, desc in enumerate(spec.images):
            what = "content" if i == 0 else f"style image {i}"
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

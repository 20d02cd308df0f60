"""The Impasto client: one DEALER socket, usable blocking or driven by polls from a UI timer.

Blocking: ``Client().run(body, frames)`` returns the result event or raises a typed error.
Non-blocking: ``job = client.submit(body, frames)`` then call ``client.poll()`` from a timer; each
call returns the events that arrived (never waits unless asked), keeps the daemon informed that this
client is alive, and marks jobs failed with `Unavailable` when the daemon falls silent.
Sequences (clips, animations): ``for result in client.stylize_frames(frames, job)``.
Only pyzmq and msgpack are needed, so this runs inside Krita's and GIMP's Python.

A client that was not listening for a while (its process stopped, the computer asleep, the editor
busy) cannot blame the daemon for the silence meanwhile: on resuming it pings at once and gives the
daemon a whole `timeout` to answer, so its jobs end with what the daemon says (`JobLost` with the
daemon's reason when it stopped them) rather than `Unavailable`.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import zmq

from shared import protocol
from shared.errors import (
    ImpastoError,
    JobCancelled,
    JobLost,
    Timeout,
    Unavailable,
    UnsupportedVersion,
    error_from_code,
)
from shared.job import JobSpec, SequenceRef
from shared.keys import client_keys
from shared.lessons import LearnSpec

log = logging.getLogger(__name__)

# Not listening for longer than a heartbeat (the client pings every heartbeat while it has jobs,
# and the daemon speaks to an idle job only when pinged) means the silence meanwhile proves nothing.
RESUME_GAP_SECONDS = protocol.HEARTBEAT_SECONDS


def default_endpoint() -> str:
    """The daemon endpoint: $IMPASTO_ENDPOINT when set, else the daemon's default."""
    return os.environ.get(protocol.ENDPOINT_ENV) or protocol.DEFAULT_ENDPOINT


@dataclass
class Event:
    """One message from the daemon: a job event or a reply."""

    type: str
    id: str
    body: dict
    frames: list = field(default_factory=list)

    def image_bytes(self, index: int = 0) -> tuple[protocol.ImageDesc, bytes]:
        """The descriptor and raw bytes of the index-th image of a result or preview."""
        images = self.body.get("images") or (
            [self.body["preview"]] if "preview" in self.body else []
        )
        desc = protocol.ImageDesc.from_wire(images[index])
        frame = self.frames[desc.frame - 1]
        return desc, frame.bytes if hasattr(frame, "bytes") else bytes(frame)


@dataclass
class JobHandle:
    """Client-side view of a submitted job, updated by `Client.poll`. A failed job's `error` is
    typed: `JobLost` carries the daemon's reason (it stopped the job while this client was
    silent, or it was restarted), `Unavailable` means the daemon did not answer at all."""

    id: str
    state: str = "sent"  # sent → accepted → running → done | failed | cancelled
    progress: Event | None = None
    result: Event | None = None
    error: ImpastoError | None = None

    @property
    def finished(self) -> bool:
        return self.state in ("done", "failed", "cancelled")


class Client:
    """A connection to the Impasto daemon."""

    def __init__(
        self,
        endpoint: str | None = None,
        timeout: float = 10.0,
        context: zmq.Context | None = None,
        server_key: str | Path | None = None,
        client_key: str | Path | None = None,
    ) -> None:
        """`server_key`/`client_key`: key files for a daemon on another machine (CURVE); by
        default they come from the environment or the user's folder (see shared.keys)."""
        self.endpoint = endpoint or default_endpoint()
        self.timeout = timeout
        self.keys = client_keys(self.endpoint, server_key, client_key)
        self._ctx = context or zmq.Context.instance()
        self._sock = self._ctx.socket(zmq.DEALER)
        self._sock.setsockopt(zmq.LINGER, 0)
        if self.keys is not None:
            self.keys.apply(self._sock)
        self._sock.connect(self.endpoint)
        self.jobs: dict[str, JobHandle] = {}
        self._replies: dict[str, Event] = {}
        self._awaited: set[str] = set()  # request ids whose replies `request` waits for
        self._last_heard = time.monotonic()
        self._listened = self._last_heard  # when this client last looked at its socket
        self._resumed = -math.inf  # when it last came back from not listening
        self._last_ping = -math.inf

    # -- plumbing -------------------------------------------------------------------------------
    def close(self) -> None:
        """Close the socket, giving messages still queued (a cancel just sent) up to 0.5 s to
        leave; the daemon then stops hearing from this client and cancels its jobs."""
        self._sock.close(linger=500)

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def send(
        self, msg_type: str, body: dict | None = None, frames: Sequence = (), msg_id: str = ""
    ) -> str:
        """Send one request without waiting; returns its id."""
        msg_id = msg_id or uuid.uuid4().hex
        try:
            self._sock.send_multipart(
                protocol.encode(msg_type, msg_id, body, frames), zmq.NOBLOCK, copy=False
            )
        except zmq.Again:
            raise Unavailable(self._unavailable_message()) from None
        return msg_id

    def _unavailable_message(self) -> str:
        if self.keys is not None:
            return (
                f"No Impasto daemon answered at {self.endpoint}. Check that it runs with "
                "--keys, that the daemon's public key here is its own, and that it holds this "
                "client's public key (`impasto keys --client NAME` on its machine)."
            )
        return (
            f"No Impasto daemon answered at {self.endpoint}. Start it with `impasto daemon` "
            f"(or `python3 install.py`) and try again."
        )

    def _receive(self, wait: float) -> list[Event]:
        """Receive every waiting message, waiting up to `wait` seconds for the first."""
        events: list[Event] = []
        deadline = time.monotonic() + max(wait, 0.0)
        while True:
            left = 0 if events else max(0.0, deadline - time.monotonic())
            ready = self._sock.poll(int(left * 1000))
            self._listening(left)
            if not ready:
                return events
            frames = self._sock.recv_multipart(copy=False)
            self._last_heard = time.monotonic()
            try:
                msg_type, msg_id, body, rest = protocol.decode(
                    frames, protocol.JOB_EVENTS + protocol.REPLIES
                )
            except UnsupportedVersion as exc:  # whatever waits for this id learns why
                msg_type, msg_id, body, rest = "error", protocol.peek_id(frames), exc.to_wire(), []
            except ImpastoError as exc:
                log.warning("dropping a message from the daemon that does not decode: %s", exc)
                continue
            events.append(Event(msg_type, msg_id, body, rest))

    def _listening(self, waited: float = 0.0) -> None:
        """Note that this client looks at its socket now, after asking to wait `waited` s; a gap
        much longer than that since it last looked means it was stopped, asleep or busy."""
        now = time.monotonic()
        gap = now - self._listened - waited
        self._listened = now
        if gap <= RESUME_GAP_SECONDS:
            return
        if self._last_heard >= self._resumed:  # one fresh chance per answer, not per gap
            self._resumed = now
        self._last_ping = -math.inf  # ask the daemon at once
        if any(not j.finished for j in self.jobs.values()):
            log.info("not listening for %.0f s (stopped, asleep or busy); asking the daemon", gap)

    def _dispatch(self, event: Event) -> None:
        job = self.jobs.get(event.id)
        if job is None:
            if event.id in self._awaited:
                self._replies[event.id] = event
            return
        if job.finished:  # its fate is known; a later `job_lost` for it is an echo
            return
        if event.type == "accepted":
            job.state = "accepted"
        elif event.type == "progress":
            job.state, job.progress = "running", event
        elif event.type == "result":
            job.state, job.result = "done", event
        elif event.type == "cancelled":
            job.state, job.error = "cancelled", JobCancelled("the job was cancelled")
        elif event.type == "error":
            job.state = "failed"
            job.error = error_from_code(event.body.get("code", ""), event.body.get("message", ""))

    # -- non-blocking API -------------------------------------------------------------------------
    def poll(self, wait: float = 0.0) -> list[Event]:
        """Process what arrived (waiting up to `wait` s); returns the events, newest last."""
        self._listening()
        now = time.monotonic()
        active = [j for j in self.jobs.values() if not j.finished]
        if active and now - self._last_ping >= protocol.HEARTBEAT_SECONDS:
            self._last_ping = now
            # Naming the jobs we wait for lets the daemon say when it no longer has one.
            self.send("ping", {"jobs": [j.id for j in active[: protocol.MAX_PING_JOBS]]})
        events = self._receive(wait)
        for event in events:
            self._dispatch(event)
        if active and not events and self._silent_for() > self.timeout:
            for job in active:
                job.state, job.error = "failed", Unavailable(self._unavailable_message())
        return events

    def _silent_for(self) -> float:
        """Seconds the daemon has had to say something: since its last message or since this
        client came back from not listening, whichever is later."""
        return time.monotonic() - max(self._last_heard, self._resumed)

    def submit(self, body: dict, frames: Sequence = ()) -> JobHandle:
        """Send a job; progress and the result arrive through `poll`."""
        job = JobHandle(id=uuid.uuid4().hex)
        if not any(not j.finished for j in self.jobs.values()):
            # The silence clock starts with the first job; not listening before it was harmless.
            self._last_heard = self._listened = time.monotonic()
        self.jobs[job.id] = job
        self.send("submit", body, frames, msg_id=job.id)
        return job

    def forget(self, job_id: str) -> None:
        """Drop a job's handle (and its result's frames): a long-lived client calls this for
        jobs it is done with or no longer waits for; later events for the job are ignored."""
        self.jobs.pop(job_id, None)

    def cancel(self, job_id: str) -> None:
        """Ask the daemon to cancel a job; the `cancelled` event follows through `poll`."""
        self.send("cancel", {"job": job_id})

    # -- blocking API -----------------------------------------------------------------------------
    def request(
        self,
        msg_type: str,
        body: dict | None = None,
        timeout: float | None = None,
        frames: Sequence = (),
    ) -> Event:
        """Send a request and wait for its reply; raises the reply's error or Unavailable."""
        msg_id = uuid.uuid4().hex
        self._awaited.add(msg_id)
        try:
            self.send(msg_type, body, frames, msg_id=msg_id)
            deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
            while msg_id not in self._replies:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise Unavailable(self._unavailable_message())
                self.poll(min(left, 0.25))
            reply = self._replies.pop(msg_id)
        finally:
            self._awaited.discard(msg_id)
        if reply.type == "error":
            raise error_from_code(reply.body.get("code", ""), reply.body.get("message", ""))
        return reply

    def hello(self) -> dict:
        """The daemon's version and capabilities (devices, engines, styles, limits)."""
        return self.request("hello", {"client": "impasto-python"}).body

    def styles(self) -> list[dict]:
        """Built-in styles the daemon offers."""
        return self.request("styles").body["styles"]

    def status(self) -> dict:
        """Queue, running jobs and devices."""
        return self.request("status").body

    def learn(self, spec: LearnSpec, pixels: bytes) -> dict:
        """Ask the daemon to learn a painting (its pixels as `spec.image` describes them, frame
        1) as a fast style; returns the lesson's summary (shared.lessons.LESSON_FIELDS)."""
        return self.request("learn", spec.to_wire(), frames=[pixels]).body

    def lessons(self) -> list[dict]:
        """Every lesson the daemon knows: queued, learning, done, cancelled or failed."""
        return self.request("lessons").body["lessons"]

    def stop_learning(self, name: str) -> dict:
        """Stop a lesson; the style keeps what it learned so far."""
        return self.request("stop_learning", {"name": name}).body

    def wait(
        self,
        job: JobHandle,
        on_event: Callable[[Event], None] | None = None,
        timeout: float | None = None,
    ) -> Event:
        """Block until the job finishes; returns the result event or raises its error."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while not job.finished:
            if deadline is not None and time.monotonic() > deadline:
                raise Timeout(f"job {job.id} did not finish within {timeout:g} s")
            for event in self.poll(0.2):
                if on_event is not None and event.id == job.id:
                    on_event(event)
        if job.error is not None:
            raise job.error
        assert job.result is not None
        return job.result

    def run(
        self,
        body: dict,
        frames: Sequence = (),
        on_event: Callable[[Event], None] | None = None,
        timeout: float | None = None,
    ) -> Event:
        """Submit a job and block until its result (cancelling it if interrupted). A job the
        daemon lost (it stopped the job while this client was asleep or busy, or it was
        restarted) is sent once more, with what is left of `timeout`."""
        deadline = None if timeout is None else time.monotonic() + timeout
        try:
            return self._run_once(body, frames, on_event, timeout)
        except JobLost as exc:
            log.warning("%s Sending the job again.", exc.message)
        left = None if deadline is None else max(0.0, deadline - time.monotonic())
        return self._run_once(body, frames, on_event, left)

    def _run_once(
        self,
        body: dict,
        frames: Sequence,
        on_event: Callable[[Event], None] | None,
        timeout: float | None,
    ) -> Event:
        """Submit a job and block until its result; the client keeps nothing of it after."""
        job = self.submit(body, frames)
        try:
            return self.wait(job, on_event, timeout)
        except (KeyboardInterrupt, Timeout):
            self.cancel(job.id)
            raise
        finally:
            self.forget(job.id)

    def stylize_frames(
        self,
        frames: Iterable,
        job: JobSpec,
        extra: Sequence = (),
        on_event: Callable[[Event], None] | None = None,
        timeout: float | None = None,
    ) -> Iterator[Event]:
        """Stylise a sequence of frames with one job's settings, one frame at a time:
        ``for result in client.stylize_frames(frames, job): ...``.

        `frames` yields pixel buffers laid out as `job.content` describes (frame 1 of each
        message); `extra` are the buffers of the job's other images (a mask, style pictures,
        style maps: frames 2…), sent with every frame. Each result is yielded before the next
        frame is sent and the client keeps nothing of a frame once its result is yielded, so
        memory stays flat whatever the clip's length. Unless `job.temporal` is False the daemon
        keeps each frame consistent with the one before (optical flow); it frees what it kept
        after the last frame, or when this client goes away or stops for long: a frame the
        daemon then lost raises `JobLost` with its reason (the frames before it are gone from
        the daemon, so the frame is not sent again)."""
        sequence = uuid.uuid4().hex[:16]
        source = iter(frames)
        try:
            current = next(source)
        except StopIteration:
            return
        index = 0
        while True:
            try:
                following = next(source)
                last = False
            except StopIteration:
                following, last = None, True
            spec = dataclasses.replace(job, sequence=SequenceRef(sequence, index, last))
            yield self._run_once(spec.to_wire(), [current, *extra], on_event, timeout)
            if last:
                return
            current, index = following, index + 1

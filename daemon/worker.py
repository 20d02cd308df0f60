"""A worker thread per device: takes jobs from its queue, runs them, streams their events.

Events leave through an inproc PUSH socket owned by this thread; the daemon's I/O loop forwards
them to the client. Frames on that pipe: [kind, client identity, job id, *protocol message], where
kind is b"event" or b"final" (the job's last message).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from dataclasses import dataclass, field
from typing import Protocol

import torch
import torch.nn.functional as F
import zmq

from daemon import pipeline
from daemon.catalogue import Catalogue
from daemon.catalogue.model_library import ModelLibrary
from daemon.devices import (
    DeviceProfile,
    is_out_of_memory,
    peak_bytes,
    release_memory,
    reset_peak,
)
from daemon.io import pixels
from daemon.plan import Plan
from daemon.sequences import SequenceStore
from shared import protocol
from shared.errors import ImpastoError, InternalError, JobCancelled, OutOfMemory

log = logging.getLogger(__name__)

PROGRESS_INTERVAL = 0.1
PREVIEW_INTERVAL = 1.0
PREVIEW_SIDE = 128


@dataclass
class Job:
    """A job in the daemon: its plan, its pixel frames, and its cancel flag."""

    client: bytes
    id: str
    plan: Plan
    frames: list
    submitted: float = field(default_factory=time.monotonic)
    cancel: threading.Event = field(default_factory=threading.Event)
    state: str = "queued"  # queued → running → finished
    stage: str = ""
    fraction: float = 0.0
    started: float | None = None
    silent: bool = False  # client gone: drop whatever the job still has to say
    lock: threading.Lock = field(default_factory=threading.Lock)  # guards queued → running

    def summary(self) -> dict:
        now = time.monotonic()
        return {
            "engine": self.plan.spec.engine,
            "state": self.state,
            "stage": self.stage,
            "fraction": self.fraction,
            "queued_s": (self.started or now) - self.submitted,
            "running_s": now - self.started if self.started else 0.0,
        }


class Yielding(Protocol):
    """What runs beside the jobs and pauses while one runs (daemon.learning.Learner)."""

    def hold(self) -> None: ...

    def release(self) -> None: ...


class Worker(threading.Thread):
    """Runs jobs for one device, one at a time."""

    def __init__(
        self,
        ctx: zmq.Context,
        pipe: str,
        profile: DeviceProfile,
        catalogue: Catalogue,
        models: ModelLibrary,
        sequences: SequenceStore | None = None,
        learner: Yielding | None = None,
    ) -> None:
        super().__init__(name=f"worker-{profile.device}", daemon=True)
        self.ctx, self.pipe, self.profile, self.catalogue = ctx, pipe, profile, catalogue
        self.models = models
        self.sequences = sequences if sequences is not None else SequenceStore()
        self.jobs: queue.Queue[Job | None] = queue.Queue()
        self.learner = learner  # paused while a job runs
        self._out: zmq.Socket | None = None

    def run(self) -> None:
        self._out = self.ctx.socket(zmq.PUSH)
        self._out.setsockopt(zmq.LINGER, 0)
        self._out.connect(self.pipe)
        try:
            while True:
                job = self.jobs.get()
                if job is None:
                    break
                with job.lock:
                    if job.cancel.is_set():
                        continue  # cancelled while queued: the I/O loop already told the client
                    job.state, job.started = "running", time.monotonic()
                if self.learner is not None:
                    self.learner.hold()
                try:
                    self._run(job)
                finally:
                    if self.learner is not None:
                        self.learner.release()
        finally:
            self._out.close()

    def stop(self) -> None:
        self.jobs.put(None)

    def _emit(
        self, job: Job, msg_type: str, body: dict, frames: list = (), final: bool = False
    ) -> None:
        kind = b"final" if final else b"event"
        msg = protocol.encode(msg_type, job.id, body, frames)
        try:
            self._out.send_multipart([kind, job.client, job.id.encode(), *msg], copy=False)
        except zmq.ZMQError as exc:  # the daemon is shutting down: nobody to tell
            log.info("dropping %s of job %s: %s", msg_type, job.id, exc)

    def _run(self, job: Job) -> None:
        spec = job.plan.spec
        log.info("job %s: %s, %dx%d", job.id, spec.engine, spec.content.width, spec.content.height)
        last = {"progress": 0.0, "preview": 0.0}

        def report(stage: str, fraction: float, preview=None) -> None:
            now = time.monotonic()
            job.stage, job.fraction = stage, fraction
            if now - last["progress"] < PROGRESS_INTERVAL and fraction < 1.0:
                return
            last["progress"] = now
            elapsed = now - job.started
            body = {
                "stage": stage,
                "fraction": fraction,
                "elapsed": elapsed,
                "eta": elapsed * (1 - fraction) / fraction if fraction > 0 else None,
            }
            frames = []
            if spec.preview and preview is not None and now - last["preview"] >= PREVIEW_INTERVAL:
                last["preview"] = now
                small = _shrink(preview())
                desc, data = pixels.to_rgba8(small)
                body["preview"] = desc.to_wire()
                frames = [data]
            self._emit(job, "progress", body, frames)

        try:
            self._emit(
                job, "progress", {"stage": "starting", "fraction": 0.0, "elapsed": 0.0, "eta": None}
            )
            profile = self.profile.for_job()
            counted = profile.device.type == "cpu" and reset_peak()
            out = pipeline.run(
                job.plan,
                job.frames,
                self.catalogue,
                profile,
                report,
                job.cancel.is_set,
                self.models,
                self.sequences,
                job.client,
            )
            if job.cancel.is_set():
                raise JobCancelled("cancelled")
            images = []
            frames = []
            for i, (desc, data) in enumerate(out.images):
                wire = desc.to_wire()
                wire["frame"] = i + 1
                images.append(wire)
                frames.append(data)
            out.metadata["timings"]["queued_s"] = job.started - job.submitted
            if counted:  # the process's peak during the job, beyond what it held at the start
                memory = out.metadata.setdefault("memory", {})
                memory["peak"] = max(0, peak_bytes() - profile.baseline)
            self._emit(
                job, "result", {"images": images, "metadata": out.metadata}, frames, final=True
            )
            log.info("job %s done in %.1f s", job.id, out.metadata["timings"]["total_s"])
        except JobCancelled:
            log.info("job %s cancelled", job.id)
            if spec.sequence is not None:  # whatever the frame kept before the cancel came
                self.sequences.drop(job.client, spec.sequence.id)
            self._emit(job, "cancelled", {}, final=True)
        except ImpastoError as exc:
            log.info("job %s failed: %s", job.id, exc)
            self._emit(job, "error", exc.to_wire(), final=True)
        except Exception as exc:  # a bug or a device failure must not kill the worker
            if is_out_of_memory(exc):
                err: ImpastoError = OutOfMemory(
                    f"{self.profile.device} ran out of memory; try a smaller size or fewer styles"
                )
            else:
                log.exception("job %s crashed", job.id)
                err = InternalError(
                    f"internal error ({type(exc).__name__}: {exc}); see the daemon log"
                )
            self._emit(job, "error", err.to_wire(), final=True)
        finally:
            job.state = "finished"
            job.frames = []
            if self.profile.device.type == "cuda":
                torch.cuda.empty_cache()
            release_memory()


def _shrink(rgb: torch.Tensor) -> torch.Tensor:
    h, w = rgb.shape[-2:]
    scale = PREVIEW_SIDE / max(h, w)
    if scale >= 1:
        return rgb.cpu()
    size = (max(1, round(h * scale)), max(1, round(w * scale)))
    return F.interpolate(rgb.float().cpu(), size=size, mode="area")

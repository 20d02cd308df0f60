"""The shared client against a real daemon: what it keeps of finished jobs, and what it reports
after its process was stopped (a laptop asleep, SIGSTOP here) for longer than its silence limit."""

from __future__ import annotations

import gc
import json
import os
import signal
import subprocess
import sys
import threading
import time
import weakref
from pathlib import Path

import numpy as np
import pytest

from shared.client import Client
from shared.errors import JobCancelled, Unavailable
from shared.job import JobSpec, StyleRef
from shared.protocol import PixelFormat
from tests.conftest import ROOT, DaemonProcess, free_port, image_job, load_rgb, rgba_u8
from tests.daemon.test_server import wait_until

LIMIT = 5.0  # silence limit of the daemon and of the clients it stops (> 2 heartbeats)

# A client in its own process that stops itself (SIGSTOP) once its job is accepted, at a moment
# the daemon has nothing more to say to it (a second after the client last sent, nothing
# waiting): stopped at any other moment, the daemon's answer to its last ping could wake it
# before it judges the silence. `run`: Client.run, stopped inside its wait for messages.
# `editor`: submit, then poll(0) every 50 ms as the editors' timers do, stopped between two
# polls. It prints the outcome as JSON.
STOPPED_CLIENT = """
import json, os, signal, sys, time
import zmq
from shared.client import Client
from shared.errors import ImpastoError

endpoint, mode, limit = sys.argv[1], sys.argv[2], float(sys.argv[3])
body = {"content": {"frame": 1, "width": 16, "height": 8, "channels": 4, "dtype": "u8"},
        "styles": [{"name": "starry-night"}], "strength": 0.0}
pixels = bytes(range(256)) * 2


class Stopper:
    def __init__(self, sock):
        self.sock, self.armed, self.sent = sock, False, time.monotonic()

    def __getattr__(self, name):
        return getattr(self.sock, name)

    def send_multipart(self, *args, **kw):
        self.sent = time.monotonic()
        return self.sock.send_multipart(*args, **kw)

    def stop_when_quiet(self):
        if self.armed and time.monotonic() - self.sent > 1.0 and not self.sock.poll(0):
            self.armed = False
            os.kill(os.getpid(), signal.SIGSTOP)

    def poll(self, timeout=None, flags=zmq.POLLIN):
        if mode == "run":
            self.stop_when_quiet()
        return self.sock.poll(timeout, flags)


with Client(endpoint, timeout=limit) as client:
    sock = client._sock = Stopper(client._sock)
    try:
        if mode == "run":

            def arm(event):
                sock.armed = sock.armed or event.type == "accepted"

            result = client.run(body, [pixels], on_event=arm)
            print(json.dumps({"state": "done", "same": result.image_bytes(0)[1] == pixels}))
        else:
            job = client.submit(body, [pixels])
            while not job.finished:
                client.poll(0)
                sock.armed = sock.armed or job.state == "accepted"
                sock.stop_when_quiet()
                time.sleep(0.05)
            error = job.error
            print(json.dumps({"state": job.state, "code": error and error.code,
                              "message": error and error.message}))
    except ImpastoError as exc:
        print(json.dumps({"state": "raised", "code": exc.code, "message": exc.message}))
"""


class BusyWorker:
    """Another client's long job occupies the daemon's worker, so a job sent meanwhile waits in
    the queue and the daemon says nothing about it. A thread polls that client, the only one
    to touch it, so it never falls silent itself however loaded the machine."""

    def __init__(self, daemon: DaemonProcess) -> None:
        self.daemon = daemon
        self.client = daemon.client(timeout=30)
        body, frames = image_job(rgba_u8(load_rgb("chelsea.png")), iterations=5000, size=96)
        self.job = self.client.submit(body, frames)
        self.release_asked = self.stop = False
        self.thread = threading.Thread(target=self._poll, daemon=True)
        self.thread.start()
        assert wait_until(lambda: self.job.state == "running", 60), self.job

    def _poll(self) -> None:
        cancelled = False
        while not self.stop:
            if self.release_asked and not cancelled:
                self.client.cancel(self.job.id)
                cancelled = True
            self.client.poll(0.05)

    def jobs(self) -> int:
        """Jobs queued or running in the daemon, all clients."""
        with self.daemon.client() as c:
            status = c.status()
        return status["running"] + status["queued"]

    def release(self) -> None:
        """Cancel the long job and wait until the worker is free."""
        self.release_asked = True
        assert wait_until(lambda: self.job.finished, 30), self.job
        assert isinstance(self.job.error, JobCancelled), self.job

    def close(self) -> None:
        self.stop = True
        self.thread.join()
        if not self.job.finished:
            self.client.cancel(self.job.id)
        self.client.close()


def wait_stopped(proc: subprocess.Popen, timeout: float) -> None:
    """Wait until the process is stopped (SIGSTOP); fail with its output if it ends instead."""

    def stopped() -> bool:
        pid, status = os.waitpid(proc.pid, os.WUNTRACED | os.WNOHANG)
        if pid and not os.WIFSTOPPED(status):
            pytest.fail(f"the client ended before it was stopped: {proc.stdout.read()}")
        return bool(pid)

    assert wait_until(stopped, timeout), "the client never stopped"


@pytest.fixture(scope="module")
def patient(tmp_path_factory):
    """A daemon whose silence limit (LIMIT) leaves a loaded machine's clients room between
    their heartbeats; the stopped clients use the same limit for theirs."""
    proc = DaemonProcess(tmp_path_factory.mktemp("patient"), "--client-timeout", str(LIMIT))
    yield proc
    proc.stop()


def test_stylize_frames_keeps_no_result_once_it_is_delivered(patient):
    """A clip of any length holds one frame's result at a time: the client keeps neither the
    handles of delivered frames nor their pixels, so a result dies with the caller's reference."""
    h, w = 24, 32
    clip = [rgba_u8(np.full((h, w, 3), 8 * i, np.uint8)).tobytes() for i in range(30)]
    spec = JobSpec(
        content=PixelFormat("u8", "RGBA").describe(1, w, h),
        styles=(StyleRef(name="starry-night"),),
        strength=0.0,
    )
    delivered = []
    with patient.client(timeout=30) as client:
        for frame, result in zip(clip, client.stylize_frames(clip, spec), strict=True):
            assert result.image_bytes(0)[1] == frame
            delivered.append(weakref.ref(result))
            del result
        gc.collect()
        assert client.jobs == {}
        assert [ref for ref in delivered if ref() is not None] == []


def test_run_keeps_no_handle_or_result_of_the_job(patient):
    body, frames = image_job(rgba_u8(load_rgb("chelsea.png")[:8, :8]), strength=0.0)
    with patient.client() as client:
        result = client.run(body, frames)
        assert client.jobs == {}
        kept = weakref.ref(result)
        del result
        gc.collect()
        assert kept() is None


def test_a_client_that_keeps_missing_its_heartbeats_still_learns_no_daemon_answers():
    """Every poll comes after a gap (an editor stalled again and again): the first gap gives
    the daemon a fresh `timeout` to answer, the next ones without an answer do not, so a job
    sent where no daemon runs fails with Unavailable."""
    with Client(f"tcp://127.0.0.1:{free_port()}", timeout=3.0) as client:
        job = client.submit({}, [])
        started = time.monotonic()
        while not job.finished and time.monotonic() - started < 20:
            time.sleep(2.5)
            client.poll(0)
        assert isinstance(job.error, Unavailable), job
        assert time.monotonic() - started < 10


@pytest.mark.parametrize("mode", ["run", "editor"])
def test_a_client_stopped_past_its_silence_limit_reports_the_daemons_answer(patient, mode):
    """Stopped longer than its own and the daemon's silence limit, a client asks the daemon on
    resuming: `Client.run` sends the still image again and gets its result, a handle polled by
    an editor ends with the daemon's reason; never "No Impasto daemon answered"."""
    busy = BusyWorker(patient)
    proc = subprocess.Popen(
        [sys.executable, "-c", STOPPED_CLIENT, patient.endpoint, mode, str(LIMIT)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_stopped(proc, 30)
        stopped = time.monotonic()
        assert wait_until(lambda: busy.jobs() == 1, 3 * LIMIT), "the stopped job was not dropped"
        busy.release()
        time.sleep(max(0.0, stopped + LIMIT + 1.5 - time.monotonic()))  # past its own limit
        proc.send_signal(signal.SIGCONT)
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
        busy.close()
    outcome = json.loads(out.splitlines()[-1])
    assert "No Impasto daemon answered" not in out + err
    if mode == "run":
        assert outcome == {"state": "done", "same": True}, (outcome, err)
        assert "heard nothing from this client" in err, err  # why it was sent again
    else:
        assert (outcome["state"], outcome["code"]) == ("failed", "job_lost"), (outcome, err)
        assert "heard nothing from this client" in outcome["message"]


def test_a_stopped_cli_sends_its_still_image_again_on_resuming(patient, tmp_path: Path):
    """`impasto stylize` stopped until the daemon drops its job: on SIGCONT it asks the daemon
    at once, says why the job was dropped, sends it again, and the picture is written."""
    from PIL import Image

    Image.fromarray(load_rgb("chelsea.png")[:32, :32]).save(tmp_path / "in.png")
    busy = BusyWorker(patient)
    cli = subprocess.Popen(
        [sys.executable, "-m", "cli", "stylize", str(tmp_path / "in.png"), "-s", "starry-night",
         "-o", str(tmp_path / "out.png"), "--strength", "0", "--endpoint", patient.endpoint],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert wait_until(lambda: busy.jobs() == 2, 60), "the CLI's job never came"
        cli.send_signal(signal.SIGSTOP)
        assert wait_until(lambda: busy.jobs() == 1, 3 * LIMIT), "the stopped job was not dropped"
        busy.release()
        cli.send_signal(signal.SIGCONT)
        resumed = time.monotonic()
        _, err = cli.communicate(timeout=60)
        waited = time.monotonic() - resumed
    finally:
        cli.kill()
        busy.close()
    assert cli.returncode == 0, err
    assert "heard nothing from this client" in err and f"limit is {LIMIT:g} s" in err, err
    assert (tmp_path / "out.png").exists()
    assert waited < 8, f"the picture came {waited:.1f} s after resuming"  # asked at once

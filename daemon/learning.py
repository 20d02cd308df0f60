"""The daemon's background learner: lessons (`impasto learn`, "Add to fast styles…") run one at a
time in a process of their own, yielding to stylisation jobs.

A lesson (daemon.training.learn) is a folder under the daemon's lessons folder; it survives a
daemon restart and resumes from its checkpoint. The learner process trains with `threads` threads
(one by default, so stylisation keeps the rest of a CPU); while a stylisation job runs the daemon
tells it to pause, and it stops before its next step (one step at most: ~1-2 s at 128 px on a
CPU core). Its learned style is a style pack in the daemon's user models folder, saved first as
the first look, then every half minute of training: the catalogue's rescan offers it at once.

Lessons are the daemon's, not a client's: any client may list them (`lessons`) and stop one
(`stop_learning`); a client that goes away does not stop its lesson.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
from PIL import Image

from daemon.catalogue.fields import style_name
from daemon.training.data import content_files
from daemon.training.learn import LESSON_FILE, PAINTING_FILE, Lesson
from shared.errors import BadImage, BadRequest, NotFound, QueueFull

log = logging.getLogger(__name__)

MIN_SIDE = 64  # px: a smaller painting has no brushwork to learn
KEEP_SIDE = 1024  # px: the long side a received painting is kept at (training sees 256)
MAX_MINUTES = 24 * 60
MAX_LESSONS = 16  # queued or running
# s: a stopping learner saves and ends; after this it is killed (it resumes from its last save)
STOP_GRACE = 30.0


class Learner:
    """Runs the lessons in `folder` (one process at a time) into packs in `models`."""

    def __init__(self, folder: Path, models: Path, base: Path, device: str = "", threads: int = 1):
        self.folder, self.models, self.base = folder, models, base
        self.device, self.threads = device, threads
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._proc: subprocess.Popen | None = None
        self._current: str | None = None
        self._live: dict[str, dict] = {}  # name → the running lesson's latest progress line
        self._holds = 0
        self._thread: threading.Thread | None = None
        self._cancelled: set[str] = set()  # running lessons told to stop by a client

    # -- the daemon's side ------------------------------------------------------------------------
    def start(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        self.models.mkdir(parents=True, exist_ok=True)
        self._thread = threading.Thread(target=self._run, name="learner", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the running lesson (it saves and resumes at the next start) and the thread."""
        self._stopping.set()
        self._wake.set()
        self._halt()
        if self._thread is not None:
            self._thread.join()

    def hold(self) -> None:
        """A stylisation job starts: the learner pauses before its next step."""
        with self._lock:
            self._holds += 1
            self._tell("pause")

    def release(self) -> None:
        with self._lock:
            self._holds = max(0, self._holds - 1)
            if not self._holds:
                self._tell("resume")

    def submit(
        self,
        name: str,
        rgb: np.ndarray,
        minutes: float,
        painting: str,
        licence: str,
        taken: set[str],
        content: tuple[str, ...] = (),
    ) -> dict:
        """Queue a lesson for `rgb` (uint8 [H,W,3]) as style `name`; typed errors before any
        training (a name that is taken, a painting too small, absurd minutes)."""
        try:
            style_name(name)
        except ValueError as exc:
            raise BadRequest(f"{exc}; e.g. 'my-barn-painting'") from None
        if name in taken:
            raise BadRequest(f"a style named {name!r} exists already; choose another name")
        if not 0 < minutes <= MAX_MINUTES:
            raise BadRequest(f"minutes must be more than 0 and at most {MAX_MINUTES}")
        folders = [str(Path(c).expanduser().resolve()) for c in content]
        try:  # checked now, not when the lesson starts: a typed error for the asker
            if folders:
                content_files([Path(c) for c in folders])
        except (FileNotFoundError, NotADirectoryError, PermissionError) as exc:
            raise BadImage(f"no training photos in {', '.join(content)}: {exc}") from None
        h, w = rgb.shape[:2]
        if min(h, w) < MIN_SIDE:
            raise BadImage(
                f"the painting is {w}x{h} pixels; learning needs at least {MIN_SIDE} on each side"
            )
        with self._lock:
            lessons = self._read_all()
            if name in lessons and lessons[name].state in ("queued", "learning"):
                raise BadRequest(f"{name!r} is being learned already")
            if sum(x.state in ("queued", "learning") for x in lessons.values()) >= MAX_LESSONS:
                raise QueueFull(f"{MAX_LESSONS} lessons are waiting already")
            folder = self.folder / name
            if folder.exists():  # a finished or failed lesson of a style since deleted
                for f in folder.iterdir():
                    f.unlink()
            folder.mkdir(parents=True, exist_ok=True)
            im = Image.fromarray(rgb)
            im.thumbnail((KEEP_SIDE, KEEP_SIDE), Image.Resampling.LANCZOS)
            im.save(folder / PAINTING_FILE)
            lesson = Lesson(
                name,
                str(self.base),
                str(self.models),
                minutes,
                painting,
                licence or "user's own",
                threads=self.threads,
                device=self.device,
                created=time.time(),
                **({"content": folders} if folders else {}),
            )
            lesson.write(folder)
        log.info("lesson %s queued (%g min)", name, minutes)
        self._wake.set()
        return self.summary(lesson)

    def stop_lesson(self, name: str) -> dict:
        """Stop a queued or running lesson; what it learned so far stays usable."""
        with self._lock:
            lessons = self._read_all()
            lesson = lessons.get(name)
            if lesson is None or lesson.state not in ("queued", "learning"):
                raise NotFound(f"no lesson {name!r} is queued or learning")
            if self._current == name:  # "stopping": it saves, then the learner thread marks it
                self._cancelled.add(name)
                self._tell("stop")
            else:
                lesson.state = "cancelled"
                lesson.write(self.folder / name)
        log.info("lesson %s stopped", name)
        return self.summary(lesson)

    def lessons(self) -> list[dict]:
        with self._lock:
            return [self.summary(x) for x in self._read_all().values()]

    def summary(self, lesson: Lesson) -> dict:
        live = self._live.get(lesson.name, {})
        steps = live.get("steps", lesson.steps)
        seconds = float(live.get("seconds", lesson.seconds))
        stage = live.get("stage", lesson.stage)
        state = "stopping" if lesson.name in self._cancelled else lesson.state
        remaining = max(0.0, lesson.minutes * 60 - seconds)
        return {
            "name": lesson.name,
            "state": state,
            "stage": stage,  # "", "first look", "learned"
            "steps": steps,
            "seconds": seconds,
            "minutes": lesson.minutes,
            "fraction": min(1.0, seconds / (lesson.minutes * 60)) if lesson.minutes else 1.0,
            "eta": remaining if state in ("queued", "learning") else 0.0,
            "paused": bool(self._holds) and self._current == lesson.name,
            "error": lesson.error,
            "pack": Path(lesson.pack).name,
        }

    # -- the learner thread -----------------------------------------------------------------------
    def _read_all(self) -> dict[str, Lesson]:
        out = {}
        if not self.folder.is_dir():
            return out
        for sub in sorted(self.folder.iterdir()):
            if (sub / LESSON_FILE).is_file():
                try:
                    out[sub.name] = Lesson.read(sub)
                except (OSError, ValueError, TypeError) as exc:
                    log.warning("skipping lesson %s: %s", sub.name, exc)
        return out

    def _next(self) -> str | None:
        with self._lock:
            waiting = [x for x in self._read_all().values() if x.state in ("queued", "learning")]
        waiting.sort(key=lambda x: x.created)
        return waiting[0].name if waiting else None

    def _run(self) -> None:
        while not self._stopping.is_set():
            name = self._next()
            if name is None:
                self._wake.wait(5.0)
                self._wake.clear()
                continue
            try:
                self._teach(name)
            except Exception:  # the learner thread must live on
                log.exception("lesson %s could not run", name)
                self._mark(name, "failed", "the learner process could not start; see the log")

    def _teach(self, name: str) -> None:
        folder = self.folder / name
        cmd = [sys.executable, "-m", "daemon.training.learn", str(folder)]
        root = Path(__file__).resolve().parent.parent
        log.info("learning %s", name)
        proc = subprocess.Popen(
            cmd,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=None,  # its log goes where the daemon's stderr goes
            cwd=root,
            text=True,
            bufsize=1,
        )
        with self._lock:
            self._proc, self._current = proc, name
            if self._holds:
                self._tell("pause")
        try:
            for line in proc.stdout:
                try:
                    self._live[name] = json.loads(line)
                except ValueError:
                    continue
            proc.wait()
        finally:
            with self._lock:
                self._proc, self._current = None, None
                self._live.pop(name, None)
        if name in self._cancelled:
            self._cancelled.discard(name)
            self._mark(name, "cancelled")
        lesson = Lesson.read(folder)
        if proc.returncode != 0 and lesson.state not in ("failed", "cancelled"):
            if self._stopping.is_set():
                return  # the daemon stops: the lesson resumes at its next start
            self._mark(name, "failed", f"the learner process ended with code {proc.returncode}")
        log.info("lesson %s: %s after %d steps", name, Lesson.read(folder).state, lesson.steps)

    def _mark(self, name: str, state: str, error: str = "") -> None:
        with self._lock:
            try:
                lesson = Lesson.read(self.folder / name)
            except (OSError, ValueError, TypeError):
                return
            lesson.state, lesson.error = state, error
            lesson.write(self.folder / name)

    def _tell(self, command: str) -> None:
        """Send a line to the running learner process (caller holds the lock)."""
        proc = self._proc
        if proc is None or proc.stdin is None:
            return
        try:
            proc.stdin.write(command + "\n")
            proc.stdin.flush()
        except (OSError, ValueError):  # it ended meanwhile
            pass

    def _halt(self) -> None:
        with self._lock:
            proc = self._proc
            self._tell("stop")
        if proc is None:
            return
        try:
            proc.wait(STOP_GRACE)
        except subprocess.TimeoutExpired:
            log.warning("the learner did not stop in %.0f s: killing it", STOP_GRACE)
            proc.kill()
            proc.wait()

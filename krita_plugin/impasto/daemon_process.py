"""The daemon the docker's Start daemon button launches: its command, its log, and why it stopped.

The daemon runs in the background (it outlives Krita) with its output in a log file in the
user's cache folder (`log_path`; each start replaces the last one's log), so a daemon that stops
while starting — its port taken, a non-loopback address without keys — leaves its reason there,
and `StartedDaemon.failure` gives the docker that reason (the log's last lines) and where the
log is. No Qt.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

LOG_NAME = "krita-daemon.log"
TAIL_LINES = 4  # of the log, in the docker's message
TAIL_BYTES = 8 << 10  # read from the log's end to find them


def cache_dir() -> Path:
    """Impasto's folder in the user's cache folder (never inside the checkout)."""
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
        return base / "impasto" / "cache"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches" / "impasto"
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "impasto"


def log_path() -> Path:
    """The log file of the daemon Start daemon launched last."""
    return cache_dir() / LOG_NAME


def daemon_command(python: str, endpoint: str) -> list[str]:
    """The command line that runs the daemon of a checkout with its Python (`impasto daemon`)."""
    return [python, "-m", "cli", "daemon", "--endpoint", endpoint]


@dataclass
class StartedDaemon:
    """A daemon process Start daemon launched, and its log file."""

    process: subprocess.Popen
    log: Path

    @classmethod
    def start(cls, cmd: list[str], cwd: str, log_file: Path | None = None) -> StartedDaemon:
        """Run `cmd` in `cwd` in the background, its output going to a fresh `log_file`
        (default `log_path()`); raises OSError when it cannot be started."""
        log_file = log_file or log_path()
        log_file.parent.mkdir(parents=True, exist_ok=True)
        log_file.unlink(missing_ok=True)  # a daemon still writing the old one keeps its own
        kw: dict[str, Any] = {"start_new_session": True}
        if os.name == "nt":
            kw = {"creationflags": subprocess.DETACHED_PROCESS | subprocess.CREATE_NO_WINDOW}
        with open(log_file, "wb") as out:  # the child keeps its own descriptor
            process = subprocess.Popen(
                cmd, cwd=cwd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, **kw
            )
        log.info("started the daemon (pid %d), its output in %s", process.pid, log_file)
        return cls(process, log_file)

    def failure(self) -> str | None:
        """Why the daemon stopped (its last lines of output, the log's place), or None while it
        runs."""
        code = self.process.poll()
        if code is None:
            return None
        how = f"exit code {code}" if code >= 0 else f"signal {-code}"
        tail = self.tail()
        said = f":\n{tail}" if tail else "."
        return f"The daemon stopped while starting ({how}){said}\nIts log: {self.log}"

    def tail(self) -> str:
        """The log's last non-empty lines."""
        try:
            with open(self.log, "rb") as f:
                f.seek(max(0, f.seek(0, os.SEEK_END) - TAIL_BYTES))
                text = f.read().decode("utf-8", "replace")
        except OSError:
            return ""
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        return "\n".join(lines[-TAIL_LINES:])

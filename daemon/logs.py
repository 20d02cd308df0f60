"""Logging for the daemon: stderr plus a rotating log file."""

from __future__ import annotations

import logging
import logging.handlers
import os
from pathlib import Path


def default_log_file() -> Path:
    """$XDG_STATE_HOME/impasto/daemon.log (~/.local/state/impasto/daemon.log)."""
    base = os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state"
    return Path(base) / "impasto" / "daemon.log"


def setup(level: str = "INFO", log_file: Path | None = None) -> Path | None:
    """Send log records to stderr and, unless it cannot be created, to a rotating file."""
    fmt = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    root = logging.getLogger()
    root.setLevel(level.upper())
    for handler in list(root.handlers):
        root.removeHandler(handler)
    stream = logging.StreamHandler()
    stream.setFormatter(fmt)
    root.addHandler(stream)
    path = log_file or default_log_file()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        rotating = logging.handlers.RotatingFileHandler(path, maxBytes=5 << 20, backupCount=3)
    except OSError as exc:
        logging.getLogger(__name__).warning("cannot write the log file %s: %s", path, exc)
        return None
    rotating.setFormatter(fmt)
    root.addHandler(rotating)
    return path

"""What the controller is working on: an Apply waiting for the connection, the job the daemon
runs for us, an animated layer going through the daemon keyframe by keyframe. No Qt."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from shared.errors import ImpastoError, JobLost
from shared.settings import Pixels

from .animation import Animation
from .jobs import Settings, StyleChoice
from .krita_io import Capture

if TYPE_CHECKING:
    from shared.client import JobHandle


def failure_text(error: ImpastoError) -> str:
    """What the docker says when a job failed: the error, and that nothing was changed (the
    daemon's own JobLost reason says so already)."""
    return error.message if isinstance(error, JobLost) else f"{error.message} Nothing was changed."


@dataclass
class Pending:
    """An Apply waiting for the connection: the pixels are read already, at the moment of Apply."""

    capture: Capture | None  # None for an animation (its frames are read as they are sent)
    settings: Settings
    styles: list[StyleChoice]
    pictures: dict[int, Pixels]
    maps: dict[int, Pixels]  # where each style goes, over the captured region
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
    pictures: dict[int, Pixels]
    maps: dict[int, Pixels]
    id: str
    folder: str  # the stylised keyframes until the layer is written
    started: float
    recipe: dict | None = None
    spec_styles: tuple = ()
    name: str = ""
    index: int = 0  # the keyframe being stylised

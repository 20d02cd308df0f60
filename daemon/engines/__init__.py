"""Engines behind one interface: `engine.run(inputs, report, cancelled) -> RGB tensor`.

An engine receives the content (RGB 0..1, [1,3,H,W], at its working size, colour-prepared)
and the style images with normalised weights; it reports progress through `report` and checks
`cancelled()` at least once per optimisation step or tile, raising JobCancelled when it is set.
Everything before (decoding, colour preparation, sizing) and after (resampling, colour finish,
strength, encoding) belongs to daemon.pipeline, so engines stay small.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import torch

from daemon.devices import DeviceProfile
from shared.job import JobSpec

if TYPE_CHECKING:
    from daemon.model_library import ModelLibrary

PreviewFn = Callable[[], torch.Tensor]
Report = Callable[[str, float, "PreviewFn | None"], None]
Cancelled = Callable[[], bool]


@dataclass
class EngineInput:
    """What an engine works on."""

    spec: JobSpec
    content: torch.Tensor
    styles: list[tuple[torch.Tensor, float]]  # style images; empty for model-based engines
    profile: DeviceProfile
    models: ModelLibrary | None = None


class Engine(Protocol):
    name: str
    uses_style_images: bool  # False: the styles are named in the spec and live in a model

    def working_side(self, spec: JobSpec, shape: tuple[int, int], profile: DeviceProfile) -> int:
        """Long side (px) the engine will work at for an input of `shape` (h, w)."""

    def run(self, inputs: EngineInput, report: Report, cancelled: Cancelled) -> torch.Tensor:
        """Stylise; returns RGB 0..1 [1,3,h,w] on the CPU at the working size."""


def get_engine(name: str) -> Engine:
    """The engine registered under `name`."""
    from daemon.engines.fast import FastEngine
    from daemon.engines.gatys import GatysEngine
    from daemon.engines.hires import HiresEngine

    engines: dict[str, Engine] = {
        "gatys": GatysEngine(),
        "fast": FastEngine(),
        "hires": HiresEngine(),
    }
    return engines[name]

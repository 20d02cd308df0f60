"""Engines behind one interface: `engine.run(inputs, report, cancelled) -> RGB tensor`.

An engine receives the job's plan (daemon.plan: styles resolved, the fast model and blend, the
working size), the content (RGB 0..1, [1,3,H,W], at the working size, colour-prepared) and the
style pictures with their shares of the blend; it reports progress through `report` and checks
`cancelled()` at least once per optimisation step or tile, raising JobCancelled when it is set.
For a frame of a sequence the input may carry a `prior`: the previous frame's result warped onto
this one with its trust map (daemon.imaging.flow), which the engine uses to stay consistent over
time. Everything before (decoding, colour preparation, sizing) and after (resampling, colour finish,
strength, mask, encoding) belongs to daemon.pipeline, so engines stay small. An engine that needs
another (hires' thumbnail) gets it from `get_engine`; engines never import each other.

Adding an engine: a module here with a class following `Engine`, registered in `ENGINES` below,
and its name in shared.job.ENGINES.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import torch

from daemon.devices import DeviceProfile
from shared.job import JobSpec

if TYPE_CHECKING:
    from daemon.catalogue.model_library import ModelLibrary
    from daemon.imaging.flow import Prior
    from daemon.plan import Plan

PreviewFn = Callable[[], torch.Tensor]
Report = Callable[[str, float, "PreviewFn | None"], None]
Cancelled = Callable[[], bool]

# name → "module:Class"
ENGINES = {
    "fast": "daemon.engines.fast:FastEngine",
    "gatys": "daemon.engines.gatys:GatysEngine",
    "hires": "daemon.engines.hires:HiresEngine",
}


@dataclass
class EngineInput:
    """What an engine works on."""

    spec: JobSpec
    content: torch.Tensor
    styles: list[tuple[torch.Tensor, float]]  # style pictures and shares; empty for fast mode
    profile: DeviceProfile
    plan: Plan | None = None
    models: ModelLibrary | None = None
    prior: Prior | None = None  # a sequence's previous result carried to this frame (temporal)
    maps: list[torch.Tensor | None] | None = None  # per plan style: [1,1,h,w] 0..1 or None
    # per style: what identifies its picture as the engine sees it (a file and its version, or a
    # sent picture's digest), so derived statistics can be cached; None: not cacheable
    style_keys: list[str | None] | None = None
    depth: torch.Tensor | None = None  # [1,1,h,w] 0 far .. 1 near at the content's size
    # per style: its stroke size relative to the job's `style_scale` (depth bands); None: all 1
    style_scales: list[float] | None = None

    def style_scale(self, index: int) -> float:
        """Style `index`'s scale: the job's `style_scale` × its own."""
        own = 1.0 if self.style_scales is None else self.style_scales[index]
        return self.spec.style_scale * own

    @property
    def mapped_styles(self) -> int:
        """How many styles carry a style map's guides (all of them with maps, else none)."""
        return 0 if self.maps is None else len(self.styles)


class Engine(Protocol):
    name: str
    uses_pictures: bool  # works from the styles' pictures (False: only from a fast model)

    def working_side(self, spec: JobSpec, shape: tuple[int, int], profile: DeviceProfile) -> int:
        """Long side (px) the engine will work at for an input of `shape` (h, w)."""

    def run(self, inputs: EngineInput, report: Report, cancelled: Cancelled) -> torch.Tensor:
        """Stylise; returns RGB 0..1 [1,3,h,w] on the CPU at the working size."""

    # An engine may also offer `memory_estimate(inputs) -> int`: the bytes beyond the job's
    # baseline it plans to use at its peak (hires); the pipeline reports it in the result's
    # metadata (`memory.estimate`, beside the budget and the measured `memory.peak`). An engine
    # that enlarges its own result offers `detail_side(inputs) -> int`: the long side it enlarges
    # from, where the pipeline's full-size texture (daemon.imaging.texture) begins.


def get_engine(name: str) -> Engine:
    """The engine registered under `name`."""
    module, _, cls = ENGINES[name].partition(":")
    return getattr(importlib.import_module(module), cls)()

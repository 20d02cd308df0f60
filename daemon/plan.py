"""A job resolved once, at admission, into what the worker runs: the plan.

`make_plan` turns a validated `JobSpec` into the engine to run, each style as a catalogue painting
or a picture sent with the job (with its share of the blend), the fast model and blend when the
engine runs one (or, for gatys and hires, when one model holds every style: its network paints
the full-size texture), and the working size. It reads only names, cards and descriptors, so the
I/O loop can call it: a job with an unknown style or a blend no model holds is refused before it
is queued.
The worker then runs exactly this plan (daemon.pipeline); nothing resolves a name again.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from daemon.catalogue import Painting, Snapshot
from daemon.catalogue.model_library import ModelEntry
from daemon.devices import DeviceProfile
from daemon.engines import Engine, get_engine
from shared.errors import BadRequest, UnknownStyle
from shared.job import JobSpec
from shared.protocol import ImageDesc


@dataclass(frozen=True)
class StyleSource:
    """One style of the blend: a catalogue painting or a picture sent with the job."""

    share: float  # of the blend; the plan's shares add up to 1
    title: str
    painting: Painting | None = None
    image: ImageDesc | None = None
    map: ImageDesc | None = None  # where the style goes (None: everywhere)
    index: int | None = None  # the style's row in the plan's fast model


@dataclass(frozen=True)
class Plan:
    """What the worker runs for one job."""

    spec: JobSpec
    styles: tuple[StyleSource, ...]  # styles with a weight above 0
    side: int  # long side the engine works at
    engine: Engine  # the engine the job names
    # the fast model: fast mode's, hires' from a fast base, and for gatys and hires when it
    # holds every style, the one that paints the full-size texture (daemon.imaging.texture)
    model: ModelEntry | None = None
    blend: tuple[float, ...] = ()  # weights over the model's styles

    @property
    def has_maps(self) -> bool:
        """Whether any style is limited to a region by a map."""
        return any(s.map is not None for s in self.styles)

    @property
    def uses_pictures(self) -> bool:
        """Whether the engine works from the styles' pictures (else only from a model)."""
        return self.engine.uses_pictures


def make_plan(spec: JobSpec, catalogue: Snapshot, profile: DeviceProfile) -> Plan:
    """Resolve every style name once and size the work; raises the user's error."""
    live = [s for s in spec.styles if s.weight > 0]
    total = sum(s.weight for s in live)
    engine = get_engine(spec.engine)
    runs_model = spec.engine == "fast" or (spec.engine == "hires" and spec.base == "fast")
    sources, named = [], []
    for ref in live:
        if ref.image is not None:
            sources.append(StyleSource(ref.weight / total, ref.title, image=ref.image, map=ref.map))
            continue
        painting, pinned = catalogue.resolve(ref.name)
        if engine.uses_pictures and "gatys" not in painting.engines:
            raise UnknownStyle(
                f"{painting.name} has no picture for {spec.engine} mode (its model card carries "
                "none); use fast mode, or add the painting to your styles folder"
            )
        sources.append(
            StyleSource(ref.weight / total, painting.name, painting=painting, map=ref.map)
        )
        named.append((painting, pinned, ref.weight))
    model, blend = None, ()
    # gatys and hires: a fast model holding every style paints the full-size texture
    textured = len(named) == len(sources) > 0 and all(p.fast for p, _, _ in named)
    if runs_model or textured:
        try:
            model, weights = catalogue.fast_blend(named)
        except (UnknownStyle, BadRequest):
            if runs_model:
                raise
        else:
            blend = tuple(weights)
            sources = [
                dataclasses.replace(s, index=dict(s.painting.fast)[model.name]) for s in sources
            ]
    shape = (spec.content.height, spec.content.width)
    side = engine.working_side(spec, shape, profile)
    return Plan(spec, tuple(sources), side, engine, model, blend)

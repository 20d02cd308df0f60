"""A fake `gi` (Gimp, Gegl, GLib, GObject, GimpUi) just wide enough to run the plug-in outside GIMP.

Like krita-ai-diffusion's fake `krita`: it records what the plug-in asks of GIMP (buffer reads
and writes, layer insertion, masks, undo groups, progress) so unit tests can check the plug-in's
edge without GIMP. The real GIMP runs in tests/gimp/test_gimp_e2e.py.
"""

from __future__ import annotations

import importlib.util
import sys
import types
from dataclasses import dataclass, field
from pathlib import Path

PLUGIN = Path(__file__).resolve().parents[2] / "gimp_plugin" / "impasto" / "impasto.py"
BYTES_PER_SAMPLE = {"u8": 1, "u16": 2, "half": 2, "float": 4}


@dataclass(frozen=True)
class Rect:
    x: int
    y: int
    width: int
    height: int


def babl_pixel_bytes(fmt: str) -> int:
    channels, sample = fmt.split()
    return len(channels.replace("'", "")) * BYTES_PER_SAMPLE[sample]


class FakeBuffer:
    """A drawable's pixels, tight rows in the format last written (or a byte pattern)."""

    def __init__(self, width: int, height: int) -> None:
        self.width, self.height = width, height
        self.reads: list[tuple[Rect, str]] = []
        self.writes: list[tuple[Rect, str, bytes]] = []
        self.flushed = False

    def get(self, rect: Rect, scale: float, fmt: str, abyss: object) -> bytes:
        self.reads.append((rect, fmt))
        size = rect.width * rect.height * babl_pixel_bytes(fmt)
        return bytes((rect.x + rect.y + i) % 251 for i in range(size))

    def set(self, rect: Rect, fmt: str, data: bytes) -> None:
        assert len(data) == rect.width * rect.height * babl_pixel_bytes(fmt)
        self.writes.append((rect, fmt, bytes(data)))

    def flush(self) -> None:
        self.flushed = True


class FakeLayer:
    def __init__(
        self,
        name: str,
        width: int,
        height: int,
        alpha: bool = False,
        offsets: tuple[int, int] = (0, 0),
        parent: object = None,
    ) -> None:
        self.name, self.width, self.height, self.alpha = name, width, height, alpha
        self.offsets, self.parent = offsets, parent
        self.buffer = FakeBuffer(width, height)
        self.shadow = FakeBuffer(width, height)
        self.shadow_merged = False
        self.mask: object = None
        self.intersect: tuple[bool, int, int, int, int] = (True, 0, 0, width, height)
        self.parasites: dict[str, FakeParasite] = {}
        FakeLayer.tattoos += 1
        self.tattoo = FakeLayer.tattoos

    tattoos = 0

    def get_name(self) -> str:
        return self.name

    def get_tattoo(self) -> int:
        return self.tattoo

    def attach_parasite(self, parasite: FakeParasite) -> bool:
        self.parasites[parasite.name] = parasite
        return True

    def get_parasite(self, name: str) -> FakeParasite | None:
        return self.parasites.get(name)

    @staticmethod
    def new(image, name, width, height, layer_type, opacity, mode) -> FakeLayer:  # noqa: N805
        alpha = layer_type == FakeGimp.ImageType.RGBA_IMAGE
        return FakeLayer(name, width, height, alpha)

    def mask_intersect(self) -> tuple[bool, int, int, int, int]:
        return self.intersect

    def has_alpha(self) -> bool:
        return self.alpha

    def get_buffer(self) -> FakeBuffer:
        return self.buffer

    def get_shadow_buffer(self) -> FakeBuffer:
        return self.shadow

    def merge_shadow(self, undo: bool) -> None:
        self.shadow_merged = True

    def update(self, x: int, y: int, width: int, height: int) -> None:
        pass

    def get_offsets(self) -> tuple[bool, int, int]:
        return (True, *self.offsets)

    def set_offsets(self, x: int, y: int) -> None:
        self.offsets = (x, y)

    def get_parent(self) -> object:
        return self.parent

    def create_mask(self, kind: str) -> tuple[str, str]:
        return ("mask", kind)

    def add_mask(self, mask: object) -> None:
        self.mask = mask


@dataclass
class Precision:
    value_nick: str


@dataclass
class FakeImage:
    layers: list
    precision: str = "u8-non-linear"
    selection_empty: bool = True
    undo_depth: int = 0
    undo_groups: int = 0

    def get_precision(self) -> Precision:
        return Precision(self.precision)

    def get_item_position(self, layer: FakeLayer) -> int:
        return self.layers.index(layer)

    def get_layer_by_tattoo(self, tattoo: int) -> FakeLayer | None:
        return next((layer for layer in self.layers if layer.tattoo == tattoo), None)

    def insert_layer(self, layer: FakeLayer, parent: object, position: int) -> None:
        layer.parent = parent
        self.layers.insert(position, layer)

    def undo_group_start(self) -> None:
        self.undo_depth += 1
        self.undo_groups += 1

    def undo_group_end(self) -> None:
        self.undo_depth -= 1


@dataclass
class Progress:
    texts: list = field(default_factory=list)
    fractions: list = field(default_factory=list)
    ended: int = 0
    pulses: int = 0


@dataclass
class FakeParasite:
    """GIMP's parasite: data as a list of signed chars (so only ASCII fits as given)."""

    name: str
    flags: int
    data: list[int]

    @staticmethod
    def new(name: str, flags: int, data: list[int]) -> FakeParasite:
        if any(not -128 <= b <= 127 for b in data):
            raise OverflowError("parasite data are signed chars")
        return FakeParasite(name, flags, list(data))

    def get_data(self) -> list[int]:
        return self.data


class FakeGimp(types.ModuleType):
    class PlugIn:
        __gtype__ = object()

    class ImageType:
        RGB_IMAGE = "rgb-image"
        RGBA_IMAGE = "rgba-image"

    class LayerMode:
        NORMAL = "normal"

    class AddMaskType:
        SELECTION = "selection"

    class RunMode:
        INTERACTIVE = "interactive"
        NONINTERACTIVE = "noninteractive"

    class PDBStatusType:
        SUCCESS = "success"
        CANCEL = "cancel"
        CALLING_ERROR = "calling-error"
        EXECUTION_ERROR = "execution-error"

    Layer = FakeLayer
    Drawable = FakeLayer
    Parasite = FakeParasite
    PARASITE_PERSISTENT = 1
    PARASITE_UNDOABLE = 2
    Image = FakeImage
    Procedure = ImageProcedure = ProcedureConfig = ValueArray = object

    def __init__(self) -> None:
        super().__init__("Gimp")
        self.progress = Progress()
        self.messages: list[str] = []
        self.Selection = types.SimpleNamespace(is_empty=lambda image: image.selection_empty)

    def progress_init(self, text: str) -> None:
        self.progress.texts.append(text)

    def progress_set_text(self, text: str) -> None:
        self.progress.texts.append(text)

    def progress_update(self, fraction: float) -> None:
        self.progress.fractions.append(fraction)

    def progress_end(self) -> None:
        self.progress.ended += 1

    def progress_pulse(self) -> None:
        self.progress.pulses += 1

    def message(self, text: str) -> None:
        self.messages.append(text)

    def displays_flush(self) -> None:
        pass

    def main(self, gtype: object, argv: list) -> None:
        raise AssertionError("the plug-in's main must not run on import")


class FakeGLibError(Exception):
    def __init__(self, message: str = "") -> None:
        super().__init__(message)
        self.message = message


class FakeValues(list):
    """Gimp.ValueArray: [status, error-or-value...]; `remove` takes an index."""

    def remove(self, index: int) -> None:
        del self[index]


class FakeProcedure:
    def __init__(self, name: str = "plug-in-impasto-stylize") -> None:
        self.name = name

    def get_name(self) -> str:
        return self.name

    def new_return_values(self, status: str, error: FakeGLibError) -> FakeValues:
        return FakeValues([status, error])


@dataclass
class FakeConfig:
    values: dict

    def get_property(self, name: str) -> object:
        return self.values[name]

    def set_property(self, name: str, value: object) -> None:
        self.values[name] = value


def sibling(name: str) -> types.ModuleType:
    """One of the plug-in's modules as `load_plugin` imported it (`dialog`, `gimp_io`…)."""
    return sys.modules[name]


def fake_gi() -> tuple[types.ModuleType, FakeGimp]:
    """A `gi` package whose `gi.repository` holds the fakes; also returns the Gimp fake."""
    gimp = FakeGimp()
    gegl = types.SimpleNamespace(
        Rectangle=types.SimpleNamespace(new=Rect),
        AbyssPolicy=types.SimpleNamespace(CLAMP="clamp"),
    )
    glib = types.SimpleNamespace(Error=FakeGLibError)
    gobject = types.SimpleNamespace(
        ParamFlags=types.SimpleNamespace(READWRITE=3), Value=lambda kind, value: value
    )
    repository = types.ModuleType("gi.repository")
    repository.Gimp, repository.Gegl, repository.GLib = gimp, gegl, glib
    repository.GObject, repository.GimpUi = gobject, types.SimpleNamespace()
    gi = types.ModuleType("gi")
    gi.require_version = lambda name, version: None
    gi.repository = repository
    return gi, gimp


def load_plugin(monkeypatch) -> tuple[types.ModuleType, FakeGimp]:
    """Import gimp_plugin/impasto/impasto.py against the fake `gi`; its sibling modules (which
    it imports by their file names, as in GIMP) are imported afresh, against this fake."""
    gi, gimp = fake_gi()
    monkeypatch.setitem(sys.modules, "gi", gi)
    monkeypatch.setitem(sys.modules, "gi.repository", gi.repository)
    for path in PLUGIN.parent.glob("*.py"):
        monkeypatch.delitem(sys.modules, path.stem, raising=False)
    spec = importlib.util.spec_from_file_location("impasto_gimp_plugin", PLUGIN)
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)  # as an import does (dataclasses need it)
    spec.loader.exec_module(module)
    return module, gimp

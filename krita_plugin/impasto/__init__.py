"""Impasto for Krita: a docker and an `impasto_apply` action that stylise layers through the
Impasto daemon. Inside Krita this registers both; elsewhere (tests) it only makes the package's
modules importable."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

# The installer puts `shared/` and any pyzmq/msgpack wheels Krita's Python lacks here.
_VENDOR = Path(__file__).resolve().parent / "vendor"
if _VENDOR.is_dir() and str(_VENDOR) not in sys.path:
    sys.path.insert(0, str(_VENDOR))

try:
    import krita
except ImportError:
    krita = None


def _missing_package() -> str:
    """The first package the plugin needs that Krita's Python cannot import, or ''."""
    for module, package in (("zmq", "pyzmq"), ("msgpack", "msgpack")):
        try:
            importlib.import_module(module)
        except ImportError:
            return package
    return ""


if krita is not None and hasattr(krita, "DockWidgetFactory"):
    _app = krita.Krita.instance()
    _missing = _missing_package()
    if _missing:
        from .missing import missing_docker

        _Docker = missing_docker(_missing)
    else:
        from .docker import ImpastoDocker as _Docker
        from .plugin import ImpastoExtension

        _app.addExtension(ImpastoExtension(_app))
    _app.addDockWidgetFactory(
        krita.DockWidgetFactory("impasto_docker", krita.DockWidgetFactoryBase.DockRight, _Docker)
    )

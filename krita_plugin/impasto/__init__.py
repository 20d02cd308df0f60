"""Impasto for Krita: a docker and an `impasto_apply` action that stylise layers through the
Impasto daemon. Inside Krita this registers both; elsewhere (tests) it only makes the package's
modules importable."""

from __future__ import annotations

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

if krita is not None and hasattr(krita, "DockWidgetFactory"):
    from .docker import DOCKER_ID, ImpastoDocker
    from .plugin import ImpastoExtension

    _app = krita.Krita.instance()
    _app.addExtension(ImpastoExtension(_app))
    _app.addDockWidgetFactory(
        krita.DockWidgetFactory(DOCKER_ID, krita.DockWidgetFactoryBase.DockRight, ImpastoDocker)
    )

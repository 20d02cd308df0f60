"""The docker Krita shows instead of Impasto's when its Python lacks pyzmq or msgpack."""

from __future__ import annotations

from typing import Any

from krita import DockWidget

from .qt_compat import QtWidgets


def missing_docker(package: str) -> type:
    """A docker class that says which package is missing and how to get it."""

    class MissingPackageDocker(DockWidget):
        def __init__(self) -> None:
            super().__init__()
            self.setWindowTitle("Impasto")
            label = QtWidgets.QLabel(
                f"Impasto needs the Python package <b>{package}</b> in Krita's Python. Run "
                "<code>python3 install.py</code> in the Impasto folder (it fetches it for "
                "Krita), or on Linux install <code>python3-zmq</code> and "
                "<code>python3-msgpack</code>, then restart Krita."
            )
            label.setWordWrap(True)
            self.setWidget(label)

        def canvasChanged(self, canvas: Any) -> None:  # noqa: N802 (Krita's name)
            """Nothing to follow."""

    return MissingPackageDocker

"""One import point for Qt: PyQt6 in Krita 6, PyQt5 in Krita 5.

PyQt6 only has scoped enums (`Qt.AlignmentFlag.AlignLeft`); PyQt5 has both spellings, so the
plugin writes the scoped form everywhere and this module gives PyQt5 the same names.
"""

from __future__ import annotations

try:
    from PyQt6 import QtCore, QtGui, QtWidgets

    QT_VERSION = 6
except ImportError:
    from PyQt5 import QtCore, QtGui, QtWidgets

    QT_VERSION = 5

__all__ = ["QT_VERSION", "QtCore", "QtGui", "QtWidgets", "enum"]

Qt = QtCore.Qt
QTimer = QtCore.QTimer
QImage = QtGui.QImage
QPixmap = QtGui.QPixmap
QIcon = QtGui.QIcon
QSize = QtCore.QSize


def enum(owner: object, scoped: str) -> object:
    """`enum(Qt, "AlignmentFlag.AlignLeft")` in both PyQt versions (PyQt5 has no scope)."""
    scope, _, name = scoped.rpartition(".")
    if QT_VERSION == 6 and scope:
        return getattr(getattr(owner, scope), name)
    return getattr(owner, name)


ALIGN_CENTER = enum(Qt, "AlignmentFlag.AlignCenter")
KEEP_ASPECT = enum(Qt, "AspectRatioMode.KeepAspectRatio")
SMOOTH = enum(Qt, "TransformationMode.SmoothTransformation")
USER_ROLE = enum(Qt, "ItemDataRole.UserRole")
FORMAT_RGBA8888 = enum(QImage, "Format.Format_RGBA8888")

"""Where the installer puts pyzmq/msgpack wheels for GIMP's own Python, and the plug-in finds
them. Standard library only: the installer runs on the system Python."""

from __future__ import annotations


def vendor_tag(major: int, minor: int, platform: str) -> str:
    """The `vendor/` subfolder holding wheels for one Python (`cp313-win-amd64`)."""
    return f"cp{major}{minor}-{platform.replace('_', '-').replace('.', '-')}"

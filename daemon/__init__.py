"""The Impasto daemon: serves style transfer over ZeroMQ to editor plugins, the CLI and scripts."""

__version__ = "0.1.0"

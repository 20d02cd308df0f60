"""Impasto's version: the one place it is written. The daemon reports it, the package metadata
(pyproject.toml) and the release files (`install.py --package`) take it from here, and the editor
plugins carry it in their copy of `shared/`."""

VERSION = "0.1.0"

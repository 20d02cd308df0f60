"""The pipeline's style pictures: catalogue paintings identified by their file, not by hashing
pixels, so gatys' style statistics are reused across jobs."""

from __future__ import annotations

import hashlib

import numpy as np
import torch

from daemon import pipeline
from daemon.catalogue import Catalogue
from daemon.catalogue.model_library import ModelLibrary
from daemon.catalogue.styles import StyleLibrary
from daemon.devices import profile
from daemon.engines import gatys
from daemon.plan import make_plan
from shared.job import JobSpec, StyleRef
from shared.protocol import PixelFormat
from tests.conftest import load_rgb


def _job(preserve_color: str = "none") -> tuple:
    rgb = load_rgb("chelsea.png")[:48, :64]
    photo = np.ascontiguousarray(np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)]))
    desc = PixelFormat("u8", "RGBA").describe(1, photo.shape[1], photo.shape[0])
    spec = JobSpec(
        content=desc,
        styles=(StyleRef(1.0, name="vangogh-night-cafe"),),
        engine="gatys",
        iterations=1,
        scales=1,
        seed=0,
        preserve_color=preserve_color,
    )
    return spec, [photo.tobytes()]


def test_a_catalogue_painting_is_cached_by_its_file_without_hashing_its_pixels(monkeypatch):
    catalogue = Catalogue(StyleLibrary([]), ModelLibrary([], shipped=None))
    catalogue.refresh()
    prof = profile("cpu")
    hashed: list[int] = []
    real_sha1 = hashlib.sha1

    def counting_sha1(data=b"", *args, **kw):
        hashed.append(len(memoryview(data).cast("B")))
        return real_sha1(data, *args, **kw)

    monkeypatch.setattr(hashlib, "sha1", counting_sha1)
    gatys._TARGETS.clear()
    painting = catalogue.snapshot.paintings["vangogh-night-cafe"]
    style_floats = catalogue.picture(painting).numel() * 4
    calls: list[str | None] = []
    real_grams = gatys._style_grams

    def spy(vgg, style, digest, side, prof_):
        calls.append(digest)
        return real_grams(vgg, style, digest, side, prof_)

    monkeypatch.setattr(gatys, "_style_grams", spy)
    for _ in range(2):
        spec, frames = _job()
        plan = make_plan(spec, catalogue.snapshot, prof)
        out = pipeline.run(plan, frames, catalogue, prof, lambda *a: None, lambda: False)
        assert out is not None
    assert not [n for n in hashed if n >= style_floats // 8], hashed  # no copy of the painting
    assert calls and calls[0] is not None and calls[0].startswith("file:")
    assert len({c for c in calls}) == 1 and len(gatys._TARGETS) == 1  # the second job reused it
    gatys._TARGETS.clear()


def test_a_picture_prepared_against_the_photo_is_not_cached():
    catalogue = Catalogue(StyleLibrary([]), ModelLibrary([], shipped=None))
    catalogue.refresh()
    prof = profile("cpu")
    gatys._TARGETS.clear()
    spec, frames = _job("luminance")
    plan = make_plan(spec, catalogue.snapshot, prof)
    pipeline.run(plan, frames, catalogue, prof, lambda *a: None, lambda: False)
    assert len(gatys._TARGETS) == 0
    assert torch.is_tensor(catalogue.picture(catalogue.snapshot.paintings["vangogh-night-cafe"]))

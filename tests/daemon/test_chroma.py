"""Fast mode's colour dither removal (daemon.imaging.chroma)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from daemon.catalogue.model_library import ModelLibrary
from daemon.imaging import chroma
from daemon.imaging.color import luminance, rgb_to_yiq, yiq_to_rgb
from daemon.imaging.filters import gaussian_blur
from daemon.io.images import read_image
from daemon.io.pixels import to_tensor
from daemon.optim.losses import resize_long_side

DATA = Path(__file__).resolve().parents[1] / "data"


def _dithered(h: int = 48, w: int = 64) -> tuple[torch.Tensor, torch.Tensor]:
    """A mid-grey picture with a smooth luminance ramp, and the same with a purple/green
    chequer in its chroma only (the network's dither, at its finest)."""
    yiq = torch.zeros(1, 3, h, w)
    yiq[:, 0] = torch.linspace(0.3, 0.7, w).expand(h, w)
    clean = yiq_to_rgb(yiq)
    checker = (torch.arange(h).view(-1, 1) + torch.arange(w).view(1, -1)) % 2 * 2 - 1.0
    yiq[:, 1] = 0.08 * checker
    yiq[:, 2] = -0.05 * checker
    return clean, yiq_to_rgb(yiq)


@pytest.fixture(scope="module")
def fast_model_output() -> torch.Tensor:
    """impasto-17 (Starry Night) on the committed red panda photo at 192 px."""
    lib = ModelLibrary()
    model = lib.models()["impasto-17"]
    net = lib.load(model, torch.device("cpu"))
    photo = resize_long_side(to_tensor(read_image(DATA / "red_panda.png")), 192).clamp(0, 1)
    index = next(s.index for s in model.styles if s.name == "vangogh-starry-night")
    with torch.no_grad():
        return net(photo, torch.eye(net.styles)[index]).clamp(0, 1)


def _high_chroma(x: torch.Tensor) -> float:
    iq = rgb_to_yiq(x)[:, 1:]
    return float((iq - gaussian_blur(iq, 2.0)).pow(2).mean())


def _chroma_detail(x: torch.Tensor) -> float:
    iq = rgb_to_yiq(x)[:, 1:, 4:-4, 4:-4]
    return float((iq - iq.mean((2, 3), keepdim=True)).pow(2).mean())


def test_the_dither_goes_and_the_luminance_stays() -> None:
    clean, dithered = _dithered()
    out = chroma.clean_chroma(dithered)
    assert _chroma_detail(out) < 0.01 * _chroma_detail(dithered)
    inner = (..., slice(4, -4), slice(4, -4))
    assert torch.allclose(out[inner], clean[inner], atol=2e-3)
    assert torch.allclose(luminance(out), luminance(dithered), atol=1e-5)


def test_the_dither_of_a_real_network_output_is_what_goes(fast_model_output) -> None:
    """On the shipped network's own output: the fringe measure's high-pass chroma falls by
    most of its energy while the luminance does not move."""
    x = fast_model_output
    out = chroma.clean_chroma(x)
    moved = (luminance(out) - luminance(x)).abs() > 1e-3  # where clamping to 0..1 bit
    assert float(moved.float().mean()) < 0.05
    assert _high_chroma(out) < 0.35 * _high_chroma(x)


def test_bands_of_rows_give_the_whole_picture_result(monkeypatch) -> None:
    x = torch.rand(1, 3, 90, 37)
    whole = chroma.clean_chroma(x)
    monkeypatch.setattr(chroma, "BAND_PIXELS", 37 * 13)  # 13 rows a band, 3 of context
    assert torch.equal(chroma.clean_chroma(x), whole)

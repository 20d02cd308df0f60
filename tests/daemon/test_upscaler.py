"""The learned ×2 upscaler: the shipped file, tiles, training and resume, and its use in jobs."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from daemon.imaging.upscale import UPSCALERS
from daemon.io.pixels import to_tensor
from daemon.nets.upscale_net import SHIPPED, UpscaleNet, learned, load_upscaler, upscale_x2
from daemon.optim.losses import psnr
from daemon.training.upscaler import UpscalerConfig, downscale, train_upscaler
from tests.conftest import DATA, load_rgb, rgba_u8


def test_the_shipped_upscaler_loads_from_safetensors_and_beats_bicubic_and_lanczos():
    net, card, extra = load_upscaler(SHIPPED)
    assert not extra  # weights only: the optimiser stays in the checkpoint, not in the repo
    assert card["training"]["command"].startswith("impasto train-upscaler")
    assert all(p["licence"] for p in card["training"]["photos"])
    hr = to_tensor(load_rgb("chelsea.png"))[..., :106, :160]  # a photo it never saw
    lr = downscale(hr)
    out = learned(lr, tuple(hr.shape[-2:]))
    for name in ("bicubic", "lanczos"):
        assert psnr(out, hr) > psnr(UPSCALERS[name](lr, tuple(hr.shape[-2:])), hr) + 0.2, name


def test_tiles_give_the_one_pass_result():
    torch.manual_seed(0)
    net = UpscaleNet(8, 2).eval()
    for p in net.parameters():
        torch.nn.init.normal_(p, std=0.2)
    x = torch.rand(1, 3, 50, 70)
    with torch.no_grad():
        whole = net(x)
    torch.testing.assert_close(upscale_x2(net, x, tile=16), whole, rtol=0, atol=1e-5)


def test_learned_reaches_any_size_by_x2_steps():
    net = UpscaleNet(8, 1).eval()  # untrained: about bicubic ×2 per step
    out = learned(torch.rand(1, 3, 20, 30), (77, 121), net)
    assert out.shape == (1, 3, 77, 121) and 0 <= out.min() and out.max() <= 1


def test_training_lowers_the_loss_writes_a_card_and_resumes_counting_on(tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    for name in ("chelsea.png", "red_panda.png"):
        (photos / name).write_bytes((DATA / name).read_bytes())
    out = tmp_path / "up.safetensors"
    cfg = UpscalerConfig([photos], out, steps=40, batch=4, patch=32, lr=3e-3, width=8, depth=1)
    losses: list[float] = []
    train_upscaler(cfg, lambda step, total, l1: losses.append(l1))
    card = json.loads(out.with_suffix(".json").read_text())
    assert card["training"]["steps"] == 40 and card["architecture"]["kind"] == "upscaler"
    assert out.with_name("up.ckpt.safetensors").exists()
    more = UpscalerConfig(
        [photos], out, steps=60, batch=4, patch=32, lr=3e-3, width=8, depth=1, resume=True
    )
    steps: list[int] = []
    card = train_upscaler(more, lambda step, total, l1: steps.append(step))
    assert steps[0] == 41 and card["training"]["steps"] == 60
    assert [h["from_step"] for h in card["training"]["history"]] == [0, 40]
    net, _, _ = load_upscaler(out)
    hr = to_tensor(load_rgb("chelsea.png"))[..., :106, :160]
    with torch.no_grad():
        trained = net(downscale(hr)).clamp(0, 1)
    assert psnr(trained, hr) > psnr(UPSCALERS["bicubic"](downscale(hr), (106, 160)), hr)


def test_a_fast_model_file_is_not_taken_for_an_upscaler():
    from daemon.catalogue.model_library import SHIPPED_DIR

    with pytest.raises(ValueError, match="not a ×2 upscaler"):
        load_upscaler(SHIPPED_DIR / "impasto-17.safetensors")


def test_a_fast_job_smaller_than_the_photo_is_enlarged_by_the_learned_upscaler(daemon):
    content = rgba_u8(np.asarray(load_rgb("chelsea.png")))
    h, w = content.shape[:2]
    desc = {"frame": 1, "width": w, "height": h, "channels": 4, "dtype": "u8"}
    outs = {}
    with daemon.client(timeout=30) as c:
        for up in ("lanczos", "learned"):
            job = {
                "engine": "fast",
                "content": desc,
                "styles": [{"name": "starry-night"}],
                "size": 80,
                "upscaler": up,
            }
            result = c.run(job, [content.tobytes()], timeout=120)
            got, data = result.image_bytes(0)
            assert (got.width, got.height) == (w, h)
            assert result.body["metadata"]["working_size"][0] < w
            outs[up] = np.frombuffer(data, np.uint8).reshape(h, w, 4)[..., :3].astype(int)
    diff = np.abs(outs["learned"] - outs["lanczos"]).mean()
    assert 0 < diff < 8  # a different enlargement of the same picture


def test_a_size_a_pixel_past_double_takes_one_x2_step_not_two(monkeypatch):
    from daemon.nets import upscale_net

    calls = []
    real = upscale_net.upscale_x2
    monkeypatch.setattr(
        upscale_net, "upscale_x2", lambda net, x, tile=256: calls.append(x.shape) or real(net, x)
    )
    net = UpscaleNet(8, 1).eval()
    out = learned(torch.rand(1, 3, 30, 40), (61, 81), net)  # the hires ladder rounds like this
    assert out.shape == (1, 3, 61, 81) and len(calls) == 1
    calls.clear()
    learned(torch.rand(1, 3, 30, 40), (120, 160), net)  # x4: two steps
    assert len(calls) == 2

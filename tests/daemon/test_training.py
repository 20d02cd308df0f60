"""Training the fast network on tiny images: the loss falls, resume is exact, extend is safe."""

from __future__ import annotations

import pytest
import torch

from daemon.nets.model_files import load_model
from daemon.training.train import TrainConfig, checkpoint_path, train
from tests.conftest import DATA


def config(tmp_path, name: str, **kw) -> TrainConfig:
    base = {
        "styles": [DATA / "night_cafe.png"],
        "content": DATA,
        "out": tmp_path / f"{name}.safetensors",
        "size": 32,
        "batch": 2,
        "steps": 4,
    }
    base.update(kw)
    return TrainConfig(**base)


def test_a_few_steps_lower_the_loss(tmp_path):
    totals = []
    train(config(tmp_path, "m", steps=40, lr=1e-2), lambda s, n, ema: totals.append(ema["total"]))
    assert totals[-1] < 0.8 * totals[0]


def test_a_resumed_run_ends_in_the_same_state_as_an_uninterrupted_one(tmp_path):
    train(config(tmp_path, "straight", steps=6))
    train(config(tmp_path, "split", steps=3))
    train(config(tmp_path, "split", steps=6, resume=True))
    a, _, extra_a = load_model(checkpoint_path(tmp_path / "straight.safetensors"))
    b, _, extra_b = load_model(checkpoint_path(tmp_path / "split.safetensors"))
    assert int(extra_b["step"]) == 6
    for (name, pa), pb in zip(a.state_dict().items(), b.state_dict().values(), strict=True):
        torch.testing.assert_close(pa, pb, rtol=0, atol=1e-6, msg=name)


def test_extend_adds_styles_and_leaves_existing_outputs_unchanged(tmp_path):
    train(config(tmp_path, "base", steps=3))
    base_path = tmp_path / "base.safetensors"
    train(config(tmp_path, "ext", steps=3, styles=[DATA / "red_panda.png"], extend=base_path))
    base, _, _ = load_model(base_path)
    ext, card, _ = load_model(tmp_path / "ext.safetensors")
    assert [s["name"] for s in card["styles"]] == ["night-cafe", "red-panda"]
    x = torch.rand(1, 3, 24, 40)
    with torch.inference_mode():
        assert torch.equal(
            ext.eval()(x, torch.tensor([1.0, 0.0])), base.eval()(x, torch.tensor([1.0]))
        )
        assert not torch.equal(ext(x, torch.tensor([0.0, 1.0])), ext(x, torch.tensor([1.0, 0.0])))


def test_loss_curve_is_drawn_from_the_training_log(tmp_path):
    from PIL import Image

    from daemon.training.curve import draw, read_log

    log = tmp_path / "train.log"
    log.write_text(
        "junk\n"
        + "".join(
            f"12:00 step {s}/100 content={1e5 / s:.4g} style={1e6 / s:.4g} tv=1 "
            f"total={1.1e6 / s:.4g}\n"
            for s in (50, 100)
        )
    )
    series = read_log(log)
    assert series["style"] == [(50, 2e4), (100, 1e4)] and "tv" not in series
    draw(series, tmp_path / "curve.png")
    assert Image.open(tmp_path / "curve.png").size == (640, 360)


def test_resume_from_the_weights_only_model_when_the_checkpoint_is_gone(tmp_path):
    train(config(tmp_path, "w", steps=3))
    checkpoint_path(tmp_path / "w.safetensors").unlink()
    before, _, _ = load_model(tmp_path / "w.safetensors")
    card = train(config(tmp_path, "w", steps=5, resume=True, command="impasto train --more"))
    after, saved, _ = load_model(tmp_path / "w.safetensors")
    assert card["training"]["steps"] == saved["training"]["steps"] == 5
    assert [h["from_step"] for h in saved["training"]["history"]] == [0, 3]
    assert not torch.equal(before.down[0].conv.weight, after.down[0].conv.weight)


def test_the_card_names_each_painting_and_its_licence_from_a_manifest(tmp_path):
    manifest = tmp_path / "MANIFEST.tsv"
    manifest.write_text(
        "file\tsource_package\tlicense\tnote\n"
        "style/night_cafe.png\tgcompris\tPublic domain\tVan Gogh, The Night Cafe 1888; x.rcc\n"
    )
    card = train(config(tmp_path, "m", steps=1, manifest=manifest))
    (style,) = card["styles"]
    assert style["licence"] == "Public domain"
    assert style["painting"] == "Van Gogh, The Night Cafe 1888"
    assert load_model(tmp_path / "m.safetensors")[1]["styles"][0]["licence"] == "Public domain"


def test_bf16_autocast_trains_with_fp32_losses(tmp_path):
    totals = []
    card = train(
        config(tmp_path, "b", steps=3, precision="bf16"),
        lambda s, n, ema: totals.append(ema["total"]),
    )
    assert all(torch.isfinite(torch.tensor(totals))) and card["training"]["steps"] == 3
    net, _, _ = load_model(tmp_path / "b.safetensors")
    assert next(net.parameters()).dtype == torch.float32


def test_the_side_the_paintings_are_seen_at_sets_the_targets_and_is_on_the_card(tmp_path):
    seen = {}
    for side in (None, 96):
        style: list[float] = []
        out = f"side{side}"
        train(
            config(tmp_path, out, steps=1, style_side=side),
            lambda s, n, e, got=style: got.append(e["style"]),
        )
        _, card, _ = load_model(tmp_path / f"{out}.safetensors")
        seen[side] = (card["training"]["style_side"], style[0])
    assert seen[None][0] == 64 and seen[96][0] == 96  # default: twice the crop size
    assert seen[None][1] != seen[96][1]  # same batch, other targets


def test_a_frame_round_the_painting_file_is_left_out_of_the_targets(tmp_path):
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    painting = rng.integers(0, 256, (100, 100, 3), dtype=np.uint8)
    framed = painting.copy()
    framed[:2], framed[-2:], framed[:, :2], framed[:, -2:] = 255, 255, 255, 255  # a white frame
    style = {}
    for name, pixels in (("plain", painting), ("framed", framed)):
        Image.fromarray(pixels).save(tmp_path / f"{name}.png")
        got: list[float] = []
        cfg = config(tmp_path, name, steps=1, styles=[tmp_path / f"{name}.png"])
        train(cfg, lambda s, n, e, got=got: got.append(e["style"]))
        style[name] = got[0]
    assert style["plain"] == style["framed"]  # 2% of each side trimmed: the frame is gone


def test_a_patch_stem_model_trains_resumes_and_seeds_a_new_one(tmp_path):
    train(config(tmp_path, "p", steps=2, stem="patch"))
    assert load_model(tmp_path / "p.safetensors")[0].stem == "patch"
    train(config(tmp_path, "p", steps=3, resume=True))  # the checkpoint's stem, not the default
    card = train(config(tmp_path, "q", steps=1, init_from=tmp_path / "p.safetensors"))
    assert card["training"]["steps"] == 1
    assert load_model(tmp_path / "q.safetensors")[0].stem == "patch"
    train(
        config(
            tmp_path,
            "e",
            steps=1,
            styles=[DATA / "red_panda.png"],
            extend=tmp_path / "p.safetensors",
        )
    )
    assert load_model(tmp_path / "e.safetensors")[0].stem == "patch"
    with pytest.raises(RuntimeError, match="has the patch stem, not conv"):
        train(config(tmp_path, "r", steps=1, stem="conv", init_from=tmp_path / "p.safetensors"))

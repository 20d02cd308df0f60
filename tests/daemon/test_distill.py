"""Distillation: a model with the patch stem learns to paint as its teacher does."""

from __future__ import annotations

import pytest
import torch

from daemon.io.images import read_image
from daemon.nets.fast_net import StyleNet
from daemon.nets.model_files import load_model, save_model
from daemon.optim.losses import psnr
from daemon.training.distill import DistillConfig, distill, student_from
from tests.conftest import DATA


def teacher_file(tmp_path, stem: str = "conv"):
    torch.manual_seed(0)
    net = StyleNet(2, widths=(8, 16, 16), residual_blocks=1, stem=stem)
    with torch.no_grad():
        for norm in net.norms():
            norm.scale.normal_(1, 0.5)
            norm.shift.normal_(0, 0.5)
    card = {"styles": [{"name": "a"}, {"name": "b"}], "training": {"steps": 7, "command": "x"}}
    save_model(tmp_path / "teacher.safetensors", net, card)
    return tmp_path / "teacher.safetensors"


@pytest.mark.parametrize("teacher_stem, student_stem", [("conv", "patch"), ("patch", "conv")])
def test_the_student_gets_close_to_its_teacher_and_keeps_its_styles(
    tmp_path, teacher_stem, student_stem
):
    teacher_path = teacher_file(tmp_path, teacher_stem)
    hold_out = tmp_path / "hold_out.txt"
    hold_out.write_text("chelsea.png\n")
    cfg = DistillConfig(
        teacher=teacher_path,
        content=[DATA],
        out=tmp_path / "student.safetensors",
        stem=student_stem,
        hold_out=hold_out,
        feature_steps=150,
        steps=150,
        size=32,
        batch=4,
        lr=1e-2,
        command="impasto distill …",
    )
    card = distill(cfg)
    teacher, _, _ = load_model(teacher_path)
    student, saved, _ = load_model(cfg.out)
    assert student.stem == student_stem and teacher.stem == teacher_stem
    assert saved["styles"] == [{"name": "a"}, {"name": "b"}]
    assert saved["training"] == {"steps": 7, "command": "x"}
    assert saved["distillation"]["teacher"] == "teacher.safetensors"
    assert saved["distillation"]["command"] == "impasto distill …"
    assert card["distillation"]["psnr_vs_teacher_db"] == saved["distillation"]["psnr_vs_teacher_db"]
    # on the held-out photo, for each style and a blend: closer than before distilling
    photo = torch.from_numpy(read_image(DATA / "chelsea.png")[..., :3].copy()).permute(2, 0, 1)
    x = torch.nn.functional.interpolate(photo[None].float() / 255, size=(64, 96), mode="area")
    torch.manual_seed(1)
    fresh = student_from(teacher, student_stem).eval()
    with torch.inference_mode():
        for style in ([1.0, 0.0], [0.0, 1.0], [0.5, 0.5]):
            w = torch.tensor(style)
            before = psnr(fresh(x, w), teacher(x, w))
            after = psnr(student(x, w), teacher(x, w))
            assert after > before + 2, (style, before, after)


def test_a_teacher_with_the_stem_already_is_refused(tmp_path):
    teacher_path = teacher_file(tmp_path)
    cfg = DistillConfig(teacher=teacher_path, content=[DATA], out=tmp_path / "s.safetensors")
    cfg.stem = "conv"
    with pytest.raises(RuntimeError, match="already has the conv stem"):
        distill(cfg)

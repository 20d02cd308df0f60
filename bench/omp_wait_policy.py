"""Does passive OpenMP waiting (the daemon's default) cost speed, and what does it save under load?

Times VGG19 forward+backward (the Gatys step) at 256x170 in fresh processes with
OMP_WAIT_POLICY=ACTIVE and PASSIVE, alternating, on an idle machine and with a competing
busy process (see LOADS), each in its default (active) policy.

    .venv/bin/python bench/omp_wait_policy.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHILD = """
import statistics, time, torch
from daemon.nets.vgg import CONTENT_LAYERS, STYLE_LAYERS, VGGFeatures
vgg = VGGFeatures()
x = (torch.rand(1, 3, 170, 256) * 255).requires_grad_()
times = []
for _ in range(8):
    t = time.perf_counter()
    f = vgg.run(x, CONTENT_LAYERS + STYLE_LAYERS)
    sum(v.pow(2).mean() for v in f.values()).backward()
    times.append(time.perf_counter() - t)
print(statistics.median(times[1:]))
"""
# Competing loads: a busy single thread (an editor painting), a torch matmul loop, and a second
# Gatys-like VGG job (many short parallel regions, like another optimisation on the cores).
LOADS = {
    "a busy Python thread": "while True:\n    pass\n",
    "a torch matmul loop": (
        "import torch\na = torch.rand(1024, 1024)\nwhile True:\n    a = (a @ a).tanh()\n"
    ),
    "another VGG fwd+bwd loop": CHILD.replace("range(8)", "iter(int, 1)"),
}


def measure(policy: str) -> float:
    env = dict(os.environ, OMP_WAIT_POLICY=policy, PYTHONPATH=str(ROOT))
    out = subprocess.run([sys.executable, "-c", CHILD], env=env, capture_output=True, text=True)
    return float(out.stdout.strip())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    rows = []
    for loaded in (None, *LOADS):
        load = None
        if loaded:
            env = dict(os.environ, PYTHONPATH=str(ROOT))
            env.pop("OMP_WAIT_POLICY", None)
            load = subprocess.Popen([sys.executable, "-c", LOADS[loaded]], env=env)
        try:
            times: dict[str, list[float]] = {"ACTIVE": [], "PASSIVE": []}
            for _ in range(args.repeats):
                for policy in times:
                    times[policy].append(measure(policy))
        finally:
            if load is not None:
                load.kill()
        active, passive = (statistics.median(times[p]) for p in ("ACTIVE", "PASSIVE"))
        rows.append((loaded, active, passive))
    print("| machine | ACTIVE s/step | PASSIVE s/step | ACTIVE / PASSIVE |")
    print("|---|---|---|---|")
    for loaded, active, passive in rows:
        label = f"with {loaded}" if loaded else "idle"
        print(f"| {label} | {active:.3f} | {passive:.3f} | {active / passive:.2f} |")


if __name__ == "__main__":
    main()

"""The Impasto daemon: serves style transfer over ZeroMQ to editor plugins, the CLI and scripts."""

import os

# The daemon shares the CPU with the editor. OpenMP threads that spin while waiting make every
# step ~3.3x slower as soon as another busy torch process competes for the cores, and 1.14x with
# a busy single thread; sleeping waiters cost ~6% on an idle machine (bench/omp_wait_policy.py,
# docs/benchmarks.md). Must be set before torch loads its OpenMP runtime.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from shared.version import VERSION  # noqa: E402

__version__ = VERSION

"""The Impasto daemon: serves style transfer over ZeroMQ to editor plugins, the CLI and scripts."""

import os

# The daemon shares the CPU with the editor. OpenMP threads that spin while waiting make every
# step ~3x slower as soon as another busy process competes for the cores (VGG19 fwd+bwd at 256 px:
# 1.75 s spinning vs 0.53 s passive, measured here under load); sleeping waiters cost nothing
# measurable on an idle machine. Must be set before torch loads its OpenMP runtime.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__version__ = "0.1.0"

"""What every benchmark here shares: the machine's description, the code revision, the load,
and rewriting one generated section of docs/benchmarks.md while keeping the rest."""

from __future__ import annotations

import os
import platform
import socket
import subprocess
import sys
import time
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parent.parent


def machine(*packages: str) -> dict:
    """CPU, cores, RAM, torch and thread count, Python, and the versions of `packages`."""
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        cpu = platform.processor() or cpu
    ram = "unknown"
    try:
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        ram = f"{kb / 2**20:.1f} GiB"
    except (OSError, ValueError, IndexError):
        pass
    info = {
        "nproc": len(os.sched_getaffinity(0))
        if hasattr(os, "sched_getaffinity")
        else os.cpu_count(),
        "cpu": cpu,
        "ram": ram,
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "python": platform.python_version(),
    }
    for name in packages:
        try:
            info[name] = version(name)
        except PackageNotFoundError:
            info[name] = "?"
    return info


def revision() -> str:
    """The commit of the engine code this process imported, and whether daemon/shared differ."""
    try:
        run = dict(cwd=REPO, capture_output=True, text=True, check=True)
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], **run).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "daemon", "shared"], **run).stdout
        return head + (" with uncommitted changes in daemon/ or shared/" if dirty.strip() else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def loadavg() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


def publish(text: str, markdown: Path | None, begin: str, end: str) -> None:
    """Print a benchmark's generated section and, unless `markdown` is None, write it there."""
    print(text)
    if markdown:
        write_section(markdown, begin, end, text)
        print(f"wrote {markdown}", file=sys.stderr)


def write_section(path: Path, begin: str, end: str, section: str) -> None:
    """Replace the text between `begin` and `end` in `path` (or append it), keeping the rest.

    `section` must itself start with `begin` and end with `end`."""
    text = path.read_text() if path.exists() else "# Benchmarks\n\n"
    if begin in text and end in text:
        head, rest = text.split(begin, 1)
        tail = rest.split(end, 1)[1].lstrip("\n")
        text = head + section + ("\n" + tail if tail else "")
    else:
        text = text.rstrip("\n") + "\n\n" + section
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


# The daemon with a fault injected: every third fast-engine run raises (not in the product code).
INJECT_FAULTS = """
import itertools, sys
from cli.main import main
from daemon.engines import fast
calls, run = itertools.count(1), fast.FastEngine.run
def failing(self, *args, **kw):
    if next(calls) % 3 == 0:
        raise RuntimeError("injected fault")
    return run(self, *args, **kw)
fast.FastEngine.run = failing
sys.exit(main(sys.argv[1:]))
"""


class BenchDaemon:
    """A real `impasto daemon` subprocess on a free loopback port, with its peak RSS readable."""

    def __init__(
        self,
        data_home: Path,
        *extra: str,
        endpoint: str | None = None,
        inject_faults: bool = False,
        repo: Path = REPO,
    ) -> None:
        """`inject_faults`: every third fast-engine run raises (bench/reliability.py); `repo`: the
        checkout whose daemon runs (another commit's worktree, for before/after runs)."""
        from shared.client import Client
        from shared.errors import Unavailable

        if endpoint is None:
            with socket.socket() as s:
                s.bind(("127.0.0.1", 0))
                port = s.getsockname()[1]
            endpoint = f"tcp://127.0.0.1:{port}"
        self.endpoint = endpoint
        entry = ["-c", INJECT_FAULTS] if inject_faults else ["-m", "cli"]
        cmd = [sys.executable, *entry, "daemon", "--endpoint", self.endpoint, *extra]
        env = dict(os.environ, XDG_DATA_HOME=str(data_home))
        self.proc = subprocess.Popen(
            cmd, cwd=repo, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + 120
        while True:
            try:
                with Client(self.endpoint, timeout=1.0) as c:
                    c.hello()
                return
            except Unavailable:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise

    def rss(self) -> int:
        """The daemon's resident memory now, in bytes (Linux)."""
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        raise RuntimeError("no VmRSS")

    def reset_peak(self) -> None:
        """Reset the kernel's peak-RSS counter of the daemon (Linux)."""
        from daemon.devices import reset_peak

        if not reset_peak(self.proc.pid):
            raise RuntimeError("cannot reset the daemon's peak RSS")

    def peak_rss(self) -> int:
        """The daemon's peak RSS in bytes since start or the last `reset_peak`."""
        from daemon.devices import peak_bytes

        peak = peak_bytes(self.proc.pid)
        if not peak:
            raise RuntimeError("no VmHWM")
        return peak

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(60)


# A small launcher runs a command and reports its peak RSS: a child forked straight from a (large)
# benchmark process would count the parent's pages it shared before exec.
LAUNCHER = (
    "import os, sys\n"
    "pid = os.fork()\n"
    "if pid == 0:\n"
    "    os.execv(sys.argv[1], sys.argv[1:])\n"
    "_, status, usage = os.wait4(pid, 0)\n"
    "print(usage.ru_maxrss, file=sys.stderr)\n"
    "sys.exit(os.waitstatus_to_exitcode(status))\n"
)


def run_process(cmd: list[str]) -> int:
    """Run a command to completion; its own peak RSS in bytes (Linux reports KiB)."""
    run = subprocess.run(
        [sys.executable, "-S", "-c", LAUNCHER, *cmd], capture_output=True, text=True, check=False
    )
    if run.returncode != 0:
        raise RuntimeError(f"{cmd[0]} failed: {run.stderr[-800:]}")
    return int(run.stderr.split()[-1]) * 1024

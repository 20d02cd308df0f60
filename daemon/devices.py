"""The one place that owns devices, precision and memory budgets.

Engines ask this module which device to use, whether to autocast, and how many pixels fit in the
memory budget; none of them decides those on its own.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import logging
import os
from dataclasses import dataclass, replace

import torch

from shared.errors import BadRequest

log = logging.getLogger(__name__)

# Peak bytes per pixel of VGG19 forward+backward to relu5_1 in fp32 on CPU: 2,296 at every side
# from 320 to 1024 px with the daemon's allocator setting (`tune_allocator`; with glibc's
# default the same measure wandered from 1,300 to 2,300), with a margin for the objective's own.
VGG_BYTES_PER_PIXEL = 2600
# Peak bytes per pixel of the fast network's inference in fp32 (measured 480-600 over the
# process baseline at 512²..2048² on CPU), with a margin: PyTorch (GPUs, tiles, style maps).
FAST_BYTES_PER_PIXEL = 700
# The same for the ONNX Runtime graph the CPU runs on a whole image with one blend
# (daemon.nets.fast_graph; measured 290-340 at 1024² and 2048²), with a margin.
ONNX_FAST_BYTES_PER_PIXEL = 400
# Share of system RAM a CPU job may plan to use when no explicit budget is given.
CPU_RAM_SHARE = 0.35


def available_devices() -> list[str]:
    """Devices present on this machine, best first."""
    out = []
    if torch.cuda.is_available():
        out += [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        out.append("mps")
    out.append("cpu")
    return out


def choose_device(requested: str | None = None) -> torch.device:
    """CUDA > MPS > CPU, or the requested one if it exists (`cuda` means the first GPU)."""
    devices = available_devices()
    if not requested or requested == "auto":
        return torch.device(devices[0])
    name = "cuda:0" if requested == "cuda" else requested
    if name not in devices:
        raise BadRequest(
            f"device {requested!r} is not available here; choose from {', '.join(devices)}"
        )
    return torch.device(name)


@dataclass(frozen=True)
class DeviceProfile:
    """What an engine needs to know about where it runs."""

    device: torch.device
    memory_budget: int  # bytes a job may use on top of what the daemon held when it started
    vgg_weights: str = "original"  # loss network weights: "original" or "torchvision"
    baseline: int = 0  # the process's resident bytes when the job started (CPU; 0: not a job's)

    @property
    def autocast_dtype(self) -> torch.dtype | None:
        """Autocast on GPUs (fp16 on CUDA/MPS); CPU stays fp32 unless an engine opts in."""
        if self.device.type in ("cuda", "mps"):
            return torch.float16
        return None

    def autocast(self, dtype: torch.dtype | None = None) -> contextlib.AbstractContextManager:
        """Autocast context for the network forward pass (losses stay fp32 by the callers)."""
        dtype = dtype or self.autocast_dtype
        if dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=dtype)

    def for_job(self) -> DeviceProfile:
        """This profile for a job starting now: on a CPU, what the process holds now is the
        baseline the budget comes on top of (weights, caches, the job's received frames)."""
        return replace(self, baseline=resident_bytes() if self.device.type == "cpu" else 0)

    def held(self) -> int:
        """Bytes the job holds now beyond its baseline (CPU jobs; 0 elsewhere): its decoded
        image, working copies, results so far."""
        return max(0, resident_bytes() - self.baseline) if self.baseline else 0

    def max_vgg_pixels(self, reserved: int = 0) -> int:
        """How many pixels VGG19 forward+backward can take within what is left of the budget:
        less what the job holds already and `reserved` bytes it will hold besides."""
        left = self.memory_budget - self.held() - reserved
        return max(64 * 64, left // VGG_BYTES_PER_PIXEL)

    def to_wire(self) -> dict:
        return {"device": str(self.device), "memory_budget": self.memory_budget}


def resident_bytes() -> int:
    """This process's resident memory now, in bytes (Linux; 0 where it cannot be read)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


# glibc malloc: allocations from this size up are mapped from the kernel and given back when
# freed. glibc's default threshold starts at 128 KiB and rises (to 32 MiB) each time a mapped
# block is freed, after which tensors of a few MiB come from its heap, which keeps what they
# leave behind: a hires job at a 400 MB budget then grew the daemon by 550–680 MB, and the
# held memory shrank the next tiles. Fixed here (which also stops the rise): 406 MB; at a 700 MB
# budget the test's job peaks at 520 MB (887 MB with glibc's default and a trim between stages).
# The price: fresh mappings are page-faulted on every large tensor, so VGG19 forward+backward at
# 384² takes ~12% longer (3.07 → 3.43 s, one thread, interleaved processes); fast mode's speed
# is unchanged at 1024² and 2048² (through two daemons, interleaved).
MMAP_THRESHOLD = 64 * 1024
_M_MMAP_THRESHOLD = -3  # mallopt's parameter number (malloc.h)


@functools.cache
def _libc():
    """glibc, or None elsewhere (musl, macOS, Windows: their allocators are left alone)."""
    if not hasattr(os, "confstr"):
        return None
    try:
        if not (os.confstr("CS_GNU_LIBC_VERSION") or "").startswith("glibc"):
            return None
        return ctypes.CDLL("libc.so.6")
    except (OSError, ValueError):
        return None


def tune_allocator() -> bool:
    """Give large blocks back to the system as soon as they are freed (glibc; see
    MMAP_THRESHOLD), so a job's memory is not kept after it and the budget's `held` figure is
    what the job holds. Called once when the daemon starts. True where it applied."""
    libc = _libc()
    return bool(libc and libc.mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD))


def release_memory() -> None:
    """Return the allocator's free memory to the system (glibc), e.g. after a job."""
    libc = _libc()
    if libc:
        libc.malloc_trim(0)


def reset_peak(pid: int | str = "self") -> bool:
    """Start a process's peak-RSS count afresh (this one by default; Linux); False where it
    cannot."""
    try:
        with open(f"/proc/{pid}/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def peak_bytes(pid: int | str = "self") -> int:
    """A process's peak resident memory since it started or `reset_peak` (this one by default;
    Linux; 0 where it cannot be read)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0


def memory_budget(device: torch.device, override: int | None = None) -> int:
    """Bytes a job may use: the override, else free GPU memory or a share of RAM."""
    if override:
        return override
    if device.type == "cuda":
        free, _total = torch.cuda.mem_get_info(device)
        return int(free * 0.8)
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        total = 8 << 30
    return int(total * CPU_RAM_SHARE)


def profile(
    requested: str | None = None, budget: int | None = None, vgg_weights: str = "original"
) -> DeviceProfile:
    """Resolve the device and its memory budget."""
    device = choose_device(requested)
    prof = DeviceProfile(device, memory_budget(device, budget), vgg_weights)
    log.info("device %s, memory budget %.1f GB", device, prof.memory_budget / 2**30)
    return prof


def is_out_of_memory(exc: BaseException) -> bool:
    """True for the device out-of-memory errors PyTorch raises."""
    if isinstance(exc, (torch.OutOfMemoryError, MemoryError)):
        return True
    text = str(exc).lower()
    return isinstance(exc, RuntimeError) and ("out of memory" in text or "can't allocate" in text)

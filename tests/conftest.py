"""Shared fixtures: a real daemon in a subprocess on a free loopback port, and test images.

The whole session runs with HOME and the XDG/Windows folders pointing into a temporary sandbox,
so nothing a test starts (install.py, the daemon, an editor) writes into the developer's real
Krita, GIMP or Impasto folders; a session fixture checks those folders are unchanged at the end.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest

from shared.client import Client
from shared.errors import Unavailable

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data"
REAL_HOME = Path.home()
# The folders Impasto's installers and daemon write to, under the real HOME.
USER_FOLDERS = (
    ".local/share/krita",
    ".local/share/impasto",
    ".config/GIMP",
    ".config/kritarc",
    ".var/app/org.gimp.GIMP",
)
SANDBOX = Path(tempfile.mkdtemp(prefix="impasto-test-home-"))
_SANDBOX_VARS = {
    "HOME": SANDBOX,
    "XDG_CONFIG_HOME": SANDBOX / ".config",
    "XDG_DATA_HOME": SANDBOX / ".local" / "share",
    "XDG_CACHE_HOME": SANDBOX / ".cache",
    "APPDATA": SANDBOX / "AppData" / "Roaming",
    "LOCALAPPDATA": SANDBOX / "AppData" / "Local",
}


def _snapshot(home: Path) -> dict[str, tuple[int, int]]:
    """Every file under the user folders of `home`: size and modification time."""
    out = {}
    for folder in USER_FOLDERS:
        root = home / folder
        paths = [root] if root.is_file() else root.rglob("*") if root.is_dir() else []
        for path in paths:
            if path.is_file():
                st = path.stat()
                out[str(path)] = (st.st_size, st.st_mtime_ns)
    return out


_REAL_BEFORE = _snapshot(REAL_HOME)
os.environ.update({k: str(v) for k, v in _SANDBOX_VARS.items()})


@pytest.fixture(scope="session", autouse=True)
def real_user_folders_stay_untouched():
    """Fails the session if any test wrote into the real HOME's editor or Impasto folders."""
    yield
    after = _snapshot(REAL_HOME)
    changed = sorted(
        p for p in set(after) | set(_REAL_BEFORE) if after.get(p) != _REAL_BEFORE.get(p)
    )
    shutil.rmtree(SANDBOX, ignore_errors=True)
    assert not changed, f"tests changed files in the real HOME: {changed[:10]}"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class DaemonProcess:
    """`impasto daemon` in a subprocess; stopped with SIGTERM (SIGKILL if it hangs)."""

    def __init__(
        self, tmp: Path, *extra: str, endpoint: str | None = None, keys: dict | None = None
    ) -> None:
        """`keys`: the key files a client needs (`server_key`, `client_key`), when the daemon
        is started with --keys."""
        tmp.mkdir(parents=True, exist_ok=True)
        self.keys = keys or {}
        self.endpoint = endpoint or f"tcp://127.0.0.1:{free_port()}"
        self.log = tmp / "daemon.log"
        self.data = tmp / "data"
        self.output = tmp / "daemon.out"
        env = dict(os.environ, XDG_DATA_HOME=str(tmp / "data"), PYTHONUNBUFFERED="1")
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "cli",
                "daemon",
                "--endpoint",
                self.endpoint,
                "--log-file",
                str(self.log),
                *extra,
            ],
            cwd=ROOT,
            env=env,
            stdout=self.output.open("w"),  # a file, not a pipe nobody drains
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 60
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"daemon exited: {self.output.read_text()}")
            try:
                with Client(self.endpoint, timeout=1.0, **self.keys) as c:
                    c.hello()
                return
            except Unavailable:
                if time.monotonic() > deadline:
                    self.stop()
                    raise

    def client(self, timeout: float = 10.0) -> Client:
        return Client(self.endpoint, timeout=timeout, **self.keys)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture(scope="session")
def daemon(tmp_path_factory):
    """One real daemon for the session (loading VGG19 once); client timeout 3 s."""
    proc = DaemonProcess(tmp_path_factory.mktemp("daemon"), "--client-timeout", "3")
    yield proc
    proc.stop()


def load_rgb(name: str) -> np.ndarray:
    from daemon.io.images import read_image

    return read_image(DATA / name)


def rgba_u8(arr: np.ndarray) -> np.ndarray:
    """Add an opaque alpha channel to an RGB uint8 array."""
    alpha = np.full(arr.shape[:2] + (1,), 255, np.uint8)
    return np.concatenate([arr, alpha], axis=2)


def image_job(content: np.ndarray, style: np.ndarray | None = None, **fields) -> tuple[dict, list]:
    """A gatys submit body and frames for RGB(A) u8 arrays; `style` None means starry-night."""
    h, w, c = content.shape
    body = {
        "engine": "gatys",
        "content": {
            "frame": 1,
            "width": w,
            "height": h,
            "channels": c,
            "dtype": "u8",
            "order": "RGBA",
        },
    }
    frames = [np.ascontiguousarray(content).tobytes()]
    if style is None:
        body["styles"] = [{"name": "starry-night"}]
    else:
        sh, sw, sc = style.shape
        body["styles"] = [
            {"image": {"frame": 2, "width": sw, "height": sh, "channels": sc, "dtype": "u8"}}
        ]
        frames.append(np.ascontiguousarray(style).tobytes())
    body.update(fields)
    return body, frames


def assert_halves_follow(both: np.ndarray, left: np.ndarray, right: np.ndarray) -> None:
    """Two styles placed on the left and right halves: away from the seam (an eighth of the
    width), the left half of `both` is at least twice as close (mean absolute difference) to
    the left style's one-style result as to the right one's, and the right half the reverse."""
    w = both.shape[1]
    q = w // 2 - w // 8
    for cols, own, other in ((slice(0, q), left, right), (slice(w - q, w), right, left)):
        near = np.abs(both[:, cols].astype(int) - own[:, cols]).mean()
        far = np.abs(both[:, cols].astype(int) - other[:, cols]).mean()
        assert 2 * near <= far, (cols, near, far)


def forget_learned(daemon, name: str) -> None:
    """Stop an end-to-end case's lesson and delete its style from the session's daemon, so the
    tests after this one see the daemon's styles as they were."""
    with daemon.client() as c:
        if any(x["name"] == name and x["state"] == "learning" for x in c.lessons()):
            c.stop_learning(name)
        deadline = time.monotonic() + 60  # it saves what it learned, then ends
        while time.monotonic() < deadline and any(
            x["name"] == name and x["state"] == "stopping" for x in c.lessons()
        ):
            time.sleep(0.5)
    for suffix in (".safetensors", ".json"):
        (daemon.data / "impasto" / "models" / f"{name}{suffix}").unlink(missing_ok=True)


def luma_ssim(a: np.ndarray, b: np.ndarray) -> float:
    """SSIM of two u8 RGB(A) pictures' luminance: bench/photo_measures.py's structure measure."""
    sys.path.insert(0, str(ROOT / "bench"))
    from photo_measures import ssim_luma

    from daemon.io.pixels import to_tensor

    rgb = [to_tensor(np.ascontiguousarray(x[..., :3])) for x in (a, b)]
    return ssim_luma(*rgb)

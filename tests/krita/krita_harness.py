"""Run the real Krita under Xvfb with the installed Impasto plugin and a test driver plugin, and
read the .kra files it saves (layer list from maindoc.xml, layer pixels from Krita's tile files).

Three Kritas (`KRITAS`): the system's (Debian 12: Krita 5.1, `tests/editors/setup_krita.sh`),
Krita 5.2 in a Debian 13 chroot (`tests/editors/setup_krita_trixie.sh`) and Krita 5.3 in a Debian
forky chroot (`tests/editors/setup_forky.sh`), run with `chroot=`: the work folder then lies inside
the chroot and paths are translated for it.

`python -m tests.krita.krita_harness docs/images/krita-docker.png` renders the README's docker
screenshot against a daemon it starts.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path
from xml.etree import ElementTree

import numpy as np

from krita_plugin.installer import enable_in_kritarc
from tests.conftest import ROOT

DRIVER = Path(__file__).resolve().parent / "e2e_driver"
SCREEN = ("-screen", "0", "1280x800x24")
SYSTEM_PATH = "/usr/sbin:/usr/bin:/sbin:/bin"


@dataclass(frozen=True)
class KritaInstall:
    """One Krita the end-to-end tests run: the system's, or one in a Debian chroot."""

    name: str  # the test id: the Debian release it comes from
    version: str  # the Krita release it stands for: its version starts with this and a dot
    setup: str  # the script under tests/editors that installs it
    chroot: Path | None = None
    stamp: str = ""  # the file the setup script leaves in a finished chroot

    def available(self) -> bool:
        """Whether its setup script has run here."""
        if self.chroot:
            return (self.chroot / self.stamp).is_file()
        return shutil.which("krita") is not None and shutil.which("Xvfb") is not None

    def missing(self) -> str:
        """Why it is not available, and how to change that."""
        what = f"no Krita {self.version} chroot" if self.chroot else "Krita or Xvfb not installed"
        return f"{what} (bash tests/editors/{self.setup})"


def chroot_from(variable: str, default: str) -> Path:
    """A chroot's folder: the environment variable's value, else the setup script's default."""
    return Path(os.environ.get(variable, default))


KRITAS = (
    KritaInstall("debian12", "5.1", "setup_krita.sh"),
    KritaInstall(
        "trixie",
        "5.2",
        "setup_krita_trixie.sh",
        chroot_from("IMPASTO_KRITA_CHROOT", "/var/cache/impasto/krita-trixie-chroot"),
        ".impasto-krita_trixie-chroot",
    ),
    KritaInstall(
        "forky",
        "5.3",
        "setup_forky.sh",
        chroot_from("IMPASTO_FORKY_CHROOT", "/var/cache/impasto/forky-chroot"),
        ".impasto-forky-chroot",
    ),
)


def inside(path: Path | str, chroot: Path | None) -> str:
    """`path` as a process in `chroot` sees it (unchanged without a chroot)."""
    return "/" + str(Path(path).relative_to(chroot)) if chroot else str(path)


@contextlib.contextmanager
def virtual_display(chroot: Path | None = None):
    """A private Xvfb (the chroot's, with `chroot`); yields its DISPLAY. Xvfb picks a free number
    and reports it when ready (-displayfd), so parallel runs never race for one display as
    `xvfb-run -a` can."""
    read_end, write_end = os.pipe()
    prefix = ["chroot", str(chroot)] if chroot else []
    xvfb = subprocess.Popen(
        [*prefix, "Xvfb", "-displayfd", str(write_end), *SCREEN, "-nolisten", "tcp"],
        pass_fds=(write_end,),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    os.close(write_end)
    try:
        with os.fdopen(read_end) as ready:
            number = ready.readline().strip()
        if not number:
            raise RuntimeError("Xvfb did not start")
        yield f":{number}"
    finally:
        xvfb.terminate()
        xvfb.wait(10)


def install_into(home: Path) -> Path:
    """`python3 install.py --no-run --krita-dir …` into a fresh HOME, plus the driver plugin."""
    pykrita = home / ".local" / "share" / "krita" / "pykrita"
    env = dict(os.environ, HOME=str(home))
    env.pop("XDG_CONFIG_HOME", None)
    env.pop("XDG_DATA_HOME", None)
    run = subprocess.run(
        ["python3", str(ROOT / "install.py"), "--no-run", "--krita-dir", str(pykrita)],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    if run.returncode != 0:
        raise RuntimeError(f"install.py failed:\n{run.stdout}\n{run.stderr}")
    shutil.copytree(
        DRIVER / "impasto_e2e_driver", pykrita / "impasto_e2e_driver", dirs_exist_ok=True
    )
    shutil.copy2(DRIVER / "impasto_e2e_driver.desktop", pykrita)
    enable_in_kritarc(home / ".config" / "kritarc", "impasto_e2e_driver")
    return pykrita


def run_in_each_krita(
    endpoint: str,
    pixels: bytes,
    make_cases,
    size: tuple[int, int],
    timeout: float = 600.0,
) -> list[dict]:
    """For benchmarks: in each of `KRITAS` that is installed, a fresh plugin install and
    `make_cases(work, photo_raw)` run against the daemon at `endpoint`, with the photo layer's
    raw `pixels` in `photo_raw`. Returns every case's record, its `krita` field saying which
    ("system 5.1.5", "trixie 5.2.9", "forky 5.3.4.1")."""
    import tempfile

    rows = []
    for krita in KRITAS:
        if not krita.available():
            continue
        chroot = krita.chroot
        label = krita.name if chroot else "system"
        work = Path(tempfile.mkdtemp(dir=chroot / "tmp")) if chroot else Path(tempfile.mkdtemp())
        try:
            install_into(work / "home")
            raw = work / "photo.raw"
            raw.write_bytes(pixels)
            cases = make_cases(work, raw)
            report = run_krita(work / "home", work, cases, size, endpoint, timeout=timeout,
                               chroot=chroot)  # fmt: skip
            rows += [dict(r, krita=f"{label} {report['krita']}") for r in report["cases"]]
        finally:
            shutil.rmtree(work, ignore_errors=True)
    return rows


def run_krita(
    home: Path,
    work: Path,
    cases: list[dict],
    size: tuple[int, int],
    endpoint: str,
    screenshot: Path | None = None,
    timeout: float = 240.0,
    chroot: Path | None = None,
) -> dict:
    """Start Krita (the one in `chroot`, when given; `home` and `work` then lie inside it) with
    the driver, which runs `cases` (documents of `size`) and exits; returns the driver's report."""
    width, height = size
    results = work / "results.json"
    results.unlink(missing_ok=True)
    config = work / "config.json"

    def seen(value):  # the case's paths (also in lists) as Krita sees them
        if isinstance(value, list):
            return [seen(v) for v in value]
        return (
            inside(value, chroot)
            if isinstance(value, str) and value.startswith(str(work))
            else value
        )

    config.write_text(
        json.dumps(
            {
                "cases": [{k: seen(v) for k, v in case.items()} for case in cases],
                "width": width,
                "height": height,
                "results": inside(results, chroot),
                "timeout": timeout / 2,
                "screenshot": str(screenshot) if screenshot else "",
                "zoom": 2.0,
            }
        )
    )
    env = {
        "HOME": inside(home, chroot),
        "IMPASTO_ENDPOINT": endpoint,
        "IMPASTO_E2E_CONFIG": inside(config, chroot),
        "LANG": "C.UTF-8",
    }
    if chroot:  # a clean environment: nothing of this machine's Python leaks in
        env["PATH"] = SYSTEM_PATH
        command = ["chroot", str(chroot), "env", "-i"] + [f"{k}={v}" for k, v in env.items()]
    else:
        env = dict(os.environ, **env)
        # Krita embeds the system Python, which finds its home from the first `python3` on PATH:
        # a virtual environment's or pyenv's would hide the system's PyQt5 from it.
        env["PATH"] = f"{Path(shutil.which('krita') or '/usr/bin/krita').parent}:{SYSTEM_PATH}"
        for var in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV"):
            env.pop(var, None)
        command = []
    log = work / "krita.log"
    for attempt in range(2):
        with log.open("w") as out, virtual_display(chroot) as display:
            run_command = command + [f"DISPLAY={display}"] if chroot else []
            run_command += ["krita", "--nosplash"]
            run_env = None if chroot else dict(env, DISPLAY=display)
            krita = subprocess.Popen(run_command, env=run_env, stdout=out, stderr=subprocess.STDOUT)
            try:
                returncode = _wait_for_krita(krita, log, timeout)
            finally:
                if krita.poll() is None:
                    krita.kill()
                    krita.wait()
        # Krita never started because its display went away (Xvfb numbers are per /tmp, and the
        # chroot's /tmp is not the host's): once more on a fresh display, which is not the
        # plugin's doing. Anything else fails at once.
        if attempt or NO_DISPLAY not in log.read_text(errors="replace") or results.exists():
            break
    report = json.loads(results.read_text()) if results.exists() else {}
    if returncode != 0 or "error" in report or not report:
        tail = log.read_text(errors="replace")[-3000:]
        raise AssertionError(f"Krita run failed ({returncode}): {report}\n{tail}")
    return report


NO_DISPLAY = "could not connect to display"

# Krita keeps running without its scripting (the driver never loads) when it says one of these.
SCRIPTING_BROKEN = ("Could not import krita", "Cannot load the PyKrita module")


def _wait_for_krita(krita: subprocess.Popen, log: Path, timeout: float) -> int | str:
    """Krita's exit code; a reason instead when it hangs or its Python plugins cannot load."""
    deadline = time.monotonic() + timeout
    while krita.poll() is None:
        text = log.read_text(errors="replace")
        broken = next((line for line in SCRIPTING_BROKEN if line in text), None)
        if broken:
            return f"Krita's Python failed: {broken}"
        if time.monotonic() > deadline:
            return f"timed out after {timeout:g} s"
        time.sleep(0.5)
    return krita.returncode


# -- reading .kra files -------------------------------------------------------------------------
@dataclass
class KraLayer:
    name: str
    colorspace: str
    pixels: np.ndarray  # H×W×4 in Krita's own channel order and sample type, canvas-sized


def lzf_decompress(data: bytes, size: int) -> bytes:
    """LZF as Krita's tile files use it."""
    out = bytearray()
    i = 0
    while i < len(data):
        ctrl = data[i]
        i += 1
        if ctrl < 32:  # literal run of ctrl+1 bytes
            out += data[i : i + ctrl + 1]
            i += ctrl + 1
        else:  # back reference
            length = ctrl >> 5
            if length == 7:
                length += data[i]
                i += 1
            ref = len(out) - ((ctrl & 0x1F) << 8) - data[i] - 1
            i += 1
            for k in range(length + 2):
                out.append(out[ref + k])
    if len(out) != size:
        raise ValueError(f"LZF tile decoded to {len(out)} bytes, expected {size}")
    return bytes(out)


def read_tiles(blob: bytes, width: int, height: int, dtype: np.dtype) -> np.ndarray:
    """A layer's tile file (Krita's format version 2) as a canvas-sized array."""
    header: dict[str, int] = {}
    pos = 0
    while len(header) < 5:
        end = blob.index(b"\n", pos)
        key, value = blob[pos:end].decode().split(" ")
        header[key] = int(value)
        pos = end + 1
    tw, th, px = header["TILEWIDTH"], header["TILEHEIGHT"], header["PIXELSIZE"]
    canvas = np.zeros((height, width, px), np.uint8)
    for _ in range(header["DATA"]):
        end = blob.index(b"\n", pos)
        x, y, method, size = blob[pos:end].decode().split(",")
        pos = end + 1
        chunk = blob[pos : pos + int(size)]
        pos += int(size)
        assert method == "LZF"
        raw = lzf_decompress(chunk[1:], tw * th * px) if chunk[0] == 1 else chunk[1:]
        # Krita stores each tile "linearised": byte k of every pixel together.
        tile = np.frombuffer(raw, np.uint8).reshape(px, th, tw).transpose(1, 2, 0)
        x0, y0 = int(x), int(y)
        ys, xs = slice(max(y0, 0), min(y0 + th, height)), slice(max(x0, 0), min(x0 + tw, width))
        if ys.start < ys.stop and xs.start < xs.stop:
            canvas[ys, xs] = tile[ys.start - y0 : ys.stop - y0, xs.start - x0 : xs.stop - x0]
    return canvas.view(dtype).reshape(height, width, 4)


DEPTH_DTYPES = {"": np.uint8, "16": np.uint16, "F16": np.float16, "F32": np.float32}


def read_kra(path: Path) -> list[KraLayer]:
    """The paint layers of a .kra file, bottom to top, with their pixels."""
    with zipfile.ZipFile(path) as kra:
        root = ElementTree.fromstring(kra.read("maindoc.xml"))
        ns = {"k": root.tag.split("}")[0].strip("{")} if root.tag.startswith("{") else {}
        image = root.find("k:IMAGE", ns) if ns else root.find("IMAGE")
        width, height, name = int(image.get("width")), int(image.get("height")), image.get("name")
        layers = []
        for layer in image.find("k:layers", ns) if ns else image.find("layers"):
            if layer.get("nodetype") != "paintlayer":
                continue  # e.g. the global selection, saved as a selection mask
            space = layer.get("colorspacename", "")  # RGBA, RGBA16, RGBAF16, RGBAF32
            dtype = DEPTH_DTYPES[space.removeprefix("RGBA")]
            blob = kra.read(f"{name}/layers/{layer.get('filename')}")
            pixels = read_tiles(blob, width, height, np.dtype(dtype))
            ox, oy = int(layer.get("x", 0)), int(layer.get("y", 0))
            if ox or oy:
                pixels = np.roll(pixels, (oy, ox), axis=(0, 1))
            layers.append(KraLayer(layer.get("name"), space, pixels))
    return layers[::-1]  # maindoc.xml lists the top layer first


def main() -> int:
    """Render the docker screenshot for the README: two styles placed by selections (the sky,
    the rest), the result layer kept, the live preview on."""
    import tempfile

    from daemon.io.images import read_image
    from tests.conftest import DaemonProcess

    out = Path(sys.argv[1]).resolve()
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        daemon = DaemonProcess(tmp_path)
        try:
            home = tmp_path / "home"
            install_into(home)
            rgb = read_image(ROOT / "docs" / "images" / "mont-st-michel.png")[..., :3]
            bgra = np.concatenate([rgb[..., ::-1], np.full(rgb.shape[:2] + (1,), 255, np.uint8)], 2)
            (tmp_path / "photo.raw").write_bytes(np.ascontiguousarray(bgra).tobytes())
            sky = rgb.shape[0] * 2 // 5
            case = {
                "name": "mont-st-michel",
                "depth": "U8",
                "pixels": str(tmp_path / "photo.raw"),
                "kra": str(tmp_path / "shot.kra"),
                "styles": [  # each placed by a selection: the sky and the rest
                    ["vangogh-starry-night", 1.0, [0, 0, rgb.shape[1], sky]],
                    ["hokusai-great-wave", 1.0, [0, sky, rgb.shape[1], rgb.shape[0] - sky]],
                ],
                "keep": True,  # the result stays in the picture, and the live preview shows
            }
            size = (rgb.shape[1], rgb.shape[0])
            report = run_krita(home, tmp_path, [case], size, daemon.endpoint, screenshot=out)
        finally:
            daemon.stop()
    print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())

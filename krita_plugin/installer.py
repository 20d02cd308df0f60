"""Install the Impasto Krita plugin: the package, `shared/`, and pyzmq/msgpack wheels when
Krita's own Python lacks them, then enable it in kritarc.

Runs on the system Python from install.py, before or without the virtual environment, so it
uses the standard library only. `install(None, say)` finds Krita's user folder for this OS;
`install(Path, say)` installs into that pykrita folder.
"""

from __future__ import annotations

import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

NAME = "impasto"
HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
WHEEL_PACKAGES = ("pyzmq", "msgpack")
# Override what the installer detects about Krita's Python (e.g. a Krita in an unusual place).
PYTHON_ENV, PLATFORM_ENV = "IMPASTO_KRITA_PYTHON", "IMPASTO_KRITA_PLATFORM"

Say = Callable[[str], None]


@dataclass(frozen=True)
class WheelTarget:
    """A Python that Krita bundles: wheels must match its version and platform."""

    version: str  # "3.10"
    platforms: tuple[str, ...]  # pip --platform tags, best first

    def pip_args(self) -> list[str]:
        args = ["--only-binary=:all:", "--no-deps", "--python-version", self.version]
        for tag in self.platforms:
            args += ["--platform", tag]
        return args


# -- where Krita keeps things ---------------------------------------------------------------------
def resource_dir(system: str, env: Mapping[str, str], home: Path) -> Path:
    """Krita's user resource folder (the parent of pykrita) on this OS."""
    if system == "Windows":
        return Path(env.get("APPDATA") or home / "AppData" / "Roaming") / "krita"
    if system == "Darwin":
        return home / "Library" / "Application Support" / "krita"
    return Path(env.get("XDG_DATA_HOME") or home / ".local" / "share") / "krita"


def kritarc_path(system: str, env: Mapping[str, str], home: Path) -> Path:
    """The kritarc settings file on this OS."""
    if system == "Windows":
        return Path(env.get("LOCALAPPDATA") or home / "AppData" / "Local") / "kritarc"
    if system == "Darwin":
        return home / "Library" / "Preferences" / "kritarc"
    return Path(env.get("XDG_CONFIG_HOME") or home / ".config") / "kritarc"


def krita_apps(system: str, env: Mapping[str, str]) -> list[Path]:
    """Places where a Krita that bundles its own Python is installed (Windows, macOS)."""
    if system == "Windows":
        bases = [env.get("ProgramFiles", r"C:\Program Files"), env.get("LOCALAPPDATA", "")]
        return [Path(b) / "Krita (x64)" for b in bases if b] + [
            Path(b) / "Programs" / "Krita (x64)" for b in bases[1:] if b
        ]
    if system == "Darwin":
        return [Path("/Applications/krita.app"), Path.home() / "Applications" / "krita.app"]
    return []


def krita_installed(system: str, env: Mapping[str, str], home: Path) -> bool:
    """Whether Krita looks installed for this user (its program or its user folder)."""
    if resource_dir(system, env, home).is_dir():
        return True
    if system == "Linux":
        return shutil.which("krita") is not None
    return any(app.exists() for app in krita_apps(system, env))


# -- which wheels Krita's Python needs ------------------------------------------------------------
def bundled_python_version(system: str, app: Path) -> str | None:
    """The version of the Python inside a Krita installation, from its files."""
    if system == "Windows":
        for dll in sorted((app / "bin").glob("python3*.dll")):
            match = re.fullmatch(r"python3(\d+)\.dll", dll.name.lower())
            if match:
                return f"3.{match.group(1)}"
    elif system == "Darwin":
        versions = app / "Contents" / "Frameworks" / "Python.framework" / "Versions"
        found = [p.name for p in versions.glob("3.*") if re.fullmatch(r"3\.\d+", p.name)]
        if found:
            return max(found, key=lambda v: int(v.split(".")[1]))
    return None


def platform_tags(system: str, machine: str, glibc: str = "") -> tuple[str, ...]:
    """pip --platform tags for wheels that load on this OS and CPU, best first."""
    machine = machine.lower()
    if system == "Windows":
        return ("win_arm64",) if machine in ("arm64", "aarch64") else ("win_amd64",)
    if system == "Darwin":
        if machine in ("arm64", "aarch64"):
            return ("macosx_11_0_arm64", "macosx_10_9_universal2")
        return ("macosx_10_9_x86_64", "macosx_10_9_universal2")
    arch = {"amd64": "x86_64", "arm64": "aarch64"}.get(machine, machine)
    minor = int(glibc.split(".")[1]) if re.fullmatch(r"2\.\d+", glibc) else 17
    return tuple(f"manylinux_2_{m}_{arch}" for m in range(minor, 16, -1)) + (
        f"manylinux2014_{arch}",
    )


def wheel_target(
    system: str,
    env: Mapping[str, str],
    machine: str,
    apps: list[Path],
    system_python_has_packages: Callable[[], bool],
    system_python_version: str,
    glibc: str = "",
) -> WheelTarget | None:
    """The Python that needs pyzmq/msgpack wheels in the plugin folder, or None if none does.

    Windows and macOS Krita bundle their own Python (its version is read from the installed
    files, or given in $IMPASTO_KRITA_PYTHON). Krita on Linux uses the system Python, which
    needs wheels only when the distribution's python3-zmq/python3-msgpack are missing.
    $IMPASTO_KRITA_PLATFORM overrides the platform tag.
    """
    forced_platform = env.get(PLATFORM_ENV, "").strip()
    tags = (forced_platform,) if forced_platform else platform_tags(system, machine, glibc)
    version = env.get(PYTHON_ENV, "").strip()
    if version:
        return WheelTarget(version, tags)
    if system in ("Windows", "Darwin"):
        for app in apps:
            found = bundled_python_version(system, app)
            if found:
                return WheelTarget(found, tags)
        return None
    if system_python_has_packages():
        return None
    return WheelTarget(system_python_version, tags)


def _system_python_has_packages() -> bool:
    python = "/usr/bin/python3" if Path("/usr/bin/python3").exists() else shutil.which("python3")
    if python is None:
        return False
    return (
        subprocess.run([python, "-c", "import zmq, msgpack"], capture_output=True).returncode == 0
    )


def _system_python_version() -> str:
    if Path("/usr/bin/python3").exists():
        out = subprocess.run(
            ["/usr/bin/python3", "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            capture_output=True,
            text=True,
        )
        if out.returncode == 0:
            return out.stdout.strip()
    return f"{sys.version_info.major}.{sys.version_info.minor}"


def _pip() -> list[str] | None:
    """A pip that can download wheels: this Python's, else the checkout's virtual environment's."""
    venv = ROOT / ".venv" / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    for python in (sys.executable, str(venv)):
        if (
            Path(python).exists()
            and subprocess.run([python, "-m", "pip", "--version"], capture_output=True).returncode
            == 0
        ):
            return [python, "-m", "pip"]
    return None


def fetch_wheels(target: WheelTarget, vendor: Path, say: Say) -> bool:
    """Download pyzmq and msgpack wheels for `target` and unpack them into `vendor`."""
    stamp = vendor / "wheels.json"
    wanted = {"version": target.version, "platforms": list(target.platforms)}
    try:
        if json.loads(stamp.read_text()) == wanted:
            say("Krita plugin: pyzmq and msgpack wheels already in place")
            return True
    except (OSError, ValueError):
        pass
    pip = _pip()
    if pip is None:
        say("Krita plugin: no pip to download pyzmq/msgpack wheels with; install pip and re-run")
        return False
    say(
        f"Krita plugin: fetching pyzmq and msgpack for Python {target.version} "
        f"({target.platforms[0]})"
    )
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [
            *pip,
            "download",
            "-q",
            "--disable-pip-version-check",
            *target.pip_args(),
            "-d",
            tmp,
            *WHEEL_PACKAGES,
        ]
        if subprocess.run(cmd).returncode != 0:
            say(
                "Krita plugin: could not download the wheels (offline?); the plugin will ask "
                "for pyzmq and msgpack when Krita starts"
            )
            return False
        for wheel in sorted(Path(tmp).glob("*.whl")):
            with zipfile.ZipFile(wheel) as archive:
                archive.extractall(vendor)
    stamp.write_text(json.dumps(wanted))
    return True


# -- files ----------------------------------------------------------------------------------------
def _copy_tree(src: Path, dst: Path) -> None:
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))


def copy_plugin(pykrita: Path) -> Path:
    """Copy the plugin package, its desktop file and `shared/`; keeps downloaded wheels."""
    pykrita.mkdir(parents=True, exist_ok=True)
    dest = pykrita / NAME
    vendor = dest / "vendor"
    kept = None
    if vendor.is_dir():  # wheels are slow to fetch: keep them across re-installs
        kept = Path(tempfile.mkdtemp()) / "vendor"
        shutil.move(str(vendor), kept)
    if dest.exists():
        shutil.rmtree(dest)
    _copy_tree(HERE / NAME, dest)
    if kept is not None:
        shutil.move(str(kept), vendor)
        shutil.rmtree(kept.parent)
    vendor.mkdir(exist_ok=True)
    if (vendor / "shared").exists():
        shutil.rmtree(vendor / "shared")
    _copy_tree(ROOT / "shared", vendor / "shared")
    shutil.copy2(HERE / f"{NAME}.desktop", pykrita / f"{NAME}.desktop")
    venv_python = ROOT / ".venv" / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    info = {"repo": str(ROOT), "python": str(venv_python)}
    (dest / "install.json").write_text(json.dumps(info, indent=1))
    return dest


def release_tree(folder: Path, notes: str) -> None:
    """Lay out in `folder` what the release zip holds, as Krita's *Import Python Plugin from
    File* wants it: `impasto.desktop` and the `impasto/` package (with `shared/` in its vendor
    folder and `notes` as RELEASE.txt); no install.json, which names a checkout."""
    dest = copy_plugin(folder)
    (dest / "install.json").unlink()
    (dest / "RELEASE.txt").write_text(notes)


def enable_in_kritarc(kritarc: Path, name: str = NAME) -> None:
    """Set `enable_<name>=true` in kritarc's [python] group, keeping everything else."""
    key = f"enable_{name}"
    lines = kritarc.read_text(encoding="utf-8").splitlines() if kritarc.exists() else []
    out: list[str] = []
    in_python = done = False
    for line in lines:
        stripped = line.strip()
        if stripped.startswith("["):
            if in_python and not done:
                out.append(f"{key}=true")
                done = True
            in_python = stripped == "[python]"
        elif in_python and stripped.split("=", 1)[0].strip() == key:
            if not done:
                out.append(f"{key}=true")
                done = True
            continue
        out.append(line)
    if in_python and not done:
        out.append(f"{key}=true")
        done = True
    if not done:
        if out and out[-1].strip():
            out.append("")
        out += ["[python]", f"{key}=true"]
    kritarc.parent.mkdir(parents=True, exist_ok=True)
    kritarc.write_text("\n".join(out) + "\n", encoding="utf-8")


def install(target: Path | None, say: Say) -> None:
    """Install the plugin into `target` (a pykrita folder), or Krita's user folder when None."""
    system, env, home = platform.system(), os.environ, Path.home()
    if target is None:
        if not krita_installed(system, env, home):
            say("Krita plugin: Krita not found; skipped (use --krita-dir to install anyway)")
            return
        target = resource_dir(system, env, home) / "pykrita"
    kritarc = kritarc_path(system, env, home)  # the user's, also for an explicit --krita-dir
    dest = copy_plugin(Path(target))
    wheels = wheel_target(
        system,
        env,
        platform.machine(),
        krita_apps(system, env),
        _system_python_has_packages,
        _system_python_version(),
        platform.libc_ver()[1] if system == "Linux" else "",
    )
    if wheels is not None:
        fetch_wheels(wheels, dest / "vendor", say)
    enable_in_kritarc(kritarc)
    say(
        f"Krita plugin: installed into {target} and enabled in {kritarc}; restart Krita and "
        f"open Settings ▸ Dockers ▸ Impasto"
    )

"""Install the GIMP 3 plug-in: `impasto/` plus a copy of `shared/` into a GIMP plug-ins folder.

Called by `install.py` on the system Python, before and without the venv: standard library only.
GIMP runs Python plug-ins with its own Python (Linux: the system's python3; Windows and macOS:
the one bundled with GIMP). When that Python lacks pyzmq or msgpack, matching binary wheels are
downloaded with pip and unpacked into `impasto/vendor/<tag>/`, which the plug-in puts on its path.
"""

from __future__ import annotations

import json
import os
import platform
import shlex
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from gimp_plugin.impasto.vendor import vendor_tag  # the plug-in looks for the same folder

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PLUGIN = "impasto"
DEPENDENCIES = ("pyzmq", "msgpack")
# GIMP 3.N keeps its user files in GIMP/3.N (and names its programs gimp-3.N), newest first.
GIMP_VERSIONS = ("3.2", "3.0")
# Run by GIMP's Python: its version, platform and whether the plug-in's dependencies import.
PROBE = (
    "import json, sys, sysconfig\n"
    "try:\n    import zmq, msgpack\n    ok = True\n"
    "except Exception:\n    ok = False\n"
    "print(json.dumps({'version': list(sys.version_info[:2]), "
    "'platform': sysconfig.get_platform(), 'has_deps': ok}))"
)

Say = Callable[[str], None]


def gimp_programs() -> list[str]:
    """The GIMP 3 versions whose programs are on PATH, newest first."""
    return [
        version
        for version in GIMP_VERSIONS
        if shutil.which(f"gimp-{version}") or shutil.which(f"gimp-console-{version}")
    ]


def version_dir(base: Path) -> str:
    """The GIMP/3.N folder under `base` to install into: the newest that exists (a newer GIMP
    copies an older one's, plug-ins too, on its first start), else the newest GIMP 3 program's."""
    made = [version for version in GIMP_VERSIONS if (base / "GIMP" / version).is_dir()]
    return (made or gimp_programs() or [GIMP_VERSIONS[-1]])[0]


def user_plugins_dir(system: str, env: Mapping[str, str], home: Path) -> Path:
    """GIMP 3's user plug-ins folder on this OS (`platform.system()` names)."""
    if system == "Windows":
        base = Path(env.get("APPDATA") or home / "AppData" / "Roaming")
    elif system == "Darwin":
        base = home / "Library" / "Application Support"
    else:
        flatpak = home / ".var" / "app" / "org.gimp.GIMP" / "config"
        native = Path(env.get("XDG_CONFIG_HOME") or home / ".config")
        has_native = gimp_programs() or any((native / "GIMP" / v).is_dir() for v in GIMP_VERSIONS)
        base = flatpak if (flatpak / "GIMP").is_dir() and not has_native else native
    return base / "GIMP" / version_dir(base) / "plug-ins"


def find_gimp_python(system: str, env: Mapping[str, str]) -> list[str] | None:
    """The command of the Python GIMP 3 runs plug-ins with (None: GIMP 3's bundle not found).

    $IMPASTO_GIMP_PYTHON overrides the search (portable GIMPs, Flatpak, chroots): a path, or a
    command such as `flatpak run --command=python3 org.gimp.GIMP`.
    """
    given = env.get("IMPASTO_GIMP_PYTHON", "")
    if given:
        return [given] if Path(given).is_file() else shlex.split(given)
    if system == "Windows":
        # All-users installs go to Program Files, per-user ones to %LOCALAPPDATA%\Programs.
        local = env.get("LOCALAPPDATA", "")
        roots = [
            env.get("ProgramFiles", r"C:\Program Files"),
            local and str(Path(local, "Programs")),
        ]
        for root in filter(None, roots):
            for folder in sorted(Path(root).glob("GIMP 3*"), reverse=True):
                for exe in ("python.exe", "python3.exe"):
                    if (folder / "bin" / exe).is_file():
                        return [str(folder / "bin" / exe)]
        return None
    if system == "Darwin":
        for app in (Path("/Applications/GIMP.app"), Path.home() / "Applications" / "GIMP.app"):
            for sub in ("Contents/MacOS", "Contents/Resources/bin"):
                found = sorted((app / sub).glob("python3*"))
                if found:
                    return [str(found[0])]
        return None
    return [shutil.which("python3") or "python3"]  # GIMP's interpreter for .py on Linux


def gimp_found(system: str, env: Mapping[str, str], home: Path) -> bool:
    """Whether GIMP 3 is installed for this user (its program, or its user folder)."""
    if system in ("Windows", "Darwin"):
        return find_gimp_python(system, env) is not None
    return bool(gimp_programs() or user_plugins_dir(system, env, home).parent.is_dir())


@dataclass(frozen=True)
class PythonInfo:
    """What the probe reports about GIMP's Python."""

    version: tuple[int, int]
    platform: str  # sysconfig.get_platform(): win-amd64, macosx-11.0-arm64, linux-x86_64
    has_deps: bool


def probe(python: list[str]) -> PythonInfo | None:
    """Ask GIMP's Python about itself; None when it does not run."""
    try:
        run = subprocess.run(
            [*python, "-c", PROBE], capture_output=True, text=True, timeout=60, check=True
        )
        raw = json.loads(run.stdout.strip().splitlines()[-1])
    except (OSError, subprocess.SubprocessError, ValueError, IndexError):
        return None
    return PythonInfo(tuple(raw["version"]), raw["platform"], bool(raw["has_deps"]))


def wheel_platforms(platform_name: str) -> list[str]:
    """pip `--platform` tags for a sysconfig platform (pip widens macOS and manylinux tags)."""
    name = platform_name.replace("-", "_").replace(".", "_")
    if name.startswith("linux_"):
        arch = name[len("linux_") :]
        return [f"manylinux_2_28_{arch}", f"manylinux2014_{arch}"]
    return [name]


def download_command(pip_python: str, info: PythonInfo, dest: Path) -> list[str]:
    """`pip download` of binary wheels of the dependencies for GIMP's Python."""
    cmd = [pip_python, "-m", "pip", "download", "--disable-pip-version-check", "-q"]
    cmd += ["--only-binary=:all:", "--no-deps", "--implementation", "cp"]
    cmd += ["--python-version", f"{info.version[0]}.{info.version[1]}"]
    for tag in wheel_platforms(info.platform):
        cmd += ["--platform", tag]
    return [*cmd, "-d", str(dest), *DEPENDENCIES]


def needs_wheels(info: PythonInfo | None) -> bool:
    """True when GIMP's Python is known and lacks pyzmq or msgpack."""
    return info is not None and not info.has_deps


def copy_plugin(target: Path) -> Path:
    """Copy the plug-in and `shared/` into `target/impasto`, keeping downloaded wheels."""
    dest = target / PLUGIN
    dest.mkdir(parents=True, exist_ok=True)
    for old in dest.iterdir():
        if old.name != "vendor":
            shutil.rmtree(old) if old.is_dir() else old.unlink()
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for item in (HERE / PLUGIN).iterdir():
        if item.suffix == ".py":
            shutil.copy2(item, dest / item.name)
    shutil.copytree(ROOT / "shared", dest / "shared", ignore=ignore)
    (dest / f"{PLUGIN}.py").chmod(0o755)  # GIMP runs it as a program on Linux and macOS
    return dest


def release_tree(folder: Path, notes: str) -> None:
    """Lay out in `folder` what the release zip holds: the `impasto/` folder GIMP 3 wants in its
    plug-ins folder (the folder named as its program, `shared/` inside, `notes` as
    RELEASE.txt)."""
    dest = copy_plugin(folder)
    (dest / "RELEASE.txt").write_text(notes)


def provide_wheels(plugin: Path, info: PythonInfo, say: Say) -> bool:
    """Download and unpack pyzmq and msgpack wheels for GIMP's Python into plugin/vendor/."""
    vendor = plugin / "vendor" / vendor_tag(*info.version, info.platform)
    if (vendor / "zmq").is_dir() and (vendor / "msgpack").is_dir():
        say(f"GIMP plug-in: pyzmq and msgpack already in {vendor}")
        return True
    venv_python = ROOT / ".venv" / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    pip_python = str(venv_python) if venv_python.exists() else sys.executable
    with tempfile.TemporaryDirectory() as tmp:
        cmd = download_command(pip_python, info, Path(tmp))
        say(f"GIMP plug-in: downloading {' and '.join(DEPENDENCIES)} for GIMP's Python")
        if subprocess.run(cmd).returncode != 0:
            return False
        vendor.mkdir(parents=True, exist_ok=True)
        for wheel in Path(tmp).glob("*.whl"):
            with zipfile.ZipFile(wheel) as archive:
                archive.extractall(vendor)
    return True


def install(target: Path | None, say: Say) -> None:
    """Install into `target` (a plug-ins folder), or GIMP 3's user folder when None."""
    system, env = platform.system(), os.environ
    python = find_gimp_python(system, env)
    if target is None:
        if not gimp_found(system, env, Path.home()):
            say("GIMP 3 not found; skipping its plug-in (use --gimp-dir DIR to install anyway)")
            return
        target = user_plugins_dir(system, env, Path.home())
    plugin = copy_plugin(target)
    say(f"GIMP plug-in installed in {plugin} (Filters > Artistic > Impasto Style Transfer...)")
    info = probe(python) if python else None
    if info is None:
        say(
            "GIMP plug-in: could not run GIMP's Python to check for pyzmq and msgpack; set "
            "IMPASTO_GIMP_PYTHON to it and re-run if the plug-in reports them missing"
        )
    elif not needs_wheels(info):
        say("GIMP plug-in: GIMP's Python has pyzmq and msgpack")
    elif not provide_wheels(plugin, info, say):
        hint = " (or: apt install python3-zmq python3-msgpack)" if system == "Linux" else ""
        say(f"GIMP plug-in: could not download pyzmq and msgpack; re-run when online{hint}")

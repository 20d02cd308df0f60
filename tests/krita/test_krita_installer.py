"""The Krita plugin installer: folders per OS, kritarc, which wheels Krita's Python needs, and a
real install into an explicit folder through install.py."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from krita_plugin import installer
from krita_plugin.installer import (
    WheelTarget,
    copy_plugin,
    enable_in_kritarc,
    kritarc_path,
    platform_tags,
    resource_dir,
    wheel_target,
)
from tests.conftest import ROOT

HOME = Path("/home/ada")


@pytest.mark.parametrize(
    ("system", "env", "pykrita", "kritarc"),
    [
        ("Linux", {}, "/home/ada/.local/share/krita", "/home/ada/.config/kritarc"),
        ("Linux", {"XDG_DATA_HOME": "/d", "XDG_CONFIG_HOME": "/c"}, "/d/krita", "/c/kritarc"),
        (
            "Windows",
            {"APPDATA": r"C:\Users\ada\AppData\Roaming", "LOCALAPPDATA": r"C:\L"},
            r"C:\Users\ada\AppData\Roaming/krita",
            r"C:\L/kritarc",
        ),
        (
            "Darwin",
            {},
            "/home/ada/Library/Application Support/krita",
            "/home/ada/Library/Preferences/kritarc",
        ),
    ],
)
def test_krita_folders_per_os(system, env, pykrita, kritarc):
    assert resource_dir(system, env, HOME) == Path(pykrita)
    assert kritarc_path(system, env, HOME) == Path(kritarc)


def test_kritarc_gets_the_plugin_enabled_and_keeps_the_rest(tmp_path):
    rc = tmp_path / "kritarc"
    rc.write_text("[General]\ntheme=Dark\n\n[python]\nenable_impasto=false\nenable_other=true\n")
    enable_in_kritarc(rc)
    enable_in_kritarc(rc)  # idempotent
    text = rc.read_text()
    assert text.count("enable_impasto") == 1 and "enable_impasto=true" in text
    assert "theme=Dark" in text and "enable_other=true" in text
    fresh = tmp_path / "new" / "kritarc"
    enable_in_kritarc(fresh)
    assert fresh.read_text() == "[python]\nenable_impasto=true\n"


def fake_app(tmp_path: Path, system: str, version: str) -> Path:
    app = tmp_path / "krita"
    if system == "Windows":
        (app / "bin").mkdir(parents=True)
        (app / "bin" / f"python{version.replace('.', '')}.dll").touch()
        (app / "bin" / "python3.dll").touch()  # the stable-ABI shim says nothing about the version
    else:
        versions = app / "Contents" / "Frameworks" / "Python.framework" / "Versions"
        (versions / version).mkdir(parents=True)
        (versions / "Current").mkdir()
    return app


def never(*_):
    raise AssertionError("the system Python is not Krita's on this OS")


def test_windows_krita_gets_wheels_for_its_bundled_python(tmp_path):
    app = fake_app(tmp_path, "Windows", "3.10")
    target = wheel_target("Windows", {}, "AMD64", [tmp_path / "none", app], never, "3.11")
    assert target == WheelTarget("3.10", ("win_amd64",))
    assert target.pip_args() == [
        "--only-binary=:all:",
        "--no-deps",
        "--python-version",
        "3.10",
        "--platform",
        "win_amd64",
    ]


@pytest.mark.parametrize(
    ("machine", "first"), [("arm64", "macosx_11_0_arm64"), ("x86_64", "macosx_10_9_x86_64")]
)
def test_macos_krita_gets_wheels_for_its_framework_python(tmp_path, machine, first):
    app = fake_app(tmp_path, "Darwin", "3.13")
    target = wheel_target("Darwin", {}, machine, [app], never, "3.9")
    assert target.version == "3.13" and target.platforms[0] == first
    assert "macosx_10_9_universal2" in target.platforms


def test_linux_uses_the_distribution_packages_when_they_are_there():
    assert wheel_target("Linux", {}, "x86_64", [], lambda: True, "3.11", "2.36") is None
    target = wheel_target("Linux", {}, "x86_64", [], lambda: False, "3.11", "2.36")
    assert target.version == "3.11"
    assert target.platforms[0] == "manylinux_2_36_x86_64"
    assert target.platforms[-1] == "manylinux2014_x86_64"
    assert "manylinux_2_17_x86_64" in target.platforms


def test_environment_overrides_version_and_platform(tmp_path):
    env = {installer.PYTHON_ENV: "3.12", installer.PLATFORM_ENV: "win_arm64"}
    assert wheel_target("Linux", env, "x86_64", [], never, "3.11") == WheelTarget(
        "3.12", ("win_arm64",)
    )


def test_no_krita_found_means_no_wheels():
    assert wheel_target("Windows", {}, "AMD64", [Path("/nonexistent")], never, "3.11") is None
    assert platform_tags("Windows", "ARM64") == ("win_arm64",)


def test_fetched_wheels_are_unpacked_and_not_fetched_twice(tmp_path, monkeypatch):
    """The pip step is replaced by a local wheel; unpacking and the stamp are real."""
    calls = []

    def fake_run(cmd, **kw):
        calls.append(cmd)
        dest = Path(cmd[cmd.index("-d") + 1])
        with zipfile.ZipFile(dest / "msgpack-1.0.0-cp310-cp310-win_amd64.whl", "w") as whl:
            whl.writestr("msgpack/__init__.py", "version = (1, 0, 0)\n")
        return subprocess.CompletedProcess(cmd, 0)

    monkeypatch.setattr(installer, "_pip", lambda: ["python", "-m", "pip"])
    monkeypatch.setattr(installer.subprocess, "run", fake_run)
    target = WheelTarget("3.10", ("win_amd64",))
    messages: list[str] = []
    assert installer.fetch_wheels(target, tmp_path, messages.append)
    assert (tmp_path / "msgpack" / "__init__.py").exists()
    assert installer.fetch_wheels(target, tmp_path, messages.append)
    assert len(calls) == 1 and "already in place" in messages[-1]
    cmd = calls[0]
    assert cmd[3:5] == ["download", "-q"] and "--python-version" in cmd and "pyzmq" in cmd


def test_copy_keeps_wheels_and_brings_shared_along(tmp_path):
    dest = copy_plugin(tmp_path)
    (dest / "vendor" / "zmq").mkdir()
    dest = copy_plugin(tmp_path)  # re-install
    assert (dest / "vendor" / "zmq").is_dir()
    assert (dest / "vendor" / "shared" / "client.py").is_file()
    assert (tmp_path / "impasto.desktop").read_text().count("X-KDE-Library=impasto") == 1
    assert (dest / "controller.py").is_file() and not list(dest.rglob("__pycache__"))


def test_install_py_installs_into_an_explicit_folder(tmp_path):
    pykrita = tmp_path / "pykrita"
    env = dict(os.environ, HOME=str(tmp_path), XDG_CONFIG_HOME=str(tmp_path / "config"))
    run = subprocess.run(
        [sys.executable, str(ROOT / "install.py"), "--no-run", "--krita-dir", str(pykrita)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr
    assert (pykrita / "impasto" / "__init__.py").is_file()
    assert (pykrita / "impasto" / "vendor" / "shared" / "protocol.py").is_file()
    assert "enable_impasto=true" in (tmp_path / "config" / "kritarc").read_text()
    assert "Krita plugin: installed into" in run.stdout

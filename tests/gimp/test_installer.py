"""gimp_plugin/installer.py: folders per OS, the wheel decision and download, the copy itself."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from gimp_plugin import installer
from gimp_plugin.installer import PythonInfo
from tests.conftest import ROOT


def test_user_plugin_folders_per_os(tmp_path):
    home = tmp_path
    assert installer.user_plugins_dir(
        "Windows", {"APPDATA": r"C:\Users\a\AppData\Roaming"}, home
    ) == (Path(r"C:\Users\a\AppData\Roaming") / "GIMP" / "3.0" / "plug-ins")
    assert installer.user_plugins_dir("Darwin", {}, home) == (
        home / "Library" / "Application Support" / "GIMP" / "3.0" / "plug-ins"
    )
    assert installer.user_plugins_dir("Linux", {"XDG_CONFIG_HOME": "/x/cfg"}, home) == Path(
        "/x/cfg/GIMP/3.0/plug-ins"
    )


def test_linux_flatpak_gimp_gets_its_sandboxed_folder(tmp_path, monkeypatch):
    monkeypatch.setattr(installer.shutil, "which", lambda name: None)
    (tmp_path / ".var" / "app" / "org.gimp.GIMP" / "config" / "GIMP").mkdir(parents=True)
    assert installer.user_plugins_dir("Linux", {}, tmp_path) == (
        tmp_path / ".var/app/org.gimp.GIMP/config/GIMP/3.0/plug-ins"
    )
    assert installer.gimp_found("Linux", {}, tmp_path) is False  # its 3.0 folder not made yet
    (tmp_path / ".var/app/org.gimp.GIMP/config/GIMP/3.0").mkdir()
    assert installer.gimp_found("Linux", {}, tmp_path) is True


def test_gimp_3_2_gets_the_plug_in_in_its_own_folder(tmp_path, monkeypatch):
    """GIMP 3.2 reads GIMP/3.2 and copies GIMP/3.0 into it only on its first start: the newest
    existing folder wins; with none, the newest GIMP 3 program on PATH says which."""
    programs: set[str] = set()
    monkeypatch.setattr(installer.shutil, "which", lambda name: name if name in programs else None)
    config = tmp_path / ".config" / "GIMP"
    assert installer.gimp_found("Linux", {}, tmp_path) is False
    programs.add("gimp-console-3.2")  # GIMP 3.2 installed, never started
    assert installer.gimp_found("Linux", {}, tmp_path) is True
    assert installer.user_plugins_dir("Linux", {}, tmp_path) == config / "3.2" / "plug-ins"
    (config / "3.0").mkdir(parents=True)  # a GIMP 3.0 profile: 3.2 will copy it, plug-ins too
    assert installer.user_plugins_dir("Linux", {}, tmp_path) == config / "3.0" / "plug-ins"
    (config / "3.2").mkdir()  # GIMP 3.2 has started: it reads only its own folder
    programs.clear()
    assert installer.user_plugins_dir("Linux", {}, tmp_path) == config / "3.2" / "plug-ins"
    appdata = tmp_path / "AppData"
    (appdata / "GIMP" / "3.2").mkdir(parents=True)
    assert installer.user_plugins_dir("Windows", {"APPDATA": str(appdata)}, tmp_path) == (
        appdata / "GIMP" / "3.2" / "plug-ins"
    )


def test_the_user_can_name_gimps_python_as_a_path_or_a_command(tmp_path):
    exe = tmp_path / "GIMP 3" / "python.exe"
    exe.parent.mkdir()
    exe.write_text("")
    assert installer.find_gimp_python("Windows", {"IMPASTO_GIMP_PYTHON": str(exe)}) == [str(exe)]
    cmd = "flatpak run --command=python3 org.gimp.GIMP"
    assert installer.find_gimp_python("Linux", {"IMPASTO_GIMP_PYTHON": cmd}) == cmd.split()


def test_windows_finds_the_python_gimp_bundles(tmp_path):
    exe = tmp_path / "GIMP 3" / "bin" / "python.exe"
    exe.parent.mkdir(parents=True)
    exe.write_text("")
    assert installer.find_gimp_python("Windows", {"ProgramFiles": str(tmp_path)}) == [str(exe)]
    assert installer.find_gimp_python("Windows", {"ProgramFiles": str(tmp_path / "no")}) is None
    user = tmp_path / "Local" / "Programs" / "GIMP 3" / "bin" / "python3.exe"
    user.parent.mkdir(parents=True)
    user.write_text("")
    env = {"ProgramFiles": str(tmp_path / "no"), "LOCALAPPDATA": str(tmp_path / "Local")}
    assert installer.find_gimp_python("Windows", env) == [str(user)]


def test_probe_reports_this_python_and_the_plugin_finds_the_same_vendor_folder():
    info = installer.probe([sys.executable])
    assert info is not None and info.version == sys.version_info[:2]
    assert info.platform == sysconfig.get_platform() and info.has_deps  # the venv has both
    assert installer.probe([str(ROOT / "no-such-python")]) is None
    plugin_source = (ROOT / "gimp_plugin" / "impasto" / "impasto.py").read_text()
    assert "vendor_tag(*sys.version_info[:2], sysconfig.get_platform())" in plugin_source


@pytest.mark.parametrize(
    ("platform", "tags"),
    [
        ("win-amd64", ["win_amd64"]),
        ("macosx-11.0-arm64", ["macosx_11_0_arm64"]),
        ("macosx-10.13-universal2", ["macosx_10_13_universal2"]),
        ("linux-x86_64", ["manylinux_2_28_x86_64", "manylinux2014_x86_64"]),
    ],
)
def test_wheel_platform_tags(platform, tags):
    assert installer.wheel_platforms(platform) == tags


def test_download_asks_pip_for_binary_wheels_for_gimps_python(tmp_path):
    info = PythonInfo((3, 12), "win-amd64", has_deps=False)
    cmd = installer.download_command("py", info, tmp_path)
    assert cmd[:4] == ["py", "-m", "pip", "download"]
    assert "--only-binary=:all:" in cmd and "--no-deps" in cmd
    assert cmd[cmd.index("--python-version") + 1] == "3.12"
    assert cmd[cmd.index("--platform") + 1] == "win_amd64"
    assert cmd[cmd.index("-d") + 1] == str(tmp_path) and cmd[-2:] == ["pyzmq", "msgpack"]


def test_wheels_are_needed_only_when_gimps_python_lacks_the_dependencies():
    assert installer.needs_wheels(PythonInfo((3, 12), "win-amd64", has_deps=False))
    assert not installer.needs_wheels(PythonInfo((3, 13), "linux-x86_64", has_deps=True))
    assert not installer.needs_wheels(None)


def test_copy_installs_an_executable_plugin_with_shared_and_keeps_wheels(tmp_path):
    plugin = tmp_path / "impasto"
    (plugin / "vendor" / "cp313-x").mkdir(parents=True)
    (plugin / "stale.py").write_text("old")
    assert installer.copy_plugin(tmp_path) == plugin
    assert os.access(plugin / "impasto.py", os.X_OK)
    assert (plugin / "request.py").is_file() and (plugin / "shared" / "client.py").is_file()
    assert (plugin / "vendor" / "cp313-x").is_dir() and not (plugin / "stale.py").exists()
    assert not list(plugin.rglob("__pycache__"))
    source = (ROOT / "gimp_plugin" / "impasto" / "impasto.py").read_text()
    assert (plugin / "impasto.py").read_text() == source


def fake_pip(monkeypatch, calls: list) -> None:
    """pip download replaced by writing two tiny wheels where pip would (no network)."""

    def run(cmd, **kwargs):
        calls.append(cmd)
        dest = Path(cmd[cmd.index("-d") + 1])
        for package, module in (("pyzmq", "zmq"), ("msgpack", "msgpack")):
            with zipfile.ZipFile(dest / f"{package}-1.0-cp312-cp312-win_amd64.whl", "w") as whl:
                whl.writestr(f"{module}/__init__.py", "")
        return subprocess.CompletedProcess(cmd, 0)

    monkeypatch.setattr(installer.subprocess, "run", run)


def test_install_unpacks_wheels_for_a_python_without_them_once(tmp_path, monkeypatch):
    calls: list = []
    monkeypatch.setattr(installer, "find_gimp_python", lambda system, env: ["gimp-python"])
    monkeypatch.setattr(
        installer, "probe", lambda python: PythonInfo((3, 12), "win-amd64", has_deps=False)
    )
    fake_pip(monkeypatch, calls)
    said: list[str] = []
    installer.install(tmp_path, said.append)
    vendor = tmp_path / "impasto" / "vendor" / "cp312-win-amd64"
    assert (vendor / "zmq" / "__init__.py").is_file() and (vendor / "msgpack").is_dir()
    assert len(calls) == 1 and "--python-version" in calls[0]
    installer.install(tmp_path, said.append)  # a re-run keeps them and downloads nothing
    assert len(calls) == 1 and (vendor / "zmq").is_dir()
    assert any("already" in line for line in said)


def test_install_downloads_nothing_when_gimps_python_has_the_dependencies(tmp_path, monkeypatch):
    calls: list = []
    monkeypatch.setattr(installer, "find_gimp_python", lambda system, env: ["gimp-python"])
    monkeypatch.setattr(
        installer, "probe", lambda python: PythonInfo((3, 13), "linux-x86_64", has_deps=True)
    )
    fake_pip(monkeypatch, calls)
    said: list[str] = []
    installer.install(tmp_path, said.append)
    assert not calls and not (tmp_path / "impasto" / "vendor").exists()
    assert any("has pyzmq and msgpack" in line for line in said)


def test_without_gimp_3_the_default_install_is_skipped_with_a_message(tmp_path, monkeypatch):
    monkeypatch.setattr(installer, "gimp_found", lambda system, env, home: False)
    monkeypatch.setattr(installer.Path, "home", staticmethod(lambda: tmp_path))
    said: list[str] = []
    installer.install(None, said.append)
    assert said == ["GIMP 3 not found; skipping its plug-in (use --gimp-dir DIR to install anyway)"]
    assert not list(tmp_path.iterdir())


def test_install_py_passes_gimp_dir_to_the_installer(tmp_path):
    run = subprocess.run(
        [sys.executable, str(ROOT / "install.py"), "--no-run", "--gimp-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "IMPASTO_GIMP_PYTHON": sys.executable},
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert os.access(tmp_path / "impasto" / "impasto.py", os.X_OK)
    assert "GIMP plug-in installed in" in run.stdout

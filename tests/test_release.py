"""`install.py --package`: the release files, their names, layouts and contents."""

from __future__ import annotations

import email
import os
import subprocess
import sysconfig
import time
import venv
import zipfile
from pathlib import Path

import numpy as np
import pytest

import install
from shared.client import Client
from shared.errors import Unavailable
from shared.version import VERSION
from tests.conftest import free_port
from tests.daemon.test_fast_mode import fast_job


@pytest.fixture(scope="module")
def dist(tmp_path_factory):
    out = tmp_path_factory.mktemp("dist")
    made = install.package(out)
    return out, sorted(p.name for p in made)


def names(path) -> list[str]:
    with zipfile.ZipFile(path) as z:
        return z.namelist()


def test_each_release_file_names_the_one_version(dist):
    out, made = dist
    assert made == sorted(
        [
            f"impasto-krita-{VERSION}.zip",
            f"impasto-gimp-{VERSION}.zip",
            f"impasto-{VERSION}-py3-none-any.whl",
            f"impasto-{VERSION}.tar.gz",
        ]
    )
    import daemon

    assert daemon.__version__ == VERSION


def test_the_krita_zip_is_what_kritas_plugin_importer_takes(dist):
    out, _ = dist
    path = out / f"impasto-krita-{VERSION}.zip"
    inside = names(path)
    assert {n.split("/")[0] for n in inside} == {"impasto.desktop", "impasto"}
    for needed in ("impasto/__init__.py", "impasto/docker.py", "impasto/learning.py",
                   "impasto/Manual.html", "impasto/vendor/shared/version.py",
                   "impasto/vendor/shared/client.py"):  # fmt: skip
        assert needed in inside, needed
    assert not any("__pycache__" in n or n.endswith((".pyc", "install.json")) for n in inside)
    with zipfile.ZipFile(path) as z:
        assert "X-KDE-Library=impasto" in z.read("impasto.desktop").decode()
        notes = z.read("impasto/RELEASE.txt").decode()
        assert f"Impasto {VERSION} for Krita" in notes and "Import Python Plugin" in notes
    assert path.stat().st_size < 5 << 20


def test_the_gimp_zip_unpacks_into_one_folder_named_as_its_program(dist):
    out, _ = dist
    path = out / f"impasto-gimp-{VERSION}.zip"
    inside = names(path)
    assert {n.split("/")[0] for n in inside} == {"impasto"}
    for needed in ("impasto/impasto.py", "impasto/learn.py", "impasto/shared/lessons.py"):
        assert needed in inside, needed
    with zipfile.ZipFile(path) as z:
        mode = z.getinfo("impasto/impasto.py").external_attr >> 16
        assert mode & 0o111, "GIMP runs impasto.py as a program: it must stay executable"
        assert f"Impasto {VERSION} for GIMP" in z.read("impasto/RELEASE.txt").decode()


def test_the_wheel_holds_the_server_its_models_and_training_photos(dist):
    out, _ = dist
    path = out / f"impasto-{VERSION}-py3-none-any.whl"
    inside = names(path)
    for needed in ("impasto_models/impasto-17.safetensors", "impasto_models/impasto-17.json",
                   "impasto_models/texture/impasto-17.safetensors", "cli/main.py",
                   "daemon/training/learn.py", "daemon/training/photos/LICENSES.md",
                   "shared/version.py"):  # fmt: skip
        assert needed in inside, needed
    assert sum(n.startswith("daemon/training/photos/") and n.endswith(".jpg") for n in inside) > 30
    assert not any(".ckpt." in n for n in inside)  # training checkpoints stay out
    with zipfile.ZipFile(path) as z:
        meta_name = next(n for n in inside if n.endswith(".dist-info/METADATA"))
        meta = email.message_from_bytes(z.read(meta_name))
        entry = z.read(next(n for n in inside if n.endswith("entry_points.txt"))).decode()
    assert meta["Version"] == VERSION and meta["Name"] == "impasto"
    assert "impasto = cli.main:main" in entry


def test_the_wheel_installed_in_a_fresh_venv_runs_the_daemon_and_a_fast_job(dist, tmp_path):
    """The wheel alone (its dependencies borrowed from the project's venv through a path file,
    whose own path files, the editable install among them, Python does not run): `impasto
    daemon` from it serves a fast job with the models the wheel carries."""
    out, _ = dist
    fresh = tmp_path / "fresh"
    venv.EnvBuilder(with_pip=True).create(fresh)
    bin_dir = fresh / ("Scripts" if os.name == "nt" else "bin")
    py = bin_dir / ("python.exe" if os.name == "nt" else "python")
    wheel = out / f"impasto-{VERSION}-py3-none-any.whl"
    pip = [str(py), "-m", "pip", "install", "-q", "--no-deps", "--no-index", str(wheel)]
    subprocess.run(pip, check=True, timeout=300)
    ask = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
    site = subprocess.run([str(py), "-c", ask], capture_output=True, text=True, check=True)
    site = site.stdout.strip()
    (Path(site) / "borrowed.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    ask = "import daemon, impasto_models; print(daemon.__file__, impasto_models.__file__)"
    where = subprocess.run(
        [str(py), "-c", ask], capture_output=True, text=True, check=True, cwd=tmp_path
    ).stdout
    assert where.count(site) == 2, where  # the wheel's own packages, not the checkout's
    endpoint = f"tcp://127.0.0.1:{free_port()}"
    env = dict(os.environ, XDG_DATA_HOME=str(tmp_path / "data"))
    proc = subprocess.Popen(
        [str(bin_dir / "impasto"), "daemon", "--endpoint", endpoint],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with Client(endpoint, timeout=1.0) as c:
                    hello = c.hello()
                break
            except Unavailable:
                assert proc.poll() is None and time.monotonic() < deadline
        assert hello["version"] == VERSION and "impasto-17" in hello["models"]
        photo = np.full((48, 64, 4), 255, np.uint8)
        photo[..., :3] = np.random.default_rng(0).integers(0, 255, (48, 64, 3))
        body, frames = fast_job(photo, [("starry-night", 1.0)])
        with Client(endpoint, timeout=30) as c:
            result = c.run(body, frames, timeout=120)
        desc, _ = result.image_bytes(0)
        assert (desc.width, desc.height) == (64, 48)
    finally:
        proc.terminate()
        proc.wait(30)

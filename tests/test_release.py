"""`install.py --package`: the release files, their names, layouts and contents."""

from __future__ import annotations

import email
import zipfile

import pytest

import install
from shared.version import VERSION


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

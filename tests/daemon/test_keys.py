"""`impasto keys` (daemon.security.create_keys): every name is checked before anything is written,
and nothing in the key folder is open to other users, whatever the umask."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import zmq.auth

from daemon.security import create_keys
from shared.errors import BadRequest
from tests.conftest import ROOT


@pytest.fixture(autouse=True)
def open_umask():
    """The usual umask (022), under which files are world-readable unless made otherwise."""
    old = os.umask(0o022)
    yield
    os.umask(old)


def open_to_others(folder: Path) -> list[str]:
    """Everything under `folder` (itself included) that its group or other users can reach."""
    paths = [folder, *folder.rglob("*")]
    return [f"{p} {stat.filemode(p.stat().st_mode)}" for p in paths if p.stat().st_mode & 0o077]


def test_the_keys_are_private_to_their_owner(tmp_path):
    folder = tmp_path / "keys"
    said = create_keys(folder, ["laptop", "tablet"])
    assert open_to_others(folder) == []
    for name in ("laptop", "tablet"):
        public, secret = zmq.auth.load_certificate(folder / "clients" / f"{name}.key_secret")
        assert secret and zmq.auth.load_certificate(folder / "allowed" / f"{name}.key")[0] == public
        assert any(name in line for line in said)
    assert zmq.auth.load_certificate(folder / "daemon.key_secret")[1]


@pytest.mark.parametrize("bad", ["bad/../name", "", "a b", "..", "twin"])
def test_a_bad_client_name_among_good_ones_writes_nothing(tmp_path, bad):
    folder = tmp_path / "keys"
    with pytest.raises(BadRequest, match="client"):
        create_keys(folder, ["good", "twin", bad])
    assert not folder.exists()


def test_a_name_that_already_has_keys_writes_no_other_client(tmp_path):
    folder = tmp_path / "keys"
    create_keys(folder, ["laptop"])
    before = sorted(folder.rglob("*"))
    with pytest.raises(BadRequest, match="already has keys"):
        create_keys(folder, ["phone", "laptop"])
    assert sorted(folder.rglob("*")) == before


def test_keys_closes_a_folder_an_older_version_left_open(tmp_path):
    folder = tmp_path / "keys"
    create_keys(folder, ["laptop"])
    for path in (folder, folder / "clients", folder / "allowed"):
        path.chmod(0o755)
    for path in (folder / "daemon.key_secret", folder / "clients" / "laptop.key_secret"):
        path.chmod(0o644)
    create_keys(folder, ["tablet"])
    assert open_to_others(folder) == []


def test_the_keys_command_refuses_a_bad_name_before_writing_anything(tmp_path):
    folder = tmp_path / "keys"
    run = subprocess.run(
        [sys.executable, "-m", "cli", "keys", "--dir", str(folder), "--client", "good",
         "--client", "bad/../name"],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert run.returncode == 2 and "bad/../name" in run.stderr, run.stderr
    assert not folder.exists()

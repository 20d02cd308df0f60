"""install.py on an installed checkout: quick, idempotent, and it routes extra arguments."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import REAL_HOME, ROOT, SANDBOX, free_port


def test_rerun_is_quick_and_changes_nothing():
    stamp = ROOT / ".venv" / "impasto-install.json"
    before = stamp.read_text()
    run = subprocess.run(
        [sys.executable, str(ROOT / "install.py"), "--no-run"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    assert "environment is up to date" in run.stdout
    assert stamp.read_text() == before


def test_extra_arguments_reach_the_daemon_which_stops_on_sigterm(tmp_path):
    endpoint = f"tcp://127.0.0.1:{free_port()}"
    out = tmp_path / "out.txt"
    with out.open("w") as sink:
        proc = subprocess.Popen(
            [
                sys.executable,
                str(ROOT / "install.py"),
                "--endpoint",
                endpoint,
                "--log-file",
                str(tmp_path / "d.log"),
            ],
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 60
        while f"listening on {endpoint}" not in out.read_text():
            assert proc.poll() is None and time.monotonic() < deadline, out.read_text()
            time.sleep(0.2)
    finally:
        proc.terminate()  # install.py became the daemon, so the signal reaches it
        assert proc.wait(30) == 0
    assert "daemon stopped" in out.read_text()


def test_the_suite_runs_in_a_sandboxed_home_so_installs_never_reach_the_real_editor_folders():
    assert Path.home() == SANDBOX != REAL_HOME
    target = SANDBOX / "krita-under-test" / "pykrita"
    run = subprocess.run(
        [sys.executable, str(ROOT / "install.py"), "--no-run", "--krita-dir", str(target)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr
    assert (target / "impasto" / "controller.py").is_file()
    assert not (REAL_HOME / "krita-under-test").exists()

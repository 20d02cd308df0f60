"""install.py on an installed checkout: quick, idempotent, and it routes extra arguments."""

from __future__ import annotations

import subprocess
import sys
import time

from tests.conftest import ROOT, free_port


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

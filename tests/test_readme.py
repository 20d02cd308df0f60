"""The README's Python example is the committed script, and the script works against a daemon."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys

import numpy as np

from daemon.io.images import read_image
from tests.conftest import DATA, ROOT

SCRIPT = ROOT / "docs" / "examples" / "stylize_with_client.py"


def test_readme_shows_the_example_script_verbatim():
    assert SCRIPT.read_text().strip() in (ROOT / "README.md").read_text()


def test_readme_shows_the_two_commands_and_ci_runs_the_test_one():
    readme = (ROOT / "README.md").read_text()
    assert "python3 install.py\n" in readme.replace("  ", "\n").replace(" #", "\n")
    assert "python3 install.py --test" in readme
    assert "python3 install.py --test" in (ROOT / ".ci" / "run").read_text()


def test_example_script_stylises_a_photo_through_the_daemon(daemon, tmp_path):
    out = tmp_path / "painted.png"
    env = dict(os.environ, IMPASTO_ENDPOINT=daemon.endpoint, PYTHONPATH=str(ROOT))
    run = subprocess.run(
        [sys.executable, str(SCRIPT), str(DATA / "chelsea.png"), str(out)],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stderr
    assert "result" in run.stdout.split()
    photo, painted = read_image(DATA / "chelsea.png"), read_image(out)
    assert painted.shape[:2] == photo.shape[:2]
    assert np.abs(painted[..., :3].astype(int) - photo[..., :3]).mean() > 10


def test_the_readme_fast_mode_command_runs_as_written(daemon, tmp_path):
    readme = (ROOT / "README.md").read_text()
    line = next(x for x in readme.splitlines() if "--mode fast -s" in x and "stylize" in x)
    args = shlex.split(line)
    assert args[0] == ".venv/bin/impasto" and args[-2] == "-o"
    out = tmp_path / "out.png"
    cmd = [sys.executable, "-m", "cli", *args[1:-1], str(out), "--endpoint", daemon.endpoint]
    subprocess.run(cmd, cwd=ROOT, check=True, capture_output=True, timeout=120)
    photo, result = read_image(ROOT / args[2]), read_image(out)
    assert result.shape == photo.shape
    assert np.abs(result.astype(int) - photo).mean() > 10


def test_the_readme_video_command_runs_as_written(daemon, tmp_path):
    from tests.daemon.test_cli_sequence import pan, probe, write_clip

    readme = (ROOT / "README.md").read_text()
    line = next(x for x in readme.splitlines() if "stylize clip.mp4" in x)
    args = shlex.split(line)
    assert args[0] == ".venv/bin/impasto" and args[2] == "clip.mp4" and args[-2] == "-o"
    write_clip(tmp_path / "clip.mp4", pan(4))
    args[2], args[-1] = str(tmp_path / "clip.mp4"), str(tmp_path / "painted.mp4")
    cmd = [sys.executable, "-m", "cli", *args[1:], "--endpoint", daemon.endpoint]
    subprocess.run(cmd, cwd=ROOT, check=True, capture_output=True, timeout=300)
    got = probe(tmp_path / "painted.mp4")
    assert len(got["frames"]) == 4 and got["audio"] == 1

"""`impasto stylize` on sequences through the real daemon: videos keep rate, count, size and
audio; animations keep their timing; frame ranges; resuming; nothing replaced without --force."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from fractions import Fraction

import av
import numpy as np
from PIL import Image

from daemon.io.images import resize_array
from tests.conftest import ROOT, load_rgb

W, H = 64, 48


def impasto(daemon, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "cli", "stylize", *args, "--endpoint", daemon.endpoint],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )


def pan(count: int) -> list[np.ndarray]:
    wide = resize_array(load_rgb("chelsea.png"), 120)[:H]
    return [np.ascontiguousarray(wide[:, 2 * i : 2 * i + W]) for i in range(count)]


def write_clip(path, frames, fps=12, audio=True) -> None:
    with av.open(str(path), "w") as out:
        video = out.add_stream("libx264", rate=fps)
        video.width, video.height, video.pix_fmt = W, H, "yuv420p"
        sound = out.add_stream("aac", rate=44100) if audio else None
        for arr in frames:
            for packet in video.encode(av.VideoFrame.from_ndarray(arr, "rgb24")):
                out.mux(packet)
        for packet in video.encode():
            out.mux(packet)
        if sound is not None:
            t = np.arange(int(44100 * len(frames) / fps)) / 44100
            tone = (0.2 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)[None]
            frame = av.AudioFrame.from_ndarray(tone, format="fltp", layout="mono")
            frame.sample_rate = 44100
            for packet in [*sound.encode(frame), *sound.encode()]:
                out.mux(packet)


def probe(path) -> dict:
    with av.open(str(path)) as c:
        v = c.streams.video[0]
        frames = [f.to_ndarray(format="rgb24") for f in c.decode(v)]
        return {
            "fps": Fraction(v.average_rate),
            "frames": frames,
            "audio": len(c.streams.audio),
        }


def test_a_video_keeps_its_rate_frame_count_size_and_audio(daemon, tmp_path):
    write_clip(tmp_path / "clip.mp4", pan(8))
    run = impasto(daemon, str(tmp_path / "clip.mp4"), "-s", "starry-night", "-o",
                  str(tmp_path / "painted.mp4"))  # fmt: skip
    assert run.returncode == 0, run.stderr
    got = probe(tmp_path / "painted.mp4")
    assert got["fps"] == 12 and len(got["frames"]) == 8 and got["audio"] == 1
    assert got["frames"][0].shape == (H, W, 3)
    source = probe(tmp_path / "clip.mp4")["frames"]
    assert np.abs(got["frames"][3].astype(int) - source[3]).mean() > 15  # stylised
    assert not (tmp_path / "painted.mp4.impasto-parts").exists()  # parts removed when done


def test_an_existing_output_is_replaced_only_with_force(daemon, tmp_path):
    write_clip(tmp_path / "clip.mp4", pan(3), audio=False)
    (tmp_path / "painted.mp4").write_bytes(b"the user's own file")
    args = [str(tmp_path / "clip.mp4"), "-s", "starry-night", "-o", str(tmp_path / "painted.mp4")]
    run = impasto(daemon, *args)
    assert run.returncode == 2 and "--force" in run.stderr
    assert (tmp_path / "painted.mp4").read_bytes() == b"the user's own file"
    assert impasto(daemon, *args, "--force").returncode == 0
    assert len(probe(tmp_path / "painted.mp4")["frames"]) == 3


def test_a_frame_range_into_a_folder_and_an_interrupted_run_resumes(daemon, tmp_path):
    folder = tmp_path / "frames"
    folder.mkdir()
    for i, arr in enumerate(pan(6)):
        Image.fromarray(arr).save(folder / f"{i:04d}.png")
    out = tmp_path / "out"
    args = [str(folder / "%04d.png"), "-s", str(ROOT / "tests/data/night_cafe.png"), "-o",
            str(out), "--frames", "2:5", "--mode", "gatys", "--iterations", "150",
            "--endpoint", daemon.endpoint]  # fmt: skip
    cmd = [sys.executable, "-m", "cli", "stylize", *args]
    proc = subprocess.Popen(
        cmd,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        # Ctrl+C as in a terminal, also when this test runs in a background job (which starts
        # with SIGINT ignored, and children inherit that)
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    deadline = time.monotonic() + 600  # 150 steps: minutes on a loaded 2-core machine
    while not (out / "000002.png").exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert (out / "000002.png").exists(), "no frame finished in 10 minutes"
    proc.send_signal(signal.SIGINT)  # interrupted after the first frame
    assert proc.wait(60) == 130
    assert (out / "000002.png").is_file() and not (out / "000004.png").exists()
    kept = (out / "000002.png").stat().st_mtime_ns
    run = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0 and "from an earlier run" in run.stdout, run.stdout + run.stderr
    names = sorted(p.name for p in out.iterdir())
    assert names == ["000002.png", "000003.png", "000004.png"]
    assert (out / "000002.png").stat().st_mtime_ns == kept  # not redone


def test_an_animated_gif_keeps_its_frames_and_timing(daemon, tmp_path):
    frames = [Image.fromarray(a) for a in pan(3)]
    frames[0].save(tmp_path / "anim.gif", save_all=True, append_images=frames[1:],
                   duration=[100, 200, 300], loop=0)  # fmt: skip
    run = impasto(daemon, str(tmp_path / "anim.gif"), "-s", "kandinsky", "-o",
                  str(tmp_path / "out.gif"))  # fmt: skip
    assert run.returncode == 0, run.stderr
    with Image.open(tmp_path / "out.gif") as im:
        durations = []
        for i in range(im.n_frames):
            im.seek(i)
            durations.append(im.info["duration"])
        assert im.size == (W, H) and durations == [100, 200, 300]


def test_a_mask_applies_to_every_frame_of_a_sequence(daemon, tmp_path):
    folder = tmp_path / "frames"
    folder.mkdir()
    frames = pan(3)
    for i, arr in enumerate(frames):
        Image.fromarray(arr).save(folder / f"{i:04d}.png")
    h, w = frames[0].shape[:2]
    grey = np.zeros((h // 2, w // 2), np.uint8)  # same proportions, another size: resampled
    grey[:, : w // 4] = 255
    Image.fromarray(grey).save(tmp_path / "left.png")
    out = tmp_path / "out"
    run = impasto(daemon, str(folder / "%04d.png"), "-s", "kandinsky", "--mask",
                  str(tmp_path / "left.png"), "-o", str(out))  # fmt: skip
    assert run.returncode == 0, run.stderr
    for i, src in enumerate(frames):
        got = np.asarray(Image.open(out / f"{i:06d}.png").convert("RGB")).astype(int)
        right = slice(w // 2 + 4, w)  # black in the mask: the frame as it was
        assert np.abs(got[:, right] - src[:, right]).max() <= 1
        assert np.abs(got[:, : w // 2 - 4] - src[:, : w // 2 - 4]).mean() > 10


def test_an_output_that_would_overwrite_input_frames_is_refused_even_with_force(tmp_path):
    folder = tmp_path / "frames"
    folder.mkdir()
    for i, arr in enumerate(pan(3)):
        Image.fromarray(arr).save(folder / f"{i:06d}.png")
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    for out in (folder, folder / "%06d.png"):
        run = subprocess.run(
            [sys.executable, "-m", "cli", "stylize", str(folder), "-s", "starry-night",
             "-o", str(out), "--force", "--endpoint", "tcp://127.0.0.1:9"],
            cwd=ROOT, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert run.returncode == 2 and "would overwrite the input frame" in run.stderr, run.stderr
        assert {p.name: p.read_bytes() for p in folder.iterdir()} == before

"""The `impasto` command line against the real daemon: files in, files out, one-line errors."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from daemon.io.images import read_image, write_image
from tests.conftest import DATA, ROOT, free_port, load_rgb, luma_ssim


def impasto(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "cli", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_stylize_writes_an_8bit_png_of_the_requested_size(daemon, tmp_path):
    out = tmp_path / "out.png"
    run = impasto(
        "stylize",
        "--mode",
        "gatys",
        str(DATA / "chelsea.png"),
        "-s",
        "starry-night:0.6",
        "-s",
        f"{DATA / 'night_cafe.png'}:0.4",
        "-o",
        str(out),
        "--size",
        "64",
        "--iterations",
        "3",
        "--endpoint",
        daemon.endpoint,
    )
    assert run.returncode == 0, run.stderr
    arr = read_image(out)
    assert arr.shape == (42, 64, 3) and arr.dtype == np.uint8
    assert "wrote" in run.stdout


def test_stylize_keeps_16_bits_and_alpha_from_a_16bit_tiff(daemon, tmp_path):
    rng = np.random.default_rng(0)
    src = rng.integers(0, 65536, (40, 50, 4)).astype(np.uint16)
    write_image(tmp_path / "in.tif", src)
    out = tmp_path / "out.tif"
    run = impasto(
        "stylize",
        "--mode",
        "gatys",
        str(tmp_path / "in.tif"),
        "-s",
        "night-cafe",
        "-o",
        str(out),
        "--iterations",
        "2",
        "--preserve-color",
        "luminance",
        "--endpoint",
        daemon.endpoint,
    )
    assert run.returncode == 0, run.stderr
    arr = read_image(out)
    assert arr.dtype == np.uint16 and arr.shape == src.shape
    assert np.array_equal(arr[..., 3], src[..., 3])
    assert len(np.unique(arr[..., :3])) > 256  # real 16-bit values, not 8-bit ones scaled up


def test_existing_output_is_never_overwritten_without_force(daemon, tmp_path):
    out = tmp_path / "mine.png"
    out.write_bytes(b"the user's own work")
    run = impasto(
        "stylize",
        "--mode",
        "gatys",
        str(DATA / "chelsea.png"),
        "-s",
        "starry-night",
        "-o",
        str(out),
        "--iterations",
        "1",
        "--size",
        "32",
        "--endpoint",
        daemon.endpoint,
    )
    assert run.returncode != 0 and "already exists" in run.stderr
    assert out.read_bytes() == b"the user's own work"


@pytest.mark.parametrize(
    "case, args, expect",
    [
        ("missing file", ["stylize", "nope.png", "-s", "starry-night"], "no such image file"),
        (
            "unreadable file",
            ["stylize", "{garbage}", "-s", "starry-night"],
            "cannot read the image",
        ),
        ("unknown style", ["stylize", "{photo}", "-s", "no-such-style"], "unknown style"),
        ("negative weight", ["stylize", "{photo}", "-s", "starry-night:-2"], "weight"),
        (
            "absurd size",
            ["stylize", "{photo}", "-s", "starry-night", "--size", "1000000"],
            "--size",
        ),
        (
            "bad output type",
            ["stylize", "{photo}", "-s", "starry-night", "-o", "{tmp}/x.gif"],
            ".png",
        ),
        ("missing style file", ["stylize", "{photo}", "-s", "nowhere/wave.png"], "does not exist"),
        (
            "photo look in hires",
            ["stylize", "{photo}", "-s", "starry-night", "--photoreal", "--mode", "hires"],
            "photo look",
        ),
        (
            "photo look and kept colours",
            [
                "stylize",
                "{photo}",
                "-s",
                "starry-night",
                "--photoreal",
                "--preserve-color",
                "luminance",
            ],
            "colour preservation",
        ),  # fmt: skip
        (
            "colour depth map",
            ["stylize", "{photo}", "-s", "starry-night", "--depth", "{photo}"],
            "has colour",
        ),
        (
            "depth in hires from fast",
            [
                "stylize",
                "{photo}",
                "-s",
                "starry-night",
                "--depth",
                "{grey}",
                "--mode",
                "hires",
                "--base",
                "fast",
            ],
            "gatys base",
        ),  # fmt: skip
        ("unreadable depth map", ["stylize", "{photo}", "-s", "x", "--depth", "{garbage}"], "read"),
    ],
)
def test_bad_input_prints_one_clear_line_and_exits_non_zero(daemon, tmp_path, case, args, expect):
    garbage = tmp_path / "garbage.png"
    garbage.write_bytes(b"\x89PNG this is not really an image")
    grey = tmp_path / "grey.png"
    write_image(grey, np.full((8, 8, 3), 128, np.uint8))
    fill = {"garbage": str(garbage), "photo": str(DATA / "chelsea.png"), "tmp": str(tmp_path)}
    fill["grey"] = str(grey)
    args = [a.format(**fill) for a in args]
    if "-o" not in args:
        args += ["-o", str(tmp_path / "out.png")]
    run = impasto(*args, "--endpoint", daemon.endpoint)
    assert run.returncode != 0
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("impasto: error:"), run.stderr
    assert expect in lines[0] and "Traceback" not in run.stderr
    assert not (tmp_path / "out.png").exists()


def test_no_daemon_prints_one_line_saying_how_to_start_it(tmp_path):
    run = impasto(
        "stylize",
        str(DATA / "chelsea.png"),
        "-s",
        "starry-night",
        "-o",
        str(tmp_path / "o.png"),
        "--endpoint",
        f"tcp://127.0.0.1:{free_port()}",
        "--timeout",
        "1",
    )
    assert run.returncode != 0
    assert run.stderr.strip().splitlines() == [run.stderr.strip()]
    assert "impasto daemon" in run.stderr and "Traceback" not in run.stderr


def test_styles_and_status_commands(daemon):
    styles = impasto("styles", "--endpoint", daemon.endpoint)
    assert styles.returncode == 0 and "starry-night" in styles.stdout
    status = impasto("status", "--endpoint", daemon.endpoint)
    assert status.returncode == 0 and "device cpu" in status.stdout


def test_a_mask_file_limits_the_style_to_its_white_part(daemon, tmp_path):
    photo = read_image(DATA / "chelsea.png")
    h, w = photo.shape[:2]
    mask = np.zeros((h, w, 3), np.uint8)
    mask[:, w // 2 :] = 255
    write_image(tmp_path / "mask.png", mask)
    out = tmp_path / "out.png"
    run = impasto(
        "stylize", str(DATA / "chelsea.png"), "-s", "great-wave", "--mask",
        str(tmp_path / "mask.png"), "-o", str(out), "--endpoint", daemon.endpoint,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    result = read_image(out)
    assert np.array_equal(result[:, : w // 2], photo[:, : w // 2])
    assert np.abs(result[:, w // 2 :].astype(int) - photo[:, w // 2 :]).mean() > 10


def test_stylize_runs_without_torch_in_the_cli_process(daemon, tmp_path):
    """The CLI is a client: with torch made unimportable it still resizes, masks, reads a style
    picture and writes the result (the daemon does all the torch work)."""
    mask = np.zeros((90, 160, 1), np.uint8)
    mask[:, 80:] = 255
    write_image(tmp_path / "mask.png", np.repeat(mask, 3, axis=2))
    out = tmp_path / "out.png"
    argv = [
        "stylize", str(DATA / "red_panda.png"), "--mode", "gatys", "--iterations", "2",
        "-s", f"{DATA / 'night_cafe.png'}", "--size", "48", "--mask", str(tmp_path / "mask.png"),
        "-o", str(out), "--endpoint", daemon.endpoint,
    ]  # fmt: skip
    code = (
        "import sys; sys.modules['torch'] = None\n"
        "from cli.main import main\n"
        f"code = main({argv!r})\n"
        "assert 'torch' not in sys.modules or sys.modules['torch'] is None\n"
        "sys.exit(code)\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert run.returncode == 0, run.stderr
    assert read_image(out).shape == (27, 48, 3)


def test_the_cli_process_never_loads_torch_for_pictures_and_sequences(daemon, tmp_path):
    """`impasto stylize` on a PNG and on an animated GIF, as the `impasto` command runs it (no
    import blocked): afterwards neither torch nor any of its modules is in the process."""
    from PIL import Image

    frames = [Image.fromarray(load_rgb("chelsea.png")[:32, i : i + 48]) for i in range(0, 6, 2)]
    frames[0].save(tmp_path / "clip.gif", save_all=True, append_images=frames[1:], duration=80)
    jobs = [
        ["stylize", str(DATA / "red_panda.png"), "-s", "starry-night", "--size", "48",
         "-o", str(tmp_path / "out.png"), "--endpoint", daemon.endpoint],
        ["stylize", str(tmp_path / "clip.gif"), "-s", "starry-night",
         "-o", str(tmp_path / "out.gif"), "--endpoint", daemon.endpoint],
    ]  # fmt: skip
    for argv in jobs:
        code = (
            "import sys\n"
            "from cli.main import main\n"
            f"code = main({argv!r})\n"
            "loaded = sorted(m for m in sys.modules if m == 'torch' or m.startswith('torch.'))\n"
            "print('torch modules:', loaded)\n"
            "sys.exit(code or (3 if loaded else 0))\n"
        )
        run = subprocess.run(
            [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300
        )
        assert run.returncode == 0, run.stdout + run.stderr
        assert "torch modules: []" in run.stdout
    assert read_image(tmp_path / "out.png").shape[1] == 48
    with Image.open(tmp_path / "out.gif") as im:
        assert im.n_frames == 3


def test_no_texture_and_the_defaults_reach_the_job():
    from cli.main import build_parser
    from cli.stylize import job_spec
    from shared.job import StyleRef
    from shared.protocol import PixelFormat

    content = PixelFormat("u8", "RGB", 3).describe(1, 64, 48)
    styles = [StyleRef(name="starry-night")]
    for extra, textured in (([], True), (["--no-texture"], False)):
        cmd = ["stylize", "in.png", "-s", "starry-night", "-o", "out.png", *extra]
        args = build_parser().parse_args(cmd)
        spec = job_spec(args, content, styles)
        assert spec.texture is textured and spec.temporal is True


def test_photoreal_with_a_photo_as_the_style_writes_the_recoloured_photo(daemon, tmp_path):
    out = tmp_path / "look.png"
    run = impasto(
        "stylize", str(DATA / "chelsea.png"), "-s", str(DATA / "red_panda.png"), "--mode",
        "gatys", "--photoreal", "-o", str(out), "--endpoint", daemon.endpoint,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    photo, look = load_rgb("chelsea.png"), read_image(out)
    assert look.shape == photo.shape and np.abs(look.astype(int) - photo).mean() > 10
    assert luma_ssim(look, photo) > 0.75


def test_a_depth_map_makes_strokes_bigger_where_it_is_white(daemon, tmp_path):
    photo = DATA / "red_panda.png"
    h, w = load_rgb("red_panda.png").shape[:2]
    ramp = tmp_path / "depth.png"
    write_image(
        ramp, np.repeat(np.tile(np.linspace(255, 0, w).astype(np.uint8), (h, 1))[..., None], 3, 2)
    )
    outs = {}
    for name, extra in (("deep", ["--depth", str(ramp), "--depth-range", "4"]), ("flat", [])):
        outs[name] = tmp_path / f"{name}.png"
        run = impasto(
            "stylize", str(photo), "-s", "starry-night", "-o", str(outs[name]), *extra,
            "--endpoint", daemon.endpoint,
        )  # fmt: skip
        assert run.returncode == 0, run.stderr
    deep, flat = read_image(outs["deep"]), read_image(outs["flat"])
    assert deep.shape == flat.shape and not np.array_equal(deep, flat)


def test_learn_refuses_bad_paintings_and_names_with_one_line_each(daemon, tmp_path):
    from PIL import Image

    frames = [Image.new("RGB", (80, 80), c) for c in ("red", "blue")]
    frames[0].save(tmp_path / "anim.gif", save_all=True, append_images=frames[1:])
    (tmp_path / "broken.png").write_bytes(b"\x89PNG not really")
    write_image(tmp_path / "tiny.png", load_rgb("chelsea.png")[:40, :40])
    write_image(tmp_path / "fine.png", load_rgb("chelsea.png")[:80, :80])
    endpoint = ("--endpoint", daemon.endpoint)
    for args, expect in (
        ([str(tmp_path / "anim.gif")], "animation (2 frames)"),
        ([str(tmp_path / "broken.png")], "cannot read the image"),
        ([str(tmp_path / "tiny.png")], "at least 64"),
        ([str(tmp_path / "fine.png"), "--name", "vangogh-starry-night"], "exists already"),
        ([str(tmp_path / "fine.png"), "--name", "Not A Name"], "lowercase words"),
        ([str(tmp_path / "fine.png"), "--minutes", "0"], "minutes must be"),
        (["--stop", "never-learned"], "no lesson 'never-learned'"),
        ([str(tmp_path / "fine.png"), "--content", str(tmp_path / "none")], "no training photos"),
    ):
        run = impasto("learn", *args, *endpoint)
        lines = run.stderr.strip().splitlines()
        assert run.returncode != 0 and len(lines) == 1 and expect in lines[0], (args, run.stderr)
    listed = impasto("lessons", *endpoint)
    assert listed.returncode == 0, listed.stderr

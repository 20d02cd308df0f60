"""End to end in the real GIMP 3: batch mode calls `plug-in-impasto-stylize` against a real daemon.

Every test runs in two GIMPs (`GIMPS`), each in a Debian chroot (Debian 12 has no GIMP 3): GIMP
3.0 in the Debian 13 chroot that tests/editors/setup_gimp.sh builds and GIMP 3.2 in the Debian
forky chroot of tests/editors/setup_forky.sh. A chroot shares the host network, so the session's
daemon on 127.0.0.1 is reachable. The plug-in is installed with the project's installer into a
fresh profile in the chroot; one GIMP batch run (tests/gimp/gimp_driver.py) runs every case,
saves XCF and PNG, reopens the XCF and dumps its layers, which the tests below check from
outside. Without a chroot its tests skip, unless CI=true, where a missing chroot is a failure.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import shutil
import signal
import subprocess
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from daemon.io.images import read_image, write_image
from gimp_plugin import installer
from shared.recipe import picture_file
from tests.conftest import (
    DATA,
    ROOT,
    assert_halves_follow,
    forget_learned,
    free_port,
    luma_ssim,
)
from tests.krita.krita_harness import virtual_display

log = logging.getLogger(__name__)

DRIVER = Path(__file__).with_name("gimp_driver.py")
SELECT = (24, 16, 64, 48)  # x, y, w, h in the 128x85 photo


@dataclass(frozen=True)
class GimpInstall:
    """One GIMP 3 the end-to-end tests run, in its Debian chroot."""

    name: str  # the test id: the Debian release it comes from
    version: str  # GIMP's major.minor: its programs' suffix and its profile folder's name
    setup: str  # the script under tests/editors that builds the chroot
    root: Path
    stamp: str  # the file the setup script leaves in a finished chroot

    @property
    def console(self) -> str:
        """The batch program, as GIMP names it."""
        return f"gimp-console-{self.version}"

    def problem(self) -> str | None:
        """Why this chroot cannot be used here, or None."""
        if not (self.root / self.stamp).is_file():
            return (
                f"no GIMP {self.version} chroot at {self.root}: build it with "
                f"`sudo bash tests/editors/{self.setup}`"
            )
        if os.geteuid() != 0:
            return "running GIMP in its chroot needs root"
        return None


GIMPS = (
    GimpInstall(
        "trixie",
        "3.0",
        "setup_gimp.sh",
        Path(os.environ.get("IMPASTO_GIMP_CHROOT", "/var/cache/impasto/gimp3-chroot")),
        ".impasto-gimp-chroot",
    ),
    GimpInstall(
        "forky",
        "3.2",
        "setup_forky.sh",
        Path(os.environ.get("IMPASTO_FORKY_CHROOT", "/var/cache/impasto/forky-chroot")),
        ".impasto-forky-chroot",
    ),
)


def photo(name: str, long_side: int) -> np.ndarray:
    """A test photo shrunk to `long_side`, RGB uint8."""
    img = Image.fromarray(read_image(DATA / name)[..., :3])
    scale = long_side / max(img.size)
    return np.asarray(img.resize((round(img.width * scale), round(img.height * scale))))


def to_u16(rgb8: np.ndarray) -> np.ndarray:
    """16-bit pixels whose low bytes carry information (not just 8-bit values times 257)."""
    noise = np.random.default_rng(7).integers(-100, 100, rgb8.shape)
    return np.clip(rgb8.astype(np.int64) * 257 + noise, 0, 65535).astype(np.uint16)


@dataclass
class Layer:
    name: str
    offsets: tuple[int, int]
    pixels: np.ndarray  # RGBA, the image's own depth
    mask: np.ndarray | None


def on_host(result, root: Path):
    """The driver's `result` with its dump files (paths in the chroot at `root`) as seen here."""
    if isinstance(result, list):
        return [on_host(value, root) for value in result]
    if not isinstance(result, dict):
        return result
    return {
        key: str(root / value.lstrip("/"))
        if key in ("raw", "mask") and isinstance(value, str)
        else on_host(value, root)
        for key, value in result.items()
    }


def layers(result: dict) -> list[Layer]:
    """The layers of a reopened XCF, top first, from the driver's dumps (see `on_host`)."""
    dtype = np.uint16 if result["precision"] == "u16" else np.uint8
    out = []
    for entry in result["layers"]:
        w, h = entry["size"]
        pixels = np.fromfile(entry["raw"], dtype).reshape(h, w, 4)
        mask = None
        if entry["mask"]:
            mask = np.fromfile(entry["mask"], np.uint8).reshape(h, w)
        out.append(Layer(entry["name"], tuple(entry["offsets"]), pixels, mask))
    return out


def direct(daemon, content: np.ndarray, *extra: bytes, **fields) -> np.ndarray:
    """The daemon's answer for the same pixels and settings, asked without GIMP (`extra`: more
    buffers, frames 2…)."""
    h, w, c = content.shape
    dtype = "u16" if content.dtype == np.uint16 else "u8"
    body = {
        "content": {"frame": 1, "width": w, "height": h, "channels": c, "dtype": dtype},
        **fields,
    }
    with daemon.client(timeout=30) as client:
        desc, data = client.run(body, [content.tobytes(), *extra], timeout=120).image_bytes(0)
    return np.frombuffer(data, content.dtype).reshape(h, w, c)


class GimpChroot:
    """A work folder inside a GIMP's chroot with one GIMP profile holding the installed plug-in."""

    def __init__(self, gimp: GimpInstall, endpoint: str) -> None:
        self.gimp = gimp
        self.root = gimp.root
        self.endpoint = endpoint
        self.work = Path(tempfile.mkdtemp(prefix="impasto-e2e-", dir=self.root / "tmp"))
        self.inside = "/" + str(self.work.relative_to(self.root))
        self.plugins = f"{self.inside}/home/.config/GIMP/{gimp.version}/plug-ins"
        plugins = self.root / self.plugins.lstrip("/")
        # The installer asks the chroot's python3 (GIMP's) whether it has pyzmq and msgpack.
        saved = os.environ.get("IMPASTO_GIMP_PYTHON")
        os.environ["IMPASTO_GIMP_PYTHON"] = f"chroot {self.root} /usr/bin/python3"
        try:
            installer.install(plugins, log.info)
        finally:
            if saved is None:
                del os.environ["IMPASTO_GIMP_PYTHON"]
            else:
                os.environ["IMPASTO_GIMP_PYTHON"] = saved
        assert (plugins / "impasto" / "shared").is_dir()
        assert not (plugins / "impasto" / "vendor").exists()  # Debian's python3-zmq is used

    def run(self, shell_command: str, **env: str) -> subprocess.CompletedProcess:
        """A shell command in the chroot, in the work folder, with GIMP's profile as HOME."""
        # GTK's image loaders from forky on (glycin) sandbox themselves with bubblewrap, which
        # cannot work in a chroot; only with /proc do they see that and load unsandboxed (else
        # GTK aborts on its first icon). The command gets a /proc of its own (a private mount
        # namespace), gone when it ends.
        cmd = ["unshare", f"--mount-proc={self.root}/proc", "chroot", str(self.root)]
        cmd += ["env", "-i", "PATH=/usr/bin:/bin", "LANG=C.UTF-8"]
        cmd += [f"HOME={self.inside}/home", f"IMPASTO_ENDPOINT={self.endpoint}"]
        cmd += [f"{key}={value}" for key, value in env.items()]
        cmd += ["sh", "-c", f"cd {self.inside} && {shell_command}"]
        start = time.monotonic()
        run = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
        log.info("GIMP run took %.1f s", time.monotonic() - start)
        assert run.returncode == 0, f"GIMP failed:\n{run.stdout}\n{run.stderr}"
        return run


@pytest.fixture(scope="module", params=GIMPS, ids=[gimp.name for gimp in GIMPS])
def chroot(request):
    """A GIMP 3 chroot with the plug-in installed (skipped without it, unless CI=true)."""
    problem = request.param.problem()
    if problem:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true but {problem}")
        pytest.skip(problem)
    # the daemon only once there is a GIMP to run: no daemon start for a skip
    gimp = GimpChroot(request.param, request.getfixturevalue("daemon").endpoint)
    yield gimp
    shutil.rmtree(gimp.work, ignore_errors=True)


@pytest.fixture(scope="module")
def gimp_run(chroot, request):
    """Every driver case in one GIMP batch run: inputs, fast styles, results, the daemon."""
    daemon = request.getfixturevalue("daemon")
    with daemon.client() as client:
        fast = client.hello()["engine_styles"]["fast"]
    assert len(fast) >= 2, f"the daemon offers too few fast styles: {fast}"
    work, inside = chroot.work, chroot.inside
    shutil.copy(DATA / "night_cafe.png", work / "style.png")
    inputs = {"rgb8": photo("chelsea.png", 128), "rgb16": to_u16(photo("red_panda.png", 112))}
    for name, pixels in inputs.items():
        write_image(work / f"{name}.png", pixels)
    dead = f"tcp://127.0.0.1:{free_port()}"
    args = {"mode": "fast", "styles": "", "endpoint": daemon.endpoint}
    cases = {
        # no endpoint and no styles set: $IMPASTO_ENDPOINT in GIMP's environment, the first style
        "u8": ("rgb8", None, {"mode": "fast"}),
        "u16": ("rgb16", None, {**args, "styles": fast[1], "strength": 0.8}),
        "selection": (
            "rgb8",
            SELECT,
            {**args, "styles": f"{fast[0]}:0.7, {fast[1]}:0.3", "preserve-color": "luminance"},
        ),
        "gatys-file": (
            "rgb8",
            None,
            {**args, "mode": "gatys", "styles": f"{inside}/style.png", "iterations": 3},
        ),
        "unreachable": ("rgb8", None, {**args, "endpoint": dead}),
        "hires": ("rgb8", None, {**args, "mode": "hires", "iterations": 10}),
        "photo-look": (
            "rgb8",
            None,
            {**args, "mode": "gatys", "styles": f"{inside}/style.png", "photoreal": True},
        ),
        "fast-file": ("rgb8", None, {**args, "styles": f"{inside}/style.png"}),
        "reapply": ("rgb8", None, {**args, "styles": f"{fast[0]}:0.6, {fast[1]}:0.4"}),
        "channel-map": (
            "rgb8",
            None,
            {**args, "styles": "starry-night@Left, great-wave@Right"},
        ),  # fmt: skip
        "learn": ("rgb8", None, {**args, "styles": learned_name(chroot)}),
        "depth": ("rgb8", None, {**args, "styles": fast[0], "depth": "Near", "depth-range": 4.0}),
    }
    job = {
        "out": inside,
        "results": f"{inside}/results.json",
        "cases": [
            {
                "name": name,
                "input": f"{inside}/{source}.png",
                "select": select,
                "args": case_args,
                "xcf": f"{inside}/{name}.xcf",
                "png": f"{inside}/{name}.png",
                "reapply": name == "reapply",
                "learn": {
                    "style-name": learned_name(chroot),
                    "minutes": 0.1,
                    "endpoint": daemon.endpoint,
                }
                if name == "learn"
                else None,
                "channels": {"Left": [0, 0, 64, 85], "Right": [64, 0, 64, 85]}
                if name == "channel-map"
                else {"Near": [0, 0, 64, 85]}
                if name == "depth"
                else {},
            }
            for name, (source, select, case_args) in cases.items()
        ],
    }
    # a three-frame stack (a camera pan), for the frames procedure
    frames = [pan_frame(i) for i in range(3)]
    for i, arr in enumerate(frames):
        write_image(work / f"frame{i}.png", arr)
    job["cases"].append(
        {
            "name": "frames",
            "frames": [f"{inside}/frame{i}.png" for i in range(3)],
            "args": {**args, "styles": fast[0]},
            "xcf": f"{inside}/frames.xcf",
            "source_xcf": f"{inside}/frames-source.xcf",
        }
    )
    inputs["frames"] = frames
    (work / "job.json").write_text(json.dumps(job))
    shutil.copy(DRIVER, work / "driver.py")
    batch = f"{chroot.gimp.console} -i --batch-interpreter python-fu-eval "
    batch += f"-b \"exec(open('{inside}/driver.py').read())\" --quit"
    run = chroot.run(batch, IMPASTO_E2E_JOB=f"{inside}/job.json")
    forget_learned(daemon, learned_name(chroot))
    results = on_host(json.loads((work / "results.json").read_text()), chroot.root)
    return {
        "work": work,
        "inputs": inputs,
        "fast": fast,
        "results": results,
        "log": run.stderr,
        "daemon": daemon,
    }


def learned_name(chroot) -> str:
    """The style the `learn` case adds (one per GIMP: each run adds its own)."""
    return f"e2e-gimp-{chroot.gimp.name}"


def test_add_to_fast_styles_learns_the_layer_and_the_style_then_stylises(gimp_run, chroot):
    result = succeeded(gimp_run, "learn")
    assert result["learned"] == ["success", "", learned_name(chroot)], result
    new, source = layers(result)
    assert new.name == f"Impasto: {learned_name(chroot)}"
    assert np.array_equal(source.pixels[..., :3], gimp_run["inputs"]["rgb8"])
    assert np.abs(new.pixels[..., :3].astype(int) - gimp_run["inputs"]["rgb8"]).mean() > 5


def pan_frame(i: int) -> np.ndarray:
    """Frame i of a 4 px per frame pan across a photo, 96x72."""
    wide = photo("chelsea.png", 120)[:72]
    return np.ascontiguousarray(wide[:, 4 * i : 4 * i + 96])


def succeeded(gimp_run, case: str) -> dict:
    result = gimp_run["results"][case]
    assert result["status"] == "success", f"{case}: {result['message']}\n{gimp_run['log']}"
    return result


def test_each_gimp_is_the_release_it_stands_for(chroot, gimp_run):
    """The Debian release behind a run still ships the GIMP it is named for in the README."""
    version = gimp_run["results"]["version"]
    assert version.startswith(f"{chroot.gimp.version}."), (
        f"{chroot.gimp.name} now ships GIMP {version}, not {chroot.gimp.version}: update GIMPS "
        "in tests/gimp/test_gimp_e2e.py and the README's Editors tested"
    )


def test_8bit_photo_gets_a_stylised_layer_above_the_untouched_source(gimp_run):
    daemon = gimp_run["daemon"]
    result = succeeded(gimp_run, "u8")
    source_pixels = gimp_run["inputs"]["rgb8"]
    assert result["precision"] == "u8"
    new, source = layers(result)  # top first: the new layer sits right above the source
    assert np.array_equal(source.pixels[..., :3], source_pixels)  # never modified
    assert new.name == f"Impasto: {gimp_run['fast'][0]}"  # empty styles: the daemon's first
    assert new.offsets == (0, 0) and new.mask is None
    assert new.pixels.shape == source.pixels.shape
    stylised = new.pixels[..., :3].astype(int)
    assert np.abs(stylised - source_pixels).mean() > 10
    # The very pixels the daemon returns for the same input: nothing lost or reordered in GIMP.
    expected = direct(daemon, source_pixels, engine="fast", styles=[{"name": gimp_run["fast"][0]}])
    assert np.abs(stylised - expected).max() <= 1
    composite = read_image(gimp_run["work"] / "u8.png")
    assert np.array_equal(composite[..., :3], new.pixels[..., :3])


def test_16bit_photo_is_read_and_written_at_16_bits(gimp_run):
    daemon = gimp_run["daemon"]
    result = succeeded(gimp_run, "u16")
    source_pixels = gimp_run["inputs"]["rgb16"]
    assert result["precision"] == "u16"
    new, source = layers(result)
    assert np.array_equal(source.pixels[..., :3], source_pixels)
    assert new.name == f"Impasto: {gimp_run['fast'][1]}"
    stylised = new.pixels[..., :3].astype(int)
    assert np.abs(stylised - source_pixels).mean() > 10 * 257
    expected = direct(
        daemon, source_pixels, engine="fast", styles=[{"name": gimp_run["fast"][1]}], strength=0.8
    )
    assert np.abs(stylised - expected).max() <= 2  # all 16 bits made the round trip
    assert len(np.unique(stylised % 257)) > 200  # not 8-bit values scaled up


def test_selection_stylises_its_bounds_in_a_masked_layer(gimp_run):
    daemon = gimp_run["daemon"]
    result = succeeded(gimp_run, "selection")
    source_pixels = gimp_run["inputs"]["rgb8"]
    new, source = layers(result)
    x, y, w, h = SELECT
    assert np.array_equal(source.pixels[..., :3], source_pixels)
    assert new.offsets == (x, y) and new.pixels.shape[:2] == (h, w)
    assert new.mask is not None and new.mask.min() == 255  # the selection, as a layer mask
    assert "+" in new.name
    crop = np.ascontiguousarray(source_pixels[y : y + h, x : x + w])
    fast = gimp_run["fast"]
    expected = direct(
        daemon,
        crop,
        engine="fast",
        styles=[{"name": fast[0], "weight": 0.7}, {"name": fast[1], "weight": 0.3}],
        preserve_color="luminance",
    )
    assert np.abs(new.pixels[..., :3].astype(int) - expected).max() <= 1
    composite = read_image(gimp_run["work"] / "selection.png")[..., :3]
    outside = np.ones(source_pixels.shape[:2], bool)
    outside[y : y + h, x : x + w] = False
    assert np.array_equal(composite[outside], source_pixels[outside])
    assert np.abs(composite[~outside].astype(int) - crop.reshape(-1, 3)).mean() > 5


def test_gatys_mode_takes_a_style_image_file(gimp_run):
    result = succeeded(gimp_run, "gatys-file")
    new, source = layers(result)
    assert new.name == "Impasto: style"
    assert np.array_equal(source.pixels[..., :3], gimp_run["inputs"]["rgb8"])
    assert np.abs(new.pixels[..., :3].astype(int) - gimp_run["inputs"]["rgb8"]).mean() > 3


def test_the_photo_look_recolours_the_layer_and_keeps_its_structure(gimp_run):
    new, source = layers(succeeded(gimp_run, "photo-look"))
    photo = gimp_run["inputs"]["rgb8"]
    assert np.array_equal(source.pixels[..., :3], photo)
    look = new.pixels[..., :3]
    assert np.abs(look.astype(int) - photo).mean() > 5
    assert luma_ssim(look, photo) > 0.75


def test_unreachable_daemon_is_an_execution_error_with_a_clear_message(gimp_run):
    result = gimp_run["results"]["unreachable"]
    assert result["status"] == "execution-error"
    assert "No Impasto daemon answered" in result["message"]
    assert result["layer_count"] == 1


def test_hires_runs_through_the_plug_in(gimp_run):
    new, source = layers(succeeded(gimp_run, "hires"))
    assert np.array_equal(source.pixels[..., :3], gimp_run["inputs"]["rgb8"])
    assert np.abs(new.pixels[..., :3].astype(int) - gimp_run["inputs"]["rgb8"]).mean() > 3


def test_fast_mode_refuses_a_style_image_file(gimp_run):
    result = gimp_run["results"]["fast-file"]
    assert result["status"] == "calling-error"
    assert "gatys" in result["message"] and "style.png" in result["message"]
    assert result["layer_count"] == 1


def readme_batch_example() -> str:
    """The shell command of the README's GIMP batch example."""
    section = (ROOT / "README.md").read_text().split("\n## GIMP", 1)[1].split("\n## ", 1)[0]
    blocks = section.split("```sh\n")[1:]
    command = next(b.split("```")[0] for b in blocks if "plug-in-impasto-stylize" in b)
    return command.strip()


def test_the_readme_batch_example_runs_as_written(chroot):
    write_image(chroot.work / "photo.png", photo("red_panda.png", 96))
    chroot.run(readme_batch_example())
    painted = read_image(chroot.work / "painted.png")
    assert (chroot.work / "painted.xcf").stat().st_size > 0
    assert np.abs(painted[..., :3].astype(int) - read_image(chroot.work / "photo.png")).mean() > 10


def test_a_frame_stack_becomes_a_new_image_of_stylised_frames(gimp_run):
    """plug-in-impasto-stylize-frames: a new image with the frames in order, names (timings)
    kept, each stylised; the source image's frames untouched."""
    result = succeeded(gimp_run, "frames")
    frames = gimp_run["inputs"]["frames"]
    made = layers(result)
    assert [layer.name for layer in made] == [f"frame {i} (100ms)" for i in (3, 2, 1)]
    for layer, source in zip(reversed(made), frames, strict=True):
        assert layer.pixels.shape == (72, 96, 4) and (layer.pixels[..., 3] == 255).all()
        assert np.abs(layer.pixels[..., :3].astype(int) - source).mean() > 10  # stylised
    assert not np.array_equal(made[0].pixels, made[2].pixels)  # each frame its own
    for layer, source in zip(reversed(layers(result["source"])), frames, strict=True):
        assert np.array_equal(layer.pixels[..., :3], source)  # the source is only read


def test_a_result_keeps_its_recipe_in_the_xcf_and_reapply_remakes_it_from_the_edited_source(
    gimp_run,
):
    result = succeeded(gimp_run, "reapply")
    assert result["reapply"] == ["success", ""], result
    first, second, source = layers(result)  # top first: the re-applied one right above the source
    fast = gimp_run["fast"]
    assert result["commands"] == 2 * [
        f"impasto stylize {picture_file(source.name)} -s {fast[0]}:0.6 -s {fast[1]}:0.4 "
        "--mode fast -o result.png"
    ], result
    assert first.name.split(" #")[0] == second.name.split(" #")[0]  # GIMP numbers duplicates
    recipes = [entry["recipe"] for entry in result["layers"]]
    assert recipes[0] == recipes[1] and recipes[0]["settings"]["engine"] == "fast"
    assert recipes[2] is None
    photo = gimp_run["inputs"]["rgb8"]
    h = photo.shape[0] // 2
    assert np.array_equal(source.pixels[:h, :, :3], 255 - photo[:h])  # the edit
    a, b = first.pixels[..., :3].astype(int), second.pixels[..., :3].astype(int)
    assert np.abs(a[:h] - b[:h]).mean() > 2 * np.abs(a[h:] - b[h:]).mean()


def test_styles_placed_by_channels_each_keep_their_half(gimp_run):
    result = succeeded(gimp_run, "channel-map")
    new, _ = layers(result)
    photo = gimp_run["inputs"]["rgb8"]
    assert photo.shape[:2] == (85, 128)
    both = new.pixels[..., :3].astype(int)
    a, b = (
        direct(gimp_run["daemon"], photo, engine="fast", styles=[{"name": s}])[..., :3].astype(int)
        for s in ("starry-night", "great-wave")
    )
    assert_halves_follow(both, a, b)
    # named after the paintings the daemon used, not the words typed
    assert new.name == "Impasto: vangogh-starry-night 50% + hokusai-great-wave 50%"


def test_a_channel_as_depth_map_gives_the_daemons_depth_result(gimp_run):
    new, source = layers(succeeded(gimp_run, "depth"))
    photo = gimp_run["inputs"]["rgb8"]
    assert np.array_equal(source.pixels[..., :3], photo)
    h, w = photo.shape[:2]
    near = np.zeros((h, w), np.uint8)
    near[:, :64] = 255  # the channel the case saved: white (near) on the left half
    depth = {"frame": 2, "width": w, "height": h, "channels": 1, "dtype": "u8"}
    fields = {"engine": "fast", "styles": [{"name": gimp_run["fast"][0]}]}
    expect = direct(gimp_run["daemon"], photo, near.tobytes(), depth=depth, depth_range=4.0,
                    **fields)  # fmt: skip
    flat = direct(gimp_run["daemon"], photo, **fields)
    got = new.pixels[..., :3].astype(int)
    assert np.abs(got - expect[..., :3]).mean() < 1.0
    assert np.abs(got - flat[..., :3]).mean() > 3  # the map changed the strokes


def plug_in_pids() -> list[int]:
    """The running Impasto plug-in processes (GIMP starts each call's as `python3 …/impasto.py`)."""
    found = subprocess.run(["pgrep", "-f", "plug-ins/impasto/impasto.py"], capture_output=True)
    return [int(pid) for pid in found.stdout.split()]


def batch_job(chroot, tag: str, cases: list[tuple[str, dict]], **extra) -> tuple[str, str, Path]:
    """A GIMP batch command running the driver on `cases` ((name, arguments) on the 128 px
    photo; `extra` fields go into every case), the job file (inside the chroot) and where its
    results will be (outside)."""
    work, inside = chroot.work, chroot.inside
    write_image(work / f"{tag}.png", photo("chelsea.png", 128))
    job = {
        "out": inside,
        "results": f"{inside}/{tag}-results.json",
        "cases": [
            {
                "name": name,
                "input": f"{inside}/{tag}.png",
                "args": args,
                "xcf": f"{inside}/{name}.xcf",
                "png": f"{inside}/{name}.png",
                **extra,
            }
            for name, args in cases
        ],
    }
    (work / f"{tag}-job.json").write_text(json.dumps(job))
    shutil.copy(DRIVER, work / "driver.py")
    batch = f"{chroot.gimp.console} -i --batch-interpreter python-fu-eval "
    batch += f"-b \"exec(open('{inside}/driver.py').read())\" --quit"
    return batch, f"{inside}/{tag}-job.json", work / f"{tag}-results.json"


def test_cancel_in_gimp_stops_the_daemons_job_and_gimp_goes_on(chroot, daemon):
    """GIMP's progress Cancel closes the plug-in: a quit message, 10 ms, then SIGKILL
    (gimp_plug_in_close in app/plug-in/gimpplugin.c; a batch run has no Cancel button, so the
    test does that part). The daemon must stop the job at once (it is nobody's any more), GIMP
    must report the call as failed without a new layer, and the next call must work."""
    endpoint = {"endpoint": daemon.endpoint}
    long_job = {**endpoint, "mode": "gatys", "styles": "starry-night", "iterations": 1000}
    cases = [("cancelled", long_job), ("after", {**endpoint, "mode": "fast"})]
    batch, job_file, results_file = batch_job(chroot, "cancel", cases)
    with ThreadPoolExecutor(1) as pool:
        gimp = pool.submit(chroot.run, batch, IMPASTO_E2E_JOB=job_file)
        with daemon.client() as client:

            def running() -> int:
                return client.request("status", {}).body["running"]

            deadline = time.monotonic() + 120
            while not (running() and plug_in_pids()):
                assert time.monotonic() < deadline and not gimp.done(), "the job never started"
                time.sleep(0.1)
            time.sleep(1.0)  # well into the job
            assert running() == 1
            for pid in plug_in_pids():
                os.kill(pid, signal.SIGKILL)
            killed = time.monotonic()
            while running():
                assert time.monotonic() - killed < 5, "the daemon kept running a cancelled job"
                time.sleep(0.05)
            stopped = time.monotonic() - killed
        gimp.result(timeout=300)
    log.info("the daemon stopped the job %.2f s after the plug-in was closed", stopped)
    assert stopped < 2.0  # the next progress message finds the client gone
    results = json.loads(results_file.read_text())
    log.info("GIMP's answer to the closed plug-in: %s", results["cancelled"])
    cancelled = results["cancelled"]  # what GIMP says of a plug-in it closed
    assert cancelled["status"] == "calling-error" and "no return values" in cancelled["message"]
    assert results["cancelled"]["layer_count"] == 1  # nothing added to the image
    assert results["after"]["status"] == "success", results["after"]["message"]
    assert results["after"]["layer_count"] == 2


def test_the_dialogs_style_rows_work_in_real_gtk(chroot, daemon, tmp_path):
    """The style rows of the dialog (gimp_plugin/impasto/style_rows.py) in GTK 3 of the GIMP 3
    chroot, driven by tests/gimp/style_rows_check.py with the daemon's real styles."""
    with daemon.client() as client:
        styles = client.styles()
    for style in styles:
        style["thumbnail_png"] = base64.b64encode(style["thumbnail_png"]).decode()
    work, inside = chroot.work, chroot.inside
    (work / "styles.json").write_text(json.dumps(styles))
    shutil.copy(Path(__file__).with_name("style_rows_check.py"), work / "rows.py")
    plugin = f"{chroot.plugins}/impasto"
    with virtual_display() as display:
        chroot.run(
            f"python3 rows.py {plugin} {inside}/rows.json {inside}/styles.json {inside}/rows.png",
            DISPLAY=display,
        )
    report = json.loads((work / "rows.json").read_text())
    fast = [s["name"] for s in styles if "fast" in s["engines"]]
    titles = {s["name"]: s["title"] for s in styles}
    # fast mode offers only the model's styles, and no picture files
    assert report["fast_offered"] == [titles[name] for name in fast]
    assert report["file_button_in_fast"] is False and report["file_button_in_gatys"] is True
    assert report["gatys_offered"] == len([s for s in styles if "gatys" in s["engines"]])
    assert "first style" in report["empty_note"]
    # every change is the procedure's `styles` text at once
    assert report["after_two_picks"] == f"{fast[0]}, {fast[1]}"
    assert report["after_weight_and_where"] == f"{fast[0]}, {fast[1]}:0.5@Sky"
    assert report["has_thumbnail"]
    assert report["reached_by_tab"] == ["remove", "weight", "where"]  # all by keyboard
    # a picture stays, marked, when the mode goes back to fast: the user decides
    assert "a picture needs gatys or hires, not fast" in report["marked_in_fast"]
    assert report["after_remove"] == f"{fast[1]}:0.5@Sky, /home/me/sketch.png"
    # sixteen styles (the protocol's limit): nothing more to add, and the rows scroll
    assert report["count"] == 16 and report["add_when_full"] is False
    for name in ("rows.png", "rows-16.png"):  # pytest's folder keeps them to look at
        shutil.copy(work / name, tmp_path / name)
    full = Image.open(tmp_path / "rows-16.png")
    assert report["height"] <= full.height < 480 and full.width > 300


SCREENSHOT = """
import sys, gi
gi.require_version("Gdk", "3.0")
from gi.repository import Gdk
root = Gdk.get_default_root_window()
Gdk.pixbuf_get_from_window(root, 0, 0, root.get_width(), root.get_height()).savev(
    sys.argv[1], "png", [], []
)
"""


def window_titles(display: str) -> str:
    tree = subprocess.run(
        ["xwininfo", "-root", "-tree", "-display", display], capture_output=True, text=True
    )
    return tree.stdout


def test_the_dialog_opens_in_gimp_with_style_rows_and_a_live_preview(chroot, daemon, tmp_path):
    """A menu click's call (interactive) in the real GIMP 3 under Xvfb: the dialog opens with
    its style rows (built from the daemon's styles, the procedure's `styles` text and the
    image) and asks the daemon for a preview by itself; a picture of the screen is kept;
    closing the plug-in as Cancel does ends it."""
    args = {"endpoint": daemon.endpoint, "mode": "fast", "styles": "starry:0.5, great-wave"}
    cases = [("dialog", args)]
    batch, job_file, results_file = batch_job(chroot, "dialog", cases, interactive=True)
    (chroot.work / "shot.py").write_text(SCREENSHOT)

    def jobs_done() -> int:
        return daemon.log.read_text().count(" done in ")

    before = jobs_done()
    with virtual_display() as display, ThreadPoolExecutor(1) as pool:
        gimp = pool.submit(chroot.run, batch, IMPASTO_E2E_JOB=job_file, DISPLAY=display)
        deadline = time.monotonic() + 120
        while "Impasto Style Transfer" not in window_titles(display):
            assert time.monotonic() < deadline, "no dialog window"
            assert not gimp.done(), gimp.result()
            time.sleep(0.2)
        while jobs_done() == before:  # the preview, with nothing clicked
            assert time.monotonic() < deadline, "the dialog asked for no preview"
            time.sleep(0.2)
        time.sleep(1.0)  # shown
        chroot.run(f"python3 shot.py {chroot.inside}/screen.png", DISPLAY=display)
        for pid in plug_in_pids():
            os.kill(pid, signal.SIGKILL)
        gimp.result(timeout=120)
    results = json.loads(results_file.read_text())
    assert results["dialog"]["status"] == "calling-error"  # closed, as Cancel closes it
    assert results["dialog"]["layer_count"] == 1  # the preview made no layer
    shutil.copy(chroot.work / "screen.png", tmp_path / "screen.png")  # kept to look at
    screen = np.asarray(Image.open(tmp_path / "screen.png").convert("L"))
    assert screen.std() > 10  # a dialog was drawn, not an empty screen

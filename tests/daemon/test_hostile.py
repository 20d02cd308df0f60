"""Hostile input: each case refused before any large allocation, with a typed error, while the
daemon keeps serving. Real daemon, real sockets, real files."""

from __future__ import annotations

import json
import struct
import subprocess
import sys
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
import zmq

from daemon.catalogue.model_library import ModelLibrary
from daemon.io.images import read_image
from shared import protocol
from shared.errors import BadImage, UnknownStyle
from tests.conftest import DATA, ROOT, load_rgb, rgba_u8
from tests.daemon.test_model_library import write_model


def bomb_png(path: Path, width: int = 60000, height: int = 60000) -> Path:
    """A valid-looking PNG of a few hundred bytes whose header claims `width`x`height`."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00" * (1 + 3 * 64) * 4)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )
    return path


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "cli", *args], cwd=ROOT, capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip


def test_a_decompression_bomb_is_refused_from_its_header(tmp_path):
    bomb = bomb_png(tmp_path / "bomb.png")
    assert bomb.stat().st_size < 1000
    started = time.monotonic()
    with pytest.raises(BadImage, match="claims 60000x60000"):
        read_image(bomb)
    assert time.monotonic() - started < 1


@pytest.mark.parametrize("where", ["content", "style"])
def test_the_cli_refuses_a_bomb_as_photo_or_style_before_decoding_it(daemon, tmp_path, where):
    bomb = str(bomb_png(tmp_path / "bomb.png"))
    photo, style = (
        (bomb, "starry-night") if where == "content" else (str(DATA / "chelsea.png"), bomb)
    )
    run = cli("stylize", photo, "-s", style, "--mode", "gatys", "-o", str(tmp_path / "o.png"),
              "--endpoint", daemon.endpoint)  # fmt: skip
    assert run.returncode == 2 and "claims 60000x60000" in run.stderr, run.stderr
    assert not (tmp_path / "o.png").exists()


def test_bad_files_in_the_style_folder_are_skipped_and_the_rest_still_served(daemon, tmp_path):
    folder = daemon.data / "impasto" / "styles"
    folder.mkdir(parents=True, exist_ok=True)
    outside = tmp_path / "secret.png"
    outside.write_bytes((DATA / "night_cafe.png").read_bytes())
    try:
        bomb_png(folder / "bomb.png")
        (folder / "escape.png").symlink_to(outside)  # a link out of the folder
        (folder / "mine.png").write_bytes((DATA / "night_cafe.png").read_bytes())
        with daemon.client() as c:
            deadline = time.monotonic() + 15  # the catalogue rescans every 2 s
            while "mine" not in c.hello()["styles"]:
                assert time.monotonic() < deadline, c.hello()["styles"]
                time.sleep(0.2)
            names = c.hello()["styles"]
        assert "bomb" not in names and "escape" not in names
        log = daemon.log.read_text()
        assert "skipping style bomb" in log and "links outside" in log
    finally:
        for name in ("bomb.png", "escape.png", "mine.png"):
            (folder / name).unlink(missing_ok=True)


@pytest.mark.parametrize(
    "name", ["../../etc/passwd", "/etc/passwd", "..", "impasto-8/../../secret", "a\x00b"]
)
def test_style_names_that_try_paths_are_unknown_styles(daemon, name):
    content = rgba_u8(load_rgb("chelsea.png")[:16, :16])
    body = {
        "engine": "gatys",
        "content": {"frame": 1, "width": 16, "height": 16},
        "styles": [{"name": name}],
    }
    with pytest.raises(UnknownStyle), daemon.client() as c:
        c.run(body, [np.ascontiguousarray(content).tobytes()], timeout=30)


@pytest.mark.parametrize(
    "card_change",
    [
        {"styles": [{"name": "x" * 100_000}]},  # a huge name
        {"styles": [{"name": "../escape"}]},
        {"styles": "not a list"},
        {"styles": [{"name": "ok", "thumbnail_png_base64": "A" * (2 << 20)}]},
        {"architecture": None},
    ],
)
def test_model_cards_with_huge_or_malformed_fields_are_skipped(tmp_path, card_change):
    write_model(tmp_path / "m", "good", ["a-style"])
    write_model(tmp_path / "m", "evil", ["b-style"])
    card = json.loads((tmp_path / "m" / "evil.json").read_text())
    card.update(card_change)
    (tmp_path / "m" / "evil.json").write_text(json.dumps(card))
    assert sorted(ModelLibrary([tmp_path / "m"], shipped=None).models()) == ["good"]


def test_a_huge_card_file_is_not_even_parsed(tmp_path):
    write_model(tmp_path / "m", "big", ["a-style"])
    with (tmp_path / "m" / "big.json").open("a") as f:
        f.truncate(65 << 20)  # 65 MB of zeros after the JSON: refused by its size alone
    assert ModelLibrary([tmp_path / "m"], shipped=None).models() == {}


def test_a_client_that_floods_requests_and_never_reads_costs_bounded_memory(daemon):
    with daemon.client() as c:
        c.styles()  # warm: the reply is built once before measuring
    pid = daemon.proc.pid
    before = rss_mb(pid)
    sock = zmq.Context.instance().socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.setsockopt(zmq.SNDHWM, 0)
    sock.connect(daemon.endpoint)
    try:
        for i in range(3000):  # each `styles` reply carries ~100 KB of thumbnails
            sock.send_multipart(protocol.encode("styles", f"flood-{i}"))
        time.sleep(3)
        with daemon.client(timeout=5) as other:
            started = time.monotonic()
            assert other.hello()["daemon"] == "impasto"
            assert time.monotonic() - started < 2
        grown = rss_mb(pid) - before
    finally:
        sock.close()
    assert grown < 150, f"the daemon grew by {grown:.0f} MB for a client that never reads"
    assert daemon.alive()


@pytest.mark.parametrize("engine", ["fast", "gatys"])
def test_nan_and_inf_pixels_give_a_finite_result_and_keep_the_alpha(daemon, engine):
    rng = np.random.default_rng(1)
    content = rng.random((24, 32, 4)).astype(np.float32)
    content[::3, ::2, :3] = np.nan
    content[1::4, :, 0] = np.inf
    content[2::5, :, 1] = -np.inf
    body = {
        "engine": engine,
        "iterations": 2,
        "content": {"frame": 1, "width": 32, "height": 24, "dtype": "f32"},
        "styles": [{"name": "starry-night"}],
    }
    with daemon.client() as c:
        result = c.run(body, [content.tobytes()], timeout=60)
    out = np.frombuffer(result.image_bytes(0)[1], np.float32).reshape(24, 32, 4)
    assert np.isfinite(out[..., :3]).all() and (out[..., :3] >= 0).all()
    assert np.array_equal(out[..., 3], content[..., 3])

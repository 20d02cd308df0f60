"""Style packs: learned styles appended to the model they extend, the model's own untouched."""

from __future__ import annotations

import json
import os

import pytest
import torch

from daemon.catalogue.model_library import ModelLibrary
from daemon.nets.fast_net import StyleNet
from daemon.nets.style_packs import extended, file_digest, rows_of, save_pack
from shared.errors import BadRequest
from tests.daemon.test_fast_net import randomised
from tests.daemon.test_model_library import write_model

CPU = torch.device("cpu")


def write_pack(folder, name: str, base_path, seed: int = 7, digest: str | None = None) -> dict:
    """A one-style pack for the model at `base_path` with random rows; returns its rows."""
    donor = randomised(StyleNet(1, widths=(8, 8, 8), residual_blocks=1), seed)
    rows = rows_of(donor, 0)
    card = {
        "extends": {"model": base_path.stem, "digest": digest or file_digest(base_path)},
        "styles": [{"name": name, "painting": "My painting", "licence": "user's own"}],
    }
    save_pack(folder / f"{name}.safetensors", rows, card)
    return {k: v.half().float() for k, v in rows.items()}


def test_a_pack_appends_its_style_and_leaves_every_own_style_bit_identical(tmp_path):
    folder = tmp_path / "m"
    write_model(folder, "van", ["vangogh-starry-night", "vangogh-night-cafe"])
    lib = ModelLibrary([folder], shipped=None)
    before = lib.load(lib.models()["van"], CPU)
    x = torch.rand(1, 3, 36, 44, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        own = [before(x, torch.eye(2)[i]) for i in range(2)]
        blend = before(x, torch.tensor([0.3, 0.7]))
    rows = write_pack(folder, "my-barn", folder / "van.safetensors")
    entry = lib.models()["van"]
    assert [s.name for s in entry.styles] == [
        "vangogh-starry-night",
        "vangogh-night-cafe",
        "my-barn",
    ]
    assert entry.styles[2].index == 2 and entry.base_styles == 2 and sorted(lib.models()) == ["van"]
    after = lib.load(entry, CPU)
    assert after.styles == 3
    with torch.no_grad():
        for i in range(2):
            assert torch.equal(after(x, torch.eye(3)[i]), own[i])
        assert torch.allclose(after(x, torch.tensor([0.3, 0.7, 0.0])), blend, atol=1e-6)
        mine = after(x, torch.eye(3)[2])
    alone = extended(StyleNet(0, widths=(8, 8, 8), residual_blocks=1), [rows])
    alone.load_state_dict(
        {k: v for k, v in after.state_dict().items() if not k.endswith(("scale", "shift"))},
        strict=False,
    )
    with torch.no_grad():
        assert torch.allclose(alone.eval()(x, torch.ones(1)), mine, atol=1e-6)
    assert not torch.equal(mine, own[0])


def test_a_pack_for_another_version_of_its_model_or_with_a_taken_name_is_skipped(tmp_path):
    folder = tmp_path / "m"
    write_model(folder, "van", ["vangogh-starry-night", "vangogh-night-cafe"])
    lib = ModelLibrary([folder], shipped=None)
    write_pack(folder, "stale", folder / "van.safetensors", digest="0" * 64)
    write_pack(folder, "vangogh-night-cafe", folder / "van.safetensors")
    orphan_base = tmp_path / "gone.safetensors"
    write_model(tmp_path, "gone", ["x-style"])
    write_pack(folder, "orphan", orphan_base)
    assert [s.name for s in lib.models()["van"].styles] == [
        "vangogh-starry-night",
        "vangogh-night-cafe",
    ]
    assert sorted(lib.models()) == ["van"]


def test_a_deleted_pack_serves_until_the_next_scan_drops_it_and_a_torn_one_is_skipped(tmp_path):
    folder = tmp_path / "m"
    write_model(folder, "van", ["vangogh-starry-night"])
    lib = ModelLibrary([folder], shipped=None)
    write_pack(folder, "mine", folder / "van.safetensors")
    scanned = lib.models()["van"]
    assert len(scanned.styles) == 2
    (folder / "mine.safetensors").unlink()
    (folder / "mine.json").unlink()
    assert lib.load(scanned, CPU).styles == 2  # a job planned before the scan still runs
    assert len(lib.models()["van"].styles) == 1
    write_pack(folder, "mine", folder / "van.safetensors")
    pack = folder / "mine.safetensors"
    pack.write_bytes(pack.read_bytes()[:64])
    os.utime(pack)
    entry = lib.models()["van"]
    assert len(entry.styles) == 1 and lib.load(entry, CPU).styles == 1  # torn: skipped
    card = json.loads((folder / "mine.json").read_text())
    assert card["kind"] == "style-pack"
    (folder / "van.safetensors").unlink()
    with pytest.raises(BadRequest, match="van cannot be loaded"):  # typed, not a crash
        lib.load(entry, CPU)


def test_the_texture_model_paints_blends_of_own_styles_and_the_model_those_of_learned_ones(
    tmp_path,
):
    folder = tmp_path / "m"
    styles = ["vangogh-starry-night", "vangogh-night-cafe"]
    write_model(folder, "van", styles)
    write_model(folder / "texture", "van", styles, seed=3)
    write_pack(folder, "mine", folder / "van.safetensors")
    lib = ModelLibrary([folder], shipped=None)
    entry = lib.models()["van"]
    own = lib.load(entry, CPU)
    net, gain, w = lib.texture_net(entry, CPU, torch.tensor([0.5, 0.5, 0.0]))
    assert net is not own and net.styles == 2 and w.tolist() == [0.5, 0.5]
    maps = torch.zeros(1, 3, 4, 4)
    maps[:, 0] = 1
    net, _, w = lib.texture_net(entry, CPU, maps)
    assert net is not own and w.shape == (1, 2, 4, 4)
    maps[:, 2, 0, 0] = 1
    net, gain, w = lib.texture_net(entry, CPU, maps)
    assert net is own and gain == 1.0 and w is maps


def test_a_pack_is_saved_even_when_its_folder_was_removed(tmp_path):
    write_model(tmp_path, "van", ["vangogh-starry-night"])
    write_pack(tmp_path / "removed" / "by-the-user", "mine", tmp_path / "van.safetensors")
    assert (tmp_path / "removed" / "by-the-user" / "mine.safetensors").is_file()

"""The fast models folder: scanning, loading, caching, bad files."""

from __future__ import annotations

import json
import os

import pytest
import torch

from daemon.catalogue.model_library import ModelLibrary
from daemon.nets.fast_net import StyleNet
from daemon.nets.model_files import save_model
from shared.errors import BadRequest
from tests.daemon.test_fast_net import randomised


def write_model(folder, name: str, styles: list[str], seed: int = 0) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    net = randomised(StyleNet(len(styles), widths=(8, 8, 8), residual_blocks=1), seed)
    card = {"styles": [{"name": s, "painting": s.title(), "licence": "CC0"} for s in styles]}
    save_model(folder / f"{name}.safetensors", net, card, half=True)


@pytest.fixture
def library(tmp_path):
    write_model(tmp_path / "m", "van", ["vangogh-starry-night", "vangogh-night-cafe"])
    write_model(tmp_path / "m", "japan", ["hokusai-great-wave", "hiroshige-snow"], seed=1)
    return ModelLibrary([tmp_path / "m"], shipped=None)


def test_a_new_model_file_is_picked_up_and_checkpoints_and_broken_cards_are_skipped(
    library, tmp_path
):
    assert sorted(library.models()) == ["japan", "van"]
    write_model(tmp_path / "m", "extra", ["kandinsky-composition"])
    (tmp_path / "m" / "broken.safetensors").write_bytes(b"not a model")
    (tmp_path / "m" / "broken.json").write_text("{")
    write_model(tmp_path / "m", "run.ckpt", ["in-training"])
    assert sorted(library.models()) == ["extra", "japan", "van"]
    assert [s.name for s in library.models()["extra"].styles] == ["kandinsky-composition"]


def test_a_model_that_cannot_be_loaded_is_a_bad_request_not_a_crash(tmp_path):
    write_model(tmp_path / "m", "torn", ["one-style"])
    weights = tmp_path / "m" / "torn.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])
    os.utime(weights)
    lib = ModelLibrary([tmp_path / "m"], shipped=None)
    model = lib.models()["torn"]
    with pytest.raises(BadRequest, match="torn cannot be loaded"):
        lib.load(model, torch.device("cpu"))


def test_loaded_networks_are_cached_and_reloaded_when_the_file_changes(library, tmp_path):
    model = library.models()["van"]
    net = library.load(model, torch.device("cpu"))
    assert library.load(model, torch.device("cpu")) is net and not net.training
    write_model(tmp_path / "m", "van", ["vangogh-starry-night", "vangogh-night-cafe"], seed=5)
    card = json.loads((tmp_path / "m" / "van.json").read_text())
    assert card["styles"][0]["name"] == "vangogh-starry-night"
    model = library.models()["van"]
    assert library.load(model, torch.device("cpu")) is not net


def test_a_card_without_a_stem_is_the_conv_stem_and_an_unknown_stem_is_skipped(tmp_path):
    write_model(tmp_path / "m", "old", ["one-style"])
    write_model(tmp_path / "m", "odd", ["other-style"])
    for name, change in (("old", lambda arch: arch.pop("stem")), ("odd", None)):
        card_file = tmp_path / "m" / f"{name}.json"
        card = json.loads(card_file.read_text())
        if change is None:
            card["architecture"]["stem"] = "pixel"
        else:
            change(card["architecture"])
        card_file.write_text(json.dumps(card))
    lib = ModelLibrary([tmp_path / "m"], shipped=None)
    assert sorted(lib.models()) == ["old"]
    assert lib.load(lib.models()["old"], torch.device("cpu")).stem == "conv"


def test_a_texture_network_beside_a_model_paints_its_texture_when_its_styles_match(tmp_path):
    styles = ["vangogh-starry-night", "vangogh-night-cafe"]
    write_model(tmp_path / "m", "van", styles)
    lib = ModelLibrary([tmp_path / "m"], shipped=None)
    model, cpu = lib.models()["van"], torch.device("cpu")
    own = lib.load(model, cpu)
    assert lib.texture_net(model, cpu)[:2] == (own, 1.0)  # none yet: the model's own network
    write_model(tmp_path / "m" / "texture", "van", styles[::-1], seed=3)
    assert lib.texture_net(model, cpu)[:2] == (own, 1.0)  # other order: refused
    write_model(tmp_path / "m" / "texture", "van", styles, seed=3)
    card_file = tmp_path / "m" / "texture" / "van.json"
    card = json.loads(card_file.read_text())
    card["texture_distillation"] = {"band_gain": 1.25}
    card_file.write_text(json.dumps(card))
    texture, gain, _ = lib.texture_net(model, cpu)
    assert texture is not own and gain == 1.25 and lib.texture_net(model, cpu)[0] is texture
    assert sorted(lib.models()) == ["van"]  # not a model of its own
    card["texture_distillation"] = {"band_gain": 40}
    card_file.write_text(json.dumps(card))
    assert lib.texture_net(model, cpu)[:2] == (own, 1.0)  # an absurd gain: refused
    card["texture_distillation"] = {"band_gain": 1.25}
    card_file.write_text(json.dumps(card))
    weights = tmp_path / "m" / "texture" / "van.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])  # torn: the model's own network again
    os.utime(weights)
    assert lib.texture_net(model, cpu)[:2] == (own, 1.0)

"""The fast models folder: scanning, style names, blends within one model, bad files."""

from __future__ import annotations

import json
import os

import pytest
import torch

from daemon.engines.fast_net import StyleNet
from daemon.model_library import ModelLibrary
from daemon.models import save_model
from shared.errors import BadRequest, UnknownStyle
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


def test_styles_are_found_by_full_name_word_runs_and_model_prefix(library):
    model, weights = library.resolve([("vangogh-starry-night", 1.0)])
    assert model.name == "van" and weights.tolist() == [1.0, 0.0]
    model, weights = library.resolve([("starry", 0.7), ("cafe", 0.3)])
    assert model.name == "van" and torch.allclose(weights, torch.tensor([0.7, 0.3]))
    model, weights = library.resolve([("japan/great-wave", 2.0)])
    assert model.name == "japan" and weights.tolist() == [2.0, 0.0]


def test_unknown_ambiguous_and_cross_model_blends_are_refused_with_reasons(library):
    with pytest.raises(UnknownStyle, match="unknown fast style 'monet'"):
        library.resolve([("monet", 1.0)])
    with pytest.raises(UnknownStyle, match="could be vangogh-starry-night, vangogh-night-cafe"):
        library.resolve([("night", 1.0)])
    with pytest.raises(UnknownStyle, match="no model named 'nope'"):
        library.resolve([("nope/starry", 1.0)])
    with pytest.raises(BadRequest, match="one model"):
        library.resolve([("starry", 1.0), ("wave", 1.0)])


def test_a_new_model_file_is_picked_up_and_checkpoints_and_broken_cards_are_skipped(
    library, tmp_path
):
    assert sorted(library.models()) == ["japan", "van"]
    write_model(tmp_path / "m", "extra", ["kandinsky-composition"])
    (tmp_path / "m" / "broken.safetensors").write_bytes(b"not a model")
    (tmp_path / "m" / "broken.json").write_text("{")
    write_model(tmp_path / "m", "run.ckpt", ["in-training"])
    assert sorted(library.models()) == ["extra", "japan", "van"]
    assert "kandinsky-composition" in library.names()
    described = {s["name"]: s for s in library.describe()}
    assert described["kandinsky-composition"]["model"] == "extra"
    assert described["kandinsky-composition"]["engines"] == ["fast"]


def test_a_model_that_cannot_be_loaded_is_a_bad_request_not_a_crash(tmp_path):
    write_model(tmp_path / "m", "torn", ["one-style"])
    weights = tmp_path / "m" / "torn.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])
    os.utime(weights)
    lib = ModelLibrary([tmp_path / "m"], shipped=None)
    model, _ = lib.resolve([("one-style", 1.0)])
    with pytest.raises(BadRequest, match="torn cannot be loaded"):
        lib.load(model, torch.device("cpu"))


def test_loaded_networks_are_cached_and_reloaded_when_the_file_changes(library, tmp_path):
    model, _ = library.resolve([("starry", 1.0)])
    net = library.load(model, torch.device("cpu"))
    assert library.load(model, torch.device("cpu")) is net and not net.training
    write_model(tmp_path / "m", "van", ["vangogh-starry-night", "vangogh-night-cafe"], seed=5)
    card = json.loads((tmp_path / "m" / "van.json").read_text())
    assert card["styles"][0]["name"] == "vangogh-starry-night"
    model, _ = library.resolve([("starry", 1.0)])
    assert library.load(model, torch.device("cpu")) is not net

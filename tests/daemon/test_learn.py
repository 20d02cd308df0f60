"""Learning a painting as a style pack: first look, training only the new rows, saves, resume."""

from __future__ import annotations

import json

import pytest
import torch
from PIL import Image

from daemon.catalogue.model_library import ModelLibrary
from daemon.training import learn as learn_mod
from daemon.training.learn import CHECKPOINT_FILE, PAINTING_FILE, Lesson, learn
from tests.conftest import DATA
from tests.daemon.test_model_library import write_model

CPU = torch.device("cpu")


@pytest.fixture
def lesson_dir(tmp_path, monkeypatch):
    """A lesson for the committed Night Café picture against a small two-style model."""
    monkeypatch.setattr(learn_mod, "FIRST_LOOK_SECONDS", 0.5)
    monkeypatch.setattr(learn_mod, "FIRST_LOOK_SIDE", 48)
    monkeypatch.setattr(learn_mod, "SAVE_SECONDS", 0.5)
    write_model(tmp_path / "m", "small", ["vangogh-starry-night", "hokusai-great-wave"])
    folder = tmp_path / "lessons" / "my-cafe"
    folder.mkdir(parents=True)
    Image.open(DATA / "night_cafe.png").convert("RGB").save(folder / PAINTING_FILE)
    Lesson(
        "my-cafe",
        str(tmp_path / "m" / "small.safetensors"),
        str(tmp_path / "m"),
        minutes=2 / 60,
        painting="Night café",
        size=32,
        batch=1,
    ).write(folder)
    return folder


def outputs(library: ModelLibrary, x: torch.Tensor) -> list[torch.Tensor]:
    entry = library.models()["small"]
    net = library.load(entry, CPU)
    with torch.no_grad():
        return [net(x, torch.eye(len(entry.styles))[i]) for i in range(len(entry.styles))]


def test_a_lesson_adds_one_style_and_leaves_the_models_own_styles_bit_identical(lesson_dir):
    models = lesson_dir.parent.parent / "m"
    library = ModelLibrary([models], shipped=None)
    x = torch.rand(1, 3, 40, 52, generator=torch.Generator().manual_seed(1))
    before = outputs(library, x)
    base_bytes = (models / "small.safetensors").read_bytes()
    seen: list[str] = []
    done = learn(lesson_dir, lambda lesson: seen.append(lesson.stage))
    assert done.state == "done" and done.steps > 0 and done.seconds >= 2.0
    assert "first look" in seen and seen[-1] == "learned"
    assert (models / "small.safetensors").read_bytes() == base_bytes
    entry = library.models()["small"]
    assert [s.name for s in entry.styles][-1] == "my-cafe" and len(entry.styles) == 3
    after = outputs(library, x)
    for old, new in zip(before, after[:2], strict=True):
        assert torch.equal(old, new)
    assert not torch.equal(after[2], after[0]) and not torch.equal(after[2], after[1])
    card = json.loads((models / "my-cafe.json").read_text())
    assert card["kind"] == "style-pack" and card["learning"]["stage"] == "learned"
    assert card["styles"][0]["painting"] == "Night café"
    assert card["styles"][0]["licence"] == "user's own"
    assert set(card["learning"]["first_look"]["blend"]) <= {
        "vangogh-starry-night",
        "hokusai-great-wave",
    }


def test_a_lesson_cut_off_is_usable_at_its_last_save_and_resumes_where_it_stopped(lesson_dir):
    models = lesson_dir.parent.parent / "m"
    calls = {"n": 0}

    def stop_after_three() -> bool:
        calls["n"] += 1
        return calls["n"] > 6  # learn asks twice per step

    cut = learn(lesson_dir, stop=stop_after_three)
    assert cut.state == "learning" and cut.steps == 3
    library = ModelLibrary([models], shipped=None)
    assert library.models()["small"].styles[-1].name == "my-cafe"
    library.load(library.models()["small"], CPU)  # loadable as saved when it stopped
    assert (lesson_dir / CHECKPOINT_FILE).exists()
    resumed = learn(lesson_dir)
    assert resumed.state == "done" and resumed.steps > 3
    assert Lesson.read(lesson_dir).steps == resumed.steps


def test_the_first_look_is_saved_before_any_step_and_a_lesson_of_no_minutes_ends_there(
    lesson_dir,
):
    lesson = Lesson.read(lesson_dir)
    lesson.minutes = 0.0
    lesson.write(lesson_dir)
    done = learn(lesson_dir)
    assert done.steps == 0 and done.stage == "first look"
    card = json.loads((lesson_dir.parent.parent / "m" / "my-cafe.json").read_text())
    assert card["learning"]["stage"] == "first look"
    look = card["learning"]["first_look"]
    assert abs(sum(look["blend"].values()) - 1) < 0.02


def test_a_lesson_asked_with_the_users_photos_trains_on_them_and_a_folder_without_is_refused(
    tmp_path,
):
    import numpy as np

    from daemon.learning import Learner
    from shared.errors import BadImage

    learner = Learner(tmp_path / "lessons", tmp_path / "models", tmp_path / "base.safetensors")
    painting = np.zeros((80, 96, 3), np.uint8)
    learner.submit("mine", painting, 1.0, "Mine", "", set(), (str(DATA),))
    assert Lesson.read(tmp_path / "lessons" / "mine").content == [str(DATA.resolve())]
    with pytest.raises(BadImage, match="no training photos"):
        learner.submit("other", painting, 1.0, "Other", "", set(), (str(tmp_path / "none"),))
    learner.submit("shipped", painting, 1.0, "Shipped", "", set())
    assert Lesson.read(tmp_path / "lessons" / "shipped").content == [str(learn_mod.TRAINING_PHOTOS)]

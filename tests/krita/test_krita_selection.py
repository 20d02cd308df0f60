"""The region Apply sends: layer content on the canvas, within the selection's bounds."""

from __future__ import annotations

import pytest

from krita_plugin.impasto.selection import NothingToStylise, Rect, stylise_region

CANVAS = Rect(0, 0, 100, 80)


def test_whole_layer_without_selection():
    assert stylise_region(Rect(10, 5, 50, 40), CANVAS, None) == Rect(10, 5, 50, 40)


def test_layer_content_off_the_canvas_is_clipped():
    assert stylise_region(Rect(-20, -10, 60, 200), CANVAS, None) == Rect(0, 0, 40, 80)


def test_selection_bounds_clip_the_layer():
    assert stylise_region(Rect(0, 0, 100, 80), CANVAS, Rect(30, 20, 25, 10)) == Rect(30, 20, 25, 10)
    assert stylise_region(Rect(40, 0, 60, 80), CANVAS, Rect(30, 20, 25, 10)) == Rect(40, 20, 15, 10)


@pytest.mark.parametrize(
    ("layer", "selection", "words"),
    [
        (Rect(0, 0, 0, 0), None, "nothing on the canvas"),
        (Rect(200, 0, 10, 10), None, "nothing on the canvas"),
        (Rect(0, 0, 50, 50), Rect(0, 0, 0, 0), "selection is empty"),
        (Rect(0, 0, 20, 20), Rect(50, 50, 10, 10), "does not touch"),
    ],
)
def test_empty_regions_are_refused_with_a_reason(layer, selection, words):
    with pytest.raises(NothingToStylise, match=words):
        stylise_region(layer, CANVAS, selection)

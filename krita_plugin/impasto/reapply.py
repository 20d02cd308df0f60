"""Re-apply and Settings as Command, a part of the controller: the recipe a result layer keeps
(shared.recipe, in its document) run again on its source layer as that layer is now, into a new
layer, or written as the `impasto stylize` command line that makes the same result."""

from __future__ import annotations

from typing import Any

from shared.recipe import cli_command

from .jobs import settings_from_recipe
from .krita_io import find_node, node_id, read_recipes


class Reapply:
    """The controller's Re-apply and Settings as Command: `Controller` runs them with these
    methods, through its Apply (`_start`) and messages (`_say`)."""

    def reapply(self, document: Any = None, node: Any = None) -> bool:
        """Make `node` (default: the active layer), an Impasto result, again from its source
        layer's current pixels with the settings recorded with it, into a new layer."""
        if self.busy:
            self._say("Impasto is already working on a layer; wait for it or press Cancel.")
            return False
        found = self._recipe_of(document, node)
        if found is None:
            return False
        document, recipe = found
        source = find_node(document, recipe["source"]["id"])
        if source is None:
            self._say(f"The layer '{recipe['source']['name']}' this result was made from is gone.")
            return False
        try:
            settings, styles = settings_from_recipe(recipe)
        except ValueError as exc:
            self._say(f"Cannot re-apply: {exc}.")
            return False
        for style in styles:
            if style.where is not None and style.where[0] == "alpha-id":
                node = find_node(document, style.where[1])
                if node is None:
                    self._say(f"The layer that placed '{style.name}' is gone.")
                    return False
                style.where = ("alpha", (document, node))
            if style.kind == "layer":
                where = [(d, find_node(d, style.source)) for d in self.app.documents()]
                where = [(d, n) for d, n in where if n is not None]
                if not where:
                    self._say(f"The style layer '{style.name}' is no longer open.")
                    return False
                style.source = where[0]
        return self._start(document, source, settings, styles)

    def command_for(self, document: Any = None, node: Any = None) -> str | None:
        """The `impasto stylize` command line that remakes the result layer `node` (default: the
        active layer) from its source layer exported as a PNG; None (with a message) otherwise."""
        found = self._recipe_of(document, node)
        return cli_command(found[1]) if found is not None else None

    def _recipe_of(self, document: Any, node: Any) -> tuple[Any, dict] | None:
        document = document or self.app.activeDocument()
        node = node or (document.activeNode() if document is not None else None)
        if document is None or node is None:
            self._say("Select a layer Impasto made first.")
            return None
        recipe = read_recipes(document).get(node_id(node))
        if recipe is None:
            self._say(f"'{node.name()}' was not made by Impasto: select a layer it made.")
            return None
        return document, recipe

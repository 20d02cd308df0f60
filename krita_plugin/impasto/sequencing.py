"""Animated layers through the daemon, a part of the controller.

Apply on an animated layer stylises every keyframe of the playback range as one sequence (each
frame consistent with the one before, in the daemon, unless `Settings.temporal` is off), one job
at a time, keeps the results in a temporary folder, and writes them as one new animated layer
when the last is done (`animation.KeyframeWriter`, a keyframe per tick); Cancel at any frame
adds nothing.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import uuid
from dataclasses import replace
from typing import TYPE_CHECKING

from shared.errors import ImpastoError, Unavailable
from shared.job import SequenceRef, result_layer_name, result_name
from shared.recipe import make_recipe

from .animation import KeyframeWriter, keep_key, read_key
from .jobs import MASK_FORMAT, StyleChoice, build_job, recipe_styles
from .krita_io import node_id, store_recipe
from .work import ActiveJob, Pending, SequenceRun, failure_text

if TYPE_CHECKING:
    from shared.client import JobHandle

log = logging.getLogger(__name__)


class Sequencing:
    """The controller's animations: `Controller` runs them with these methods, on its own
    connection (`_client`), state (`sequence`, `writer`, `job`) and messages (`_say`)."""

    def _start_sequence(self, pending: Pending, styles: list[StyleChoice]) -> None:
        anim = pending.animation
        assert anim is not None
        self.sequence = SequenceRun(
            anim,
            pending.settings,
            styles,
            pending.pictures,
            pending.maps,
            uuid.uuid4().hex[:16],
            tempfile.mkdtemp(prefix="impasto-frames-"),
            self.clock(),
        )
        self._submit_frame()

    def _submit_frame(self) -> None:
        """Send the sequence's next keyframe, read from the layer now."""
        run = self.sequence
        assert run is not None and self._client is not None
        anim, count = run.animation, len(run.animation.keys)
        width, height = anim.region.width, anim.region.height
        mask = MASK_FORMAT.describe(2, width, height) if anim.mask is not None else None
        try:
            data = read_key(anim, run.index)
            spec, style_frames = build_job(
                run.settings,
                styles=run.styles,
                content=anim.fmt.describe(1, width, height),
                pictures=run.pictures,
                mask=mask,
                maps=run.maps,
            )
        except (ImpastoError, RuntimeError) as exc:
            reason = str(getattr(exc, "message", exc)).rstrip(".")
            self._end_sequence(f"{reason}. Nothing was changed.")
            return
        spec = replace(spec, sequence=SequenceRef(run.id, run.index, run.index == count - 1))
        frames = [data] + ([anim.mask] if mask is not None else []) + style_frames
        handle = self._client.submit(spec.to_wire(), frames)
        if run.recipe is None:
            source = {"name": anim.node.name(), "id": node_id(anim.node), "animation": True}
            run.recipe = make_recipe(spec, source, recipe_styles(run.styles, node_id))
            run.spec_styles, run.name = spec.styles, result_layer_name(spec.styles)
        self.job = ActiveJob(handle, None, run.name, run.started)
        self.fraction, self.stage = run.index / count, f"frame {run.index + 1} of {count}"
        self.changed()

    def _follow_frame(self, handle: JobHandle) -> None:
        """A keyframe finished: keep it and send the next, or start writing the layer."""
        run = self.sequence
        assert run is not None
        if handle.state == "cancelled":
            self._end_sequence("Cancelled; nothing was changed.")
            return
        if handle.state != "done":
            error = handle.error or Unavailable("the stylisation failed")
            self._end_sequence(failure_text(error))
            if isinstance(error, Unavailable):
                self._offline(self.message)
            return
        if not any(d == run.animation.document for d in self.app.documents()):
            self._end_sequence("The image was closed before the frames were done; nothing added.")
            return
        assert handle.result is not None
        _, data = handle.result.image_bytes(0)
        if run.index == 0:
            metadata = handle.result.body.get("metadata", {})
            run.name = result_name(metadata, run.spec_styles)
        try:
            keep_key(run.animation, run.folder, data)
        except OSError as exc:
            self._end_sequence(f"Could not keep frame {run.index + 1}: {exc}. Nothing was changed.")
            return
        run.index += 1
        if run.index < len(run.animation.keys):
            self._submit_frame()
            return
        self.writer = KeyframeWriter(self.app, run.animation, run.name)
        self.stage = "adding the frames"
        self.changed()

    def _write_step(self) -> None:
        """One step of writing the animated layer (Krita works in between)."""
        run, writer = self.sequence, self.writer
        assert run is not None and writer is not None
        try:
            layer = writer.step()
        except Exception as exc:  # the writer removed its partial layer
            log.exception("adding the animated result failed")
            self.writer = None
            self._end_sequence(f"Could not add the frames: {exc}. Nothing was changed.")
            return
        if layer is None:
            self.fraction = 0.99
            if writer.waiting and self.message != writer.waiting:
                self._say(writer.waiting)
            return
        self.writer, self.last_layer = None, layer
        try:
            if run.recipe is not None:
                store_recipe(run.animation.document, layer, run.recipe)
        except Exception:  # the layer is in; only Re-apply will not know it
            log.exception("recording the settings of the animation failed")
        self.fraction, self.stage = 1.0, "done"
        count, seconds = len(run.animation.keys), self.clock() - run.started
        self._end_sequence(f"Added '{run.name}', {count} frames ({seconds:.1f} s).")

    def _end_sequence(self, message: str) -> None:
        run, self.sequence = self.sequence, None
        if run is not None:
            shutil.rmtree(run.folder, ignore_errors=True)
        self._say(message)

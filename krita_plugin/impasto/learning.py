"""Add to fast styles: the docker asks the daemon to learn a layer or a picture file as a fast
style, and follows its lessons. A part of the controller.

The daemon learns in the background (daemon.learning); this part only sends the painting
(`learn`), asks how the lessons go every couple of seconds while one is queued or learning
(`lessons`), stops one (`stop_learning`), and asks for the style list again when a lesson saved
something new, so the style shows in fast mode's list within seconds ("first look") and its
label follows the learning ("learned, N steps"). Its errors (a taken name, a tiny painting) are
messages; they never take the docker offline.
"""

from __future__ import annotations

import logging
from typing import Any

from shared.errors import ImpastoError
from shared.lessons import DEFAULT_MINUTES, LearnSpec, style_name_for
from shared.settings import Pixels

log = logging.getLogger(__name__)

LEARN_SIDE = 1024  # px: the long side a layer is sent at (the daemon keeps at most this)
LESSONS_SECONDS = 2.0  # how often lessons are asked for while one is queued or learning
LEARNING_REQUESTS = ("learn", "lessons", "stop_learning")
ACTIVE = ("queued", "learning", "stopping")


class Learning:
    """The controller's lessons: `Controller` runs these with its connection (`_client`,
    `_request`, `_waiting`), `thumbnail`, `load_image` and views (`changed`, `_say`); the
    daemon's lessons are in `lessons` (name → summary, shared.lessons.LESSON_FIELDS)."""

    def learn_layer(
        self, node: Any = None, name: str = "", minutes: float = DEFAULT_MINUTES
    ) -> bool:
        """Learn `node` (default: the active layer) as a fast style; False if refused."""
        if node is None:
            document = self.app.activeDocument()
            node = document.activeNode() if document is not None else None
        if node is None or self.thumbnail is None:
            self._say("Select the layer to learn as a fast style first.")
            return False
        try:
            picture = self.thumbnail(node, LEARN_SIDE)
        except OSError as exc:
            self._say(f"Cannot learn this layer: {exc}")
            return False
        return self._learn(picture, name or style_name_for(node.name()), node.name(), minutes)

    def learn_file(self, path: str, name: str = "", minutes: float = DEFAULT_MINUTES) -> bool:
        """Learn a picture file as a fast style; False if refused."""
        from pathlib import Path

        if self.load_image is None:
            return False
        try:
            picture = self.load_image(path)
        except OSError as exc:
            self._say(str(exc))
            return False
        title = Path(path).stem
        return self._learn(picture, name or style_name_for(Path(path).name), title, minutes)

    def _learn(self, picture: Pixels, name: str, title: str, minutes: float) -> bool:
        if self.state != "connected" or self._client is None:
            self._say("Connect to the daemon first: it learns the style.")
            return False
        try:
            spec = LearnSpec(name, picture.describe(1), minutes, title)
            msg_id = self._client.send("learn", spec.to_wire(), [picture.data])
        except ImpastoError as exc:
            self._say(exc.message)
            return False
        self._waiting[msg_id] = "learn"
        self._sent_at = self.clock()
        self._say(f"Sending {title} to learn as '{name}'…")
        return True

    def stop_lesson(self, name: str) -> None:
        """Stop a lesson; its style keeps what it learned."""
        if self._client is not None and self.state == "connected":
            self._request("stop_learning", {"name": name})

    def lesson_label(self, style: str) -> str:
        """How far a learned style got ("first look", "learned, 120 steps"), or ""."""
        lesson = self.lessons.get(style)
        if lesson is None or not lesson.get("stage"):
            return ""
        if lesson["stage"] == "first look":
            return "first look"
        return f"learned, {lesson['steps']} steps"

    def learning_text(self) -> str:
        """A line for each lesson queued or learning."""
        lines = []
        for x in self.lessons.values():
            if x["state"] not in ACTIVE:
                continue
            what = self.lesson_label(x["name"]) or "starting"
            what = {"queued": "waiting", "stopping": "stopping"}.get(x["state"], what)
            pause = ", paused while a job runs" if x.get("paused") else ""
            lines.append(
                f"Learning {x['name']}: {what}, {100 * x['fraction']:.0f}%, "
                f"{x['eta'] / 60:.0f} min left{pause}"
            )
        return "\n".join(lines)

    def active_lessons(self) -> list[str]:
        return [n for n, x in self.lessons.items() if x["state"] in ACTIVE]

    def missing_styles(self) -> list[str]:
        """Lessons this docker saw learning that saved a style the style list does not show
        yet (the daemon rescans its folders every couple of seconds). A finished lesson whose
        style was deleted since is not one: nothing would ever bring it back."""
        known = {s["name"] for s in self.catalogue}
        return [
            n
            for n, x in self.lessons.items()
            if n in self._followed and x.get("stage") and n not in known
        ]

    def _lessons_tick(self, now: float) -> None:
        """Ask for the lessons while one is queued or learning (and once per connection)."""
        if self.state != "connected" or "lessons" in self._waiting.values():
            return
        due = self.active_lessons() or self.missing_styles() or not self._lessons_asked
        if due and now - self._lessons_at >= LESSONS_SECONDS:
            self._lessons_at, self._lessons_asked = now, True
            self._request("lessons")

    def _learning_reply(self, kind: str, msg_type: str, body: dict) -> None:
        if msg_type == "error" and kind == "lessons":  # a daemon that does not learn styles
            log.info("no lessons: %s", body.get("message", ""))
            return
        if msg_type == "error":
            verb = "learn" if kind == "learn" else "stop" if kind == "stop_learning" else "list"
            self._say(f"Could not {verb}: {body.get('message', '')}")
            return
        if kind == "learn":
            self.lessons[body["name"]] = body
            self._followed.add(body["name"])
            self._lessons_at = 0.0  # ask soon: the first look is a few seconds away
            self._say(
                f"Learning '{body['name']}' for {body['minutes']:g} min in the background: it "
                "shows in Fast mode's styles within seconds (a first look) and improves as it "
                "learns."
            )
        elif kind == "stop_learning":
            self.lessons[body["name"]] = body
            self._say(f"Stopped learning '{body['name']}'; it keeps what it learned.")
        elif kind == "lessons":
            before = {n: x.get("stage") for n, x in self.lessons.items()}
            self.lessons = {x["name"]: x for x in body.get("lessons", [])}
            self._followed |= set(self.active_lessons())
            fresh = [
                n
                for n, x in self.lessons.items()
                if x.get("stage") and (n in self.missing_styles() or before.get(n) != x["stage"])
            ]
            if fresh and "styles" not in self._waiting.values():
                self._request("styles")  # a new style, or a first look that became learned
        self.changed()

"""Learning a painting as a fast style: the `learn` request's vocabulary and the lesson states.

A client sends `LearnSpec(...).to_wire()` as the body of a `learn` request with the painting's
pixels as frame 1; the daemon answers with the lesson's summary (LESSON_FIELDS) and runs it in the
background (daemon.learning). `lessons` lists every lesson; `stop_learning` {"name"} stops one,
keeping what it learned. A lesson's style is usable in fast mode from its first save (`stage`
"first look", within seconds), then improves as it learns (`stage` "learned", `steps`).
Pure Python: it runs inside an editor's Python.
"""

from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import dataclass
from typing import Any

from shared.errors import BadRequest
from shared.protocol import ImageDesc, _is_int

DEFAULT_MINUTES = 10.0
MAX_MINUTES = 24 * 60.0
MAX_TEXT = 200
MAX_CONTENT_FOLDERS = 16
# a stopped lesson is "stopping" while it saves what it learned, then "cancelled"
STATES = ("queued", "learning", "stopping", "done", "cancelled", "failed")
STAGES = ("", "first look", "learned")
# What a lesson summary holds (the reply to `learn`, each entry of `lessons`).
LESSON_FIELDS = (
    "name", "state", "stage", "steps", "seconds", "minutes", "fraction", "eta", "paused",
    "error", "pack",
)  # fmt: skip
_NAME = re.compile(r"[a-z0-9]+(-[a-z0-9]+){0,15}")


def style_name_for(title: str) -> str:
    """A style name from a file or layer name: lowercase words and hyphens
    ("My Café (final).png" → "my-cafe-final")."""
    stem = title.rsplit(".", 1)[0] if "." in title else title
    plain = unicodedata.normalize("NFKD", stem).encode("ascii", "ignore").decode()  # é → e
    words = re.findall(r"[a-z0-9]+", plain.lower())
    return "-".join(words[:16]) or "my-painting"


@dataclass(frozen=True)
class LearnSpec:
    """What to learn: the new style's name, minutes of training, and its card's text."""

    name: str
    image: ImageDesc
    minutes: float = DEFAULT_MINUTES
    painting: str = ""  # the painting's title
    licence: str = "user's own"
    # folders of training photos on the daemon's machine; empty: the photos the daemon ships
    content: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not _NAME.fullmatch(self.name):
            raise BadRequest(
                f"style name {str(self.name)[:40]!r} must be lowercase words and hyphens, "
                "e.g. 'my-barn-painting'"
            )
        minutes = self.minutes
        if (
            isinstance(minutes, bool)
            or not isinstance(minutes, int | float)
            or not math.isfinite(minutes)
            or not 0 < minutes <= MAX_MINUTES
        ):
            raise BadRequest(f"minutes must be more than 0 and at most {MAX_MINUTES:g}")
        for key in ("painting", "licence"):
            value = getattr(self, key)
            if not isinstance(value, str) or len(value) > MAX_TEXT:
                raise BadRequest(f"'{key}' must be text of at most {MAX_TEXT} characters")
        if (
            not isinstance(self.content, tuple | list)
            or len(self.content) > MAX_CONTENT_FOLDERS
            or not all(isinstance(c, str) and 0 < len(c) <= 4096 for c in self.content)
        ):
            raise BadRequest(
                f"'content' must list at most {MAX_CONTENT_FOLDERS} folders of training photos"
            )

    def to_wire(self) -> dict:
        return {
            "name": self.name,
            "image": self.image.to_wire(),
            "minutes": self.minutes,
            "painting": self.painting,
            "licence": self.licence,
            "content": list(self.content),
        }

    @classmethod
    def from_wire(cls, body: Any) -> LearnSpec:
        if not isinstance(body, dict):
            raise BadRequest("a learn request's body must be a map")
        unknown = set(body) - {"name", "image", "minutes", "painting", "licence", "content"}
        if unknown:
            raise BadRequest(f"learn has unknown fields: {', '.join(sorted(map(str, unknown)))}")
        if "image" not in body or "name" not in body:
            raise BadRequest("learn needs 'name' and 'image' (the painting's pixels)")
        minutes = body.get("minutes", DEFAULT_MINUTES)
        if _is_int(minutes):
            minutes = float(minutes)
        content = body.get("content", [])
        return cls(
            body["name"],
            ImageDesc.from_wire(body["image"], "painting"),
            minutes,
            body.get("painting", ""),
            body.get("licence", "user's own"),
            tuple(content) if isinstance(content, list) else content,
        )

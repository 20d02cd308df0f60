"""`impasto learn PAINTING`: teach the daemon a painting as a fast style; `impasto lessons`."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from cli.connection import client
from shared.errors import BadImage, BadRequest
from shared.lessons import LearnSpec, style_name_for
from shared.protocol import ImageDesc

POLL_SECONDS = 1.0


def read_painting(path: Path) -> np.ndarray:
    """The painting as uint8 RGB [H,W,3]; BadImage for a file that is not one still picture."""
    from PIL import Image

    from daemon.io.images import read_image

    try:
        with Image.open(path) as im:
            if getattr(im, "n_frames", 1) > 1:
                raise BadImage(
                    f"{path} is an animation ({im.n_frames} frames); learn from one still picture"
                )
    except OSError:
        pass  # read_image says what is wrong with it
    arr = read_image(path)
    if arr.dtype != np.uint8:
        arr = (arr.astype(np.float32) / np.iinfo(arr.dtype).max * 255).round().astype(np.uint8)
    return np.ascontiguousarray(arr[..., :3])


def cmd_learn(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    if args.stop:
        with client(args) as daemon:
            lesson = daemon.stop_learning(args.stop)
        print(f"{lesson['name']}: stopped after {lesson['steps']} steps; its style stays usable")
        return 0
    if args.painting is None:
        raise BadRequest("name the painting to learn (or --stop NAME to stop a lesson)")
    rgb = read_painting(args.painting)
    h, w = rgb.shape[:2]
    spec = LearnSpec(
        args.name or style_name_for(args.painting.name),
        ImageDesc(1, w, h, 3, "u8", "RGBA"),
        args.minutes,
        args.title or args.painting.stem,
        args.licence,
        tuple(str(c.expanduser().resolve()) for c in args.content),
    )
    with client(args) as daemon:
        lesson = daemon.learn(spec, rgb.tobytes())
        print(
            f"learning {lesson['name']} for {lesson['minutes']:g} min in the background; "
            f"`impasto lessons` shows how far it got"
        )
        if not args.wait:
            return 0
        bar = tqdm(total=round(spec.minutes * 60), unit="s", desc=lesson["name"])
        try:
            while lesson["state"] in ("queued", "learning", "stopping"):
                time.sleep(POLL_SECONDS)
                lesson = next(x for x in daemon.lessons() if x["name"] == spec.name)
                bar.n = min(bar.total, round(lesson["seconds"]))
                stage = lesson["stage"] or lesson["state"]
                bar.set_postfix_str(f"{stage}, {lesson['steps']} steps")
                bar.refresh()
        finally:
            bar.close()
    print(f"{lesson['name']}: {lesson['state']} after {lesson['steps']} steps {lesson['error']}")
    return 0 if lesson["state"] == "done" else 1


def cmd_lessons(args: argparse.Namespace) -> int:
    with client(args) as daemon:
        lessons = daemon.lessons()
    for x in lessons:
        eta = f", {x['eta'] / 60:.1f} min left" if x["state"] in ("queued", "learning") else ""
        stage = f" ({x['stage']})" if x["stage"] else ""
        print(
            f"{x['name']}  {x['state']}{stage}  {x['steps']} steps, "
            f"{x['seconds'] / 60:.1f} of {x['minutes']:g} min{eta}  {x['error']}".rstrip()
        )
    return 0

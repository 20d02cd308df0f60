"""`impasto stylize` for sequences: a video, an animated GIF/WebP, a folder or a frame pattern.

Frames stream through the daemon one at a time as one sequence (daemon.sequences keeps each
consistent with the previous one unless --no-temporal); each finished frame is written at once
into the output's parts folder (daemon.frames_io), so an interrupted run resumes where it
stopped: the frames already there are not redone (the first resumed frame starts the temporal
consistency afresh). Then the output is made with the source's frame rate, frame count, size and
audio. An existing output is never replaced without --force.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from daemon.cli import _image_frame, client, job_spec, mask_frame, result_array, style_refs
from daemon.frames_io import Sink, open_source
from shared.errors import BadRequest


def frame_range(text: str | None, count: int) -> tuple[int, int]:
    """`A:B` (either side optional, from 0, B excluded) → (start, stop) within the clip."""
    if text is None:
        return 0, count
    head, sep, tail = text.partition(":")
    try:
        start = int(head) if head.strip() else 0
        stop = int(tail) if sep and tail.strip() else count
    except ValueError:
        raise BadRequest(f"--frames takes A:B (frame numbers from 0), not {text!r}") from None
    if not sep:
        stop = start + 1
    if not 0 <= start < stop:
        raise BadRequest(f"--frames {text}: need 0 ≤ A < B")
    if start >= count:
        raise BadRequest(f"--frames {text}: the clip has {count} frames (0 to {count - 1})")
    return start, min(stop, count)


def stylize_sequence(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from daemon.imageio import resize_array

    source = open_source(str(args.content))
    start, stop = frame_range(args.frames, source.count)
    sink = Sink(str(args.output), source, start, stop)
    if sink.out.resolve() == source.path.resolve():
        raise BadRequest("the output would replace the input; choose another name")
    if not sink.out.parent.resolve().is_dir():
        raise BadRequest(f"the folder {sink.out.parent} does not exist")
    first_style = 3 if args.mask is not None else 2  # the mask, when there is one, is buffer 2
    styles, style_frames = style_refs(args, first_style)
    settings = job_spec(args, _image_frame(np.zeros((1, 1, 3), np.uint8), 1)[0], styles)
    run = {
        "input": str(source.path.resolve()),
        "frames": [start, stop],
        "settings": settings.settings(),
        "mask": str(Path(args.mask).resolve()) if args.mask is not None else None,
    }
    if sink.exists(run) and not args.force:
        raise BadRequest(
            f"{args.output} already exists; choose another name or pass --force to replace it"
        )
    done = sink.begin(run, args.force)
    todo = [i for i in range(start, stop) if i not in done]
    bar = tqdm(
        total=stop - start, initial=len(done), unit="frame", file=sys.stderr,
        disable=not sys.stderr.isatty(), desc="stylising",
    )  # fmt: skip
    t0 = time.perf_counter()
    frames = (
        f for i, f in zip(range(start, stop), source.frames(start, stop), strict=False) if i in todo
    )

    def prepared():
        for frame in frames:
            if args.size is not None:
                frame = resize_array(frame, args.size)
            yield frame

    stream = prepared()
    first = next(stream, None)
    try:
        if first is not None:
            desc, data = _image_frame(first, 1)
            mask, extra = None, list(style_frames)
            if args.mask is not None:  # one mask for every frame
                mask, mask_data = mask_frame(args.mask, first.shape[:2], 2)
                extra.insert(0, mask_data)
            spec = job_spec(args, desc, styles, mask=mask)

            def buffers():
                yield data
                for frame in stream:
                    if frame.shape != first.shape:
                        raise BadRequest("the frames of a sequence must all have one size")
                    yield _image_frame(frame, 1)[1]

            with client(args, timeout=args.timeout) as daemon:
                daemon.hello()  # fails fast, with a clear message, when no daemon answers
                results = daemon.stylize_frames(buffers(), spec, extra, timeout=None)
                for index, result in zip(todo, results, strict=True):
                    sink.put(index, np.ascontiguousarray(result_array(result)))
                    bar.update(1)
        bar.close()
        sink.finish()
    finally:
        bar.close()
    seconds = time.perf_counter() - t0
    print(
        f"wrote {args.output} ({stop - start} frames, {len(todo)} stylised in {seconds:.1f} s"
        + (f", {len(done)} from an earlier run" if done else "")
        + ")"
    )
    return 0

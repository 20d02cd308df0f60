"""`impasto stylize`: a picture, or a sequence (a video, an animated GIF/WebP, a folder or a frame
pattern), through the daemon.

A picture is read (daemon.io.images: files only, no torch), sent as one job and the result written
atomically beside the output. A sequence's frames stream through the daemon one at a time as one
sequence (daemon.sequences keeps each consistent with the previous one unless --no-temporal); each
finished frame is written at once into the output's parts folder (daemon.io.frames), so an
interrupted run resumes where it stopped: the frames already there are not redone (the first
resumed frame starts the temporal consistency afresh). Then the output is made with the source's
frame rate, frame count, size and audio. An existing output is never replaced without --force.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from cli.connection import client
from shared.client import Client, Event
from shared.errors import BadRequest
from shared.job import MAX_SIDE, JobSpec, StyleRef, is_picture_path, parse_style, split_style_map
from shared.protocol import ImageDesc
from shared.settings import JobSettings

# Style images above this long side are shrunk before sending: the engines never use more.
MAX_STYLE_SIDE = 4096


def _image_frame(arr: np.ndarray, frame: int) -> tuple[ImageDesc, bytes]:
    """A descriptor and little-endian bytes for an [H,W,C] uint8/uint16 array."""
    dtype = "u16" if arr.dtype == np.uint16 else "u8"
    h, w, c = arr.shape
    desc = ImageDesc(frame, w, h, c, dtype, "RGBA", 0)
    return desc, np.ascontiguousarray(arr).astype(arr.dtype.newbyteorder("<")).tobytes()


def cmd_stylize(args: argparse.Namespace) -> int:
    from daemon.io.frames import is_sequence
    from daemon.io.images import WRITE_FORMATS, read_image, resize_array, write_image

    if args.size is not None and not 16 <= args.size <= MAX_SIDE:
        raise BadRequest(f"--size must be from 16 to {MAX_SIDE} pixels, not {args.size}")
    if is_sequence(str(args.content)):
        return stylize_sequence(args)
    if args.frames is not None:
        raise BadRequest("--frames needs a video, an animation, a folder or a frame pattern")
    out = args.output
    if out.suffix.lower() not in WRITE_FORMATS:
        raise BadRequest(f"cannot write '{out.suffix or out.name}' files; use .png, .jpg or .tif")
    if not out.parent.resolve().is_dir():
        raise BadRequest(f"the folder {out.parent} does not exist")
    if out.exists() and not args.force:
        raise BadRequest(f"{out} already exists; choose another name or pass --force to replace it")
    if out.exists() and out.resolve() == args.content.resolve():
        raise BadRequest("the output would replace the content image; choose another name")
    content = read_image(args.content)
    if args.size is not None:
        content = resize_array(content, args.size)
    desc, data = _image_frame(content, 1)
    frames = [data]
    mask = None
    if args.mask is not None:
        mask, mask_data = mask_frame(args.mask, content.shape[:2], 2)
        frames.append(mask_data)
    styles, style_frames = style_refs(args, len(frames) + 1)
    depth, depth_frames = depth_frame(args.depth, len(frames) + len(style_frames) + 1)
    spec = job_spec(args, desc, styles, mask=mask, depth=depth)
    style_frames += depth_frames
    body = spec.to_wire()
    with client(args, timeout=args.timeout) as daemon:
        daemon.hello()  # fails fast, with a clear message, when no daemon answers
        result = _run_with_progress(daemon, body, frames + style_frames)
    arr = result_array(result)
    _write_atomically(out, arr, write_image)
    timings = result.body.get("metadata", {}).get("timings", {})
    print(f"wrote {out} ({arr.shape[1]}x{arr.shape[0]}, {timings.get('total_s', 0):.2f} s)")
    return 0


def style_refs(args: argparse.Namespace, first_frame: int) -> tuple[list[StyleRef], list[bytes]]:
    """The job's styles from the -s options, and the pixel frames of those that are pictures
    (numbered from `first_frame`)."""
    from daemon.io.images import read_image, resize_array

    styles, frames = [], []
    for text in args.style:
        text, map_path = split_style_map(text)
        name, weight = parse_style(text)
        where = None
        if map_path is not None:
            grey = read_image(Path(map_path).expanduser())[..., :1]  # a grey picture's grey
            where, mdata = _image_frame(grey, first_frame + len(frames))
            frames.append(mdata)
        path = Path(name).expanduser()
        if path.is_file():
            arr = read_image(path)
            if max(arr.shape[:2]) > MAX_STYLE_SIDE:
                arr = resize_array(arr, MAX_STYLE_SIDE)
            sdesc, sdata = _image_frame(arr[..., :3], first_frame + len(frames))
            frames.append(sdata)
            styles.append(StyleRef(weight=weight, image=sdesc, label=path.stem, map=where))
        elif is_picture_path(name):
            raise BadRequest(f"style image {name} does not exist")
        else:
            styles.append(StyleRef(weight=weight, name=name, map=where))
    return styles, frames


def mask_frame(path: Path, shape: tuple[int, int], frame: int) -> tuple[ImageDesc, bytes]:
    """`--mask`: a grey picture's first channel as buffer `frame`, resampled to `shape` (h, w)
    when it has the same proportions at another size."""
    from daemon.io.images import read_image, resize_array

    grey = read_image(path)[..., :1]
    if grey.shape[:2] != shape:
        grey = resize_array(grey, max(shape))
    if grey.shape[:2] != shape:
        raise BadRequest(
            f"the mask is {grey.shape[1]}x{grey.shape[0]} but the picture is "
            f"{shape[1]}x{shape[0]}; they need the same proportions"
        )
    return _image_frame(grey, frame)


# a depth map whose channels differ by more than this share of full scale on average has colour
DEPTH_COLOUR = 0.02


def depth_frame(path: Path | None, frame: int) -> tuple[ImageDesc | None, list[bytes]]:
    """`--depth`: a grey picture (white near, black far) at its own size as buffer `frame`, or
    (None, []) without one; a picture with colour is refused."""
    if path is None:
        return None, []
    from daemon.io.images import read_image

    arr = read_image(Path(path).expanduser())
    if arr.shape[2] >= 3:
        top = float(np.iinfo(arr.dtype).max) if arr.dtype.kind in "ui" else 1.0
        rgb = arr[..., :3].astype(np.float32) / top
        if float((rgb.max(2) - rgb.min(2)).mean()) > DEPTH_COLOUR:
            raise BadRequest(
                f"the depth map {path} has colour; it must be grey (white near, black far)"
            )
    desc, data = _image_frame(np.ascontiguousarray(arr[..., :1]), frame)
    return desc, [data]


def job_spec(args: argparse.Namespace, content: ImageDesc, styles, **fields) -> JobSpec:
    """The job the stylize options describe (the settings every client shares through
    shared.settings.JobSettings, then the CLI's own)."""
    settings = JobSettings(
        mode=args.mode,
        strength=args.strength,
        preserve_color=args.preserve_color,
        style_scale=args.style_scale,
        iterations=args.iterations,
        temporal=args.temporal,
        texture=args.texture,
        photoreal=args.photoreal,
        depth_range=args.depth_range,
    )
    return settings.job_spec(
        content,
        styles,
        optimizer=args.optimizer,
        init=args.init,
        base=args.base,
        upscaler=args.upscaler,
        size=args.size,
        seed=args.seed,
        **fields,
    )


def result_array(result: Event) -> np.ndarray:
    """The result image as an [H,W,C] array."""
    rdesc, rdata = result.image_bytes(0)
    dtype = np.uint16 if rdesc.dtype == "u16" else np.uint8
    return np.frombuffer(rdata, dtype=np.dtype(dtype).newbyteorder("<")).reshape(
        rdesc.height, rdesc.width, rdesc.channels
    )


def _run_with_progress(client: Client, body: dict, frames: list) -> Event:
    """Run the job with a progress bar on stderr (created once the job starts, tty only)."""
    from tqdm import tqdm

    bar: tqdm | None = None

    def on_event(event: Event) -> None:
        nonlocal bar
        if event.type != "progress":
            return
        if bar is None:
            bar = tqdm(
                total=100,
                unit="%",
                bar_format="{desc} {percentage:3.0f}%|{bar}| {elapsed}<{remaining}",
                file=sys.stderr,
                disable=not sys.stderr.isatty(),
            )
        bar.set_description_str(event.body.get("stage", ""))
        bar.n = round(100 * event.body.get("fraction", 0.0))
        bar.refresh()

    try:
        return client.run(body, frames, on_event=on_event)
    finally:
        if bar is not None:
            bar.close()


def _write_atomically(out: Path, arr: np.ndarray, write) -> None:
    """Write to a temporary file beside OUT, then rename: a failed write leaves nothing behind."""
    fd, tmp = tempfile.mkstemp(prefix=".impasto-", suffix=out.suffix, dir=out.parent)
    os.close(fd)
    try:
        write(tmp, arr)
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


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

    from daemon.io.frames import Sink, open_source
    from daemon.io.images import resize_array

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
        "depth": str(Path(args.depth).resolve()) if args.depth is not None else None,
    }
    if sink.exists(run) and not args.force:
        raise BadRequest(
            f"{args.output} already exists; choose another name or pass --force to replace it"
        )
    done = sink.begin(run, args.force)
    todo = [i for i in range(start, stop) if i not in done]
    wanted = set(todo)
    bar = tqdm(
        total=stop - start, initial=len(done), unit="frame", file=sys.stderr,
        disable=not sys.stderr.isatty(), desc="stylising",
    )  # fmt: skip
    t0 = time.perf_counter()
    numbered = zip(range(start, stop), source.frames(start, stop), strict=False)
    frames = (f for i, f in numbered if i in wanted)

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
            depth, depth_frames = depth_frame(args.depth, len(extra) + 2)  # one for every frame
            extra += depth_frames
            spec = job_spec(args, desc, styles, mask=mask, depth=depth)

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

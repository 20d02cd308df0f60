"""Frame sequences in and out for the CLI: video files (PyAV, FFmpeg's bindings), animated GIF and
WebP (Pillow), folders of pictures and printf patterns (`frames/%04d.png`). No torch here.

A source gives its frames as [H,W,3|4] uint8 arrays (one at a time, never the whole clip), its
frame count, its timing (frames per second, or per-frame durations for GIF/WebP) and, for a
video, its audio stream. A sink writes frames one by one into a parts folder beside the output
(so an interrupted run keeps every finished frame and can resume), then makes the output from
them: a video with the source's frame rate and audio, an animation with its durations, or the
pictures themselves.
"""

from __future__ import annotations

import json
import logging
import re
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import numpy as np
from PIL import Image, ImageSequence

from daemon.io.images import read_image
from shared.errors import BadImage, BadRequest
from shared.job import IMAGE_SUFFIXES

log = logging.getLogger(__name__)

VIDEO_SUFFIXES = (".mp4", ".m4v", ".mov", ".mkv", ".avi", ".webm")
ANIMATION_SUFFIXES = (".gif", ".webp")
VIDEO_CODECS = {".mp4": "libx264", ".m4v": "libx264", ".mov": "libx264", ".mkv": "libx264",
                ".avi": "mpeg4", ".webm": "libvpx-vp9"}  # fmt: skip
PATTERN = re.compile(r"%0?(\d*)d")
DEFAULT_FPS = Fraction(25)
PARTS_SUFFIX = ".impasto-parts"
RUN_RECORD = ".impasto-run.json"


@dataclass
class Source:
    """A sequence of frames to read."""

    path: Path
    kind: str  # "video", "animation", "pictures"
    count: int
    fps: Fraction = DEFAULT_FPS
    durations: list[int] = field(default_factory=list)  # ms per frame (animations)
    loop: int = 0
    files: list[Path] = field(default_factory=list)  # pictures

    def frames(self, start: int = 0, stop: int | None = None) -> Iterator[np.ndarray]:
        """Frames start…stop−1, one array at a time."""
        stop = self.count if stop is None else min(stop, self.count)
        if self.kind == "pictures":
            for path in self.files[start:stop]:
                yield _rgb_or_rgba(read_image(path))
        elif self.kind == "animation":
            with Image.open(self.path) as im:
                for i, frame in enumerate(ImageSequence.Iterator(im)):
                    if i >= stop:
                        break
                    if i >= start:
                        yield np.asarray(frame.convert("RGBA" if _has_alpha(frame) else "RGB"))
        else:
            import av

            with av.open(str(self.path)) as container:
                stream = container.streams.video[0]
                stream.thread_type = "AUTO"
                for i, frame in enumerate(container.decode(stream)):
                    if i >= stop:
                        break
                    if i >= start:
                        yield frame.to_ndarray(format="rgb24")


def is_sequence(path_text: str) -> bool:
    """Whether the CLI's input or output names a sequence rather than one picture."""
    path = Path(path_text)
    if PATTERN.search(path.name) or path.is_dir() or path.suffix.lower() in VIDEO_SUFFIXES:
        return True
    if path.suffix.lower() in ANIMATION_SUFFIXES and path.is_file():
        with Image.open(path) as im:
            return getattr(im, "n_frames", 1) > 1
    return False


def open_source(path_text: str) -> Source:
    """The sequence a path names; BadImage if it cannot be read."""
    path = Path(path_text)
    if PATTERN.search(path.name):
        files = _pattern_files(path)
        if not files:
            raise BadImage(f"no frames match {path_text} (counting from 0 or 1)")
        return Source(path, "pictures", len(files), files=files)
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise BadImage(f"no pictures in the folder {path}")
        return Source(path, "pictures", len(files), files=files)
    if not path.is_file():
        raise BadImage(f"no such file: {path}")
    if path.suffix.lower() in ANIMATION_SUFFIXES:
        try:
            with Image.open(path) as im:
                durations = [int(f.info.get("duration", 100)) for f in ImageSequence.Iterator(im)]
                loop = int(im.info.get("loop", 0))
        except OSError as exc:
            raise BadImage(f"cannot read the animation {path}: {exc}") from None
        return Source(path, "animation", len(durations), durations=durations, loop=loop)
    import av

    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise BadImage(f"{path} has no video stream")
            stream = container.streams.video[0]
            fps = stream.average_rate or stream.guessed_rate or DEFAULT_FPS
            count = stream.frames or sum(1 for _ in container.decode(stream))
    except av.FFmpegError as exc:
        raise BadImage(f"cannot read the video {path}: {exc}") from None
    return Source(path, "video", count, fps=Fraction(fps))


def _pattern_files(path: Path) -> list[Path]:
    files, first = [], None
    for start in (0, 1):
        if _format(path, start).is_file():
            first = start
            break
    if first is None:
        return files
    i = first
    while _format(path, i).is_file():
        files.append(_format(path, i))
        i += 1
    return files


def _format(path: Path, index: int) -> Path:
    return path.with_name(PATTERN.sub(lambda m: f"{index:0{m.group(1) or 1}d}", path.name, 1))


def _has_alpha(im: Image.Image) -> bool:
    return im.mode in ("RGBA", "LA", "PA") or "transparency" in im.info


def _rgb_or_rgba(arr: np.ndarray) -> np.ndarray:
    if arr.dtype == np.uint16:  # sequences are 8-bit here
        arr = ((arr.astype(np.uint32) * 255 + 32767) // 65535).astype(np.uint8)
    return arr


class Sink:
    """Where stylised frames go: `put(i, frame)` per frame, then `finish()`.

    Frames land as PNGs in a parts folder (for pictures: the output folder itself); `done()`
    tells which frames an earlier, interrupted run already finished."""

    def __init__(self, out_text: str, source: Source, start: int, stop: int) -> None:
        self.out = Path(out_text)
        self.source, self.start, self.stop = source, start, stop
        suffix = self.out.suffix.lower()
        if PATTERN.search(self.out.name):
            self.kind, self.parts = "pattern", self.out.parent
        elif suffix in VIDEO_SUFFIXES:
            self.kind = "video"
        elif suffix in ANIMATION_SUFFIXES:
            self.kind = "animation"
        elif suffix == "":
            self.kind, self.parts = "folder", self.out
        else:
            raise BadRequest(
                f"cannot write a sequence as '{suffix}'; use a video ({', '.join(VIDEO_SUFFIXES)})"
                ", .gif, .webp, a folder or a pattern like frames/%04d.png"
            )
        if self.kind in ("video", "animation"):
            self.parts = self.out.with_name(self.out.name + PARTS_SUFFIX)
        inputs = {p.resolve() for p in source.files}
        for i in range(start, stop):  # --force would delete them before they are read
            if self._part(i).resolve() in inputs:
                raise BadRequest(
                    f"the output would overwrite the input frame {self._part(i)}; "
                    "choose another output name or folder"
                )

    @property
    def record(self) -> Path:
        """What this run writes beside its parts, so a later run knows they are its own."""
        return self.parts / RUN_RECORD

    def exists(self, run: dict) -> bool:
        """Whether the output, or frames not made by an interrupted run of this very job
        (`run`: input, range and settings), are already there."""
        if self.kind in ("video", "animation") and self.out.exists():
            return True
        ours = self._recorded() == run
        return not ours and any(self._part(i).exists() for i in range(self.start, self.stop))

    def _recorded(self) -> dict | None:
        try:
            return json.loads(self.record.read_text())
        except (OSError, ValueError):
            return None

    def begin(self, run: dict, force: bool) -> set[int]:
        """Start or resume: the frames an interrupted run of this job finished (none with
        `force`, which removes them)."""
        if force or self._recorded() != run:
            for i in range(self.start, self.stop):
                self._part(i).unlink(missing_ok=True)
        self.parts.mkdir(parents=True, exist_ok=True)
        self.record.write_text(json.dumps(run))
        return self.done()

    def done(self) -> set[int]:
        return {i for i in range(self.start, self.stop) if self._part(i).is_file()}

    def _part(self, index: int) -> Path:
        if self.kind == "pattern":
            return _format(self.out, index)
        return self.parts / f"{index:06d}.png"

    def put(self, index: int, frame: np.ndarray) -> None:
        """Write one finished frame atomically."""
        path = self._part(index)
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(
            dir=path.parent, prefix=".impasto-", suffix=".png", delete=False
        ) as tmp:
            Image.fromarray(frame).save(tmp, "PNG", compress_level=1)
        Path(tmp.name).replace(path)

    def finish(self) -> None:
        """Make the output from the parts (videos and animations), then remove the parts."""
        if self.kind not in ("video", "animation"):
            self.record.unlink(missing_ok=True)
            return
        indices = range(self.start, self.stop)
        tmp = self.out.with_name(f".impasto-{self.out.stem}.tmp{self.out.suffix}")
        try:
            if self.kind == "animation":
                self._write_animation(tmp, indices)
            else:
                self._write_video(tmp, indices)
            tmp.replace(self.out)
        finally:
            tmp.unlink(missing_ok=True)
        shutil.rmtree(self.parts, ignore_errors=True)

    def _frames(self, indices) -> Iterator[np.ndarray]:
        for i in indices:
            yield np.asarray(Image.open(self._part(i)).convert("RGBA"))

    def _write_animation(self, tmp: Path, indices) -> None:
        src = self.source
        if src.kind == "animation":
            durations = [src.durations[i] for i in indices]
        else:  # a video's rate, or DEFAULT_FPS for pictures
            durations = [round(1000 / float(src.fps))] * len(indices)
        frames = [Image.fromarray(f) for f in self._frames(indices)]  # Pillow needs them all
        fmt = "GIF" if self.out.suffix.lower() == ".gif" else "WEBP"
        extra = {"disposal": 2} if fmt == "GIF" else {"lossless": False, "quality": 90}
        frames[0].save(
            tmp, fmt, save_all=True, append_images=frames[1:], duration=durations,
            loop=src.loop, **extra,
        )  # fmt: skip

    def _write_video(self, tmp: Path, indices) -> None:
        import av

        src = self.source
        fps = src.fps  # pictures: DEFAULT_FPS
        if src.kind == "animation":
            fps = Fraction(1000, max(1, src.durations[indices[0]] or 100))
        codec = VIDEO_CODECS[self.out.suffix.lower()]
        with av.open(str(tmp), "w", format=_container_format(self.out)) as out:
            first = next(self._frames(indices[:1]))
            h, w = first.shape[:2]
            stream = out.add_stream(codec, rate=fps)
            stream.width, stream.height = w, h
            # 4:2:0 needs even sides; odd-sized clips keep every pixel in 4:4:4
            stream.pix_fmt = "yuv420p" if w % 2 == 0 and h % 2 == 0 else "yuv444p"
            if codec == "libx264":
                stream.options = {"crf": "18", "preset": "medium"}
            audio = _audio_source(src, out) if src.kind == "video" else None
            for arr in self._frames(indices):
                frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(arr[..., :3]), "rgb24")
                for packet in stream.encode(frame):
                    out.mux(packet)
            for packet in stream.encode():
                out.mux(packet)
            if audio is not None:
                audio(float(indices[0] / fps), float(len(indices) / fps))


def _container_format(path: Path) -> str | None:
    return {".m4v": "mp4", ".mkv": "matroska"}.get(path.suffix.lower())


def _audio_source(src: Source, out):
    """A function copying the source's audio between two times (s) into `out`, or None."""
    import av

    with av.open(str(src.path)) as probe:
        if not probe.streams.audio:
            return None
    inp = av.open(str(src.path))
    a_in = inp.streams.audio[0]
    try:
        a_out = out.add_stream_from_template(a_in)
    except (ValueError, av.FFmpegError) as exc:
        log.warning(
            "the audio (%s) cannot go into this container: %s", a_in.codec_context.name, exc
        )
        inp.close()
        return None

    def copy(start: float, length: float) -> None:
        try:
            base = None
            for packet in inp.demux(a_in):
                if packet.dts is None or packet.pts is None:
                    continue
                t = float(packet.pts * packet.time_base)
                if t < start:
                    continue
                if t >= start + length:
                    break
                base = packet.pts if base is None else base
                packet.pts -= base
                packet.dts -= base
                packet.stream = a_out
                out.mux(packet)
        finally:
            inp.close()

    return copy

"""Image files ⇄ arrays, 8 and 16 bit, for the CLI and the style library (no torch here: the CLI
is a client and reads and writes files without loading it; `daemon.io.pixels.to_tensor` converts).

Pillow reads and writes 8-bit files; 16-bit PNGs go through pypng (pure Python, so only those) and
TIFFs through tifffile, because Pillow has no 16-bit RGB(A) mode.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import png
import tifffile
from PIL import Image

from shared.errors import BadImage, BadRequest

# The most pixels a picture file may claim (what the daemon accepts in a job by default). Checked
# from the file's header before anything is decoded, for every reader (Pillow's own guard only
# covers Pillow): a tiny PNG that claims 60000x60000 is refused, not allocated.
MAX_FILE_PIXELS = 16384 * 16384
Image.MAX_IMAGE_PIXELS = MAX_FILE_PIXELS

# zlib level of 8-bit PNGs: 2 writes a stylised 3840x2160 result in 0.75-0.86 s where Pillow's
# default 6 took 3.0-3.6 s (the largest part of a 4K CLI call), the file 15% larger without
# full-size texture and 9% smaller with it (its fine texture defeats level 6's longer search)
PNG_LEVEL = 2
WRITE_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".tif": "TIFF", ".tiff": "TIFF"}


def read_image(path: str | Path) -> np.ndarray:
    """An image file as an [H,W,3|4] array: uint16 for 16-bit PNG/TIFF, else uint8."""
    path = Path(path)
    if not path.is_file():
        raise BadImage(f"no such image file: {path}")
    try:
        with path.open("rb") as f:
            magic = f.read(26)
        width, height = image_size(path, magic)
        if width * height > MAX_FILE_PIXELS:
            raise BadImage(
                f"{path} claims {width}x{height} pixels; the limit is {MAX_FILE_PIXELS:,} "
                "(a damaged or hostile file, or a picture to shrink first)"
            )
        if magic.startswith(b"\x89PNG") and magic[24:25] == b"\x10":  # IHDR bit depth 16
            arr = _read_png16(path)
        elif magic[:4] in (b"II*\x00", b"MM\x00*"):
            arr = tifffile.imread(path)
        else:
            arr = _read_pillow(path)
    except (OSError, ValueError, SyntaxError, png.Error, Image.DecompressionBombError) as exc:
        raise BadImage(f"cannot read the image {path}: {exc}") from None
    return _normalise(arr, path)


def image_size(path: Path, magic: bytes) -> tuple[int, int]:
    """(width, height) from a picture file's header, without decoding its pixels."""
    if magic.startswith(b"\x89PNG\r\n\x1a\n") and magic[12:16] == b"IHDR":
        return int.from_bytes(magic[16:20], "big"), int.from_bytes(magic[20:24], "big")
    if magic[:4] in (b"II*\x00", b"MM\x00*"):
        with tifffile.TiffFile(path) as tif:
            page = tif.pages[0]
            return int(page.imagewidth), int(page.imagelength)
    with Image.open(path) as im:  # reads the header only
        return im.size


def _read_pillow(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        im.load()
        has_alpha = im.mode in ("RGBA", "LA", "PA") or "transparency" in im.info
        return np.asarray(im.convert("RGBA" if has_alpha else "RGB"))


def _read_png16(path: Path) -> np.ndarray:
    width, height, rows, info = png.Reader(filename=str(path)).asDirect()
    arr = np.vstack([np.asarray(r, dtype=np.uint16) for r in rows])
    return arr.reshape(height, width, info["planes"])


def _normalise(arr: np.ndarray, path: Path) -> np.ndarray:
    """Grey → RGB, grey+alpha → RGBA, float/32-bit TIFF → uint16; refuse anything else."""
    if arr.ndim == 2:
        arr = arr[..., None]
    if arr.dtype not in (np.uint8, np.uint16):
        if np.issubdtype(arr.dtype, np.floating):
            arr = (np.clip(arr, 0, 1) * 65535 + 0.5).astype(np.uint16)
        else:
            raise BadImage(f"{path}: {arr.dtype} samples are not supported; save as 8 or 16 bit")
    channels = arr.shape[2]
    if channels == 1:
        arr = np.repeat(arr, 3, axis=2)
    elif channels == 2:
        arr = np.concatenate([np.repeat(arr[..., :1], 3, axis=2), arr[..., 1:]], axis=2)
    elif channels > 4:
        arr = arr[..., :4]
    if arr.shape[0] < 1 or arr.shape[1] < 1:
        raise BadImage(f"{path} has no pixels")
    return np.ascontiguousarray(arr)


def write_image(path: str | Path, arr: np.ndarray) -> None:
    """Write an [H,W,3|4] uint8/uint16 array; JPEG is always 8-bit RGB."""
    path = Path(path)
    fmt = WRITE_FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise BadRequest(f"cannot write '{path.suffix or path.name}' files; use .png, .jpg or .tif")
    arr = np.ascontiguousarray(arr)
    if fmt == "TIFF":
        tifffile.imwrite(
            path, arr, photometric="rgb", extrasamples=("unassalpha",) if arr.shape[2] == 4 else ()
        )
    elif fmt == "PNG" and arr.dtype == np.uint16:
        h, w, c = arr.shape
        writer = png.Writer(w, h, greyscale=False, alpha=c == 4, bitdepth=16)
        with path.open("wb") as f:
            writer.write_array(f, arr.reshape(-1))
    else:
        if arr.dtype == np.uint16:
            arr = ((arr.astype(np.uint32) * 255 + 32767) // 65535).astype(np.uint8)
        if fmt == "JPEG":
            Image.fromarray(arr[..., :3]).save(path, fmt, quality=95)
        else:
            Image.fromarray(arr).save(path, fmt, compress_level=PNG_LEVEL)


def resize_array(arr: np.ndarray, side: int) -> np.ndarray:
    """Resize [H,W,C] so its long side is `side`, keeping dtype and channels.

    Each channel goes through Pillow's 32-bit float mode with bicubic filtering (antialiased when
    shrinking: the filter widens with the scale), so 16-bit pictures keep their precision.
    """
    h, w = arr.shape[:2]
    scale = side / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    if size == (w, h):
        return arr
    top = 65535.0 if arr.dtype == np.uint16 else 255.0
    planes = [
        np.asarray(
            Image.fromarray(np.ascontiguousarray(arr[..., c], dtype=np.float32), "F").resize(
                size, Image.Resampling.BICUBIC
            )
        )
        for c in range(arr.shape[2])
    ]
    return np.stack(planes, axis=2).clip(0, top).round().astype(arr.dtype)

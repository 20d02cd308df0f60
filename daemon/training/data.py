"""Training data: content photos as random square crops with flips, kept small in memory."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import torch
import torch.nn.functional as F

from daemon.catalogue.styles import IMAGE_SUFFIXES
from daemon.io.images import read_image
from daemon.io.pixels import to_tensor

# A photo whose short side is at least this many times the working short side (2×crop) also
# gives its four quadrants as photos of their own: a 4K photo then adds close-up crops with
# finer detail, not only one more downscaled view.
QUADRANT_FACTOR = 4


def image_files(path: Path) -> list[Path]:
    """The image files in a folder (sorted), or the file itself."""
    if path.is_file():
        return [path]
    files = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise FileNotFoundError(f"no images in {path}")
    return files


def read_hold_out(path: Path | None) -> set[str]:
    """File names listed one per line (blank lines and `#` comments skipped)."""
    if path is None:
        return set()
    lines = (line.split("#")[0].strip() for line in path.read_text(encoding="utf-8").splitlines())
    return {line for line in lines if line}


def content_files(paths: Iterable[Path], hold_out: set[str] = frozenset()) -> list[Path]:
    """Every image in the given folders/files, minus the held-out names."""
    files = [f for p in paths for f in image_files(p) if f.name not in hold_out]
    if not files:
        raise FileNotFoundError("no content photos left after the held-out ones")
    return files


def _short_side_to(rgb: torch.Tensor, side: int) -> torch.Tensor:
    h, w = rgb.shape[-2:]
    rgb = F.interpolate(rgb, scale_factor=side / min(h, w), mode="bilinear", antialias=True)
    return rgb[0].clamp(0, 1).mul(255).round().byte()


def load_photos(files: Iterable[Path], size: int) -> list[torch.Tensor]:
    """Every photo as uint8 [3,H,W] with its short side at 2×size (crops then vary in scale);
    large photos add their quadrants at the same short side."""
    out = []
    for path in files:
        rgb = to_tensor(read_image(path))
        out.append(_short_side_to(rgb, 2 * size))
        h, w = rgb.shape[-2:]
        if min(h, w) >= QUADRANT_FACTOR * 2 * size:
            for top in (0, h // 2):
                for left in (0, w // 2):
                    quad = rgb[..., top : top + h // 2, left : left + w // 2]
                    out.append(_short_side_to(quad, 2 * size))
    return out


def random_batch(
    photos: list[torch.Tensor], size: int, batch: int, gen: torch.Generator
) -> torch.Tensor:
    """[batch,3,size,size] float crops: random photo, crop scale 0.5–1 of the short side, flip."""
    crops = []
    for _ in range(batch):
        img = photos[int(torch.randint(len(photos), (1,), generator=gen))]
        h, w = img.shape[-2:]
        side = int(min(h, w) * (0.5 + 0.5 * float(torch.rand((), generator=gen))))
        side = max(side, size)
        top = int(torch.randint(h - side + 1, (1,), generator=gen))
        left = int(torch.randint(w - side + 1, (1,), generator=gen))
        crop = img[None, :, top : top + side, left : left + side].float() / 255
        crop = F.interpolate(crop, size=(size, size), mode="bilinear", antialias=True)
        if float(torch.rand((), generator=gen)) < 0.5:
            crop = crop.flip(-1)
        crops.append(crop)
    return torch.cat(crops).clamp(0, 1)

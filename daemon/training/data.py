"""Training data: content photos as random square crops with flips, kept small in memory."""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F

from daemon.imageio import read_image, to_tensor
from daemon.styles import IMAGE_SUFFIXES


def image_files(path: Path) -> list[Path]:
    """The image files in a folder (sorted), or the file itself."""
    if path.is_file():
        return [path]
    files = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise FileNotFoundError(f"no images in {path}")
    return files


def load_photos(folder: Path, size: int) -> list[torch.Tensor]:
    """Every photo as uint8 [3,H,W] with its short side at 2×size (crops then vary in scale)."""
    out = []
    for path in image_files(folder):
        rgb = to_tensor(read_image(path))
        h, w = rgb.shape[-2:]
        scale = 2 * size / min(h, w)
        rgb = F.interpolate(rgb, scale_factor=scale, mode="bilinear", antialias=True)
        out.append(rgb[0].clamp(0, 1).mul(255).round().byte())
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

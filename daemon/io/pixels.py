"""Pixel buffers as the editors store them ⇄ float tensors the engines use.

Integer samples map to 0..1 (u8 /255, u16 /65535); float samples are taken as they are (they may lie
outside 0..1 in HDR documents). Alpha never goes through a float round trip: it is copied from the
input buffer into the output buffer sample for sample.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import torch

from shared.protocol import SAMPLE_BYTES, ImageDesc

NUMPY_DTYPES = {
    "u8": np.dtype("<u1"),
    "u16": np.dtype("<u2"),
    "f16": np.dtype("<f2"),
    "f32": np.dtype("<f4"),
}
INT_MAX = {"u8": 255.0, "u16": 65535.0}


@dataclass
class Decoded:
    """An image from the wire: RGB as a float tensor [1,3,H,W] and the untouched alpha samples."""

    rgb: torch.Tensor
    alpha: np.ndarray | None
    desc: ImageDesc


def as_array(desc: ImageDesc, buffer: memoryview | bytes) -> np.ndarray:
    """A [H,W,C] numpy view of a buffer (rows `stride` apart) without copying."""
    desc.check_buffer(len(buffer))
    dtype = NUMPY_DTYPES[desc.dtype]
    size = SAMPLE_BYTES[desc.dtype]
    return np.ndarray(
        shape=(desc.height, desc.width, desc.channels),
        dtype=dtype,
        buffer=buffer,
        strides=(desc.stride, desc.channels * size, size),
    )


def decode(desc: ImageDesc, buffer: memoryview | bytes) -> Decoded:
    """Convert a pixel buffer to RGB float32 (channel order resolved) plus raw alpha.

    One float allocation of the image's size (no intermediate float copies: an 8K layer is
    400 MB per float copy)."""
    arr = as_array(desc, buffer)
    channels = [2, 1, 0] if desc.order == "BGRA" else [0, 1, 2]
    src = arr if arr.dtype.isnative else arr.astype(arr.dtype.newbyteorder("="))
    with warnings.catch_warnings():  # read-only wire buffers: torch warns, but we only read
        warnings.simplefilter("ignore", UserWarning)
        view = torch.from_numpy(src).permute(2, 0, 1)
    rgb = torch.empty((1, 3, desc.height, desc.width), dtype=torch.float32)
    for i, c in enumerate(channels):
        rgb[0, i].copy_(view[c])
    if desc.dtype in INT_MAX:
        rgb.div_(INT_MAX[desc.dtype])
    alpha = np.ascontiguousarray(arr[..., 3]) if desc.channels == 4 else None
    return Decoded(rgb, alpha, desc)


def encode(rgb: torch.Tensor, like: Decoded, consume: bool = False) -> tuple[ImageDesc, bytes]:
    """Write RGB [1,3,H,W] back in the input's format (tight rows) with the input's alpha.

    `consume`: `rgb` is not needed afterwards and is quantised in place (saves a full-size
    float copy on large images)."""
    desc = like.desc
    if tuple(rgb.shape[-2:]) != (desc.height, desc.width):
        raise ValueError(f"result is {tuple(rgb.shape[-2:])}, expected {(desc.height, desc.width)}")
    x = rgb[0].detach().float().cpu()
    if desc.dtype in INT_MAX:
        x = x if consume and x.data_ptr() == rgb.data_ptr() else x.clone()
        x.clamp_(0.0, 1.0).mul_(INT_MAX[desc.dtype]).round_()
    out = np.empty((desc.height, desc.width, desc.channels), NUMPY_DTYPES[desc.dtype])
    planes = [2, 1, 0] if desc.order == "BGRA" else [0, 1, 2]
    for i, c in enumerate(planes):  # plane by plane: no full-size HWC float copy
        out[..., c] = x[i].numpy()
    if desc.channels == 4:
        out[..., 3] = like.alpha
    wire = ImageDesc(1, desc.width, desc.height, desc.channels, desc.dtype, desc.order, 0)
    return wire, out.tobytes()


def decode_mask(desc: ImageDesc, buffer: memoryview | bytes) -> torch.Tensor:
    """A one-channel mask buffer as coverage 0..1, [1,1,H,W] float32 (floats clipped)."""
    arr = as_array(desc, buffer)[..., 0]
    src = arr if arr.dtype.isnative else arr.astype(arr.dtype.newbyteorder("="))
    m = torch.from_numpy(src.astype(np.float32))
    if desc.dtype in INT_MAX:
        m.div_(INT_MAX[desc.dtype])
    return torch.nan_to_num(m, nan=0.0).clamp_(0, 1)[None, None]


def mask_alpha(alpha: np.ndarray, mask: torch.Tensor, dtype: str) -> np.ndarray:
    """Alpha samples times mask coverage, in the samples' own type (integers rounded): the
    selection's feather becomes the result's transparency."""
    scaled = alpha.astype(np.float32) * mask[0, 0].numpy()
    if dtype in INT_MAX:
        return np.round(scaled).astype(alpha.dtype)
    return scaled.astype(alpha.dtype)


def to_rgba8(rgb: torch.Tensor) -> tuple[ImageDesc, bytes]:
    """An opaque 8-bit RGBA buffer (previews, thumbnails)."""
    x = rgb[0].detach().float().clamp(0, 1).mul(255).round().byte().cpu().numpy().transpose(1, 2, 0)
    out = np.full((x.shape[0], x.shape[1], 4), 255, np.uint8)
    out[..., :3] = x
    return ImageDesc(1, x.shape[1], x.shape[0], 4, "u8", "RGBA", 0), out.tobytes()


def to_tensor(arr: np.ndarray) -> torch.Tensor:
    """RGB of an [H,W,C] uint8/uint16 array as float 0..1 [1,3,H,W]."""
    scale = 65535.0 if arr.dtype == np.uint16 else 255.0
    rgb = arr[..., :3].astype(np.float32) / scale
    return torch.from_numpy(np.ascontiguousarray(rgb.transpose(2, 0, 1)))[None]

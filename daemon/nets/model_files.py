"""Fast-style model files: safetensors weights + a JSON card, never pickles.

`NAME.safetensors` holds the network's tensors; `NAME.json` (the card) holds the architecture,
the styles (name, source painting, licence, thumbnail), the training command, steps and losses.
Training checkpoints use the same format plus the optimiser's tensors under `optim.` keys.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from daemon.nets.fast_net import StyleNet


def card_path(weights: Path) -> Path:
    return weights.with_suffix(".json")


def save_model(
    path: Path, net: StyleNet, card: dict, extra: dict | None = None, half: bool = False
) -> None:
    """Write weights (fp16 when `half`) and the card, each atomically."""
    tensors = {
        k: (v.half() if half and v.is_floating_point() else v).contiguous()
        for k, v in net.state_dict().items()
    }
    tensors.update(extra or {})
    card = dict(
        card,
        architecture={
            "widths": list(net.widths),
            "residual_blocks": net.residual_blocks,
            "stem": net.stem,
            "styles": net.styles,
        },
    )
    write_model_files(path, tensors, card)


def write_model_files(path: Path, tensors: dict[str, torch.Tensor], card: dict) -> None:
    """`path` (safetensors) and its card beside it, each written to a temporary file and
    renamed, so a reader never sees half a file."""
    tmp = path.with_suffix(".tmp")
    save_file(tensors, str(tmp))
    tmp.replace(path)
    tmp_card = card_path(path).with_suffix(".json.tmp")
    tmp_card.write_text(json.dumps(card, indent=1))
    tmp_card.replace(card_path(path))


def card_architecture(card: dict) -> dict:
    """A card's architecture (widths, residual_blocks, stem, styles); cards written before
    stems existed have the conv stem."""
    return {"stem": "conv", **card["architecture"]}


def architecture(path: Path) -> dict:
    """The architecture of the model file at `path`, weights not read."""
    return card_architecture(json.loads(card_path(path).read_text()))


def load_model(path: Path, device: str | torch.device = "cpu") -> tuple[StyleNet, dict, dict]:
    """The network (fp32), its card, and any extra tensors stored beside the weights."""
    card = json.loads(card_path(path).read_text())
    arch = card_architecture(card)
    net = StyleNet(arch["styles"], tuple(arch["widths"]), arch["residual_blocks"], arch["stem"])
    tensors = load_file(str(path), device=str(device))
    own = set(net.state_dict())
    net.load_state_dict({k: v.float() for k, v in tensors.items() if k in own})
    # conv biases of older files are cancelled by the instance norm that follows each conv
    extra = {k: v for k, v in tensors.items() if k not in own and not k.endswith("conv.bias")}
    return net.to(device), card, extra

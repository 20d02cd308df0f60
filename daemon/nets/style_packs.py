"""Style packs: styles learned for an existing fast model, as that model's extra norm rows.

A fast model's styles differ only in their conditional instance-norm pairs (daemon.nets.fast_net:
one scale and shift row per style in each norm layer); everything else is shared. A style learned
later (`impasto learn`) therefore needs only its own rows: a pack is `NAME.safetensors` holding,
for each norm parameter of the model it extends, the pack's rows (`[k, channels]`, ~1000 numbers
per style), and a card `NAME.json`:

    {"kind": "style-pack", "extends": {"model": "impasto-17", "digest": "<sha256 of its file>"},
     "styles": [{"name", "painting", "licence", "thumbnail_png_base64", "painting_jpeg_base64"}],
     "learning": {...how it was made...}}

The model library (daemon.catalogue.model_library) appends every pack found in its folders to the
model it extends, so a learned style is one more style of that model: it blends with the shipped
ones, takes style maps, and leaves their rows (and so their outputs) exactly as they were. A pack
applies only to the very file it was learned on (the digest); after the model changes, it is
skipped with a warning, as its rows were learned against the old network.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import torch
from safetensors.torch import load_file

from daemon.nets.fast_net import StyleNet
from daemon.nets.model_files import write_model_files

KIND = "style-pack"
ROW_SUFFIXES = ("scale", "shift")


def is_pack(card: dict) -> bool:
    return isinstance(card, dict) and card.get("kind") == KIND


def row_names(net: StyleNet) -> list[str]:
    """The names of the network's per-style parameters (each [styles, channels])."""
    return [n for n, _ in net.named_parameters() if n.endswith(ROW_SUFFIXES)]


def file_digest(path: Path) -> str:
    """sha256 of a model file: what a pack records of the model it extends."""
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def rows_of(net: StyleNet, first: int, count: int = 1) -> dict[str, torch.Tensor]:
    """Rows `first` .. `first + count - 1` of every per-style parameter, detached copies."""
    params = dict(net.named_parameters())
    return {n: params[n][first : first + count].detach().clone() for n in row_names(net)}


def extended(net: StyleNet, packs: list[dict[str, torch.Tensor]]) -> StyleNet:
    """A new network: `net`'s weights (shared, not copied) with each pack's rows appended as
    more styles, in order. Raises ValueError when a pack's tensors do not fit the network."""
    extra = 0
    names = row_names(net)
    params = dict(net.named_parameters())
    for pack in packs:
        if set(pack) != set(names):
            raise ValueError("the pack's parameters are not the model's norm parameters")
        counts = {pack[n].shape[0] for n in names}
        if len(counts) != 1 or not all(
            pack[n].dim() == 2 and pack[n].shape[1] == params[n].shape[1] for n in names
        ):
            raise ValueError("the pack's rows do not fit the model's norm layers")
        extra += counts.pop()
    out = StyleNet(net.styles + extra, net.widths, net.residual_blocks, net.stem)
    out.to(next(net.parameters()).device)
    state = net.state_dict()
    with torch.no_grad():
        for name, p in out.named_parameters():
            if name in names:
                rows = [state[name]] + [pack[name].to(p) for pack in packs]
                p.copy_(torch.cat(rows))
            else:
                p.copy_(state[name])
    return out


def read_pack(path: Path, device: str | torch.device = "cpu") -> dict[str, torch.Tensor]:
    """A pack's rows (fp32)."""
    return {k: v.float() for k, v in load_file(str(path), device=str(device)).items()}


def save_pack(path: Path, rows: dict[str, torch.Tensor], card: dict) -> None:
    """Write a pack (rows in fp16, as the shipped models) and its card, each atomically."""
    tensors = {k: v.detach().half().contiguous().cpu() for k, v in rows.items()}
    path.parent.mkdir(parents=True, exist_ok=True)  # the user may have removed the folder
    write_model_files(path, tensors, dict(card, kind=KIND))

"""Lines along each edge of gatys results: the features over an image's last rows kept or cut.

Where a picture's side is not a multiple of VGG19's 16 px stride, the features over its last
rows and columns lie partly over the free border the objective optimises around it
(daemon.nets.vgg.inner_features). They were cut until 898082b, which left the bottom (right)
3-11 px with less style gradient and a line along that edge; now they count by their share.
This runs gatys (256 px, the bench's iterations) both ways on photos whose 256 px height is not
a multiple of 16 and prints bench/border.py's line score per edge (the strongest straight
dark/light line within the outer 8 px over the median row 16-48 px inside; the photo's own is
printed beside).

From the repository root:
    .venv/bin/python bench/edge_lines.py [--iterations 100]
"""

from __future__ import annotations

import daemon  # noqa: F401  (first: sets OMP_WAIT_POLICY as the daemon does)

# isort: split
import argparse
import logging
import statistics
import sys
from unittest import mock

import torch
from border import DATA, INNER, OUTER, stylise

from daemon.engines import gatys
from daemon.imaging.color import luminance
from daemon.io.images import read_image
from daemon.io.pixels import to_tensor
from daemon.nets import vgg
from daemon.optim.losses import resize_long_side
from daemon.pipeline import trim_edges

log = logging.getLogger("bench")
PAIRS = [  # 256 px heights 204 and 104: 12 and 8 px past a multiple of 16
    ("content/opencv_squirrel_cls.jpg", "style/hokusai_great_wave.png"),
    ("content/gc_people_music_ireland.jpg", "style/vangogh_starry_night.jpg"),
]


def cut(feats: dict, pad: int, size: tuple[int, int]) -> dict:
    """inner_features as it was: as many positions cut at the bottom/right as at the top/left."""
    out = {}
    for name, f in feats.items():
        c = pad // vgg.layer_stride(name)
        out[name] = f[..., c : f.shape[-2] - c, c : f.shape[-1] - c] if c else f
    return out


def edge_lines(rgb: torch.Tensor) -> dict[str, float]:
    """bench/border.py's line score for each edge on its own."""
    y = luminance(rgb)[0, 0].double()
    sides = {"top": y, "bottom": y.flip(0), "left": y.T, "right": y.T.flip(0)}
    outer, inner = {}, []
    for name, side in sides.items():
        steps = (side[1:] - side[:-1]).mean(1).abs()
        outer[name] = float(steps[:OUTER].max())
        inner += steps[INNER[0] : INNER[1]].tolist()
    median = max(statistics.median(inner), 1e-6)
    return {k: v / median for k, v in outer.items()}


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--iterations", type=int, default=100)
    p.add_argument("--side", type=int, default=256)
    args = p.parse_args(argv)
    rows = [
        "| pair | size | objective | top | bottom | left | right |",
        "|---|---|---|---:|---:|---:|---:|",
    ]
    for content, style in PAIRS:
        photo = resize_long_side(to_tensor(read_image(DATA / content)), args.side).clamp(0, 1)
        painting = trim_edges(to_tensor(read_image(DATA / style)))
        size = "x".join(str(s) for s in photo.shape[-1:-3:-1])
        name = f"{content.split('/')[-1]} × {style.split('/')[-1]}"
        results = [("photo", photo)]
        for label, fn in (("cut (before)", cut), ("kept, scaled (now)", vgg.inner_features)):
            with (  # the optimised canvas's features and the fixed pictures' (`padded`)
                mock.patch.object(gatys, "inner_features", fn),
                mock.patch.object(vgg, "inner_features", fn),
            ):
                gatys._TARGETS.clear()
                results.append((label, stylise(photo, painting, args.iterations, False)))
        for label, out in results:
            lines = edge_lines(out)
            rows.append(
                f"| {name} | {size} | {label} | "
                + " | ".join(f"{lines[k]:.1f}" for k in ("top", "bottom", "left", "right"))
                + " |"
            )
            log.info(rows[-1])
    print("\n".join(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Learned upscaler against Lanczos and bicubic: PSNR and SSIM at ×2 and ×4 on unseen photos.

The photos are the 4K+ pictures of ../shared/data/large, which the upscaler never saw in
training (it trains on ../shared/data/content). From each, CROPS crops of SIDE² px at the photo's
own resolution are the references; each is made ×2 (or ×4) smaller with antialiased bicubic
(the degradation everything in Impasto uses to make pictures smaller) and brought back by each
method. PSNR over RGB (0..1), SSIM on luminance (11 px Gaussian window, σ 1.5), medians and the
mean over crops; the learned ×4 is two ×2 steps. Wall time per output megapixel is the median
over the crops, on this machine, in this process.

A contact sheet (docs/gallery/upscale.jpg) shows 100% crops of a stylised picture (the README's
gatys result) brought up ×4 by each method, the way hires brings up its stylised thumbnail.

From the repository root:
    .venv/bin/python bench/upscale.py [--crops 4] [--side 512] [--no-write]
"""

from __future__ import annotations

import daemon  # noqa: F401  (first: sets OMP_WAIT_POLICY as the daemon does)

# isort: split
import argparse
import datetime as dt
import shlex
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from common import REPO, loadavg, machine, publish, revision
from PIL import Image, ImageDraw

from daemon.imaging.color import luminance
from daemon.imaging.upscale import UPSCALERS
from daemon.io.images import read_image
from daemon.io.pixels import to_tensor
from daemon.nets.upscale_net import SHIPPED
from daemon.optim.losses import psnr

BEGIN = "<!-- upscale:begin (written by bench/upscale.py) -->"
END = "<!-- upscale:end -->"
LARGE = REPO.parent / "shared" / "data" / "large"
STYLISED = REPO / "docs" / "images" / "mont-st-michel-starry-night.png"
METHODS = ("bicubic", "lanczos", "learned")


def ssim(a: torch.Tensor, b: torch.Tensor) -> float:
    """Mean SSIM of the luminance, Gaussian window 11 px σ 1.5 (Wang et al. 2004)."""
    x, y = luminance(a.clamp(0, 1)), luminance(b)
    g = torch.exp(-((torch.arange(11) - 5.0) ** 2) / (2 * 1.5**2))
    g = (g / g.sum())[None, None]
    win = (g[..., None] * g[..., None, :]).reshape(1, 1, 11, 11)

    def blur(t: torch.Tensor) -> torch.Tensor:
        return F.conv2d(t, win)

    mx, my = blur(x), blur(y)
    sxx, syy, sxy = blur(x * x) - mx * mx, blur(y * y) - my * my, blur(x * y) - mx * my
    c1, c2 = 0.01**2, 0.03**2
    s = ((2 * mx * my + c1) * (2 * sxy + c2)) / ((mx * mx + my * my + c1) * (sxx + syy + c2))
    return s.mean().item()


def crops(path: Path, count: int, side: int) -> list[torch.Tensor]:
    """`count` crops along the picture's diagonal, at the photo's own resolution."""
    rgb = to_tensor(read_image(path))
    h, w = rgb.shape[-2:]
    out = []
    for i in range(count):
        f = (i + 0.5) / count
        top, left = int((h - side) * f), int((w - side) * (1 - f))
        out.append(rgb[..., top : top + side, left : left + side].contiguous())
    return out


def smaller(hr: torch.Tensor, factor: int) -> torch.Tensor:
    h, w = hr.shape[-2:]
    size = (h // factor, w // factor)
    return F.interpolate(hr, size=size, mode="bicubic", antialias=True).clamp(0, 1)


def measure(refs: list[torch.Tensor], factor: int) -> dict[str, dict[str, list[float]]]:
    scores = {m: {"psnr": [], "ssim": [], "s_per_mp": []} for m in METHODS}
    for hr in refs:
        lr = smaller(hr, factor)
        for m in METHODS:
            t0 = time.perf_counter()
            out = UPSCALERS[m](lr, tuple(hr.shape[-2:]))
            seconds = time.perf_counter() - t0
            scores[m]["psnr"].append(psnr(out.clamp(0, 1), hr))
            scores[m]["ssim"].append(ssim(out, hr))
            scores[m]["s_per_mp"].append(seconds / (hr.shape[-1] * hr.shape[-2] / 1e6))
    return scores


def sheet(out: Path, factor: int = 4, crop: int = 192) -> None:
    """The stylised picture ×`factor` by each method: one 100% crop each, side by side."""
    img = to_tensor(read_image(STYLISED))[:, :3]
    h, w = img.shape[-2:]
    size = (h * factor, w * factor)
    top, left = size[0] // 2 - crop // 2, size[1] // 2 - crop // 2
    tiles = []
    for m in METHODS:
        big = UPSCALERS[m](img, size)[0, :, top : top + crop, left : left + crop]
        tiles.append(Image.fromarray(big.permute(1, 2, 0).mul(255).round().byte().numpy()))
    pad = 20
    board = Image.new("RGB", (len(tiles) * (crop + 8), crop + pad), "white")
    pen = ImageDraw.Draw(board)
    for i, (m, t) in enumerate(zip(METHODS, tiles, strict=True)):
        board.paste(t, (i * (crop + 8), pad))
        pen.text((i * (crop + 8) + 4, 4), f"{m} x{factor}", fill="black")
    board.convert("RGB").save(out, quality=90, optimize=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--crops", type=int, default=4, help="crops per photo")
    ap.add_argument("--side", type=int, default=512)
    ap.add_argument("--no-write", action="store_true", help="print, leave docs/ alone")
    args = ap.parse_args()
    photos = sorted(p for p in LARGE.iterdir() if p.suffix.lower() in (".jpg", ".png"))
    refs = [c for p in photos for c in crops(p, args.crops, args.side)]
    rows = []
    for factor in (2, 4):
        scores = measure(refs, factor)
        base = scores["lanczos"]["psnr"]
        for m in METHODS:
            s = scores[m]
            gain = [a - b for a, b in zip(s["psnr"], base, strict=True)]
            rows.append(
                f"| x{factor} | {m} | {statistics.median(s['psnr']):.2f} "
                f"| {statistics.fmean(s['psnr']):.2f} | {statistics.median(gain):+.2f} "
                f"| {min(gain):+.2f} | {statistics.median(s['ssim']):.4f} "
                f"| {statistics.median(s['s_per_mp']):.2f} |"
            )
    gallery = REPO / "docs" / "gallery" / "upscale.jpg"
    if not args.no_write:
        sheet(gallery)
    cmd = "python bench/upscale.py " + shlex.join(sys.argv[1:])
    text = "\n".join(
        [
            BEGIN,
            "## Learned upscaler vs Lanczos and bicubic",
            "",
            f"`{cmd.strip()}` on {dt.date.today()}, revision {revision()}, load {loadavg()}; "
            f"machine: {machine()}.",
            f"Model: `{SHIPPED.relative_to(REPO)}`. References: {len(refs)} crops of "
            f"{args.side}² px at native resolution from the {len(photos)} photos of "
            "`../shared/data/large` (never seen in training), made smaller with antialiased "
            "bicubic and brought back. PSNR over RGB in dB; gain = PSNR minus Lanczos' PSNR on "
            "the same crop (median and worst crop); SSIM on luminance.",
            "",
            "| factor | method | PSNR median | PSNR mean | gain vs Lanczos | worst gain "
            "| SSIM median | s per output MP |",
            "|---|---|---|---|---|---|---|---|",
            *rows,
            "",
            f"100% crops of a stylised picture brought up ×4: `{gallery.relative_to(REPO)}`.",
            END,
        ]
    )
    publish(text, None if args.no_write else REPO / "docs" / "benchmarks.md", BEGIN, END)
    return 0


if __name__ == "__main__":
    torch.set_grad_enabled(False)
    sys.exit(main())

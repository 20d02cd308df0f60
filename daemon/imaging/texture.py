"""The 100% view: full-resolution texture below the strokes of a result made at a working side.

Engines paint at a working side (fast mode at 384 px long side, gatys at 512, hires up to its top
refined level), so a stroke covers the same share of every picture. Enlarged to a 4K picture
those strokes alone are soft (fast mode's colour dither, which enlarging spread into
purple/yellow/green bands, is gone before this: the fast engine removes it at the working side,
daemon.imaging.chroma). This stage brings such a result to full size with texture that belongs
to its strokes:

1. The guided enlargement to full size (daemon.imaging.guided_upsample), as without the stage.
2. `add_texture`: a fast network runs at full size on that enlarged picture, tile by tile, and
   the fine band of its luminance is added:

       band = L − gaussian(L, σ_hi),   σ_hi = HIGH_SIGMA · full side / working side

   (the Gaussian computed at a quarter or half size for large σ: `lowpass`). The network is the
   model's texture network when it has one (a 4x cheaper student trained to paint this band:
   daemon.training.texture_student, models/texture/), else the model itself.

   where L is the network output's luminance with its decoder lattice removed (`delattice`).
   Coarser than σ_hi the strokes are the working side's; finer, the network paints them at
   100%. Only luminance is added (the same value to R, G and B moves Y alone): the network's
   chroma at full size is its dither again.

The network comes in as a callable, `paint(crop, box)`: its output on a crop of the enlarged
picture, `box` = (y0, y1, x0, x1) saying where the crop lies. The fast engine
(daemon.engines.fast.paint_texture) sizes the tiles from the memory budget as for its own pass:
the whole picture when it fits, else tiles through `texture_painter`, which shares norm
statistics recorded on a thumbnail so that tiles agree (on the CPU both run in ONNX Runtime, the
tiles' statistics as graph inputs). Tiles are read with
`margin(σ_hi) + network margin` px of context, enough for the network, `delattice` and the band
to compute each inner pixel as on the whole picture, so the result does not depend on the tile
size and shows no seams. Memory beyond the enlarged picture: one crop through the network and two
rows of tiles' bands (one channel each).

The result (bench/fine_view.py: two held-out photos x the 17 shipped styles, medians, the
shipped texture network with its band gain 1.2, the dither already removed at the working
side): fine gain 1.66 → 5.78 at 1920 px and 1.44 → 4.96 at 3840 px, fringe 0.05 → 0.01 and
0.06 → 0.01 (the paintings' own fringe: 0.00-0.15); Mona Lisa and Kazusa Sea Route stay below 4
(2.7-3.4). With the model itself painting the band (no texture network, an earlier run): 6.82 /
6.50. Its cost is one run of the texture network at full size: the whole fast job in process
(pipeline.run, u8 RGB, one style, medians) took 0.38 → 1.03 s at 1920 px and 1.39 → 4.06 s at
3840 px on this 2-core CPU (with the model itself in that earlier run, under load: 2.45 s and
9.3 s).

Chosen by measurement (fine gain / fringe, bench/view_measures.py; medians over the held-out
photos mate_LadyBird and plasma_Path x Starry Night, Great Wave, Kandinsky VIII and Mona Lisa,
impasto-17, 100% crops looked at). The enlargement alone: 1.66 / 0.32 at 1920 px, 1.41 / 0.19 at
3840 px; this stage: 6.21 / 0.007 and 5.55 / 0.005. At 1920 px, varying one choice at a time:
- σ_hi 0.5 / 0.75 / 1.0 x the enlargement: fine gain 5.95 / 6.21 / 5.75; the band scaled by
  0.8 / 1.2 instead of 1: 4.36 / 5.47 (texture beyond the painting's own is no closer to it);
- the result's chroma blurred at the working side by σ 0 / 0.5 / 1 / 1.5 / 2 px before the
  enlargement (σ_hi 0.5; this stage did it then, daemon.imaging.chroma does it now): fine gain
  3.33 / 4.30 / 5.77 / 5.10 / 4.64, fringe 0.033 / 0.022 / 0.007 / 0.003 / 0.002 (σ 0: the
  dither's bands stay, under the texture; at 3840 px σ 0 scored 5.66 / 0.012 against σ 1's
  5.55 / 0.005);
- without `delattice` 6-7% of the result's high-pass luminance energy lay at the lattice's
  frequencies (the photo: 0.05%; a wallpaper grid over flat areas), with it 0.02%, fine gain
  6.53 → 6.21; LATTICE_SIGMA 2 / 4 / 8 cells: fine gain 5.77 / 5.95 / 5.99 (σ_hi 0.5), alike
  to the eye, 1 cell 5.27. Averaging the network over inputs shifted by 2 px (four runs)
  removed the lattice too, at four times the cost, and softened the texture;
- two levels (the network at half size, then at full size, each adding its band) instead of one
  full-size pass: 5.54 at 1920 px and 6.07 at 3840 px (means 5.41 / 5.33 against one pass's
  5.89 / 5.48), at 1.25x the cost; the network at half size alone, its band enlarged: 2.82 /
  2.58, so the pass is at full size.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F

from daemon.imaging.color import luminance
from daemon.imaging.filters import gaussian_blur, gaussian_radius
from daemon.tiling import tile_grid
from shared.errors import JobCancelled

Box = tuple[int, int, int, int]  # y0, y1, x0, x1 in the full picture
Paint = Callable[[torch.Tensor, Box], torch.Tensor]

# The stage runs when the output's long side is more than this many times the working side.
# Below it the enlargement alone holds up at 100%, and Krita's and GIMP's live previews (512 px
# from fast mode's 384 px working side) stay as they were.
MIN_ENLARGEMENT = 1.5
HIGH_SIGMA = 0.75  # × the enlargement: where the network's full-size band begins
# The fast network's decoder (two nearest ×2 upsamplings) leaves a pattern locked to a 4 px grid
# in flat areas; `delattice` estimates it per phase of that grid over a Gaussian window of this
# many cells (σ), so it follows the lattice's changing strength but not the painting's texture
# (2 rather than 4: alike in the measures and to the eye, half the tiles' extra margin).
LATTICE = 4
LATTICE_SIGMA = 2.0
ALIGN = LATTICE  # tile origins keep the lattice's phase


def applies(full: tuple[int, int], working: tuple[int, int]) -> bool:
    """Whether a result made at `working` (h, w) and shown at `full` gets the stage."""
    return max(full) > MIN_ENLARGEMENT * max(working)


def high_sigma(full_side: int, working_side: int) -> float:
    """σ_hi of the band in full-size px: HIGH_SIGMA × the enlargement."""
    return HIGH_SIGMA * full_side / working_side


def margin(sigma_hi: float) -> int:
    """Context a tile needs beyond the network's own for `delattice` and the band."""
    need = gaussian_radius(sigma_hi) + 2 * ALIGN + gaussian_radius(LATTICE_SIGMA) * LATTICE
    return -(-need // ALIGN) * ALIGN


def delattice(x: torch.Tensor, sigma: float = LATTICE_SIGMA) -> torch.Tensor:
    """`x` [N,1,H,W] less its component locked to the LATTICE px grid: each of the grid's phases
    (LATTICE² sub-pictures, one pixel per cell) is blurred over σ cells, and where a phase's
    local mean departs from the mean of all phases that departure is taken away. Texture that is
    not locked to the grid averages out in every phase alike and stays."""
    n = LATTICE
    h, w = x.shape[-2:]
    ph, pw = (-h) % n, (-w) % n
    if ph or pw:  # reflect needs the room: pictures smaller than a cell are left as they are
        if ph >= h or pw >= w:
            return x
        x = F.pad(x, (0, pw, 0, ph), mode="reflect")
    b, hh, ww = x.shape[0], x.shape[-2] // n, x.shape[-1] // n
    phases = x.reshape(b, hh, n, ww, n).permute(0, 2, 4, 1, 3).reshape(b, n * n, hh, ww)
    local = gaussian_blur(phases, sigma)
    phases = phases - (local - local.mean(1, keepdim=True))
    out = phases.reshape(b, n, n, hh, ww).permute(0, 3, 1, 4, 2).reshape(b, 1, hh * n, ww * n)
    return out[..., :h, :w]


def fine_band(styled: torch.Tensor, sigma_hi: float) -> torch.Tensor:
    """The luminance band of the network's full-size output `styled` [1,3,H,W] finer than
    σ_hi, its lattice removed: [1,1,H,W]."""
    lum = delattice(luminance(styled.float()))
    return lum - lowpass(lum, sigma_hi)


def lowpass(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """`x` [N,C,H,W] blurred by about a Gaussian of σ px, computed at a quarter or half of the
    size for large σ (area down, Gaussian, bilinear up; the box and the interpolation count in
    the variance): 0.78 → 0.1 s for σ 7.5 at 3840x2160. The cells keep the picture's grid when
    a crop starts at a multiple of ALIGN, so tiles agree."""
    k = 4 if sigma >= 6 else 2 if sigma >= 3 else 1
    h, w = x.shape[-2:]
    if k == 1 or min(h, w) < 4 * k:
        return gaussian_blur(x, sigma)
    ph, pw = (-h) % k, (-w) % k
    small = F.avg_pool2d(F.pad(x, (0, pw, 0, ph), mode="reflect") if ph or pw else x, k)
    inner = math.sqrt(max(sigma**2 - (k * k - 1) / 6, (k / 2) ** 2)) / k
    small = gaussian_blur(small, inner)
    return F.interpolate(small, scale_factor=k, mode="bilinear", align_corners=False)[..., :h, :w]


def add_texture(
    picture: torch.Tensor,
    paint: Paint,
    sigma_hi: float,
    tile: int | None,
    net_margin: int,
    report: Callable[[str, float], None] | None = None,
    cancelled: Callable[[], bool] | None = None,
    gain: float = 1.0,
) -> torch.Tensor:
    """`picture` [1,3,H,W] (the enlarged result, changed in place) plus `gain` times the fine
    band of `paint`'s output on it, in tiles of `tile` px (None: one tile) read with
    `net_margin` + `margin(sigma_hi)` px of context; clamped to 0..1."""
    h, w = picture.shape[-2:]
    context = net_margin + margin(sigma_hi)
    # a row of tiles reads `context` px into the row above, whose bands wait until it is done
    side = max(h, w) if tile is None else max(tile, context)
    tiles = tile_grid(h, w, side, context, ALIGN)
    pending: list[tuple] = []  # the previous row's (tile, band) and the current row's
    row = None
    for i, t in enumerate(tiles):
        if cancelled is not None and cancelled():
            raise JobCancelled("cancelled")
        if t.iy0 != row:  # a new row: the one two rows up is no longer read
            _apply(picture, [p for p in pending if p[0].iy0 != row])
            pending = [p for p in pending if p[0].iy0 == row]
            row = t.iy0
        styled = paint(picture[..., t.y0 : t.y1, t.x0 : t.x1], (t.y0, t.y1, t.x0, t.x1))
        rows, cols = t.inner_in_crop
        band = fine_band(styled, sigma_hi)[..., rows, cols]
        pending.append((t, band.mul_(gain) if gain != 1 else band))
        del styled
        if report is not None:
            report(f"texture at full size: tile {i + 1}/{len(tiles)}", (i + 1) / len(tiles))
    _apply(picture, pending)
    return picture.clamp_(0, 1)


def _apply(picture: torch.Tensor, bands: list[tuple]) -> None:
    for t, band in bands:
        picture[..., t.iy0 : t.iy1, t.ix0 : t.ix1] += band.to(picture)

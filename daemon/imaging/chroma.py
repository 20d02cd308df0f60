"""Fast mode's colour dither, removed where the network makes it.

The fast network's output at its working side carries a woven purple/yellow/blue speckle over
everything: high-pass chroma as strong as the high-pass luminance (bench/view_measures.py's
fringe 0.81 at 384 px), where the paintings score 0.01-0.18 at 512 px. Its cause, measured: the
training, not the recent changes to the network. The conv-stem teacher the shipped network was
distilled from has it as strongly (fringe 0.807 against 0.806 over the 17 styles on a held-out
photo), so neither the patch stem nor the distillation made it. Its energy lies at 0.1-0.3
cycles per pixel (periods of 3-10 px; chroma over luma 0.75-1.3 there, 0.1 below 0.1 cycles),
not at the decoder's 4 px lattice or at Nyquist: the fine VGG layers' Gram matrices, which the
training matches, are met by colour speckle as well as by luminance texture. Retraining with a
chroma term needs a GPU; this removes it from the network's output instead, before anything
sees it (previews, the enlargement, video, the 100% view).

`clean_chroma` blurs the chroma (YIQ's I and Q) by a Gaussian of SIGMA px and leaves the
luminance as it is. Chosen by measurement (bench/fast_quality.py's figures at 512 px, medians
over the 17 styles on held-out photos; the network at 384 px, then guided to 512 px). On jaguar
and Mount Rushmore:

    chroma filter                          fringe at 384 px   style gain at 512 px
    none                                   0.81               2.74
    Gaussian σ 1                           0.16               3.89
    Gaussian σ 1.5                         0.04               3.50
    guided filter on Y, r 2, ε 1e-3/1e-2   0.13 / 0.05        3.38 / 3.22

and on cheetah and Chenonceau, Gaussian σ 1 / 1.15 / 1.3: fringe 0.17 / 0.11 / 0.07, gain
4.09 / 3.96 / 3.80 (each photo alike). Texture identification did not move. The dither cost
style gain (the paintings' fine colour is calm); past σ 1 the blur takes real colour detail
too. σ 1.15 keeps the fringe under the 0.15 target with a margin for 3% of the gain. The guided
filter (chroma fitted on the result's own luminance) kept colour edges sharper to the eye but
scored lower. Over the 100% view's bench (bench/fine_view.py, two held-out photos x 17 styles)
the network's output at 384 px went from fringe 0.83 to 0.12, and on five photos nothing was
tuned on (bench/fast_quality.py --photos untuned) the style gain at 512 px from 3.12 to 3.98.

Large pictures (a job's `size` can make the working side full size) are done in bands of rows
with the blur's reach as context, so memory stays at a band's worth and the result equals the
whole-picture one.
"""

from __future__ import annotations

import torch

from daemon.imaging.color import rgb_to_yiq, yiq_to_rgb
from daemon.imaging.filters import gaussian_blur, gaussian_radius

SIGMA = 1.15  # px at the working side
BAND_PIXELS = 1 << 20  # pixels per band of rows


def clean_chroma(x: torch.Tensor, sigma: float = SIGMA) -> torch.Tensor:
    """RGB `x` [N,3,H,W] (0..1) with its chroma blurred by σ px, its luminance unchanged."""
    h, w = x.shape[-2:]
    context = gaussian_radius(sigma)
    rows = max(4 * context, BAND_PIXELS // w)
    if h <= rows:
        return _clean(x, sigma)
    out = torch.empty_like(x)
    for y0 in range(0, h, rows):
        y1 = min(h, y0 + rows)
        top, bottom = max(0, y0 - context), min(h, y1 + context)
        band = _clean(x[..., top:bottom, :], sigma)
        out[..., y0:y1, :] = band[..., y0 - top : y1 - top, :]
    return out


def _clean(x: torch.Tensor, sigma: float) -> torch.Tensor:
    yiq = rgb_to_yiq(x.float())
    yiq[:, 1:] = gaussian_blur(yiq[:, 1:], sigma)
    return yiq_to_rgb(yiq).clamp_(0, 1).to(x.dtype)

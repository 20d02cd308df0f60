"""The photo look: a reference's colour and tone on a photo, with no painterly distortion.

Every output pixel is a locally affine function of the photo's colour, `out = A(x)·rgb + b(x)`
with A (3x3) and b varying smoothly over the picture: the constraint of Luan et al.'s matting
Laplacian ("Deep Photo Style Transfer", 2017), met here by its fast approximation, the colour
guided filter (He et al. 2010; FastPhotoStyle, Li et al. 2018, reports nearly the same result in
milliseconds). Edges, text and faces stay where and as sharp as in the photo, because they come
from the photo's own pixels; only their colour mapping changes.

What the affine maps are fitted to (`photo_look`):
1. the engine's result at its working size (gatys or fast mode with the reference as the style):
   where the network or the optimisation put which colour of the reference;
2. that result's Lab pixel distribution moved onto the reference's (sliced optimal transport,
   Pitié et al. 2007, "Automated colour grading using colour distribution transfer"): the look's
   full distribution, not only its mean and covariance;
3. the colour guided filter at the working size, photo as guide, then its coefficients enlarged
   and applied to the full-size photo (the fast guided filter, He & Sun 2015).
Steps 2–3 repeat `ROUNDS` times: the fit smooths the distribution a little, the next transfer
moves it back. bench/photoreal.py measured the choices (docs/benchmarks.md).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from daemon.imaging.color import YIQ_TO_RGB, rgb_to_yiq
from daemon.imaging.lab import lab_to_rgb, rgb_to_lab

RADIUS = 4  # px at the working size: the guided filter's window radius
EPS = 1e-3  # regularisation of the fit: larger flattens the map towards a local constant
# the colour's (YIQ I, Q) regularisation: the photo's fine luma detail barely enters the colour,
# so a steep recolouring does not turn its grain and JPEG noise into colour speckle (the 100%
# fringe score on 4 pairs: +0.003 to +0.12 over the photo's with EPS, −0.04 to +0.004 with this)
EPS_CHROMA = 0.1
ROUNDS = 2
OT_ITERATIONS = 12  # random rotations of the sliced transfer per round
REFERENCE_SIDE = 512  # px: a reference's colours are read at most this large
SAMPLES = 1 << 15  # pixels drawn from the references for their distribution
SEED = 20240531  # fixed: the same job gives the same look, frame after frame


def _box(x: torch.Tensor, r: int) -> torch.Tensor:
    """Mean over (2r+1)² windows, the borders replicated: running sums along each axis, so the
    cost does not grow with the window."""
    for dim in (-1, -2):
        n = x.shape[dim]
        first, last = x.narrow(dim, 0, 1), x.narrow(dim, n - 1, 1)
        zero = torch.zeros_like(first)
        rep = [1] * x.dim()
        rep[dim] = r
        sums = torch.cat([zero, first.repeat(rep), x, last.repeat(rep)], dim).cumsum(dim)
        x = (sums.narrow(dim, 2 * r + 1, n) - sums.narrow(dim, 0, n)) / (2 * r + 1)
    return x


def affine_fit(
    target: torch.Tensor,
    guide: torch.Tensor,
    radius: int = RADIUS,
    eps: float = EPS,
    eps_chroma: float | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The colour guided filter's coefficients: A [1,3,3,h,w] (out channel, guide channel) and
    b [1,3,h,w], averaged over the windows, such that A·guide + b ≈ target locally. With
    `eps_chroma` the target's chroma (YIQ I and Q) is fitted with that regularisation and its
    luma with `eps`: a larger one passes less of the photo's fine detail into the colour."""
    if eps_chroma is not None and target.shape[1] == 3:
        ycc = rgb_to_yiq(target.double())
        ay, by = affine_fit(ycc[:, :1], guide, radius, eps)
        ac, bc = affine_fit(ycc[:, 1:], guide, radius, eps_chroma)
        back = YIQ_TO_RGB.double()
        a = torch.einsum("oc,nciyx->noiyx", back, torch.cat([ay, ac], 1).double())
        b = torch.einsum("oc,ncyx->noyx", back, torch.cat([by, bc], 1).double())
        return a.float(), b.float()
    r = max(1, min(radius, (min(guide.shape[-2:]) - 1) // 2))
    g, p = guide.double(), target.double()
    mean_g, mean_p = _box(g, r), _box(p, r)
    cov = torch.stack(
        [
            torch.stack([_box(g[:, i : i + 1] * g[:, j : j + 1], r)[:, 0] for j in range(3)], -1)
            for i in range(3)
        ],
        -2,
    )  # fmt: skip  [1,h,w,3,3]
    mg = mean_g.permute(0, 2, 3, 1)  # [1,h,w,3]
    cov = cov - mg.unsqueeze(-1) * mg.unsqueeze(-2) + eps * torch.eye(3, dtype=cov.dtype)
    cross = torch.stack(
        [
            torch.stack([_box(p[:, c : c + 1] * g[:, i : i + 1], r)[:, 0] for i in range(3)], -1)
            for c in range(p.shape[1])
        ],
        -2,
    )  # fmt: skip  [1,h,w,C,3]
    mp = mean_p.permute(0, 2, 3, 1)
    cross = cross - mp.unsqueeze(-1) * mg.unsqueeze(-2)
    a = torch.linalg.solve(cov, cross.transpose(-1, -2)).transpose(-1, -2)  # [1,h,w,C,3]
    b = mp - (a @ mg.unsqueeze(-1)).squeeze(-1)
    a = a.permute(0, 3, 4, 1, 2).flatten(1, 2)  # [1,C*3,h,w]
    a = _box(a, r).float().unflatten(1, (p.shape[1], 3))
    return a, _box(b.permute(0, 3, 1, 2), r).float()


def apply_affine(a: torch.Tensor, b: torch.Tensor, photo: torch.Tensor) -> torch.Tensor:
    """A·photo + b with the coefficients enlarged (bilinear) to the photo's size, a channel at a
    time (a full-size photo is large)."""
    size = tuple(photo.shape[-2:])
    out = torch.empty_like(photo, dtype=torch.float32)
    for c in range(a.shape[1]):
        acc = _up(b[:, c : c + 1], size)
        for i in range(3):
            acc.addcmul_(_up(a[:, c, i : i + 1], size), photo[:, i : i + 1].float())
        out[:, c : c + 1] = acc
    return out.clamp_(0, 1)


def _fit(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    return x if tuple(x.shape[-2:]) == size else F.interpolate(x, size=size, mode="area")


def _up(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    if tuple(x.shape[-2:]) == size:
        return x.clone()
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False)


def reference_pixels(picture: torch.Tensor, samples: int = SAMPLES) -> torch.Tensor:
    """Lab pixels [n,3] of a reference picture (at most REFERENCE_SIDE px long): all of them, or
    `samples` drawn at random (with a fixed seed) from a larger one."""
    scale = REFERENCE_SIDE / max(picture.shape[-2:])
    if scale < 1:
        picture = F.interpolate(picture.float(), scale_factor=scale, mode="area")
    lab = rgb_to_lab(picture.float()).flatten(2)[0].T  # [HW,3]
    if len(lab) <= samples:
        return lab
    gen = torch.Generator().manual_seed(SEED)
    return lab[torch.randint(len(lab), (samples,), generator=gen)]


def transfer_distribution(
    x: torch.Tensor, ref: torch.Tensor, iterations: int = OT_ITERATIONS, seed: int = SEED
) -> torch.Tensor:
    """Points `x` [n,3] moved so that their distribution matches `ref` [m,3]: along each axis of
    `iterations` random rotations, every point takes the reference's value at its own rank."""
    gen = torch.Generator().manual_seed(seed)
    x = x.float().clone()
    ref = ref.float()
    n, m = len(x), len(ref)
    for _ in range(iterations):
        q, _ = torch.linalg.qr(torch.randn(3, 3, generator=gen))
        px, pr = x @ q, ref @ q
        sorted_ref, _ = pr.sort(0)
        order = px.argsort(0)
        pos = torch.linspace(0, m - 1, n)
        lo = pos.floor().long()
        hi = (lo + 1).clamp(max=m - 1)
        frac = (pos - lo).unsqueeze(1)
        values = sorted_ref[lo] * (1 - frac) + sorted_ref[hi] * frac  # [n,3]
        moved = torch.empty_like(px)
        moved.scatter_(0, order, values)
        x += (moved - px) @ q.T
    return x


def follow_order(values: torch.Tensor, key: torch.Tensor) -> torch.Tensor:
    """`values` [n] redistributed so that they rise with `key` [n]: the pixel with the k-th
    smallest key gets the k-th smallest value (the same values, so the same distribution)."""
    out = torch.empty_like(values)
    out[key.argsort()] = values.sort().values
    return out


def regions(
    shares: Sequence[float], maps: Sequence[torch.Tensor | None] | None, size: tuple[int, int]
) -> torch.Tensor:
    """Which style leads at each pixel [h*w] (long): the largest share × map (a style with no map
    counts its share everywhere); −1 where no style reaches."""
    if maps is None:
        return torch.zeros(size[0] * size[1], dtype=torch.long)
    guides = torch.stack(
        [
            torch.full(size, s) if m is None else s * _fit(m.float(), size)[0, 0]
            for s, m in zip(shares, maps, strict=True)
        ]
    ).flatten(1)
    best, label = guides.max(0)
    return torch.where(best > 0, label, -1)


def photo_look(
    stylised: torch.Tensor,
    photo_small: torch.Tensor,
    photo_full: torch.Tensor,
    references: Sequence[torch.Tensor | None],
    shares: Sequence[float] | None = None,
    maps: Sequence[torch.Tensor | None] | None = None,
    rounds: int = ROUNDS,
    radius: int | None = None,
    eps: float = EPS,
    monotone: bool = True,
    eps_chroma: float | None = EPS_CHROMA,
) -> torch.Tensor:
    """The photo (`photo_full` [1,3,H,W]) with the look of the engine's `stylised` result, made
    from `photo_small` (the same size as it). `references`: per style of the blend, its picture
    (RGB) or None; with every picture known, the result's colour distribution is moved onto the
    share-weighted mix of theirs (with `maps`, per region: each pixel onto the picture of the
    style leading there). `radius`: the fit's window at the working size (None: `radius_for`)."""
    guide = photo_small.float()
    target = stylised.float()
    shares = list(shares) if shares is not None else [1.0] * len(references)
    size = tuple(guide.shape[-2:])
    radius = radius_for(max(size)) if radius is None else radius
    groups = _groups(references, shares, maps, size)
    lightness = rgb_to_lab(guide)[0, 0].flatten() if groups and monotone else None
    for _ in range(max(1, rounds)):
        if groups:
            lab = rgb_to_lab(target)
            flat = lab.flatten(2)[0].T.contiguous()  # [hw,3]
            for where, ref in groups:
                moved = transfer_distribution(flat[where], ref)
                if lightness is not None:
                    moved[:, 0] = follow_order(moved[:, 0], lightness[where])
                flat[where] = moved
            target = lab_to_rgb(flat.T.reshape_as(lab))
        a, b = affine_fit(target, guide, radius, eps, eps_chroma)
        target = apply_affine(a, b, guide)
    return apply_affine(a, b, photo_full)


def _groups(
    references: Sequence[torch.Tensor | None],
    shares: Sequence[float],
    maps: Sequence[torch.Tensor | None] | None,
    size: tuple[int, int],
) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """(pixel indices, reference Lab pixels) for each region whose look is moved: none unless
    every style has a picture. Without maps one region: the whole picture, onto the pictures'
    mix (each sampled in proportion to its share)."""
    if not references or any(r is None for r in references):
        return []
    if maps is None or all(m is None for m in maps):
        total = sum(shares)
        mix = [
            reference_pixels(r, max(1, round(SAMPLES * s / total)))
            for r, s in zip(references, shares, strict=True)
            if s > 0
        ]
        return [(torch.arange(size[0] * size[1]), torch.cat(mix))]
    label = regions(shares, maps, size)
    out = []
    for k, ref in enumerate(references):
        where = (label == k).nonzero()[:, 0]
        if len(where):
            out.append((where, reference_pixels(ref)))
    return out


def radius_for(side: int) -> int:
    """The fit's window radius for a working long side: RADIUS at 256 px, in proportion."""
    return max(1, round(RADIUS * side / 256))

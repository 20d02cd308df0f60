"""Colour preservation (Gatys et al., "Preserving Color in Neural Artistic Style Transfer").

`luminance`: stylise only the luminance (YIQ Y) and keep the content's chroma.
`histogram`: give the style image the content's colour mean and covariance before the run.
The job pipeline calls `prepare_*` before any engine and `finish` after it, so every engine gets
colour preservation the same way.
"""

from __future__ import annotations

import torch

RGB_TO_YIQ = torch.tensor(
    [[0.299, 0.587, 0.114], [0.595716, -0.274453, -0.321263], [0.211456, -0.522591, 0.311135]]
)
YIQ_TO_RGB = torch.linalg.inv(RGB_TO_YIQ)


def _mix(matrix: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    return torch.einsum("ij,njhw->nihw", matrix.to(x), x)


def rgb_to_yiq(x: torch.Tensor) -> torch.Tensor:
    return _mix(RGB_TO_YIQ, x)


def yiq_to_rgb(x: torch.Tensor) -> torch.Tensor:
    return _mix(YIQ_TO_RGB, x)


def luminance(x: torch.Tensor) -> torch.Tensor:
    """Y of YIQ as a [N,1,H,W] tensor (one channel's memory: no full YIQ in between)."""
    return _mix(RGB_TO_YIQ[:1], x)


def _stats(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    flat = x.flatten(2)[0].double()  # [C, HW]
    mean = flat.mean(1, keepdim=True)
    centred = flat - mean
    cov = centred @ centred.T / flat.shape[1]
    return mean, cov


def _sqrtm(cov: torch.Tensor, inverse: bool = False) -> torch.Tensor:
    vals, vecs = torch.linalg.eigh(cov)
    vals = vals.clamp_min(1e-8)
    vals = vals.rsqrt() if inverse else vals.sqrt()
    return vecs @ torch.diag(vals) @ vecs.T


def match_color(source: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """`source` recoloured to the channel mean and covariance of `target` (both [1,C,H,W])."""
    mean_s, cov_s = _stats(source)
    mean_t, cov_t = _stats(target)
    transform = _sqrtm(cov_t) @ _sqrtm(cov_s, inverse=True)
    flat = source.flatten(2)[0].double()
    out = transform @ (flat - mean_s) + mean_t
    return out.float().view_as(source).clamp(0, 1)


def prepare_content(content: torch.Tensor, mode: str) -> torch.Tensor:
    """The content as the engine should see it."""
    if mode == "luminance":
        return luminance(content).clamp(0, 1).expand(-1, 3, -1, -1).contiguous()
    return content


def prepare_style(style: torch.Tensor, content: torch.Tensor, mode: str) -> torch.Tensor:
    """The style image as the engine should see it, given the content."""
    if mode == "histogram":
        return match_color(style, content)
    if mode == "luminance":
        grey = match_color(luminance(style), luminance(content))
        return grey.expand(-1, 3, -1, -1).contiguous()
    return style


def finish(
    stylised: torch.Tensor, content: torch.Tensor, mode: str, styles_matched: bool = True
) -> torch.Tensor:
    """Recombine after the engine: luminance mode keeps the content's I and Q channels; histogram
    mode, when the styles could not be recoloured beforehand (a trained model's styles), gives
    the result the content's colour mean and covariance instead."""
    if mode == "histogram" and not styles_matched:
        return match_color(stylised, content)
    if mode != "luminance":
        return stylised
    y = luminance(stylised)
    iq = rgb_to_yiq(content)[:, 1:]
    return yiq_to_rgb(torch.cat([y, iq], 1))

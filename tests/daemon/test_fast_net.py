import pytest
import torch
import torch.nn.functional as F

from daemon.nets.fast_net import StyleNet, mix_weights


def randomised(net: StyleNet, seed: int = 0) -> StyleNet:
    """Give every style its own random norm parameters (fresh nets start identical)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for norm in net.norms():
            norm.scale.copy_(1 + 0.5 * torch.randn(norm.scale.shape, generator=g))
            norm.shift.copy_(0.5 * torch.randn(norm.shift.shape, generator=g))
    return net.eval()


def test_one_hot_weights_reproduce_that_single_style_exactly():
    torch.manual_seed(0)
    multi = randomised(StyleNet(3, widths=(8, 8, 8), residual_blocks=1))
    single = StyleNet(1, widths=(8, 8, 8), residual_blocks=1)
    state = multi.state_dict()
    single.load_state_dict(
        {k: (v[1:2] if k.endswith(("scale", "shift")) else v) for k, v in state.items()}
    )
    x = torch.rand(2, 3, 30, 41)
    with torch.inference_mode():
        assert torch.equal(multi(x, torch.tensor([0.0, 1.0, 0.0])), single(x, torch.tensor([1.0])))


def test_a_blend_differs_from_both_styles_and_any_size_comes_back_unchanged_in_shape():
    net = randomised(StyleNet(2, widths=(8, 8, 8), residual_blocks=1))
    x = torch.rand(1, 3, 37, 50)
    with torch.inference_mode():
        a, b = net(x, torch.tensor([1.0, 0.0])), net(x, torch.tensor([0.0, 1.0]))
        mid = net(x, torch.tensor([0.5, 0.5]))
    assert mid.shape == x.shape and 0 <= mid.min() and mid.max() <= 1
    assert (mid - a).abs().mean() > 1e-3 and (mid - b).abs().mean() > 1e-3


def test_weights_are_normalised_and_validated():
    assert torch.allclose(
        mix_weights(torch.tensor([2.0, 6.0]), 2, 2), torch.tensor([[0.25, 0.75]] * 2)
    )
    for bad in ([0.0, 0.0], [-1.0, 2.0], [float("nan"), 1.0], [1.0, 1.0, 1.0]):
        with pytest.raises(ValueError):
            mix_weights(torch.tensor(bad), 1, 2)


@pytest.mark.parametrize("stem", ["conv", "patch"])
@pytest.mark.parametrize("size", [(16, 16), (20, 36), (64, 44)])
def test_the_inference_graph_computes_the_network_exactly(size, stem):
    """The phase-form rewrite the CPU runs (sub-pixel decoder, 5x5 output layer at half size)
    is the same function as the network, borders included, for blends of randomised styles."""
    from daemon.nets.fast_graph import InferenceGraph

    net = StyleNet(3, widths=(8, 16, 16), residual_blocks=1, stem=stem)
    net = randomised(net, seed=4).eval()
    gen = torch.Generator().manual_seed(5)
    x = torch.rand(1, 3, *size, generator=gen)
    blend = mix_weights(torch.tensor([[0.2, 0.5, 0.3]]), 1, 3)
    with torch.inference_mode():
        expect = net(x, blend)
        got = InferenceGraph(net)(x, blend)
    assert got.shape == expect.shape
    torch.testing.assert_close(got, expect, rtol=0, atol=2e-6)


def test_the_patch_stem_centres_each_half_size_pixel_on_an_even_input_pixel():
    """Output pixel i of the patch stem sees input pixels 2i-5..2i+5 (its 7x7 stride-2 and 3x3
    convolutions), centred on 2i as the conv stem's are: a change at input pixel 32 reaches
    half-size pixels 14..18, symmetric about 16."""
    from daemon.nets.fast_net import PatchStem

    stem = PatchStem(4, 4, 1).eval()
    with torch.no_grad():
        for p in stem.parameters():
            p.copy_(torch.rand_like(p) + 0.1)  # positive: no cancellation, ReLUs pass
    x = torch.zeros(1, 3, 64, 64)
    weights = torch.ones(1, 1)
    base = stem.conv(F.relu(stem.patch(stem.pad(x))))
    x[..., 32, 32] = 1
    changed = (stem.conv(F.relu(stem.patch(stem.pad(x)))) - base).abs().sum((0, 1)) > 0
    rows = changed.any(1).nonzero().flatten().tolist()
    cols = changed.any(0).nonzero().flatten().tolist()
    assert rows == cols == list(range(14, 19))
    assert stem(x, weights).shape[-2:] == (32, 32)


def test_a_model_file_keeps_its_stem(tmp_path):
    from daemon.nets.model_files import load_model, save_model

    net = randomised(StyleNet(2, widths=(8, 8, 8), residual_blocks=1, stem="patch"))
    save_model(tmp_path / "m.safetensors", net, {"styles": []})
    loaded, card, _ = load_model(tmp_path / "m.safetensors")
    assert card["architecture"]["stem"] == loaded.stem == "patch"
    x = torch.rand(1, 3, 24, 24)
    with torch.inference_mode():
        torch.testing.assert_close(
            loaded(x, torch.tensor([1.0, 0.0])), net(x, torch.tensor([1.0, 0.0]))
        )
    with pytest.raises(ValueError, match="unknown stem"):
        StyleNet(1, stem="pixel")


@pytest.mark.parametrize("stem", ["conv", "patch"])
def test_onnx_runtime_runs_either_stem_as_pytorch_does_at_any_size(stem):
    from daemon.nets.fast_onnx import OnnxNet

    net = randomised(StyleNet(3, widths=(8, 16, 16), residual_blocks=1, stem=stem), seed=6)
    runner = OnnxNet(net, threads=1)
    gen = torch.Generator().manual_seed(7)
    for h, w in ((17, 30), (32, 32), (45, 61)):
        x = torch.rand(1, 3, h, w, generator=gen)
        blend = torch.tensor([0.6, 0.0, 0.4])
        with torch.inference_mode():
            expect = net(x, blend)
        torch.testing.assert_close(runner(x, blend), expect, rtol=0, atol=1e-4)


def test_the_inference_graph_refuses_sides_that_are_not_multiples_of_4():
    from daemon.nets.fast_graph import InferenceGraph

    net = StyleNet(1, widths=(8, 8, 8), residual_blocks=1)
    with pytest.raises(ValueError, match="multiples of 4"):
        InferenceGraph(net)(torch.rand(1, 3, 18, 20), torch.ones(1, 1))


@pytest.mark.parametrize("stem", ["conv", "patch"])
def test_onnx_runtime_replays_recorded_statistics_as_pytorch_does(stem):
    """Tiles on the CPU run in ONNX Runtime with a thumbnail's norm statistics as graph inputs."""
    from daemon.nets.fast_net import NormStats
    from daemon.nets.fast_onnx import OnnxNet

    net = randomised(StyleNet(3, widths=(8, 16, 16), residual_blocks=2, stem=stem), seed=8)
    runner = OnnxNet(net, threads=1, replay=True)
    gen = torch.Generator().manual_seed(9)
    blend = torch.tensor([0.3, 0.7, 0.0])
    stats = NormStats()
    with torch.inference_mode():
        net(torch.rand(1, 3, 40, 56, generator=gen), blend, stats)
        for h, w in ((17, 30), (48, 64)):
            x = torch.rand(1, 3, h, w, generator=gen)
            expect = net(x, blend, stats.replay())
            torch.testing.assert_close(runner(x, blend, stats), expect, rtol=0, atol=1e-4)
            # its own statistics would differ: the replayed ones are really used
            assert (net(x, blend) - expect).abs().max() > 1e-3
    with pytest.raises(ValueError, match="takes statistics"):
        runner(x, blend)

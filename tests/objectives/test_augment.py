"""Spec of the critic's input augmentation: DiffAugment's ops in closed form, their random draws, their
gradients, the adaptive controller's update of p, and D∘T in the training step."""

import numpy as np
import pytest
import torch
from torch.testing import assert_close

from ganrun.base.errors import UsageError
from ganrun.objectives import augment
from ganrun.objectives.augment import Adaptive, Augment, Augmented, DiffAugment, augmented


def images(n=4, channels=3, size=8, seed=0, dtype=torch.float64) -> torch.Tensor:
    return torch.rand(n, channels, size, size, generator=torch.Generator().manual_seed(seed), dtype=dtype) * 2 - 1


def shifted(image: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """A plain reference: out[y, x] = image[y − dy, x − dx], 0 where that is outside the image."""
    out = np.zeros_like(image)
    h, w = image.shape[-2:]
    for y in range(h):
        for x in range(w):
            if 0 <= y - dy < h and 0 <= x - dx < w:
                out[..., y, x] = image[..., y - dy, x - dx]
    return out


# ---------------------------------------------------------------- the ops, with given parameters


def test_color_ops_in_closed_form():
    x, r = images(), torch.tensor([0.0, 0.25, 0.5, 0.9], dtype=torch.float64).view(4, 1, 1, 1)
    assert_close(augment.brightness(x, r), x + r - 0.5)
    channel_mean = x.mean(1, keepdim=True)
    assert_close(augment.saturation(x, r), channel_mean + (x - channel_mean) * 2 * r)
    image_mean = x.mean((1, 2, 3), keepdim=True)
    assert_close(augment.contrast(x, r), image_mean + (x - image_mean) * (r + 0.5))
    # Each image keeps its own mean under contrast; saturation keeps each pixel's channel mean.
    assert_close(augment.contrast(x, r).mean((1, 2, 3)), x.mean((1, 2, 3)))
    assert_close(augment.saturation(x, r).mean(1), x.mean(1))


def test_saturation_is_the_identity_on_one_channel():
    gray = images(channels=1)
    assert_close(augment.saturation(gray, torch.rand(4, 1, 1, 1, dtype=torch.float64)), gray)


@pytest.mark.parametrize("channels", [1, 3])
def test_translation_against_a_plain_reference(channels):
    x = images(n=5, channels=channels, size=6)
    shift = torch.tensor([[0, 0], [1, -2], [-3, 3], [6, 0], [-1, -1]])
    out = augment.translation(x, shift).numpy()
    for i, (dy, dx) in enumerate(shift.tolist()):
        np.testing.assert_array_equal(out[i], shifted(x[i].numpy(), dy, dx))


def test_cutout_against_a_plain_reference():
    x = images(n=3, size=8)
    center, size = torch.tensor([[4, 4], [0, 7], [8, 1]]), (4, 4)
    out = augment.cutout(x, center, size).numpy()
    for i, (cy, cx) in enumerate(center.tolist()):
        expected = x[i].numpy().copy()
        expected[:, max(cy - 2, 0) : cy + 2, max(cx - 2, 0) : cx + 2] = 0  # rows cy−2 … cy+1, clipped at the border
        np.testing.assert_array_equal(out[i], expected)
    assert (out[0] == 0).sum() == 3 * 16  # a hole fully inside: size² pixels in each channel


# ---------------------------------------------------------------- random draws


@pytest.mark.parametrize("channels,size", [(1, 28), (3, 32)])
@pytest.mark.parametrize("op", ["brightness", "saturation", "contrast", "translation", "cutout"])
def test_each_op_keeps_the_shape_and_draws_per_sample(op, channels, size):
    x = images(n=16, channels=channels, size=size, dtype=torch.float32)[:1].expand(16, -1, -1, -1)  # one image ×16
    torch.manual_seed(0)
    out = augment.random_op(op, x)
    assert out.shape == x.shape and out.dtype == x.dtype
    if op == "saturation" and channels == 1:
        assert_close(out, x)  # nothing to saturate in gray images
    else:  # the same image, augmented 16 times: (nearly) all different
        assert len({tuple(o.flatten().tolist()) for o in out}) >= 12


def test_random_translation_stays_within_an_eighth_of_the_image():
    x = torch.zeros(200, 1, 32, 32)
    x[:, :, 16, 16] = 1  # one bright pixel: where it lands is the shift
    torch.manual_seed(0)
    out = augment.random_op("translation", x)
    where = torch.nonzero(out[:, 0] == 1)[:, 1:] - 16
    assert len(where) == 200 and where.abs().max().item() == 4  # int(32/8 + 0.5): −4 … 4, all reached
    assert set(where[:, 0].tolist()) == set(range(-4, 5)) and set(where[:, 1].tolist()) == set(range(-4, 5))


def test_random_cutout_hides_a_square_of_half_the_side():
    x = torch.ones(300, 3, 32, 32)
    torch.manual_seed(0)
    hidden = (augment.random_op("cutout", x)[:, 0] == 0).sum((1, 2))
    assert hidden.max().item() == 16 * 16  # inside: exactly (32/2)²
    assert hidden.min().item() >= 8 * 8  # a corner: at least a quarter of it


def test_random_color_ranges():
    x = torch.zeros(500, 3, 4, 4)
    torch.manual_seed(0)
    shift = augment.random_op("brightness", x)[:, 0, 0, 0]
    assert -0.5 <= shift.min().item() < -0.45 and 0.45 < shift.max().item() < 0.5  # U[−0.5, 0.5)
    ramp = torch.linspace(-1, 1, 16).view(1, 1, 4, 4).expand(500, 3, 4, 4)
    scale = augment.random_op("contrast", ramp)[:, 0, 3, 3]  # the top value, its image's mean is 0
    assert 0.5 <= scale.min().item() < 0.55 and 1.45 < scale.max().item() < 1.5


@pytest.mark.parametrize("op", ["brightness", "saturation", "contrast", "translation", "cutout"])
def test_each_op_is_differentiable_gradcheck(op):
    x = images(n=3, size=6).requires_grad_(True)

    def fixed_draws(inp):  # the same random parameters at every evaluation gradcheck makes
        torch.manual_seed(1)
        return augment.random_op(op, inp)

    assert torch.autograd.gradcheck(fixed_draws, (x,))


def test_policies_are_parsed_and_checked():
    assert DiffAugment("color,translation,cutout").ops == (
        "brightness",
        "saturation",
        "contrast",
        "translation",
        "cutout",
    )
    assert DiffAugment("translation").ops == ("translation",)
    with pytest.raises(
        UsageError,
        match=r"augment.policy=color,flip is not allowed: give a comma-separated subset "
        r"of color,translation,cutout",
    ):
        DiffAugment("color,flip")


# ---------------------------------------------------------------- adaptive p


def test_adaptive_p_moves_towards_the_target_by_the_papers_step():
    ada = Adaptive(target=0.6, speed_kimg=0.5, interval=2)  # p crosses [0, 1] in 500 images
    batch = torch.ones(10, 1)  # r_t = 1 > 0.6: the critic is overfitting
    ada.observe(batch)
    assert ada.p.item() == 0  # only every `interval` batches
    ada.observe(batch)
    assert ada.p.item() == pytest.approx(20 / 500)  # +sign(1 − 0.6)·20 images / 500
    for _ in range(2):
        ada.observe(torch.tensor([[1.0]] * 5 + [[-1.0]] * 5))  # r_t = 0 < 0.6: less augmentation
    assert ada.p.item() == pytest.approx(0.0, abs=1e-7)
    for _ in range(2):
        ada.observe(-batch)  # p never goes below 0 …
    assert ada.p.item() == 0
    for _ in range(60):
        ada.observe(batch)  # … nor above 1
    assert ada.p.item() == 1


def test_adaptive_applies_each_op_with_probability_p():
    x = images(n=400, size=8, dtype=torch.float32)
    ada = Adaptive(policy="cutout")
    ada.p = torch.tensor(0.0)
    assert_close(ada(x), x)
    ada.p = torch.tensor(0.25)
    torch.manual_seed(0)
    changed = (ada(x) != x).flatten(1).any(1).float().mean().item()
    assert changed == pytest.approx(0.25, abs=0.06)
    ada.p = torch.tensor(1.0)
    assert (ada(x) != x).flatten(1).any(1).all()


def test_adaptive_state_round_trip_and_range_checks():
    ada = Adaptive(interval=3, p_init=0.2)
    ada.observe(torch.ones(4, 1))
    other = Adaptive(interval=3)
    other.load_state_dict(ada.state_dict())
    assert other.p.item() == pytest.approx(0.2) and other.images.item() == 4 and other.batches == 1
    with pytest.raises(UsageError, match=r"augment.target=1.5 is out of range: it must be in \(-1, 1\)"):
        Adaptive(target=1.5)
    with pytest.raises(UsageError, match=r"augment.p_init=2 is out of range"):
        Adaptive(p_init=2)


# ---------------------------------------------------------------- D∘T


def test_none_is_no_wrapper_and_the_generator_gets_gradients_through_T():
    critic = torch.nn.Conv2d(3, 1, 8)
    assert augmented(critic, Augment()) is critic
    d_of_t = augmented(critic, DiffAugment())
    assert isinstance(d_of_t, Augmented)
    fake = images(dtype=torch.float32).requires_grad_(True)
    torch.manual_seed(0)
    d_of_t(fake).sum().backward()
    assert fake.grad is not None and fake.grad.abs().sum() > 0
    # Exactly D(T(x)) with T's draws: the same seed gives the same scores.
    torch.manual_seed(0)
    scores = d_of_t(fake)
    torch.manual_seed(0)
    assert_close(scores, critic(DiffAugment()(fake)))

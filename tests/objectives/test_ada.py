"""Spec of augment=ada, StyleGAN2-ADA's pipeline as R3GAN trains with it: each operation in closed form on images
it can be checked on, each applied to each image with probability multiplier·p with parameters of its own drawn
from torch's global generator, differentiable twice (R1 and R2 are taken through it), p adaptive, fixed or
scheduled; bad keys are one-line errors."""

import math

import pytest
import torch
from torch.testing import assert_close

from ganrun.base.errors import UsageError
from ganrun.objectives import ada_ops as ops
from ganrun.objectives.ada import ADA, COLOR, GEOMETRIC

INNER = (slice(None), slice(None), slice(4, -4), slice(4, -4))  # away from the borders, which resampling mirrors


def only(*names: str, p: float = 1.0, **extra) -> ADA:
    """ADA with just `names` on (multiplier 1)."""
    off = dict.fromkeys([*GEOMETRIC, *COLOR, "noise", "cutout"], 0.0)
    return ADA(p=p, **{**off, **dict.fromkeys(names, 1.0), **extra})


def smooth(n: int = 6, channels: int = 3, size: int = 24) -> torch.Tensor:
    """Band-limited images (a few cycles across), in fp32 as the pipeline computes."""
    y, x = torch.meshgrid(torch.arange(size * 1.0), torch.arange(size * 1.0), indexing="ij")
    waves = [
        torch.sin(2 * math.pi * (k + 1) * x / size + k) * torch.cos(2 * math.pi * y / size) for k in range(channels)
    ]
    return torch.stack(waves)[None].repeat(n, 1, 1, 1) * torch.linspace(0.5, 1, n)[:, None, None, None]


def nearest(image: torch.Tensor, candidates: dict) -> tuple:
    """The candidate the image's interior is nearest to, and that distance (max |Δ|)."""
    errors = {key: (image - c)[INNER[1:]].abs().max().item() for key, c in candidates.items()}
    best = min(errors, key=errors.get)
    return best, errors[best]


# ADA resamples through the sym6 wavelet, which is not symmetric: a flip or a quarter turn of a smooth image comes
# out within a few hundredths of the exact one (ADA's own pipeline does the same), a whole-pixel shift exactly.
RESAMPLING = 0.05


def test_xflip_mirrors_half_the_images():
    torch.manual_seed(0)
    x = smooth(n=40)
    out = only("xflip")(x)
    kinds = []
    for i in range(len(x)):
        if torch.equal(out[i], x[i]):  # not chosen: exactly as it was
            kinds.append("kept")
            continue
        kind, error = nearest(out[i], {"flipped": x[i].flip(2), "kept": x[i]})
        assert kind == "flipped" and error < RESAMPLING
        kinds.append(kind)
    assert 10 < kinds.count("flipped") < 30  # a fair coin per image


def test_rotate90_turns_by_a_multiple_of_a_quarter():
    torch.manual_seed(1)
    x = smooth(n=16)
    out = only("rotate90")(x)
    turns = []
    for i in range(len(x)):
        k, error = nearest(out[i], {k: torch.rot90(x[i], k, (1, 2)) for k in range(4)})
        assert error < RESAMPLING
        turns.append(k)
    assert len(set(turns)) >= 3


def test_integer_translation_shifts_by_whole_pixels_within_an_eighth():
    torch.manual_seed(2)
    x = smooth(n=8)
    out = only("xint")(x)
    for i in range(len(x)):
        shifted = {(dy, dx): torch.roll(x[i], (dy, dx), (1, 2)) for dy in range(-3, 4) for dx in range(-3, 4)}
        _, error = nearest(out[i], shifted)  # at most 24/8 = 3 pixels; the interior does not see the roll's wrap
        assert error < 5e-3  # within the filter's reach of the border a little of the mirror shows


def test_brightness_adds_and_contrast_multiplies_one_number_per_image():
    torch.manual_seed(3)
    x = torch.rand(16, 3, 8, 8) * 2 - 1
    shift = only("brightness")(x) - x
    assert_close(shift, shift[:, :1, :1, :1].expand_as(shift))
    assert 0.1 < shift[:, 0, 0, 0].std() < 0.3  # N(0, 0.2²)
    ratio = only("contrast")(x) / x
    assert_close(ratio, ratio[:, :1, :1, :1].expand_as(ratio))
    assert (ratio[:, 0, 0, 0] > 0).all()  # 2^N(0, 0.5²)


def test_luma_flip_negates_grey_and_saturation_keeps_it():
    torch.manual_seed(4)
    grey = (torch.rand(20, 1, 8, 8) * 2 - 1).expand(20, 3, 8, 8)
    out = only("lumaflip")(grey)
    negated = [torch.allclose(out[i], -grey[i]) for i in range(20)]
    unchanged = [torch.equal(out[i], grey[i]) for i in range(20)]
    assert all(a or b for a, b in zip(negated, unchanged)) and 3 < sum(negated) < 17
    assert_close(only("saturation", "hue")(grey), grey)  # both turn or scale about the grey axis


def test_a_one_channel_image_takes_the_mean_of_the_colour_rows():
    x = torch.rand(4, 1, 8, 8, dtype=torch.float64)
    m = ops.color_identity(4, "cpu").double()
    m[:, 0, 0], m[:, 1, 3] = 3.0, 0.3  # row means: gain (3 + 1 + 1)/3, offset 0.1
    assert_close(ops.apply_color(x, m), x * 5 / 3 + 0.1)


def test_cutout_zeroes_a_square_of_half_the_side():
    torch.manual_seed(5)
    x = torch.ones(8, 1, 16, 16)
    out = only("cutout")(x)
    zeros = (out == 0).flatten(1).sum(1)
    assert ((zeros > 0) & (zeros <= 64)).all()  # at most 8×8, less where it leaves the image


def test_parameters_are_fresh_per_image_and_follow_the_global_generator():
    x = smooth(n=8).float()
    ada = ADA(p=1.0)
    torch.manual_seed(7)
    first = ada(x)
    torch.manual_seed(7)
    assert torch.equal(ada(x), first)  # the same draws: what a resumed run replays
    assert not torch.allclose(first[0], first[1] * (x[1].abs().max() / x[0].abs().max()))


def test_every_operation_is_differentiable_twice_in_the_images():
    torch.manual_seed(8)
    x = (torch.rand(4, 3, 16, 16) * 2 - 1).requires_grad_(True)
    (grad,) = torch.autograd.grad(ADA(p=1.0, noise=1.0)(x).square().sum(), x, create_graph=True)
    (again,) = torch.autograd.grad(grad.square().sum(), x)
    assert torch.isfinite(again).all() and again.abs().sum() > 0


def test_each_operation_applies_with_probability_multiplier_times_p():
    torch.manual_seed(9)
    x = torch.rand(400, 3, 8, 8) * 2 - 1
    changed = (only("brightness", p=0.5, brightness=0.5)(x) != x).flatten(1).any(1).float().mean().item()
    assert changed == pytest.approx(0.25, abs=0.06)


def test_p_adaptive_fixed_or_set_by_a_schedule():
    adaptive = ADA()
    assert adaptive.adaptive and adaptive.p.item() == 0
    adaptive.observe(torch.ones(8, 1))
    for _ in range(3):
        adaptive.observe(torch.ones(8, 1))
    assert adaptive.p.item() == pytest.approx(32 / 500_000)  # as augment=adaptive: +32 images / (500 kimg)
    fixed = ADA(p=0.3)
    fixed.observe(torch.ones(8, 1) * 4)
    assert not fixed.adaptive and fixed.p.item() == pytest.approx(0.3)
    fixed.set_p(0.55)  # a schedule's value, set before each step
    assert fixed.p.item() == pytest.approx(0.55) and fixed.log_values()["p"] == pytest.approx(0.55)


@pytest.mark.parametrize(
    "kwargs,message",
    [
        ({"spin": 1.0}, "augment.spin is not an operation of augment=ada"),
        ({"p": 1.5}, "augment.p=1.5 is not allowed"),
        ({"p": "often"}, "augment.p=often is not allowed"),
        ({"hue": -1.0}, "augment.hue=-1.0 is out of range"),
    ],
)
def test_bad_keys_are_one_line_errors(kwargs, message):
    with pytest.raises(UsageError, match=message):
        ADA(**kwargs)

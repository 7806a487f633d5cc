"""Spec of the generator EMA: the warm-up's closed form, the update's arithmetic, batch-norm statistics that belong
to the averaged weights, and the checkpoint round trip."""

import math

import pytest
import torch
from torch import nn

from ganrun.base.errors import UsageError
from ganrun.training.ema import BN_BATCH_SIZE, BN_BATCHES, BN_SEED, EMA, recalibrate_batchnorm


class TinyGenerator(nn.Sequential):
    """A linear layer and a batch norm: parameters and buffers, as a generator has, and a z_dim."""

    z_dim = 3

    def __init__(self):
        torch.manual_seed(0)
        super().__init__(nn.Linear(3, 2), nn.BatchNorm1d(2))


def set_weights(model: nn.Module, value: float) -> None:
    with torch.no_grad():
        for i, p in enumerate(model.parameters()):
            p.copy_(torch.full_like(p, value) + torch.arange(p.numel()).reshape(p.shape) * (i + 1))


def params(model: nn.Module) -> list[torch.Tensor]:
    return [p.detach().clone() for p in model.parameters()]


# ---------------------------------------------------------------- the warm-up


def test_the_warm_up_in_closed_form():
    ema = EMA(TinyGenerator(), decay=0.999, rampup=0.05)
    # β_t = min(decay, 0.5^(1/(rampup·t))): a half-life of rampup·t steps, capped by the decay's own half-life.
    assert ema.beta(1) == pytest.approx(0.5**20)
    assert ema.beta(10) == pytest.approx(0.25)
    assert ema.beta(100) == pytest.approx(0.5**0.2)
    assert ema.beta(2000) == pytest.approx(0.5**0.01)
    cap = math.log(0.5) / math.log(0.999) / 0.05  # ≈ 13,853: from here on the plain decay
    assert ema.beta(math.ceil(cap)) == 0.999 and ema.beta(10**6) == 0.999
    assert ema.beta(math.floor(cap)) < 0.999


def test_the_initialization_is_forgotten_where_a_plain_decay_keeps_half_of_it():
    ema = EMA(TinyGenerator(), decay=0.999, rampup=0.05)
    kept = math.prod(ema.beta(t) for t in range(1, 601))  # the weight of θ_0 in the average after 600 steps
    assert kept < 1e-20
    assert math.prod(EMA(TinyGenerator(), 0.999, rampup=0).beta(t) for t in range(1, 601)) == pytest.approx(
        0.999**600
    )  # 55 %: the gray samples of a plain 0.999 average


def test_right_after_initialization_the_average_is_the_generator():
    model = TinyGenerator()
    ema = EMA(model, decay=0.999)
    for averaged, p in zip(ema.module.parameters(), model.parameters()):
        torch.testing.assert_close(averaged, p.detach())
    set_weights(model, 1.0)
    ema.update(model, step=1)  # the first update keeps only 0.5^100 of the start (the default rampup, 0.01)
    assert ema.beta(1) == 0.5**100
    for averaged, p in zip(ema.module.parameters(), model.parameters()):
        torch.testing.assert_close(averaged, p.detach())


def test_update_uses_the_decay_of_its_step():
    model = TinyGenerator()
    ema = EMA(model, decay=0.9, rampup=0.05)
    start = params(model)
    set_weights(model, 1.0)
    first = params(model)
    ema.update(model, step=100)  # β = min(0.9, 0.5^0.2 = 0.8706) = 0.8706
    set_weights(model, -2.0)
    second = params(model)
    ema.update(model, step=1000)  # β = min(0.9, 0.5^0.02) = 0.9
    b1 = 0.5**0.2
    for averaged, s, a, b in zip(ema.module.parameters(), start, first, second):
        torch.testing.assert_close(averaged, 0.9 * (b1 * s + (1 - b1) * a) + 0.1 * b)


def test_without_warm_up_it_is_the_plain_exponential_moving_average():
    model = TinyGenerator()
    ema = EMA(model, decay=0.9, rampup=0)
    start = params(model)
    set_weights(model, 1.0)
    first = params(model)
    ema.update(model, step=1)
    set_weights(model, -2.0)
    second = params(model)
    ema.update(model, step=2)
    for averaged, s, a, b in zip(ema.module.parameters(), start, first, second):
        torch.testing.assert_close(averaged, 0.81 * s + 0.09 * a + 0.1 * b)


def test_decay_zero_follows_the_model():
    model = TinyGenerator()
    ema = EMA(model, decay=0.0)
    set_weights(model, 3.0)
    ema.update(model, step=5)
    for averaged, p in zip(ema.module.parameters(), model.parameters()):
        torch.testing.assert_close(averaged, p.detach())


@pytest.mark.parametrize(
    "decay, rampup, key", [(1.0, 0.05, "train.ema"), (-0.1, 0.05, "train.ema"), (0.99, -1, "train.ema_rampup")]
)
def test_out_of_range_is_a_usage_error(decay, rampup, key):
    with pytest.raises(UsageError, match=rf"{key}=.* is out of range"):
        EMA(TinyGenerator(), decay, rampup)


def test_copy_is_frozen_and_independent():
    model = TinyGenerator()
    ema = EMA(model, decay=0.5)
    assert not ema.module.training
    assert all(not p.requires_grad for p in ema.module.parameters())
    assert all(p.requires_grad for p in model.parameters())
    with torch.no_grad():
        model[0].weight.add_(1.0)
    assert not torch.equal(ema.module[0].weight, model[0].weight)  # a copy, not a view of the model


# ---------------------------------------------------------------- batch-norm statistics of the averaged weights


def test_recalibration_gives_the_statistics_of_its_own_noise_batches():
    model = TinyGenerator()
    set_weights(model, 0.5)
    rng = torch.Generator().manual_seed(BN_SEED)
    batches = [model[0](torch.randn(BN_BATCH_SIZE, 3, generator=rng)).detach() for _ in range(BN_BATCHES)]
    before = torch.get_rng_state()
    recalibrate_batchnorm(model)
    assert torch.equal(torch.get_rng_state(), before)  # the run's own random stream is untouched
    assert not model.training and model[1].momentum == 0.1  # eval mode, its momentum restored
    torch.testing.assert_close(model[1].running_mean, torch.stack([b.mean(0) for b in batches]).mean(0))
    torch.testing.assert_close(model[1].running_var, torch.stack([b.var(0) for b in batches]).mean(0))


def test_the_average_is_sampled_with_statistics_of_its_own_weights():
    model = TinyGenerator()
    ema = EMA(model, decay=0.5)
    set_weights(model, 2.0)
    model.train()
    model(torch.randn(8, 3) * 5 + 3)  # the live generator's running statistics: they belong to other weights
    ema.update(model, step=100)
    expected = recalibrate_batchnorm(TinyGenerator().requires_grad_(False))
    expected.load_state_dict(ema._module.state_dict())
    recalibrate_batchnorm(expected)
    for name, buffer in expected.named_buffers():
        torch.testing.assert_close(dict(ema.module.named_buffers())[name], buffer)
    assert not torch.allclose(ema.module[1].running_mean, model[1].running_mean)


def test_statistics_are_estimated_once_per_update():
    ema = EMA(TinyGenerator(), decay=0.5)
    first = ema.module[1].running_mean
    with torch.no_grad():
        ema.module[1].running_mean.add_(100.0)  # marks them: a second estimate would overwrite the mark
    assert torch.equal(ema.module[1].running_mean, first)
    ema.update(TinyGenerator(), step=3)
    assert ema.module[1].running_mean.abs().max() < 100  # estimated again after the update


# ---------------------------------------------------------------- checkpoints


def test_state_dict_round_trip_through_a_weights_only_checkpoint(tmp_path):
    model = TinyGenerator()
    ema = EMA(model, decay=0.9)
    set_weights(model, 1.0)
    ema.update(model, step=40)
    torch.save({"ema": ema.state_dict()}, tmp_path / "ckpt.pt")
    loaded = torch.load(tmp_path / "ckpt.pt", weights_only=True)

    resumed = EMA(TinyGenerator(), decay=0.9)  # a fresh run's EMA, as on resume
    resumed.load_state_dict(loaded["ema"])
    for key, value in ema.state_dict().items():
        torch.testing.assert_close(resumed.state_dict()[key], value)
    set_weights(model, 5.0)  # both continue identically
    ema.update(model, step=41)
    resumed.update(model, step=41)
    for a, b in zip(ema.module.parameters(), resumed.module.parameters()):
        torch.testing.assert_close(a, b)


def test_an_old_checkpoint_with_the_live_statistics_is_estimated_again():
    model = TinyGenerator()
    old = model.state_dict()
    old["1.running_mean"] = torch.tensor([40.0, -40.0])  # copied from the live generator by ganrun before
    ema = EMA(TinyGenerator(), decay=0.9)
    ema.load_state_dict(old)
    assert ema.module[1].running_mean.abs().max() < 10


def test_a_checkpoint_of_another_model_is_one_line():
    with pytest.raises(UsageError, match=r"EMA generator does not match .*missing: 0\.bias, 0\.weight") as error:
        EMA(TinyGenerator(), decay=0.9).load_state_dict({"1.weight": torch.ones(2)})
    assert "\n" not in str(error.value)


def test_spectral_norm_generator_is_averaged():
    model = TinyGenerator()
    nn.utils.parametrizations.spectral_norm(model[0])
    ema = EMA(model, decay=0.5, rampup=0)
    original = model[0].parametrizations.weight.original
    start = original.detach().clone()
    with torch.no_grad():
        original.add_(2.0)
    ema.update(model, step=1)
    torch.testing.assert_close(ema.module[0].parametrizations.weight.original, start + 1.0)

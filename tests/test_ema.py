"""Spec of the generator EMA: the update's arithmetic, buffers, the checkpoint round trip, the sampler's helper."""

import pytest
import torch
from torch import nn

from ganrun.ema import EMA, load_ema_weights
from ganrun.errors import UsageError


def net() -> nn.Module:
    """A linear layer and a batch norm: parameters and buffers, as a generator has."""
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(3, 2), nn.BatchNorm1d(2))


def set_weights(model: nn.Module, value: float) -> None:
    with torch.no_grad():
        for i, p in enumerate(model.parameters()):
            p.copy_(torch.full_like(p, value) + torch.arange(p.numel()).reshape(p.shape) * (i + 1))


def test_update_is_the_exponential_moving_average():
    model = net()
    ema = EMA(model, decay=0.9)
    start = [p.detach().clone() for p in model.parameters()]
    set_weights(model, 1.0)
    first = [p.detach().clone() for p in model.parameters()]
    ema.update(model)
    set_weights(model, -2.0)
    second = [p.detach().clone() for p in model.parameters()]
    ema.update(model)
    for averaged, s, a, b in zip(ema.module.parameters(), start, first, second):
        # two steps of θ ← 0.9·θ + 0.1·x: 0.81·θ0 + 0.09·x1 + 0.1·x2
        torch.testing.assert_close(averaged, 0.81 * s + 0.09 * a + 0.1 * b)


def test_copy_is_frozen_and_independent():
    model = net()
    ema = EMA(model, decay=0.5)
    assert not ema.module.training
    assert all(not p.requires_grad for p in ema.module.parameters())
    assert all(p.requires_grad for p in model.parameters())
    with torch.no_grad():
        model[0].weight.add_(1.0)
    assert not torch.equal(ema.module[0].weight, model[0].weight)  # a copy, not a view of the model


def test_buffers_are_copied_not_averaged():
    model = net()
    ema = EMA(model, decay=0.99)
    model.train()
    model(torch.randn(8, 3) * 5 + 3)  # moves the batch-norm running statistics
    ema.update(model)
    for name, buffer in model.named_buffers():
        torch.testing.assert_close(dict(ema.module.named_buffers())[name], buffer)
    assert int(ema.module[1].num_batches_tracked) == 1


def test_decay_zero_follows_the_model():
    model = net()
    ema = EMA(model, decay=0.0)
    set_weights(model, 3.0)
    ema.update(model)
    for averaged, p in zip(ema.module.parameters(), model.parameters()):
        torch.testing.assert_close(averaged, p.detach())


@pytest.mark.parametrize("decay", [1.0, -0.1, 1.5])
def test_decay_out_of_range_is_a_usage_error(decay):
    with pytest.raises(UsageError, match=r"train\.ema=.*\[0, 1\)"):
        EMA(net(), decay)


def test_state_dict_round_trip_through_a_weights_only_checkpoint(tmp_path):
    model = net()
    ema = EMA(model, decay=0.9)
    set_weights(model, 1.0)
    model.train()
    model(torch.randn(4, 3))
    ema.update(model)
    torch.save({"ema": ema.state_dict()}, tmp_path / "ckpt.pt")
    loaded = torch.load(tmp_path / "ckpt.pt", weights_only=True)

    resumed = EMA(net(), decay=0.9)  # a fresh run's EMA, as on resume
    resumed.load_state_dict(loaded["ema"])
    for key, value in ema.state_dict().items():
        torch.testing.assert_close(resumed.state_dict()[key], value)
    set_weights(model, 5.0)  # both continue identically
    ema.update(model)
    resumed.update(model)
    for a, b in zip(ema.module.parameters(), resumed.module.parameters()):
        torch.testing.assert_close(a, b)


def test_spectral_norm_generator_is_averaged():
    model = net()
    nn.utils.parametrizations.spectral_norm(model[0])
    ema = EMA(model, decay=0.5)
    original = model[0].parametrizations.weight.original
    start = original.detach().clone()
    with torch.no_grad():
        original.add_(2.0)
    ema.update(model)
    torch.testing.assert_close(ema.module[0].parametrizations.weight.original, start + 1.0)


def test_load_ema_weights_prefers_the_average_unless_told_not_to():
    model, other = net(), net()
    set_weights(other, 7.0)
    state = {"generator": model.state_dict(), "ema": other.state_dict()}
    target = net()
    assert load_ema_weights(target, state) is True
    torch.testing.assert_close(target[0].weight, other[0].weight)

    target = net()
    assert load_ema_weights(target, state, use_ema=False) is False
    torch.testing.assert_close(target[0].weight, model[0].weight)  # untouched: still the generator's weights
    assert load_ema_weights(target, {"generator": model.state_dict()}) is False

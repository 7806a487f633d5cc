"""Spec of gradient accumulation (`train.accumulate=K`, training/step.py): a critic update and a generator update
that sum the gradients of K chunks of the batch (each chunk's loss divided by K) are the one-batch updates, to float
tolerance, for networks without batch statistics: for every loss with its own penalty and for the regularizers
whose penalty is a per-sample mean, conditional or not. With batch norm they differ (its statistics are a chunk's),
and the run says so once; a K that does not divide the batch is one line."""

import logging
from types import SimpleNamespace

import pytest
import torch
from omegaconf import OmegaConf
from torch.testing import assert_close

from ganrun.app.validate import accumulation_cuts_the_batch
from ganrun.base.errors import SetupError
from ganrun.build import build_loss, instantiate
from ganrun.objectives.losses import Loss
from ganrun.objectives.objective import Objective
from ganrun.training.divergence import UpdateGuard
from ganrun.training.stats import RunningMeans
from ganrun.training.step import critic_step, generator_step
from helpers.configs import compose_with
from helpers.parts import plain_parts

BATCH = 16


def check_accumulation(count: int, batch: int, generator, critic, loss=None) -> None:
    """What setting a run up with train.accumulate=`count` on a batch of `batch` says (app/validate.py's rule)."""
    plan = SimpleNamespace(
        cfg=OmegaConf.create({"train": {"accumulate": count}}), settings=SimpleNamespace(batch_size=batch)
    )
    built = SimpleNamespace(generator=generator, critic=critic, objective=Objective(loss or Loss()))
    accumulation_cuts_the_batch(plan, built)


# (loss, regularizer) by their config names. LeCam's anchors move once per chunk, and spectral norm's power
# iteration runs once per forward, so neither is the one-batch update; interpolate_within pairs samples of a chunk;
# ragan compares each score with the other batch's mean, which is the chunk's.
CASES = [
    ("wgan_gp", "none"),
    ("wgan_div", "none"),
    ("wgan", "none"),
    ("bce", "none"),
    ("hinge", "r1"),
    ("lsgan", "r1"),
    ("rpgan", "r1r2"),  # R3GAN's objective: each real image paired with one fake, both penalized
]


def updated(loss_name: str, regularizer_name: str, accumulate: int, num_classes: int = 0, batchnorm: bool = False):
    """The networks and the logged means after one critic update and one generator update from the same start."""
    cfg = compose_with(f"loss={loss_name}", f"regularizer={regularizer_name}")
    parts = plain_parts(build_loss(cfg), instantiate(cfg.regularizer), num_classes, batchnorm)
    real, labels = parts.data.next_labelled_batch(BATCH)
    means, guard = RunningMeans(), UpdateGuard("stop", torch.device("cpu"))
    torch.manual_seed(1)  # the noise, the penalties' points, the generator's labels
    critic_step(parts, real, labels if num_classes else None, 0, means, guard, accumulate=accumulate)
    compared = None  # a relativistic generator loss compares its fakes with a real batch of its own
    if parts.objective.generator_needs_real:
        real_g, labels_g = parts.data.next_labelled_batch(BATCH)
        compared = real_g, labels_g if num_classes else None
    generator_step(parts, BATCH, torch.device("cpu"), means, guard, accumulate=accumulate, real_batch=compared)
    return parts.critic.state_dict(), parts.generator.state_dict(), means.read()


@pytest.mark.parametrize("num_classes", [0, 4], ids=["unconditional", "conditional"])
@pytest.mark.parametrize("loss_name, regularizer_name", CASES)
def test_accumulated_chunks_make_the_one_batch_update(loss_name, regularizer_name, num_classes):
    critic, generator, logged = updated(loss_name, regularizer_name, 1, num_classes)
    for chunks in (2, 4):
        critic_k, generator_k, logged_k = updated(loss_name, regularizer_name, chunks, num_classes)
        assert_close(critic_k, critic, rtol=1e-5, atol=1e-6)
        assert_close(generator_k, generator, rtol=1e-5, atol=1e-6)
        assert logged_k.keys() == logged.keys()  # the same tags, each the mean over the chunks: the batch's
        for tag in ("loss/critic", "loss/generator"):
            assert logged_k[tag] == pytest.approx(logged[tag], rel=1e-5, abs=1e-6)


def test_the_comparison_has_teeth(monkeypatch):
    """Summing the chunks' gradients without dividing by K (SGD: the update is the gradient) is caught."""
    critic, _, _ = updated("wgan_gp", "none", 1)
    original = torch.Tensor.backward
    monkeypatch.setattr(torch.Tensor, "backward", lambda t, *a, **k: original(t * 4, *a, **k))  # undo the ÷K
    critic_4, _, _ = updated("wgan_gp", "none", 4)
    with pytest.raises(AssertionError):
        assert_close(critic_4, critic, rtol=1e-5, atol=1e-6)


def test_batch_norm_makes_it_differ_and_the_run_says_so_once(caplog, config):
    critic, generator, _ = updated("hinge", "none", 1, batchnorm=True)
    _, generator_4, _ = updated("hinge", "none", 4, batchnorm=True)
    with pytest.raises(AssertionError):
        assert_close(generator_4, generator, rtol=1e-5, atol=1e-6)
    parts = plain_parts(None, instantiate(config.regularizer), batchnorm=True)
    caplog.set_level(logging.WARNING, logger="ganrun")
    check_accumulation(4, 64, parts.generator, parts.critic)
    [line] = [r.getMessage() for r in caplog.records]
    assert line.startswith("train.accumulate=4: the generator has batch norm, whose statistics are taken over chunks")
    caplog.clear()
    check_accumulation(1, 64, parts.generator, parts.critic)  # K=1 is the one-batch update
    plain = plain_parts(None, instantiate(config.regularizer))
    check_accumulation(4, 64, plain.generator, plain.critic)
    assert caplog.records == []


def test_ragan_compares_with_a_chunks_mean_and_the_run_says_so_once(caplog, config):
    critic, _, _ = updated("ragan", "none", 1)
    critic_4, _, _ = updated("ragan", "none", 4)
    with pytest.raises(AssertionError):
        assert_close(critic_4, critic, rtol=1e-5, atol=1e-6)
    plain = plain_parts(None, instantiate(config.regularizer))
    caplog.set_level(logging.WARNING, logger="ganrun")
    check_accumulation(4, 64, plain.generator, plain.critic, build_loss(compose_with("loss=rpgan")))
    assert caplog.records == []  # pairs, one by one: the one-batch update
    check_accumulation(4, 64, plain.generator, plain.critic, build_loss(compose_with("loss=ragan")))
    [line] = [r.getMessage() for r in caplog.records]
    assert line.startswith("train.accumulate=4: the loss compares each score with the mean of the other batch")


def test_chunks_that_do_not_divide_the_batch_are_one_line(config):
    plain = plain_parts(None, instantiate(config.regularizer))
    with pytest.raises(SetupError, match=r"^train.accumulate=3 must cut the batch of 64 images .* into equal chunks"):
        check_accumulation(3, 64, plain.generator, plain.critic)

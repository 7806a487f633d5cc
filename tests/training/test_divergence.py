"""Divergence: a non-finite loss stops the run naming the step and the term, and never overwrites a good checkpoint;
train.nan_policy=skip drops such updates and counts them."""

import pytest
import torch

from ganrun.objectives.losses import WGANGP
from ganrun.runstate.checkpoint import Checkpointer
from ganrun.runstate.loggers.run import RunInfo
from ganrun.runstate.loggers.tensorboard import TensorBoardLogger
from ganrun.training.divergence import DivergenceError, NonFiniteWatch, UpdateGuard, non_finite_parameters
from ganrun.training.loop import fit
from ganrun.training.settings import Settings
from helpers.parts import hooks, make_parts


class NaNAtStep(WGANGP):
    """WGAN-GP whose critic loss is NaN on the critic updates of generator step `bad_step` (1-based)."""

    def __init__(self, bad_step: int, n_critic: int):
        super().__init__()
        self.bad_step, self.n_critic, self.calls = bad_step, n_critic, 0

    def critic_loss(self, critic, real, fake, labels=None):
        terms = super().critic_loss(critic, real, fake, labels)
        self.calls += 1
        if (self.calls - 1) // self.n_critic + 1 == self.bad_step:
            terms["loss"] = terms["loss"] * float("nan")
        return terms


def train(tmp_path, parts, policy, steps=6):
    settings = Settings(
        steps=steps, batch_size=8, n_critic=2, log_every=10, images_every=100, ckpt_every=1, nan_policy=policy
    )
    logger = TensorBoardLogger(RunInfo(tmp_path))
    try:
        return fit(parts, settings, hooks(parts, logger, Checkpointer(tmp_path / "checkpoints", 1)))
    finally:
        logger.close()


def test_stop_names_the_step_and_term_and_keeps_the_last_good_checkpoint(tmp_path):
    parts = make_parts(NaNAtStep(bad_step=4, n_critic=2))
    with pytest.raises(
        DivergenceError,
        match=r"loss/critic became non-finite at step 4; "
        r"the last good checkpoint \(step 3\) is kept",
    ):
        train(tmp_path, parts, "stop")
    last = torch.load(tmp_path / "checkpoints" / "last.pt", weights_only=True)
    assert last["step"] == 3
    for tensor in last["critic"].values():
        assert torch.isfinite(tensor).all()
    assert not (tmp_path / "checkpoints" / "step_0000004.pt").exists()


def test_skip_drops_the_bad_updates_and_counts_them(tmp_path):
    parts = make_parts(NaNAtStep(bad_step=4, n_critic=2))
    outcome = train(tmp_path, parts, "skip")
    assert outcome.step == 6
    assert outcome.values["train/skipped_updates"] == 2  # both critic updates of step 4
    assert non_finite_parameters(parts.generator, parts.critic) == []


def test_the_watch_keeps_each_terms_first_non_finite_step():
    watch, inf, nan = NonFiniteWatch(torch.device("cpu")), float("inf"), float("nan")
    seen = {  # step: the values of each term then; an inf and a NaN count, a large finite value does not
        1: {"loss/critic": 0.5, "loss/generator": 3e38},
        2: {"loss/critic": -inf, "loss/generator": 1.0},
        3: {"loss/critic": 0.1, "loss/generator": nan},
        4: {"loss/critic": nan, "loss/generator": inf},
    }
    for step, values in seen.items():
        watch.set_step(step)
        for name, value in values.items():
            watch.observe(name, torch.tensor(value))
        assert watch.first_bad() == (None if step == 1 else ("loss/critic", 2))
    vector = NonFiniteWatch(torch.device("cpu"))
    vector.set_step(7)
    vector.observe("per_sample", torch.tensor([1.0, inf, -inf, 2.0]))  # inf − inf: still one, at its step
    assert vector.first_bad() == ("per_sample", 7)


def test_non_finite_weights_are_named():
    layer = torch.nn.Linear(2, 2)
    with torch.no_grad():
        layer.bias[0] = float("inf")
    assert non_finite_parameters(layer) == ["0.bias"]
    guard = UpdateGuard("stop", torch.device("cpu"))
    with pytest.raises(DivergenceError, match="weight 0.bias became non-finite at step 7; no checkpoint was written"):
        guard.check(7, None, layer)


def test_unknown_policy_is_refused():
    with pytest.raises(Exception, match="train.nan_policy=ignore is not allowed"):
        UpdateGuard("ignore", torch.device("cpu"))

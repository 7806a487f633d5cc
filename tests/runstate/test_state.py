"""Spec of the run state (runstate/state.py): a checkpoint holds everything a run's future depends on, and a run
restored from it is the run that was captured."""

import torch

from ganrun.objectives.losses import WGANGP
from ganrun.runstate.checkpoint import Checkpointer
from ganrun.runstate.state import RunState
from ganrun.training.best import BestScore
from ganrun.training.loop import Hooks, fit
from ganrun.training.settings import Settings
from helpers.parts import make_parts
from helpers.runs import differences

HELD = {
    "version",
    "step",
    "generator",
    "critic",
    "opt_g",
    "opt_d",
    "data",
    "fixed_noise",
    "ema",
    "best",
    "augment",
    "regularizer",
    "classes",
    "init",
    "rng",
    "config",
    "overrides",
}


def state_of(parts, about=dict) -> RunState:
    return RunState.of(parts, BestScore(), about=about)


def train(parts, steps: int, start: int = 0):
    settings = Settings(steps=steps, batch_size=8, n_critic=2, log_every=10, images_every=100, ckpt_every=100)
    checkpointer = Checkpointer("unused", 100, enabled=False)
    fit(parts, settings, Hooks.quiet(checkpointer=checkpointer, capture=state_of(parts).capture), start)
    return parts


def trained(steps: int):
    torch.manual_seed(0)
    return train(make_parts(WGANGP()), steps)


def test_a_checkpoint_holds_what_the_future_depends_on_with_the_config_and_overrides():
    about = {"classes": None, "init": None, "config": {"seed": 3}, "overrides": ["loss=wgan_gp"]}
    state = state_of(trained(2), lambda: about).capture(2)
    assert set(state) == HELD
    assert state["step"] == 2 and state["config"] == {"seed": 3} and state["overrides"] == ["loss=wgan_gp"]


def test_a_restored_run_is_the_captured_one_and_trains_on_alike():
    original = trained(3)
    saved = _saved(state_of(original).capture(3))
    went_on = state_of(train(original, 5, start=3)).capture(5)  # the run that was never stopped
    twin = make_parts(WGANGP())
    assert state_of(twin).restore(torch.load(saved, weights_only=True)) == 3  # its RNG too: the run's at step 3
    saved.seek(0)
    assert differences(state_of(twin).capture(3), torch.load(saved, weights_only=True)) == []
    assert differences(state_of(train(twin, 5, start=3)).capture(5), went_on) == []


def _saved(state):
    import io

    buffer = io.BytesIO()
    torch.save(state, buffer)
    buffer.seek(0)
    return buffer

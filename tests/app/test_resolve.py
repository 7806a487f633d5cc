"""Spec of the setup's first phase (app/resolve.py) where a user sees it: a resumed run whose schedules follow
train.steps (experiment=r3gan_small's) says, when it is extended, which schedules change and their values at the
resume step before and after; resume_schedules=keep keeps the schedules it trained with."""

import math

import pytest
import torch

from helpers.cli import ganrun

TINY_R3GAN = [
    "experiment=r3gan_small",
    "model.widths=8",
    "model.blocks=1",
    "model.group_width=4",
    "model.z_dim=8",
    "train.batch_size=8",
    "log.num_samples=4",
    "metrics.names=[]",
]


COSINE_3_OF_4 = 2e-4 + (5e-5 - 2e-4) * 0.5 * (1 - math.cos(math.pi * 3 / 4))  # lr 2e-4 → 5e-5 over 4 steps, step 3


@pytest.mark.slow
@pytest.mark.parametrize("choice, lr_at_step_3", [("follow", COSINE_3_OF_4), ("keep", 5e-5)])
def test_extending_a_run_with_schedules_says_what_changes_or_keeps_them(tmp_path, tiny_mnist, choice, lr_at_step_3):
    data = ["dataset=mnist", f"dataset.root={tiny_mnist}", "dataset.download=false"]
    first = ganrun(*TINY_R3GAN, *data, "train.steps=2", "hydra.run.dir=run", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    extended = ganrun(f"resume={tmp_path / 'run'}", "train.steps=4", f"resume_schedules={choice}", cwd=tmp_path)
    assert extended.returncode == 0, extended.stderr
    said = extended.stderr + extended.stdout
    if choice == "follow":  # the cosine's end at step 2 of 2; a quarter of the way along a cosine over 4 steps
        assert (
            "resume: the schedules follow this run's settings and change at step 2: optim.generator.lr 5e-05 at "
            "step 2, now 0.000125, optim.critic.lr 5e-05 at step 2, now 0.000125," in said
        )
        assert "; resume_schedules=keep keeps the ones it trained with" in said
    else:
        assert "resume: kept the schedules the run trained with (resume_schedules=keep): optim.generator.lr" in said
    last = torch.load(tmp_path / "run" / "checkpoints" / "last.pt", weights_only=True)
    assert last["step"] == 4
    # set before the last step (step 3: 0-based): the cosine over 4 steps, or the end of the one over 2
    assert last["opt_g"]["param_groups"][0]["lr"] == pytest.approx(lr_at_step_3, rel=1e-12)

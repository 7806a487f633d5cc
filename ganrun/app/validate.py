"""Setting a run up, phase 3 of 3 (app/run.py: resolve → build → validate): every rule that spans parts, once, in
the order below, before any data are read. A broken rule is a SetupError: one line that says what to change.

A rule of one part alone is that part's (a key's range: app/schema.py; a part of one's own that misses a piece of
the interface: training/contract.py, when it is built; a data set's files: data/); what can only be known once
the data are read is data/open.py's (a labels file that does not match its images). A new rule that spans parts is
one function here, in RULES, and its test in tests/app/test_validate.py.
"""

from __future__ import annotations

import logging

import torch
from omegaconf import OmegaConf

from ganrun.app.assemble import Built
from ganrun.app.resolve import Plan
from ganrun.base.errors import SetupError
from ganrun.build import MODEL_META_KEYS, enum_value
from ganrun.runstate.origin import refuse_unfit, settings_apart, unfit
from ganrun.training import graphs
from ganrun.training.accumulation import has_batchnorm
from ganrun.training.contract import check_loss_terms
from ganrun.training.freeze import critic_blocks

log = logging.getLogger("ganrun")


def cuda_graphs_need_a_gpu(plan: Plan, built: Built) -> None:
    if plan.cfg.train.cuda_graphs:
        graphs.require_cuda(plan.device)


def conditional_needs_two_classes(plan: Plan, built: Built) -> None:
    """A class-conditional model learns what tells classes apart: one class (or one picked) has nothing."""
    if plan.classes is not None and len(plan.classes) < 2:
        raise SetupError(
            f"model.conditional=true needs two classes or more, and the data hold one ({plan.classes[0]}); add "
            "class folders (or labels), pick more with dataset.classes, or set model.conditional=false"
        )


def loss_scores_these_networks(plan: Plan, built: Built) -> None:
    """The loss, called once on two generated images, returns the terms training reads (training/contract.py)."""
    check_loss_terms(built.objective.loss, built.generator, built.critic)


def no_batchnorm_under_a_penalty(plan: Plan, built: Built) -> None:
    """Batch norm mixes samples, so the per-sample input gradient a penalty needs is wrong."""
    objective, model = built.objective, plan.cfg.model
    penalized = objective.loss.penalized or objective.regularizer.penalized
    if penalized and not model.get("allow_batchnorm_with_penalty", False) and has_batchnorm(built.critic):
        raise SetupError(
            "the critic has batch norm, which makes a gradient penalty wrong; use model.critic_norm=layer "
            "(or none), or set model.allow_batchnorm_with_penalty=true to run it anyway"
        )


def adaptive_needs_a_decision_boundary(plan: Plan, built: Built) -> None:
    """r_t = E[sign(D(x))] needs scores with an origin; a Wasserstein critic's are defined up to a constant."""
    loss = built.objective.loss
    if built.objective.augment.adaptive and loss.decision_boundary is None:
        raise SetupError(
            f"augment=adaptive tunes p from the sign of the critic's scores, which {type(loss).__name__} "
            "scores do not have (a Wasserstein or relativistic critic is defined up to a constant); use loss=bce, "
            "hinge or lsgan, or augment=diffaugment"
        )


def accumulation_cuts_the_batch(plan: Plan, built: Built) -> None:
    """train.accumulate=K cuts each process's batch into K equal chunks; with batch norm, or a loss that compares
    scores with a batch mean (ragan), an update is then not the one-batch update: said once."""
    count, batch = plan.cfg.train.accumulate, plan.settings.batch_size
    if batch % count:
        raise SetupError(
            f"train.accumulate={count} must cut the batch of {batch} images (each process's) into equal chunks; "
            f"use a divisor of {batch}"
        )
    if count == 1:
        return
    norms = [name for name, net in (("generator", built.generator), ("critic", built.critic)) if has_batchnorm(net)]
    chunk = f"chunks of {batch // count} images, not the batch of {batch}, so an update differs from the one-batch"
    if norms:
        have = "have" if len(norms) > 1 else "has"
        log.warning(
            "train.accumulate=%d: the %s %s batch norm, whose statistics are taken over %s update (docs/own_data.md)",
            count,
            " and the ".join(norms),
            have,
            chunk,
        )
    if built.objective.loss.uses_batch_means:
        log.warning(
            "train.accumulate=%d: the loss compares each score with the mean of the other batch, here of %s update "
            "(docs/own_data.md)",
            count,
            chunk,
        )


def init_fits(plan: Plan, built: Built) -> None:
    """init=PATH's layers fit the new networks (all of them, unless init.strict=false), and with init.optimizers
    its optimizers are of this run's kinds (Adam's moments are not RMSprop's)."""
    if plan.init is None:
        return
    cfg, (path, checkpoint) = plan.cfg, plan.init
    differ = unfit(built.generator, built.critic, checkpoint)
    theirs = {
        k: v for k, v in ((checkpoint.get("config") or {}).get("model") or {}).items() if k not in MODEL_META_KEYS
    }
    because = ""
    if differ and theirs:
        model = cfg.model
        because = settings_apart(theirs, OmegaConf.to_container(model, resolve=True), OmegaConf.to_container(model))
    refuse_unfit(differ, str(path), cfg.init.strict, cfg.init.optimizers, because)
    if not cfg.init.optimizers:
        return
    saved = (checkpoint.get("config") or {}).get("optim") or {}
    for role in ("generator", "critic"):
        theirs_name, ours = (saved.get(role) or {}).get("name", "adam"), enum_value(cfg.optim[role].name)
        if theirs_name != ours:
            raise SetupError(
                f"init.optimizers=true, but {path} trained its {role} with {theirs_name} and this run uses {ours}; "
                f"set optim.{role}.name={theirs_name}, or drop init.optimizers"
            )


def frozen_blocks_exist(plan: Plan, built: Built) -> None:
    """FreezeD freezes the critic's first K blocks: it has that many, and says which (blocks())."""
    count = plan.cfg.train.freeze_critic
    if not count:
        return
    blocks = critic_blocks(built.critic)
    if blocks is None:
        raise SetupError(
            f"train.freeze_critic={count} needs the critic's blocks, and {type(built.critic).__qualname__} has no "
            "blocks() method (its blocks from the input on); add one, or set train.freeze_critic=0"
        )
    if count > len(blocks):
        raise SetupError(
            f"train.freeze_critic={count}, but the critic has {len(blocks)} blocks before its head; freeze at most "
            f"{len(blocks)}"
        )


def cuda_graphs_can_replay(plan: Plan, built: Built) -> None:
    """What a CUDA graph cannot replay (a decision on the host every step) is refused before training."""
    cfg = plan.cfg
    if not cfg.train.cuda_graphs:
        return
    if plan.world > 1:
        raise SetupError(
            "train.cuda_graphs=true does not run under torchrun yet (DDP's all-reduce is not captured); "
            "drop train.cuda_graphs, or train on one GPU"
        )
    if cfg.train.compile:
        raise SetupError(
            "train.cuda_graphs=true and train.compile=true do not go together; choose one "
            "(docs/benchmarks.md compares them)"
        )
    if plan.settings.nan_policy == "skip":
        raise SetupError(
            "train.nan_policy=skip decides on the host whether to apply each update, which a CUDA "
            "graph cannot replay; use train.nan_policy=stop with train.cuda_graphs"
        )
    if built.objective.augment.adaptive:
        raise SetupError(
            "augment=adaptive tunes p on the host every few batches, which a CUDA graph cannot replay; "
            "use augment=diffaugment, or drop train.cuda_graphs"
        )
    # Scheduled values sit in device tensors a graph reads (training/graph_values.py); RMSprop's step reads a
    # tensor learning rate only in its capturable form, whose updates are not those of the eager run.
    for role, optimizer in (("generator", built.opt_g), ("critic", built.opt_d)):
        if f"optim.{role}.lr" in plan.schedules and not isinstance(optimizer, torch.optim.Adam):
            raise SetupError(
                f"a schedule of optim.{role}.lr under train.cuda_graphs needs Adam, whose step reads a tensor learning "
                f"rate, and this run's is {type(optimizer).__name__}; give optim.{role}.lr a number, or drop "
                "train.cuda_graphs"
            )


# In this order: what the device can do, what the data hold, what the parts say of each other, what the run
# starts from and what it freezes, then what a CUDA graph can replay.
RULES = (
    cuda_graphs_need_a_gpu,
    conditional_needs_two_classes,
    loss_scores_these_networks,
    no_batchnorm_under_a_penalty,
    adaptive_needs_a_decision_boundary,
    accumulation_cuts_the_batch,
    init_fits,
    frozen_blocks_exist,
    cuda_graphs_can_replay,
)


def validate(plan: Plan, built: Built) -> None:
    """Every rule of RULES, in order; the first one broken stops the run (SetupError)."""
    for rule in RULES:
        rule(plan, built)

"""What training calls each part of a run with and reads from it: the interface a generator, critic, loss or
regularizer of one's own meets (docs/own_parts.md writes it out). Each part is checked once when it is built
(ganrun/build.py), so one that does not meet it stops in one line naming what is missing, not deep in a step.

- The model's `_target_` returns the pair (generator, critic), both torch modules.
- The generator has `z_dim` (an int >= 1) and `num_classes` (0 or absent: unconditional; else it also has the
  buffer `class_prior` of num_classes entries, which ganrun sets to the data's class frequencies). It is called
  as G(z) with z of shape N×z_dim, or G(z, labels) with N int64 labels when conditional, and returns N×C×H×W
  images in [-1, 1] (the data set's channels and size).
- The critic is called as D(x) or D(x, labels) and returns one score per image (N or N×1). For
  train.freeze_critic it has `blocks()`: its blocks from the input on.
- A loss has `critic_loss(critic, real, fake, labels=None)`, returning a dict with "loss" (a scalar the critic
  minimizes, its own penalty included), "real_scores" and "fake_scores" (the scores, in the graph) and any scalars
  to log ("penalty", "grad_norm", "wasserstein", …); `generator_loss(fake_scores)`, a scalar, or
  `generator_loss(fake_scores, real_scores)` when its `generator_needs_real` is true (a relativistic loss: the
  step then scores a real batch for it); `after_critic_step(critic)`; `penalized` (whether it takes gradients at
  the critic's input), `decision_boundary` (the score between real and fake, None for a Wasserstein critic) and
  `scores_given_inputs` (whether critic_loss scores `real` and `fake` as given, so R1/R2 may differentiate its
  scores) and `uses_batch_means` (whether a score is compared with a batch's mean, which train.accumulate takes
  over a chunk). ganrun's `objectives.losses.Loss` has all of it but the two losses. The training step reads none
  of these: it asks `objectives.objective.Objective`, which does; the setup's rules read them to refuse what
  cannot work (a penalty through batch norm, adaptive augmentation without a decision boundary).
- A regularizer has `apply(generator, critic)`, `critic_penalty(critic, real, fake, critic_step, labels, terms)`
  (None or a dict with "penalty"), `phase(critic_step)`, `penalizes_inputs(critic_step)`, `state_dict()`,
  `load_state_dict(state)` and `penalized`,
  as ganrun's `objectives.regularizers.Regularizer`.
"""

from __future__ import annotations

import torch
from torch import nn

from ganrun.base.errors import UsageError
from ganrun.base.modules import call
from ganrun.base.streams import own_streams

GUIDE = "docs/own_parts.md"
LOSS_METHODS = {
    "critic_loss": "critic_loss(critic, real, fake, labels=None)",
    "generator_loss": "generator_loss(fake_scores)",
    "after_critic_step": "after_critic_step(critic)",
}
LOSS_ATTRIBUTES = ("penalized", "decision_boundary", "generator_needs_real", "scores_given_inputs", "uses_batch_means")
REGULARIZER_METHODS = ("apply", "critic_penalty", "phase", "penalizes_inputs", "state_dict", "load_state_dict")
TERMS = ("loss", "real_scores", "fake_scores")


class PartError(UsageError):
    """A part of one's own that does not meet ganrun's interface, named in one line."""

    def __init__(self, part: str, missing: str, base: str | None = None):
        derive = f"derive it from {base}, or " if base else ""
        super().__init__(f"{part} does not meet ganrun's interface: {missing}; {derive}see {GUIDE}")


def type_name(part) -> str:
    kind = type(part)
    return f"{kind.__module__}.{kind.__qualname__}"


def check_pair(built, target: str) -> tuple[nn.Module, nn.Module]:
    """The model target's result as (generator, critic)."""
    if not (isinstance(built, (tuple, list)) and len(built) == 2 and all(isinstance(m, nn.Module) for m in built)):
        got = type_name(built)
        raise PartError(
            f"model._target_={target}",
            f"it returned a {got}, not the pair (generator, critic) of torch modules; point it at a function that "
            "builds and returns both",
        )
    return built[0], built[1]


def check_generator(generator: nn.Module, conditional: bool) -> None:
    """The attributes training reads of a generator."""
    part = f"the generator {type_name(generator)}"
    z_dim = getattr(generator, "z_dim", None)
    if not isinstance(z_dim, int) or isinstance(z_dim, bool) or z_dim < 1:
        raise PartError(part, f"it has no z_dim (an int >= 1, the noise's size), got {z_dim!r}")
    classes = getattr(generator, "num_classes", 0)
    if not isinstance(classes, int) or isinstance(classes, bool) or classes < 0:
        raise PartError(part, f"num_classes must be an int >= 0 (0: unconditional), got {classes!r}")
    if conditional and not classes:
        raise PartError(part, "model.conditional=true, and it has no num_classes >= 1 (it would ignore the labels)")
    prior = getattr(generator, "class_prior", None)
    if classes and not (torch.is_tensor(prior) and prior.shape == (classes,)):
        raise PartError(
            part,
            f"a conditional generator has the buffer class_prior of {classes} entries (register_buffer), which "
            "ganrun sets to the data's class frequencies",
            "ganrun.models.conditional.LabelledGenerator",
        )


@torch.no_grad()
def check_networks(generator: nn.Module, critic: nn.Module, image_shape: tuple[int, int, int] | None) -> None:
    """Call both networks once on two samples, in eval mode on random streams of their own (nothing they hold or
    training draws changes): the generator returns images of `image_shape` (C, H, W), the critic a score each."""
    device = next(generator.parameters(), torch.zeros(())).device
    noise = torch.randn(2, generator.z_dim, generator=torch.Generator().manual_seed(0)).to(device)
    labels = torch.zeros(2, dtype=torch.long, device=device) if getattr(generator, "num_classes", 0) else None
    modes = generator.training, critic.training
    generator.eval(), critic.eval()
    try:
        with own_streams():
            images = _called(generator, "generator", noise, labels)
            expected = (2, *image_shape) if image_shape is not None else None
            if not torch.is_tensor(images) or (expected is not None and tuple(images.shape) != expected):
                got = tuple(images.shape) if torch.is_tensor(images) else type_name(images)
                raise PartError(
                    f"the generator {type_name(generator)}",
                    f"G(z) of 2 noise vectors returned {got}, not images of shape {expected} (N×C×H×W of the data)",
                )
            scores = _called(critic, "critic", images, labels)
            if not torch.is_tensor(scores) or scores.numel() != 2:
                got = tuple(scores.shape) if torch.is_tensor(scores) else type_name(scores)
                raise PartError(
                    f"the critic {type_name(critic)}", f"D(x) of 2 images returned {got}, not one score each"
                )
    finally:
        generator.train(modes[0]), critic.train(modes[1])


def _called(net: nn.Module, role: str, x: torch.Tensor, labels: torch.Tensor | None):
    try:
        return call(net, x, labels)
    except TypeError as exc:  # a conditional call a network does not take
        form = f"{role[0].upper()}(x, labels)" if labels is not None else f"{role[0].upper()}(x)"
        raise PartError(f"the {role} {type_name(net)}", f"it cannot be called as {form} ({exc})") from None


def check_loss(loss) -> None:
    """The methods and attributes training uses of a loss."""
    part = f"the loss {type_name(loss)}"
    base = "ganrun.objectives.losses.Loss"
    for method, form in LOSS_METHODS.items():
        if not callable(getattr(loss, method, None)):
            raise PartError(part, f"it has no method {form}", base)
    for attribute in LOSS_ATTRIBUTES:
        if not hasattr(loss, attribute):
            raise PartError(part, f"it has no attribute {attribute}", base)


def check_loss_terms(loss, generator: nn.Module, critic: nn.Module) -> None:
    """Call the loss once on two generated images (eval mode, random streams of its own): critic_loss returns
    the terms training reads, and generator_loss a scalar."""
    part = f"the loss {type_name(loss)}"
    device = next(generator.parameters(), torch.zeros(())).device
    labels = torch.zeros(2, dtype=torch.long, device=device) if getattr(generator, "num_classes", 0) else None
    modes = generator.training, critic.training
    generator.eval(), critic.eval()
    try:
        with own_streams():
            with torch.no_grad():
                images = call(generator, torch.randn(2, generator.z_dim, device=device), labels)
            terms = loss.critic_loss(critic, images, images.flip(0), labels)
            missing = [key for key in TERMS if not isinstance(terms, dict) or key not in terms]
            if missing:
                raise PartError(part, f"critic_loss returned no {', '.join(map(repr, missing))} (a dict of tensors)")
            if not torch.is_tensor(terms["loss"]) or terms["loss"].numel() != 1:
                raise PartError(part, "critic_loss's 'loss' is not a scalar tensor")
            relativistic = loss.generator_needs_real
            scores = (terms["fake_scores"], terms["real_scores"]) if relativistic else (terms["fake_scores"],)
            value = loss.generator_loss(*scores)
            if not torch.is_tensor(value) or value.numel() != 1:
                form = "generator_loss(fake_scores, real_scores)" if relativistic else "generator_loss(fake_scores)"
                raise PartError(part, f"{form} returned no scalar tensor")
    finally:
        generator.train(modes[0]), critic.train(modes[1])


def check_regularizer(regularizer) -> None:
    """The methods training calls of a regularizer."""
    part = f"the regularizer {type_name(regularizer)}"
    base = "ganrun.objectives.regularizers.Regularizer"
    for method in REGULARIZER_METHODS:
        if not callable(getattr(regularizer, method, None)):
            raise PartError(part, f"it has no method {method}", base)
    if not hasattr(regularizer, "penalized"):
        raise PartError(part, "it has no attribute penalized", base)

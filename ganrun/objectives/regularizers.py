"""Regularizers: hooks orthogonal to the loss. `apply` changes the networks once at build time;
`critic_penalty` adds a term to the critic's loss at each critic step."""

from __future__ import annotations

import torch
from torch import nn

from ganrun.base.errors import UsageError
from ganrun.base.modules import call
from ganrun.objectives.penalties import input_grad_norm, squared_grad_norm


def _require(ok: bool, key: str, allowed: str, value) -> None:
    if not ok:
        raise UsageError(f"regularizer.{key}={value} is out of range: it must be {allowed}")


class Regularizer:
    """No regularization (`regularizer=none`)."""

    penalized = False  # whether critic_penalty takes gradients at the critic's input

    def apply(self, generator: nn.Module, critic: nn.Module) -> None:
        """Change the networks once, before the optimizers are made."""

    def critic_penalty(
        self, critic, real, fake, critic_step: int, labels=None, terms: dict | None = None
    ) -> dict | None:
        """Named terms to add to the critic's loss ("penalty" is added), or None. `terms` are the loss's own
        (with the scores "real_scores" and "fake_scores"); `labels` those of a class-conditional critic."""
        return None

    def penalizes_inputs(self, critic_step: int) -> bool:
        """Whether `critic_penalty` at `critic_step` takes input gradients of the loss's own scores, so that the step
        must hand the loss inputs that require grad (R1R2; see Loss.scores_given_inputs)."""
        return False

    def phase(self, critic_step: int):
        """What decides, beside the networks, which operations `critic_penalty` runs at `critic_step` (a lazy
        penalty: whether it is due); steps of one phase run the same operations, so one CUDA graph serves them."""
        return None

    def state_dict(self) -> dict:
        """What a checkpoint must hold for the run to continue exactly (nothing, for most)."""
        return {}

    def load_state_dict(self, state: dict) -> None:
        """Continue from state_dict()."""


class SpectralNorm(Regularizer):
    """Spectral normalization of every conv and linear layer of the critic, its class embedding (a projection
    critic's, as Miyato & Koyama) and, if `generator`, of G's conv and linear layers."""

    def __init__(self, n_power_iterations: int = 1, generator: bool = False):
        _require(n_power_iterations >= 1, "n_power_iterations", ">= 1", n_power_iterations)
        self.n_power_iterations, self.generator = n_power_iterations, generator

    def _wrap(self, net: nn.Module, kinds: tuple) -> None:
        for layer in [m for m in net.modules() if isinstance(m, kinds)]:
            nn.utils.parametrizations.spectral_norm(layer, n_power_iterations=self.n_power_iterations)

    def apply(self, generator, critic):
        layers = (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)
        self._wrap(critic, layers + (nn.Embedding,))
        if self.generator:  # not G's class-conditional gains and biases: they start at 1 and 0, not at norm 1
            self._wrap(generator, layers)


class R1(Regularizer):
    """Zero-centred gradient penalty on real data, (γ/2)·E[‖∇D(x)‖²]; with `every` > 1 it is lazy:
    taken every `every` critic steps and scaled by `every` so its average strength stays the same."""

    penalized = True

    def __init__(self, gamma: float = 10.0, every: int = 1):
        _require(gamma >= 0, "gamma", ">= 0", gamma)
        _require(every >= 1, "every", ">= 1", every)
        self.gamma, self.every = gamma, every
        self.weight_on_device: torch.Tensor | None = None  # (γ/2)·every where a CUDA graph reads it

    def _product(self) -> float:
        # One expression for the number and the device tensor, so both are the same float (every·0.5·γ in this order).
        return self.every * 0.5 * self.gamma

    def weight(self):
        """The penalty's weight, (γ/2)·every: a number, or the device tensor a captured step reads."""
        return self._product() if self.weight_on_device is None else self.weight_on_device

    def set_gamma(self, value: float) -> None:
        """A scheduled γ (in place, where a CUDA graph reads the weight)."""
        self.gamma = value
        if self.weight_on_device is not None:
            self.weight_on_device.fill_(self._product())

    def weight_to_device(self, device: torch.device) -> None:
        """Keep the weight in a float32 tensor on `device`: float32 of the same product the number is, so that a
        graphed step multiplies by what an eager one does (a Python number enters a float32 product as float32)."""
        if self.weight_on_device is None:
            self.weight_on_device = torch.tensor(self._product(), dtype=torch.float32, device=device)

    def phase(self, critic_step):
        return critic_step % self.every == 0

    def critic_penalty(self, critic, real, fake, critic_step, labels=None, terms=None):
        if not self.phase(critic_step):
            return None
        norms = input_grad_norm(critic, real, labels)
        return {"penalty": self.weight() * norms.pow(2).mean(), "r1_grad_norm": norms.mean().detach()}


class R1R2(R1):
    """R3GAN's zero-centred penalties on both batches, (γ/2)·(E‖∇D(x)‖² + E‖∇D(G(z))‖²): R1 on the real images, R2
    on the generator's (detached) ones, taken where R1 is (the un-augmented images, through the augmentation);
    lazy with `every` > 1 as R1. With a loss that scores its inputs as given (rpgan, ragan) the training step hands
    over inputs that require grad (`penalizes_inputs`), and the loss's own scores are differentiated: the critic
    runs once per batch, as in R3GAN's code."""

    def penalizes_inputs(self, critic_step: int) -> bool:
        return self.phase(critic_step)

    def critic_penalty(self, critic, real, fake, critic_step, labels=None, terms=None):
        if not self.phase(critic_step):
            return None
        shared = terms is not None and real.requires_grad and fake.requires_grad
        r1, r2 = (
            squared_grad_norm(critic, x, labels, terms[key] if shared else None)
            for x, key in ((real, "real_scores"), (fake, "fake_scores"))
        )
        return {
            "penalty": self.weight() * (r1.mean() + r2.mean()),
            "r1_grad_norm": r1.detach().sqrt().mean(),
            "r2_grad_norm": r2.detach().sqrt().mean(),
        }


class LeCam(Regularizer):
    """LeCam regularization (Tseng et al. 2021): λ·(E[(D(x) − α_F)²] + E[(D(G(z)) − α_R)²]), α_R and α_F moving
    averages (decay `decay`) of the critic's mean scores of real and fake batches; the first batch sets them.
    `one_sided` squares only the part past the anchor, relu(D(x) − α_F)² and relu(α_R − D(G(z)))², as the authors'
    code does (the paper's formula is two-sided)."""

    def __init__(self, weight: float = 0.3, decay: float = 0.99, one_sided: bool = False):
        _require(weight >= 0, "weight", ">= 0", weight)
        _require(0 <= decay < 1, "decay", "in [0, 1)", decay)
        self.weight, self.decay, self.one_sided = float(weight), float(decay), one_sided
        self.alpha_real = self.alpha_fake = None  # device tensors once the first batch is seen: no host sync

    def critic_penalty(self, critic, real, fake, critic_step, labels=None, terms=None):
        if terms is None:
            terms = {"real_scores": call(critic, real, labels), "fake_scores": call(critic, fake.detach(), labels)}
        real_scores, fake_scores = terms["real_scores"].float(), terms["fake_scores"].float()
        self._track(real_scores.detach().mean(), fake_scores.detach().mean())
        above, below = real_scores - self.alpha_fake, self.alpha_real - fake_scores
        if self.one_sided:
            above, below = above.clamp(min=0), below.clamp(min=0)
        penalty = self.weight * (above.pow(2).mean() + below.pow(2).mean())
        return {"penalty": penalty, "lecam_alpha_real": self.alpha_real, "lecam_alpha_fake": self.alpha_fake}

    @torch.no_grad()
    def _track(self, real_mean: torch.Tensor, fake_mean: torch.Tensor) -> None:
        """α ← decay·α + (1 − decay)·mean, with this batch's means (the first batch: α = its mean)."""
        if self.alpha_real is None:
            self.alpha_real, self.alpha_fake = real_mean.clone(), fake_mean.clone()
            return
        if self.alpha_real.device != real_mean.device:  # averages restored from a checkpoint come from the CPU
            self.alpha_real, self.alpha_fake = (
                self.alpha_real.to(real_mean.device),
                self.alpha_fake.to(real_mean.device),
            )
        # In place: a CUDA graph that captured this update goes on updating the tensors a checkpoint saves.
        self.alpha_real.lerp_(real_mean, 1 - self.decay)
        self.alpha_fake.lerp_(fake_mean, 1 - self.decay)

    def state_dict(self):
        if self.alpha_real is None:
            return {}
        # Copies: the averages move on in place after the snapshot.
        return {"alpha_real": self.alpha_real.to("cpu", copy=True), "alpha_fake": self.alpha_fake.to("cpu", copy=True)}

    def load_state_dict(self, state):
        if state.get("alpha_real") is not None:
            self.alpha_real, self.alpha_fake = state["alpha_real"].clone(), state["alpha_fake"].clone()

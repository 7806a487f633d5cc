"""Regularizers: hooks orthogonal to the loss. `apply` changes the networks once at build time;
`critic_penalty` adds a term to the critic's loss at each critic step."""

from typing import Optional

from torch import nn

from ganrun.errors import UsageError
from ganrun.objectives.penalties import input_grad_norm


class Regularizer:
    """No regularization (`regularizer=none`)."""

    penalized = False  # whether critic_penalty takes gradients at the critic's input

    def apply(self, generator: nn.Module, critic: nn.Module) -> None:
        """Change the networks once, before the optimizers are made."""

    def critic_penalty(self, critic, real, fake, critic_step: int) -> Optional[dict]:
        """Named terms to add to the critic's loss ("penalty" is added), or None."""
        return None


class SpectralNorm(Regularizer):
    """Spectral normalization of every conv and linear layer of the critic (and of G if `generator`)."""

    def __init__(self, n_power_iterations: int = 1, generator: bool = False):
        if n_power_iterations < 1:
            raise UsageError(f"regularizer.n_power_iterations={n_power_iterations} is out of range: it must be >= 1")
        self.n_power_iterations, self.generator = n_power_iterations, generator

    def _wrap(self, net: nn.Module) -> None:
        layers = [m for m in net.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear))]
        for layer in layers:
            nn.utils.parametrizations.spectral_norm(layer, n_power_iterations=self.n_power_iterations)

    def apply(self, generator, critic):
        self._wrap(critic)
        if self.generator:
            self._wrap(generator)


class R1(Regularizer):
    """Zero-centred gradient penalty on real data, (γ/2)·E[‖∇D(x)‖²]; with `every` > 1 it is lazy:
    taken every `every` critic steps and scaled by `every` so its average strength stays the same."""

    penalized = True

    def __init__(self, gamma: float = 10.0, every: int = 1):
        if gamma < 0:
            raise UsageError(f"regularizer.gamma={gamma} is out of range: it must be >= 0")
        if every < 1:
            raise UsageError(f"regularizer.every={every} is out of range: it must be >= 1")
        self.gamma, self.every = gamma, every

    def critic_penalty(self, critic, real, fake, critic_step):
        if critic_step % self.every:
            return None
        norms = input_grad_norm(critic, real)
        return {"penalty": self.every * 0.5 * self.gamma * norms.pow(2).mean(), "r1_grad_norm": norms.mean().detach()}

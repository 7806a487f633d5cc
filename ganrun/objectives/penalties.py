"""Gradient penalties on the critic's input: the math shared by WGAN-GP, WGAN-div and R1.

A class-conditional critic scores each point with a label: the real sample's label at a point made from a
real sample (at x̂ = εx + (1−ε)G(z) too, where G(z) was drawn with x's label anyway)."""

from __future__ import annotations

import torch

from ganrun.base.modules import call, eager

WGAN_DIV_INTERPOLATED = ("interpolate", "interpolate_within", "interpolate_mixed")
WGAN_DIV_BATCHES = ("real_fake", "fake", "real")  # r(x) is the batches themselves: handled by the loss
WGAN_DIV_POINTS = WGAN_DIV_INTERPOLATED + WGAN_DIV_BATCHES


def input_gradient(scores: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """∇ₓD(x) per sample, from scores D(x) of an x that requires grad, in fp32 at least; differentiable
    (create_graph)."""
    # Summing the scores gives each sample's own gradient, since D scores samples independently.
    (grad,) = torch.autograd.grad(scores.sum(), x, create_graph=True)
    # Computed in fp32 at least, whatever the autocast dtype: squares of small gradients underflow in bf16.
    return grad.to(torch.promote_types(grad.dtype, torch.float32))


def grad_norm_at(scores: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """‖∇ₓD(x)‖₂ per sample from scores D(x) of an x that requires grad; differentiable (create_graph)."""
    return input_gradient(scores, x).flatten(1).norm(2, dim=1)


def squared_grad_norm(critic, x: torch.Tensor, labels: torch.Tensor | None = None, scores=None) -> torch.Tensor:
    """‖∇ₓD(x)‖₂² per sample (the zero-centred penalties R1 and R2), as a sum of squares; differentiable. `scores`:
    D(x) already computed from this very x (which requires grad), so that D runs once; else D runs here."""
    if scores is None:
        x = x.detach().requires_grad_(True)
        scores = call(eager(critic), x, labels)  # eager: torch.compile cannot differentiate twice
    return input_gradient(scores, x).square().flatten(1).sum(1)


def input_grad_norm(critic, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
    """‖∇ₓD(x)‖₂ per sample (D(x, labels) for a conditional critic), the norm over the whole flattened sample;
    differentiable (create_graph)."""
    x = x.detach().requires_grad_(True)
    return grad_norm_at(call(eager(critic), x, labels), x)  # eager: torch.compile cannot differentiate twice


def interpolate(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """εa + (1−ε)b with one ε ~ U[0, 1] per sample."""
    eps = torch.rand(a.shape[0], *([1] * (a.dim() - 1)), device=a.device, dtype=a.dtype)
    return eps * a + (1 - eps) * b


def gradient_penalty(
    critic, real, fake, one_sided: bool = False, labels: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """WGAN-GP: E[(‖∇D(x̂)‖ − 1)²] at x̂ between real and fake (one-sided: only norms above 1), x̂ scored with the
    real sample's label; returns (penalty, norms)."""
    norms = input_grad_norm(critic, interpolate(real, fake.detach()), labels)
    excess = (norms - 1).clamp(min=0) if one_sided else norms - 1
    return excess.pow(2).mean(), norms


def wgan_div_sets(
    real: torch.Tensor, fake: torch.Tensor, points: str, labels: torch.Tensor | None = None
) -> list[tuple[torch.Tensor, torch.Tensor | None]]:
    """The interpolated point sets r(x) of WGAN-div, each with the labels its points are scored with (those of
    the first sample of each pair); the penalty averages E[‖∇D‖^p] over the sets."""
    fake = fake.detach()
    if points == "interpolate":
        return [(interpolate(real, fake), labels)]
    if points == "interpolate_within":
        return [
            (interpolate(real, real[torch.randperm(len(real), device=real.device)]), labels),
            (interpolate(fake, fake[torch.randperm(len(fake), device=fake.device)]), labels),
        ]
    if points == "interpolate_mixed":
        union = torch.cat([real, fake])
        chosen = torch.randint(len(union), (2, len(union)), device=union.device)
        # G(z_i) was drawn with x_i's label, so the union's labels are the real batch's twice.
        union_labels = None if labels is None else torch.cat([labels, labels])[chosen[0]]
        return [(interpolate(union[chosen[0]], union[chosen[1]]), union_labels)]
    raise ValueError(f"loss.points={points!r} is not one of {', '.join(WGAN_DIV_INTERPOLATED)}")


def wgan_div_penalty(
    critic, real, fake, p: float, points: str, labels: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean over the interpolated point sets of E[‖∇D(x)‖^p]; returns (penalty without k, all norms)."""
    norms = [input_grad_norm(critic, x, set_labels) for x, set_labels in wgan_div_sets(real, fake, points, labels)]
    penalty = torch.stack([n.pow(p).mean() for n in norms]).mean()
    return penalty, torch.cat(norms)

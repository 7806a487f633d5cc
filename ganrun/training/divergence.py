"""Divergence: remember on the device the first step at which each watched term went non-finite."""

import torch

from ganrun.base.errors import UsageError
from ganrun.training.devices import capturing


class DivergenceError(UsageError):
    """Training produced a non-finite loss or weight."""


class NonFiniteWatch:
    """Per term, the first step with a NaN/inf value, tracked without a host sync; `check()` syncs.

    The step being trained lives on the device (`set_step` fills it once per step), so that `observe` copies
    nothing from the host and a CUDA graph that captured it records the step of each replay. Each term keeps the
    smallest step at which it was non-finite (NEVER until then): four small kernels per observed loss, which an
    eager step launches for every loss (scripts/eager_profile.py counts them)."""

    NEVER = 2**62

    def __init__(self, device: torch.device):
        self.device = device
        self.step = torch.zeros((), dtype=torch.long, device=device)
        self._never = torch.full((), self.NEVER, dtype=torch.long, device=device)
        self._first_bad: dict[str, torch.Tensor] = {}

    def set_step(self, step: int) -> None:
        self.step.fill_(step)

    def observe(self, name: str, value: torch.Tensor) -> None:
        first = self._first_bad.get(name)
        if first is None:
            if capturing():  # a tensor made inside a capture would be re-made by every replay
                raise RuntimeError(f"{name} was first watched inside a CUDA graph capture; run one eager step first")
            first = self._first_bad[name] = self._never.clone()
        value = value.detach()
        total = value if value.dim() == 0 else value.sum()  # a NaN or an inf anywhere makes the sum one
        finite = (total - total) == 0  # 0 for every finite number, NaN for inf and NaN: isfinite in two kernels
        torch.minimum(first, torch.where(finite, self._never, self.step), out=first)

    def first_bad(self) -> tuple[str, int] | None:
        """The earliest (term, step) that went non-finite, or None."""
        if not self._first_bad:
            return None
        names = list(self._first_bad)
        steps = torch.stack([self._first_bad[n] for n in names]).tolist()
        bad = [(step, name) for name, step in zip(names, steps) if step < self.NEVER]
        return (min(bad)[1], min(bad)[0]) if bad else None


def non_finite_parameters(*modules: torch.nn.Module) -> list[str]:
    """Names of parameters holding a NaN or inf (one sync for all of them)."""
    named = [(f"{i}.{name}", p) for i, m in enumerate(modules) for name, p in m.named_parameters()]
    if not named:
        return []
    flags = torch.stack([torch.isfinite(p.detach()).all() for _, p in named]).tolist()
    return [name for (name, _), ok in zip(named, flags) if not ok]


class UpdateGuard:
    """`train.nan_policy`: `stop` watches losses on the device and stops at the next check; `skip` drops an
    update whose loss is non-finite (one host sync per update: the price of deciding before stepping)."""

    def __init__(self, policy: str, device: torch.device):
        if policy not in ("stop", "skip"):
            raise UsageError(f"train.nan_policy={policy} is not allowed: it must be stop or skip")
        self.policy, self.watch, self.skipped = policy, NonFiniteWatch(device), 0

    def set_step(self, step: int) -> None:
        """The generator step the next updates belong to (what a divergence report names)."""
        self.watch.set_step(step)

    def allows(self, name: str, loss: torch.Tensor) -> bool:
        """Whether to apply the update whose loss is `loss`."""
        if self.policy == "skip":
            if bool(torch.isfinite(loss.detach()).all()):
                return True
            self.skipped += 1
            return False
        self.watch.observe(name, loss)
        return True

    def check(self, step: int, last_good: int | None, *modules: torch.nn.Module) -> None:
        """Raise DivergenceError if a watched loss or any weight went non-finite."""
        bad = self.watch.first_bad()
        if bad is None and (names := non_finite_parameters(*modules)):
            bad = (f"weight {names[0]}", step)
        if bad is not None:
            kept = f"the last good checkpoint (step {last_good}) is kept" if last_good else "no checkpoint was written"
            raise DivergenceError(
                f"training diverged: {bad[0]} became non-finite at step {bad[1]}; {kept}; "
                "lower the learning rates, or set train.nan_policy=skip to drop such updates"
            )

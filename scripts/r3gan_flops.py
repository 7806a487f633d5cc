"""`python scripts/r3gan_flops.py OVERRIDES...`: the parameters of G and D and the floating-point operations of one
training step (n_critic critic updates with their penalties' double backward, one generator update) of a
configuration, counted by torch.utils.flop_counter on the real step (training/step.py). docs/models.md divides them
by the step's measured time."""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the checkout's ganrun, installed or not

import torch  # noqa: E402
from hydra import compose, initialize_config_dir  # noqa: E402
from torch.utils._python_dispatch import TorchDispatchMode  # noqa: E402
from torch.utils.flop_counter import flop_registry  # noqa: E402

from ganrun.app import resolvers, schema  # noqa: E402
from ganrun.app.assemble import build, start  # noqa: E402
from ganrun.app.resolve import resolve  # noqa: E402
from ganrun.training.divergence import UpdateGuard  # noqa: E402
from ganrun.training.stats import RunningMeans  # noqa: E402
from ganrun.training.step import next_batches, train_step  # noqa: E402

CONF = Path(__file__).resolve().parent.parent / "conf"


class Flops(TorchDispatchMode):
    """Sums torch.utils.flop_counter's formulas over every op that runs (FlopCounterMode's module tracking cannot
    follow the double backward of a gradient penalty)."""

    def __init__(self):
        super().__init__()
        self.total = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        formula = flop_registry.get(func._overloadpacket)
        if formula is not None:
            self.total += formula(*args, **(kwargs or {}), out_val=out)
        return out


def count(overrides: list[str], steps: int = 4) -> dict:
    """The mean over `steps` steps after the first (a lazy penalty is due every few)."""
    schema.register()
    resolvers.register_resolvers()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose(config_name="train", overrides=overrides)
    cpu = torch.device("cpu")
    plan = resolve(cfg)
    (parts, _), settings = start(plan, build(plan)), plan.settings
    args = (RunningMeans(), UpdateGuard("stop", cpu))
    train_step(parts, settings, next_batches(parts, settings), 0, *args)  # the first step may differ (lazy R1 due)
    with Flops() as counter:
        for step in range(1, steps + 1):
            train_step(parts, settings, next_batches(parts, settings), step * settings.n_critic, *args)
    return {
        "overrides": overrides,
        "parameters": {
            name: sum(p.numel() for p in m.parameters()) for name, m in (("G", parts.generator), ("D", parts.critic))
        },
        "flops_per_step": counter.total / steps,
    }


if __name__ == "__main__":
    print(json.dumps(count(sys.argv[1:])))

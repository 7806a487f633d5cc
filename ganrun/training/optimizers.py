"""The optimizers `optim.generator` and `optim.critic` build: each config node's `name` (adam | rmsprop) picks one of
these as its `_target_`, and Hydra builds it with `_partial_` (ganrun/build.py hands over the parameters)."""

import torch


def adam(params, lr: float, betas=(0.5, 0.999), device: torch.device | None = None) -> torch.optim.Adam:
    """Adam; fused on a GPU (one kernel for every parameter)."""
    betas = tuple(float(beta) for beta in betas)  # a config's 0 is an int, which Adam takes for neither kind
    return torch.optim.Adam(params, lr=float(lr), betas=betas, fused=device is not None and device.type == "cuda")


def rmsprop(params, lr: float, betas=None, device: torch.device | None = None) -> torch.optim.RMSprop:
    """RMSprop (WGAN's, with weight clipping). `betas` is Adam's: a node switched to rmsprop by its name alone
    (optim.critic.name=rmsprop) still carries the default Adam's, which RMSprop has no use for."""
    return torch.optim.RMSprop(params, lr=float(lr))


class GraphAdam(torch.optim.Adam):
    """Adam whose learning rate and betas are device tensors that its step reads, so that a CUDA graph replays the
    step with the values a schedule filled in before each replay (training/graph_values.py makes a run's Adam one
    when its β₂ is scheduled). PyTorch's fused Adam reads β₂ on the host, and its foreach Adam, which takes a tensor
    β₂, builds a tensor from host data on a CPU: this is Adam's update as PyTorch's capturable single-tensor path
    computes it, in tensor operations alone. Its state is Adam's, so a checkpoint goes either way."""

    @torch.no_grad()
    def step(self, closure=None):
        for group in self.param_groups:
            lr, (beta1, beta2), eps = group["lr"], group["betas"], group["eps"]
            for param in group["params"]:
                if param.grad is None:
                    continue
                state = self.state[param]
                if not state:
                    state["step"] = torch.zeros((), dtype=torch.float32, device=param.device)
                    state["exp_avg"] = torch.zeros_like(param, memory_format=torch.preserve_format)
                    state["exp_avg_sq"] = torch.zeros_like(param, memory_format=torch.preserve_format)
                step, exp_avg, exp_avg_sq, grad = state["step"], state["exp_avg"], state["exp_avg_sq"], param.grad
                step.add_(1)
                exp_avg.lerp_(grad, 1 - beta1)
                exp_avg_sq.mul_(beta2).add_(grad * grad * (1 - beta2))
                step_size = lr / (1 - beta1**step)
                denom = (exp_avg_sq.sqrt() / ((1 - beta2**step).sqrt() * -step_size)).add_(eps / -step_size)
                param.addcdiv_(exp_avg, denom)

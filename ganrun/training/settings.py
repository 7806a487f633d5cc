"""The training loop's knobs, read from the config at the edge; shared by the loop, the step and the graphs."""

from dataclasses import dataclass


@dataclass(kw_only=True)
class Settings:
    """The loop's knobs, read from the config at the edge (app/resolve.py: settings_from); keyword-only, as their
    names say what each number is."""

    steps: int  # generator updates in the whole run
    batch_size: int
    n_critic: int
    log_every: int
    images_every: int
    ckpt_every: int
    nan_policy: str = "stop"  # stop | skip
    metrics_every: int = 0  # generator steps between quality evaluations; 0 = only at the end
    precision: str = "fp32"  # fp32 | bf16
    channels_last: bool = False
    progress: bool = True  # the progress bar (rank 0 only under torchrun)
    cuda_graphs: bool = False  # replay each generator step from a CUDA graph (ganrun.training.graphs)
    accumulate: int = 1  # chunks each update's batch goes through, their gradients summed

"""What every logger is told about the run it records."""

from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class RunInfo:
    run_dir: Path
    resumed_step: int = 0  # the checkpoint step a resumed run continues from; 0: from the start
    hparams: dict = field(default_factory=dict)  # group choices and command-line keys, as TensorBoard's HParams
    config: dict = field(default_factory=dict)  # the resolved config of what trains, plain containers
    sweep_dir: Path | None = None  # the sweep folder of a sweep's job, also when the job is resumed on its own

    @property
    def name(self) -> str:
        """A sweep job's folder name (3_lambda_gp=100), else the run folder's last two names (2026-11-22/10-00-00)."""
        path = Path(self.run_dir)
        return path.name if self.sweep_dir else f"{path.parent.name}/{path.name}"

    @property
    def sweep_name(self) -> str | None:
        """The sweep folder's last two names (2026-11-22/10-00-00): the group of its jobs in a tracker."""
        return f"{Path(self.sweep_dir).parent.name}/{Path(self.sweep_dir).name}" if self.sweep_dir else None


def hparams_of(choices: dict, overrides: list[str], cfg, groups: tuple[str, ...]) -> dict:
    """A run's HParams: its option of each config group, and every key set on the command line with its value in
    the composed config (numbers and booleans as they are, anything else as typed); not where it logs or resumes."""
    from omegaconf import OmegaConf

    from ganrun.runstate.overrides import split_override

    params: dict = {group: option for group, option in choices.items() if group in groups and option is not None}
    for override in overrides:
        key, typed = split_override(override)
        if key.startswith("hydra") or key == "resume" or key.split(".")[0] == "logger" or key in groups:
            continue
        value = OmegaConf.select(cfg, key, default=None)
        params[key] = value if isinstance(value, (bool, int, float)) else (typed or "")
    return params

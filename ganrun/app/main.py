"""The Hydra app: compose the config, then train the run (app/run.py, imported only once there is one to train,
so that `--cfg`, `--help` and a bad override answer without loading torch)."""

from pathlib import Path

import hydra
from omegaconf import DictConfig

from ganrun.app import resolvers, schema, search


def _config_path() -> str:
    """The conf/ beside this package in a checkout (editable install, or another checkout on PYTHONPATH: the
    package and its config always from one tree); pkg://ganrun.conf in an installed wheel."""
    checkout = Path(__file__).resolve().parent.parent.parent
    if (checkout / "conf" / "train.yaml").is_file() and (checkout / "ganrun" / "app").is_dir():
        return str(checkout / "conf")
    return "pkg://ganrun.conf"


schema.register()
resolvers.register_resolvers()
search.register_sweeper_defaults()


@hydra.main(version_base="1.3", config_path=_config_path(), config_name="train")
def main(cfg: DictConfig) -> float | None:
    """Entry point of `python -m ganrun` and the `ganrun` console script. Returns the run's final value of
    search.objective, which an Optuna sweep optimizes; None (a failed trial) when it has none."""
    from ganrun.app.run import run_job

    return run_job(cfg)

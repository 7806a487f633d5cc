"""Before Hydra starts: a launcher or sweeper named on the command line must be installed, else a one-line hint."""

import importlib.util
import sys

from ganrun.base.errors import UsageError, exit_with
from ganrun.runstate.overrides import split_override

# hydra/launcher options that need hydra-submitit-launcher: ganrun's presets (conf/hydra/launcher/)
# and the plugin's own names.
SUBMITIT_LAUNCHERS = {"slurm", "local", "submitit_slurm", "submitit_local"}
SUBMITIT_MODULES = ("hydra_plugins.hydra_submitit_launcher", "submitit")
INSTALL_HINT = 'pip install -e ".[slurm]"'
# hydra/sweeper=optuna and the search presets (conf/experiment/search_*.yaml) need hydra-optuna-sweeper.
OPTUNA_MODULES = ("hydra_plugins.hydra_optuna_sweeper", "optuna")
SEARCH_HINT = 'pip install -e ".[search]"'


def requested(argv: list[str], group: str) -> list[str]:
    """The options of every `GROUP=X` override in argv (also `+`/`++` and sweeps `X,Y`)."""
    names = []
    for arg in argv:
        key, value = split_override(arg)
        if value is not None and key.strip("/") == group:
            names += [v.strip().strip("'\"") for v in value.split(",")]
    return names


def requested_launchers(argv: list[str]) -> list[str]:
    """The options of every `hydra/launcher=X` override in argv."""
    return requested(argv, "hydra/launcher")


def is_installed(module: str) -> bool:
    """True when `module` can be imported (without importing it)."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a missing parent package, or a module set to None in sys.modules
        return False


def check_launcher_installed(argv: list[str]) -> None:
    """Raise UsageError when argv asks for a submitit launcher and hydra-submitit-launcher is not installed."""
    wanted = [name for name in requested_launchers(argv) if name in SUBMITIT_LAUNCHERS]
    if wanted and not all(is_installed(module) for module in SUBMITIT_MODULES):
        raise UsageError(f"hydra/launcher={wanted[0]} needs the submitit launcher: {INSTALL_HINT}")


def check_sweeper_installed(argv: list[str]) -> None:
    """Raise UsageError when argv asks for the Optuna sweeper (or a search preset) and it is not installed."""
    wanted = [f"hydra/sweeper={name}" for name in requested(argv, "hydra/sweeper") if name == "optuna"]
    wanted += [f"experiment={name}" for name in requested(argv, "experiment") if name.startswith("search_")]
    if wanted and not all(is_installed(module) for module in OPTUNA_MODULES):
        raise UsageError(f"{wanted[0]} needs the Optuna sweeper: {SEARCH_HINT}")


def exit_if_plugin_missing(argv: list[str] | None = None) -> None:
    """The checks above on sys.argv[1:], for entry points: print `Error: ...` and exit 2 on failure."""
    argv = sys.argv[1:] if argv is None else argv
    try:
        check_launcher_installed(argv)
        check_sweeper_installed(argv)
    except UsageError as exc:
        exit_with(exc)

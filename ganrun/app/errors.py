"""Hydra's own config errors (an unknown key, option or value) as one line and exit code 2, as ganrun's are."""

import os
import sys

from hydra._internal import utils as hydra_utils
from hydra.errors import CompactHydraException

from ganrun.base.errors import UsageError, exit_with
from ganrun.runstate.storage import REASONS


def one_line(exc: BaseException) -> str:
    """Hydra's message and its cause joined by '; ' (a list under a line ending in ':' joined by commas), e.g.
    `Could not override 'loss.lamda_gp'; To append to your config use +loss.lamda_gp=1; Key 'lamda_gp' is not in
    struct; full_key: loss.lamda_gp`."""
    lines = [line.strip() for text in (str(exc), str(exc.__cause__ or "")) for line in text.splitlines()]
    if "Config search path:" in lines:  # where Hydra looked: noise for a typo
        lines = lines[: lines.index("Config search path:")]
    parts: list[str] = []
    items = None  # the entries of a list whose header ends in ':'
    for line in (line for line in lines if line and not line.startswith(("object_type=", "reference_type="))):
        if items is not None and " " not in line:
            items.append(line)
            continue
        if items:
            parts[-1] += " " + ", ".join(items)
        items = [] if line.endswith(":") else None
        parts.append(line.rstrip("."))
    if items:
        parts[-1] += " " + ", ".join(items)
    return "; ".join(parts)


def sweep_failure(exc: BaseException) -> str | None:
    """One line for the ways a sweep itself (not one of its jobs) ends early, or None for any other error."""
    if isinstance(exc, ValueError) and "No trials are completed yet" in str(exc):  # Optuna, asked for its best trial
        return (
            "no trial of the Optuna search completed, so it has no best trial; each job's status.json and "
            "ganrun.log in the sweep folder say why, and python -m ganrun.report SWEEP_FOLDER summarizes them"
        )
    if type(exc).__name__ == "UncompletedJobError":  # submitit: a job's process ended without a result
        job = " ".join(str(exc).splitlines()[:2])
        return (
            f"{job}: its process was killed (SIGKILL, out of memory, a failed node); continue its run with "
            "python -m ganrun resume=JOB_FOLDER, then python -m ganrun.report SWEEP_FOLDER"
        )
    return None


def unwritable_folder(exc: OSError) -> str | None:
    """One line for a run or sweep folder that Hydra cannot create or write (read-only, foreign, full), or None
    for any other OSError."""
    if exc.errno not in REASONS or not exc.filename:
        return None
    return (
        f"cannot write {exc.filename}: {REASONS[exc.errno]}; set hydra.run.dir=<a writable folder> "
        "(hydra.sweep.dir for a sweep), or free space or make it writable there"
    )


def _raise(exc: BaseException):
    raise exc


def install() -> None:
    """Make Hydra report its composition errors through ganrun's `exit_with`, and a sweep that ended early (an
    Optuna search in which no trial completed, a submitit job killed) in one line and exit code 1; every other
    error, and all of them under HYDRA_FULL_ERROR=1, as Hydra does."""
    report = hydra_utils.run_and_report

    def run_and_report(func):
        if os.environ.get("HYDRA_FULL_ERROR") == "1":
            return report(func)
        try:
            return func()
        except CompactHydraException as exc:
            exit_with(UsageError(one_line(exc)))
        except OSError as exc:
            if (line := unwritable_folder(exc)) is None:
                raise
            exit_with(UsageError(line))
        except Exception as exc:  # handed to Hydra's own report, as without ganrun, unless a sweep ended early
            if (line := sweep_failure(exc)) is not None:
                print(f"Error: {line}", file=sys.stderr)
                sys.exit(1)
            failure = exc
        return report(lambda: _raise(failure))

    hydra_utils.run_and_report = run_and_report

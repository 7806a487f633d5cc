"""How the command line ends on an error: Hydra's config errors (an unknown key, option or value) and a folder it
cannot write as one line and exit code 2, as ganrun's own errors are; a sweep that ended early in one line and
exit code 1; anything else (a bug) with its traceback.

Hydra's documented switch HYDRA_FULL_ERROR=1 makes Hydra raise its errors instead of printing them; `reporting`
sets it around the app and reports them itself. A user's own HYDRA_FULL_ERROR=1 still gets Python's whole report
(GANRUN_USER_FULL_ERROR carries the user's choice into the jobs, which inherit the environment).
"""

import contextlib
import os
import sys
from collections.abc import Iterator

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


def flags_apart(exc: BaseException) -> str | None:
    """One line for Hydra's refusal of two of its modes at once (-m with --cfg), or None for any other error."""
    if isinstance(exc, ValueError) and str(exc).startswith("Only one of --run, --multirun, --cfg"):
        return (
            "-m (a sweep) and --cfg (print the config and stop) do not go together; print one job's config with "
            "python -m ganrun --cfg job and one value of each swept key, or drop --cfg to run the sweep"
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


@contextlib.contextmanager
def reporting() -> Iterator[None]:
    """Run the Hydra app inside: its errors end the command as the module docstring says."""
    user = os.environ.get("HYDRA_FULL_ERROR")
    os.environ["GANRUN_USER_FULL_ERROR"] = "1" if user == "1" else "0"
    os.environ["HYDRA_FULL_ERROR"] = "1"
    try:
        yield
    except CompactHydraException as exc:
        if user == "1":
            raise
        exit_with(UsageError(one_line(exc)))
    except OSError as exc:
        if user == "1" or (line := unwritable_folder(exc)) is None:
            raise
        exit_with(UsageError(line))
    except Exception as exc:
        if user != "1" and (line := flags_apart(exc)) is not None:
            exit_with(UsageError(line))
        if user == "1" or (line := sweep_failure(exc)) is None:
            raise
        print(f"Error: {line}", file=sys.stderr)
        sys.exit(1)
    finally:
        if user is None:
            os.environ.pop("HYDRA_FULL_ERROR", None)
        else:
            os.environ["HYDRA_FULL_ERROR"] = user
        os.environ.pop("GANRUN_USER_FULL_ERROR", None)

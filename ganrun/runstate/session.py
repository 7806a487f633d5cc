"""How a run starts and ends, behind one object the app enters and leaves: the run folder's lock (rank 0),
status.json, the stop signals (preemption), the checkpoints' writer, and one line for every way a run can end.

    session = RunSession(run_dir, steps, rank=rank, in_sweep=multirun)
    if session.claim():                       # the folder's lock; another live process: one line
        with session:                         # status, signals; an exception ends the run as below
            outcome = session.finish(train(...))

Endings: a run that completes or is preempted says so in status.json; under submitit a preempted run hands the
signal to submitit, which requeues the job (it resumes from checkpoints/last.pt), and a local sweep stops after
the job's checkpoint; a failed run records its first line in status.json, and then a sweep's job is logged and
the sweep goes on, a user error is one line and exit code 2, anything else propagates (a bug: its traceback).
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Callable
from pathlib import Path

from ganrun.base import reported
from ganrun.base.errors import UsageError, exit_with
from ganrun.runstate.checkpoint import Checkpointer
from ganrun.runstate.lock import RunFolderInUse, RunLock
from ganrun.runstate.preemption import StopRequest
from ganrun.runstate.status import RunStatus
from ganrun.runstate.storage import StorageError
from ganrun.training import distributed
from ganrun.training.loop import Outcome

log = logging.getLogger("ganrun")


def full_tracebacks() -> bool:
    """Whether the user asked for Python's whole report of an error (HYDRA_FULL_ERROR=1), not one line."""
    return os.environ.get("GANRUN_USER_FULL_ERROR", os.environ.get("HYDRA_FULL_ERROR")) == "1"


class RunSession:
    """The run folder's lock, status.json, stop signals and checkpoint writer, and the run's ending."""

    def __init__(self, run_dir: Path, steps: int, rank: int = 0, in_sweep: bool = False):
        self.run_dir, self.rank, self.in_sweep = Path(run_dir), rank, in_sweep
        self.lock = RunLock(self.run_dir, enabled=rank == 0)
        self.status = RunStatus(self.run_dir, steps, enabled=rank == 0)
        self.stop = StopRequest()
        self.checkpointer: Checkpointer | None = None
        self.outcome: Outcome | None = None
        self.failed = False
        self.training = False  # set once the run starts its first step (started())
        # What Hydra wrote before the run began: a folder that holds nothing else is this command's own, and a
        # command that fails before training (a bad value, missing data) takes it away again.
        self.new_folder = rank == 0 and not in_sweep and new_run_folder(self.run_dir)

    def claim(self) -> bool:
        """Take the run folder's lock before anything is written; another live process holding it stops a run in
        one line (exit 2), and skips a sweep's job (logged). Whether this process may train here."""
        try:
            self.lock.acquire()
        except RunFolderInUse as exc:  # before this process writes anything: the folder stays the other one's
            if not self.in_sweep:
                exit_with(exc)
            log.error("job %s: %s", self.run_dir.name, exc)
            return False
        return True

    def __enter__(self) -> RunSession:
        self.stop.install()
        return self

    def checkpoints(self, every: int, keep: int | None, last_good: tuple[Path, int] | None) -> Checkpointer:
        """The writer of checkpoints/ (rank 0 writes), continuing from `last_good` (the checkpoint resumed)."""
        self.checkpointer = Checkpointer(self.run_dir / "checkpoints", every, keep, self.rank == 0, last_good)
        return self.checkpointer

    def stop_check(self, log_every: int, world: int) -> Callable[[int], bool]:
        """The loop's `should_stop(step)`: whether a stop signal arrived. Under DDP every rank must stop at the same
        step, so the ranks agree at log boundaries (a signal reaches all of them at once)."""
        if world == 1:
            return lambda step: self.stop.requested
        return lambda step: step % log_every == 0 and distributed.agree(self.stop.requested)

    def started(self, step: int, steps: int, objective: str | None, origin: dict | None = None) -> None:
        """The run begins its first step (`origin`: where its weights started, init=PATH, shown in status.json)."""
        self.training = True
        self.status.update(step=step, steps=steps, objective=objective, **({"init": origin} if origin else {}))

    def logged(self, step: int, values: dict) -> None:
        """status.json follows the run at each log interval."""
        self.status.update(step=step)

    def finish(self, outcome: Outcome) -> Outcome:
        """Record how the run ended (completed or preempted) and its final values; a run that had nothing to train
        leaves its status.json as it was."""
        if outcome is self.outcome:  # already_trained's
            return outcome
        status = "preempted" if outcome.preempted else "completed"
        self.status.update(status=status, step=outcome.step, final=outcome.values)
        self.outcome = outcome
        if self.rank == 0:
            log.info("%s", self.where_results_are(outcome))
        return outcome

    def where_results_are(self, outcome: Outcome) -> str:
        """The run's last line: where its results are (folder, newest grid, checkpoint, TensorBoard) and its scores."""
        scores = ", ".join(
            f"{tag} {value:.4g}" for tag, value in outcome.values.items() if tag.startswith(reported.METRICS)
        )
        files = f"{self.run_dir}: samples.png (the newest grid), checkpoints/last.pt"
        if outcome.preempted:  # resume=auto would start a new folder from a new command: name this one
            return (
                f"stopped at step {outcome.step}; so far in {files}; continue this run with: "
                f"python -m ganrun resume={self.run_dir}"
            )
        return (
            f"finished at step {outcome.step}; results in {files}, status.json"
            f"{'; scores ' + scores if scores else ''}; watch it with tensorboard --logdir {self.run_dir}"
        )

    def already_trained(self, step: int, steps: int, objective: str | None) -> Outcome:
        """A resumed run (a requeued or repeated job) with nothing left to train: one line, the folder as it was,
        and the final values it ended with."""
        log.info(
            "%s is already trained to step %d (train.steps=%d): nothing to do; pass train.steps=N with N > %d to "
            "train on",
            self.run_dir,
            step,
            steps,
            step,
        )
        final = self.status.already_completed(step)
        self.status.fields.setdefault("objective", objective)
        self.outcome = Outcome(step, final, preempted=False)
        return self.outcome

    def __exit__(self, kind, exc, traceback) -> bool:
        try:
            if exc is None:
                self._ended()
                return False
            self.stop.uninstall()
            return self._failed(exc)
        finally:
            self.lock.release()
            if isinstance(exc, UsageError) and not self.training and self.new_folder:
                remove_new_folder(self.run_dir)

    def _ended(self) -> None:
        """A preempted run under submitit hands the signal to submitit (which requeues the job); a local sweep stops
        after this job's checkpoint."""
        preempted = self.outcome is not None and self.outcome.preempted
        under_submitit = bool(os.environ.get("SUBMITIT_EXECUTOR"))
        if preempted and under_submitit:
            self.stop.hand_over()
        self.stop.uninstall()
        if preempted and not under_submitit and self.in_sweep:
            raise KeyboardInterrupt  # a signal stops a local sweep too, after this job's checkpoint

    def _failed(self, exc: BaseException) -> bool:
        """Record the failure; True (swallowed) for a sweep's job, whose sweep goes on; one line for a user error."""
        if isinstance(exc, StorageError):
            exc = self._with_last_checkpoint(exc)
        self.failed = True
        if self.training or not self.new_folder or not isinstance(exc, UsageError):  # else the folder goes
            self.status.failed(exc)
        if full_tracebacks():
            return False
        if self.in_sweep and isinstance(exc, Exception):
            # One failed job must not cost the others: log it, let the sweep go on; its summary lists it.
            log.error(
                "job %s failed: %s",
                self.run_dir.name,
                self.status.fields["error"],
                exc_info=not isinstance(exc, UsageError),
            )
            return True
        if not isinstance(exc, UsageError):
            return False
        exit_with(exc)

    def _with_last_checkpoint(self, exc: StorageError) -> StorageError:
        """The write failure's line, completed with the checkpoint the run can continue from (status.json too)."""
        last_good = self.checkpointer.last_good if self.checkpointer is not None else None
        if last_good is None:
            where = "no checkpoint was written yet; free space there (or make the folder writable) and start again"
        else:
            path, step = last_good
            self.status.fields["checkpoint_step"] = step
            where = (
                f"the last good checkpoint is {path} (step {step}); free space there (or make the folder "
                f"writable) and continue this run with: python -m ganrun resume={self.run_dir}"
            )
        return StorageError(f"{exc}; {where}", step=exc.step)


HYDRA_FILES = {".hydra", "ganrun.log"}  # what Hydra writes into a run folder before the run begins


def new_run_folder(run_dir: Path) -> bool:
    """Whether the run folder holds only what Hydra wrote for this command (not a resumed run's, not a folder
    given with hydra.run.dir that holds anything else)."""
    try:
        return {p.name for p in run_dir.iterdir()} <= HYDRA_FILES
    except OSError:
        return False


def remove_new_folder(run_dir: Path) -> None:
    """Take away a run folder this command made (and the date folders above it it leaves empty, up to the current
    folder): a command that failed before training leaves nothing behind in outputs/."""
    shutil.rmtree(run_dir, ignore_errors=True)
    here = Path.cwd().resolve()
    parent = run_dir.resolve().parent
    while parent != here and here in parent.parents:
        try:
            parent.rmdir()  # only when empty
        except OSError:
            break
        parent = parent.parent

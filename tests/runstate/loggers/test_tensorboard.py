"""Spec of the TensorBoard logger's curves in a run folder that already holds events (runstate/loggers/tensorboard.py):
what TensorBoard shows continues with no overlap, whether the run resumed from a checkpoint or started over."""

from ganrun.runstate.loggers.run import RunInfo
from ganrun.runstate.loggers.tensorboard import TensorBoardLogger
from helpers.events import read_scalars


def log_steps(run: RunInfo, steps) -> None:
    logger = TensorBoardLogger(run)
    for step in steps:
        logger.scalars({"loss/critic": float(step)}, step)
    logger.close()


def test_a_run_that_starts_over_in_its_folder_shows_each_step_once(tmp_path):
    log_steps(RunInfo(tmp_path), [1, 2, 3])  # killed at step 3, before its first checkpoint
    log_steps(RunInfo(tmp_path), [1, 2, 3, 4])  # the requeued job: from step 0 again
    assert read_scalars(tmp_path)["loss/critic"] == [(1, 1.0), (2, 2.0), (3, 3.0), (4, 4.0)]


def test_a_resumed_run_continues_from_its_checkpoint_step(tmp_path):
    log_steps(RunInfo(tmp_path), [1, 2, 3, 4, 5])  # checkpoint at step 2, killed after step 5
    log_steps(RunInfo(tmp_path, resumed_step=2), [3, 4])
    assert [step for step, _ in read_scalars(tmp_path)["loss/critic"]] == [1, 2, 3, 4]

"""A sweep that survives: a job killed with SIGKILL at a random step and requeued ends bit-identical (CPU) to one never
killed, and a run folder's lock lets one process train in it at a time (a double requeue stops with one line
naming the first process; a dead holder's lock is taken over)."""

import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ganrun.runstate import lock as run_lock
from ganrun.runstate.lock import RunFolderInUse, RunLock
from helpers.cli import assert_user_error, ganrun, on_tiny_mnist
from helpers.events import read_scalars
from helpers.runs import ENV, assert_same_training, final_state, logged_every_step, wait_for_step


def holder_file(folder: Path, **fields) -> Path:
    """A lock file as a holder writes it, with `fields` changed."""
    folder.mkdir(parents=True, exist_ok=True)
    holder = {
        "pid": 12345,
        "host": socket.gethostname(),
        "started": "2026-11-25T10:00:00",
        "slurm_job": None,
        "slurm_restart": None,
        **fields,
    }
    (folder / "run.lock").write_text(json.dumps(holder) + "\n")
    return folder / "run.lock"


# ---------------------------------------------------------------- the lock


def test_a_second_holder_is_refused_with_the_first_ones_name(tmp_path):
    first = RunLock(tmp_path / "run")
    first.acquire()
    holder = json.loads((tmp_path / "run" / "run.lock").read_text())
    assert (holder["pid"], holder["host"]) == (os.getpid(), socket.gethostname())
    with pytest.raises(RunFolderInUse) as refused:  # another open file: flock refuses it, even in this process
        RunLock(tmp_path / "run").acquire()
    assert str(refused.value).startswith(
        f"{tmp_path / 'run'} is in use by pid {os.getpid()} on host {socket.gethostname()} (since {holder['started']})"
    )
    first.release()
    assert not (tmp_path / "run" / "run.lock").exists()
    second = RunLock(tmp_path / "run")
    second.acquire()
    second.release()


def test_a_lock_left_by_a_dead_process_on_this_host_is_taken_over(tmp_path, caplog):
    holder_file(tmp_path / "run", pid=99999999)  # nobody holds its flock: the process that wrote it is gone
    lock = RunLock(tmp_path / "run")
    lock.acquire()
    assert "taking over the run folder's lock from pid 99999999 on host" in caplog.text
    assert "its process is gone" in caplog.text
    assert json.loads((tmp_path / "run" / "run.lock").read_text())["pid"] == os.getpid()
    lock.release()


def test_a_fresh_lock_from_another_host_is_respected(tmp_path):
    holder_file(tmp_path / "run", host="node-17")
    with pytest.raises(RunFolderInUse, match=r"in use by pid 12345 on host node-17 .*, alive 0 s ago"):
        RunLock(tmp_path / "run").acquire()
    assert json.loads((tmp_path / "run" / "run.lock").read_text())["host"] == "node-17"  # left as it was


def test_a_stale_lock_from_another_host_is_taken_over(tmp_path, caplog):
    path = holder_file(tmp_path / "run", host="node-17")
    old = time.time() - run_lock.STALE_AFTER_S - 5
    os.utime(path, (old, old))
    lock = RunLock(tmp_path / "run")
    lock.acquire()
    assert f"it has not been touched for {run_lock.STALE_AFTER_S + 5:.0f} s" in caplog.text
    lock.release()


def test_an_earlier_run_of_the_same_slurm_job_is_over(tmp_path, monkeypatch, caplog):
    holder_file(tmp_path / "run", host="node-17", slurm_job="4242", slurm_restart=0)
    monkeypatch.setenv("SLURM_JOB_ID", "4242")
    monkeypatch.setenv("SLURM_RESTART_COUNT", "1")
    lock = RunLock(tmp_path / "run")
    lock.acquire()
    assert "SLURM requeued that job" in caplog.text
    lock.release()
    holder_file(tmp_path / "run", host="node-17", slurm_job="4243", slurm_restart=0)  # another job: respected
    with pytest.raises(RunFolderInUse, match="SLURM job 4243"):
        RunLock(tmp_path / "run").acquire()


def test_the_holder_keeps_its_lock_fresh(tmp_path, monkeypatch):
    monkeypatch.setattr(run_lock, "HEARTBEAT_S", 0.05)
    lock = RunLock(tmp_path / "run")
    lock.acquire()
    path = tmp_path / "run" / "run.lock"
    old = time.time() - 1000
    os.utime(path, (old, old))
    deadline = time.monotonic() + 60  # a heartbeat is due every 0.05 s; a loaded machine may take longer
    while path.stat().st_mtime == old:
        assert time.monotonic() < deadline, "the holder never touched its lock"
        time.sleep(0.01)
    assert time.time() - path.stat().st_mtime < 60
    lock.release()


# ---------------------------------------------------------------- two processes on one run folder (a double requeue)


def start(cwd: Path, *args: str) -> subprocess.Popen:
    env = {**os.environ, "GANRUN_CACHE": str(cwd / ".cache"), **ENV}
    env.pop("HYDRA_FULL_ERROR", None)
    return subprocess.Popen(
        [sys.executable, "-m", "ganrun", *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


@pytest.mark.xdist_group("signals")  # timed by signals: kept on one worker
@pytest.mark.slow
def test_a_second_process_on_a_run_folder_stops_and_changes_nothing(tmp_path, tiny_mnist):
    """The first run trains on until the second has been refused, then is stopped by SIGTERM (a checkpoint)."""
    args = logged_every_step(tiny_mnist, "run", "train.steps=100000", "ckpt.every=5")
    first = start(tmp_path, *args)
    try:
        wait_for_step(tmp_path / "run" / "ganrun.log", 2, first)
        second = ganrun(*args, "resume=auto", cwd=tmp_path, env=ENV)
        running = first.poll() is None
        first.send_signal(signal.SIGTERM)
        output = first.communicate(timeout=240)[0]
    finally:
        if first.poll() is None:
            os.killpg(first.pid, signal.SIGKILL)
    assert running, "the first run ended before the second one started: nothing was tested"
    assert_user_error(
        second,
        f"Error: {tmp_path / 'run'} is in use by pid {first.pid} on host {socket.gethostname()}",
        "this one stops and changes nothing",
    )
    assert second.returncode == 2 and len(second.stderr.strip().splitlines()) == 1
    assert first.returncode == 0, output
    status = json.loads((tmp_path / "run" / "status.json").read_text())  # the first one's, untouched by the second
    assert status["status"] == "preempted" and status["step"] == final_state(tmp_path / "run")["step"]
    assert len(list((tmp_path / "run").glob("events.out.tfevents.*"))) == 1  # the second wrote no events
    steps = [s for s, _ in read_scalars(tmp_path / "run")["loss/generator"]]
    assert steps == list(range(1, status["step"] + 1))
    assert not (tmp_path / "run" / "run.lock").exists()


# ---------------------------------------------------------------- SIGKILL at a random step, requeued


@pytest.mark.xdist_group("signals")  # timed by signals: kept on one worker
@pytest.mark.slow
def test_a_local_sweep_job_killed_at_a_random_step_and_requeued_ends_bit_identical(tmp_path, tiny_mnist):
    """Two jobs that train alike (they differ only in how often they draw samples); job 0 gets SIGKILL at a random
    step, after which the launcher reports it in one line; continued with resume=<its folder>, as a requeue does,
    it ends with the weights of job 1, which was never killed."""
    kill_at = random.randint(2, 25)  # of 30; every assertion below names it
    sweep = start(
        tmp_path,
        "-m",
        "hydra/launcher=local",
        "log.images_every=1000,1001",
        *on_tiny_mnist(tiny_mnist),
        "train.deterministic=true",
        "log.every=1",
        "train.steps=30",
        "ckpt.every=5",
        "hydra.sweep.dir=sweep",
    )
    try:
        wait_for_step(tmp_path / "sweep" / "0_images_every=1000" / "ganrun.log", kill_at, sweep)
        holder = json.loads((tmp_path / "sweep" / "0_images_every=1000" / "run.lock").read_text())
        os.kill(holder["pid"], signal.SIGKILL)
        output = sweep.communicate(timeout=240)[0]
    finally:
        if sweep.poll() is None:
            os.killpg(sweep.pid, signal.SIGKILL)
    assert sweep.returncode == 1, f"killed at step {kill_at}:\n{output}"
    last = output.strip().splitlines()[-1]
    assert last.startswith("Error: Job ") and last.endswith(
        "resume=JOB_FOLDER, then python -m ganrun.report SWEEP_FOLDER"
    ), output
    assert "Traceback" not in output
    killed, untouched = tmp_path / "sweep" / "0_images_every=1000", tmp_path / "sweep" / "1_images_every=1001"
    deadline = time.monotonic() + 240  # the other job runs on in its own process
    while json.loads((untouched / "status.json").read_text())["status"] != "completed":
        assert time.monotonic() < deadline
        time.sleep(0.2)

    if kill_at < 5 and not (killed / "checkpoints" / "last.pt").exists():  # killed before its first checkpoint
        refused = ganrun(f"resume={killed}", cwd=tmp_path, env=ENV)
        assert refused.returncode == 2 and refused.stderr.strip() == (
            f"Error: run folder {killed} has no checkpoint yet: it stopped before its first one (every ckpt.every "
            "steps); start it again with the command that started it"
        ), refused.stderr
        return
    requeued = ganrun(f"resume={killed}", cwd=tmp_path, env=ENV)
    assert requeued.returncode == 0, f"killed at step {kill_at}: {requeued.stderr}"
    log = (killed / "ganrun.log").read_text()
    assert f"taking over the run folder's lock from pid {holder['pid']}" in log, f"killed at step {kill_at}"
    assert_same_training(final_state(killed), final_state(untouched), f"killed at step {kill_at}")
    assert final_state(killed)["step"] == 30
    assert [s for s, _ in read_scalars(killed)["loss/generator"]] == list(range(1, 31)), f"killed at {kill_at}"
    assert json.loads((killed / "status.json").read_text())["status"] == "completed"


def test_a_job_folder_path_with_its_equals_sign_is_quoted_for_hydra():
    from ganrun.runstate.overrides import quote_resume_path

    argv = ["resume=outputs/multirun/x/3_lambda_gp=10", "resume=runs/a", "resume='q/1_k=2'", "loss.k=1", "resume=auto"]
    assert quote_resume_path(argv) == [
        "resume='outputs/multirun/x/3_lambda_gp=10'",
        "resume=runs/a",
        "resume='q/1_k=2'",
        "loss.k=1",
        "resume=auto",
    ]

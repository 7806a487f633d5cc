"""On a real SLURM cluster (.ci/slurm-up starts a one-node one with accounting): a sweep job killed with SIGKILL at a
random step and requeued by SLURM ends bit-identical to its twin that was never killed, a second SLURM job on a
run folder in use stops with one line naming the first, and one run on two SLURM tasks (DDP over gloo) trains what
torchrun's two processes train. Skipped where no cluster answers."""

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from helpers.cli import on_tiny_mnist
from helpers.events import read_scalars
from helpers.runs import ENV, assert_same_training, differences, final_state, torchrun, wait_for_step


def cluster_partition() -> str | None:
    """The default partition of a SLURM cluster that runs jobs and keeps accounting (what submitit polls), or None."""
    if not all(shutil.which(tool) for tool in ("sbatch", "sinfo", "sacct", "scontrol")):
        return None
    try:
        nodes = subprocess.run(["sinfo", "-h", "-o", "%P %t"], capture_output=True, text=True, timeout=10).stdout
        accounting = subprocess.run(["sacct", "-n", "-X", "-j", "1"], capture_output=True, timeout=10).returncode
    except (OSError, subprocess.TimeoutExpired):
        return None
    ready = [line.split()[0] for line in nodes.splitlines() if line.split()[1].rstrip("*~#") in ("idle", "mix")]
    defaults = [p for p in ready if p.endswith("*")] or ready
    return defaults[0].rstrip("*") if defaults and accounting == 0 else None


PARTITION = cluster_partition()
pytestmark = [
    pytest.mark.slow,
    pytest.mark.xdist_group("slurm"),  # one small cluster: its jobs queue behind each other's
    pytest.mark.skipif(
        PARTITION is None,
        reason="no SLURM cluster with accounting here (sbatch, sinfo, sacct); .ci/slurm-up starts a one-node one",
    ),
]
# One CPU, no GPU and little memory per job: two jobs fit the CI machine's node at once.
SLURM = [
    "hydra/launcher=slurm",
    f"hydra.launcher.partition={PARTITION}",
    "hydra.launcher.gpus_per_node=0",
    "hydra.launcher.cpus_per_task=1",
    "hydra.launcher.mem_gb=1",
]


def train_args(tiny_mnist) -> list[str]:
    return [
        *on_tiny_mnist(tiny_mnist),
        "train.deterministic=true",
        "log.every=1",
        "ckpt.every=5",
    ]


def popen(cwd: Path, *command: str) -> subprocess.Popen:
    env = {**os.environ, "GANRUN_CACHE": str(cwd / ".cache"), **ENV}  # sbatch hands this environment to the jobs
    env.pop("HYDRA_FULL_ERROR", None)
    return subprocess.Popen(
        list(command),
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def sacct_state(job_id: str) -> str:
    out = subprocess.run(["sacct", "-n", "-X", "-P", "-o", "State", "-j", job_id], capture_output=True, text=True)
    return (out.stdout.split() or ["UNKNOWN"])[0]


def wait_for_completed(job: Path, killed_id: str, timeout: float = 300) -> None:
    """Until the job folder's run has completed (status.json), whatever submitit made of the kill."""
    deadline = time.monotonic() + timeout
    status = job / "status.json"
    while not (status.is_file() and json.loads(status.read_text())["status"] == "completed"):
        assert time.monotonic() < deadline, (
            f"{job.name} never completed; killed job {killed_id}: {sacct_state(killed_id)}"
        )
        time.sleep(0.5)


def wait_until_requeued(job_id: str, timeout: float = 60) -> None:
    """Until the requeued job is pending again; SLURM starts it once its previous run's credential has expired
    (cred_expire: 10 s on the cluster of .ci/slurm-up, 120 s by default)."""
    deadline = time.monotonic() + timeout
    while (
        subprocess.run(["squeue", "-h", "-j", job_id, "-o", "%T"], capture_output=True, text=True).stdout.strip()
        != "PENDING"
    ):
        assert time.monotonic() < deadline, f"job {job_id} never became pending after its requeue"
        time.sleep(0.2)


def test_a_slurm_job_killed_at_a_random_step_and_requeued_ends_bit_identical(tmp_path, tiny_mnist):
    """Two jobs that train alike; job 0's training process gets SIGKILL at a random step and SLURM requeues the job
    (`scontrol requeue`, as after a node failure): it resumes from its last checkpoint (or, killed before the first,
    starts over), takes over the lock its killed run left, and ends with the weights of job 1."""
    kill_at = random.randint(2, 25)  # of 30
    sweep = popen(
        tmp_path,
        sys.executable,
        "-m",
        "ganrun",
        "-m",
        *SLURM,
        "log.images_every=1000,1001",
        *train_args(tiny_mnist),
        "train.steps=30",
        "hydra.sweep.dir=sweep",
    )
    killed, twin = tmp_path / "sweep" / "0_images_every=1000", tmp_path / "sweep" / "1_images_every=1001"
    try:
        wait_for_step(killed / "ganrun.log", kill_at, sweep, timeout=300)
        holder = json.loads((killed / "run.lock").read_text())
        os.kill(holder["pid"], signal.SIGKILL)
        # ckpt.every=5: a kill before step 5's checkpoint leaves nothing to resume (last.pt is renamed in whole)
        resumable = (killed / "checkpoints" / "last.pt").is_file()
        requeue = subprocess.run(["scontrol", "requeue", holder["slurm_job"]], capture_output=True, text=True)
        wait_until_requeued(holder["slurm_job"])
        output = sweep.communicate(timeout=300)[0]
        # submitit polls sacct: when it looks between the kill and the requeue it sees the job FAILED, and the
        # sweep command ends with that one line (exit 1) while SLURM runs the requeued job to its end anyway.
        for job in (killed, twin):
            wait_for_completed(job, holder["slurm_job"])
    finally:
        if sweep.poll() is None:
            os.killpg(sweep.pid, signal.SIGKILL)
    note = f"killed at step {kill_at}"
    assert requeue.returncode == 0, requeue.stderr
    lines = [line for line in output.splitlines() if line.startswith("Error:")]
    assert sweep.returncode == 0 or (sweep.returncode == 1 and len(lines) == 1 and "was killed" in lines[0]), (
        f"{note}:\n{output}"
    )
    if sweep.returncode:
        subprocess.run(
            [sys.executable, "-m", "ganrun.report", str(tmp_path / "sweep")], check=True, capture_output=True
        )
    log = (killed / "ganrun.log").read_text()
    assert f"taking over the run folder's lock from pid {holder['pid']}" in log, note
    assert "SLURM job" in log, note
    starts = log.count("resume=auto: no checkpoint in")  # each leg that found no checkpoint started from step 0
    if resumable:
        assert "resuming" in log and starts == 1, note
    else:  # killed before its first checkpoint: the requeued job starts over, and still trains the same weights
        assert "resuming" not in log and starts == 2, note
    assert_same_training(final_state(killed), final_state(twin), note)
    assert final_state(killed)["step"] == 30
    assert [s for s, _ in read_scalars(killed)["loss/generator"]] == list(range(1, 31)), note
    rows = (tmp_path / "sweep" / "summary.md").read_text()
    assert rows.count("| completed |") == 2


def test_a_second_slurm_job_on_a_run_folder_in_use_stops_with_one_line(tmp_path, tiny_mnist):
    run = tmp_path / "run"
    command = [sys.executable, "-m", "ganrun", *train_args(tiny_mnist), "train.steps=100000", f"hydra.run.dir={run}"]
    wrap = lambda *extra: "exec " + " ".join(f"'{a}'" for a in [*command, *extra])  # noqa: E731  (signals reach it)
    env = {**os.environ, "GANRUN_CACHE": str(tmp_path / ".cache"), **ENV}  # sbatch hands it to the job
    env.pop("HYDRA_FULL_ERROR", None)
    first = subprocess.run(
        [
            "sbatch",
            "--parsable",
            "-p",
            PARTITION,
            "-c",
            "1",
            "--mem=1G",
            "-o",
            str(tmp_path / "first.out"),
            "--wrap",
            wrap(),
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=env,
    )
    first_id = first.stdout.strip().split(";")[0]
    try:
        deadline = time.monotonic() + 300
        while not ((run / "ganrun.log").is_file() and "step 2:" in (run / "ganrun.log").read_text()):
            assert time.monotonic() < deadline and sacct_state(first_id) in ("PENDING", "RUNNING", "UNKNOWN"), (
                (tmp_path / "first.out").read_text() if (tmp_path / "first.out").exists() else sacct_state(first_id)
            )
            time.sleep(0.2)
        holder = json.loads((run / "run.lock").read_text())
        second = subprocess.run(
            [
                "sbatch",
                "--parsable",
                "--wait",
                "-p",
                PARTITION,
                "-c",
                "1",
                "--mem=1G",
                "-o",
                str(tmp_path / "second.out"),
                "--wrap",
                wrap("resume=auto"),
            ],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=300,
            env=env,
        )
        assert sacct_state(first_id) == "RUNNING"  # still training when the second gave up
    finally:
        subprocess.run(["scancel", "--batch", "--signal=TERM", first_id])  # a checkpoint and a clean stop
    assert second.returncode == 2, second.stderr  # sbatch --wait exits with the job's exit code
    errors = [line for line in (tmp_path / "second.out").read_text().splitlines() if line.startswith("Error:")]
    assert errors == [
        f"Error: {run} is in use by pid {holder['pid']} on host {holder['host']} (since "
        f"{holder['started']}, SLURM job {first_id}); two processes must not train in one run folder, "
        "so this one stops and changes nothing"
    ]
    deadline = time.monotonic() + 120
    while sacct_state(first_id) in ("RUNNING", "COMPLETING"):
        assert time.monotonic() < deadline
        time.sleep(0.5)
    status = json.loads((run / "status.json").read_text())
    assert status["status"] == "preempted" and status["step"] >= 2  # the first run's own record, nothing lost


def test_one_run_on_two_slurm_tasks_trains_what_torchrun_trains(tmp_path, tiny_mnist):
    """hydra.launcher.tasks_per_node=2: the job's two tasks are one DDP run (rank, world and rendezvous from SLURM's
    environment through submitit), writing one run folder; with the same seed it ends with the weights, optimizer
    states and data order of `torchrun --nproc_per_node=2`."""
    args = [*train_args(tiny_mnist), "train.batch_size=16", "train.steps=6", "ckpt.every=3", "log.every=3"]
    reference = torchrun("-m", "ganrun", *args, "hydra.run.dir=torchrun", cwd=tmp_path)
    assert reference.returncode == 0, reference.stderr[-3000:]
    tasks = [a for a in SLURM if not a.startswith("hydra.launcher.mem_gb")] + [
        "hydra.launcher.tasks_per_node=2",
        "hydra.launcher.mem_gb=3",
    ]
    sweep = popen(tmp_path, sys.executable, "-m", "ganrun", "-m", *tasks, *args, "hydra.sweep.dir=sweep")
    try:
        output = sweep.communicate(timeout=600)[0]
    finally:
        if sweep.poll() is None:
            os.killpg(sweep.pid, signal.SIGKILL)
    assert sweep.returncode == 0, output
    job = tmp_path / "sweep" / "0"
    assert len(list(job.glob("events.out.tfevents.*"))) == 1  # rank 0 alone writes the run folder
    assert (job / "ganrun.log").read_text().count("step 6:") == 1
    assert json.loads((job / "status.json").read_text())["status"] == "completed"
    import torch

    mine, theirs = (
        torch.load(run / "checkpoints" / "last.pt", weights_only=True) for run in (job, tmp_path / "torchrun")
    )
    keys = ("step", "generator", "critic", "opt_g", "opt_d", "ema", "data")
    assert differences({k: mine[k] for k in keys}, {k: theirs[k] for k in keys}) == []

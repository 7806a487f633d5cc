"""Spec of how a run ends, through the real CLI: a finished run asked to train again says so and leaves its folder
as it was; a checkpoint or TensorBoard write that fails (a full disk, a read-only folder) is one line naming the
file, the space it needs and the last good checkpoint, with status.json `failed`, and the run continues from that
checkpoint once there is room; status.json follows a running run; log lines are printed above the progress bar."""

from __future__ import annotations

import errno
import fcntl
import json
import os
import pty
import shutil
import signal
import struct
import subprocess
import sys
import termios
import time
from contextlib import contextmanager
from pathlib import Path

import pytest
import torch

from helpers.cli import FAST, assert_user_error, ganrun
from helpers.runs import differences

pytestmark = pytest.mark.slow

RUN = ["train.deterministic=true", "log.every=5"]


def args(data, run, *extra):
    return [
        "dataset=mnist",
        f"dataset.root={data}",
        "dataset.download=false",
        *FAST,
        *RUN,
        f"hydra.run.dir={run}",
        *extra,
    ]


def status_of(run_dir) -> dict:
    return json.loads((Path(run_dir) / "status.json").read_text())


def snapshot_of(folder: Path) -> dict:
    """Every file of a folder (but the log, which says what happened) with its size and modification time."""
    return {
        str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name != "ganrun.log" and ".hydra" not in p.parts
    }


@contextmanager
def mounted_tmpfs(where: Path, size: str):
    """A small tmpfs at `where` (a small disk); skips where this machine does not let the tests mount one."""
    where.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)], capture_output=True, text=True
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({mounted.stderr.strip()}): needs root")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def fill(disk: Path, leave: int) -> Path:
    """A file that leaves at most `leave` bytes free on `disk`. A run may be writing beside it, so the free space can
    shrink while the file grows: it is written in pieces, and a full disk ends it (full is as small as it gets)."""
    filler = disk / "filler"
    size = max(shutil.disk_usage(disk).free - leave, 0)
    piece = b"\0" * 2**16
    with open(filler, "wb", buffering=0) as f:
        while size > 0:
            try:
                size -= f.write(piece[:size])
            except OSError as error:
                if error.errno != errno.ENOSPC:
                    raise
                break
    return filler


# ---------------------------------------------------------------- a finished run


def test_a_finished_run_asked_to_train_again_says_so_and_leaves_its_folder_as_it_was(tmp_path, tiny_mnist):
    first = ganrun(*args(tiny_mnist, "run", "train.steps=4", "ckpt.every=2"), cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    run_dir = tmp_path / "run"
    before, status_before = snapshot_of(run_dir), status_of(run_dir)

    again = ganrun(*args(tiny_mnist, "run", "train.steps=4", "ckpt.every=2", "resume=auto"), cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert "Traceback" not in again.stderr
    lines = [line for line in again.stdout.splitlines() if "nothing to do" in line]
    assert len(lines) == 1 and "already trained to step 4 (train.steps=4)" in lines[0], again.stdout
    assert "train.steps=N with N > 4" in lines[0]
    assert snapshot_of(run_dir) == before  # no new checkpoint, event file or status
    assert status_of(run_dir) == status_before and status_before["status"] == "completed"

    by_folder = ganrun(f"resume={run_dir}", cwd=tmp_path)  # a run folder given by path, as a user repeats it
    assert by_folder.returncode == 0 and "nothing to do" in by_folder.stdout, by_folder.stderr


# ---------------------------------------------------------------- writes that fail


def test_a_full_disk_stops_in_one_line_and_the_run_continues_once_there_is_room(tmp_path, tiny_mnist):
    steps = ["train.steps=30", "ckpt.every=10"]
    whole = ganrun(*args(tiny_mnist, "whole", *steps), cwd=tmp_path)
    assert whole.returncode == 0, whole.stderr
    size = (tmp_path / "whole" / "checkpoints" / "last.pt").stat().st_size

    with mounted_tmpfs(tmp_path / "disk", "16m") as disk:
        filler = fill(disk, leave=int(2.5 * size))  # room for step 10's two files and the logs, not step 20's
        result = ganrun(*args(tiny_mnist, disk / "run", *steps), cwd=tmp_path)
        folder = disk / "run" / "checkpoints"
        assert_user_error(
            result,
            f"cannot write checkpoint {folder / 'step_0000020.pt'}: no space left on the device (",
            f"a checkpoint needs about {size / 2**20:.1f} MB)",
            f"the last good checkpoint is {folder / 'last.pt'} (step 10)",
            f"continue this run with: python -m ganrun resume={disk / 'run'}",
        )
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
        assert sorted(p.name for p in folder.iterdir()) == ["last.pt", "step_0000010.pt"]  # no temporary file
        assert torch.load(folder / "last.pt", weights_only=True)["step"] == 10
        status = status_of(disk / "run")
        assert (status["status"], status["step"], status["checkpoint_step"]) == ("failed", 20, 10)
        assert status["error"].startswith("cannot write checkpoint")

        filler.unlink()  # room again: the run goes on from step 10 and ends as the run that had room
        resumed = ganrun(*args(tiny_mnist, disk / "run", *steps), "resume=auto", cwd=tmp_path)
        assert resumed.returncode == 0, resumed.stderr
        mine, theirs = (
            torch.load(run / "checkpoints" / "last.pt", weights_only=True) for run in (disk / "run", tmp_path / "whole")
        )
        assert (
            differences(
                {k: mine[k] for k in ("step", "generator", "critic", "ema")},
                {k: theirs[k] for k in ("step", "generator", "critic", "ema")},
            )
            == []
        )


def remount_read_only(disk: Path, timeout: float = 60.0) -> None:
    """Make a mounted tmpfs read-only; a file open for writing (a checkpoint being written) makes the mount busy
    for a moment."""
    deadline = time.monotonic() + timeout
    while subprocess.run(["mount", "-o", "remount,ro", str(disk)], capture_output=True).returncode != 0:
        assert time.monotonic() < deadline, f"could not remount {disk} read-only"
        time.sleep(0.01)


def test_a_read_only_run_folder_is_one_line(tmp_path, tiny_mnist):
    with mounted_tmpfs(tmp_path / "disk", "4m") as disk:
        remount_read_only(disk)
        result = ganrun(*args(tiny_mnist, disk / "run", "train.steps=2"), cwd=tmp_path)
        assert result.returncode == 2
        assert_user_error(
            result, f"cannot write {disk / 'run'}: the file system is read-only; set hydra.run.dir=<a writable folder>"
        )
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_checkpoints_that_become_read_only_mid_run_are_one_line(tmp_path, tiny_mnist):
    run_dir = tmp_path / "run"
    with mounted_tmpfs(run_dir / "checkpoints", "8m") as checkpoints:
        process = start(tmp_path, *args(tiny_mnist, run_dir, "train.steps=100000", "ckpt.every=4"))
        wait_for(checkpoints / "step_0000004.pt", process)
        remount_read_only(checkpoints)
        _, stderr = process.communicate(timeout=120)
        assert process.returncode == 2, stderr
        line = stderr.strip().splitlines()[-1]
        assert (
            line.startswith(f"Error: cannot write checkpoint {checkpoints}/")
            and "the file system is read-only" in line
            and "the last good checkpoint is" in line
        ), stderr
        assert "Traceback" not in stderr
        status = status_of(run_dir)
        assert status["status"] == "failed" and status["step"] >= status["checkpoint_step"] >= 4


def test_tensorboard_events_that_cannot_be_written_are_one_line(tmp_path, tiny_mnist):
    """The run folder fills up (the checkpoints are on a disk of their own): the event file's write fails."""
    with mounted_tmpfs(tmp_path / "disk", "4m") as disk, mounted_tmpfs(disk / "run" / "checkpoints", "8m"):
        process = start(
            tmp_path,
            *args(
                tiny_mnist,
                disk / "run",
                "train.steps=100000",
                "ckpt.every=2",
                "log.every=1",
                "log.images_every=1",
                "log.num_samples=64",
                "train.ema=0",
            ),
        )
        wait_for(disk / "run" / "checkpoints" / "step_0000002.pt", process)
        fill(disk, leave=0)
        _, stderr = process.communicate(timeout=240)
        assert process.returncode == 2, stderr
        line = stderr.strip().splitlines()[-1]
        assert (
            line.startswith(f"Error: cannot write TensorBoard events under {disk / 'run'}: no space left on the device")
            and "the last good checkpoint is" in line
        ), stderr
        assert "Traceback" not in stderr and "Logging error" not in stderr


# ---------------------------------------------------------------- while it runs


STARTED: list[subprocess.Popen] = []


@pytest.fixture(autouse=True)
def no_run_left_behind():
    """A test that fails half way must not leave its endless run training."""
    yield
    while STARTED:
        process = STARTED.pop()
        if process.poll() is None:
            process.kill()
            process.communicate()


def start(cwd, *arguments, **kwargs) -> subprocess.Popen:
    env = {**os.environ, "GANRUN_CACHE": str(cwd / ".cache")}
    process = subprocess.Popen(
        [sys.executable, "-m", "ganrun", *arguments],
        cwd=cwd,
        env=env,
        text=True,
        stdout=kwargs.get("stdout", subprocess.PIPE),
        stderr=kwargs.get("stderr", subprocess.PIPE),
    )
    STARTED.append(process)
    return process


def wait_for(path: Path, process, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.02)


@pytest.mark.xdist_group("signals")  # timed by signals: kept on one worker
def test_status_json_follows_a_running_run(tmp_path, tiny_mnist):
    process = start(tmp_path, *args(tiny_mnist, "run", "train.steps=100000", "log.every=2"))
    seen = set()
    deadline = time.monotonic() + 120
    while len(seen) < 3:
        assert process.poll() is None and time.monotonic() < deadline, process.communicate()
        try:
            status = status_of(tmp_path / "run")
        except (OSError, ValueError):  # not written yet; a reader never sees half a file (atomic)
            time.sleep(0.05)
            continue
        assert status["status"] == "running"
        seen.add(status["step"])
        time.sleep(0.05)
    process.send_signal(signal.SIGTERM)
    process.communicate(timeout=120)
    steps = sorted(seen - {0})
    assert steps and all(step % 2 == 0 for step in steps)  # each log interval, as it passes


@pytest.mark.xdist_group("signals")  # timed by signals: kept on one worker
def test_log_lines_are_printed_above_the_progress_bar_in_a_terminal(tmp_path, tiny_mnist):
    main, child = pty.openpty()
    fcntl.ioctl(child, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 160, 0, 0))  # a 160-column terminal
    os.set_blocking(main, False)
    process = start(tmp_path, *args(tiny_mnist, "run", "train.steps=12", "log.every=3"), stdout=child, stderr=child)
    os.close(child)
    output = b""
    while True:
        try:
            chunk = os.read(main, 65536)
            output += chunk
        except BlockingIOError:
            if process.poll() is not None:
                break
            time.sleep(0.02)
        except OSError:  # EIO: the child closed the terminal
            break
    process.wait(timeout=60)
    os.close(main)
    text = output.decode(errors="replace")
    assert process.returncode == 0, text
    logged = [line for line in text.split("\n") if "][ganrun.training.loop][INFO] - step" in line]
    assert len(logged) == 4, text
    # What the terminal shows of each log line: the text after its last carriage return starts with the record,
    # not with the bar's "train: …|" followed by the record on the same line.
    assert all(line.rstrip("\r").split("\r")[-1].startswith("[20") for line in logged), logged


# ---------------------------------------------------------------- model sizes


@pytest.mark.parametrize("extra, key", [(["model.hidden=0"], "model.hidden=0"), (["model.z_dim=-3"], "model.z_dim=-3")])
def test_a_layer_size_below_one_is_one_line(tmp_path, tiny_mnist, extra, key):
    result = ganrun(*args(tiny_mnist, "run", "train.steps=2", *extra), cwd=tmp_path)
    assert result.returncode == 2
    assert_user_error(result, f"Error: {key} is out of range for model=dcgan28: it must be an integer >= 1")
    assert not (tmp_path / "run" / "checkpoints").exists()

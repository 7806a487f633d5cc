"""Real runs through the CLI and their checkpoints: train one, wait for a step, compare two bit for bit."""

import os
import subprocess
import sys
import time
from pathlib import Path

import torch
from torch.testing import assert_close

from helpers.cli import REPO, ganrun, on_tiny_mnist


def train(tmp_path, tiny_mnist, *extra, run="run"):
    args = [
        *on_tiny_mnist(tiny_mnist),
        "train.steps=4",
        "log.every=2",
        "log.images_every=2",
        "ckpt.every=2",
        f"hydra.run.dir={run}",
        *extra,
    ]
    result = ganrun(*args, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    return tmp_path / run


def logged_every_step(tiny_mnist, run, *extra: str) -> list[str]:
    """A deterministic FAST run in folder `run` that logs every step (what the stop and resume tests watch)."""
    return [*on_tiny_mnist(tiny_mnist), "train.deterministic=true", "log.every=1", f"hydra.run.dir={run}", *extra]


def differences(a, b, where: str = "") -> list[str]:
    """The paths at which two nested checkpoint structures differ, tensors compared bit for bit."""
    if torch.is_tensor(a) or torch.is_tensor(b):
        same = (
            torch.is_tensor(a)
            and torch.is_tensor(b)
            and a.dtype == b.dtype
            and a.shape == b.shape
            and torch.equal(a, b)
        )
        return [] if same else [where]
    if isinstance(a, dict) and isinstance(b, dict):
        if a.keys() != b.keys():
            return [f"{where} keys"]
        return [d for k in a for d in differences(a[k], b[k], f"{where}/{k}")]
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)) and len(a) == len(b):
        return [d for i, (x, y) in enumerate(zip(a, b)) for d in differences(x, y, f"{where}[{i}]")]
    return [] if a == b else [where]


ENV = {"OMP_NUM_THREADS": "1"}  # one thread per process, so that killed, requeued and untouched runs compute alike


def wait_for_step(log: Path, step: int, process: subprocess.Popen, timeout: float = 240) -> None:
    deadline = time.monotonic() + timeout
    while not (log.is_file() and f"step {step}:" in log.read_text()):
        assert process.poll() is None, process.communicate()[0]
        assert time.monotonic() < deadline, f"step {step} never logged in {log}"
        time.sleep(0.05)


def final_state(job: Path) -> dict:
    return torch.load(job / "checkpoints" / "last.pt", weights_only=True)


def assert_same_training(a: dict, b: dict, note: str = "") -> None:
    """Bit-identical networks, EMA, optimizer states, data order and RNG states, and the same step."""
    assert a["step"] == b["step"], note
    for key in ("generator", "critic", "ema", "opt_g", "opt_d", "data", "rng"):
        assert_close(a[key], b[key], rtol=0, atol=0, msg=lambda m, key=key: f"{key} ({note}): {m}")


TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]


def torchrun(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "GANRUN_CACHE": str(cwd / ".cache"),
        "OMP_NUM_THREADS": "1",
        "PYTHONPATH": os.pathsep.join([str(REPO / "tests"), os.environ.get("PYTHONPATH", "")]),
    }
    for _ in range(2):
        result = subprocess.run([*TORCHRUN, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
        # The workers' store takes a port that torchrun found free a moment before; another test's torchrun running
        # beside it (pytest -n) can take it first. That is the test machine's race, not ganrun's: once more.
        port_taken = "EADDRINUSE" in result.stderr or "ddress already in use" in result.stderr
        if result.returncode == 0 or not port_taken:
            return result
    return result

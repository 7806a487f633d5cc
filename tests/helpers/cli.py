"""The real CLI in a subprocess, as a user runs it, and what a user error must look like."""

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent.parent

# A small, fast configuration for CLI runs: tiny networks, tiny batches, a few steps.
FAST = [
    "model=dcgan28",
    "model.hidden=8",
    "model.z_dim=16",
    "train.batch_size=8",
    "log.num_samples=4",
    "metrics.names=[]",
]


def on_tiny_mnist(root, *extra: str) -> list[str]:
    """The overrides of a FAST run on tiny_data's MNIST at `root` (the tiny_mnist fixture), then `extra`."""
    return ["dataset=mnist", f"dataset.root={root}", "dataset.download=false", *FAST, *extra]


def ganrun(*args: str, cwd: Path, module: str = "ganrun", timeout: int = 300, env: dict | None = None):
    """Run `python -m <module> ARGS` in `cwd` with a private data cache; returns the CompletedProcess."""
    full_env = {**os.environ, "GANRUN_CACHE": str(cwd / ".cache")}
    full_env.pop("HYDRA_FULL_ERROR", None)  # unless the test sets it
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", module, *args], cwd=cwd, env=full_env, capture_output=True, text=True, timeout=timeout
    )


def assert_user_error(result, *fragments: str) -> None:
    """Exit code != 0, no Python traceback, and the fragments in stderr."""
    assert result.returncode != 0, result.stdout + result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    for fragment in fragments:
        assert fragment in result.stderr, result.stderr

"""Spec of scripts/eager_profile.py: an eager step's operators counted by the file of ganrun that asked, beside the
plain math, through the real script. The forwards are the same operators in both loops, and the divergence watch
costs four operators per observed loss and one per step."""

import json
import subprocess
import sys

import pytest

from helpers.cli import REPO


@pytest.mark.slow
def test_the_profile_counts_ganruns_own_operators_apart_from_the_math(tmp_path):
    out = tmp_path / "profile.json"
    command = [sys.executable, str(REPO / "scripts" / "eager_profile.py"), "--loss", "bce", "--batch-size", "4",
               "--steps", "2", "--warmup", "1", "--time-steps", "1", "--out", str(out)]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "operators that compute, per generator step" in result.stdout
    found = json.loads(out.read_text())
    ours = found["ganrun_by_file"]
    assert ours["training/divergence.py"] == 4 * 2 + 1  # BCE's step watches two losses
    forwards = {op: n for op, n in found["ganrun_by_op"].items() if op.startswith("models/")}
    assert forwards == {op: n for op, n in found["plain_by_op"].items() if op.startswith("models/")}
    assert forwards["models/conditional.py convolution"] == (4 + 3 + 3) + (4 + 3)  # G, D(real), D(fake); D(G(z))
    assert found["per_step"]["plain"] < found["per_step"]["ganrun"] == sum(ours.values())
    assert set(found["seconds_per_step"]) == {"ganrun", "plain"}

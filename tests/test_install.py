"""A plain (non-editable) `pip install .` ships conf/ as ganrun.conf: the CLI composes from any folder."""

import os
import shutil
import subprocess
import sys

import pytest

from helpers.cli import REPO

pytestmark = pytest.mark.slow


def test_wheel_install_composes_from_another_directory(tmp_path):
    target, elsewhere = tmp_path / "site", tmp_path / "elsewhere"
    elsewhere.mkdir()
    # Build from a copy so the checkout gets no build/ or egg-info litter.
    source = tmp_path / "src"
    shutil.copytree(
        REPO, source, ignore=shutil.ignore_patterns(".git", "outputs", "*.egg-info", "build", "__pycache__")
    )
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--target",
            str(target),
            str(source),
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    assert (target / "ganrun" / "conf" / "train.yaml").is_file()
    assert (target / "ganrun" / "conf" / "loss" / "wgan_gp.yaml").is_file()

    env = {**os.environ, "PYTHONPATH": str(target)}
    where = subprocess.run(
        [sys.executable, "-c", "import ganrun.app.main as t; print(t.__file__, t._config_path())"],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert where[0].startswith(str(target)) and where[1] == "pkg://ganrun.conf"

    result = subprocess.run(
        [sys.executable, "-m", "ganrun", "--cfg", "job", "loss=bce"],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert "_target_: ganrun.objectives.losses.BCE" in result.stdout
    assert not (elsewhere / "outputs").exists()  # --cfg prints the config and runs nothing

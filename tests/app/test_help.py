"""Spec of what `--help` says: `python -m ganrun --help` tells what ganrun is, its groups and their options, the
default of each, the keys people set, its tools and guides (not Hydra's generic page and a config dump); every
tool's --help shows its whole description, not its docstring's first line cut mid-sentence."""

import ast
import subprocess
import sys

import pytest
import yaml

from ganrun.base.commands import description
from helpers.cli import REPO, ganrun

GROUPS = sorted(p.name for p in (REPO / "conf").iterdir() if p.is_dir() and p.name != "hydra")


def test_ganrun_help_names_every_group_with_its_options_and_default(tmp_path):
    result = ganrun("--help", cwd=tmp_path, timeout=60)
    assert result.returncode == 0, result.stderr
    text = result.stdout
    assert text.startswith("ganrun: a command-line runner for GAN experiments")
    for group in GROUPS:
        options = sorted(p.stem for p in (REPO / "conf" / group).glob("*.yaml"))
        assert f"{group}: {', '.join(options)}" in text
    defaults = yaml.safe_load((REPO / "conf" / "train.yaml").read_text())["defaults"]
    chosen = [f"{k}={v}" for d in defaults if isinstance(d, dict) for k, v in d.items() if v is not None]
    assert f"defaults: {' '.join(chosen)}" in text.splitlines()
    for key in ("train.steps=", "dataset.root=PATH", "metrics.names=", "resume=RUN_FOLDER", "init=RUN_FOLDER"):
        assert key in text
    assert "python -m ganrun.sample" in text and "docs/" in text
    assert "ema_rampup" not in text and "powered by Hydra" not in text  # no config dump, no generic page


TOOLS = {  # the tool's source, and how it is run
    "ganrun/report/cli.py": ["-m", "ganrun.report"],
    "ganrun/sample.py": ["-m", "ganrun.sample"],
    "ganrun/evaluate.py": ["-m", "ganrun.evaluate"],
    "ganrun/export.py": ["-m", "ganrun.export"],
    "scripts/truncation.py": ["scripts/truncation.py"],
    "scripts/r3gan_reference.py": ["scripts/r3gan_reference.py"],
}


@pytest.mark.parametrize("script", TOOLS)
def test_a_tools_help_shows_its_whole_description(script):
    doc = ast.get_docstring(ast.parse((REPO / script).read_text()))
    whole = description(doc)
    assert whole.endswith(")") or whole.endswith(".")
    result = subprocess.run(
        [sys.executable, *TOOLS[script], "--help"], capture_output=True, text=True, cwd=REPO, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert whole in " ".join(result.stdout.split())

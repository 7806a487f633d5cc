"""Spec of the docs: the README's set-up, first-run and test commands are exactly what CI runs, and its first run and
sample commands work again after earlier runs; the guides' tables of groups and options are those of conf/."""

import re
import shlex
import time
from pathlib import Path

import pytest

from helpers.cli import REPO, ganrun

MARKER = "<!-- .ci/run runs these commands as written -->"


def marked_commands(readme: str) -> list[str]:
    """The command lines (comments dropped) of every bash block right after the marker."""
    commands = []
    for block in re.findall(re.escape(MARKER) + r"\s*```bash\n(.*?)```", readme, re.S):
        for line in block.splitlines():
            command = line.split("  #")[0].strip()
            if command and not command.startswith("#"):
                commands.append(command)
    return commands


def ci_lines() -> list[str]:
    return [line.split("  #")[0].strip() for line in (REPO / ".ci" / "run").read_text().splitlines()]


def test_ci_runs_the_readme_commands_as_written():
    commands = marked_commands((REPO / "README.md").read_text())
    assert any(c.startswith("pip install") for c in commands) and any(c.startswith("pytest") for c in commands)
    lines = ci_lines()
    for command in commands:
        assert command in lines, f".ci/run does not run the README's `{command}`"


def test_ci_installs_and_tests_only_as_the_readme_says():
    commands = marked_commands((REPO / "README.md").read_text())
    for line in ci_lines():
        if line.startswith(("pip install -e", "pytest", "python -m ganrun ")):
            assert line in commands, f".ci/run runs `{line}`, which the README does not show"


def test_the_logging_guides_tag_table_is_the_registry_of_what_is_reported():
    from ganrun.base.reported import REPORTED

    guide = (REPO / "docs" / "logging.md").read_text()
    table = guide.split("## Scalars and images", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| `([^`]+)` \| (\w+) \|", table, re.M)
    assert rows == [(r.name, r.kind) for r in REPORTED]


GROUPS = {p.name: {o.stem for o in p.glob("*.yaml")} for p in (REPO / "conf").iterdir() if p.is_dir()}
GROUPS.pop("hydra")


def table_rows(text: str, header: str) -> list[list[str]]:
    """The cells of every row of the Markdown tables whose header row starts with `header`."""
    rows, inside = [], False
    for line in text.splitlines():
        if line.startswith(header):
            inside = True
        elif inside and line.startswith("|") and not line.startswith("|---"):
            rows.append([cell.strip() for cell in re.split(r"(?<!\\)\|", line.strip().strip("|"))])
        elif not line.startswith("|"):
            inside = False
    return rows


def named(cell: str) -> set[str]:
    """The option-like words a cell names in backticks (`r3gan`, not `logger=[tensorboard,wandb]`)."""
    return {word for word in re.findall(r"`([^`]+)`", cell) if re.fullmatch(r"[a-z0-9_]+", word)}


@pytest.mark.parametrize("guide", ["README.md", "docs/configuration.md"])
def test_the_group_tables_list_every_option_of_conf(guide):
    rows = table_rows((REPO / guide).read_text(), "| group | options")
    groups = {named(row[0]).pop(): named(row[1]) for row in rows}
    assert set(groups) == set(GROUPS)
    cells = {named(row[0]).pop(): row[1] for row in rows}
    for group, options in groups.items():
        if "…" in cells[group]:  # a row that says it names some (the README's presets): those exist
            assert options <= GROUPS[group], f"{guide}: the {group} row names {sorted(options - GROUPS[group])}"
        else:
            assert options == GROUPS[group], f"{guide}: the {group} row lists {sorted(options ^ GROUPS[group])} apart"


def test_each_groups_option_table_in_the_configuration_guide_lists_its_options():
    text = (REPO / "docs" / "configuration.md").read_text()
    for group in ("dataset", "model"):
        section = text.split(f"### `{group}`", 1)[1].split("\n### ", 1)[0]
        listed = {next(iter(named(row[0]))) for row in table_rows(section, "| option |")}
        assert listed == GROUPS[group], group


FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")  # Debian's dataset-fashion-mnist, which .ci/run installs


@pytest.mark.slow
@pytest.mark.skipif(not FASHION_MNIST.is_dir(), reason="needs Debian's dataset-fashion-mnist (.ci/run installs it)")
def test_the_readmes_first_run_and_sample_commands_work_again_in_the_same_folder(tmp_path):
    """A newcomer runs the README's first run and its sample command, then both again in the same folder: the
    second sample draws from the newest run. The run is shortened by one override appended (train.steps=20)."""
    readme = (REPO / "README.md").read_text()
    first = next(c for c in marked_commands(readme) if c.startswith("python -m ganrun "))
    sample = re.search(r"^python -m ganrun\.sample .*$", readme, re.M).group(0)
    for round_ in (1, 2):
        time.sleep(1.1)  # the run folder is named by the second it starts in
        trained = ganrun(*shlex.split(first)[3:], "train.steps=20", cwd=tmp_path)
        assert trained.returncode == 0, trained.stderr
        drawn = ganrun(*shlex.split(sample)[3:], cwd=tmp_path, module="ganrun.sample")
        assert drawn.returncode == 0, drawn.stderr
        runs = sorted(p.parent.parent for p in (tmp_path / "outputs").glob("*/*/checkpoints/last.pt"))
        assert len(runs) == round_
        if round_ == 2:
            assert f"taking the newest, {runs[-1].relative_to(tmp_path)} " in drawn.stdout + drawn.stderr
        assert (tmp_path / "grid.png").stat().st_size > 0


def documented_runs() -> list[tuple[str, list[str]]]:
    """(where, overrides) of every `python -m ganrun …` training command in the README and the guides: the lines of
    their bash blocks (continued with a backslash) and the commands in their tables' cells."""
    found = []
    for guide in [REPO / "README.md", *sorted((REPO / "docs").rglob("*.md"))]:
        text = guide.read_text()
        blocks = "\n".join(re.findall(r"```bash\n(.*?)```", text, re.S)).replace("\\\n", " ")
        lines = [line.split("  #")[0].strip() for line in blocks.splitlines()]
        lines += re.findall(r"`(python -m ganrun [^`]*)`", text)
        for line in lines:
            if line.startswith("python -m ganrun ") and not re.search(r"…|\.\.\.|<|\$|PATH|FOLDER", line):
                found.append((guide.name, shlex.split(line)[3:]))
    return found


def one_job(overrides: list[str]) -> list[str] | None:
    """A sweep's overrides as one of its jobs (each key's first value), without -m; None for a search's spaces."""
    if any(re.search(r"\b(tag|interval|choice|range)\(", o) for o in overrides):
        return None
    job = []
    for override in overrides:
        if override in ("-m", "--multirun"):
            continue
        key, _, value = override.partition("=")
        job.append(f"{key}={value.split(',')[0]}" if "," in value and not value.startswith(("[", "{")) else override)
    return job


@pytest.mark.slow
def test_every_documented_training_command_composes(tmp_path):
    """Each command of the README and the guides composes as written (its keys, options and values exist): printed
    with --cfg job, as one of its jobs for a sweep."""
    runs = documented_runs()
    assert len(runs) > 40
    for where, overrides in runs:
        job = one_job(overrides)
        if job is None:
            continue
        job = [o for o in job if o not in ("--cfg", "job", "hydra")]
        result = ganrun("--cfg", "job", *job, cwd=tmp_path, timeout=60)
        assert result.returncode == 0, f"{where}: python -m ganrun {' '.join(overrides)}\n{result.stderr[-800:]}"

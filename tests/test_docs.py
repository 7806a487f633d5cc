"""Spec of the docs: the README's set-up, first-run and test commands are exactly what CI runs."""

import re

from helpers.cli import REPO

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

"""Spec of the tools' generator paths as a user types them (issue 37): the README's sample command after any number
of runs, a run folder for ganrun.evaluate, and `--out grid.jpg` writing a JPEG grid (never a folder of that name)."""

import os
import time

import pytest
from PIL import Image

from ganrun import sample as command
from helpers.cli import REPO, assert_user_error, ganrun
from helpers.generators import family_checkpoint


def readme_sample_command() -> list[str]:
    """The README's `python -m ganrun.sample …` line after the first run, as its words."""
    (line,) = [c for c in (REPO / "README.md").read_text().splitlines() if c.startswith("python -m ganrun.sample ")]
    return line.split()[3:]


def test_the_readmes_sample_command_works_after_several_runs(tmp_path):
    now = time.time()
    for i, run in enumerate(["2026-12-05/09-00-00", "2026-12-06/10-00-00", "2026-12-06/10-05-00"]):
        path = family_checkpoint(tmp_path / "outputs" / run, "dcgan28", seed=i)
        os.utime(path, (now + i, now + i))
    result = ganrun(*readme_sample_command(), cwd=tmp_path, module="ganrun.sample")
    assert result.returncode == 0, result.stderr
    newest = tmp_path / "outputs" / "2026-12-06" / "10-05-00"
    assert f"outputs holds 3 runs; taking the newest, {newest.relative_to(tmp_path)} (last.pt" in result.stdout
    assert Image.open(tmp_path / "grid.png").size == (8 * 28 + 9 * 2, 8 * 28 + 9 * 2)


@pytest.mark.parametrize(("name", "format"), [("grid.jpg", "JPEG"), ("grid.JPEG", "JPEG"), ("grid.webp", "WEBP")])
def test_out_with_an_image_extension_writes_that_grid_file(tmp_path, name, format):
    run = family_checkpoint(tmp_path / "run", "dcgan28").parent.parent
    command.main([str(run), "--num", "4", "--out", str(tmp_path / name)])
    assert (tmp_path / name).is_file()
    with Image.open(tmp_path / name) as image:
        assert (image.format, image.size) == (format, (2 * 28 + 3 * 2, 2 * 28 + 3 * 2))


def test_out_with_an_unknown_extension_or_an_existing_folder_is_refused_in_one_line(tmp_path, capsys):
    run = family_checkpoint(tmp_path / "run", "dcgan28").parent.parent
    (tmp_path / "old.png").mkdir()  # e.g. left by an earlier ganrun
    for out, message in [
        ("grid.xyz", "--out grid.xyz: .xyz is neither an image format (.png, .jpg, .webp …) nor .npz"),
        (str(tmp_path / "old.png"), f"--out {tmp_path / 'old.png'} is an existing folder; a grid, an array or"),
    ]:
        with pytest.raises(SystemExit):
            command.main([str(run), "--out", out])
        last = capsys.readouterr().err.splitlines()[-1]  # argparse: the usage, then the error on one line
        assert last.startswith("python -m ganrun.sample: error: ") and message in last, last
    assert not (tmp_path / "grid.xyz").exists()


@pytest.mark.slow
def test_evaluate_takes_a_run_folder_and_names_an_empty_one(tmp_path):
    (tmp_path / "empty").mkdir()
    result = ganrun("empty", "--metrics", "fid", cwd=tmp_path, module="ganrun.evaluate")
    assert_user_error(result, "empty exists but holds no checkpoint")


def test_the_tools_help_shows_their_whole_description(capsys):
    from ganrun import evaluate, export, sample

    for tool in (sample, evaluate, export):
        with pytest.raises(SystemExit):
            tool.parse_args(["--help"])
        shown = " ".join(capsys.readouterr().out.split())
        assert " ".join(tool.__doc__.split()[-12:]) in shown, tool.__name__

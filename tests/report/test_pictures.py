"""Spec of the pictures of a sweep: summary_samples.png holds one tile per job, its newest fixed-noise grid from the
job's TensorBoard events under a label of its swept values and final metric; summary_curves.png one panel per tag
with every job's curve."""

import io

import numpy as np
import pytest
from PIL import Image
from torch.utils.tensorboard import SummaryWriter

from ganrun import report
from ganrun.report import pictures
from helpers.events import RunEvents
from helpers.sweeps import make_job, status

TAGS = ["loss/critic", "loss/generator", "critic/wasserstein", "metrics/fid"]


def grid(seed: int, size=(3, 40, 62)) -> np.ndarray:
    """A random C×H×W uint8 image: each job's grid is different from the others'."""
    return np.random.default_rng(seed).integers(0, 256, size=size, dtype=np.uint8)


def write_job(sweep, n: int, lam: str, grids: dict[int, np.ndarray], curve: dict[int, float], state="completed"):
    job = make_job(
        sweep,
        f"{n}_lambda_gp={lam}",
        ["loss=wgan_gp", f"loss.lambda_gp={lam}"],
        status(state, max(curve, default=0), 4, 1.0, {"metrics/fid": 30.0 - n} if curve else None),
    )
    writer = SummaryWriter(str(job))
    for step, value in curve.items():
        for tag in TAGS[:3]:
            writer.add_scalar(tag, value, step)
    if curve:
        writer.add_scalar("metrics/fid", 30.0 - n, max(curve))
    for step, image in grids.items():
        writer.add_image("samples", image, step, dataformats="CHW")
    writer.close()
    return job


@pytest.fixture
def picture_sweep(tmp_path):
    """Five jobs: four with grids at steps 2 and 4 (the step-4 grid is the newest), one killed before any."""
    sweep = tmp_path / "sweep"
    for n, lam in enumerate(["0.1", "1", "10", "100"]):
        write_job(sweep, n, lam, {2: grid(100 + n), 4: grid(n)}, {1: 1.0 + n, 2: 2.0 + n, 4: 4.0 + n})
    write_job(sweep, 4, "1000", {}, {}, state="running")
    return sweep


def tile(mosaic: Image.Image, index: int, columns: int, size: tuple[int, int]) -> np.ndarray:
    x, y = pictures.tile_origin(index, columns)
    return np.asarray(mosaic.crop((x, y, x + size[0], y + size[1])))


def test_one_tile_per_job_with_its_newest_grid(picture_sweep):
    report.write_report(picture_sweep)
    with Image.open(picture_sweep / "summary_samples.png") as mosaic:
        mosaic = mosaic.convert("RGB")
    columns = 3  # five jobs: three columns, two rows of tiles
    cell_h = pictures.TILE + pictures.MARGIN + pictures.LABEL_LINES * pictures.LINE_HEIGHT
    assert mosaic.size == (pictures.MARGIN + columns * (pictures.TILE + pictures.MARGIN), pictures.MARGIN + 2 * cell_h)
    size = (pictures.TILE, round(40 * pictures.TILE / 62))  # a 62 × 40 grid scaled to fit a TILE square
    for n in range(4):
        expected = Image.fromarray(grid(n).transpose(1, 2, 0)).resize(size, Image.NEAREST)
        np.testing.assert_array_equal(tile(mosaic, n, columns, size), np.asarray(expected))
    missing = tile(mosaic, 4, columns, (pictures.TILE, pictures.TILE))
    assert (missing == pictures.MISSING).all(axis=-1).mean() > 0.9  # a grey square, with a line of text in it


def test_tile_labels_name_the_swept_values_and_the_final_metric():
    record = {
        "job": "3_lambda_gp=10",
        "overrides": {"loss": "wgan_gp", "loss.lambda_gp": "10"},
        "status": "completed",
        "final": {"metrics/fid": 21.23456},
    }
    assert pictures.job_label(record, ["loss.lambda_gp"]) == "loss.lambda_gp=10"
    assert pictures.job_label(record, []) == "3_lambda_gp=10"
    assert pictures.outcome_line(record, "metrics/fid") == "metrics/fid 21.23"
    failed = {**record, "status": "failed", "final": {}}
    assert pictures.outcome_line(failed, "metrics/fid") == "failed, no metrics/fid"


def test_one_panel_per_tag_with_every_jobs_curve(picture_sweep):
    records = report.collect(report.job_dirs(picture_sweep))
    figure = pictures.curves_figure(records, ["loss.lambda_gp"])
    panels = [ax for ax in figure.axes if ax.get_visible()]
    assert [ax.get_title() for ax in panels] == ["loss/critic", "loss/generator", "critic/wasserstein", "metrics/fid"]
    critic = panels[0].get_lines()
    assert len(critic) == 4  # the fifth job has logged nothing yet
    for n, line in enumerate(critic):
        assert list(line.get_xdata()) == [1, 2, 4] and list(line.get_ydata()) == [1.0 + n, 2.0 + n, 4.0 + n]
    assert [list(line.get_ydata()) for line in panels[3].get_lines()] == [[30.0], [29.0], [28.0], [27.0]]
    legend = [text.get_text() for text in figure.legends[0].get_texts()]
    assert legend == ["loss.lambda_gp=0.1", "loss.lambda_gp=1", "loss.lambda_gp=10", "loss.lambda_gp=100"]
    report.write_report(picture_sweep)
    with Image.open(picture_sweep / "summary_curves.png") as image:
        assert image.format == "PNG" and image.size[0] == 1260  # three panels a row, 4.2 inches at 100 dpi


def test_seeds_of_one_setting_share_a_colour(tmp_path):
    sweep = tmp_path / "sweep"
    for n, (lam, seed) in enumerate([(1, 0), (1, 1), (10, 0), (10, 1)]):
        job = make_job(sweep, str(n), [f"loss.lambda_gp={lam}", f"seed={seed}"], status("completed", 2, 2, 1.0))
        writer = SummaryWriter(str(job))
        writer.add_scalar("loss/critic", float(n), 1)
        writer.add_scalar("loss/critic", float(n), 2)
        writer.close()
    records = report.collect(report.job_dirs(sweep))
    lines = pictures.curves_figure(records, ["loss.lambda_gp", "seed"]).axes[0].get_lines()
    colours = [line.get_color() for line in lines]
    assert colours[0] == colours[1] != colours[2] == colours[3]


def test_newest_grid_is_the_one_tensorboard_shows_after_a_resume(tmp_path):
    """Grids at steps 2 and 4, then a resume from step 3 (purge_step 3) that has not logged a grid yet: step 2's."""
    job = tmp_path / "job"
    writer = RunEvents(job)
    writer.add_image("samples", grid(2), 2)
    writer.add_image("samples", grid(4), 4)
    writer.close()
    RunEvents(job, purge_step=3).close()
    step, png = report.read_events(job).samples
    assert step == 2
    np.testing.assert_array_equal(np.asarray(Image.open(io.BytesIO(png))), grid(2).transpose(1, 2, 0))

"""Spec of what TensorBoard's Images tab shows, read back from the event file with TensorBoard's own reader: one
`samples` grid per `log.images_every` steps at its step (and one at the end), an about-square grid of the
fixed-noise samples (one row per class, its name beside it, the same noise down each column, for a class-conditional
model), the `real` grid once at step 0, and the same after a resume."""

import io
import math

import numpy as np
import pytest
from PIL import Image
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from helpers.cli import FAST, ganrun

pytestmark = pytest.mark.slow

PAD = 2  # torchvision's make_grid padding
SIDE = 28


def image_events(run_dir, tag: str):
    events = EventAccumulator(str(run_dir), size_guidance={"images": 0})
    events.Reload()
    return events.Images(tag)


def decoded(event) -> np.ndarray:
    with Image.open(io.BytesIO(event.encoded_image_string)) as image:
        return np.asarray(image.convert("L"), dtype=np.int16)


def tiles(grid: np.ndarray, rows: int, columns: int) -> list[np.ndarray]:
    """The rows × columns images of a make_grid picture, row by row."""
    step = SIDE + PAD
    return [
        grid[PAD + r * step : PAD + r * step + SIDE, PAD + c * step : PAD + c * step + SIDE]
        for r in range(rows)
        for c in range(columns)
    ]


def run(tmp_path, data, *extra, folder="run"):
    result = ganrun(
        "dataset=mnist",
        f"dataset.root={data}",
        "dataset.download=false",
        *FAST,
        "log.every=2",
        f"hydra.run.dir={folder}",
        *extra,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    return tmp_path / folder


def test_a_grid_per_interval_at_its_step_about_square_and_continued_after_a_resume(tmp_path, tiny_mnist):
    grids = ["log.num_samples=16", "log.images_every=2"]
    folder = run(tmp_path, tiny_mnist, *grids, "train.steps=5", "ckpt.every=2")
    run(tmp_path, tiny_mnist, *grids, "train.steps=8", "resume=auto")

    samples = image_events(folder, "samples")
    assert [e.step for e in samples] == [2, 4, 5, 6, 8]  # every 2 steps, the end of the first leg (5), resumed
    side = 4 * (SIDE + PAD) + PAD  # 16 samples: 4 × 4
    assert {(e.width, e.height) for e in samples} == {(side, side)}
    for event in samples:
        images = tiles(decoded(event), 4, 4)
        assert all(image.std() > 0 for image in images)  # sixteen drawn images, no empty cells
        assert len({image.tobytes() for image in images}) == 16  # from sixteen different noise vectors
    assert not np.array_equal(decoded(samples[0]), decoded(samples[-1]))  # the grids follow training
    [real] = image_events(folder, "real")
    assert (real.step, real.width, real.height) == (0, side, side)


def test_a_conditional_grid_has_one_row_per_class_and_one_noise_per_column(tmp_path, tiny_mnist):
    folder = run(
        tmp_path,
        tiny_mnist,
        "model.conditional=true",
        "loss=hinge",
        "log.num_samples=20",
        "log.images_every=3",
        "train.steps=3",
    )
    [event] = image_events(folder, "samples")
    assert event.step == 3
    classes, columns = 10, 2  # 20 samples of 10 classes: two noise vectors, each drawn in every class
    width = columns * (SIDE + PAD) + PAD  # after a column of the classes' names
    assert event.height == classes * (SIDE + PAD) + PAD and event.width > width
    grid = decoded(event)
    names, samples = grid[:, : event.width - width], grid[:, event.width - width :]
    assert all(names[PAD + r * (SIDE + PAD) : (r + 1) * (SIDE + PAD)].max() > 0 for r in range(classes))
    images = tiles(samples, classes, columns)
    assert len({image.tobytes() for image in images}) == classes * columns
    assert math.isclose(event.height / classes, width / columns, rel_tol=0.05)  # square cells

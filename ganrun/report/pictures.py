"""Pictures of a sweep: summary_samples.png (every job's newest fixed-noise grid, labelled) and summary_curves.png
(every job's curves, one panel per tag)."""

import io
import math
import textwrap
from pathlib import Path

from ganrun.report.stats import SEED_KEY
from ganrun.report.table import LOSS_TAGS, fmt
from ganrun.runstate.overrides import short_value

TILE = 192  # pixels: each job's grid is scaled to fit a TILE × TILE square
LABEL_LINES, LINE_HEIGHT, MARGIN = 4, 15, 8  # up to three lines of swept values, one of the final metric
BACKGROUND, INK, MISSING = (255, 255, 255), (0, 0, 0), (225, 225, 225)


def job_label(record: dict, keys: list[str]) -> str:
    """What tells a job apart: its swept values (a search's floats to 4 digits), else its folder name."""
    overrides = record["overrides"]
    return " ".join(f"{k}={short_value(overrides[k])}" for k in keys if k in overrides) or record["job"]


def outcome_line(record: dict, metric: str) -> str:
    """The job's final value of the metric, or how it ended when it has none."""
    value = record["final"].get(metric)
    ended = "" if record["status"] == "completed" else f" ({record['status']})"
    return f"{metric} {fmt(value)}{ended}" if value is not None else f"{record['status']}, no {metric}"


def _font(size: int = 12):
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)  # a scalable font (Pillow >= 10.1)
    except TypeError:
        return ImageFont.load_default()


def grid_box(width: int, height: int) -> tuple[int, int]:
    """The size a width × height grid is drawn at: scaled (nearest pixel) to fit TILE × TILE."""
    scale = TILE / max(width, height)
    return max(1, round(width * scale)), max(1, round(height * scale))


def tile_origin(index: int, columns: int) -> tuple[int, int]:
    """The top-left pixel of tile `index`'s grid area in the mosaic (its label lies above it)."""
    row, column = divmod(index, columns)
    cell_w, cell_h = TILE + MARGIN, TILE + MARGIN + LABEL_LINES * LINE_HEIGHT
    return MARGIN + column * cell_w, MARGIN + row * cell_h + LABEL_LINES * LINE_HEIGHT


def mosaic_columns(count: int) -> int:
    return min(count, max(3, math.ceil(math.sqrt(count))))


def samples_mosaic(records: list[dict], keys: list[str], metric: str):
    """One tile per job, in job order: its label (swept values, final metric) above its newest sample grid, or a
    grey square when it has logged none yet."""
    from PIL import Image, ImageDraw

    columns = mosaic_columns(len(records))
    rows = math.ceil(len(records) / columns)
    size = (MARGIN + columns * (TILE + MARGIN), MARGIN + rows * (TILE + MARGIN + LABEL_LINES * LINE_HEIGHT))
    canvas = Image.new("RGB", size, BACKGROUND)
    draw, font = ImageDraw.Draw(canvas), _font()
    for index, record in enumerate(records):
        x, y = tile_origin(index, columns)
        text = textwrap.wrap(job_label(record, keys), width=30)[: LABEL_LINES - 1] + [outcome_line(record, metric)]
        for line_no, line in enumerate(text):
            draw.text((x, y - (len(text) - line_no) * LINE_HEIGHT), line, fill=INK, font=font)
        if record["samples"] is None:
            draw.rectangle([x, y, x + TILE - 1, y + TILE - 1], fill=MISSING)
            draw.text((x + 8, y + TILE // 2 - 6), "no samples yet", fill=INK, font=font)
            continue
        with Image.open(io.BytesIO(record["samples"][1])) as grid:
            canvas.paste(grid.convert("RGB").resize(grid_box(*grid.size), Image.NEAREST), (x, y))
    return canvas


def curve_tags(records: list[dict]) -> list[str]:
    """The panels of summary_curves.png: losses, Wasserstein estimate, penalties and metrics some job logged."""
    logged = {tag for r in records for tag in r["curves"]}
    wanted = LOSS_TAGS + ["regularizer/penalty"] + sorted(t for t in logged if t.startswith("metrics/"))
    return [tag for tag in wanted if tag in logged]


def curves_figure(records: list[dict], keys: list[str]):
    """A matplotlib Figure: one panel per tag, every job's curve in it; jobs that differ only in seed share a colour."""
    from matplotlib.figure import Figure  # the OO API renders with Agg and leaves pyplot's global backend alone

    tags = curve_tags(records) or ["loss/generator"]
    columns = min(len(tags), 3)
    rows = math.ceil(len(tags) / columns)
    fig = Figure(figsize=(4.2 * columns, 3.2 * rows + 0.4 + 0.18 * min(len(records), 12)), layout="constrained")
    axes = fig.subplots(rows, columns, squeeze=False, sharex=True).ravel()
    plain = [k for k in keys if k != SEED_KEY]
    colours: dict[str, str] = {}
    legend: dict[str, object] = {}  # a job's label → its first line, whichever panel it is in
    for record in records:
        group = job_label(record, plain)
        colour = colours.setdefault(group, f"C{len(colours) % 10}")
        label = job_label(record, keys)
        for ax, tag in zip(axes, tags):
            curve = record["curves"].get(tag)
            if curve:
                line = ax.plot(
                    [s for s, _ in curve],
                    [v for _, v in curve],
                    color=colour,
                    linewidth=1,
                    marker="." if len(curve) == 1 else None,
                    alpha=0.85,
                )[0]
                legend.setdefault(label, line)
    for ax, tag in zip(axes, tags):
        ax.set_title(tag, fontsize="medium")
        ax.grid(True, alpha=0.3)
    for ax in axes[len(tags) :]:
        ax.set_visible(False)
    for ax in axes[max(len(tags) - columns, 0) : len(tags)]:  # the lowest panel of each column
        ax.set_xlabel("generator step")
        ax.tick_params(labelbottom=True)  # shared x axes show tick labels only on the figure's bottom row
    if not legend:
        fig.suptitle("no job has logged a curve yet")
    elif len(records) > 1:
        shown = list(legend)[:12]
        fig.legend(
            [legend[k] for k in shown],
            shown,
            loc="outside lower center",
            ncols=min(len(shown), 3),
            fontsize="small",
            title=None if len(legend) <= 12 else f"the first 12 of {len(legend)} jobs",
        )
    return fig


def write_pictures(sweep_dir: Path, records: list[dict], keys: list[str], metric: str) -> None:
    """summary_samples.png and summary_curves.png in the sweep folder."""
    samples_mosaic(records, keys, metric).save(sweep_dir / "summary_samples.png")
    curves_figure(records, keys).savefig(sweep_dir / "summary_curves.png", dpi=100)

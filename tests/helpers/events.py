"""TensorBoard event files: read back as TensorBoard shows them, or written for a sweep's report."""

from pathlib import Path

from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from torch.utils.tensorboard import SummaryWriter
from torch.utils.tensorboard.summary import image, scalar

from ganrun.runstate.loggers.events import EventFile


def read_scalars(run_dir) -> dict[str, list[tuple[int, float]]]:
    """Every scalar tag of a run folder as (step, value) pairs, as TensorBoard shows them (purges applied)."""
    events = EventAccumulator(str(run_dir), size_guidance={"scalars": 0, "images": 0})
    events.Reload()
    return {tag: [(e.step, e.value) for e in events.Scalars(tag)] for tag in events.Tags()["scalars"]}


def read_image_tags(run_dir) -> list[str]:
    events = EventAccumulator(str(run_dir), size_guidance={"images": 0})
    events.Reload()
    return events.Tags()["images"]


W_TAGS = ["loss/critic", "loss/generator", "critic/wasserstein", "critic/penalty", "perf/it_per_s"]


def write_events(job: Path, steps, value=lambda step: step * 0.25, tags=W_TAGS) -> None:
    """One event file in the job folder; values exact in float32 so the CSV can be compared as text."""
    writer = SummaryWriter(str(job))
    for step in steps:
        for tag in tags:
            writer.add_scalar(tag, value(step), step)
    writer.close()


class RunEvents:
    """An event file as a ganrun run writes it (so a resume's file sorts after the files it purges, which two
    SummaryWriters made in one second do not promise), with the two SummaryWriter calls the tests use."""

    def __init__(self, job: Path, purge_step: int | None = None):
        self.file = EventFile(job, purge_step)

    def add_scalar(self, tag: str, value: float, step: int) -> None:
        self.file.add_summary(scalar(tag, value), step)

    def add_image(self, tag: str, picture, step: int) -> None:
        self.file.add_summary(image(tag, picture, dataformats="CHW"), step)

    def close(self) -> None:
        self.file.close()

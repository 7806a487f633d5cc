"""The training loop: generator steps (training/step.py) with logging, samples, metrics and checkpoints around them.
No Hydra in here.

Grids and metrics draw from random streams of their own, so they never change what is trained.
"""

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from tqdm.auto import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

from ganrun.base import reported
from ganrun.base.streams import own_streams
from ganrun.quality.protocol import TEXT_TAG, protocols_at, to_text
from ganrun.training.best import BestScore
from ganrun.training.divergence import UpdateGuard
from ganrun.training.graphs import CudaGraphs, GraphedSteps
from ganrun.training.parts import Parts
from ganrun.training.progress import Progress
from ganrun.training.sampling import grid_samples
from ganrun.training.settings import Settings
from ganrun.training.stats import RunningMeans
from ganrun.training.step import EagerSteps

log = logging.getLogger(__name__)


@dataclass
class Outcome:
    step: int  # the last generator step done
    values: dict  # the last logged values
    preempted: bool  # stopped early by a signal, after writing a checkpoint


@dataclass
class Hooks:
    """What the loop meets besides the parts: where values go, how a checkpoint is made and written, when to stop,
    how the generator is scored (those need the run's config, which the loop never sees)."""

    logger: object  # scalars, images, text, flush (runstate/loggers)
    checkpointer: object  # save(state, step, periodic), save_best(state) (runstate/checkpoint.py)
    capture: Callable[[int], dict]  # the run's state after a step, as a checkpoint dict (runstate/state.py)
    best: BestScore = field(default_factory=BestScore)  # the best score so far, which best.pt follows
    should_stop: Callable[[int], bool] = lambda step: False  # a stop signal came: end at this step boundary
    evaluate: Callable[[], dict] | None = None  # {"metrics/fid": …} (a quality.protocol.Scores says how each)
    on_log: Callable[[int, dict], None] | None = None  # hears each logged interval (status.json follows the run)
    graph_backend: object = None  # captures the steps under settings.cuda_graphs (tests pass a CPU stand-in)

    @classmethod
    def quiet(cls, **chosen) -> "Hooks":
        """Hooks that log, write and keep nothing but what is `chosen` (benchmarks time training, not I/O)."""
        return cls(**{"logger": Silent(), "checkpointer": Silent(), "capture": lambda step: {}, **chosen})


class Silent:
    """A logger or checkpointer that keeps nothing."""

    def __getattr__(self, name):
        return lambda *args, **kwargs: None


def fit(parts: Parts, settings: Settings, hooks: Hooks, start_step: int = 0) -> Outcome:
    """Train from `start_step` to `settings.steps` generator updates."""
    device = parts.fixed_noise.device
    means, guard = RunningMeans(), UpdateGuard(settings.nan_policy, device)
    if start_step == 0:  # a seeded sample of the training images (a row per class for a conditional model)
        real, row_length = parts.data.preview(parts.fixed_noise.shape[0])  # draws nothing training draws
        hooks.logger.images(reported.REAL, real, 0, nrow=row_length)
    if settings.cuda_graphs:
        stepper = GraphedSteps(parts, settings, means, guard, hooks.graph_backend or CudaGraphs(device))
    else:
        stepper = EagerSteps(parts, settings, means, guard)
    step, values, last_good, preempted = start_step, {}, start_step or None, False
    clock = Clock(step)
    progress = Progress(start_step, settings.steps, device.type)
    # Rank 0 shows the bar, and only on a terminal (None: tqdm tests it); off one, `progress` tells the log.
    hidden = None if settings.progress else True
    bar = tqdm(total=settings.steps, initial=step, desc="train", unit="step", dynamic_ncols=True, disable=hidden)
    with logging_redirect_tqdm():  # log lines go above the progress bar, which stays one line
        while step < settings.steps:
            guard.set_step(step + 1)
            parts.schedules.apply(step)
            if stepper.run(step) and parts.ema is not None:
                parts.ema.update(parts.generator, step + 1)
            for name, value in parts.objective.augment.log_values().items():
                means.add(reported.augment(name), torch.as_tensor(value, dtype=torch.float32, device=device))
            step += 1
            bar.update(1)
            preempted = hooks.should_stop(step)
            last = step == settings.steps or preempted
            if step % settings.log_every == 0 or last:
                values = log_interval(parts, means, guard, clock, hooks, step, last_good)
                bar.set_postfix({k.split("/")[-1]: f"{v:.4g}" for k, v in values.items() if k.startswith("loss/")})
                progress.logged()
            if step % settings.images_every == 0 or last:
                with own_streams():
                    grid, row_length = grid_samples(parts.sampler, parts.fixed_noise, parts.data.class_names)
                hooks.logger.images(reported.SAMPLES, grid, step, nrow=row_length)
            improved = False
            if hooks.evaluate is not None and (
                (settings.metrics_every and step % settings.metrics_every == 0) or step == settings.steps
            ):
                improved = score(parts, hooks, step, values)
            if step % settings.ckpt_every == 0 or last or improved:
                guard.check(step, last_good, parts.generator, parts.critic)  # never overwrite good with NaNs
                state = hooks.capture(step)
                if step % settings.ckpt_every == 0 or last:
                    hooks.checkpointer.save(state, step, periodic=step % settings.ckpt_every == 0)
                    last_good = step
                if improved:
                    hooks.checkpointer.save_best(state)
            if preempted:
                log.warning("stopped at step %d by a signal; checkpoint written", step)  # the session says how to go on
                break
            progress.step_done(step)
    bar.close()
    hooks.logger.flush()
    return Outcome(step, values, preempted)


class Clock:
    """Generator steps per second over each log interval."""

    def __init__(self, step: int):
        self.time, self.step = time.perf_counter(), step

    def rate(self, step: int) -> float:
        now = time.perf_counter()
        rate = (step - self.step) / max(now - self.time, 1e-9)
        self.time, self.step = now, step
        return rate


def log_interval(parts: Parts, means, guard, clock: Clock, hooks: Hooks, step: int, last_good) -> dict:
    """The interval's means (the only host sync of the loop, once per interval), speed and schedules, logged."""
    values = means.read()
    guard.check(step, last_good, parts.generator, parts.critic)
    values[reported.IT_PER_S] = clock.rate(step)
    if parts.fixed_noise.is_cuda:  # the allocator's own count: no sync
        values[reported.PEAK_MEMORY] = torch.cuda.max_memory_allocated(parts.fixed_noise.device) / 1e9
    values.update(parts.schedules.reported(step))
    if guard.policy == "skip":
        values[reported.SKIPPED_UPDATES] = guard.skipped
    hooks.logger.scalars(values, step)
    log.info("step %d: %s", step, ", ".join(f"{k} {v:.5g}" for k, v in values.items()))
    if hooks.on_log is not None:
        hooks.on_log(step, values)
    return values


def score(parts: Parts, hooks: Hooks, step: int, values: dict) -> bool:
    """Score the generator, log each score beside how it was measured (and under which schedules the generator
    trained), add the scores to `values`; whether they beat the best so far (best.pt is then written)."""
    with own_streams():
        quality = hooks.evaluate()
    protocols = protocols_at(quality, step, parts.schedules.in_force(step))
    hooks.logger.scalars(quality, step)
    for metric, protocol in protocols.items():
        hooks.logger.text(TEXT_TAG + metric, to_text(protocol), step)
    values.update(quality)
    return hooks.best.offer(quality, step, protocols)

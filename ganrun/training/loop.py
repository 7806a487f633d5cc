"""The training loop: generator steps (training/step.py) with logging, samples, metrics and checkpoints around
them. No Hydra in here."""

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
from tqdm.auto import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

from ganrun.base import reported
from ganrun.base.streams import own_streams
from ganrun.quality.names import best_metric, is_better
from ganrun.quality.protocol import TEXT_TAG, protocols_at, to_text
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


def fit(
    parts: Parts,
    settings: Settings,
    logger,
    checkpointer,
    save_state,
    start_step: int = 0,
    should_stop: Callable[[int], bool] | None = None,
    evaluate: Callable[[], dict] | None = None,
    graph_backend=None,
    on_log: Callable[[int, dict], None] | None = None,
) -> Outcome:
    """Train from `start_step` to `settings.steps` generator updates.

    `save_state(step)` builds the checkpoint dict for `checkpointer`, and `evaluate()` returns quality
    metrics ({"metrics/fid": ...}, maybe empty; a quality.protocol.Scores also says how each was measured);
    both live outside the loop because they need the run's config. `should_stop(step)` true (preemption) ends
    the run at that step boundary, and `on_log(step, values)` hears each logged interval (status.json follows
    the run with it).
    Grids and metrics draw from random streams of their own, so they never change what is trained.
    With settings.cuda_graphs the steps are replayed from CUDA graphs that `graph_backend` captures (default:
    training.graphs.CudaGraphs; the tests pass a CPU stand-in).
    """
    device = parts.fixed_noise.device
    means, guard = RunningMeans(), UpdateGuard(settings.nan_policy, device)
    if start_step == 0:  # a seeded sample of the training images (a row per class for a conditional model)
        real, row_length = parts.data.preview(parts.fixed_noise.shape[0])  # draws nothing training draws
        logger.images(reported.REAL, real, 0, nrow=row_length)
    step, values, last_good, preempted = start_step, {}, start_step or None, False
    clock, clock_step = time.perf_counter(), step
    bar = tqdm(
        total=settings.steps,
        initial=step,
        desc="train",
        unit="step",
        dynamic_ncols=True,
        disable=None if settings.progress else True,
    )
    stepper = (
        GraphedSteps(parts, settings, means, guard, graph_backend or CudaGraphs(device))
        if settings.cuda_graphs
        else EagerSteps(parts, settings, means, guard)
    )
    progress = Progress(start_step, settings.steps, device.type)
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
            preempted = should_stop is not None and should_stop(step)
            last = step == settings.steps or preempted

            if step % settings.log_every == 0 or last:
                values = means.read()  # the only host sync of the loop, once per log interval
                guard.check(step, last_good, parts.generator, parts.critic)
                now = time.perf_counter()
                values[reported.IT_PER_S] = (step - clock_step) / max(now - clock, 1e-9)
                values.update(parts.schedules.reported(step))
                if guard.policy == "skip":
                    values[reported.SKIPPED_UPDATES] = guard.skipped
                clock, clock_step = now, step
                logger.scalars(values, step)
                bar.set_postfix({k.split("/")[-1]: f"{v:.4g}" for k, v in values.items() if k.startswith("loss/")})
                log.info("step %d: %s", step, ", ".join(f"{k} {v:.5g}" for k, v in values.items()))
                progress.logged()
                if on_log is not None:
                    on_log(step, values)
            if step % settings.images_every == 0 or last:
                with own_streams():
                    grid, row_length = grid_samples(parts.sampler, parts.fixed_noise, parts.data.class_names)
                logger.images(reported.SAMPLES, grid, step, nrow=row_length)
            improved = False
            if evaluate is not None and (
                (settings.metrics_every and step % settings.metrics_every == 0) or step == settings.steps
            ):
                with own_streams():
                    quality = evaluate()
                # How each score was measured, and under which schedules the generator trained: logged beside it.
                protocols = protocols_at(quality, step, parts.schedules.in_force(step))
                logger.scalars(quality, step)
                for metric, protocol in protocols.items():
                    logger.text(TEXT_TAG + metric, to_text(protocol), step)
                values.update(quality)
                name = best_metric(quality, settings.best_metric)
                improved = name is not None and is_better(
                    name, quality[f"metrics/{name}"], parts.best, protocols.get(name)
                )
                if improved:
                    parts.best = {"step": step, name: quality[f"metrics/{name}"]}
                    if name in protocols:
                        parts.best["protocol"] = protocols[name]
            if step % settings.ckpt_every == 0 or last or improved:
                guard.check(step, last_good, parts.generator, parts.critic)  # never overwrite good with NaNs
                state = save_state(step)
                if step % settings.ckpt_every == 0 or last:
                    checkpointer.save(state, step, periodic=step % settings.ckpt_every == 0)
                    last_good = step
                if improved:
                    checkpointer.save_best(state)
            if preempted:
                log.warning("stopped at step %d by a signal; checkpoint written", step)  # the session says how to go on
                break
            progress.step_done(step)
    bar.close()
    logger.flush()
    return Outcome(step, values, preempted)

"""Random streams of their own for everything that measures a run (sample grids, metrics, the EMA's batch-norm
re-estimation), so that what is measured, and how often, never changes what is trained."""

import random
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import torch

MEASURE_SEED = 0x6A4E  # the streams a measurement starts from, the same at every step of every run


@contextmanager
def own_streams(seed: int = MEASURE_SEED) -> Iterator[None]:
    """Run the block on random streams of its own: torch's CPU stream and those of the CUDA devices in use, numpy's
    and Python's global streams are seeded with `seed` inside and restored after. Training draws from exactly the
    streams it would draw from had the block never run, and the block draws the same numbers wherever it runs."""
    cuda = list(range(torch.cuda.device_count())) if torch.cuda.is_initialized() else []
    numpy_state, python_state = np.random.get_state(), random.getstate()
    with torch.random.fork_rng(devices=cuda):
        torch.random.default_generator.manual_seed(seed)
        for index in cuda:
            torch.cuda.default_generators[index].manual_seed(seed)
        np.random.seed(seed)
        random.seed(seed)
        try:
            yield
        finally:
            np.random.set_state(numpy_state)
            random.setstate(python_state)

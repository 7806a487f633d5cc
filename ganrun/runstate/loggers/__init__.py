"""Where a run's curves and sample grids go: one module per backend (tensorboard, csv, wandb, mlflow), each built
from an option of the `logger` config group (ganrun/build.py), and many.py, which makes the chosen ones one logger.

The training loop calls three methods (scalars, images, flush); the app opens the loggers with a RunInfo (run.py)
and closes them with how the run ended."""

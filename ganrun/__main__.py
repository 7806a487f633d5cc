"""`python -m ganrun ...` and the `ganrun` console script: the Hydra app in ganrun/train.py."""

import sys

from ganrun.launchers import exit_if_launcher_missing


def cli() -> None:
    # Before Hydra composes: a launcher that is not installed gets a one-line pip hint, not Hydra's error.
    exit_if_launcher_missing()
    from ganrun import distributed
    from ganrun.errors import UsageError, exit_with
    from ganrun.train import main

    try:
        sys.argv[1:] = distributed.setup(sys.argv[1:])  # torchrun: one process group, one run folder
    except UsageError as exc:
        exit_with(exc)
    try:
        main()
    finally:
        distributed.teardown()


if __name__ == "__main__":
    cli()

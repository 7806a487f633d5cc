"""`python -m ganrun ...` and the `ganrun` console script: the Hydra app in ganrun/app/main.py."""

import logging
import os
import sys

from ganrun.app.launchers import exit_if_plugin_missing


def cli() -> None:
    # Before Hydra composes: a launcher or sweeper that is not installed gets a one-line pip hint, not Hydra's error.
    exit_if_plugin_missing()
    from ganrun.app import errors
    from ganrun.app.main import main
    from ganrun.base.errors import UsageError, exit_with
    from ganrun.runstate.overrides import quote_resume_path

    torchrun = int(os.environ.get("WORLD_SIZE", "1")) > 1
    if torchrun:
        from ganrun.training import distributed

        try:
            sys.argv[1:] = distributed.setup(sys.argv[1:])  # one process group, one run folder
        except UsageError as exc:
            exit_with(exc)
    sys.argv[1:] = quote_resume_path(sys.argv[1:])  # resume=<a sweep job's folder>, whose name holds a '='
    # A log file that cannot be written (a full disk) must not print a traceback per log line; the run's own
    # writes say what failed, in one line.
    logging.raiseExceptions = False
    try:
        with errors.reporting():  # an unknown key or option: one line and exit code 2
            main()
    finally:
        if torchrun:
            distributed.teardown()


if __name__ == "__main__":
    cli()

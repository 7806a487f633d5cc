"""`python -m ganrun ...` and the `ganrun` console script: the Hydra app in ganrun/train.py."""

from ganrun.launchers import exit_if_launcher_missing


def cli() -> None:
    # Before Hydra composes: a launcher that is not installed gets a one-line pip hint, not Hydra's error.
    exit_if_launcher_missing()
    from ganrun.train import main

    main()


if __name__ == "__main__":
    cli()

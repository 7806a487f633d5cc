"""`python -m ganrun ...` runs the Hydra app in ganrun/train.py."""

from ganrun.train import main

if __name__ == "__main__":
    main()

"""`python -m ganrun.bench [options]`: the speed benchmark; `python -m ganrun.bench --quality [options]`: the
quality benchmark; `python -m ganrun.bench --data WHAT [options]`: the data benchmark (storage tiers, packing).
`--help` after any says more."""

import sys


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if "--data" in argv:
        argv.remove("--data")
        from ganrun.bench.data import main as data

        return data(argv)
    if "--quality" in argv:
        argv.remove("--quality")
        from ganrun.bench.quality import main as quality

        return quality(argv)
    from ganrun.bench.speed import main as speed

    return speed(argv)


if __name__ == "__main__":
    sys.exit(main())

"""`python scripts/truncation.py CKPT --out docs/quality/truncation`: the truncation trade-off of a checkpoint in the
offline metrics: `ganrun.evaluate` at each ψ (and without truncation, with --real for the held-out test split's
floor), written as OUT.json and plotted as OUT.png (docs/reports/quality.md).

`--samples truncation_samples.png` also (or, without --out, only) writes the picture of it: one row of
`--samples-num` samples per ψ in 0.25, 0.5, 1, 1.5, 2 and none, all from the same `--seed` (ganrun.sample's noise,
so for an unconditional generator row ψ is `python -m ganrun.sample CKPT --truncation ψ --num N --seed S`)."""

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the checkout's ganrun, installed or not

from ganrun import evaluate  # noqa: E402
from ganrun.base.commands import description  # noqa: E402

METRICS = ["classifier_fd", "classifier_precision", "classifier_recall", "classifier_density", "classifier_coverage"]
PSIS = [0.25, 0.5, 0.75, 1.0, 1.5, 2.0]
SAMPLE_PSIS = [0.25, 0.5, 1.0, 1.5, 2.0, None]  # the rows of --samples; None: no truncation


def measure(checkpoint: str, num: int, psis: list[float]) -> list[dict]:
    """One ganrun.evaluate result per ψ, then one without truncation (with the held-out floor)."""
    common = [checkpoint, "--metrics", ",".join(METRICS), "--num", str(num), "--device", "cpu"]
    results = [evaluate.evaluate(evaluate.parse_args([*common, "--truncation", str(psi)])) for psi in psis]
    return results + [evaluate.evaluate(evaluate.parse_args([*common, "--real"]))]


def plot(results: list[dict], out: Path) -> None:
    from matplotlib.figure import Figure

    truncated, plain = results[:-1], results[-1]
    psis = [r["truncation"] for r in truncated]
    fig = Figure(figsize=(9, 3.4), layout="constrained")
    fd, rest = fig.subplots(1, 2)
    fd.plot(psis, [r["metrics"]["classifier_fd"] for r in truncated], "o-", color="k")
    fd.axhline(plain["metrics"]["classifier_fd"], color="k", linestyle="--", linewidth=1, label="no truncation")
    fd.axhline(plain["real"]["metrics"]["classifier_fd"], color="0.6", linestyle=":", label="held-out real")
    fd.set(xlabel="truncation ψ", ylabel="classifier_fd (lower is better)")
    for index, name in enumerate(METRICS[1:]):
        colour = f"C{index}"
        rest.plot(psis, [r["metrics"][name] for r in truncated], "o-", color=colour, label=name.split("_", 1)[1])
        rest.axhline(plain["metrics"][name], color=colour, linestyle="--", linewidth=1)
    rest.set(xlabel="truncation ψ", ylabel="higher is better (dashed: no truncation)")
    for ax in (fd, rest):
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize="small")
    fig.savefig(out, dpi=80)


def sample_rows(checkpoint: str, num: int, seed: int, psis: list[float | None] = SAMPLE_PSIS) -> "torch.Tensor":
    """uint8 len(psis) × num × C × H × W: row i is ganrun.sample's `--truncation psis[i] --num num --seed seed`."""
    import torch

    from ganrun.build import load_generator
    from ganrun.training.sampling import generate

    device = torch.device("cpu")
    generator = load_generator(checkpoint, device)
    return torch.stack([generate(generator, num, seed, device, truncation=psi) for psi in psis])


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=description(__doc__))
    parser.add_argument("checkpoint")
    parser.add_argument("--out", type=Path, help="OUT.json and OUT.png are written")
    parser.add_argument("--num", type=int, default=10_000)
    parser.add_argument("--samples", type=Path, metavar="PNG", help="the picture: a row of samples per ψ")
    parser.add_argument("--samples-num", type=int, default=10, help="samples a row (10)")
    parser.add_argument("--seed", type=int, default=0, help="the samples' noise seed (0)")
    args = parser.parse_args(argv)
    if args.out is None and args.samples is None:
        parser.error("nothing to do: give --out (the measurement), --samples (the picture) or both")
    if args.samples is not None:
        from ganrun.pictures.strips import write_rows

        captions = ["no truncation" if psi is None else f"psi {psi:g}" for psi in SAMPLE_PSIS]  # the font has no ψ
        write_rows(sample_rows(args.checkpoint, args.samples_num, args.seed), args.samples, captions=captions)
        print(f"wrote a row of {args.samples_num} samples for each of {', '.join(captions)} to {args.samples}")
    if args.out is not None:
        results = measure(args.checkpoint, args.num, PSIS)
        args.out.with_suffix(".json").write_text(json.dumps(results, indent=1) + "\n")
        plot(results, args.out.with_suffix(".png"))
        print(f"wrote {args.out.with_suffix('.json')} and its plot {args.out.with_suffix('.png')}")


if __name__ == "__main__":
    main()

"""`python -m ganrun.export GENERATOR OUT/`: a folder another person can use without the run.

GENERATOR is what ganrun.sample takes: a checkpoint, a run folder (its newest checkpoint), a folder of runs such as
`outputs` (its newest run), an exported folder, `hf://user/repo`, or an R3GAN network pickle (so a published R3GAN
network becomes a ganrun export).

OUT/ gets
  model.safetensors  the generator ganrun samples from by default (the EMA where there is one; --raw: the trained
                     one) as generator.*, and with --critic the critic as critic.* (init= then fine-tunes from it)
  config.json        what rebuilds and calls it: the model's config, z's size, the image shape and value range, the
                     classes, ganrun's version, the run's config and origin (steps, seed, what it started from)
  README.md          a model card in the Hub's format, with samples.png (64 samples of seed 0)
  generator.onnx     with --onnx: z (and labels) in, images out, any batch size

The folder is written beside OUT under a temporary name and renamed when complete: a failed export leaves nothing.
`--push USER/REPO` then uploads it to the Hugging Face Hub (`--private` for a private repository).

    python -m ganrun.export outputs exported/ --onnx
    python -m ganrun.sample exported/ --out grid.png
"""

import argparse
import logging
from pathlib import Path

from ganrun.base.errors import UsageError, exit_with
from ganrun.sharing import hub
from ganrun.sharing.source import resolve_for_tool, tool_parser
from ganrun.sharing.writer import Options, export


def parse_args(argv=None) -> argparse.Namespace:
    parser = tool_parser("python -m ganrun.export", __doc__, dest="generator")
    parser.add_argument("out", metavar="OUT", help="the folder to write (new or empty, unless --force)")
    parser.add_argument("--raw", action="store_true", help="the trained generator, not its moving average")
    parser.add_argument("--critic", action="store_true", help="the critic too (for fine-tuning with init=OUT)")
    parser.add_argument("--onnx", action="store_true", help="also generator.onnx (needs onnx and onnxruntime)")
    parser.add_argument("--force", action="store_true", help="replace OUT when it exists and is not empty")
    parser.add_argument("--push", metavar="REPO_ID", help="upload the export to the Hub repository USER/REPO")
    parser.add_argument("--private", action="store_true", help="with --push: a private repository")
    args = parser.parse_args(argv)
    if args.private and not args.push:
        parser.error("--private goes with --push REPO_ID")
    return args


def main(argv=None) -> None:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    try:
        source = resolve_for_tool(args.generator)
        options = Options(raw=args.raw, critic=args.critic, onnx=args.onnx, repo_id=args.push)
        out = export(source, Path(args.out), options, force=args.force)
        print(f"exported {source.label} (step {source.state['step']}) to {out}: {', '.join(sorted(listing(out)))}")
        if args.push:
            print(f"pushed to {hub.push(out, args.push, args.private)}")
    except UsageError as exc:
        exit_with(exc)


def listing(folder: Path) -> list[str]:
    return [p.name for p in folder.iterdir()]


if __name__ == "__main__":
    main()

"""The one resolver every tool uses for "a generator given by path": a checkpoint file, a run folder (its newest
checkpoint), a folder of runs such as `outputs` (its newest run), an exported folder, a Hub repository
`hf://user/repo[@revision]`, or an R3GAN network pickle. Each becomes a `Source`: a checkpoint-shaped state (the
config, the generator's weights, the EMA's, the critic's where there is one, the class names, the step) that the
tools and `init=` read as they read a checkpoint."""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from pathlib import Path

import torch

from ganrun.base.errors import UsageError
from ganrun.build import generator_of
from ganrun.runstate import checkpoint
from ganrun.sharing import exported, hub, r3gan_import, runs

CHECKPOINT, RUN, EXPORT, HUB, R3GAN = "checkpoint", "run folder", "export", "Hub repository", "R3GAN pickle"
PICKLE_MAGIC = (b"\x80\x02", b"\x80\x03", b"\x80\x04", b"\x80\x05")  # a plain pickle (torch.save's files are zips)


@dataclass
class Source:
    """A generator's state read from `path` (`label` as the user gave it), of a `kind` above."""

    state: dict
    path: Path
    label: str
    kind: str
    notes: list[str] = field(default_factory=list)  # what the tool should tell the user (which run was taken)

    def generator(self, device: torch.device, use_ema: bool = True) -> torch.nn.Module:
        """The generator, rebuilt from the config, in eval mode: the EMA where there is one, unless not use_ema."""
        if not use_ema and self.state.get("ema") is None and self.kind in (EXPORT, HUB):
            held = (self.state.get("exported") or {}).get("generator", "ema")
            if held == "ema":
                raise UsageError(
                    f"{self.label} holds the EMA generator only (it was exported without --raw); leave out --no-ema"
                )
        return generator_of(self.state, device, use_ema)

    @property
    def used_ema(self) -> bool:
        """Whether the default generator is an EMA (a checkpoint's average, or an export of one)."""
        if self.state.get("ema") is not None:
            return True
        return (self.state.get("exported") or {}).get("generator") == "ema"

    @property
    def origin(self) -> str:
        """Where it was read, as a later command can name it again: the Hub id at the commit read, else the path."""
        return hub.pinned(self.label, self.path) if self.kind == HUB else str(self.path.absolute())

    def beside(self, suffix: str) -> Path:
        """Where a tool writes a file about this generator (evaluate's scores): beside a checkpoint or a pickle, in
        an export folder, and in the current folder for a Hub repository (its cache is not ours to write in)."""
        if self.kind == HUB:
            return Path(f"{self.label.removeprefix(hub.SCHEME).replace('/', '--').replace('@', '-')}{suffix}")
        if self.kind == EXPORT:
            return self.path / f"generator{suffix}"
        return self.path.with_name(f"{self.path.stem}{suffix}")


def resolve(given: str | Path) -> Source:
    """The generator `given` names, loaded on the CPU; a one-line UsageError saying what it is not."""
    text = str(given)
    if text.startswith(hub.SCHEME):
        return _hub(text)
    path = Path(text).expanduser()
    if not path.exists():
        what = {".pt": "checkpoint ", ".pkl": "network pickle "}.get(path.suffix, "")
        raise UsageError(
            f"{what}{text} does not exist; give a checkpoint (.pt), a run folder, a folder of runs such as outputs, "
            "an exported folder, hf://user/repo or an R3GAN .pkl"
        )
    if path.is_file():
        return _file(path, text)
    if exported.is_export(path):
        return Source(exported.read(path, text), path, text, EXPORT)
    return _runs(path, text)


def resolve_for_tool(given: str | Path) -> Source:
    """resolve(given) for a command-line tool: what the user should be told (which run was taken) printed."""
    source = resolve(given)
    for note in source.notes:
        print(note)
    return source


def tool_parser(prog: str, doc: str, dest: str = "checkpoint") -> argparse.ArgumentParser:
    """A tool's argument parser whose --help shows its whole docstring, with the GENERATOR argument every tool
    takes (what `resolve` reads) as `dest`."""
    parser = argparse.ArgumentParser(prog=prog, description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        dest,
        metavar="GENERATOR",
        help="a checkpoint, a run folder, a folder of runs (outputs: its newest run), an export, hf://user/repo or an "
        "R3GAN .pkl",
    )
    return parser


def _file(path: Path, label: str) -> Source:
    with open(path, "rb") as f:
        head = f.read(2)
    if path.suffix == ".pkl" or head in PICKLE_MAGIC:
        return Source(r3gan_import.read(path), path, label, R3GAN)
    return Source(checkpoint.load(path), path, label, CHECKPOINT)


def _runs(folder: Path, label: str) -> Source:
    """A run folder's newest checkpoint, or the newest run's under a folder of runs (said in a note)."""
    if runs.checkpoint_files(folder):
        found = runs.newest_checkpoint(folder)
        if found is None:
            raise UsageError(f"run folder {label} holds no readable checkpoint (each one is truncated or corrupt)")
        return Source(found[1], found[0], label, RUN)
    if (folder / "checkpoints").is_dir() or (folder / ".hydra").is_dir():
        raise UsageError(
            f"run folder {label} holds no checkpoint yet: it stopped before its first one (every ckpt.every steps)"
        )
    found_runs = runs.runs_under(folder)
    if not found_runs:
        raise UsageError(
            f"{label} exists but holds no checkpoint: no checkpoints/*.pt in it or in a run folder below it, and it "
            "is not an export (config.json and model.safetensors); give a run folder, a checkpoint or an export"
        )
    for run in reversed(found_runs):  # the newest run with a readable checkpoint
        if (found := runs.newest_checkpoint(run.folder)) is not None:
            path, state = found
            others = len(found_runs) - 1
            note = (
                f"{label} holds {len(found_runs)} runs; taking the newest, {run.folder} ({path.name}, step "
                f"{state['step']}); give that folder to pick another"
                if others
                else f"{label}: taking its run {run.folder} ({path.name}, step {state['step']})"
            )
            return Source(state, path, label, RUN, [note])
    raise UsageError(f"{label}: none of its {len(found_runs)} runs holds a readable checkpoint")


def _hub(text: str) -> Source:
    """A Hub repository: a ganrun export, or a network pickle (R3GAN publishes each network as a repository)."""
    local = hub.download(text)
    if local.is_file():
        return Source(r3gan_import.read(local), local, text, HUB)
    if exported.is_export(local):
        return Source(exported.read(local, text), local, text, HUB)
    pickles = sorted(local.glob("*.pkl"))
    if len(pickles) == 1:
        return Source(r3gan_import.read(pickles[0]), pickles[0], text, HUB)
    if pickles:
        raise UsageError(
            f"{text} holds {len(pickles)} pickles ({', '.join(p.name for p in pickles[:4])}); name one: "
            f"{text}/{pickles[0].name}"
        )
    raise UsageError(f"{text} holds no ganrun export ({exported.CONFIG} and {exported.WEIGHTS}) and no network pickle")

"""`python scripts/r3gan_pickles.py --reference DIR make|check`: R3GAN network pickles made and read by R3GAN's own
code (github.com/brownvc/R3GAN, checked out in DIR), against ganrun's reader (ganrun/sharing/r3gan_pickle.py).

- `make --out tests/files/r3gan`: two small pickles in the format of R3GAN's training loop (its
  `network-snapshot-*.pkl`: a dict of G, D, G_ema as deep copies in eval mode, training_set_kwargs, cur_nimg and the
  optimizer states, `pickle.dump`ed), one unconditional and one class-conditional, built with R3GAN's own
  `training.networks` classes from train.py-style keyword arguments at small widths (bf16 stages included as its
  presets have them), every weight perturbed so that every block counts and G_ema differs from G. Beside each,
  `<name>.expected.npz`: z, the classes, and R3GAN's G_ema(z, c) computed by R3GAN's code in float64, which
  tests/sharing/test_r3gan_pickle.py compares with the generator ganrun reads from the pickle.
- `check PKL…`: each pickle loaded by R3GAN's code (pickle.load, as its gen_images.py does) and by ganrun's reader
  (which runs none of its code), both in float64; the largest differences of G_ema(z, c), G(z, c) and D(x, c).

docs/sharing.md has the results. Nothing here is imported by ganrun or its tests.
"""

from __future__ import annotations

import argparse
import copy
import json
import pickle
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the checkout's ganrun, installed or not

import numpy as np  # noqa: E402
import torch  # noqa: E402
from r3gan_checkout import put_on_path  # noqa: E402  (beside this script)

from ganrun.build import generator_of  # noqa: E402
from ganrun.sharing import r3gan_import  # noqa: E402

# Small networks in train.py's form: widths, cardinalities (groups of the 3×3 convs: 8 channels each at expansion
# 2) and blocks per stage from 4×4 up (16×16 images), z of 8, the bf16 stages as R3GAN's presets choose them.
TINY = {
    "WidthPerStage": [16, 8, 8],
    "CardinalityPerStage": [4, 2, 2],
    "BlocksPerStage": [1, 1, 1],
    "NoiseDimension": 8,
    "FP16Stages": [-1, -2],
}
CLASSES = 3
BATCH, SEED = 4, 0


def load_r3gan(folder: str):
    """R3GAN's training.networks from `folder` (its default CUDA-named operators: on a CPU they run their reference
    implementations, as on a user's machine without a GPU)."""
    put_on_path(folder)
    import training.networks as networks

    return networks


def make_kwargs(conditional: bool) -> tuple[dict, dict]:
    """G_kwargs and D_kwargs as R3GAN's train.py composes them."""
    g = dict(TINY, ExpansionFactor=2, c_dim=CLASSES if conditional else 0, img_resolution=16)
    stages = len(TINY["WidthPerStage"])
    d = {
        "WidthPerStage": TINY["WidthPerStage"][::-1],
        "CardinalityPerStage": TINY["CardinalityPerStage"][::-1],
        "BlocksPerStage": TINY["BlocksPerStage"][::-1],
        "ExpansionFactor": 2,
        "FP16Stages": [x + stages for x in TINY["FP16Stages"]],
        "c_dim": g["c_dim"],
        "img_resolution": 16,
    }
    if conditional:
        g["ConditionEmbeddingDimension"] = TINY["NoiseDimension"]
        d["ConditionEmbeddingDimension"] = TINY["WidthPerStage"][0]
    return g, d


@torch.no_grad()
def perturb(module: torch.nn.Module, scale: float) -> None:
    for p in module.parameters():
        p.add_(torch.randn_like(p) * scale)


def snapshot(networks, conditional: bool) -> dict:
    """What R3GAN's training loop pickles, for small networks with trained-looking weights and optimizer states."""
    torch.manual_seed(1 if conditional else 0)
    g_kwargs, d_kwargs = make_kwargs(conditional)
    G, D = networks.Generator(**g_kwargs), networks.Discriminator(**d_kwargs)
    perturb(G, 0.05)
    perturb(D, 0.05)
    G_ema = copy.deepcopy(G).eval()
    perturb(G_ema, 0.02)  # an average that is not the live weights
    data = dict(
        G=G,
        D=D,
        G_ema=G_ema,
        training_set_kwargs=dict(
            class_name="training.dataset.ImageFolderDataset",
            path="/data/tiny-16x16.zip",
            use_labels=conditional,
            max_size=64,
            xflip=False,
            resolution=16,
            random_seed=0,
        ),
        cur_nimg=2048,
    )
    for name, net in (("G", G), ("D", D)):  # one Adam step, so the optimizer states hold moments
        opt = torch.optim.Adam(net.parameters(), lr=1e-4, betas=(0.0, 0.99), eps=1e-8)
        with torch.enable_grad():
            sum(p.square().sum() for p in net.parameters()).backward()
        opt.step()
        data[f"{name}_opt_state"] = copy.deepcopy(opt.state_dict())
    for key, value in data.items():  # as training_loop.py does before pickle.dump
        if isinstance(value, torch.nn.Module):
            data[key] = copy.deepcopy(value).eval().requires_grad_(False).cpu()
    return data


def in_float64(net: torch.nn.Module) -> torch.nn.Module:
    """R3GAN's network computing in float64 (each stage casts its input to its DataType: bf16 in the presets)."""
    net = copy.deepcopy(net).double()
    for stage in net.Model.MainLayers:
        stage.DataType = torch.float64
    for module in net.modules():
        if "Kernel" in module._buffers:  # upfirdn2d takes its filter in float32 ([1,3,3,1]/64 is exact in it)
            module.Kernel = module.Kernel.float()
    return net


def inputs(num_classes: int, z_dim: int):
    rng = torch.Generator().manual_seed(SEED)
    z = torch.randn(BATCH, z_dim, generator=rng, dtype=torch.float64)
    labels = torch.randint(num_classes, (BATCH,), generator=rng) if num_classes else None
    return z, labels


def one_hot(labels, num_classes):
    if labels is None:
        return torch.zeros(BATCH, 0, dtype=torch.float64)
    return torch.nn.functional.one_hot(labels, num_classes).double()


def make(networks, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for conditional in (False, True):
        name = "tiny-cond" if conditional else "tiny"
        data = snapshot(networks, conditional)
        path = out / f"{name}.pkl"
        with open(path, "wb") as f:
            pickle.dump(data, f)
        z, labels = inputs(CLASSES if conditional else 0, TINY["NoiseDimension"])
        with torch.no_grad():
            images = in_float64(data["G_ema"])(z, one_hot(labels, CLASSES))
        arrays = {"z": z.numpy(), "images": images.numpy()}
        if labels is not None:
            arrays["labels"] = labels.numpy()
        np.savez(out / f"{name}.expected.npz", **arrays)
        print(f"wrote {path} ({path.stat().st_size} bytes) and {name}.expected.npz")


def check(pickles: list[str]) -> list[dict]:
    results = []
    for path in pickles:
        with open(path, "rb") as f:
            theirs = pickle.load(f)  # R3GAN's code, as its gen_images.py loads a snapshot
        ours = r3gan_import.read(Path(path))
        classes = int(theirs["G_ema"].c_dim)
        z, labels = inputs(classes, int(theirs["G_ema"].z_dim))
        c = one_hot(labels, classes)
        row = {"pickle": Path(path).name, "conditional": bool(classes)}
        for key, ema in (("G_ema", True), ("G", False)):
            mine = generator_of(ours, torch.device("cpu"), use_ema=ema).double()
            with torch.no_grad():
                a, b = mine(z, labels), in_float64(theirs[key])(z, c)
            row[f"{key}(z, c)"] = {"max_abs": float((a - b).abs().max()), "scale": float(b.abs().max())}
        _, critic, _ = r3gan_import.networks(ours)
        critic.load_state_dict(ours["critic"])
        x = torch.randn(BATCH, 3, 16, 16, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
        with torch.no_grad():
            a, b = critic.double()(x, labels).flatten(), in_float64(theirs["D"])(x, c).flatten()
        row["D(x, c)"] = {"max_abs": float((a - b).abs().max()), "scale": float(b.abs().max())}
        results.append(row)
    return results


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--reference", required=True, help="a checkout of github.com/brownvc/R3GAN")
    p.add_argument("what", choices=["make", "check"])
    p.add_argument("pickles", nargs="*", help="check: the pickles to compare")
    p.add_argument("--out", default="tests/files/r3gan", help="make: where the pickles go")
    args = p.parse_args(argv)
    networks = load_r3gan(args.reference)
    if args.what == "make":
        make(networks, Path(args.out))
    else:
        print(json.dumps(check(args.pickles), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""`python scripts/r3gan_reference.py --reference DIR compare|speed`: ganrun's model=r3gan against R3GAN's own code
(github.com/brownvc/R3GAN, checked out in DIR; its pure-PyTorch reference operators, not its CUDA kernels).

- `compare`: both networks built for R3GAN's CIFAR-10 preset (unconditional and class-conditional), ganrun's given
  the reference's weights; their parameter counts, and the largest differences of G(z), D(x) and ∇ₓD(x) (what R1
  and R2 take) on the same inputs, in float64 and float32.
- `speed`: one training step (loss=rpgan, regularizer=r1r2: a critic update with R1 and R2, then a generator
  update, Adam) of each, timed in one process with interleaved repeats (the machine may be shared: compare the
  ratio of medians measured side by side, not single timings).

docs/models.md has the results. Nothing here is imported by ganrun or its tests.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the checkout's ganrun, installed or not

import torch  # noqa: E402
from r3gan_checkout import put_on_path  # noqa: E402  (beside this script)

from ganrun.base.commands import description  # noqa: E402
from ganrun.models import r3gan  # noqa: E402

# R3GAN's train.py, preset CIFAR10 (widths per stage from 4×4 up, blocks, groups of the 3×3 convs, z).
CIFAR10 = {"widths": [768] * 4, "blocks": [2] * 4, "cardinality": [96] * 4, "z_dim": 64, "expansion": 2}


def load_reference(folder: str):
    """R3GAN.Networks from `folder`, with the reference (non-CUDA) resamplers and biased activation bound."""
    put_on_path(folder)
    import R3GAN.FusedOperators as fused
    import R3GAN.Resamplers as resamplers

    resamplers.InterpolativeUpsampler = resamplers.InterpolativeUpsamplerReference
    resamplers.InterpolativeDownsampler = resamplers.InterpolativeDownsamplerReference
    fused.BiasedActivation = fused.BiasedActivationReference
    import R3GAN.Networks as networks

    assert networks.BiasedActivation is fused.BiasedActivationReference, "import the reference before anything else"
    return networks


def reference_pair(networks, preset: dict, num_classes: int = 0):
    """The reference's G and D as its train.py builds them for `preset` (D's stages reversed)."""
    widths, blocks, cards = preset["widths"], preset["blocks"], preset["cardinality"]
    cond = {"ConditionDimension": num_classes} if num_classes else {}
    g_cond = {**cond, "ConditionEmbeddingDimension": preset["z_dim"]} if num_classes else {}
    d_cond = {**cond, "ConditionEmbeddingDimension": widths[0]} if num_classes else {}
    generator = networks.Generator(preset["z_dim"], widths, cards, blocks, preset["expansion"], **g_cond)
    critic = networks.Discriminator(widths[::-1], cards[::-1], blocks[::-1], preset["expansion"], **d_cond)
    return generator, critic


def ganrun_pair(preset: dict, image_size: int = 32, num_classes: int = 0):
    group_width = preset["widths"][0] * preset["expansion"] // preset["cardinality"][0]
    return r3gan.build(
        image_size,
        3,
        z_dim=preset["z_dim"],
        widths=preset["widths"],
        blocks=preset["blocks"],
        group_width=group_width,
        expansion=preset["expansion"],
        conditional=bool(num_classes),
        num_classes=num_classes or None,
    )


def _block(ours, ref) -> dict:
    return {
        ours.expand.weight: ref.LinearLayer1.Layer.weight,
        ours.expand.bias: ref.NonLinearity1.Bias,
        ours.spatial.weight: ref.LinearLayer2.Layer.weight,
        ours.spatial.bias: ref.NonLinearity2.Bias,
        ours.project.weight: ref.LinearLayer3.Layer.weight,
    }


def generator_pairs(ours, ref) -> dict:
    """Each parameter of ganrun's generator → the reference's parameter that holds the same numbers."""
    first = ref.MainLayers[0].Layers[0]
    pairs = {ours.basis.basis: first.Basis, ours.basis.linear: first.LinearLayer.weight}
    for i, stage in enumerate(ours.stages):
        layers = ref.MainLayers[i].Layers
        if stage.change is not None:
            pairs[stage.change.weight] = layers[0].LinearLayer.Layer.weight
        for block, ref_block in zip(stage.blocks, layers[1:]):
            pairs.update(_block(block, ref_block))
    pairs[ours.to_image.weight] = ref.AggregationLayer.Layer.weight
    if ours.num_classes:
        pairs[ours.embed.weight] = ref.EmbeddingLayer.weight.T  # a one-hot linear map is a lookup of its column
    return pairs


def critic_pairs(ours, ref) -> dict:
    """Each parameter of ganrun's critic → the reference's parameter that holds the same numbers."""
    pairs = {ours.from_image.weight: ref.ExtractionLayer.Layer.weight}
    for i, stage in enumerate(ours.stages):
        layers = ref.MainLayers[i].Layers
        for block, ref_block in zip(stage.blocks, layers[:-1]):
            pairs.update(_block(block, ref_block))
        if stage.change is not None:
            pairs[stage.change.weight] = layers[-1].LinearLayer.Layer.weight
    basis = ref.MainLayers[-1].Layers[-1]
    pairs[ours.basis.basis] = basis.Basis.weight[:, 0]
    pairs[ours.basis.linear] = basis.LinearLayer.weight
    if ours.embed is not None:
        pairs[ours.embed.weight] = ref.EmbeddingLayer.weight.T
    return pairs


@torch.no_grad()
def copy_weights(pairs: dict, ours: torch.nn.Module) -> None:
    """Give ganrun's network the reference's numbers; every parameter must be paired."""
    assert {id(p) for p in pairs} == {id(p) for p in ours.parameters()}, "a parameter is not paired"
    for mine, theirs in pairs.items():
        mine.copy_(theirs.reshape(mine.shape))


def count(module) -> int:
    return sum(p.numel() for p in module.parameters())


def one_hot(labels, num_classes, dtype):
    return None if labels is None else torch.nn.functional.one_hot(labels, num_classes).to(dtype)


def compare(networks, num_classes: int, dtype: torch.dtype, batch: int = 4, seed: int = 0) -> dict:
    """Counts and largest differences of the two builds of the CIFAR-10 preset, with the reference's weights,
    and the reference's weights perturbed (its zero-initialized last convs made non-zero, so that every block
    counts)."""
    torch.manual_seed(seed)
    ref_g, ref_d = reference_pair(networks, CIFAR10, num_classes)
    with torch.no_grad():  # fix-up starts every block as the identity: make each one do something
        for p in [*ref_g.parameters(), *ref_d.parameters()]:
            p.add_(torch.randn_like(p) * 0.02)
    g, d = ganrun_pair(CIFAR10, num_classes=num_classes)
    copy_weights(generator_pairs(g, ref_g), g)
    copy_weights(critic_pairs(d, ref_d), d)
    for net in (ref_g, ref_d, g, d):
        net.to(dtype)
    for stage in [*ref_g.MainLayers, *ref_d.MainLayers]:
        stage.DataType = dtype  # the reference casts each stage's input to it (bf16 stages in its presets)
    z = torch.randn(batch, CIFAR10["z_dim"], dtype=dtype)
    labels = torch.randint(num_classes, (batch,)) if num_classes else None
    with torch.no_grad():
        ours_img, ref_img = g(z, labels), ref_g(z, one_hot(labels, num_classes, dtype))
    x = ref_img.detach().requires_grad_(True)
    ref_scores = ref_d(x, one_hot(labels, num_classes, dtype))
    (ref_grad,) = torch.autograd.grad(ref_scores.sum(), x)
    x = ref_img.detach().requires_grad_(True)
    ours_scores = d(x, labels)
    (ours_grad,) = torch.autograd.grad(ours_scores.sum(), x)

    def worst(a, b):
        a, b = a.detach(), b.detach()
        return {"max_abs": float((a - b).abs().max()), "scale": float(b.abs().max())}

    return {
        "conditional": bool(num_classes),
        "dtype": str(dtype).removeprefix("torch."),
        "parameters": {"ganrun": [count(g), count(d)], "reference": [count(ref_g), count(ref_d)]},
        "G(z)": worst(ours_img, ref_img),
        "D(x)": worst(ours_scores.flatten(), ref_scores.flatten()),
        "grad_x D(x)": worst(ours_grad, ref_grad),
    }


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=description(__doc__))
    p.add_argument("--reference", required=True, help="a checkout of github.com/brownvc/R3GAN")
    p.add_argument("what", choices=["compare", "speed"])
    p.add_argument("--out", help="write the results here as JSON")
    args, rest = p.parse_known_args(argv)
    networks = load_reference(args.reference)
    if args.what == "compare":
        results = [compare(networks, classes, dtype) for classes in (0, 10) for dtype in (torch.float64, torch.float32)]
    else:
        from r3gan_speed import speed  # beside this script

        results = speed(networks, rest)
    text = json.dumps(results, indent=2)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

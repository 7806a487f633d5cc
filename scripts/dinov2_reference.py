"""`python scripts/dinov2_reference.py --dinov2 DIR --edm2 DIR [--models vits14,vitb14,vitl14] [--weights FILE]`:
ganrun's DINOv2 features and Fréchet distance against the reference code's on the same weights and images.

DIR: checkouts of github.com/facebookresearch/dinov2 (its model code, as torch.hub loads it) and github.com/NVlabs/edm2
(calculate_metrics.py: its DINOv2Detector and the FD of its statistics). The weights are DINOv2's release file
(`--weights`, one model) or, where there is none (offline), seeded random weights in DINOv2's names and shapes,
LayerScale's gammas random too: the same file goes to both sides. Printed, as JSON, for each model:

- features: the largest absolute and relative differences between ganrun's features and EDM2's detector's (its
  default `torch` resize), both in float32 on the CPU, of the same uint8 images (gray 28×28 and RGB 32×32 and 64×64);
- pil: the same against EDM2's `pil` resize, which EDM2 says matches dgm-eval's codebase exactly (PIL bicubic on
  uint8, rounded): how far ganrun's numbers are from dgm-eval's;
- fd: the Fréchet distance of two image sets, by EDM2 end to end (its statistics, in float64, and its scipy sqrtm)
  and by ganrun end to end, and ganrun's frechet_distance of EDM2's own statistics (the formula alone).

docs/quality.md has the results. Nothing here is imported by ganrun or its tests.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the checkout's ganrun, installed or not

import numpy as np  # noqa: E402
import PIL.ImageFile  # noqa: E402, F401  (EDM2's pil resize: Pillow imports it lazily, which fails after EDM2's imports)
import torch  # noqa: E402

from ganrun.quality import dinov2  # noqa: E402
from ganrun.quality.spaces import frechet_distance  # noqa: E402

ARCH = {"vits14": "vit_small", "vitb14": "vit_base", "vitl14": "vit_large", "vitg14": "vit_giant2"}


def reference_net(repo: Path, model: str) -> torch.nn.Module:
    """DINOv2's own ViT, built by its hub entry point from the checkout, without its download."""
    import hubconf  # the checkout's, on sys.path

    return getattr(hubconf, f"dinov2_{model}")(pretrained=False).eval()


def random_weights(repo: Path, model: str, folder: Path) -> Path:
    """A DINOv2 state dict with seeded random weights (gammas and positions random too), saved as a release file."""
    torch.manual_seed(0)
    net = reference_net(repo, model)
    state = net.state_dict()
    for key, value in state.items():
        if key.endswith(".gamma"):
            state[key] = torch.rand_like(value)
        elif key == "pos_embed":
            state[key] = torch.randn_like(value)
    path = folder / f"dinov2_{model}_pretrain.pth"
    torch.save(state, path)
    return path


def edm2_detector(repo: Path, dinov2_repo: Path, model: str, weights: Path, resize_mode: str):
    """EDM2's DINOv2Detector, its torch.hub.load of the GitHub repository served from the local checkout."""
    import calculate_metrics  # EDM2's, on sys.path

    def local_hub(_repo, name, **_kwargs):
        net = reference_net(dinov2_repo, model)
        net.load_state_dict(torch.load(weights, map_location="cpu"), strict=True)
        return net

    original = torch.hub.load
    torch.hub.load = local_hub
    try:
        detector = calculate_metrics.DINOv2Detector(resize_mode=resize_mode)
    finally:
        torch.hub.load = original
    return detector


def images(seed: int, count: int) -> list[torch.Tensor]:
    """uint8 N×3×H×W batches of smooth random images (a low-resolution noise upsampled) at three sizes, gray too."""
    g = torch.Generator().manual_seed(seed)
    out = []
    for side, gray in ((28, True), (32, False), (64, False)):
        low = torch.rand(count, 1 if gray else 3, 7, 7, generator=g)
        up = torch.nn.functional.interpolate(low, size=(side, side), mode="bilinear", align_corners=False)
        batch = (up * 255).round().to(torch.uint8)
        out.append(batch.expand(-1, 3, -1, -1).contiguous() if gray else batch)
    return out


def differences(a: torch.Tensor, b: torch.Tensor) -> dict:
    """The largest absolute difference, and that over the largest feature (relative to the features' scale)."""
    diff = (a.double() - b.double()).abs()
    return {"max_abs": float(diff.max()), "max_rel": float(diff.max() / b.double().abs().max())}


@torch.no_grad()
def compare(args, model: str, folder: Path) -> dict:
    weights = Path(args.weights) if args.weights else random_weights(args.dinov2, model, folder)
    spec = dinov2.MODELS[model]
    ours = dinov2.extractor(weights, spec, "--weights ", "cpu")
    result = {"model": model, "weights": "release file" if args.weights else "seeded random"}
    for mode, key in (("torch", "features"), ("pil", "pil")):
        detector = edm2_detector(args.edm2, args.dinov2, model, weights, mode)
        worst = {"max_abs": 0.0, "max_rel": 0.0}
        for batch in images(0, args.count):
            found = differences(ours(batch)[0], detector(batch))
            worst = {k: max(worst[k], found[k]) for k in worst}
        result[key] = worst
        if mode == "torch":
            result["fd"] = frechet_distances(ours, detector, args.count)
    return result


def frechet_distances(ours, detector, count: int) -> dict:
    """The FD of two sets of 64×64 images, by EDM2 (its stats accumulation and FD) and by ganrun."""
    import calculate_metrics

    first, second = images(1, count)[2], images(2, count)[2]
    calculate_metrics._detector_cache["fd_dinov2"] = detector  # the detector on the same weights, not a download
    detector.feature_dim = ours(first[:1])[0].shape[1]  # EDM2 knows ViT-L/14's 1024 only
    stats = []
    for batch in (first, second):
        iterable = calculate_metrics.calculate_stats_for_iterable(
            [batch], metrics=["fd_dinov2"], verbose=False, device=torch.device("cpu")
        )
        stats.append(list(iterable)[-1].stats)
    edm2 = calculate_metrics.calculate_metrics_from_stats(stats[0], stats[1], metrics=["fd_dinov2"], verbose=False)
    mine = [ours(batch)[0].numpy() for batch in (first, second)]
    ganrun = frechet_distance(*(v for f in mine for v in (f.mean(0), np.cov(f, rowvar=False))))
    formula = frechet_distance(*(stats[i]["fd_dinov2"][k] for i in (0, 1) for k in ("mu", "sigma")))
    value = edm2["fd_dinov2"]
    return {
        "edm2": value,
        "ganrun": ganrun,
        "ganrun_formula_on_edm2_stats": formula,
        "rel_end_to_end": abs(ganrun - value) / value,
        "rel_formula": abs(formula - value) / value,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dinov2", type=Path, required=True, help="a checkout of facebookresearch/dinov2")
    parser.add_argument("--edm2", type=Path, required=True, help="a checkout of NVlabs/edm2")
    parser.add_argument("--models", default="vits14,vitb14,vitl14")
    parser.add_argument("--weights", help="DINOv2's release file of the one model given (default: random weights)")
    parser.add_argument("--count", type=int, default=16, help="images per size and set (default 16)")
    parser.add_argument("--folder", type=Path, default=Path("/tmp/dinov2-reference"), help="random weights go here")
    args = parser.parse_args()
    sys.path[:0] = [str(args.dinov2.resolve()), str(args.edm2.resolve())]
    os.environ.setdefault("MASTER_ADDR", "127.0.0.1")
    os.environ.setdefault("MASTER_PORT", "29533")
    torch.distributed.init_process_group("gloo", rank=0, world_size=1)  # EDM2's statistics all-reduce
    args.folder.mkdir(parents=True, exist_ok=True)
    torch.set_grad_enabled(False)
    for model in args.models.split(","):
        start = time.perf_counter()
        result = compare(args, model, args.folder)
        result["seconds"] = round(time.perf_counter() - start, 1)
        print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()

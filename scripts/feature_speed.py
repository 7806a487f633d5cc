"""`python scripts/feature_speed.py [--images N] [--networks inception,vits14,vitb14,vitl14]`: what extracting the
features of generated images costs in each feature space, on this machine, and what 10,000 and 50,000 images would
take at that rate.

Each network runs in a process of its own (so that its peak resident memory is its own), with random weights of the
real architecture (timing does not depend on the weights), through ganrun's own feature extractors and torch-
fidelity's batching (64 images a batch, as the metrics use), on 32×32 RGB images that each network resizes to its
input (Inception 299×299, DINOv2 224×224). Printed as JSON lines; docs/quality.md has the table.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the checkout's ganrun, installed or not
sys.path.insert(0, str(ROOT / "tests"))  # helpers: the random-weights files of the tests


def extractor(network: str, folder: Path):
    import torch

    if network == "inception":
        from ganrun.quality import inception
        from helpers.inception import random_inception_weights

        return inception.build(random_inception_weights(folder), ["2048"], "x=").eval()
    from ganrun.quality import dinov2

    model = dinov2.MODELS[network]
    with torch.random.fork_rng(devices=[]):
        import timm

        net = timm.create_model(model.timm, pretrained=False, img_size=dinov2.SIDE, num_classes=0).eval()
    return dinov2.Dinov2Features(f"dinov2-{model.name}", net.requires_grad_(False))


def measure(network: str, count: int) -> dict:
    """Seconds per image (after one warm-up batch) and the process's peak RSS."""
    import torch
    from torch_fidelity.utils import extract_featuresdict_from_input_id

    from ganrun.quality.spaces import Images

    with tempfile.TemporaryDirectory() as folder:
        net = extractor(network, Path(folder))
    images = torch.randint(0, 256, (count, 3, 32, 32), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    options = dict(batch_size=64, cuda=False, save_cpu_ram=True, verbose=False)
    extract_featuresdict_from_input_id(1, net, input1=Images(images[: min(8, count)]), **options)  # warm-up
    start = time.perf_counter()
    extract_featuresdict_from_input_id(1, net, input1=Images(images), **options)
    per_image = (time.perf_counter() - start) / count
    return {
        "network": network,
        "images": count,
        "threads": torch.get_num_threads(),
        "s_per_image": round(per_image, 4),
        "hours_10k": round(per_image * 10_000 / 3600, 2),
        "hours_50k": round(per_image * 50_000 / 3600, 2),
        "peak_rss_gib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=128, help="images timed per network (default 128)")
    parser.add_argument("--networks", default="inception,vits14,vitb14,vitl14")
    parser.add_argument("--one", help=argparse.SUPPRESS)  # a child process: measure this network
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure(args.one, args.images)), flush=True)
        return
    for network in args.networks.split(","):
        command = [sys.executable, __file__, "--one", network, "--images", str(args.images)]
        print(subprocess.run(command, check=True, capture_output=True, text=True).stdout.strip(), flush=True)


if __name__ == "__main__":
    main()

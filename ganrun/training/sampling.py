"""Images from a generator: a batch in eval mode, or N reproducible uint8 images for grids, files and metrics."""

import torch


@torch.no_grad()
def samples(generator: torch.nn.Module, noise: torch.Tensor) -> torch.Tensor:
    """The generator's images for `noise`, in eval mode (batch norm uses its running statistics)."""
    was_training = generator.training
    generator.eval()
    images = generator(noise)
    generator.train(was_training)
    return images


def generate(generator: torch.nn.Module, num: int, seed: int, device: torch.device, batch: int = 256) -> torch.Tensor:
    """`num` images as uint8 N×C×H×W on the CPU, reproducible for a given seed."""
    rng = torch.Generator(device="cpu").manual_seed(seed)
    noise = torch.randn(num, generator.z_dim, generator=rng)  # drawn on the CPU so the seed means the same on any device
    chunks = [samples(generator, noise[i:i + batch].to(device)) for i in range(0, num, batch)]
    images = torch.cat(chunks).float().cpu()
    return ((images.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)

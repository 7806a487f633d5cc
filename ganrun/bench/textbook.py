"""The textbook loop's pieces: seed 000's hyper-parameters and networks, a torchvision-style data set of PIL
images, the GAN math written out plainly, and the whole loop on Fashion-MNIST. The speed and quality benchmarks
measure ganrun against these; tests/bench/test_speed.py checks that ganrun's steps compute the same math."""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from PIL import Image
from torch.utils.data import DataLoader, Dataset
from torchvision import transforms

from ganrun import data
from ganrun.base.errors import UsageError
from ganrun.models import dcgan, dcgan28, resnet

# ganrun's defaults (conf/train.yaml, conf/loss/*.yaml, conf/model/dcgan28.yaml); tests/bench/test_speed.py checks them.
Z_DIM, LR, BETAS = 64, 2e-4, (0.5, 0.999)
LAMBDA_GP, DIV_K, DIV_P = 10.0, 2.0, 6.0
N_CRITIC = {"bce": 1, "wgan_gp": 5, "wgan_div": 5}
# The networks the speed benchmark times, with their images' size and channels: seed 000's 28×28 pair (the
# default, and the quality benchmark's) and two for CIFAR-size images (model=dcgan and model=resnet).
MODELS = {"dcgan28": (dcgan28.build, 28, 1), "dcgan": (dcgan.build, 32, 3), "resnet": (resnet.build, 32, 3)}


def textbook_transform() -> transforms.Compose:
    """The tutorials' per-image pipeline: PIL image → tensor in [0, 1] → [-1, 1]."""
    return transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.5,), (0.5,))])


class TextbookImages(Dataset):
    """Like torchvision.datasets.MNIST: uint8 arrays, a PIL image and the transform per item, (image, label)."""

    def __init__(self, images: torch.Tensor, transform):
        # PIL wants H×W (grayscale) or H×W×3 (RGB) arrays.
        self.images = images[:, 0].numpy() if images.shape[1] == 1 else images.permute(0, 2, 3, 1).numpy()
        self.transform = transform

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        return self.transform(Image.fromarray(self.images[i])), 0


def build_models(device: torch.device, seed: int, model: str = "dcgan28"):
    """The pair ganrun builds as `model` (MODELS) for its images, seeded like the app's setup (app/assemble.py)."""
    build, size, channels = MODELS[model]
    torch.manual_seed(seed)
    generator, critic = build(size, channels, z_dim=Z_DIM)
    return generator.to(device), critic.to(device)


def reference_critic_step(G, D, opt_d, real: torch.Tensor, loss: str) -> torch.Tensor:
    """One critic update; draws its randoms in ganrun's order (noise, then the interpolation ε)."""
    z = torch.randn(real.shape[0], Z_DIM, device=real.device)
    with torch.no_grad():
        fake = G(z)
    if loss == "bce":
        real_logits, fake_logits = D(real), D(fake)
        d_loss = F.binary_cross_entropy_with_logits(
            real_logits, torch.ones_like(real_logits)
        ) + F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits))
    elif loss == "wgan_gp":  # Gulrajani et al. 2017: λ E[(‖∇D(x̂)‖ − 1)²], x̂ = εx + (1 − ε)G(z)
        real_out, fake_out = D(real), D(fake)
        eps = torch.rand(real.shape[0], 1, 1, 1, device=real.device)
        x_hat = (eps * real + (1 - eps) * fake).requires_grad_(True)
        out = D(x_hat)
        (grad,) = torch.autograd.grad(out, x_hat, grad_outputs=torch.ones_like(out), create_graph=True)
        gp = ((grad.view(grad.shape[0], -1).norm(2, dim=1) - 1) ** 2).mean()
        d_loss = fake_out.mean() - real_out.mean() + LAMBDA_GP * gp
    elif loss == "wgan_div":  # Wu et al. 2018 as in PyTorch-GAN: (k/2) E[‖∇D(x)‖^p + ‖∇D(G(z))‖^p]
        real, fake = real.detach().requires_grad_(True), fake.requires_grad_(True)
        real_out, fake_out = D(real), D(fake)  # one forward each serves the loss and the gradient
        (real_grad,) = torch.autograd.grad(real_out, real, torch.ones_like(real_out), create_graph=True)
        (fake_grad,) = torch.autograd.grad(fake_out, fake, torch.ones_like(fake_out), create_graph=True)
        real_norm = real_grad.view(real.shape[0], -1).pow(2).sum(1) ** (DIV_P / 2)
        fake_norm = fake_grad.view(fake.shape[0], -1).pow(2).sum(1) ** (DIV_P / 2)
        d_loss = fake_out.mean() - real_out.mean() + torch.mean(real_norm + fake_norm) * DIV_K / 2
    else:
        raise ValueError(f"unknown loss {loss!r}; use one of {', '.join(N_CRITIC)}")
    opt_d.zero_grad()
    d_loss.backward()
    opt_d.step()
    return d_loss.detach()


def reference_generator_step(G, D, opt_g, batch_size: int, loss: str, device) -> torch.Tensor:
    """One generator update: non-saturating BCE, or −E[D(G(z))] for the W-losses."""
    scores = D(G(torch.randn(batch_size, Z_DIM, device=device)))
    if loss == "bce":
        g_loss = F.softplus(-scores).mean()  # −log σ(D(G(z))), i.e. BCE-with-logits against the label 1
    else:
        g_loss = -scores.mean()
    opt_g.zero_grad()
    g_loss.backward()
    opt_g.step()
    return g_loss.detach()


# ---------------------------------------------------------------- the loop, run for the quality benchmark

BATCH = 128  # seed 000's batch, and the batch its samples are drawn in (train-mode batch norm)


def train_on_fashion_mnist(root: str, seed: int, steps: list[int], out: Path) -> None:
    """The textbook WGAN-GP loop on Fashion-MNIST at `root`; G's weights saved at each of `steps`."""
    images = data.fashion_mnist(root, download=False).images
    if len(images) < BATCH:
        raise UsageError(f"the textbook loop needs at least {BATCH} images, {root} has {len(images)}")
    G, D = build_models(torch.device("cpu"), seed)
    opt_g = torch.optim.Adam(G.parameters(), lr=LR, betas=BETAS)
    opt_d = torch.optim.Adam(D.parameters(), lr=LR, betas=BETAS)
    dataset = TextbookImages(images, textbook_transform())
    loader = DataLoader(dataset, batch_size=BATCH, shuffle=True, drop_last=True)
    torch.manual_seed(seed)
    out.mkdir(parents=True, exist_ok=True)
    done, critic_updates = 0, 0
    while done < max(steps):
        for real, _ in loader:
            reference_critic_step(G, D, opt_d, real, "wgan_gp")
            critic_updates += 1
            if critic_updates % N_CRITIC["wgan_gp"]:
                continue
            reference_generator_step(G, D, opt_g, BATCH, "wgan_gp", torch.device("cpu"))
            done += 1
            if done in steps:
                torch.save(G.state_dict(), out / f"step_{done:07d}.pt")
            if done == max(steps):
                break


@torch.no_grad()
def sample(state_path: Path, num: int, seed: int) -> torch.Tensor:
    """The textbook generator's samples as its tutorial shows them: train-mode batch norm, batches of 128."""
    G, _ = build_models(torch.device("cpu"), 0)
    G.load_state_dict(torch.load(state_path, weights_only=True))
    G.train()
    noise = torch.randn(num, Z_DIM, generator=torch.Generator().manual_seed(seed))
    images = torch.cat([G(z) for z in noise.split(BATCH)])
    return ((images.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)

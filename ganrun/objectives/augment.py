"""Differentiable augmentation of what the critic sees: DiffAugment (Zhao et al. 2020) and adaptive
augmentation (Karras et al. 2020, "ADA"), for data sets small enough for a critic to memorize.

The critic a run trains is D∘T: every critic call of the critic step scores T(real) and T(fake), and the
generator step scores T(G(z)), so G's gradient flows back through T. The ops are plain tensor arithmetic and
gathers with per-sample random parameters, differentiable in the images; their random draws come from torch's
global generators, which every checkpoint holds, so a resumed run draws what the whole run would have.
"""

from __future__ import annotations

import torch
import torch.distributed as dist

from ganrun.base.errors import UsageError
from ganrun.base.modules import eager

# The paper's parameters: translation by up to 1/8 of the image, a cutout square of half its side.
TRANSLATION_RATIO, CUTOUT_RATIO = 0.125, 0.5
POLICIES = {"color": ("brightness", "saturation", "contrast"), "translation": ("translation",), "cutout": ("cutout",)}


def _uniform(x: torch.Tensor) -> torch.Tensor:
    """One U[0, 1) draw per sample, shaped to broadcast over C×H×W."""
    return torch.rand(x.shape[0], 1, 1, 1, device=x.device, dtype=x.dtype)


def brightness(x: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
    """Add r − 0.5 to every pixel (r ~ U[0, 1): a shift in [−0.5, 0.5) of images in [−1, 1])."""
    return x + (r - 0.5)


def saturation(x: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
    """Scale each pixel's deviation from its channel mean by 2r (in [0, 2)); on one channel it is the identity."""
    mean = x.mean(dim=1, keepdim=True)
    return (x - mean) * (2 * r) + mean


def contrast(x: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
    """Scale each image's deviation from its own mean by r + 0.5 (in [0.5, 1.5))."""
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return (x - mean) * (r + 0.5) + mean


def translation(x: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    """Move each image by its integer shift (N×2: rows, columns); pixels moved in from outside are 0."""
    n, c, h, w = x.shape
    rows = torch.arange(h, device=x.device) - shift[:, :1]  # N×H: the source row of each output row
    cols = torch.arange(w, device=x.device) - shift[:, 1:]
    inside = ((rows >= 0) & (rows < h))[:, :, None] & ((cols >= 0) & (cols < w))[:, None, :]
    out = x.gather(2, rows.clamp(0, h - 1)[:, None, :, None].expand(n, c, h, w))
    out = out.gather(3, cols.clamp(0, w - 1)[:, None, None, :].expand(n, c, h, w))
    return out * inside[:, None].to(x.dtype)


def cutout(x: torch.Tensor, center: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Set to 0 a size[0]×size[1] rectangle of each image centred at its `center` (N×2), clipped at the border."""
    # Offsets into the rectangle; its corner from Python integers, not a tensor made from host data (which a
    # CUDA graph could not capture).
    rows = torch.arange(x.shape[2], device=x.device)[None, :] - (center[:, :1] - size[0] // 2)
    cols = torch.arange(x.shape[3], device=x.device)[None, :] - (center[:, 1:] - size[1] // 2)
    hole = ((rows >= 0) & (rows < size[0]))[:, :, None] & ((cols >= 0) & (cols < size[1]))[:, None, :]
    return x * (~hole)[:, None].to(x.dtype)


def random_op(name: str, x: torch.Tensor) -> torch.Tensor:
    """Op `name` on x with fresh per-sample parameters, drawn as DiffAugment draws them."""
    if name in ("brightness", "saturation", "contrast"):
        return globals()[name](x, _uniform(x))
    h, w = x.shape[2:]
    n = x.shape[0]
    if name == "translation":
        reach = (int(h * TRANSLATION_RATIO + 0.5), int(w * TRANSLATION_RATIO + 0.5))
        shift = [torch.randint(-r, r + 1, (n,), device=x.device) for r in reach]
        return translation(x, torch.stack(shift, 1))
    size = (int(h * CUTOUT_RATIO + 0.5), int(w * CUTOUT_RATIO + 0.5))
    # Centres in [0, side + 1 − size mod 2), as DiffAugment: an even square may reach one pixel past either edge.
    center = [torch.randint(0, side + 1 - s % 2, (n,), device=x.device) for side, s in zip((h, w), size)]
    return cutout(x, torch.stack(center, 1), size)


def parse_policy(policy: str) -> tuple[str, ...]:
    """The elementary ops of a policy such as "color,translation,cutout", in order."""
    names = [p.strip() for p in str(policy).split(",") if p.strip()]
    unknown = [p for p in names if p not in POLICIES]
    if not names or unknown:
        raise UsageError(
            f"augment.policy={policy} is not allowed: give a comma-separated subset of "
            f"{','.join(POLICIES)} (e.g. color,translation,cutout)"
        )
    return tuple(op for p in names for op in POLICIES[p])


class Augment:
    """No augmentation (`augment=none`): the critic sees the images as they are."""

    adaptive = False

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return x

    def to(self, device: torch.device) -> Augment:
        return self

    def observe(self, real_signs: torch.Tensor) -> None:
        """Take note of sign(D(x)) of a real batch (only the adaptive augmentation uses it)."""

    def log_values(self) -> dict:
        """Named scalars to log (augment/<name>)."""
        return {}

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None:
        """Nothing to restore."""


class DiffAugment(Augment):
    """Every op of `policy` on every image, with fresh random parameters per image and call."""

    def __init__(self, policy: str = "color,translation,cutout"):
        self.ops = parse_policy(policy)

    def __call__(self, x):
        for name in self.ops:
            x = random_op(name, x)
        return x

    def log_values(self):
        return {"p": 1.0}


class Tuned(Augment):
    """ADA's controller of the augmentation probability p, tuned from the overfitting signal
    r_t = E[sign(D(x_real))]: every `interval` critic batches, p ← clip(p + sign(r_t − target)·n/(speed_kimg·1000),
    0, 1), n the real images seen since the last change (so p can cross [0, 1] in speed_kimg thousand images).
    What the augmentation does with p is the subclass's."""

    adaptive = True

    def __init__(self, target: float = 0.6, speed_kimg: float = 500.0, interval: int = 4, p_init: float = 0.0):
        for key, ok, allowed, value in [
            ("target", -1 < target < 1, "in (-1, 1)", target),
            ("speed_kimg", speed_kimg > 0, "> 0", speed_kimg),
            ("interval", interval >= 1, ">= 1", interval),
            ("p_init", 0 <= p_init <= 1, "in [0, 1]", p_init),
        ]:
            if not ok:
                raise UsageError(f"augment.{key}={value} is out of range: it must be {allowed}")
        self.target, self.speed_kimg, self.interval = float(target), float(speed_kimg), int(interval)
        # On the device, so that tuning p never waits for the host: [p, Σ signs, images, batches] since the last change.
        self.p = torch.tensor(float(p_init))
        self.signs, self.images, self.batches = torch.zeros(()), torch.zeros(()), 0

    def to(self, device):
        self.p, self.signs, self.images = (t.to(device) for t in (self.p, self.signs, self.images))
        return self

    def observe(self, real_signs):
        self.signs = self.signs + real_signs.detach().float().sum()
        self.images = self.images + real_signs.numel()
        self.batches += 1
        if self.batches % self.interval == 0:
            self._adjust()

    def _adjust(self) -> None:
        totals = torch.stack([self.signs, self.images])
        if dist.is_available() and dist.is_initialized():
            dist.all_reduce(totals)  # one p for all processes, from all their batches
        r_t = totals[0] / totals[1]
        step = torch.sign(r_t - self.target) * totals[1] / (self.speed_kimg * 1000)
        self.p = (self.p + step).clamp(0, 1)
        self.signs, self.images = torch.zeros_like(self.signs), torch.zeros_like(self.images)

    def log_values(self):
        return {"p": self.p}

    def state_dict(self):
        return {"p": self.p.cpu(), "signs": self.signs.cpu(), "images": self.images.cpu(), "batches": self.batches}

    def load_state_dict(self, state):
        device = self.p.device
        self.p, self.signs, self.images = (state[k].to(device, torch.float32) for k in ("p", "signs", "images"))
        self.batches = int(state["batches"])


class Adaptive(Tuned):
    """Adaptive augmentation (ADA's controller, Tuned) on DiffAugment's ops: each op of `policy` applied to each image
    with probability p."""

    def __init__(
        self,
        policy: str = "color,translation,cutout",
        target: float = 0.6,
        speed_kimg: float = 500.0,
        interval: int = 4,
        p_init: float = 0.0,
    ):
        self.ops = parse_policy(policy)
        super().__init__(target, speed_kimg, interval, p_init)

    def __call__(self, x):
        for name in self.ops:
            chosen = torch.rand(x.shape[0], device=x.device) < self.p
            x = torch.where(chosen[:, None, None, None], random_op(name, x), x)
        return x


class Augmented:
    """The critic D∘T that a run with augmentation trains: T, then D (labels go to D)."""

    def __init__(self, critic, augment: Augment):
        self.critic, self.augment = critic, augment

    def __call__(self, x, labels=None):
        x = self.augment(x)
        return self.critic(x) if labels is None else self.critic(x, labels)

    def eager(self) -> Augmented:
        """The same with the uncompiled critic (for penalties, which differentiate twice)."""
        return Augmented(eager(self.critic), self.augment)


def augmented(critic, augment: Augment):
    """D∘T, or D itself when there is no augmentation."""
    return critic if type(augment) is Augment else Augmented(critic, augment)

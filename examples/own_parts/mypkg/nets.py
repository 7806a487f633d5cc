"""A generator and a critic of one's own: two small MLPs, as ganrun's interface asks (docs/own_parts.md)."""

from torch import nn


class MLPGenerator(nn.Module):
    """z → hidden → an image in [-1, 1]."""

    def __init__(self, z_dim: int, channels: int, image_size: int, hidden: int):
        super().__init__()
        self.z_dim = z_dim  # ganrun draws N×z_dim noise for it
        self.num_classes = 0  # unconditional: called as G(z)
        self.shape = (channels, image_size, image_size)
        self.net = nn.Sequential(
            nn.Linear(z_dim, hidden),
            nn.ReLU(),
            nn.Linear(hidden, channels * image_size * image_size),
            nn.Tanh(),
        )

    def forward(self, z):
        return self.net(z).view(len(z), *self.shape)  # N×C×H×W


class MLPCritic(nn.Module):
    """An image → hidden → one score."""

    def __init__(self, channels: int, image_size: int, hidden: int):
        super().__init__()
        pixels = channels * image_size * image_size
        self.body = nn.Sequential(nn.Flatten(), nn.Linear(pixels, hidden), nn.LeakyReLU(0.2))
        self.head = nn.Linear(hidden, 1)

    def forward(self, x):
        return self.head(self.body(x))  # N×1

    def blocks(self):
        """Its blocks from the input on, for train.freeze_critic."""
        return [self.body]


def build(image_size: int, channels: int, z_dim: int = 32, hidden: int = 128, **other_keys):
    """The (generator, critic) pair ganrun trains; `other_keys` takes the keys of the model option whose _target_
    is replaced on the command line (model=dcgan's width, critic_norm, …), which these networks do not use."""
    return MLPGenerator(z_dim, channels, image_size, hidden), MLPCritic(channels, image_size, hidden)

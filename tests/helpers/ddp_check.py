"""Run under torchrun by tests/training/test_distributed.py: a few DDP steps of the real loop, then compare ranks."""

import sys

import torch
import torch.distributed as dist
from hydra import compose, initialize_config_dir

from ganrun.app import resolvers, schema
from ganrun.data.order import EpochOrder
from ganrun.training import distributed
from ganrun.training.loop import Hooks, fit
from ganrun.training.settings import Settings
from helpers.cli import FAST, REPO
from helpers.setup import set_up


def main(mnist_root: str) -> None:
    distributed.setup([])
    rank, world = distributed.rank_and_world()
    schema.register()
    resolvers.register_resolvers()
    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        cfg = compose("train", [f"dataset.root={mnist_root}", "dataset.download=false", *FAST, "loss=wgan_gp"])
    parts, state, _ = set_up(cfg)
    first_batch = parts.data.next_batch(4)
    settings = Settings(steps=3, batch_size=8 // world, n_critic=2, log_every=100, images_every=100, ckpt_every=100)
    fit(parts, settings, Hooks.quiet(capture=state.capture))
    weights = torch.cat([p.detach().flatten() for m in (parts.generator, parts.critic) for p in m.parameters()])
    gathered, batches = distributed.gather(weights), distributed.gather(first_batch)
    if rank == 0:
        print("WORLD", world)
        print("IDENTICAL", all(torch.equal(gathered[0], w) for w in gathered))
        print("DIFFERENT_DATA", not torch.equal(batches[0], batches[1]))
        # The ranks' first batches are the shares of one global batch of the seed's order, in rank order.
        global_batch = parts.data.data.read(EpochOrder(parts.data.num_images, cfg.seed).next_indices(4 * world))
        print("ONE_GLOBAL_ORDER", torch.equal(torch.cat(batches), global_batch.float() / 127.5 - 1))
    dist.barrier()
    distributed.teardown()


if __name__ == "__main__":
    main(sys.argv[1])

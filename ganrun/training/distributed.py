"""One run on several processes (DDP), started by torchrun or as the tasks of one submitit job (SLURM). Rank 0
alone writes the run folder."""

import contextlib
import logging
import os
from collections.abc import Iterator
from datetime import datetime

import torch
import torch.distributed as dist

from ganrun.base.errors import UsageError


def launched_by_torchrun() -> bool:
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def rank_and_world() -> tuple[int, int]:
    """(rank, world size) of this process; (0, 1) without a process group."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def setup(argv: list[str]) -> list[str]:
    """Join torchrun's process group and return the Hydra arguments for this rank.

    Every rank composes its own config, so they must agree on one run folder: rank 0 picks the
    timestamped folder and tells the others. Ranks other than 0 write no .hydra/ and no log file.
    """
    if not launched_by_torchrun():
        return argv
    if any(arg in ("-m", "--multirun") for arg in argv):
        raise UsageError(
            "torchrun runs one training on several processes; run sweeps without torchrun "
            "(hydra/launcher=slurm gives each job its own GPUs)"
        )
    dist.init_process_group("cpu:gloo,cuda:nccl" if torch.cuda.is_available() else "gloo")
    chosen = [None]
    if dist.get_rank() == 0 and not any(a.startswith(("hydra.run.dir=", "resume=")) for a in argv):
        chosen[0] = f"hydra.run.dir=outputs/{datetime.now():%Y-%m-%d/%H-%M-%S}"
    dist.broadcast_object_list(chosen, src=0)
    extra = [chosen[0]] if chosen[0] else []
    if dist.get_rank() != 0:
        extra += ["hydra.output_subdir=null", "hydra/job_logging=disabled"]
    return argv + extra


def submitit_tasks() -> int:
    """How many tasks the submitit job this process belongs to runs (hydra.launcher.nodes × tasks_per_node); 1
    outside such a job."""
    if not os.environ.get("SUBMITIT_EXECUTOR"):
        return 1
    from submitit import JobEnvironment

    try:
        return JobEnvironment().num_tasks
    except RuntimeError:  # submitit's variable without its job around it
        return 1


def join_submitit_tasks() -> bool:
    """Make the N·K tasks of one submitit job (SLURM or local) one DDP run, as torchrun's processes are: rank, world
    size and the rendezvous (the first node's host, a port drawn from the job id, or $MASTER_PORT) from the job's
    environment. Whether this process joined a group (it then leaves it with `teardown`)."""
    if submitit_tasks() <= 1 or (dist.is_available() and dist.is_initialized()):
        return False
    from submitit.helpers import TorchDistributedEnvironment

    # Every GPU of the node stays visible: each rank takes cuda:LOCAL_RANK, as under torchrun.
    TorchDistributedEnvironment().export(set_cuda_visible_devices=False, overwrite=True)
    dist.init_process_group("cpu:gloo,cuda:nccl" if torch.cuda.is_available() else "gloo")
    return True


@contextlib.contextmanager
def submitit_job_group() -> Iterator[None]:
    """Within it, the tasks of a submitit job with several (hydra.launcher.nodes × tasks_per_node) are one DDP run;
    its ranks other than 0 write no ganrun.log of their own (torchrun's get no file handler)."""
    joined = join_submitit_tasks()
    if joined and rank_and_world()[0] != 0:
        for handler in list(logging.getLogger().handlers):
            if isinstance(handler, logging.FileHandler):
                logging.getLogger().removeHandler(handler)
                handler.close()
    try:
        yield
    finally:
        if joined:
            teardown()


def device_for_rank(device: torch.device) -> torch.device:
    """Each rank on its own GPU (torchrun's LOCAL_RANK) when training on CUDA."""
    if device.type == "cuda" and launched_by_torchrun():
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    return device


def agree(flag: bool) -> bool:
    """True on every rank if it is True on any (e.g. a stop request seen by one process)."""
    _, world = rank_and_world()
    if world == 1:
        return flag
    value = torch.tensor([int(flag)])
    dist.all_reduce(value, op=dist.ReduceOp.MAX)
    return bool(value.item())


def gather(obj) -> list:
    """`obj` from every rank, in rank order (a one-element list without a process group)."""
    _, world = rank_and_world()
    if world == 1:
        return [obj]
    gathered = [None] * world
    dist.all_gather_object(gathered, obj)
    return gathered


def teardown() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()

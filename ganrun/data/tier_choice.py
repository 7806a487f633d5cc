"""Which storage tier holds the training images (`dataset.storage=auto|device|host|stream`), decided from the
packed set's size and the memory really available to this process."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ganrun.data.memory import device_free, gigabytes, host_available
from ganrun.data.reading import DatasetError

STORAGE = ("auto", "device", "host", "stream")
ROOM = 0.5  # auto puts the data in a memory only when they take at most half of it: the rest is the model's,
#             the activations', the optimizer's and (on the host) the page cache's


@dataclass(frozen=True)
class TierChoice:
    tier: str  # device | host | stream
    reason: str  # the sizes it compared, for the one log line at the start


def check_storage(storage: str, readers) -> None:
    """dataset.storage and dataset.readers as one-line errors, before any data are read."""
    if storage not in STORAGE:
        raise DatasetError(f"dataset.storage={storage} is not one of {', '.join(STORAGE)}")
    if not isinstance(readers, int) or isinstance(readers, bool) or readers < 1:
        raise DatasetError(f"dataset.readers={readers} must be a number of reader threads >= 1")


def choose_tier(
    storage: str,
    nbytes: int,
    device: torch.device,
    host: tuple[int, str] | None = None,
    free_on_device: int | None = None,
) -> TierChoice:
    """The tier for a packed set of `nbytes` on `device`. `host` is (available bytes, where that figure comes
    from) and `free_on_device` a CUDA device's free bytes; both are read from this machine when not given. A
    forced tier that cannot hold the set is a one-line DatasetError."""
    check_storage(storage, 1)
    available, source = host if host is not None else host_available()
    on_device = device.type == "cuda"
    free = (free_on_device if free_on_device is not None else device_free(device)) if on_device else available
    size = f"the packed set ({gigabytes(nbytes)})"
    host_memory = f"the host's {gigabytes(available)} ({source})"
    device_memory = f"{device}'s {gigabytes(free)} free" if on_device else host_memory
    if storage != "auto":
        memory = {"device": free, "host": available}
        if storage != "stream" and nbytes > memory[storage]:
            where = device_memory if storage == "device" else host_memory
            raise DatasetError(
                f"dataset.storage={storage} cannot hold the data: {size} is more than {where}; use "
                "dataset.storage=stream (or auto)"
            )
        return TierChoice(storage, f"asked for; {size}, {device_memory}")
    if nbytes <= ROOM * free:
        return TierChoice("device", f"{size} fits in half of {device_memory}")
    if on_device and nbytes <= ROOM * available:
        return TierChoice("host", f"{size} is more than half of {device_memory}, and fits in half of {host_memory}")
    return TierChoice(
        "stream",
        f"{size} is more than half of {host_memory}"
        f"{' and of ' + device_memory if on_device else ''}: read from the pack batch by batch",
    )

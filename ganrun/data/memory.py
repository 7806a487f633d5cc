"""How much memory the data may take: the host's available RAM and this process's cgroup limit (a SLURM job or a
container sees its own limit, not the node's RAM), and a CUDA device's free memory."""

from __future__ import annotations

from pathlib import Path

import torch

UNLIMITED = 2**60  # a cgroup v1 "no limit" is 2^63 rounded to pages; anything above this is no limit


def _read_int(path: Path) -> int | None:
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    return None if text == "max" else int(text)


def _inactive_file(stat: Path, key: str) -> int:
    """Page cache the kernel reclaims before it kills anything: not memory the process is short of."""
    try:
        for line in stat.read_text().splitlines():
            name, value = line.split()
            if name == key:
                return int(value)
    except (OSError, ValueError):
        pass
    return 0


def _cgroup_folders(proc: Path, root: Path) -> list[tuple[Path, Path, str]]:
    """This process's memory cgroups as (leaf folder, the hierarchy's root folder, "v1" | "v2"), from
    /proc/self/cgroup."""
    try:
        lines = (proc / "self" / "cgroup").read_text().splitlines()
    except OSError:
        return []
    found = []
    for line in lines:
        hierarchy, controllers, path = line.split(":", 2)
        if "memory" in controllers.split(","):
            found.append((root / "memory" / path.lstrip("/"), root / "memory", "v1"))
        elif hierarchy == "0" and controllers == "":
            base = root / "unified" if (root / "unified" / "cgroup.controllers").exists() else root
            found.append((base / path.lstrip("/"), base, "v2"))
    return found


def _left(folder: Path, version: str) -> tuple[int, int] | None:
    """(bytes left, limit) of one cgroup folder, or None when it sets no limit."""
    if version == "v1":
        limit, usage = _read_int(folder / "memory.limit_in_bytes"), _read_int(folder / "memory.usage_in_bytes")
        cache = _inactive_file(folder / "memory.stat", "total_inactive_file")
    else:
        limit, usage = _read_int(folder / "memory.max"), _read_int(folder / "memory.current")
        cache = _inactive_file(folder / "memory.stat", "inactive_file")
    if limit is None or limit >= UNLIMITED:
        return None
    return max(0, limit - max(0, (usage or 0) - cache)), limit


def cgroup_available(proc: Path = Path("/proc"), root: Path = Path("/sys/fs/cgroup")) -> tuple[int, int] | None:
    """(bytes this process may still use, that limit) under the tightest memory limit of its cgroups and their
    ancestors (v1 memory.limit_in_bytes, v2 memory.max), or None when no limit applies."""
    tightest = None
    for leaf, base, version in _cgroup_folders(proc, root):
        for folder in [leaf, *leaf.parents]:
            found = _left(folder, version)
            if found is not None and (tightest is None or found[0] < tightest[0]):
                tightest = found
            if folder == base:
                break
    return tightest


def host_available(proc: Path = Path("/proc"), root: Path = Path("/sys/fs/cgroup")) -> tuple[int, str]:
    """(bytes of host memory this process can still take, how that was found) — the smaller of MemAvailable and
    what its cgroup limit leaves."""
    meminfo = 0
    try:
        for line in (proc / "meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                meminfo = int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    cgroup = cgroup_available(proc, root)
    if cgroup is not None and (not meminfo or cgroup[0] < meminfo):
        return cgroup[0], f"cgroup limit {gigabytes(cgroup[1])}"
    return meminfo, "available RAM"


def device_free(device: torch.device) -> int | None:
    """Free bytes of a CUDA device (None for the CPU: its memory is the host's)."""
    if device.type != "cuda":
        return None
    free, _ = torch.cuda.mem_get_info(device)
    return free


def gigabytes(size: int) -> str:
    """A size in the unit that reads best: 5.73 GB, 122.1 MB, 45 KB."""
    if size >= 2**30:
        return f"{size / 2**30:.2f} GB"
    return f"{size / 2**20:.1f} MB" if size >= 2**20 else f"{max(1, round(size / 1024))} KB"

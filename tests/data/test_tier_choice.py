"""Spec of the storage tier choice (ganrun.data.tier_choice, ganrun.data.memory): `auto` keeps the images where they
take at most half of the memory (the device's, then the host's), else streams them; the host's memory is the smaller
of MemAvailable and what this process's cgroup limit leaves (v1 and v2, the tightest of its ancestors), read from
/proc and /sys/fs/cgroup (fake ones here); a forced tier that cannot hold the data is one line."""

from functools import partial

import pytest
import torch

from ganrun.data import DatasetError
from ganrun.data.memory import cgroup_available, host_available
from ganrun.data.tier_choice import choose_tier

GB = 2**30
CPU, CUDA = torch.device("cpu"), torch.device("cuda", 0)


def fake_machine(tmp_path, cgroup_line: str, files: dict, meminfo_kb: int = 64 * 2**20):
    """A /proc with self/cgroup and meminfo, and a /sys/fs/cgroup tree holding `files` (relative path: text)."""
    proc, root = tmp_path / "proc", tmp_path / "cgroup"
    (proc / "self").mkdir(parents=True)
    (proc / "self" / "cgroup").write_text(cgroup_line + "\n")
    (proc / "meminfo").write_text(f"MemTotal: {2 * meminfo_kb} kB\nMemAvailable: {meminfo_kb} kB\n")
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text + "\n")
    return proc, root


def test_a_cgroup_v1_limit_is_what_a_slurm_job_sees(tmp_path):
    job = "memory/slurm/uid_0/job_42"
    proc, root = fake_machine(
        tmp_path,
        "4:memory:/slurm/uid_0/job_42",
        {
            f"{job}/memory.limit_in_bytes": str(2 * GB),
            f"{job}/memory.usage_in_bytes": str(GB // 2),
            f"{job}/memory.stat": f"cache 999\ntotal_inactive_file {GB // 4}",
            "memory/slurm/memory.limit_in_bytes": "9223372036854771712",  # no limit above the job
            "memory/memory.limit_in_bytes": "9223372036854771712",
        },
    )
    # 2 GB − (0.5 GB used − 0.25 GB of reclaimable page cache)
    assert cgroup_available(proc, root) == (2 * GB - GB // 4, 2 * GB)
    assert host_available(proc, root) == (2 * GB - GB // 4, "cgroup limit 2.00 GB")


def test_the_tightest_limit_of_the_ancestors_counts(tmp_path):
    proc, root = fake_machine(
        tmp_path,
        "0::/user.slice/job",
        {
            "cgroup.controllers": "memory",
            "user.slice/job/memory.max": "max",
            "user.slice/job/memory.current": "100",
            "user.slice/memory.max": str(3 * GB),
            "user.slice/memory.current": str(GB),
            "user.slice/memory.stat": "anon 1\ninactive_file 0",
        },
    )
    assert cgroup_available(proc, root) == (2 * GB, 3 * GB)  # cgroup v2: the parent's limit binds


def test_without_a_limit_the_host_has_its_available_ram(tmp_path):
    proc, root = fake_machine(
        tmp_path, "0::/", {"cgroup.controllers": "memory", "memory.max": "max"}, meminfo_kb=3 * 2**20
    )
    assert cgroup_available(proc, root) is None
    assert host_available(proc, root) == (3 * GB, "available RAM")


def test_a_limit_above_the_ram_leaves_the_ram(tmp_path):
    job = "memory/job"
    proc, root = fake_machine(
        tmp_path,
        "4:memory:/job",
        {f"{job}/memory.limit_in_bytes": str(512 * GB), f"{job}/memory.usage_in_bytes": "0"},
        meminfo_kb=2**20,
    )
    assert host_available(proc, root) == (GB, "available RAM")


@pytest.mark.parametrize("size, tier", [(GB, "device"), (3 * GB, "stream")])
def test_auto_on_the_cpu_keeps_the_data_in_ram_when_they_take_at_most_half(size, tier):
    choice = choose_tier("auto", size, CPU, host=(4 * GB, "cgroup limit 4.00 GB"))
    assert choice.tier == tier
    assert "cgroup limit 4.00 GB" in choice.reason


@pytest.mark.parametrize("size, tier", [(5 * GB, "device"), (20 * GB, "host"), (40 * GB, "stream")])
def test_auto_on_a_gpu_tries_the_device_then_the_host(size, tier):
    assert choose_tier("auto", size, CUDA, host=(64 * GB, "available RAM"), free_on_device=12 * GB).tier == tier


def test_the_stream_reason_names_the_sizes():
    choice = choose_tier("auto", 6 * GB, CPU, host=(2 * GB, "cgroup limit 2.00 GB"))
    assert choice.reason == (
        "the packed set (6.00 GB) is more than half of the host's 2.00 GB (cgroup limit "
        "2.00 GB): read from the pack batch by batch"
    )


def test_a_forced_tier_that_cannot_hold_the_data_is_one_line():
    with pytest.raises(
        DatasetError,
        match=r"^dataset.storage=device cannot hold the data: the packed set \(6.00 GB\) "
        r"is more than the host's 2.00 GB \(cgroup limit 2.00 GB\); use "
        r"dataset.storage=stream \(or auto\)$",
    ):
        choose_tier("device", 6 * GB, CPU, host=(2 * GB, "cgroup limit 2.00 GB"))
    with pytest.raises(DatasetError, match="dataset.storage=host cannot hold the data"):
        choose_tier("host", 6 * GB, CUDA, host=(2 * GB, "available RAM"), free_on_device=80 * GB)
    assert choose_tier("stream", 60 * GB, CPU, host=(GB, "available RAM")).tier == "stream"
    assert choose_tier("device", GB, CPU, host=(GB + 1, "available RAM")).tier == "device"  # forced: all of it


def test_an_unknown_storage_is_one_line():
    with pytest.raises(DatasetError, match="dataset.storage=disk is not one of auto, device, host, stream"):
        choose_tier("disk", 1, CPU, host=(GB, "available RAM"))


@pytest.mark.parametrize("limit, refused", [(None, True), (2, False)])
def test_a_forced_tier_is_refused_before_a_folder_is_packed(tmp_path, monkeypatch, limit, refused):
    """Refused before hours of decoding, not after: the rows to train on (the files found, or dataset.limit of them)
    are compared with the memory before the pack is written, and nothing is written."""
    from omegaconf import OmegaConf

    from ganrun.build import build_dataset
    from ganrun.data import tier_choice
    from ganrun.data.open import open_source
    from helpers.tiny_data import write_image_folder

    folder = write_image_folder(tmp_path / "faces", n=6, size=40, broken=0)
    monkeypatch.setenv("GANRUN_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(tier_choice, "host_available", lambda: (3 * 16 * 16 * 3, "cgroup limit 0.00 GB"))  # three rows
    cfg = OmegaConf.create(
        {
            "seed": 0,
            "dataset": {
                "_target_": "ganrun.data.image_folder",
                "root": str(folder),
                "download": False,
                "image_size": 16,
                "channels": 3,
                "limit": limit,
                "limit_seed": 0,
                "workers": 1,
                "storage": "device",
                "readers": 2,
            },
        }
    )

    def make_source():
        return open_source(partial(build_dataset, cfg.dataset), device=CPU, seed=0, storage="device", limit=limit)

    if refused:
        with pytest.raises(
            DatasetError,
            match=r"^dataset.storage=device cannot hold the data: the packed set "
            r"\(4 KB\) is more than the host's 2 KB \(cgroup limit",
        ):
            make_source()
        assert not list((tmp_path / "cache").rglob("*.npy*"))  # nothing was decoded or written
    else:
        assert len(make_source().data) == 2

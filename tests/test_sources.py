"""Spec of the batch sources (ganrun.data.source) and their order (ganrun.data.order): every storage tier (device,
host, stream) draws the same batches for the same seed, with any number of reader threads, from images in RAM or
from a packed cache on disk; each epoch shows every image once; the state continues exactly; ranks take disjoint
shares of one global order; labels come with their images."""

import numpy as np
import pytest
import torch
from torch.testing import assert_close

from ganrun.data import DatasetError, ImageSet
from ganrun.data.order import EpochOrder
from ganrun.data.pack import packed
from ganrun.data.source import TIERS, StreamedBatches

TIER_OPTIONS = [("device", {}), ("host", {}), ("stream", {"workers": 1}), ("stream", {"workers": 3, "prefetch": 2})]
IDS = ["device", "host", "stream-1-reader", "stream-3-readers"]


@pytest.fixture(autouse=True)
def cache_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("GANRUN_CACHE", str(tmp_path / "cache"))


def numbered(n: int, channels: int = 3, on_disk: bool = False, labels=None) -> ImageSet:
    """n images of 4×4 pixels, image i filled with the value i: in RAM, or as a real packed cache on disk."""
    images = np.arange(n, dtype=np.uint8).reshape(n, 1, 1, 1).repeat(channels, 1).repeat(4, 2).repeat(4, 3)
    if on_disk:
        images, _ = packed("numbered", (n, channels), images.shape[1:], lambda writer: writer.append(images))
        assert isinstance(images, np.memmap)
    else:
        images = torch.from_numpy(images)
    return ImageSet(images, labels)


def indices(batch) -> list[int]:
    """The image indices of a numbered() batch."""
    return ((batch[:, 0, 0, 0] + 1) * 127.5).round().long().tolist()


def source(tier_options, data, seed=0, **extra):
    tier, options = tier_options
    return TIERS[tier](data, "cpu", seed, **options, **extra)


@pytest.mark.parametrize("tier", TIER_OPTIONS, ids=IDS)
@pytest.mark.parametrize("on_disk", [False, True], ids=["in-ram", "packed"])
def test_every_tier_draws_the_batches_of_the_order(tier, on_disk):
    reference = EpochOrder(10, seed=5)
    batches = source(tier, numbered(10, on_disk=on_disk), seed=5)
    for _ in range(7):  # more than two epochs of three batches
        batch = batches.next_batch(3)
        assert batch.dtype == torch.float32 and batch.shape == (3, 3, 4, 4)
        assert indices(batch) == reference.next_indices(3).tolist()
    batches.close()


@pytest.mark.parametrize("n", [9, 10])
def test_every_image_once_per_epoch_and_the_remainder_dropped(n):
    order = EpochOrder(n, seed=0)
    for _ in range(3):  # an epoch is 3 full batches; with 10 images, one is left over each epoch
        epoch = [order.next_indices(3).tolist() for _ in range(3)]
        assert len(set(sum(epoch, []))) == 9 and set(sum(epoch, [])) <= set(range(n))


def test_the_same_seed_draws_the_same_batches_another_seed_others():
    assert EpochOrder(10, 3).next_indices(10).tolist() == EpochOrder(10, 3).next_indices(10).tolist()
    assert EpochOrder(10, 3).next_indices(10).tolist() != EpochOrder(10, 4).next_indices(10).tolist()


def test_the_order_is_torchs_seeded_randperm_epoch_after_epoch():
    """The order a CPU run drew before the storage tiers existed, so earlier runs train on as they did."""
    generator = torch.Generator().manual_seed(11)
    expected = torch.cat([torch.randperm(7, generator=generator)[:6] for _ in range(3)]).view(-1, 2).tolist()
    order = EpochOrder(7, 11)  # three batches of 2 an epoch, one image left over
    assert [order.next_indices(2).tolist() for _ in range(9)] == expected


@pytest.mark.parametrize("tier", TIER_OPTIONS, ids=IDS)
def test_a_state_saved_mid_epoch_continues_identically_in_any_tier(tier, tmp_path):
    reference = EpochOrder(10, 7)
    interrupted = source(tier, numbered(10, on_disk=True), seed=7)
    for _ in range(5):  # mid-epoch, after one fresh permutation; the stream tier has read ahead
        assert indices(interrupted.next_batch(4)) == reference.next_indices(4).tolist()
    torch.save(interrupted.state_dict(), tmp_path / "order.pt")
    interrupted.close()
    for other in TIER_OPTIONS:  # resumed in any tier
        resumed = source(other, numbered(10, on_disk=True), seed=123)
        resumed.load_state_dict(torch.load(tmp_path / "order.pt", weights_only=True))
        ahead = reference.ahead()
        for _ in range(6):
            assert indices(resumed.next_batch(4)) == ahead.next_indices(4).tolist()
        resumed.close()


def test_the_stream_tier_reads_a_few_batches_ahead_and_no_more():
    batches = StreamedBatches(numbered(40, on_disk=True), "cpu", 0, workers=2, prefetch=3)
    batches.next_batch(4)
    assert len(batches._pending) == 3
    batches.close()


def test_ranks_take_disjoint_shares_of_one_global_order():
    world, batch = 3, 2
    ranks = [EpochOrder(20, seed=1, rank=r, world=world) for r in range(world)]
    single = EpochOrder(20, seed=1)
    for _ in range(7):  # three global batches of 6 per epoch, two epochs and more
        shares = [rank.next_indices(batch).tolist() for rank in ranks]
        assert sum(shares, []) == single.next_indices(batch * world).tolist()  # one global batch, split
        assert len(set(sum(shares, []))) == batch * world  # disjoint
    states = [rank.state_dict() for rank in ranks]
    assert all(torch.equal(s["perm"], states[0]["perm"]) and s["pos"] == states[0]["pos"] for s in states)


def test_a_global_batch_larger_than_the_data_set_is_one_line():
    with pytest.raises(DatasetError, match=r"train.batch_size=11 is larger than the data set \(10 images\)"):
        EpochOrder(10, 0).next_indices(11)
    with pytest.raises(DatasetError, match=r"train.batch_size=12 is larger"):  # 6 on each of 2 ranks
        EpochOrder(10, 0, rank=1, world=2).next_indices(6)


def test_the_state_of_another_data_set_is_refused():
    with pytest.raises(DatasetError, match="10 images"):
        EpochOrder(12, 0).load_state_dict(EpochOrder(10, 0).state_dict())


@pytest.mark.parametrize("tier", TIER_OPTIONS, ids=IDS)
def test_labels_come_with_their_images_and_grayscale_is_delivered_as_rgb(tier):
    n = 10
    gray = numbered(n, channels=1, on_disk=True)
    data = ImageSet(gray.storage, torch.arange(n) % 3, channels=3)
    batches = source(tier, data, seed=5)
    plain = source(TIER_OPTIONS[0], numbered(n), seed=5)
    for _ in range(4):  # the same order as without labels, and each label is its image's
        batch, labels = batches.next_labelled_batch(4)
        assert batch.shape == (4, 3, 4, 4)
        assert_close(batch, plain.next_batch(4))
        assert labels.tolist() == [i % 3 for i in indices(batch)]
    torch.manual_seed(0)
    drawn = batches.random_labels(3000)
    assert_close(torch.bincount(drawn).float() / 3000, torch.tensor([0.4, 0.3, 0.3]), atol=0.03, rtol=0)
    assert_close(batches.class_frequencies(4), torch.tensor([0.4, 0.3, 0.3, 0.0]))
    assert plain.next_labelled_batch(2)[1] is None and plain.random_labels(3) is None
    batches.close()


def test_a_subset_reads_only_its_rows_in_every_tier():
    data = numbered(30, on_disk=True).subset(np.array([3, 7, 11, 19, 23, 29]))
    assert len(data) == 6 and data.read([0, 5]).flatten(1)[:, 0].tolist() == [3, 29]
    for tier in TIER_OPTIONS:
        batches = source(tier, data, seed=2)
        assert sorted(indices(batches.next_batch(6))) == [3, 7, 11, 19, 23, 29]
        batches.close()


def test_preview_draws_nothing():
    batches = source(TIER_OPTIONS[2], numbered(10, on_disk=True), seed=4)
    assert batches.preview(3).flatten(1)[:, 0].tolist() == [0, 1, 2]
    assert indices(batches.next_batch(5)) == EpochOrder(10, 4).next_indices(5).tolist()
    batches.close()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("tier", ["device", "host", "stream"])
def test_every_tier_on_cuda_draws_the_batches_of_the_order(tier):
    batches = TIERS[tier](numbered(10, on_disk=True), "cuda", 7)
    reference = EpochOrder(10, 7)
    for _ in range(6):
        batch = batches.next_batch(3)
        assert batch.device.type == "cuda"
        assert indices(batch.cpu()) == reference.next_indices(3).tolist()
    batches.close()

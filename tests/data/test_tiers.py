"""Spec of the batch sources (ganrun.data.tiers) and their order (ganrun.data.order): every storage tier (device,
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
from ganrun.data.tiers import TIERS, StreamedBatches

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


def test_the_real_grid_is_a_seeded_sample_of_the_whole_set_that_draws_nothing():
    """Not the first files in sorted order (a folder of two subfolders showed only the first one's images): images
    from all over the set, the same in every run and tier, and the order of training untouched."""
    firsts = []
    for seed, tier in ((4, TIER_OPTIONS[2]), (9, TIER_OPTIONS[0])):
        batches = source(tier, numbered(40, on_disk=True), seed=seed)
        images, row_length = batches.preview(8)
        assert row_length is None and images.dtype == torch.uint8 and images.shape == (8, 3, 4, 4)
        shown = images[:, 0, 0, 0].tolist()
        assert len(set(shown)) == 8 and min(shown) < 20 <= max(shown)  # both halves of the set
        firsts.append(shown)
        assert indices(batches.next_batch(5)) == EpochOrder(40, seed).next_indices(5).tolist()
        batches.close()
    assert firsts[0] == firsts[1] != list(range(8))


def test_a_labelled_real_grid_has_a_row_per_class_with_its_name():
    labels = torch.tensor([0] * 20 + [2] * 10)  # class 1 has no image
    data = numbered(30, labels=labels)
    data.classes = ["cat", "dog", "fox"]
    images, row_length = source(TIER_OPTIONS[0], data, labelled=True).preview(8)
    assert row_length == 1 and images.shape[:2] == (1, 3)  # one picture: two rows of four, names on the left
    picture = images[0, 0]
    tiles = [[picture[2 + r * 6, picture.shape[1] - 26 + 2 + c * 6].item() for c in range(4)] for r in range(2)]
    assert all(v < 20 for v in tiles[0]) and all(20 <= v < 30 for v in tiles[1])  # class 0's row, then class 2's
    assert len(set(tiles[0])) == 4 and (picture[:, : picture.shape[1] - 26] > 100).any()  # the names, in white


def mirrored_set(n: int, on_disk: bool, labels=None) -> ImageSet:
    """n images of 1×4 pixels that show whether they are mirrored: image i is [i, i, i, 200]."""
    images = np.full((n, 1, 1, 4), 200, np.uint8)
    images[:, 0, 0, :3] = np.arange(n, dtype=np.uint8)[:, None]
    if on_disk:
        images, _ = packed("mirrored", (n,), images.shape[1:], lambda writer: writer.append(images))
    return ImageSet(images if on_disk else torch.from_numpy(images), labels)


@pytest.mark.parametrize("tier", TIER_OPTIONS, ids=IDS)
def test_xflip_draws_every_image_and_its_mirror_image_by_the_order_in_every_tier(tier):
    """Position p of an order over 2N draws image p, or image p − N mirrored for p >= N (StyleGAN2-ADA's --mirror):
    a function of the seed and the position, so every tier and every resume draws the same flipped batches."""
    labels = torch.arange(10) % 3
    batches = source(tier, mirrored_set(10, on_disk=True, labels=labels), seed=6, labelled=True, xflip=True)
    reference = EpochOrder(20, seed=6)
    for _ in range(9):  # more than two epochs of the 20 positions
        real, batch_labels = batches.next_labelled_batch(4)
        pixels = ((real[:, 0, 0] + 1) * 127.5).round().long()  # 4×4
        expected = reference.next_indices(4)
        flipped = expected >= 10
        assert pixels[:, 0].tolist() == [200 if f else int(p) for p, f in zip(expected, flipped)]
        assert pixels[:, 3].tolist() == [int(p) - 10 if f else 200 for p, f in zip(expected, flipped)]
        assert batch_labels.tolist() == labels[expected % 10].tolist()
    batches.close()


def test_a_checkpoint_of_another_xflip_is_one_line():
    data = mirrored_set(10, on_disk=False)
    state = source(TIER_OPTIONS[0], data, xflip=False).state_dict()
    with pytest.raises(DatasetError, match="trained with dataset.xflip=false; resume with it"):
        source(TIER_OPTIONS[0], data, xflip=True).load_state_dict(state)


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

"""Spec of a researcher's own image folder (ganrun.data.image_folder with data/listing.py and data/decode.py): labels
from first-level subfolders (torchvision's ImageFolder) or from a labels file (StyleGAN2-ADA's dataset.json), each
packed row with its file's label and the class names beside the pack; classes picked by name or index; every bad
labelling (and one class for a conditional model) one line before anything is packed; non-square images
center-cropped or padded whole, the enlarged ones counted; a cache that cannot be written (a full disk) said once in
the log, with nothing half-written left."""

import errno
import json
import logging

import numpy as np
import pytest
import torch
import torchvision.transforms.functional as TF
from PIL import Image
from torch.testing import assert_close

from ganrun.app.assemble import build
from ganrun.app.resolve import resolve
from ganrun.app.validate import validate
from ganrun.base.errors import UsageError
from ganrun.data import DatasetError, folder, image_folder
from ganrun.data.listing import folder_class_names
from ganrun.data.writers import PackWriter
from helpers.configs import compose_with
from helpers.packing import DyingDecoder, Killed
from helpers.tiny_data import CLASSES, labelled_pattern, write_image_folder, write_labelled_folder


@pytest.fixture(autouse=True)
def cache_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("GANRUN_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def assert_one_line(error, *parts):
    message = str(error.value)
    assert "\n" not in message, message
    for part in parts:
        assert str(part) in message, message


def identify(images: torch.Tensor, reference: np.ndarray) -> list[int]:
    """Which reference image each image is (the nearest in mean absolute difference: JPEGs are lossy)."""
    distance = (images[:, None].float() - torch.from_numpy(reference)[None].float()).abs().mean((2, 3, 4))
    return distance.argmin(1).tolist()


@pytest.mark.parametrize("layout, labels", [("folders", "folders"), ("json", "dataset.json")])
def test_every_row_comes_with_its_files_class_in_both_layouts(tmp_path, layout, labels):
    root = write_labelled_folder(tmp_path / "pets", layout)
    reference, classes = labelled_pattern()
    data = image_folder(root=str(root), image_size=32, labels=labels)
    assert data.shape == (12, 3, 32, 32) and data.labels.dtype == torch.int64
    which = identify(data.images, reference)
    assert sorted(which) == list(range(12))  # every file once
    assert data.labels.tolist() == classes[which].tolist()
    names = list(CLASSES) if layout == "folders" else ["0", "1", "2"]  # dataset.json labels classes by index
    assert data.classes == names and folder_class_names(root, labels) == names
    for row, i in enumerate(which):
        if i % 2 == 0:  # the PNGs are lossless and square: exact
            assert_close(data.images[row], torch.from_numpy(reference[i]))


def test_a_labels_file_may_name_classes(tmp_path):
    root = write_labelled_folder(tmp_path / "pets", "json")
    entries = json.loads((root / "dataset.json").read_text())["labels"]
    (root / "names.json").write_text(json.dumps({"labels": {path: CLASSES[c] for path, c in entries}}))
    data = image_folder(root=str(root), image_size=32, labels="names.json")
    assert data.classes == list(CLASSES)
    _, classes = labelled_pattern()
    assert data.labels.tolist() == classes[identify(data.images, labelled_pattern()[0])].tolist()


@pytest.mark.parametrize("classes, picked", [(["fox", "cat"], [0, 2]), ([1], [1]), ("dog", [1]), (None, [0, 1, 2])])
def test_classes_are_picked_by_name_or_index(tmp_path, classes, picked):
    root = write_labelled_folder(tmp_path / "pets")
    data = image_folder(root=str(root), image_size=32, labels="folders", classes=classes)
    assert sorted(set(data.labels.tolist())) == picked and data.classes == list(CLASSES)
    assert len(data) == sum((4, 3, 5)[c] for c in picked)


def test_an_unknown_class_is_one_line_that_lists_the_classes(tmp_path):
    root = write_labelled_folder(tmp_path / "pets")
    with pytest.raises(DatasetError) as error:
        image_folder(root=str(root), image_size=32, labels="folders", classes=["wolf"])
    assert_one_line(error, "dataset.classes=['wolf']", "'wolf' is neither a class", "cat, dog, fox")
    with pytest.raises(DatasetError) as error:
        image_folder(root=str(write_image_folder(tmp_path / "plain", broken=0)), image_size=32, classes=[1])
    assert_one_line(error, "dataset.classes=[1] needs class labels", "dataset.labels=folders")


@pytest.mark.parametrize("per_class, picked, named", [((3,), None, "cat"), ((2, 2, 2), "[dog]", "dog")])
def test_a_conditional_model_on_one_class_is_one_line_before_anything_is_read(tmp_path, per_class, picked, named):
    root = write_labelled_folder(tmp_path / "pets", per_class=per_class)
    options = [f"dataset.root={root}", "dataset.labels=folders", f"dataset.classes={picked or 'null'}"]
    cfg = compose_with("dataset=folder", *options, "model.conditional=true", "device=cpu")
    plan = resolve(cfg)
    with pytest.raises(UsageError) as error:
        validate(plan, build(plan))
    assert_one_line(error, f"model.conditional=true needs two classes or more, and the data hold one ({named})")
    assert not (tmp_path / "cache").exists()


def bad_json(root):
    entries = json.loads((root / "dataset.json").read_text())["labels"]
    (root / "dataset.json").write_text(json.dumps({"labels": [*entries, ["part0/gone.png", 1]]}))


def unlisted(root):
    entries = json.loads((root / "dataset.json").read_text())["labels"]
    (root / "dataset.json").write_text(json.dumps({"labels": entries[1:]}))


def loose_image(root):
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(root / "stray.png")


def empty_class(root):
    (root / "wolf").mkdir()
    (root / "wolf" / "notes.txt").write_text("no images")


def mixed_labels(root):
    (root / "dataset.json").write_text(json.dumps({"labels": [["part0/img00.PNG", 0], ["part1/img01.jpg", "dog"]]}))


BAD = [
    ("json", "dataset.json", bad_json, ["names 1 images that are not image files", "part0/gone.png"]),
    ("json", "dataset.json", unlisted, ["1 image files under", "have no label in", "part0/img00.PNG"]),
    ("json", "nowhere.json", None, ["dataset.labels=nowhere.json: there is no", "dataset.labels=none, folders"]),
    ("json", "dataset.json", mixed_labels, ["must be all class indices >= 0 or all class names"]),
    ("folders", "folders", loose_image, ["1 image files lie in", "outside a class folder", "stray.png"]),
    ("folders", "folders", empty_class, ["the class folders wolf", "hold no image files"]),
]


@pytest.mark.parametrize(
    "layout, labels, spoil, fragments", BAD, ids=[b[2].__name__ if b[2] else "no file" for b in BAD]
)
def test_a_bad_labelling_stops_in_one_line_before_anything_is_packed(
    tmp_path, cache_dir, layout, labels, spoil, fragments
):
    root = write_labelled_folder(tmp_path / "pets", layout)
    if spoil is not None:
        spoil(root)
    with pytest.raises(DatasetError) as error:
        image_folder(root=str(root), image_size=32, labels=labels)
    assert_one_line(error, *fragments)
    assert not cache_dir.exists() or not list(cache_dir.iterdir())  # nothing decoded, nothing packed


def test_unreadable_files_keep_the_labels_aligned_and_a_class_with_none_readable_is_one_line(tmp_path):
    root = write_labelled_folder(tmp_path / "pets")
    (root / "dog" / "aaa-broken.png").write_bytes(b"not a PNG")  # sorts first among the dogs
    reference, classes = labelled_pattern()
    with pytest.warns(UserWarning, match="skipped 1 unreadable"):
        data = image_folder(root=str(root), image_size=32, labels="folders")
    assert len(data) == 12 and data.labels.tolist() == classes[identify(data.images, reference)].tolist()
    for path in (root / "dog").rglob("*.*"):
        path.write_bytes(b"broken")
    with pytest.warns(UserWarning, match="skipped 4 unreadable"), pytest.raises(DatasetError) as error:
        image_folder(root=str(root), image_size=32, labels="folders")
    assert_one_line(error, "the class 'dog'", "has no readable image")


def test_a_labelled_packing_killed_half_way_continues_with_its_labels(tmp_path, monkeypatch, cache_dir):
    root = write_labelled_folder(tmp_path / "pets", per_class=(7, 6, 9))
    (root / "dog" / "aaa-broken.png").write_bytes(b"not a PNG")
    with pytest.warns(UserWarning):
        whole = image_folder(root=str(root), image_size=16, labels="folders", workers=1)
    for p in cache_dir.iterdir():
        p.unlink()
    decoder = DyingDecoder(monkeypatch, after=3)
    with pytest.raises(Killed):
        image_folder(root=str(root), image_size=16, labels="folders", workers=1)
    assert len(list(cache_dir.glob("*.partial-labels"))) == 1
    decoder.revive()
    with pytest.warns(UserWarning):
        again = image_folder(root=str(root), image_size=16, labels="folders", workers=1)
    assert_close(again.images, whole.images)
    assert again.labels.tolist() == whole.labels.tolist()
    assert not list(cache_dir.glob("*.partial*"))
    assert json.loads(next(cache_dir.glob("*-notes.json")).read_text())["classes"] == list(CLASSES)


def write_wide(root, width=48, height=24):
    """One wide RGB image: a left half of 60s and a right half of 200s."""
    root.mkdir(parents=True)
    pixels = np.full((height, width, 3), 60, np.uint8)
    pixels[:, width // 2 :] = 200
    Image.fromarray(pixels).save(root / "wide.png")
    return root, Image.fromarray(pixels)


def test_pad_keeps_the_whole_image_and_center_crops_its_middle(tmp_path):
    root, image = write_wide(tmp_path / "wide")
    padded = image_folder(root=str(root), image_size=16, crop="pad").images[0].permute(1, 2, 0).numpy().copy()
    fitted = np.array(TF.resize(image, [8, 16]))  # 48×24 → 16×8: the longer side to 16, the aspect kept
    assert (padded[:4] == 0).all() and (padded[12:] == 0).all()  # black above and below
    assert_close(torch.from_numpy(padded[4:12]), torch.from_numpy(fitted))
    cropped = image_folder(root=str(root), image_size=16).images[0].permute(1, 2, 0).numpy()
    expected = np.array(TF.center_crop(TF.resize(image, 16), 16))
    assert_close(torch.from_numpy(cropped), torch.from_numpy(expected))
    with pytest.raises(DatasetError, match="dataset.crop=stretch is not one of center, pad"):
        image_folder(root=str(root), image_size=16, crop="stretch")


def test_the_images_it_had_to_enlarge_are_counted_in_the_log(tmp_path, caplog, monkeypatch):
    root = write_image_folder(tmp_path / "faces", n=6, size=40, broken=0)  # 40×40 PNGs and 60×40 JPEGs
    caplog.set_level(logging.INFO, logger="ganrun")
    image_folder(root=str(root), image_size=32)
    assert not [r for r in caplog.records if "enlarged" in r.getMessage()]
    for image_size, crop, enlarged in ((48, "center", 6), (48, "pad", 3), (64, "pad", 6)):
        caplog.clear()
        image_folder(root=str(root), image_size=image_size, crop=crop)
        [line] = [r.getMessage() for r in caplog.records if "enlarged" in r.getMessage()]
        assert line.startswith(f"data: {enlarged} of the 6 images under {root} were smaller than {image_size}×")
    caplog.clear()
    monkeypatch.setattr(folder, "_decode_chunk", lambda *a, **k: pytest.fail("decoded again"))
    image_folder(root=str(root), image_size=64, crop="pad")  # from the pack: the count is kept with it
    assert [r.getMessage() for r in caplog.records if "enlarged" in r.getMessage()]


class FullDisk:
    """A PackWriter whose second append finds the disk full, after its first block is on it."""

    def __init__(self, monkeypatch):
        real = PackWriter.append

        def append(writer, *args, **kwargs):
            if writer.rows:
                raise OSError(errno.ENOSPC, "No space left on device")
            return real(writer, *args, **kwargs)

        monkeypatch.setattr(PackWriter, "append", append)


def test_a_full_cache_disk_is_one_log_line_and_leaves_nothing_half_written(tmp_path, monkeypatch, caplog, cache_dir):
    root = write_labelled_folder(tmp_path / "pets", per_class=(5, 5, 5))
    expected = image_folder(root=str(root), image_size=16, labels="folders", workers=1)
    expected_images, expected_labels = expected.images.clone(), expected.labels.tolist()
    for p in cache_dir.iterdir():
        p.unlink()
    monkeypatch.setattr(folder, "CHUNK", 4)
    FullDisk(monkeypatch)
    caplog.set_level(logging.INFO, logger="ganrun")
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a log line, not a Python warning that shows where Hydra called the loader
        data = image_folder(root=str(root), image_size=16, labels="folders", workers=1)
    assert_close(data.images, expected_images)
    assert data.labels.tolist() == expected_labels
    lines = [r.getMessage() for r in caplog.records]
    [warning] = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warning.startswith("not caching image_folder: cannot write its packed cache ")
    assert "(No space left on device); decoding it into memory for this run instead; set GANRUN_CACHE=" in warning
    assert len([line for line in lines if line.startswith("packing")]) == 1
    assert len([line for line in lines if line.startswith("decoding 15 images") and "into memory" in line]) == 1
    assert [p.name for p in cache_dir.iterdir() if not p.name.endswith(".lock")] == []  # no partial pack left


def test_an_unwritable_cache_is_one_log_line(tmp_path, monkeypatch, caplog):
    from ganrun.data import mnist
    from helpers.tiny_data import write_mnist

    blocker = tmp_path / "a-file"
    blocker.write_text("the cache dir cannot be created under a file")
    monkeypatch.setenv("GANRUN_CACHE", str(blocker / "cache"))
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        x = mnist(root=str(write_mnist(tmp_path, n=3)), download=False).images
    [line] = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert line.startswith("not caching mnist: cannot write its packed cache") and x.shape == (3, 1, 28, 28)

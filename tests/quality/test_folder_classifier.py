"""Spec of the offline classifier space on a labelled image folder (issue 37, item 7): its splits, its classifier
(its classes, size and channels), cached as the presets' are, its progress while it trains, and a run that scores
classifier_fd on own labelled data."""

import json
import logging

import numpy as np
import pytest
import torch

from ganrun.build import build_dataset
from ganrun.data.labelled import classifier_source
from ganrun.quality import classifier
from helpers.cli import FAST, ganrun
from helpers.tiny_data import labelled_pattern, write_image_folder, write_labelled_folder

QUICK = {"epochs": 3, "batch_size": 4, "lr": 3e-3, "seed": 0}


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("GANRUN_CACHE", str(tmp_path / "cache"))


def folder_cfg(root, **extra) -> dict:
    return {"_target_": "ganrun.data.image_folder", "root": str(root), "image_size": 32, "labels": "folders", **extra}


def test_a_labelled_folder_is_split_a_seeded_tenth_held_out(tmp_path):
    per_class = (12, 9, 15)
    root = write_labelled_folder(tmp_path / "data", per_class=per_class)
    source = classifier_source(folder_cfg(root))
    (train, train_labels), (test, test_labels) = source.split("train"), source.split("test")
    assert (len(test), len(train)) == (3, 33) and train.shape[1:] == (3, 32, 32)
    everything = build_dataset(folder_cfg(root))  # what the run trains on: every image, in file order
    rows = torch.cat([train, test]).flatten(1)
    found = {tuple(row.tolist()) for row in rows}
    assert len(found) == 36 and found == {tuple(r.tolist()) for r in everything.images.flatten(1)}  # disjoint, all
    labels = dict(zip(map(tuple, everything.images.flatten(1).tolist()), everything.labels.tolist()))
    assert [labels[tuple(r.tolist())] for r in rows] == torch.cat([train_labels, test_labels]).tolist()
    assert sorted(np.bincount(labelled_pattern(per_class)[1]).tolist()) == sorted(
        torch.bincount(torch.cat([train_labels, test_labels])).tolist()
    )
    assert torch.equal(source.split("test")[0], test)  # seeded: the same split every time


def test_unlabelled_folders_have_no_classifier(tmp_path):
    root = write_image_folder(tmp_path / "plain", broken=0)
    assert classifier_source(folder_cfg(root, labels="none")) is None
    assert classifier_source({"_target_": "ganrun.data.image_folder", "root": str(root)}) is None


def test_the_folders_classifier_learns_its_classes_at_its_size_and_is_cached(tmp_path, caplog, monkeypatch):
    root = write_labelled_folder(tmp_path / "data", per_class=(12, 9, 15))
    source = classifier_source(folder_cfg(root))
    monkeypatch.setattr(classifier, "PROGRESS_EVERY", 0.0)  # a progress line at every step
    with caplog.at_level(logging.INFO, logger="ganrun"):
        path, record = classifier.classifier_for(source, "cpu", QUICK)
    assert path.name.startswith("folder-") and path.parent == classifier.cache_root()
    assert (record["classes"], record["channels"], record["image_size"]) == (3, 3, 32)
    assert (record["train_images"], record["test_images"]) == (33, 3)
    steps = QUICK["epochs"] * (33 // QUICK["batch_size"])
    progress = [r.getMessage() for r in caplog.records if r.getMessage().startswith("classifier: step")]
    assert len(progress) == steps - 1 and progress[0].startswith(f"classifier: step 1 of {steps}, ")
    assert progress[-1].endswith("s left")
    assert classifier.is_trained(source, QUICK)  # the second run loads it
    assert classifier.cache_path(classifier_source(folder_cfg(root, image_size=16)), QUICK) != path


@pytest.mark.slow
def test_a_run_on_a_labelled_folder_scores_classifier_fd_offline(tmp_path):
    root = write_labelled_folder(tmp_path / "data", per_class=(12, 9, 15))
    result = ganrun(
        "dataset=folder",
        f"dataset.root={root}",
        "dataset.labels=folders",
        "dataset.image_size=28",
        *FAST,
        "metrics.names=[classifier_fd]",
        "metrics.num_samples=16",
        "train.steps=1",
        "hydra.run.dir=run",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "off for the rest" not in result.stdout + result.stderr
    status = json.loads((tmp_path / "run" / "status.json").read_text())
    assert status["status"] == "completed" and "metrics/classifier_fd" in json.dumps(status)

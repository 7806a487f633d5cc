"""A class-conditional model's classes, read from the data set's names alone, before any image: model.num_classes
filled in (null: as many as the data set's labels name), so that the stored config rebuilds the networks, and the
classes the run trains on (dataset.classes picks some), for app/validate.py's rule that a conditional model needs
two."""

from __future__ import annotations

from omegaconf import DictConfig

from ganrun.base.errors import UsageError
from ganrun.data.labelled import LABELLED, labelled_source
from ganrun.data.listing import folder_class_names, pick_classes
from ganrun.data.options import dataset_option
from ganrun.data.reading import NUM_CLASSES, check_classes


def fill_classes(cfg: DictConfig) -> list[str] | None:
    """The names of the classes a conditional model trains on (None for an unconditional one, or a loader of one's
    own, which says nothing of its labels before it runs: model.num_classes then sizes the networks)."""
    if not cfg.model.get("conditional", False):
        return None
    labelled, trained = data_classes(cfg.dataset)
    if labelled is None and cfg.model.get("num_classes") is None:
        raise UsageError(
            f"model.conditional=true needs class labels, and {dataset_option(cfg.dataset)} has none here; train "
            f"on a labelled data set (dataset={', '.join(LABELLED)}, or dataset=folder with dataset.labels=folders "
            "or a labels file) or set model.conditional=false"
        )
    if cfg.model.num_classes is None:
        cfg.model.num_classes = labelled
    return trained


def data_classes(dataset_cfg) -> tuple[int | None, list[str] | None]:
    """(how many classes the data set's labels name, the names of those dataset.classes picks), or (None, None)
    where the names do not say."""
    if labelled_source(dataset_cfg) is not None:  # labels 0..9 whichever are picked: the networks have ten
        picked = check_classes(dataset_cfg.get("classes"))
        return NUM_CLASSES, [str(c) for c in (picked if picked is not None else range(NUM_CLASSES))]
    if dataset_cfg.get("labels") is None:
        return None, None
    names = folder_class_names(dataset_cfg.get("root"), dataset_cfg.get("labels"))  # a folder: subfolders or a file
    if names is None:
        return None, None
    picked = pick_classes(dataset_cfg.get("classes"), names, dataset_cfg.get("root"))
    return len(names), names if picked is None else [names[i] for i in picked]

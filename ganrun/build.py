"""Everything made from a config: every `hydra.utils.instantiate` call of ganrun lives here.

The app builds a run with these, and the tools rebuild a checkpoint's generator and data set from the config
stored in it; neither builds anything itself.
"""

import inspect
from collections.abc import Callable

import hydra
import torch
from hydra.errors import InstantiationException
from omegaconf import DictConfig, OmegaConf

from ganrun.base import schedules
from ganrun.base.errors import UsageError
from ganrun.base.weights import load_weights
from ganrun.data.reading import DRAWING_KEYS, STORAGE_KEYS, ImageSet, take_subset
from ganrun.objectives.augment import Augment
from ganrun.runstate import checkpoint
from ganrun.training import contract
from ganrun.training.ema import recalibrate_batchnorm

# Keys of the model config that configure ganrun itself rather than the model's build function.
MODEL_META_KEYS = ("allow_batchnorm_with_penalty",)
# A key of an optimizer's config that picks its _target_ (by interpolation), not an argument of it.
OPTIMIZER_META_KEYS = ("name",)
# What installs the trackers' packages (W&B, MLflow), the optional extra of pyproject.toml.
LOGGERS_HINT = 'pip install -e ".[loggers]"'


def enum_value(value) -> str:
    """The plain string of an enum-typed key (Hydra gives Enum members for typed keys)."""
    return str(getattr(value, "value", value))


def plain(node) -> dict:
    """A config node as a plain, resolved dict."""
    return OmegaConf.to_container(node, resolve=True) if isinstance(node, DictConfig) else dict(node)


def instantiate(node, **kwargs):
    """hydra.utils.instantiate of a config node (a schedule given as its value at the first step: the training loop
    moves it on, training/schedules.py), re-raising a UsageError from the target as itself (one line, no wrapper)."""
    node = schedules.at_start_everywhere(plain(node))
    try:
        return hydra.utils.instantiate(node, **kwargs)
    except InstantiationException as exc:
        if isinstance(exc.__cause__, UsageError):
            raise exc.__cause__ from None
        raise


def missing_package(exc: BaseException) -> str | None:
    """The top-level package whose import failed somewhere in the exception's chain, or None."""
    while exc is not None:
        if isinstance(exc, ModuleNotFoundError) and exc.name:
            return exc.name.split(".")[0]
        exc = exc.__cause__ or exc.__context__
    return None


def logger_factories(logger_cfg) -> dict[str, Callable]:
    """Each chosen logger (`logger=`: none for `logger=[]`) as its class with its options, to be called with the
    run's RunInfo. Its module is imported here, so that a logger whose package is missing stops the run before any
    compute with one line naming the extra that installs it."""
    factories = {}
    for name, node in (plain(logger_cfg) if logger_cfg else {}).items():
        try:
            factories[name] = instantiate(node, _partial_=True)
        except InstantiationException as exc:
            if (package := missing_package(exc)) is None:
                raise
            raise UsageError(
                f"logger={name} needs the package {package}, which is not installed: {LOGGERS_HINT}"
            ) from None
    return factories


def build_gan(cfg) -> tuple[torch.nn.Module, torch.nn.Module, object]:
    """The generator, the critic and the regularizer, with the regularizer applied to both networks; each checked
    against the interface training expects (training/contract.py: a part of one's own stops in one line naming what
    it lacks)."""
    model_cfg = {k: v for k, v in OmegaConf.to_container(cfg.model, resolve=True).items() if k not in MODEL_META_KEYS}
    generator, critic = contract.check_pair(instantiate(model_cfg), model_cfg.get("_target_"))
    contract.check_generator(generator, bool(model_cfg.get("conditional", False)))
    regularizer = instantiate(cfg.regularizer)
    contract.check_regularizer(regularizer)
    regularizer.apply(generator, critic)
    contract.check_networks(generator, critic, image_shape(cfg.get("dataset")))
    return generator, critic, regularizer


def image_shape(dataset_cfg) -> tuple[int, int, int] | None:
    """(channels, size, size) of the data set's images as its config says, or None where it does not say."""
    if not dataset_cfg or dataset_cfg.get("image_size") is None or dataset_cfg.get("channels") is None:
        return None
    size = int(dataset_cfg.get("image_size"))
    return int(dataset_cfg.get("channels")), size, size


def build_loss(cfg):
    """The loss, checked against the interface training expects (training/contract.py)."""
    loss = instantiate(cfg.loss)
    contract.check_loss(loss)
    return loss


def build_augment(cfg) -> Augment:
    """The critic's input augmentation (`augment=`; none in a config that predates it)."""
    return instantiate(cfg.augment) if cfg.get("augment") is not None else Augment()


def build_dataset(dataset_cfg, subset: bool = True, before_packing: Callable | None = None) -> ImageSet:
    """The data set's uint8 N×C×H×W images and their labels (None: unlabelled) by its loader: `dataset.limit` of
    them (seeded by `dataset.limit_seed`) unless `subset` is False (the metrics' real images: all of them).
    `before_packing(rows, row_bytes)` goes to a loader that takes it (data.open.open_source's check)."""
    node = plain(dataset_cfg)
    limit, limit_seed = node.pop("limit", None), node.pop("limit_seed", 0)
    for key in (*STORAGE_KEYS, *DRAWING_KEYS):  # where the images are kept and how batches are drawn (open_source)
        node.pop(key, None)
    extra = {}
    if before_packing is not None and "before_packing" in signature_of(node.get("_target_")).parameters:
        extra["before_packing"] = before_packing
    data = instantiate(node, **extra)
    if not isinstance(data, ImageSet):  # a loader of one's own may return just images, or (images, labels)
        data = ImageSet(*data) if isinstance(data, tuple) else ImageSet(data)
    return take_subset(data, limit, limit_seed) if subset else data


def signature_of(target) -> inspect.Signature:
    """The call signature of a config's `_target_` (an empty one when it cannot be located)."""
    try:
        return inspect.signature(hydra.utils.get_object(str(target)))
    except (ImportError, ValueError, TypeError, AttributeError):
        return inspect.Signature()


def build_optimizer(params, node, device: torch.device) -> torch.optim.Optimizer:
    """The optimizer an `optim.generator` / `optim.critic` node describes (its `_target_` with `_partial_`: a
    schedule's learning rate or β₂ at its first value), over `params`, on `device`."""
    kwargs = {k: v for k, v in plain(node).items() if k not in OPTIMIZER_META_KEYS}
    return instantiate(kwargs)(params, device=device)


def load_generator(path, device: torch.device, use_ema: bool = True) -> torch.nn.Module:
    """The generator of a checkpoint (its moving average unless use_ema is False), rebuilt from the
    config stored in it, in eval mode on `device`."""
    return generator_of(checkpoint.load(path), device, use_ema)


def generator_of(state: dict, device: torch.device, use_ema: bool = True) -> torch.nn.Module:
    """load_generator of a loaded checkpoint."""
    generator, _, _ = build_gan(OmegaConf.create(state["config"]))
    if use_ema and state.get("ema") is not None:
        load_weights(generator, state["ema"], "EMA generator")
        # Checkpoints written before ganrun re-estimated them hold the live generator's batch-norm statistics.
        return recalibrate_batchnorm(generator.to(device))
    load_weights(generator, state["generator"], "generator")
    return generator.to(device).eval()

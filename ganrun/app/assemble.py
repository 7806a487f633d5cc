"""The run's parts assembled from its config (ganrun/build.py instantiates each): networks, optimizers, loss,
data, EMA, speed options, DDP, and the metrics' evaluate()."""

import logging
import random
from functools import partial

import torch
from omegaconf import DictConfig, OmegaConf
from torch.nn.parallel import DistributedDataParallel

from ganrun.app.init import check_init_fits, start_from_init
from ganrun.base.errors import UsageError
from ganrun.base.schedules import images_per_step, schedules_of
from ganrun.base.schedules import parse as parse_value
from ganrun.build import build_augment, build_dataset, build_gan, build_loss, make_optimizer, name_of
from ganrun.data.files import NUM_CLASSES
from ganrun.data.labelled import LABELLED, classifier_source, labelled_source
from ganrun.data.listing import folder_class_names, pick_classes
from ganrun.data.open import open_source
from ganrun.quality.protocol import origin_text
from ganrun.training import distributed, speed
from ganrun.training.accumulation import check_accumulation, has_batchnorm
from ganrun.training.contract import check_loss_terms
from ganrun.training.ema import EMA
from ganrun.training.freeze import freeze_critic_blocks
from ganrun.training.parts import Parts
from ganrun.training.sampling import generate
from ganrun.training.schedules import Schedules

log = logging.getLogger("ganrun")


def refuse_batchnorm_with_penalty(cfg, critic, loss, regularizer) -> None:
    """Batch norm mixes samples, so the per-sample input gradient a penalty needs is wrong."""
    if cfg.model.get("allow_batchnorm_with_penalty", False) or not (loss.penalized or regularizer.penalized):
        return
    if has_batchnorm(critic):
        raise UsageError(
            "the critic has batch norm, which makes a gradient penalty wrong; use model.critic_norm=layer "
            "(or none), or set model.allow_batchnorm_with_penalty=true to run it anyway"
        )


def data_classes(dataset_cfg) -> int | None:
    """How many classes the data set's labels name (read from names alone, before any image), or None: no labels
    known (a loader of one's own: model.num_classes then says)."""
    if labelled_source(dataset_cfg) is not None:
        return NUM_CLASSES
    if dataset_cfg.get("labels") is not None:  # a folder: subfolders or a labels file
        names = folder_class_names(dataset_cfg.get("root"), dataset_cfg.get("labels"))
        if names is not None:
            refuse_one_class(dataset_cfg, names)
        return None if names is None else len(names)
    return None


def refuse_one_class(dataset_cfg, names: list[str]) -> None:
    """A class-conditional model learns what tells classes apart: a folder of one class (or one picked) has nothing."""
    picked = pick_classes(dataset_cfg.get("classes"), names, dataset_cfg.get("root"))
    trained = names if picked is None else [names[i] for i in picked]
    if len(trained) < 2:
        raise UsageError(
            f"model.conditional=true needs two classes or more, and the data hold one ({trained[0]}); add class "
            "folders (or labels), pick more with dataset.classes, or set model.conditional=false"
        )


def resolve_classes(cfg: DictConfig) -> None:
    """A class-conditional model needs a labelled data set: stop in one line before anything is built when there
    is none, and fill in model.num_classes (null: the data set's), so that the stored config rebuilds the nets."""
    if not cfg.model.get("conditional", False):
        return
    classes = data_classes(cfg.dataset)
    if classes is None and cfg.model.get("num_classes") is None:
        raise UsageError(
            f"model.conditional=true needs class labels, and the data set {cfg.dataset._target_} has "
            f"none; train on a labelled one ({', '.join(LABELLED)}, or a folder with dataset.labels=folders or "
            "a labels file) or set model.conditional=false"
        )
    if cfg.model.num_classes is None:
        cfg.model.num_classes = classes


def refuse_adaptive_without_boundary(augment, loss) -> None:
    """r_t = E[sign(D(x))] needs scores with an origin; a Wasserstein critic's are defined up to a constant."""
    if augment.adaptive and loss.decision_boundary is None:
        raise UsageError(
            f"augment=adaptive tunes p from the sign of the critic's scores, which {type(loss).__name__} "
            "scores do not have (a Wasserstein or relativistic critic is defined up to a constant); use loss=bce, "
            "hinge or lsgan, or augment=diffaugment"
        )


def make_ema(generator: torch.nn.Module, config: dict) -> EMA | None:
    """The generator's moving average, from the run's config as plain containers: train.ema's decay with its ramp,
    or R3GAN's half-life in images (train.ema_halflife, a number or a schedule); None when train.ema is 0 and there
    is no half-life."""
    train = config["train"]
    halflife = parse_value(train.get("ema_halflife"), "train.ema_halflife")
    if train["ema"] <= 0 and halflife is None:
        return None
    return EMA(generator, train["ema"], train["ema_rampup"], halflife, images_per_step(config))


def build_parts(cfg: DictConfig, device: torch.device, init: tuple | None = None) -> Parts:
    """Everything the loop needs, built from the config (seeded, so two runs with one seed start equal); fills in
    model.num_classes of a class-conditional model. With `init` (app/init.py's load_init) the networks, EMA and,
    if asked, optimizers start from its weights. Under torchrun every rank builds the same networks, wraps them in
    DDP, and draws its own data and noise."""
    rank, world = distributed.rank_and_world()
    resolve_classes(cfg)
    torch.manual_seed(cfg.seed)
    random.seed(cfg.seed)
    generator, critic, regularizer = build_gan(cfg)
    generator, critic = generator.to(device), critic.to(device)
    loss, augment = build_loss(cfg), build_augment(cfg).to(device)
    check_loss_terms(loss, generator, critic)
    refuse_batchnorm_with_penalty(cfg, critic, loss, regularizer)
    refuse_adaptive_without_boundary(augment, loss)
    check_accumulation(cfg.train.accumulate, cfg.train.batch_size // world, generator, critic, loss)
    if init is not None:  # layers that do not fit stop the run here, before any data are read
        check_init_fits(cfg, init, generator, critic)
    if frozen := freeze_critic_blocks(critic, cfg.train.freeze_critic):
        log.info("train.freeze_critic=%d: the critic's %s stay fixed", cfg.train.freeze_critic, ", ".join(frozen))
    data = open_source(
        partial(build_dataset, cfg.dataset),
        device=device,
        seed=cfg.seed,
        storage=name_of(cfg.dataset.get("storage", "auto")),
        readers=cfg.dataset.get("readers", 2),
        limit=cfg.dataset.get("limit"),
        rank=rank,
        world=world,
        num_classes=getattr(generator, "num_classes", 0),
        xflip=bool(cfg.dataset.get("xflip", False)),
    )
    if data.labels is not None:  # a conditional generator samples its classes as often as the data hold them
        generator.class_prior.copy_(data.class_frequencies(generator.num_classes))
    config = OmegaConf.to_container(cfg, resolve=True)  # plain values: the EMA's and the schedules'
    parts = Parts(
        generator=generator,
        critic=critic,
        opt_g=make_optimizer(generator.parameters(), cfg.optim.generator, device),
        opt_d=make_optimizer(critic.parameters(), cfg.optim.critic, device),
        loss=loss,
        regularizer=regularizer,
        data=data,
        fixed_noise=torch.randn(cfg.log.num_samples, generator.z_dim, device=device),
        ema=make_ema(generator, config),
        augment=augment,
    )
    if init is not None:
        start_from_init(cfg, parts, init)
    parts.schedules = Schedules(schedules_of(config), images_per_step(config), parts)
    ddp = (
        partial(
            DistributedDataParallel,
            device_ids=[device.index] if device.type == "cuda" else None,
            gradient_as_bucket_view=True,
        )
        if world > 1
        else None
    )
    if world > 1:
        torch.manual_seed(cfg.seed + rank)  # the same networks everywhere, each rank its own noise
    fast_generator, fast_critic = speed.prepare(
        generator, critic, name_of(cfg.train.precision), cfg.train.channels_last, cfg.train.compile, wrap=ddp
    )
    if cfg.train.compile or ddp is not None:
        parts.fast_generator, parts.fast_critic = fast_generator, fast_critic
    return parts


def announce_first_classifier(names: list[str], dataset_cfg: dict, every: int) -> None:
    """Say at the start what a first run does once at its first evaluation: train the data set's classifier for the
    classifier_* metrics (minutes on a CPU), so that a newcomer is not surprised by it at the end."""
    from ganrun.quality import classifier
    from ganrun.quality.names import CLASSIFIER

    source = classifier_source(dataset_cfg)
    if source is None or not any(name in CLASSIFIER for name in names) or classifier.is_trained(source):
        return
    when = f"at step {every}" if every else "at the end of this run"
    log.info(
        "metrics: the first evaluation (%s) trains the %s classifier for %s, once: about three minutes on a "
        "2-core CPU; cached in %s for every later run",
        when,
        source.name,
        ", ".join(name for name in names if name in CLASSIFIER),
        classifier.cache_root(),
    )


def make_evaluate(cfg: DictConfig, parts: Parts, dataset_cfg: dict, device: torch.device):
    """The loop's `evaluate()`: torch-fidelity scores of the sampling generator with their protocols, or None when
    metrics are off."""
    if not cfg.metrics.names:
        return None
    from ganrun.quality.configured import decide_available, from_settings  # torch-fidelity takes seconds to import

    announce_first_classifier(list(cfg.metrics.names), dataset_cfg, cfg.metrics.every)
    # Against the whole data set: a run that trains on dataset.limit images is judged by how well it learned the
    # distribution, not by how well it copies its subset (as ADA's paper measures limited-data runs).
    quality = from_settings(
        OmegaConf.to_container(cfg.metrics, resolve=True, enum_to_str=True),
        dataset_cfg,
        lambda: build_dataset(dataset_cfg, subset=False) if dataset_cfg.get("limit") else parts.data.data,
        device,
        init=origin_text(parts.origin),
    )
    decide_available(quality)  # what cannot be computed here is said now, not after the last step
    sampler = "ema" if parts.ema is not None else "raw"
    # The same seeded noise at every evaluation, so differences come from the generator alone.
    return lambda: quality.compute(lambda n: generate(parts.sampler, n, cfg.seed, device), sampler)

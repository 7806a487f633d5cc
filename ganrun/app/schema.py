"""The typed schema of the top-level keys (a wrong type fails at compose time) and the range checks."""

from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import OmegaConf

from ganrun.base import schedules
from ganrun.base.errors import UsageError


class OptimizerName(str, Enum):
    adam = "adam"
    rmsprop = "rmsprop"

    def __str__(self) -> str:  # what `${.name}` interpolates: optimizers.adam, not OptimizerName.adam
        return self.value


class Precision(str, Enum):
    fp32 = "fp32"
    bf16 = "bf16"


class NanPolicy(str, Enum):
    stop = "stop"
    skip = "skip"


class ResumeSchedules(str, Enum):
    follow = "follow"
    keep = "keep"


class InceptionResize(str, Enum):
    tensorflow = "tensorflow"  # TensorFlow 1's bilinear, no antialiasing: torch-fidelity's and the original FID's
    clean = "clean"  # clean-fid's: PIL's bicubic, antialiased, in float


class Dinov2Model(str, Enum):
    vits14 = "vits14"
    vitb14 = "vitb14"
    vitl14 = "vitl14"
    vitg14 = "vitg14"


@dataclass
class Dinov2Config:
    model: Dinov2Model = Dinov2Model.vitl14  # EDM2's and dgm-eval's: numbers comparable with theirs
    weights: str | None = None  # a local copy of DINOv2's weights file (offline), e.g. dinov2_vitl14_pretrain.pth


@dataclass
class OptimizerConfig:
    name: OptimizerName = OptimizerName.adam  # picks the constructor: ganrun/training/optimizers.py
    _target_: str = "ganrun.training.optimizers.${.name}"
    _partial_: bool = True  # build.py hands the parameters over
    # A number or a schedule (base/schedules.py): typed Any, and checked by check_ranges before any compute.
    lr: Any = 2e-4
    betas: list[Any] = field(default_factory=lambda: [0.5, 0.999])  # Adam only; β₂ may be a schedule


@dataclass
class OptimConfig:
    generator: OptimizerConfig = field(default_factory=OptimizerConfig)
    critic: OptimizerConfig = field(default_factory=OptimizerConfig)


@dataclass
class TrainConfig:
    steps: int = 10000  # generator updates
    batch_size: int = 64
    n_critic: int = 1  # critic updates per generator update
    nan_policy: NanPolicy = NanPolicy.stop  # a non-finite loss stops the run, or (skip) drops that update
    deterministic: bool = False  # torch.use_deterministic_algorithms: bit-exact reruns, some ops slower
    ema: float = 0.999  # decay of the generator's moving average; 0 turns it off
    ema_rampup: float | None = 0.01  # warm-up: the average's half-life is at most ema_rampup·step; 0/null: none
    ema_halflife: Any = None  # R3GAN's EMA: a half-life in images (a number or a schedule) instead of ema's decay
    precision: Precision = Precision.fp32  # bf16: autocast forward passes; penalties and reductions stay fp32
    channels_last: bool = False
    compile: bool = False  # torch.compile G and the critic's plain forward (the penalty path stays eager)
    cuda_graphs: bool = False  # replay each training step from a CUDA graph (GPU only; docs/scaling.md: CUDA graphs)
    accumulate: int = 1  # each update sums the gradients of this many chunks of the batch (docs/own_data.md)
    freeze_critic: int = 0  # FreezeD: the critic's first K blocks stay fixed (docs/own_data.md)


@dataclass
class LogConfig:
    every: int = 50  # generator steps between scalar logs
    images_every: int = 500
    num_samples: int = 64  # images in the fixed-noise grid


@dataclass
class CkptConfig:
    every: int = 1000  # generator steps between step_NNNNNNN.pt checkpoints
    keep: int | None = 5  # newest periodic checkpoints kept; null keeps all


@dataclass
class MetricsConfig:
    every: int = 0  # generator steps between evaluations; 0 = only at the end
    num_samples: int = 10000  # generated images per evaluation (real ones: as many, at most the data set)
    # Inception: fid, kid, isc, precision, recall, density, coverage; a classifier trained on the data set (offline):
    # classifier_fd, classifier_kid, classifier_precision, classifier_recall, classifier_density,
    # classifier_coverage. [] turns metrics off.
    names: list[str] = field(default_factory=lambda: ["fid", "classifier_fd"])
    # The real images' split: train (StudioGAN's, StyleGAN-ADA's) or test; or a statistics file (clean-fid's .npz,
    # EDM2's .pkl, ganrun's .npz), checked when the run starts.
    reference: str = "train"
    best: str | None = None  # the metric best.pt follows; null: the first of fid, classifier_fd, kid, … logged
    inception_weights: str | None = None  # a local copy of torch-fidelity's Inception weights (offline)
    inception_resize: InceptionResize = InceptionResize.tensorflow  # clean: clean-fid's resize in front of Inception
    dinov2: Dinov2Config = field(default_factory=Dinov2Config)  # the *_dinov2 metrics' network


@dataclass
class SearchConfig:
    # The final value an Optuna search (hydra/sweeper=optuna) optimizes, e.g. metrics/classifier_fd or loss/generator;
    # null: the metric best.pt follows. Lower is better, except IS and the classifier's precision and recall.
    objective: str | None = None


@dataclass
class InitConfig:
    path: str | None = None  # a checkpoint or run folder whose weights a new run starts from (init=PATH)
    strict: bool = True  # false: take the layers that fit, re-initialize the others
    optimizers: bool = False  # also take its optimizer states
    step: int | None = None  # filled in at the start: the step of the checkpoint it started from
    weights: str | None = None  # filled in at the start: an id of that checkpoint's weights


@dataclass
class RunConfig:
    seed: int = 0
    device: str = "auto"
    resume: str | None = None
    # A resumed run whose schedules change with its settings (train.steps that they follow): follow the new ones
    # (said in one line at the resume) or keep those it trained with.
    resume_schedules: ResumeSchedules = ResumeSchedules.follow
    init: InitConfig = field(default_factory=InitConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    log: LogConfig = field(default_factory=LogConfig)
    ckpt: CkptConfig = field(default_factory=CkptConfig)
    metrics: MetricsConfig = field(default_factory=MetricsConfig)
    search: SearchConfig = field(default_factory=SearchConfig)
    dataset: Any = None
    model: Any = None
    loss: Any = None
    regularizer: Any = None
    augment: Any = None
    logger: Any = None  # one key per chosen logger (conf/logger/); none for logger=[]


def register() -> None:
    """Make the schema available to conf/train.yaml's defaults list as `schema`."""
    ConfigStore.instance().store(name="schema", node=RunConfig)


def check_schedules(config: dict) -> None:
    """The keys typed Any because they take a schedule hold a number or a valid schedule, and no other key holds
    a schedule; one-line UsageErrors."""
    wrong = schedules.misplaced(config)
    if wrong:
        raise UsageError(f"{wrong[0]} takes no schedule; the keys that do: {', '.join(schedules.SCHEDULABLE)}")
    for key in ("optim.generator.betas", "optim.critic.betas"):
        betas = schedules.select(config, key)
        if not isinstance(betas, list) or len(betas) != 2:
            raise UsageError(f"{key}={betas} must be two numbers [β₁, β₂] (β₂ may be a schedule)")
        schedules.parse(betas[0], f"{key}.0")
    for key in schedules.SCHEDULABLE:
        schedules.parse(schedules.select(config, key), key)


def lowest(value, highest: bool = False) -> float:
    """The smallest (or largest) value a number or a schedule takes."""
    extremes = value.extremes() if isinstance(value, schedules.Schedule) else (value,)
    return max(extremes) if highest else min(extremes)


def check_ranges(cfg) -> None:
    """One-line UsageError for a value of the right type but out of its range."""
    config = OmegaConf.to_container(cfg, resolve=True)
    check_schedules(config)

    def value(key: str):
        return schedules.parse(schedules.select(config, key), key)

    halflife, augment_p = value("train.ema_halflife"), value("augment.p")
    rules = [
        ("train.steps", cfg.train.steps >= 1, ">= 1"),
        ("train.batch_size", cfg.train.batch_size >= 1, ">= 1"),
        ("train.n_critic", cfg.train.n_critic >= 1, ">= 1"),
        ("train.accumulate", cfg.train.accumulate >= 1, ">= 1"),
        ("train.freeze_critic", cfg.train.freeze_critic >= 0, ">= 0 (0: none frozen)"),
        ("log.every", cfg.log.every >= 1, ">= 1"),
        ("log.images_every", cfg.log.images_every >= 1, ">= 1"),
        ("log.num_samples", cfg.log.num_samples >= 1, ">= 1"),
        ("ckpt.every", cfg.ckpt.every >= 1, ">= 1"),
        ("ckpt.keep", cfg.ckpt.keep is None or cfg.ckpt.keep >= 1, ">= 1 or null"),
        ("train.ema", 0 <= cfg.train.ema < 1, "in [0, 1) (0 turns it off)"),
        ("train.ema_rampup", cfg.train.ema_rampup is None or cfg.train.ema_rampup >= 0, ">= 0 (0 or null: no warm-up)"),
        ("metrics.every", cfg.metrics.every >= 0, ">= 0 (0: only at the end)"),
        ("metrics.num_samples", cfg.metrics.num_samples >= 2, ">= 2"),
        ("optim.generator.lr", lowest(value("optim.generator.lr")) > 0, "> 0"),
        ("optim.critic.lr", lowest(value("optim.critic.lr")) > 0, "> 0"),
        ("train.ema_halflife", halflife is None or lowest(halflife) >= 0, ">= 0 (images) or null"),
        ("augment.p", augment_p is None or 0 <= lowest(augment_p) <= lowest(augment_p, True) <= 1, "in [0, 1]"),
    ]
    for side in ("generator", "critic"):
        for i, beta in enumerate(value(f"optim.{side}.betas.{j}") for j in (0, 1)):
            rules.append((f"optim.{side}.betas.{i}", 0 <= lowest(beta) and lowest(beta, True) < 1, "in [0, 1)"))
    names = [str(n) for n in cfg.metrics.names]
    if cfg.metrics.best is not None and cfg.metrics.best not in names:
        raise UsageError(
            f"metrics.best={cfg.metrics.best} is not one of metrics.names ({', '.join(names) or 'none'}); "
            "name a metric that is computed, or leave it null"
        )
    for key, ok, allowed in rules:
        if not ok:
            shown = schedules.select(config, key)
            raise UsageError(f"{key}={shown} is out of range: it must be {allowed}")

"""Every value a run reports, by name (as StyleGAN2-ADA's training_stats): the steps and the loop record values
under these names; the loggers, the sweep summary, a search's objective and the logging guide's table
(docs/logging.md, checked by tests/test_docs.py) read them from here."""

from dataclasses import dataclass


@dataclass(frozen=True)
class Reported:
    name: str  # the tag; a family of tags has a <placeholder>: metrics/<name>
    kind: str  # scalar | image | text
    what: str  # what it is and when it is reported


LOSS_CRITIC = "loss/critic"
LOSS_GENERATOR = "loss/generator"
CRITIC_WASSERSTEIN = "critic/wasserstein"
CRITIC_PENALTY = "critic/penalty"
CRITIC_GRAD_NORM = "critic/grad_norm"
REGULARIZER_PENALTY = "regularizer/penalty"
REGULARIZER_R1_GRAD_NORM = "regularizer/r1_grad_norm"
REGULARIZER_R2_GRAD_NORM = "regularizer/r2_grad_norm"
REGULARIZER_LECAM_ALPHA_REAL = "regularizer/lecam_alpha_real"
REGULARIZER_LECAM_ALPHA_FAKE = "regularizer/lecam_alpha_fake"
AUGMENT_RT = "augment/rt"
AUGMENT_P = "augment/p"
IT_PER_S = "perf/it_per_s"
PEAK_MEMORY = "perf/peak_memory_gb"
SKIPPED_UPDATES = "train/skipped_updates"
SAMPLES = "samples"
REAL = "real"
METRICS = "metrics/"  # + a metric's name (quality/names.py): metrics/fid, metrics/classifier_fd, …
PROTOCOL = "protocol/"  # + a metric's name: how its score was measured, beside it
SCHEDULE = "schedule/"  # + a scheduled key: its value (base/schedules.py)

REPORTED = (
    Reported(LOSS_CRITIC, "scalar", "what the critic minimizes, its penalties included (mean over the interval)"),
    Reported(LOSS_GENERATOR, "scalar", "what the generator minimizes"),
    Reported(CRITIC_WASSERSTEIN, "scalar", "E[D(x)] − E[D(G(z))], the W-losses' estimate of the distance"),
    Reported(CRITIC_PENALTY, "scalar", "the loss's own penalty, weighted (WGAN-GP, WGAN-div)"),
    Reported(CRITIC_GRAD_NORM, "scalar", "the mean norm of the critic's input gradient where the penalty takes it"),
    Reported(REGULARIZER_PENALTY, "scalar", "the regularizer's term added to the critic's loss (R1, LeCam)"),
    Reported(REGULARIZER_R1_GRAD_NORM, "scalar", "R1's mean input-gradient norm on real images"),
    Reported(REGULARIZER_R2_GRAD_NORM, "scalar", "R2's mean input-gradient norm on generated images"),
    Reported(REGULARIZER_LECAM_ALPHA_REAL, "scalar", "LeCam's moving average of the critic's real scores"),
    Reported(REGULARIZER_LECAM_ALPHA_FAKE, "scalar", "LeCam's moving average of the critic's fake scores"),
    Reported(
        AUGMENT_RT,
        "scalar",
        "E[sign(D(x_real))], the overfitting signal (bce, hinge, lsgan): near 1 when the "
        "critic has memorized the training images",
    ),
    Reported(AUGMENT_P, "scalar", "the augmentation probability (augment=diffaugment or adaptive)"),
    Reported(IT_PER_S, "scalar", "generator steps per second over the interval"),
    Reported(PEAK_MEMORY, "scalar", "the most GPU memory the run's tensors have held so far, in GB (on a GPU)"),
    Reported(SKIPPED_UPDATES, "scalar", "updates dropped for a non-finite loss so far (train.nan_policy=skip)"),
    Reported(SCHEDULE + "<key>", "scalar", "the value a scheduled key had in the last step of the interval"),
    Reported(
        METRICS + "<name>", "scalar", "each quality score of metrics.names, every metrics.every steps and at the end"
    ),
    Reported(PROTOCOL + "<name>", "text", "how the score beside it was measured"),
    Reported(
        SAMPLES,
        "image",
        "the fixed-noise grid, every log.images_every steps and at the end (a row per class for a conditional model)",
    ),
    Reported(REAL, "image", "a grid of training images, once, at step 0"),
)

# The terms a loss's critic_loss and a regularizer's critic_penalty return, by the tag each is reported as.
CRITIC_TERMS = {"wasserstein": CRITIC_WASSERSTEIN, "penalty": CRITIC_PENALTY, "grad_norm": CRITIC_GRAD_NORM}
REGULARIZER_TERMS = {
    "penalty": REGULARIZER_PENALTY,
    "r1_grad_norm": REGULARIZER_R1_GRAD_NORM,
    "r2_grad_norm": REGULARIZER_R2_GRAD_NORM,
    "lecam_alpha_real": REGULARIZER_LECAM_ALPHA_REAL,
    "lecam_alpha_fake": REGULARIZER_LECAM_ALPHA_FAKE,
}
# The final values besides metrics/<name> that a search may optimize (search.objective).
SEARCHABLE = (LOSS_CRITIC, LOSS_GENERATOR, *CRITIC_TERMS.values(), *REGULARIZER_TERMS.values(), IT_PER_S)
# Values that cannot be negative (squares, norms, speeds, counts): a confidence interval of their mean is cut at 0.
NON_NEGATIVE = (
    CRITIC_PENALTY,
    CRITIC_GRAD_NORM,
    REGULARIZER_PENALTY,
    REGULARIZER_R1_GRAD_NORM,
    REGULARIZER_R2_GRAD_NORM,
    AUGMENT_P,
    IT_PER_S,
    PEAK_MEMORY,
    SKIPPED_UPDATES,
)
# The columns of TensorBoard's HParams dashboard besides the metrics (their values come from these scalars).
HPARAM_COLUMNS = (LOSS_CRITIC, LOSS_GENERATOR, CRITIC_WASSERSTEIN, CRITIC_PENALTY)


def augment(name: str) -> str:
    """The tag of an augmentation's logged value `name` (augment/p)."""
    return f"augment/{name}"


def metric(name: str) -> str:
    """The tag of a quality metric's score (metrics/classifier_fd)."""
    return METRICS + name


def schedule(key: str) -> str:
    """The tag of a scheduled key's value (schedule/optim.critic.lr)."""
    return SCHEDULE + key

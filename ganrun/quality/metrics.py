"""Sample-quality metrics by torch-fidelity, each score with its protocol: FID, KID, IS, precision/recall, density
and coverage in Inception's features, the same (but IS) in DINOv2's and in those of a classifier trained on the data
set (offline); against real images (their statistics cached) or statistics from a file."""

import hashlib
import json
import logging
import time
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from functools import lru_cache
from pathlib import Path

import torch

from ganrun.base.errors import UsageError
from ganrun.base.streams import own_streams
from ganrun.data.labelled import LabelledSource
from ganrun.data.reading import DRAWING_KEYS, STORAGE_KEYS, SUBSET_KEYS
from ganrun.quality import classifier, dinov2, inception, resize, statistics
from ganrun.quality.inception import hub_weights_path  # noqa: F401  (part of this module's interface)
from ganrun.quality.names import CLASSIFIER, DINOV2, MEASURES, NAMES
from ganrun.quality.protocol import Protocol, Scores
from ganrun.quality.reference import seeded_subset
from ganrun.quality.spaces import (
    FEATURES,
    KID_SUBSET_SIZE,
    KID_SUBSETS,
    SEED,
    Images,
    Space,
    cache_name,
    cache_root,
    check_images,
    frechet_distance,
    real_statistics,
    settings,
    writable,
)

__all__ = ["QualityMetrics", "dataset_cache_key", "frechet_distance", "cache_root", "FEATURES", "Images"]

log = logging.getLogger("ganrun")


def dataset_cache_key(dataset_cfg: dict) -> str:
    """A readable key for a data set configuration: its loader's name and a hash of its keys (but `download`, how it is
    packed and stored (`workers`, `storage`, `readers`), how batches are drawn (`xflip`: the reference is the
    images unflipped), and `limit`: the real images of the metrics are the whole data set, whatever subset a run
    trains on)."""
    ignored = ("download", "workers", *SUBSET_KEYS, *STORAGE_KEYS, *DRAWING_KEYS)
    keys = {k: v for k, v in dict(dataset_cfg).items() if k not in ignored}
    digest = hashlib.sha256(json.dumps(keys, sort_keys=True, default=str).encode()).hexdigest()[:10]
    return f"{str(keys.get('_target_', 'data')).rsplit('.', 1)[-1]}-{digest}"


@lru_cache(maxsize=8)
def _file_id(path: str, size: int, mtime_ns: int) -> str:
    """An id of a weights file's contents: the same file on two machines has the same id."""
    return statistics.file_hash(Path(path))


def file_id(path: Path) -> str:
    stat = path.stat()
    return _file_id(str(path.resolve()), stat.st_size, stat.st_mtime_ns)


# How the user sets each choice, for messages: config keys in a run, flags in ganrun.evaluate.
CONFIG_OPTIONS = {
    "inception_weights": "metrics.inception_weights=",
    "inception_resize": "metrics.inception_resize=",
    "dinov2_model": "metrics.dinov2.model=",
    "dinov2_weights": "metrics.dinov2.weights=",
    "reference": "metrics.reference=",
    "instead_of_classifier": "for this one use metrics.names=[fid] or [fd_dinov2] (Inception's, DINOv2's features)",
}


class QualityMetrics:
    """Quality of generated images against a fixed subset of the real ones (at most `num_samples`), or against
    statistics from a file.

    Args:
        names: a subset of NAMES: fid, kid, isc, precision, recall, density, coverage (Inception), fd_dinov2,
            kid_dinov2, … (DINOv2) and classifier_fd, classifier_kid, … (a classifier trained on `labelled`).
        real_images: the reference split as uint8 N×C×H×W (on any device), or an ImageSet (a
            packed cache: only a seeded subset is ever read); None with `reference_file`.
        cache_key: names the data set configuration in the cache (see `dataset_cache_key`).
        inception_weights: a state-dict file of torch-fidelity's InceptionV3; None downloads it once.
        option: how the user sets the Inception weights file, for messages (`options` for every choice).
        labelled: the labelled data set the classifier learns from (None: the data have no labels).
        split: which split `real_images` is (train or test), keyed apart in the cache and named in the protocol.
        reference: the data set as the protocol names it (default: the cache key).
        init: where the scored generator's run started (protocol.origin_text), named in every protocol.
        inception_resize: tensorflow (torch-fidelity's) or clean (clean-fid's), in front of Inception.
        dinov2_model, dinov2_weights: DINOv2's network (vits14 … vitg14) and a local copy of its weights.
        reference_file: a statistics file (quality/statistics.py) scored against instead of `real_images`.
    """

    def __init__(
        self,
        names: Sequence[str],
        num_samples: int,
        real_images: torch.Tensor | None,
        cache_key: str,
        inception_weights: str | None = None,
        device: torch.device | str = "cpu",
        batch_size: int = 64,
        option: str = "metrics.inception_weights=",
        labelled: LabelledSource | None = None,
        split: str = "train",
        reference: str | None = None,
        init: str | None = None,
        *,
        inception_resize: str = resize.TENSORFLOW,
        dinov2_model: str = dinov2.DEFAULT,
        dinov2_weights: str | None = None,
        reference_file: str | None = None,
        options: dict | None = None,
    ):
        names = [n.strip() for n in names.split(",")] if isinstance(names, str) else [str(n) for n in names]
        unknown = sorted(set(names) - set(NAMES))
        if unknown or not names:
            raise UsageError(f"metrics.names={','.join(names) or '[]'} is not a non-empty subset of {', '.join(NAMES)}")
        if num_samples < 2:
            raise UsageError(f"metrics.num_samples={num_samples} is out of range: it must be >= 2")
        self.options = {**CONFIG_OPTIONS, "inception_weights": option, **(options or {})}
        self.names = list(dict.fromkeys(names))
        self.num_samples, self.batch_size, self.device = num_samples, batch_size, torch.device(device)
        self.inception_weights = Path(inception_weights).expanduser() if inception_weights else None
        self.dinov2_weights = Path(dinov2_weights).expanduser() if dinov2_weights else None
        self.dinov2 = dinov2.model_of(dinov2_model, self.options["dinov2_model"])
        self.inception_resize = resize.check(inception_resize, self.options["inception_resize"])
        self.option, self.labelled, self.init = option, labelled, init
        self.classifier_record, self.classifier_path = None, None  # set when the classifier is loaded
        self.classifier_training_s = 0.0  # spent training the data set's classifier in this process (cached after)
        if self.inception_weights is not None:
            inception.check_weights_file(self.inception_weights, option)
        if self.dinov2_weights is not None:
            dinov2.check_weights_file(self.dinov2_weights, self.dinov2, self.options["dinov2_weights"])
        spaces = [
            Space(
                inception.EXTRACTOR,
                {n: FEATURES[n] for n in self.names if n in FEATURES},
                self._inception,
                self.inception_resize,
            ),
            Space(
                f"dinov2-{self.dinov2.name}",
                {n: dinov2.FEATURES for n in self.names if n in DINOV2},
                self._dinov2,
                statistics.DINOV2_RESIZE,
            ),
            Space(
                classifier.EXTRACTOR,
                {n: classifier.FEATURES for n in self.names if n in CLASSIFIER},
                self._classifier,
                "classifier",
            ),
        ]
        self.spaces = [space for space in spaces if space.layers]
        self.file = (
            statistics.read(Path(reference_file).expanduser(), self.options["reference"]) if reference_file else None
        )
        if self.file is None:
            self._real_images(real_images, cache_key, split, reference)
        else:
            self.real, self.split, self.reference, self.cache = None, "file", self.file.describe(), False
            self.kid_subset_size = min(KID_SUBSET_SIZE, num_samples)
            for space in self.spaces:  # a file that does not fit the scores is refused now, in one line
                self.check_file(space, weights=None)

    def _real_images(self, real_images, cache_key: str, split: str, reference: str | None) -> None:
        # A seeded random subset, so the statistics cover every class of a data set stored class by class.
        self.real = seeded_subset(real_images, self.num_samples, SEED)
        check_images(self.real, "real_images")
        count = len(self.real)
        self.kid_subset_size = min(KID_SUBSET_SIZE, self.num_samples, count)
        if any(MEASURES[n] == "kid" for n in self.names) and self.kid_subset_size < KID_SUBSET_SIZE:
            log.info(
                "KID subset size %d instead of %d: there are only %d generated and %d real images",
                self.kid_subset_size,
                KID_SUBSET_SIZE,
                self.num_samples,
                count,
            )
        self.split, self.reference = split, reference or cache_key
        self.cache_key = f"{cache_key}-{split}"  # a test split's statistics never stand in for the train split's
        self.cache = writable(cache_root())
        if not self.cache:
            log.warning(
                "not caching real-image statistics: cannot write %s; set GANRUN_CACHE=<writable folder> "
                "to compute them once instead of at every evaluation",
                cache_root(),
            )

    @property
    def enabled(self) -> bool:
        """False once every requested metric proved impossible here (no weights, no labels)."""
        return any(space.enabled for space in self.spaces)

    def _inception(self) -> tuple[torch.nn.Module, str]:
        """torch-fidelity's InceptionV3, and an id of its weights file."""
        path = inception.weights_path(self.inception_weights, self.option)
        layers = list(dict.fromkeys(FEATURES[name] for name in self.names if name in FEATURES))
        network = inception.build(path, layers, self.option, self.inception_resize)
        return network.to(self.device), file_id(path)

    def _dinov2(self) -> tuple[torch.nn.Module, str]:
        """DINOv2's network as a torch-fidelity feature extractor, and an id of its weights file."""
        option = self.options["dinov2_weights"]
        path = dinov2.weights_path(self.dinov2_weights, self.dinov2, option)
        return dinov2.extractor(path, self.dinov2, option, self.device), file_id(path)

    def _classifier(self) -> tuple[torch.nn.Module, str]:
        """The data set's classifier as a torch-fidelity feature extractor (trained first if not cached), its id."""
        cached = self.labelled is None or classifier.is_trained(self.labelled)
        started = time.perf_counter()
        self.classifier_path, self.classifier_record = classifier.classifier_for(
            self.labelled, self.device, instead=self.options["instead_of_classifier"]
        )
        if not cached:  # trained here, once, for every later run: a run's own time is told apart from it
            self.classifier_training_s += time.perf_counter() - started
        return classifier.feature_extractor(self.classifier_path, self.device), self.classifier_record["id"]

    def prepare(self) -> None:
        """Build every feature extractor now; the first that cannot be had raises its UsageError."""
        for space in self.spaces:
            space.extractor, space.weights_id = space.load()
            if self.file is not None:
                self.check_file(space, space.weights_id)

    def check_file(self, space: Space, weights: str | None) -> dict[str, statistics.Entry]:
        """The reference file's statistics of each of `space`'s layers, checked to fit (UsageError if not)."""
        entries = {}
        for layer in space.real_layers():
            needs = [n for n, lay in space.layers.items() if lay == layer and MEASURES[n] not in ("fd", "isc")]
            name = space.name(layer)
            entries[name] = statistics.entry_for(
                self.file, name, space.resize, weights, needs, self.options["reference"]
            )
        return entries

    def compute(
        self, generate: Callable[[int], torch.Tensor], generator: str = "unknown", truncation: float | None = None
    ) -> Scores:
        """Scores {"metrics/<name>": value} of `generate(num_samples)`'s images with their protocols (`generator`
        says what made them: ema, raw, held-out real); empty once no metric can be had."""
        # Streams of their own: building a feature extractor runs it on random input, torch's DataLoader draws a
        # seed, and training must not notice the metrics (a resumed run would otherwise diverge from an
        # uninterrupted one). torch.cuda.device: torch-fidelity moves batches to the current GPU.
        cuda = self.device.type == "cuda"
        with own_streams(), torch.cuda.device(self.device) if cuda else nullcontext():
            spaces = [space for space in self.spaces if space.ready()]
            if not spaces:
                return Scores()
            fake = generate(self.num_samples)
            check_images(fake, "generated images")
            values, protocols = {}, {}
            for space in spaces:
                options = self._options(space, fake, cuda)
                real = self._real(space, options)
                if real is None:
                    continue
                measured = space.measure(options, lambda layer, real=real, space=space: real[space.name(layer)])
                values.update(measured)
                protocols.update(
                    {name: self._protocol(name, space, fake, options, generator, truncation, real) for name in measured}
                )
        kept = [name for name in self.names if name in values]
        return Scores(
            {f"metrics/{name}": float(values[name]) for name in kept}, {name: protocols[name] for name in kept}
        )

    def real_entries(self, space: Space) -> dict[str, statistics.Entry]:
        """The real images' statistics and features in `space` (built): from the cache, computed on a miss."""
        cuda = self.device.type == "cuda"
        with own_streams(), torch.cuda.device(self.device) if cuda else nullcontext():
            return self._real(space, self._options(space, self.real[:2], cuda))

    def _real(self, space: Space, options: dict) -> dict[str, statistics.Entry] | None:
        """The real statistics of `space`: from the reference file, else from the cache (computed on a miss)."""
        if self.file is None:
            path = cache_root() / f"{options['input2_cache_name']}.npz" if self.cache else None
            about = {"reference": self.reference, "split": self.split}
            return real_statistics(space, options, path, about)
        try:
            return self.check_file(space, space.weights_id)
        except UsageError as exc:  # e.g. the classifier trained here is not the one the file was made with
            space.off(str(exc))
            return None

    def _options(self, space: Space, fake: torch.Tensor, cuda: bool) -> dict:
        """torch-fidelity's keyword arguments for measuring `fake` in `space`."""
        real = self.real if self.real is not None else fake[:0].cpu()
        key = self.cache_key if self.file is None else "file"
        return dict(
            input1=Images(fake.cpu()),
            input2=Images(real),
            cuda=cuda,
            input2_cache_name=cache_name(f"{key}-{space.resize}", real, space.weights_id),
            cache=False,
            batch_size=self.batch_size,
            kid_subset_size=min(self.kid_subset_size, len(fake)),
            kid_subsets=KID_SUBSETS,
            isc_splits=min(10, len(fake)),
            rng_seed=SEED,
            save_cpu_ram=True,
            verbose=False,
        )  # save_cpu_ram: no DataLoader worker processes

    def _protocol(
        self,
        name: str,
        space: Space,
        fake: torch.Tensor,
        options: dict,
        generator: str,
        truncation: float | None,
        real: dict[str, statistics.Entry],
    ) -> dict:
        """How the score `name` of `fake` was measured in `space` (without the step, which the caller knows)."""
        entry = real[space.name(space.layers[name])] if name in space.layers and MEASURES[name] != "isc" else None
        images = entry.about.get("images") if entry is not None else None
        return Protocol(
            metric=name,
            reference=self.reference,
            split=self.split,
            real_images=len(self.real) if self.real is not None else images,
            generated_images=len(fake),
            generator=generator,
            truncation=truncation,
            features=space.name(space.layers[name]),
            weights=str(space.weights_id),
            resize=self._resize(space, fake),
            settings=settings(MEASURES[name], options),
            init=self.init if generator in ("ema", "raw") else None,  # held-out real images started nowhere
        ).to_dict()

    def _resize(self, space: Space, fake: torch.Tensor) -> str:
        """How images of fake's size reach the space's network."""
        height, width = fake.shape[-2:]
        gray = ", gray copied to RGB" if fake.shape[1] == 1 else ""
        if space.kind == inception.EXTRACTOR:
            side = inception.input_size()
            return f"{height}×{width} → {side}×{side}, {resize.DESCRIBED[self.inception_resize]}{gray}"
        if space.kind.startswith("dinov2"):
            side = dinov2.SIDE
            return f"{height}×{width} → {side}×{side}, bicubic, antialiased, float (EDM2's){gray}"
        side = (self.classifier_record or {}).get("image_size", height)
        return "none" if (height, width) == (side, side) else f"{height}×{width} → {side}×{side}, bilinear, antialiased"

"""`logger=mlflow`: one MLflow run per ganrun run, in a local store under the run's outputs (a sweep's: in its sweep
folder) or on a tracking server (`logger.mlflow.tracking_uri`). A sweep is a parent run with one child per job; a
resumed run continues the same MLflow run, whose id is kept in trackers.json."""

import logging
import os
import socket
import time
from pathlib import Path

# A tracking server that goes away must cost training seconds, not the minutes of MLflow's default retries; the
# retries' jitter would draw from Python's global random stream, which training uses. A user's own settings win.
for _name, _value in [
    ("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2"),
    ("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "1"),
    ("MLFLOW_HTTP_REQUEST_BACKOFF_JITTER", "0"),
    ("MLFLOW_HTTP_REQUEST_TIMEOUT", "20"),
]:
    os.environ.setdefault(_name, _value)

from mlflow.entities import Metric, Param  # noqa: E402  (after the settings above)
from mlflow.exceptions import MlflowException  # noqa: E402
from mlflow.tracking import MlflowClient  # noqa: E402

from ganrun.runstate.loggers.grids import grid_pixels  # noqa: E402
from ganrun.runstate.loggers.run import RunInfo  # noqa: E402
from ganrun.runstate.loggers.sweep import read_shared, sweep_lock, write_shared  # noqa: E402
from ganrun.runstate.loggers.tracking import TrackerRecord  # noqa: E402

log = logging.getLogger("ganrun")
# A new local store announces its tables in two INFO lines on stderr, where ganrun says only what went wrong.
logging.getLogger("mlflow.store.db.utils").setLevel(logging.WARNING)

BATCH = 100  # params per log_batch call, MLflow's limit
STATUS = {"completed": "FINISHED", "preempted": "KILLED", "failed": "FAILED"}


def local_store(folder: Path) -> tuple[str, str]:
    """The tracking URI and artifact location of a local store in `folder` (a SQLite file and a folder beside it)."""
    folder = Path(folder).absolute()
    return f"sqlite:///{folder / 'mlflow.db'}", (folder / "mlartifacts").as_uri()


def flat_params(config: dict, prefix: str = "") -> dict[str, str]:
    """A nested config as MLflow params: dotted keys, values as text (cut to 500 characters)."""
    params = {}
    for key, value in config.items():
        if isinstance(value, dict):
            params.update(flat_params(value, f"{prefix}{key}."))
        else:
            params[f"{prefix}{key}"] = str(value)[:500]
    return params


def find_experiment(client: MlflowClient, name: str, artifacts: str | None) -> str:
    """The id of the experiment `name`, created when missing (by another process at the same time, too)."""
    for _ in range(2):
        if (found := client.get_experiment_by_name(name)) is not None:
            return found.experiment_id
        try:
            return client.create_experiment(name, artifact_location=artifacts)
        except MlflowException:
            continue  # another run created it meanwhile
    raise MlflowException(f"cannot create or find the MLflow experiment {name}")


def sweep_parent(client: MlflowClient, uri: str, experiment: str, run: RunInfo) -> str:
    """The run that stands for the sweep: created by its first job, read from the sweep folder by the others."""
    shared = read_shared(run.sweep_dir, "mlflow")
    if shared and shared.get("tracking_uri") == uri:
        return shared["run_id"]
    parent = client.create_run(
        experiment, run_name=run.sweep_name, tags={"ganrun.sweep_dir": str(Path(run.sweep_dir).absolute())}
    )
    write_shared(run.sweep_dir, "mlflow", {"tracking_uri": uri, "run_id": parent.info.run_id})
    return parent.info.run_id


TAG_CHARS = 8000  # the longest tag value MLflow stores


class MLflowLogger:
    tracker = True  # a failure warns once and training goes on (many.py)

    def __init__(self, run: RunInfo, tracking_uri: str | None = None, experiment: str = "ganrun"):
        uri, artifacts = (tracking_uri, None) if tracking_uri else local_store(run.sweep_dir or run.run_dir)
        self.record = TrackerRecord(run.run_dir, "mlflow")
        with sweep_lock(run.sweep_dir):  # the first job of a sweep alone creates its store and its parent run
            self.client = MlflowClient(uri)
            experiment_id = find_experiment(self.client, experiment, artifacts)
            parent = sweep_parent(self.client, uri, experiment_id, run) if run.sweep_dir else None
        self.run_id = self._continue(uri) or self._create(run, experiment_id, parent)
        self.record.start(tracking_uri=uri, run_id=self.run_id)
        self._log_params(run)
        log.info("MLflow run %s (%s) in %s", run.name, self.run_id, uri)

    def _continue(self, uri: str) -> str | None:
        """The MLflow run of this run folder, running again; None when it has none in this store."""
        if self.record.fields.get("tracking_uri") != uri or not self.record.fields.get("run_id"):
            return None
        try:
            self.client.update_run(self.record.fields["run_id"], status="RUNNING")
        except MlflowException:  # deleted, or another store of the same URI
            return None
        return self.record.fields["run_id"]

    def _create(self, run: RunInfo, experiment: str, parent: str | None) -> str:
        folder = str(Path(run.run_dir).absolute())
        tags = {
            "ganrun.run_dir": folder,
            "ganrun.host": socket.gethostname(),
            "mlflow.note.content": f"ganrun run folder: {folder}",
        }
        if parent:
            tags["mlflow.parentRunId"] = parent
        return self.client.create_run(experiment, run_name=run.name, tags=tags).info.run_id

    def _log_params(self, run: RunInfo) -> None:
        """The group choices and the resolved config; MLflow cannot change a param, so a resumed run adds new ones."""
        params = {**{k: str(v) for k, v in run.hparams.items()}, **flat_params(run.config)}
        known = self.client.get_run(self.run_id).data.params
        new = [Param(key, value) for key, value in params.items() if key not in known]
        for start in range(0, len(new), BATCH):
            self.client.log_batch(self.run_id, params=new[start : start + BATCH])

    def scalars(self, values: dict[str, float], step: int) -> None:
        if unsent := self.record.unsent(values, step):
            now = int(time.time() * 1000)
            self.client.log_batch(self.run_id, metrics=[Metric(k, float(v), now, step) for k, v in unsent.items()])
            self.record.mark_sent(unsent, step)

    def images(self, tag: str, images, step: int, nrow: int | None = None) -> None:
        if self.record.unsent({tag: None}, step):
            self.client.log_image(self.run_id, grid_pixels(images, nrow), key=tag, step=step)
            self.record.mark_sent([tag], step)

    def text(self, tag: str, text: str, step: int) -> None:
        """A text (how a score was measured) as a tag of the run, replaced by each newer one."""
        self.client.set_tag(self.run_id, tag, text[:TAG_CHARS])

    def flush(self) -> None:
        """Every call has reached the store when it returns."""

    def close(self, outcome: str = "completed", final: dict | None = None) -> None:
        """End the MLflow run as the ganrun run ended: FINISHED, KILLED (preempted, to be resumed) or FAILED."""
        self.client.set_terminated(self.run_id, STATUS[outcome])


def close_sweep(sweep_dir: Path, failed: bool) -> None:
    """End the sweep's parent run when the sweep ends (a Hydra callback): FAILED when a job failed."""
    shared = read_shared(sweep_dir, "mlflow")
    if shared:
        MlflowClient(shared["tracking_uri"]).set_terminated(shared["run_id"], "FAILED" if failed else "FINISHED")

"""The `logger` group through the real CLI, read back with each tracker's own tools: a real MLflow server on
127.0.0.1, W&B's offline run files read by wandb's own reader, metrics.csv parsed back. No mocks."""

import csv
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest
import torch
from mlflow.tracking import MlflowClient

from helpers.cli import FAST, assert_user_error, ganrun
from helpers.events import read_image_tags, read_scalars

# Real trackers and a real MLflow server: slow, and on one xdist worker, so that one server serves the module.
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("loggers")]

EVERY = ["loss/critic", "loss/generator", "critic/wasserstein", "critic/penalty", "critic/grad_norm", "perf/it_per_s"]


def common(data) -> list[str]:
    return [
        "dataset=mnist",
        f"dataset.root={data}",
        "dataset.download=false",
        *FAST,
        "log.every=2",
        "log.images_every=2",
        "ckpt.every=4",
    ]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    from helpers.tiny_data import write_mnist

    return write_mnist(tmp_path_factory.mktemp("loggers-data") / "mnist")


@pytest.fixture(scope="module")
def mlflow_server(tmp_path_factory):
    """A real MLflow tracking server on 127.0.0.1 with a SQLite backend, killed (with its workers) after the module.
    It binds a port of the kernel's choosing (--port 0) and the fixture reads which from the server's own log."""
    folder = tmp_path_factory.mktemp("mlflow-server")
    log = folder / "server.log"
    with open(log, "w") as server_log:
        server = subprocess.Popen(
            [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", f"sqlite:///{folder}/store.db",
             "--default-artifact-root", str(folder / "artifacts"), "--host", "127.0.0.1", "--port", "0",
             "--workers", "1"],
            stdout=server_log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 240
        while not (bound := re.search(r"running on (http://127\.0\.0\.1:\d+)", log.read_text())):
            assert server.poll() is None, log.read_text()
            assert time.monotonic() < deadline, "the MLflow server did not bind a port in 240 s"
            time.sleep(0.2)
        uri = bound.group(1)
        while True:
            assert server.poll() is None, log.read_text()
            assert time.monotonic() < deadline, "the MLflow server did not answer in 240 s"
            try:
                with urllib.request.urlopen(f"{uri}/health", timeout=2) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                time.sleep(0.5)
        yield uri
    finally:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait()


def wandb_segments(run_dir: Path) -> list[list[dict]]:
    """Every offline W&B run file in the run folder (one per process that logged to it), oldest first, as the
    records wandb's own reader (`wandb leet inspect --json`) prints."""
    segments = []
    for folder in sorted((run_dir / "wandb").glob("offline-run-*")):
        shown = subprocess.run(
            [sys.executable, "-m", "wandb", "leet", "inspect", "--json", str(folder)],
            capture_output=True,
            text=True,
            check=True,
            timeout=120,
        )
        segments.append([json.loads(line) for line in shown.stdout.splitlines() if line.strip()])
    return segments


def history(records: list[dict]) -> list[tuple[int, dict]]:
    return [(r["history"]["step"].get("num", 0), r["history"]["item"]) for r in records if r["type"] == "history"]


@pytest.fixture(scope="module")
def resumed(tmp_path_factory, data, mlflow_server):
    """A run to step 6 with all four loggers (MLflow on the server), then resumed from its checkpoint at step 4 to
    step 8, as a run that died after that checkpoint is: every logger has seen steps 5 and 6 once already."""
    folder = tmp_path_factory.mktemp("loggers")
    first = ganrun(
        *common(data),
        "train.steps=6",
        "logger=[tensorboard,csv,wandb,mlflow]",
        f"logger.mlflow.tracking_uri={mlflow_server}",
        "hydra.run.dir=run",
        cwd=folder,
    )
    assert first.returncode == 0, first.stderr
    second = ganrun(f"resume={folder}/run/checkpoints/step_0000004.pt", "train.steps=8", cwd=folder)
    assert second.returncode == 0, second.stderr
    return folder / "run", first, second


def test_mlflow_has_every_scalar_at_its_steps_once_params_grids_and_the_run_folder(resumed, mlflow_server):
    run_dir, _, _ = resumed
    client = MlflowClient(mlflow_server)
    runs = client.search_runs([client.get_experiment_by_name("ganrun").experiment_id])
    assert len(runs) == 1  # the resumed process continued the same MLflow run
    run = runs[0]
    assert json.loads((run_dir / "trackers.json").read_text())["mlflow"]["run_id"] == run.info.run_id
    for tag in EVERY:
        assert [m.step for m in client.get_metric_history(run.info.run_id, tag)] == [2, 4, 6, 8], tag
    params = run.data.params
    assert params["loss"] == "wgan_gp" and params["model"] == "dcgan28"  # group choices
    assert params["model.hidden"] == "8" and params["train.steps"] == "6"  # the config (a param cannot change)
    assert run.data.tags["ganrun.run_dir"] == str(run_dir)
    assert run.info.status == "FINISHED"
    images = [a.path for a in client.list_artifacts(run.info.run_id, "images")]
    for tag, step in [("real", 0), ("samples", 2), ("samples", 4), ("samples", 6), ("samples", 8)]:
        assert sum(p.startswith(f"images/{tag}+step+{step}+") and p.endswith(".png") for p in images) == 1, images


def test_wandb_offline_run_is_continued_by_its_id_with_each_step_once(resumed):
    run_dir, first, _ = resumed
    run_id = json.loads((run_dir / "trackers.json").read_text())["wandb"]["id"]
    said = first.stdout + first.stderr
    assert "W&B is offline" in said and f"wandb sync {run_dir}/wandb/offline-run-*-{run_id}" in said
    segments = wandb_segments(run_dir)
    assert len(segments) == 2  # the first process's and the resumed one's, to be synced as one run
    for records in segments:
        (record,) = [r["run"] for r in records if r["type"] == "run"]
        assert record["run_id"] == run_id and record["project"] == "ganrun"
    rows = [row for records in segments for row in history(records)]
    assert [step for step, _ in rows] == [0, 2, 4, 6, 8]
    for step, item in rows[1:]:
        assert set(EVERY) <= set(item) and item["samples._type"] == "image-file", (step, item)
    assert rows[0][1]["real._type"] == "image-file"
    config = {
        k: v for records in segments for r in records if r["type"] == "config" for k, v in r["config"]["update"].items()
    }
    assert config["run_dir"] == str(run_dir)
    assert config["hparams"]["loss"] == "wgan_gp" and config["model"]["hidden"] == 8


def test_csv_has_one_row_per_step_and_drops_what_came_after_the_checkpoint(resumed):
    run_dir, _, _ = resumed
    rows = list(csv.DictReader((run_dir / "metrics.csv").open()))
    assert [int(row["step"]) for row in rows] == [2, 4, 6, 8]
    assert set(EVERY) <= set(rows[0])
    tensorboard = read_scalars(run_dir)
    for tag in EVERY:  # the resumed run's step 6, as TensorBoard shows it after its purge (in float32)
        assert [float(row[tag]) for row in rows] == pytest.approx([v for _, v in tensorboard[tag]], rel=1e-6), tag


def test_tensorboard_is_unchanged_beside_the_others(resumed):
    run_dir, _, _ = resumed
    assert [step for step, _ in read_scalars(run_dir)["loss/generator"]] == [2, 4, 6, 8]
    assert {"samples", "real"} <= set(read_image_tags(run_dir))


def test_what_is_logged_never_changes_what_is_trained(resumed, data, tmp_path):
    run_dir, _, _ = resumed
    plain = ganrun(*common(data), "train.steps=8", "hydra.run.dir=plain", cwd=tmp_path)  # TensorBoard alone
    assert plain.returncode == 0, plain.stderr
    for name in ["step_0000004.pt", "step_0000008.pt"]:  # before and after the resume
        logged = torch.load(run_dir / "checkpoints" / name, weights_only=True)
        alone = torch.load(tmp_path / "plain" / "checkpoints" / name, weights_only=True)
        for part in ["generator", "critic", "ema", "opt_g", "opt_d", "rng"]:
            torch.testing.assert_close(logged[part], alone[part], rtol=0, atol=0, msg=f"{name}: {part}")


def without(package: str, tmp_path: Path) -> dict:
    """The environment of a machine where `package` is not installed: a module on PYTHONPATH that fails as a
    missing one does."""
    shim = tmp_path / "shim"
    shim.mkdir()
    (shim / f"{package}.py").write_text(f'raise ModuleNotFoundError("No module named {package!r}", name={package!r})\n')
    return {"PYTHONPATH": os.pathsep.join([str(shim), os.environ.get("PYTHONPATH", "")])}


def missing_line(package: str) -> str:
    return f'Error: logger={package} needs the package {package}, which is not installed: pip install -e ".[loggers]"\n'


@pytest.mark.parametrize("package", ["wandb", "mlflow"])
def test_a_logger_whose_package_is_missing_is_one_line_before_any_training(tmp_path, data, package):
    result = ganrun(
        *common(data),
        "train.steps=2",
        f"logger=[tensorboard,{package}]",
        "hydra.run.dir=run",
        cwd=tmp_path,
        env=without(package, tmp_path),
    )
    assert_user_error(result)
    assert result.returncode == 2 and result.stderr == missing_line(package)
    run_dir = tmp_path / "run"
    assert not list(run_dir.glob("events.out.tfevents.*")) and not (run_dir / "checkpoints").exists()


def test_a_sweep_with_a_missing_logger_package_stops_before_its_first_job(tmp_path, data):
    result = ganrun(
        "-m",
        *common(data),
        "train.steps=2",
        "logger=wandb",
        "seed=0,1",
        "hydra.sweep.dir=sweep",
        cwd=tmp_path,
        env=without("wandb", tmp_path),
    )
    assert result.returncode == 2 and result.stderr.endswith(missing_line("wandb"))
    assert not any(p.is_dir() for p in (tmp_path / "sweep").glob("*"))


class Proxy:
    """A TCP forwarder to the tracking server, which the test can take away mid-run: to the run, the server is
    gone (connections refused)."""

    def __init__(self, target_port: int):
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port, self.target, self.open, self.gone = self.listener.getsockname()[1], target_port, [], False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return  # taken away
            if self.gone:  # accepted in the instant it was taken away
                client.close()
                return
            server = socket.create_connection(("127.0.0.1", self.target))
            self.open += [client, server]
            for a, b in [(client, server), (server, client)]:
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        try:
            while chunk := source.recv(65536):
                sink.sendall(chunk)
        except OSError:
            pass
        finally:
            sink.close()

    def take_away(self) -> None:
        # close() alone does not wake a thread blocked in accept() on Linux: that accept would still take the
        # run's next connection and forward it, and the server would never go away. shutdown() wakes it.
        self.gone = True
        try:
            self.listener.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.listener.close()
        for connection in self.open:
            connection.close()


def test_a_tracking_server_that_goes_away_mid_run_is_one_warning_and_training_completes(tmp_path, data, mlflow_server):
    proxy = Proxy(int(mlflow_server.rsplit(":", 1)[1]))
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "ganrun",
            *common(data),
            "train.steps=16",
            "log.every=1",
            "logger=[tensorboard,mlflow]",
            f"logger.mlflow.tracking_uri=http://127.0.0.1:{proxy.port}",
            "logger.mlflow.experiment=goes_away",
            "hydra.run.dir=run",
        ],
        cwd=tmp_path,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env={**os.environ, "GANRUN_CACHE": str(tmp_path / ".cache")},
    )
    try:
        deadline = time.monotonic() + 240
        while True:  # until MLflow has the run's first steps
            assert process.poll() is None and time.monotonic() < deadline, process.communicate()
            sent = (
                json.loads((tmp_path / "run" / "trackers.json").read_text()).get("mlflow", {}).get("sent", {})
                if (tmp_path / "run" / "trackers.json").is_file()
                else {}
            )
            if sent.get("loss/generator", 0) >= 2:
                break
            time.sleep(0.02)
        proxy.take_away()
        output, _ = process.communicate(timeout=300)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, output
    warnings = [line for line in output.splitlines() if "logger mlflow stopped at step" in line]
    assert len(warnings) == 1, output
    assert "training goes on without it: what it misses is in tensorboard" in warnings[0]
    assert json.loads((tmp_path / "run" / "status.json").read_text())["status"] == "completed"
    assert [step for step, _ in read_scalars(tmp_path / "run")["loss/generator"]] == list(range(1, 17))
    client = MlflowClient(mlflow_server)
    (run,) = client.search_runs([client.get_experiment_by_name("goes_away").experiment_id])
    steps = [m.step for m in client.get_metric_history(run.info.run_id, "loss/generator")]
    assert steps[:2] == [1, 2] and steps[-1] < 16  # what MLflow got before the server went away


def test_a_sweep_is_one_wandb_group_and_an_mlflow_parent_with_a_child_per_job(tmp_path, data):
    result = ganrun(
        "-m",
        *common(data),
        "train.steps=2",
        "logger=[csv,wandb,mlflow]",
        "seed=0,1",
        "hydra.sweep.dir=sweeps/lambda",
        cwd=tmp_path,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    sweep = tmp_path / "sweeps" / "lambda"
    jobs = [sweep / "0_seed=0", sweep / "1_seed=1"]
    for job in jobs:
        (run,) = [r["run"] for records in wandb_segments(job) for r in records if r["type"] == "run"]
        assert run["run_group"] == "sweeps/lambda" and run["display_name"] == job.name
    # The local store of a sweep is in its folder: one parent run, finished, and a child per job.
    client = MlflowClient(f"sqlite:///{sweep / 'mlflow.db'}")
    runs = client.search_runs([client.get_experiment_by_name("ganrun").experiment_id])
    (parent,) = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    assert parent.info.status == "FINISHED" and parent.info.run_name == "sweeps/lambda"
    assert sorted(r.data.tags["ganrun.run_dir"] for r in children) == [str(job) for job in jobs]
    # The sweep summary reads metrics.csv where there is no TensorBoard.
    rows = list(csv.DictReader((sweep / "summary.csv").open()))
    assert [row["status"] for row in rows] == ["completed", "completed"] and all(row["loss/generator"] for row in rows)
    assert (sweep / "summary_curves.png").is_file()

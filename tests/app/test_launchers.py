"""SLURM and local parallel sweeps (hydra-submitit-launcher): the presets compose, real submitit_local sweeps
train, a preempted job is requeued into its own folder and resumes, and a missing launcher is a one-line hint."""

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra_plugins.hydra_submitit_launcher.config import LocalQueueConf, SlurmQueueConf
from omegaconf import OmegaConf
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from ganrun.app import launchers, resolvers, schema
from ganrun.base.errors import UsageError
from helpers.cli import REPO, ganrun, on_tiny_mnist

# One torch thread per job: the jobs of a local sweep run side by side on a CPU with few cores.
ENV = {"OMP_NUM_THREADS": "1"}
HINT = 'needs the submitit launcher: pip install -e ".[slurm]"'


def data_args(tiny_mnist) -> list[str]:
    return on_tiny_mnist(tiny_mnist)


def job_folders(sweep: Path) -> list[Path]:
    """The sweep's job folders (each has its own status.json); submitit's .submitit/ folder is not one."""
    return sorted(p.parent for p in sweep.glob("*/status.json"))


def hydra_config(*overrides: str):
    """The composed config with its `hydra` node, as `--cfg hydra` would print it."""
    schema.register()
    resolvers.register_resolvers()
    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        return compose(config_name="train", overrides=list(overrides), return_hydra_config=True)


# ---------------------------------------------------------------- presets compose


@pytest.mark.slow
def test_slurm_preset_via_cli_shows_plugin_target_ganrun_values_and_user_override(tmp_path):
    result = ganrun("--cfg", "hydra", "hydra/launcher=slurm", "hydra.launcher.partition=gpu", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    launcher = OmegaConf.create(result.stdout).hydra.launcher
    assert launcher._target_ == "hydra_plugins.hydra_submitit_launcher.submitit_launcher.SlurmLauncher"
    assert launcher.partition == "gpu"
    assert (launcher.gpus_per_node, launcher.tasks_per_node, launcher.cpus_per_task) == (1, 1, 8)
    assert (launcher.timeout_min, launcher.max_num_timeout, launcher.mem_gb) == (240, 3, 32)
    assert OmegaConf.to_container(launcher)["submitit_folder"] == "${hydra.sweep.dir}/.submitit/%j"
    assert not (tmp_path / "outputs").exists()


def test_slurm_preset_changes_only_ganrun_keys_of_the_plugin_schema():
    plugin = OmegaConf.to_container(OmegaConf.structured(SlurmQueueConf))
    ours = OmegaConf.to_container(hydra_config("hydra/launcher=slurm").hydra.launcher)
    assert set(ours) == set(plugin)
    changed = {k for k in plugin if ours[k] != plugin[k]}
    assert changed == {"gpus_per_node", "cpus_per_task", "mem_gb", "timeout_min", "max_num_timeout"}
    # Still the plugin's typed schema: a wrong type fails at compose time, an unknown key too.
    with pytest.raises(Exception, match="gpus_per_node"):
        hydra_config("hydra/launcher=slurm", "hydra.launcher.gpus_per_node=two")
    with pytest.raises(Exception, match="partitionn"):
        hydra_config("hydra/launcher=slurm", "hydra.launcher.partitionn=gpu")


@pytest.mark.parametrize("name,schema", [("submitit_slurm", SlurmQueueConf), ("submitit_local", LocalQueueConf)])
def test_plugin_names_compose_unchanged(name, schema):
    launcher = hydra_config(f"hydra/launcher={name}").hydra.launcher
    assert OmegaConf.to_container(launcher) == OmegaConf.to_container(OmegaConf.structured(schema))


def executor_built_by_the_plugin(cfg, monkeypatch):
    """The submitit executor that the plugin's own launch() builds from `cfg` (stopped before it submits)."""
    import submitit
    from hydra.utils import instantiate
    from submitit.slurm.slurm import SlurmExecutor

    built = []

    class Stop(Exception):
        pass

    def stop_at_submission(executor, *args):
        built.append(executor)
        raise Stop

    monkeypatch.setattr(SlurmExecutor, "affinity", classmethod(lambda cls: 2))  # no srun here: pretend a cluster
    monkeypatch.setattr(submitit.AutoExecutor, "map_array", stop_at_submission)
    launcher = instantiate(cfg.hydra.launcher)
    launcher.config = cfg
    with pytest.raises(Stop):
        launcher.launch([["loss.lambda_gp=1"], ["loss.lambda_gp=10"]], initial_job_idx=0)
    return built[0]


def test_slurm_preset_becomes_this_sbatch_script(monkeypatch, tmp_path):
    cfg = hydra_config("hydra/launcher=slurm", "hydra.launcher.partition=gpu", f"hydra.sweep.dir={tmp_path}")
    executor = executor_built_by_the_plugin(cfg, monkeypatch)
    assert executor.cluster == "slurm" and executor._executor.max_num_timeout == 3
    script = executor._executor._make_submission_file_text("python -u -m submitit.core._submit FOLDER", "uid")
    for line in [
        "--partition=gpu",
        "--gpus-per-node=1",
        "--ntasks-per-node=1",
        "--cpus-per-task=8",
        "--mem=32GB",
        "--time=240",
        "--signal=USR2@120",
        "--job-name=ganrun",
        f"--output={tmp_path}/.submitit/%j/",
    ]:
        assert f"#SBATCH {line}" in script, script
    assert "export SUBMITIT_EXECUTOR=slurm" in script  # what makes ganrun resume from the job's own last.pt


def test_local_preset_has_the_plugin_keys_and_hands_max_num_timeout_to_submitit(monkeypatch, tmp_path):
    cfg = hydra_config("hydra/launcher=local", "hydra.launcher.max_num_timeout=5", f"hydra.sweep.dir={tmp_path}")
    plugin = OmegaConf.to_container(OmegaConf.structured(LocalQueueConf))
    ours = OmegaConf.to_container(cfg.hydra.launcher)
    assert set(ours) == set(plugin) | {"max_num_timeout"}
    assert ours["_target_"] == plugin["_target_"]
    executor = executor_built_by_the_plugin(cfg, monkeypatch)
    assert executor.cluster == "local" and executor._executor.max_num_timeout == 5
    assert executor._executor.parameters["timeout_min"] == 240
    assert executor.folder == tmp_path / ".submitit" / "%j"


# ---------------------------------------------------------------- real sweeps through submitit_local


@pytest.mark.slow
@pytest.mark.parametrize("launcher", ["submitit_local", "local"])
def test_two_job_sweep_runs_each_job_in_its_own_process_and_folder(tmp_path, tiny_mnist, launcher):
    result = ganrun(
        "-m",
        f"hydra/launcher={launcher}",
        "loss.lambda_gp=1,10",
        *data_args(tiny_mnist),
        "train.steps=3",
        "log.every=1",
        "hydra.sweep.dir=sweep",
        cwd=tmp_path,
        env=ENV,
    )
    assert result.returncode == 0, result.stderr
    assert "Submitit 'local' sweep output dir" in result.stdout + result.stderr
    sweep = tmp_path / "sweep"
    jobs = job_folders(sweep)
    assert len(jobs) == 2
    lambdas = set()
    for job in jobs:
        status = json.loads((job / "status.json").read_text())
        assert status["status"] == "completed" and status["step"] == 3, status
        state = torch.load(job / "checkpoints" / "last.pt", weights_only=True)
        assert state["step"] == 3
        lambdas.add(state["config"]["loss"]["lambda_gp"])
        assert list(job.glob("events.out.tfevents.*"))
    assert lambdas == {1, 10}
    # Each job ran under submitit in a process of its own, logging to <sweep>/.submitit/<job id>/.
    logs = sorted(sweep.glob(".submitit/*/*_0_log.out"))
    assert len(logs) == 2
    assert all("Job completed successfully" in log.read_text() for log in logs)


# ---------------------------------------------------------------- preemption and requeue


def descendants(pid: int) -> list[int]:
    """Every process below `pid` (Linux /proc), children first."""
    found = []
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            children = Path(f"/proc/{pid}/task/{tid}/children").read_text().split()
        except OSError:
            continue
        for child in map(int, children):
            found += [child, *descendants(child)]
    return found


def submitit_task(pid: int) -> int | None:
    """The pid of the submitit task (`python -m submitit.core._submit`) running under the sweep process `pid`."""
    for child in descendants(pid):
        try:
            if b"submitit.core._submit" in Path(f"/proc/{child}/cmdline").read_bytes():
                return child
        except OSError:
            pass
    return None


# How a submitit job hears that it must stop. The local controller sends USR2 shortly before its time limit (and
# submitit's LocalJob._interrupt() sends it for tests); SLURM sends USR2 (sbatch --signal=USR2@signal_delay_s)
# before the time limit, and on preemption SIGTERM first, then USR2 (submitit's SlurmJob._interrupt), submitit
# bypassing the SIGTERM so that the USR2 can requeue (0.2 s later on a real cluster, many GAN steps on a GPU).
# Here each signal goes to the job two logged steps after the one before.
SIGNAL_SEQUENCES = {"usr2": [signal.SIGUSR2], "slurm-preemption": [signal.SIGTERM, signal.SIGUSR2]}


@pytest.mark.xdist_group("signals")  # timed by signals: kept on one worker
@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="finds the submitit task through Linux /proc")
@pytest.mark.parametrize("signals", SIGNAL_SEQUENCES.values(), ids=SIGNAL_SEQUENCES.keys())
def test_preempted_job_is_requeued_into_its_folder_and_resumes_from_its_checkpoint(tmp_path, tiny_mnist, signals):
    """A real requeue: submitit's handler checkpoints the launcher call and exits with its requeue code; the
    local controller then starts the same job again, in the same folder, as SLURM does after `scontrol requeue`.
    Periodic checkpoints every 5 steps; the first signal comes after step 6 was logged.
    """
    env = {**os.environ, "GANRUN_CACHE": str(tmp_path / ".cache"), **ENV}
    env.pop("HYDRA_FULL_ERROR", None)
    args = [
        "-m",
        "hydra/launcher=local",
        "loss.lambda_gp=10",
        *data_args(tiny_mnist),
        "train.steps=20",
        "log.every=1",
        "ckpt.every=5",
        "ckpt.keep=null",
        "hydra.sweep.dir=sweep",
    ]
    sweep = tmp_path / "sweep"
    process = subprocess.Popen(
        [sys.executable, "-m", "ganrun", *args],
        cwd=tmp_path,
        env=env,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        sent, task, deadline = 0, None, time.monotonic() + 240
        while process.poll() is None and time.monotonic() < deadline:
            log = next(sweep.glob("*/ganrun.log"), None)
            if sent < len(signals) and log is not None and f"step {6 + 2 * sent}:" in log.read_text():
                task = task or submitit_task(process.pid)
                assert task is not None, "no submitit task process found"
                os.kill(task, signals[sent])
                sent += 1
            time.sleep(0.05)
        output = process.communicate(timeout=max(deadline - time.monotonic(), 1))[0]
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)  # the session this test started
    assert sent == len(signals), f"sent {sent} of {len(signals)} signals before the job ended:\n" + output
    assert process.returncode == 0, output

    [job] = job_folders(sweep)  # requeued into the same folder, no second one
    submitit_log = "".join(p.read_text() for p in sorted(sweep.glob(".submitit/*/*_0_log.*")))  # .out and .err
    assert "this job is preempted" in submitit_log and "Requeued job" in submitit_log, submitit_log
    status = json.loads((job / "status.json").read_text())
    assert status["status"] == "completed" and status["step"] == 20, status
    assert torch.load(job / "checkpoints" / "last.pt", weights_only=True)["step"] == 20

    # The requeued run resumed by itself (resume=null; SUBMITIT_EXECUTOR is set) from its own checkpoints,
    # so it lost at most the steps since the last periodic checkpoint (step 5).
    resumed = [int(s) for s in re.findall(r"resuming \S+ at step (\d+)", (job / "ganrun.log").read_text())]
    assert len(resumed) == 1 and resumed[0] >= 5, (job / "ganrun.log").read_text()
    # ganrun catches USR2, writes a checkpoint at the next step boundary, then lets submitit requeue: nothing lost.
    assert resumed[0] >= 6, f"resumed at step {resumed[0]}: no checkpoint was written on USR2 (train.py's handler)"

    # TensorBoard shows every step once: no gap, no overlap across the requeue.
    events = EventAccumulator(str(job), size_guidance={"scalars": 0})
    events.Reload()
    assert [e.step for e in events.Scalars("loss/generator")] == list(range(1, 21))


# ---------------------------------------------------------------- launcher not installed


@pytest.fixture
def plugin_hidden(monkeypatch):
    """Pretend hydra-submitit-launcher is not installed (find_spec gives None for a None in sys.modules)."""
    monkeypatch.setitem(sys.modules, "hydra_plugins.hydra_submitit_launcher", None)


@pytest.mark.parametrize(
    "arg",
    [
        "hydra/launcher=slurm",
        "hydra/launcher=local",
        "hydra/launcher=submitit_slurm",
        "+hydra/launcher=submitit_local",
        "hydra/launcher=basic,slurm",
    ],
)
def test_missing_launcher_is_a_one_line_hint(plugin_hidden, arg):
    with pytest.raises(UsageError) as error:
        launchers.check_launcher_installed(["-m", "loss.lambda_gp=1,10", arg])
    name = arg.split("=")[1].split(",")[-1]
    assert str(error.value) == f"hydra/launcher={name} {HINT}"


def test_missing_submitit_alone_is_also_reported(monkeypatch):
    monkeypatch.setitem(sys.modules, "submitit", None)
    with pytest.raises(UsageError, match=re.escape(HINT)):
        launchers.check_launcher_installed(["-m", "hydra/launcher=slurm"])


@pytest.mark.parametrize(
    "argv", [[], ["-m", "loss.lambda_gp=1,10"], ["hydra/launcher=basic"], ["hydra.launcher.partition=gpu"]]
)
def test_no_submitit_launcher_asked_for_passes_without_the_plugin(plugin_hidden, argv):
    launchers.check_launcher_installed(argv)


def test_installed_launcher_passes():
    launchers.check_launcher_installed(["-m", "hydra/launcher=slurm", "hydra.launcher.partition=gpu"])


def test_cli_without_the_plugin_exits_2_with_the_hint_before_hydra(tmp_path):
    """`python -m ganrun` with the plugin hidden: Hydra alone says `Could not find ...`; ganrun says how to fix it."""
    hide = (
        "import runpy, sys\n"
        "try:\n    import hydra_plugins; hydra_plugins.__path__ = []  # Hydra looks for plugins in this namespace\n"
        "except ImportError:\n    pass\n"
        "sys.modules['hydra_plugins.hydra_submitit_launcher'] = sys.modules['submitit'] = None\n"
        "sys.argv = ['ganrun', *sys.argv[1:]]; runpy.run_module('ganrun', run_name='__main__')"
    )
    env = {**os.environ, "GANRUN_CACHE": str(tmp_path / ".cache")}
    env.pop("HYDRA_FULL_ERROR", None)
    result = subprocess.run(
        [sys.executable, "-c", hide, "-m", "hydra/launcher=slurm", "loss.lambda_gp=1,10"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip() == f"Error: hydra/launcher=slurm {HINT}"
    assert not (tmp_path / "multirun").exists() and not (tmp_path / "outputs").exists()

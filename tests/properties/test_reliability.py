"""Nothing lost: exact resume after SIGKILL, preemption by signal, atomic and safe checkpoints, divergence."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch
from torch.testing import assert_close

from helpers.cli import assert_user_error, ganrun
from helpers.events import read_scalars
from helpers.runs import logged_every_step

pytestmark = pytest.mark.slow


def start(cwd, *args) -> subprocess.Popen:
    env = {**os.environ, "GANRUN_CACHE": str(cwd / ".cache")}
    return subprocess.Popen(
        [sys.executable, "-m", "ganrun", *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for(path, process, timeout=120.0) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.02)


def weights(run_dir):
    state = torch.load(run_dir / "checkpoints" / "last.pt", weights_only=True)
    return state["step"], state["generator"], state["critic"]


@pytest.mark.xdist_group("signals")  # timed by signals: kept on one worker
def test_resume_after_sigkill_is_bit_identical(tmp_path, tiny_mnist):
    steps = ["train.steps=16", "ckpt.every=4"]
    assert ganrun(*logged_every_step(tiny_mnist, "whole", *steps), cwd=tmp_path).returncode == 0

    killed = start(tmp_path, *logged_every_step(tiny_mnist, "killed", *steps))
    wait_for(tmp_path / "killed" / "checkpoints" / "step_0000004.pt", killed)
    killed.send_signal(signal.SIGKILL)
    killed.communicate()
    saved = [torch.load(p, weights_only=True)["step"] for p in (tmp_path / "killed" / "checkpoints").glob("*.pt")]
    assert 4 <= max(saved) < 16  # the kill landed mid-run (maybe between step_*.pt and last.pt): work is left

    result = ganrun(*logged_every_step(tiny_mnist, "killed", *steps, "resume=auto"), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    step, generator, critic = weights(tmp_path / "killed")
    whole_step, whole_generator, whole_critic = weights(tmp_path / "whole")
    assert step == whole_step == 16
    assert_close(generator, whole_generator, rtol=0, atol=0)
    assert_close(critic, whole_critic, rtol=0, atol=0)
    ema, whole_ema = (
        torch.load(tmp_path / run / "checkpoints" / "last.pt", weights_only=True)["ema"] for run in ("killed", "whole")
    )
    assert_close(ema, whole_ema, rtol=0, atol=0)
    # TensorBoard: every step once, in order, although steps after the checkpoint were logged twice.
    assert [s for s, _ in read_scalars(tmp_path / "killed")["loss/generator"]] == list(range(1, 17))


@pytest.mark.xdist_group("signals")  # timed by signals: kept on one worker
def test_sigterm_checkpoints_at_a_step_boundary_and_exits_0(tmp_path, tiny_mnist):
    process = start(tmp_path, *logged_every_step(tiny_mnist, "run", "train.steps=100000", "ckpt.every=2"))
    wait_for(tmp_path / "run" / "checkpoints" / "step_0000002.pt", process)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 0, stderr
    status = json.loads((tmp_path / "run" / "status.json").read_text())
    step = weights(tmp_path / "run")[0]
    assert status["status"] == "preempted" and status["step"] == step >= 2
    assert "Traceback" not in stderr

    result = ganrun(
        *logged_every_step(tiny_mnist, "run", f"train.steps={step + 2}", "ckpt.every=2", "resume=auto"), cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    assert weights(tmp_path / "run")[0] == step + 2
    assert json.loads((tmp_path / "run" / "status.json").read_text())["status"] == "completed"


def test_corrupt_checkpoints(tmp_path, tiny_mnist):
    assert ganrun(*logged_every_step(tiny_mnist, "run", "train.steps=4", "ckpt.every=2"), cwd=tmp_path).returncode == 0
    last = tmp_path / "run" / "checkpoints" / "last.pt"
    last.write_bytes(last.read_bytes()[:100])  # truncated, as by a crash mid-write without the rename
    # An explicit path: one line naming the file.
    result = ganrun(f"resume={last}", cwd=tmp_path)
    assert_user_error(result, f"checkpoint {last} is unreadable")
    assert len(result.stderr.strip().splitlines()) == 1
    # auto: skip it with a warning and take the newest periodic checkpoint.
    result = ganrun(*logged_every_step(tiny_mnist, "run", "train.steps=6", "ckpt.every=2", "resume=auto"), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    logged = result.stdout + result.stderr
    assert "resume=auto skips last.pt" in logged and "step_0000004.pt at step 4" in logged
    assert weights(tmp_path / "run")[0] == 6


def test_ckpt_keep_bounds_the_periodic_checkpoints(tmp_path, tiny_mnist):
    result = ganrun(*logged_every_step(tiny_mnist, "run", "train.steps=6", "ckpt.every=1", "ckpt.keep=2"), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    names = sorted(p.name for p in (tmp_path / "run" / "checkpoints").iterdir())
    assert names == ["last.pt", "step_0000005.pt", "step_0000006.pt"]


def test_no_temp_files_are_left_behind(tmp_path, tiny_mnist):
    assert ganrun(*logged_every_step(tiny_mnist, "run", "train.steps=2", "ckpt.every=1"), cwd=tmp_path).returncode == 0
    assert not list((tmp_path / "run" / "checkpoints").glob(".*"))


def test_checkpoint_from_another_model_config_lists_mismatched_keys(tmp_path, tiny_mnist):
    assert ganrun(*logged_every_step(tiny_mnist, "run", "train.steps=2"), cwd=tmp_path).returncode == 0
    # The checkpoint was trained with model=dcgan28 model.hidden=8; give the group with the key to change it.
    result = ganrun(
        f"resume={tmp_path}/run/checkpoints/last.pt", "model=dcgan28", "model.hidden=16", "train.steps=4", cwd=tmp_path
    )
    assert_user_error(
        result,
        "the checkpoint's generator does not match this model config",
        "different shape: net.0.bias, net.0.weight",
    )


def test_a_run_folder_with_checkpoints_is_not_overwritten(tmp_path, tiny_mnist):
    assert ganrun(*logged_every_step(tiny_mnist, "run", "train.steps=2"), cwd=tmp_path).returncode == 0
    before = (tmp_path / "run" / "checkpoints" / "last.pt").read_bytes()
    result = ganrun(*logged_every_step(tiny_mnist, "run", "train.steps=2"), cwd=tmp_path)
    assert_user_error(result, "already holds checkpoints", "resume=auto")
    assert (tmp_path / "run" / "checkpoints" / "last.pt").read_bytes() == before


@pytest.mark.parametrize(
    "extra,message",
    [
        (["loss.lambda_gp=-1"], "loss.lambda_gp=-1 is out of range: it must be >= 0"),
        (["train.batch_size=0"], "train.batch_size=0 is out of range: it must be >= 1"),
        (["train.n_critic=0"], "train.n_critic=0 is out of range: it must be >= 1"),
        (["loss=wgan_div", "loss.k=0"], "loss.k=0 is out of range: it must be > 0"),
        (["loss=wgan_div", "loss.p=1"], "loss.p=1 is out of range: it must be > 1"),
        (["loss=wgan_div", "loss.points=middle"], "loss.points=middle is not allowed"),
        (["dataset.image_size=30"], "model=dcgan28 makes only 28x28 images, not 30x30"),
        (["train.nan_policy=ignore"], "Invalid value 'ignore'"),
    ],
)
def test_bad_values_stop_before_any_compute(tmp_path, tiny_mnist, extra, message):
    result = ganrun(*logged_every_step(tiny_mnist, "run", *extra), cwd=tmp_path)
    assert_user_error(result, message)
    assert not (tmp_path / "run" / "checkpoints").exists()


def test_an_image_less_folder_is_refused(tmp_path):
    (tmp_path / "empty" / "sub").mkdir(parents=True)
    (tmp_path / "empty" / "notes.txt").write_text("no images here")
    result = ganrun("dataset=anime_faces", f"dataset.root={tmp_path / 'empty'}", "hydra.run.dir=run", cwd=tmp_path)
    assert_user_error(result, str(tmp_path / "empty"))
    assert len(result.stderr.strip().splitlines()) == 1


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the machine without a GPU")
def test_device_cuda_without_a_gpu_is_refused(tmp_path, tiny_mnist):
    result = ganrun(*logged_every_step(tiny_mnist, "run", "device=cuda"), cwd=tmp_path)
    assert_user_error(result, "device=cuda but no CUDA GPU is visible")

"""Spec of the speed benchmark: ganrun's steps do the textbook math, and the script runs and writes its table."""

import copy
import json
import subprocess
import sys

import pytest
import torch
from hydra import compose, initialize_config_dir

from ganrun.app import resolvers, schema
from ganrun.bench import speed, textbook, timing
from ganrun.data import DeviceBatches, ImageSet
from ganrun.training.divergence import UpdateGuard
from ganrun.training.stats import RunningMeans
from ganrun.training.step import critic_step, generator_step
from helpers.cli import REPO

LOSSES = ["bce", "wgan_gp", "wgan_div"]
CPU = torch.device("cpu")


@pytest.mark.parametrize("loss", LOSSES)
def test_ganrun_steps_equal_the_textbook_reference_in_fp32(loss):
    """Same initial weights, same real batches, same seeds before each step: same losses and weights."""
    batch, steps, n_critic = 16, 2, textbook.N_CRITIC[loss]
    images = timing.synthetic_images(256)
    parts = timing.ganrun_parts(loss, images, CPU, seed=0)
    G, D = copy.deepcopy(parts.generator), copy.deepcopy(parts.critic)
    opt_g = torch.optim.Adam(G.parameters(), lr=textbook.LR, betas=textbook.BETAS)
    opt_d = torch.optim.Adam(D.parameters(), lr=textbook.LR, betas=textbook.BETAS)
    bank = DeviceBatches(ImageSet(images), CPU, seed=1)  # the very batches ganrun's loop draws, fed to both
    guard = UpdateGuard("stop", CPU)
    got, want = [], []
    for step in range(steps):
        for i in range(n_critic):
            real, k = bank.next_batch(batch), step * n_critic + i
            means = RunningMeans()
            torch.manual_seed(100 + k)  # ganrun draws the noise, then (WGAN-GP) ε; the reference in that order
            guard.set_step(step + 1)
            critic_step(parts, real, None, k, means, guard)
            got.append(means.read()["loss/critic"])
            torch.manual_seed(100 + k)
            want.append(textbook.reference_critic_step(G, D, opt_d, real, loss).item())
        means = RunningMeans()
        torch.manual_seed(1000 + step)
        generator_step(parts, batch, CPU, means, guard)
        got.append(means.read()["loss/generator"])
        torch.manual_seed(1000 + step)
        want.append(textbook.reference_generator_step(G, D, opt_g, batch, loss, CPU).item())
    assert len(got) == steps * (n_critic + 1)
    assert got == pytest.approx(want, rel=1e-5)
    # Adam's g/sqrt(v) turns rounding noise in a near-zero gradient (e.g. a conv bias that feeds batch norm,
    # whose exact gradient is 0) into a step of up to lr, so the weights only agree this closely because the
    # reference adds its terms in ganrun's order (today they agree bit for bit). If a refactor of ganrun changes
    # that order, the losses must still agree; the weights may then need an Adam-sized tolerance.
    for ours, theirs in [(parts.generator, G), (parts.critic, D)]:
        for (name, a), b in zip(ours.state_dict().items(), theirs.state_dict().values()):
            torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6, msg=lambda m, name=name: f"{name}: {m}")
    assert guard.watch.first_bad() is None


@pytest.mark.parametrize("loss", LOSSES)
def test_bench_hyper_parameters_are_ganruns_defaults(loss):
    schema.register()
    resolvers.register_resolvers()
    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        cfg = compose(config_name="train", overrides=["model=dcgan28", f"loss={loss}"])
    assert cfg.train.n_critic == textbook.N_CRITIC[loss]
    assert cfg.model.z_dim == textbook.Z_DIM and cfg.model.hidden == 64 and cfg.model.critic_norm == "none"
    for opt in (cfg.optim.generator, cfg.optim.critic):
        assert (opt.name, opt.lr, tuple(opt.betas)) == ("adam", textbook.LR, textbook.BETAS)
    if loss == "wgan_gp":
        assert (cfg.loss.lambda_gp, cfg.loss.one_sided) == (textbook.LAMBDA_GP, False)
    if loss == "wgan_div":
        assert (cfg.loss.k, cfg.loss.p, cfg.loss.points) == (textbook.DIV_K, textbook.DIV_P, "real_fake")
    if loss == "bce":
        assert (cfg.loss.saturating, cfg.loss.real_label) == (False, 1.0)


def test_variants_parse():
    plain = {"precision": "fp32", "channels_last": False, "compile": False, "cuda_graphs": False}
    assert timing.parse_variant("eager") == plain
    assert timing.parse_variant("bf16+channels_last+compile") == {
        **plain,
        "precision": "bf16",
        "channels_last": True,
        "compile": True,
    }
    assert timing.parse_variant("bf16+cuda_graphs") == {**plain, "precision": "bf16", "cuda_graphs": True}
    for bad in ["", "fp16", "eager+compile", "compile+cuda_graphs"]:
        with pytest.raises(ValueError):
            timing.parse_variant(bad)
    assert speed.parse_args(["--precision", "bf16", "--compile"]).variants == ["bf16+compile"]
    assert speed.parse_args(["--cuda-graphs"]).variants == ["fp32+cuda_graphs"]
    assert speed.parse_args(["--variants", "eager, bf16"]).variants == ["eager", "bf16"]
    with pytest.raises(SystemExit):
        speed.parse_args(["--variants", "eager", "--compile"])


def test_a_cuda_graphs_row_fails_alone_without_a_gpu(tmp_path):
    """On a CPU the cuda_graphs row says why it failed; the other rows are timed."""
    out = tmp_path / "bench.json"
    code = speed.main(
        [
            "--steps",
            "1",
            "--warmup",
            "0",
            "--losses",
            "bce",
            "--images",
            "64",
            "--batch-size",
            "8",
            "--variants",
            "eager,cuda_graphs",
            "--out",
            str(out),
        ]
    )
    rows = {r["variant"]: r for r in json.loads(out.read_text())["rows"]}
    assert code == 1 and rows["eager"]["it_per_s"] > 0
    assert rows["cuda_graphs"]["error"].startswith("SetupError: train.cuda_graphs=true needs a CUDA GPU")


def test_textbook_dataset_is_torchvision_style():
    images = timing.synthetic_images(4)
    assert images.dtype == torch.uint8 and images.shape == (4, 1, 28, 28)
    torch.testing.assert_close(images, timing.synthetic_images(4))  # deterministic
    from torchvision import transforms

    dataset = textbook.TextbookImages(
        images, transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.5,), (0.5,))])
    )
    x, label = dataset[2]
    assert label == 0
    torch.testing.assert_close(x, images[2].float() / 127.5 - 1)  # what DeviceBatches.next_batch gives


@pytest.mark.slow
@pytest.mark.parametrize("how", ["script", "module"])
def test_bench_runs_end_to_end_and_writes_its_table(how, tmp_path):
    args = ["--steps", "2", "--warmup", "1", "--images", "512", "--batch-size", "32", "--device", "cpu"]
    if how == "script":  # from the repository root, with an explicit --out and one variant that is not eager
        out = tmp_path / "table.json"
        command, cwd = (
            [sys.executable, "scripts/bench.py", *args, "--variants", "channels_last", "--out", str(out)],
            REPO,
        )
    else:  # from anywhere, writing bench.json in the current folder by default
        out = tmp_path / "bench.json"
        command, cwd = [sys.executable, "-m", "ganrun.bench", *args, "--variants", "eager"], tmp_path
    result = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(out.read_text())
    assert {
        "device",
        "device_type",
        "torch",
        "date",
        "steps",
        "warmup",
        "batch_size",
        "images",
        "losses",
        "variants",
        "options",
        "rows",
    } <= set(report)
    assert (report["steps"], report["warmup"], report["images"], report["device_type"]) == (2, 1, 512, "cpu")
    assert report["torch"] == torch.__version__
    variants = ["channels_last"] if how == "script" else ["eager"]
    assert report["variants"] == variants
    rows = {(r["loss"], r["variant"]): r for r in report["rows"]}
    assert set(rows) == {(loss, v) for loss in LOSSES for v in ["textbook", *variants]}
    for (loss, variant), r in rows.items():
        assert r["it_per_s"] > 0 and r["ratio"] > 0, r
        assert r["images_per_s"] == pytest.approx(r["it_per_s"] * 32 * textbook.N_CRITIC[loss])
        assert r["loop"] == ("textbook" if variant == "textbook" else "ganrun")
    for loss in LOSSES:
        assert rows[(loss, "textbook")]["ratio"] == 1.0
        assert rows[(loss, variants[0])]["ratio"] == pytest.approx(
            rows[(loss, variants[0])]["it_per_s"] / rows[(loss, "textbook")]["it_per_s"]
        )
    assert "textbook" in result.stdout and "ratio" in result.stdout  # the printed table


@pytest.mark.slow
def test_bench_refuses_a_missing_gpu_in_one_line(tmp_path):
    if torch.cuda.is_available():
        pytest.skip("a GPU is visible")
    result = subprocess.run(
        [sys.executable, "-m", "ganrun.bench", "--device", "cuda"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2 and "Traceback" not in result.stderr and "no CUDA GPU" in result.stderr

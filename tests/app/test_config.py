"""Spec of the config: every option of every group composes and builds; bad values are refused."""

import re

import pytest
import torch
from omegaconf import OmegaConf

from ganrun.app import resolvers, schema
from ganrun.base.errors import UsageError
from ganrun.training.devices import pick_device, training_device
from helpers.cli import REPO, assert_user_error, ganrun
from helpers.configs import compose_with

CONF = REPO / "conf"
GROUPS = ["dataset", "model", "loss", "regularizer", "augment", "logger", "experiment"]


def options(group: str) -> list[str]:
    return sorted(p.stem for p in (CONF / group).glob("*.yaml"))


@pytest.mark.parametrize("group,option", [(g, o) for g in GROUPS for o in options(g)])
def test_every_option_composes(group, option):
    cfg = compose_with(f"{group}={option}")
    OmegaConf.to_container(cfg, resolve=True)  # every interpolation resolves
    assert cfg.train.steps >= 1


def test_groups_have_the_documented_options(config):
    assert {"mnist", "fashion_mnist", "cifar10_horse", "anime_faces"} <= set(options("dataset"))
    assert {"dcgan", "dcgan28"} <= set(options("model"))
    assert {"bce", "wgan_gp"} <= set(options("loss"))
    assert {"none", "spectral_norm", "r1", "lecam"} <= set(options("regularizer"))
    assert {"none", "diffaugment", "adaptive", "ada"} == set(options("augment"))
    assert config.augment._target_ == "ganrun.objectives.augment.Augment"  # none by default


@pytest.mark.parametrize("dataset", ["mnist", "fashion_mnist", "cifar10_horse", "anime_faces"])
def test_dcgan_builds_for_every_dataset(dataset):
    from ganrun.build import build_gan

    cfg = compose_with(f"dataset={dataset}", "model.width=8")
    generator, critic, _ = build_gan(cfg)
    import torch

    images = generator(torch.randn(2, cfg.model.z_dim))
    assert images.shape == (2, cfg.dataset.channels, cfg.dataset.image_size, cfg.dataset.image_size)


def test_logger_group_has_tensorboard_by_default_and_takes_several_at_once(config):
    assert {"tensorboard", "csv", "wandb", "mlflow"} <= set(options("logger"))
    assert list(config.logger) == ["tensorboard"]
    several = compose_with(
        "logger=[tensorboard,wandb,mlflow]",
        "logger.wandb.tags=[gp,mnist]",
        "logger.mlflow.tracking_uri=http://127.0.0.1:5000",
    )
    assert list(several.logger) == ["tensorboard", "wandb", "mlflow"]
    assert several.logger.wandb.tags == ["gp", "mnist"] and several.logger.wandb.mode is None
    assert several.logger.mlflow.tracking_uri == "http://127.0.0.1:5000"
    assert compose_with("logger=[]").logger is None  # no logger at all
    for preset in [p for p in options("experiment") if not p.startswith("search_")]:  # their sweeper is an extra
        assert list(compose_with(f"experiment={preset}", "logger=[tensorboard,csv]").logger) == ["tensorboard", "csv"]


def test_wgan_gp_defaults_follow_the_paper():
    cfg = compose_with("loss=wgan_gp")
    assert cfg.loss.lambda_gp == 10 and cfg.train.n_critic == 5
    assert compose_with("loss=bce").train.n_critic == 1


@pytest.mark.parametrize(
    "key,value,allowed",
    [
        ("train.steps", 0, ">= 1"),
        ("train.batch_size", 0, ">= 1"),
        ("train.n_critic", 0, ">= 1"),
        ("optim.critic.lr", -1.0, "> 0"),
        ("ckpt.keep", 0, ">= 1 or null"),
        ("train.ema_rampup", -0.1, ">= 0 (0 or null: no warm-up)"),
    ],
)
def test_out_of_range_values_name_the_key(key, value, allowed):
    cfg = compose_with(f"{key}={value}")
    with pytest.raises(UsageError, match=re.escape(f"{key}={value} is out of range: it must be {allowed}")):
        schema.check_ranges(cfg)


def test_metrics_best_must_be_a_computed_metric():
    schema.check_ranges(compose_with("metrics.best=classifier_fd"))
    with pytest.raises(UsageError, match=r"metrics\.best=kid is not one of metrics\.names \(fid, classifier_fd\)"):
        schema.check_ranges(compose_with("metrics.best=kid"))


def test_device_cuda_without_gpu_is_a_clear_error(monkeypatch):
    monkeypatch.setattr("torch.cuda.is_available", lambda: False)
    with pytest.raises(UsageError, match="no CUDA GPU is visible"):
        pick_device("cuda")
    assert pick_device("auto").type == "cpu"
    with pytest.raises(UsageError, match="not a device"):
        pick_device("gpu0")


@pytest.mark.parametrize("name, current, index", [("cuda", 1, 1), ("auto", 0, 0), ("cuda:1", 0, 1)])
def test_a_run_on_cuda_sets_an_indexed_gpu(monkeypatch, name, current, index):
    """torch.cuda.set_device wants an index (torch 2.11 raises on a bare "cuda", seen on a real H200): a bare cuda
    or auto trains on the current GPU, named with its index."""
    chosen = []

    def set_device(device):
        if isinstance(device, torch.device) and device.index is None:
            raise ValueError(f"Expected a torch.device with a specified index or an integer, but got:{device}")
        chosen.append(device)

    monkeypatch.setattr("torch.cuda.is_available", lambda: True)
    monkeypatch.setattr("torch.cuda.device_count", lambda: 2)
    monkeypatch.setattr("torch.cuda.current_device", lambda: current)
    monkeypatch.setattr("torch.cuda.set_device", set_device)
    device = training_device(name, batch_size=8, world=1, deterministic=False)
    assert device == torch.device("cuda", index) and chosen == [device]


def test_resume_paths_map_to_their_run_folder(tmp_path):
    assert resolvers.run_dir_of(str(tmp_path / "run" / "checkpoints" / "last.pt")) == tmp_path / "run"
    assert resolvers.run_dir_of(str(tmp_path)) == tmp_path
    assert resolvers.run_dir_of("somewhere/else.pt") is None


@pytest.mark.slow
@pytest.mark.parametrize(
    "override,message",
    [
        ("loss.lamda_gp=1", "Key 'lamda_gp' is not in struct"),
        ("train.steps=abc", "Value 'abc' of type 'str' could not be converted to Integer"),
        ("dataset=imagenet", "Could not find 'dataset/imagenet'"),
        ("optim.critic.name=sgd", "Invalid value 'sgd'"),
    ],
)
def test_cli_refuses_bad_config_before_any_compute(tmp_path, override, message):
    result = ganrun(override, "hydra.run.dir=run", cwd=tmp_path)
    assert_user_error(result, message)
    assert result.returncode == 2 and result.stderr.startswith("Error: ") and result.stderr.count("\n") == 1
    assert not (tmp_path / "run" / "checkpoints").exists()


@pytest.mark.slow
def test_an_unknown_key_keeps_hydras_hint_on_one_line(tmp_path):
    result = ganrun("loss.lamda_gp=1", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr == (
        "Error: Could not override 'loss.lamda_gp'; To append to your config use +loss.lamda_gp=1; "
        "Key 'lamda_gp' is not in struct; full_key: loss.lamda_gp\n"
    )
    missing = ganrun("dataset=imagenet", cwd=tmp_path)
    assert missing.stderr == (
        "Error: In 'train': Could not find 'dataset/imagenet'; Available options in 'dataset': "
        "anime_faces, cifar10, cifar10_horse, fashion_mnist, folder, mnist\n"
    )


@pytest.mark.slow
def test_hydra_full_error_still_shows_hydras_own_report(tmp_path):
    result = ganrun("loss.lamda_gp=1", cwd=tmp_path, env={"HYDRA_FULL_ERROR": "1"})
    assert result.returncode == 1 and "Traceback" in result.stderr and "ConfigCompositionException" in result.stderr


@pytest.mark.parametrize(
    "preset, dataset, conditional, batch, gamma, halflife, p",
    [
        ("r3gan_cifar10", "cifar10", True, 512, (0.05, 0.005), 5_000_000, 0.55),
        ("r3gan_ffhq64", "folder", False, 256, (2.0, 0.2), 500_000, 0.3),
    ],
)
def test_r3gans_presets_are_its_published_runs(preset, dataset, conditional, batch, gamma, halflife, p):
    """brownvc/R3GAN's README commands and train.py presets: mirrored data (--mirror=1), the relativistic loss with
    R1 + R2, Adam β₁ 0, and every schedule along a cosine over 20M images."""
    cfg = OmegaConf.to_container(compose_with(f"experiment={preset}"), resolve=True)
    assert cfg["dataset"]["_target_"] == compose_with(f"dataset={dataset}").dataset._target_
    assert cfg["dataset"]["xflip"] is True
    assert cfg["model"]["conditional"] is conditional and cfg["train"]["batch_size"] == batch
    assert cfg["loss"]["_target_"].endswith("RpGAN") and cfg["regularizer"]["_target_"].endswith("R1R2")
    cosine = {"length": 20_000_000, "unit": "images", "shape": "cosine"}
    assert cfg["regularizer"]["gamma"] == {"start": gamma[0], "end": gamma[1], **cosine}
    assert cfg["train"]["ema_halflife"] == {"start": 0, "end": halflife, **cosine}
    assert cfg["augment"]["p"] == {"start": 0.0, "end": p, **cosine}
    for side in ("generator", "critic"):
        assert cfg["optim"][side]["lr"] == {"start": 2e-4, "end": 5e-5, **cosine}
        assert cfg["optim"][side]["betas"] == [0.0, {"start": 0.9, "end": 0.99, **cosine}]

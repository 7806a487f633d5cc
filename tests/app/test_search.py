"""Spec of the Optuna search (hydra/sweeper=optuna, pip install -e ".[search]"): each trial returns its final value of
search.objective, the direction follows the objective's name, failed trials let the study go on, an objective that
cannot be computed stops the search before any trial, and the search presets compose."""

import csv
import json
import logging
import math
import sys

import pytest
import yaml
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from ganrun.app import launchers, resolvers, schema, search
from ganrun.base.errors import UsageError
from helpers.cli import REPO, assert_user_error, ganrun, on_tiny_mnist

# Each search preset → the seed tutorial's preset it searches around.
PRESETS = {
    "search_wgan_gp": "wgan_gp_mnist",
    "search_wgan_div": "wgan_div_mnist",
    "search_dcgan": "dcgan_anime",
    "search_wgan": "wgan_cifar_horse",
    "search_sngan": "sngan_cifar_horse",
}


def hydra_config(*overrides: str):
    """The composed config with its `hydra` node, as `python -m ganrun` composes it."""
    schema.register()
    resolvers.register_resolvers()
    search.register_sweeper_defaults()
    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        return compose(config_name="train", overrides=list(overrides), return_hydra_config=True)


def study(tmp_path, tiny_mnist, *args, env=None):
    return ganrun(
        "-m",
        "hydra/sweeper=optuna",
        *on_tiny_mnist(tiny_mnist),
        "train.steps=2",
        "log.every=1",
        "hydra.sweep.dir=sweep",
        *args,
        cwd=tmp_path,
        env=env,
    )


def statuses(sweep) -> dict[str, dict]:
    return {p.parent.name: json.loads(p.read_text()) for p in sorted(sweep.glob("*/status.json"))}


# ---------------------------------------------------------------- a real study through the CLI


@pytest.mark.slow
def test_three_trials_each_return_their_final_objective(tmp_path, tiny_mnist):
    result = study(
        tmp_path,
        tiny_mnist,
        "hydra.sweeper.n_trials=3",
        "hydra.sweeper.sampler.seed=0",
        "loss.lambda_gp=tag(log,interval(0.1,100))",
        "train.n_critic=choice(1,2)",
        "search.objective=loss/generator",
    )
    assert result.returncode == 0, result.stderr
    sweep = tmp_path / "sweep"
    jobs = statuses(sweep)
    assert len(jobs) == 3
    assert all(s["status"] == "completed" and s["objective"] == "loss/generator" for s in jobs.values())
    # Optuna was told each run's final loss/generator: its best value is the lowest of them, from that job.
    finals = {name: s["final"]["loss/generator"] for name, s in jobs.items()}
    results = yaml.safe_load((sweep / "optimization_results.yaml").read_text())
    best_job = min(finals, key=finals.get)
    assert results["best_value"] == finals[best_job]
    overrides = yaml.safe_load((sweep / best_job / ".hydra" / "overrides.yaml").read_text())
    assert {f"{k}={v}" for k, v in results["best_params"].items()} <= set(overrides)
    # The trials in the summary: one row per trial with its drawn values, ranked by the objective.
    rows = list(csv.DictReader((sweep / "summary.csv").open()))
    assert [r["job"] for r in rows] == list(jobs)  # 0_…, 1_…, 2_…: named by their values
    assert all(0.1 <= float(r["loss.lambda_gp"]) <= 100 and r["train.n_critic"] in ("1", "2") for r in rows)
    assert all(r["job"].startswith(f"{n}_lambda_gp=") for n, r in enumerate(rows))
    lines = (sweep / "summary.md").read_text().splitlines()
    assert lines[-3].startswith(f"Best job by loss/generator (lower is better): {best_job} ")
    assert lines[-1].startswith("Optuna's best trial by loss/generator: loss.lambda_gp=")
    assert lines[-1].endswith("(3 trials: 3 completed, 0 failed or unfinished).")
    assert sorted(p.name for p in sweep.glob("summary_*.png")) == ["summary_curves.png", "summary_samples.png"]


@pytest.mark.slow
def test_a_failed_trial_is_counted_as_failed_and_the_study_goes_on(tmp_path, tiny_mnist):
    # ckpt.every=0 is out of range, so that trial fails; TPE's first (random) draws with seed 0 are 0, then 1.
    result = study(
        tmp_path,
        tiny_mnist,
        "hydra.sweeper.sampler.seed=0",
        "hydra.sweeper.n_trials=2",
        "ckpt.every=choice(1,0)",
        "search.objective=loss/generator",
    )
    assert result.returncode == 0, result.stderr
    log = result.stdout + result.stderr
    assert "1 of 2 trials failed" in log and "Return value must be float-castable. Got 'None'" in log
    jobs = statuses(tmp_path / "sweep")
    assert [s["status"] for s in jobs.values()] == ["failed", "completed"]  # trial 0 failed, the study went on
    results = yaml.safe_load((tmp_path / "sweep" / "optimization_results.yaml").read_text())
    assert results["best_params"] == {"ckpt.every": 1}
    assert (
        (tmp_path / "sweep" / "summary.md")
        .read_text()
        .splitlines()[-1]
        .endswith("(2 trials: 1 completed, 1 failed or unfinished).")
    )


@pytest.mark.slow
def test_a_study_in_which_every_trial_failed_ends_with_one_line(tmp_path, tiny_mnist):
    result = study(
        tmp_path, tiny_mnist, "hydra.sweeper.n_trials=2", "ckpt.every=choice(0,-1)", "search.objective=loss/generator"
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.splitlines()[-1].startswith("Error: no trial of the Optuna search completed")


def no_network(tmp_path) -> dict:
    """An environment with no cached Inception weights and no way out: downloads go to a closed local port."""
    return {
        "TORCH_HOME": str(tmp_path / "torch"),
        "HTTPS_PROXY": "http://127.0.0.1:9",
        "https_proxy": "http://127.0.0.1:9",
    }


@pytest.mark.slow
def test_fid_without_weights_or_network_stops_before_any_trial(tmp_path, tiny_mnist):
    result = study(
        tmp_path, tiny_mnist, "metrics.names=[fid]", "loss.lambda_gp=interval(1,10)", env=no_network(tmp_path)
    )
    assert_user_error(
        result,
        "Error: search.objective=metrics/fid cannot be computed: cannot get the Inception weights",
        "metrics.names=[classifier_fd] search.objective=metrics/classifier_fd",
    )
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "sweep").exists()  # no trial, no folder


# ---------------------------------------------------------------- the objective, its direction and its checks


@pytest.mark.parametrize(
    "objective,names,best,expected",
    [
        (None, ["fid", "classifier_fd"], None, "metrics/fid"),
        (None, ["classifier_fd", "kid"], None, "metrics/classifier_fd"),
        (None, ["fid", "kid"], "kid", "metrics/kid"),
        (None, ["classifier_recall", "classifier_precision"], None, "metrics/classifier_recall"),
        (None, [], None, None),
        ("loss/generator", [], None, "loss/generator"),
    ],
)
def test_objective_is_named_or_the_metric_best_pt_follows(objective, names, best, expected):
    assert search.objective_name(objective, names, best) == expected


@pytest.mark.parametrize(
    "objective,names,direction",
    [
        ("metrics/fid", ["fid"], "minimize"),
        ("metrics/isc", ["isc"], "maximize"),
        ("metrics/classifier_precision", ["classifier_precision"], "maximize"),
        ("metrics/classifier_recall", [], "maximize"),
        ("metrics/kid", [], "minimize"),
        ("loss/generator", [], "minimize"),
        (None, ["classifier_recall"], "maximize"),
        (None, [], "minimize"),
    ],
)
def test_direction_follows_the_objective(objective, names, direction):
    assert search.direction(objective, names, None) == direction


def test_sweeper_is_the_plugins_with_ganrun_defaults_and_the_direction_resolved():
    from hydra_plugins.hydra_optuna_sweeper.config import OptunaSweeperConf

    sweeper = hydra_config("hydra/sweeper=optuna", "search.objective=metrics/isc", "metrics.names=[isc]").hydra.sweeper
    assert sweeper._target_ == "hydra_plugins.hydra_optuna_sweeper.optuna_sweeper.OptunaSweeper"
    assert sweeper.direction == "maximize"
    assert (sweeper.max_failure_rate, sweeper.n_jobs, sweeper.n_trials) == (1.0, 1, 20)
    assert sweeper.sampler._target_ == "optuna.samplers.TPESampler"
    plugin = OmegaConf.to_container(OmegaConf.structured(OptunaSweeperConf))
    assert set(OmegaConf.to_container(sweeper)) == set(plugin) - {"defaults"}
    assert hydra_config("hydra/sweeper=optuna").hydra.sweeper.direction == "minimize"  # metrics/fid
    with pytest.raises(Exception, match="n_trials"):  # still the plugin's typed schema
        hydra_config("hydra/sweeper=optuna", "hydra.sweeper.n_trials=many")


def checked(*overrides: str):
    return search.check_objective(hydra_config(*overrides))


def test_objectives_that_cannot_be_computed_say_what_to_pass(tmp_path):
    with pytest.raises(
        UsageError, match=r"metrics are off \(metrics.names=\[\]\): pass metrics.names=\[classifier_fd\]"
    ):
        checked("metrics.names=[]")
    with pytest.raises(
        UsageError,
        match=r"search.objective=metrics/kid is not computed: add kid to metrics.names "
        r"\(now \[classifier_fd\]\)",
    ):
        checked("metrics.names=[classifier_fd]", "search.objective=metrics/kid")
    with pytest.raises(UsageError, match="search.objective=loss/gen is not a value a run logs"):
        checked("search.objective=loss/gen")
    with pytest.raises(UsageError, match="needs a data set with class labels"):
        checked("dataset=anime_faces", "metrics.names=[classifier_fd]")
    with pytest.raises(UsageError, match=f"metrics.inception_weights={tmp_path}/none.pth does not exist"):
        checked("metrics.names=[fid]", f"metrics.inception_weights={tmp_path}/none.pth")
    assert checked("metrics.names=[classifier_fd]") == "metrics/classifier_fd"
    assert checked("metrics.names=[]", "search.objective=critic/wasserstein") == "critic/wasserstein"


def test_the_value_returned_is_the_final_one_and_none_when_it_is_not_finite():
    assert search.objective_value("metrics/fid", {"metrics/fid": 12.5, "loss/critic": 1.0}) == 12.5
    assert search.objective_value("metrics/fid", {"loss/critic": 1.0}) is None  # never logged: a failed trial
    assert search.objective_value("loss/generator", {"loss/generator": math.nan}) is None  # diverged
    assert search.objective_value("loss/generator", {"loss/generator": math.inf}) is None
    assert search.objective_value(None, {"loss/generator": 1.0}) is None


def test_only_a_search_is_warned_about_a_missing_objective(caplog):
    """A plain run offline has no FID, its default objective: that is no failed trial, and no warning."""
    with caplog.at_level(logging.WARNING, logger="ganrun"):
        assert search.objective_value("metrics/fid", {"loss/critic": 1.0}, searching=False) is None
        assert caplog.records == []
        assert search.objective_value("metrics/fid", {"loss/critic": 1.0}, searching=True) is None
    assert [r.getMessage() for r in caplog.records] == [
        "search objective metrics/fid is missing at the end of this run: a search counts it as a failed trial"
    ]


# ---------------------------------------------------------------- presets and the missing plugin


@pytest.mark.parametrize("preset,tutorial", PRESETS.items())
def test_search_presets_are_seeded_tpe_studies_of_their_tutorial(preset, tutorial):
    cfg = hydra_config(f"experiment={preset}")
    sweeper = cfg.hydra.sweeper
    assert cfg.hydra.mode.name == "MULTIRUN" and sweeper.n_trials == 20
    assert sweeper.sampler._target_ == "optuna.samplers.TPESampler" and sweeper.sampler.seed == 0
    assert len(sweeper.params) >= 3
    tutorial = hydra_config(f"experiment={tutorial}")
    ours = {k: v for k, v in OmegaConf.to_container(cfg).items() if k != "hydra"}
    assert ours == {k: v for k, v in OmegaConf.to_container(tutorial).items() if k != "hydra"}  # only the sweep
    for key in sweeper.params:  # every searched key exists in the tutorial's config
        assert OmegaConf.select(tutorial, key) is not None, key


@pytest.fixture
def optuna_hidden(monkeypatch):
    monkeypatch.setitem(sys.modules, "hydra_plugins.hydra_optuna_sweeper", None)


@pytest.mark.parametrize(
    "arg,named",
    [
        ("hydra/sweeper=optuna", "hydra/sweeper=optuna"),
        ("experiment=search_wgan_gp", "experiment=search_wgan_gp"),
        ("+experiment=search_sngan", "experiment=search_sngan"),
    ],
)
def test_missing_optuna_sweeper_is_a_one_line_hint(optuna_hidden, arg, named):
    with pytest.raises(UsageError) as error:
        launchers.check_sweeper_installed(["-m", arg])
    assert str(error.value) == f'{named} needs the Optuna sweeper: pip install -e ".[search]"'
    launchers.check_sweeper_installed(["-m", "experiment=wgan_gp_mnist", "hydra/sweeper=basic"])  # no plugin needed

"""Spec of `python -m ganrun.export` (ganrun/sharing/writer.py, exported.py, card.py): the folder holds the generator
ganrun samples from by default as safetensors, config.json, a model card in the Hub's format with samples.png; it
reads back to the same generator; bad input is one line and a failed export leaves nothing behind."""

import json

import pytest
import torch
import yaml
from safetensors.torch import load_file

from ganrun import export as command
from ganrun.build import generator_of
from ganrun.sharing import exported, writer
from ganrun.sharing.source import EXPORT, resolve
from helpers.cli import REPO
from helpers.generators import CLASS_NAMES, family_checkpoint

CPU = torch.device("cpu")


@pytest.fixture
def checkpoint(tmp_path):
    return family_checkpoint(tmp_path / "run", "dcgan28", conditional=True)


def images(generator, n=5, seed=3):
    rng = torch.Generator().manual_seed(seed)
    z = torch.randn(n, generator.z_dim, generator=rng)
    labels = torch.tensor([0, 2, 0, 2, 0][:n])
    with torch.no_grad():
        return generator(z, labels)


def test_an_export_samples_exactly_as_its_checkpoint(tmp_path, checkpoint, capsys):
    command.main([str(checkpoint), str(tmp_path / "out"), "--critic"])
    assert "exported" in capsys.readouterr().out
    out = tmp_path / "out"
    assert sorted(p.name for p in out.iterdir()) == ["README.md", "config.json", "model.safetensors", "samples.png"]
    state = torch.load(checkpoint, weights_only=True)
    source = resolve(out)
    assert source.kind == EXPORT and source.used_ema
    torch.testing.assert_close(
        images(source.generator(CPU)), images(generator_of(state, CPU)), rtol=0, atol=0
    )  # the EMA, batch norm statistics as sampled
    tensors = load_file(out / "model.safetensors")
    assert {k for k in tensors if k.startswith("critic.")} == {f"critic.{k}" for k in state["critic"]}
    for k, v in state["critic"].items():
        assert torch.equal(tensors[f"critic.{k}"], v)


def test_config_json_says_what_rebuilds_and_calls_it_and_where_it_came_from(tmp_path, checkpoint):
    command.main([str(checkpoint), str(tmp_path / "out")])
    config = json.loads((tmp_path / "out" / "config.json").read_text())
    assert config["format"] == "ganrun-export" and config["generator"] == "ema" and config["critic"] is False
    assert config["model"]["_target_"] == "ganrun.models.dcgan28.build" and config["z_dim"] == 8
    assert config["image"] == {"channels": 1, "size": 28, "range": [-1, 1]}
    assert (config["conditional"], config["classes"], config["trained_classes"]) == (True, CLASS_NAMES, [0, 2])
    assert (config["step"], config["seed"], config["init"]) == (5, 0, None)
    assert config["images_seen"] == 5 * config["run"]["train"]["batch_size"] * config["run"]["train"]["n_critic"]
    assert config["source"]["path"] == str(checkpoint.absolute())
    assert "model=dcgan28" in config["overrides"]


def test_raw_exports_the_trained_generator(tmp_path, checkpoint):
    command.main([str(checkpoint), str(tmp_path / "raw"), "--raw"])
    state = torch.load(checkpoint, weights_only=True)
    tensors = load_file(tmp_path / "raw" / "model.safetensors")
    assert all(torch.equal(tensors[f"generator.{k}"], v) for k, v in state["generator"].items() if "running" not in k)
    assert resolve(tmp_path / "raw").used_ema is False


def card_of(folder):
    text = (folder / "README.md").read_text()
    _, front, body = text.split("---\n", 2)
    return yaml.safe_load(front), body


def test_the_card_is_in_the_hubs_format_with_scores_and_their_protocols(tmp_path, checkpoint):
    protocol = {
        "metric": "classifier_fd", "reference": "mnist 1×28×28", "split": "train", "real_images": 60000,
        "generated_images": 10000, "generator": "ema", "truncation": None, "features": "classifier 128",
        "weights": "abc123", "resize": "none", "settings": "", "step": 5,
    }  # fmt: skip
    metrics = {"step": 5, "metrics": {"classifier_fd": 3.25}, "protocols": {"classifier_fd": protocol}}
    checkpoint.with_name("last.metrics.json").write_text(json.dumps(metrics))  # ganrun.evaluate's file
    command.main([str(checkpoint), str(tmp_path / "out")])
    metadata, body = card_of(tmp_path / "out")
    assert metadata["library_name"] == "ganrun" and "class-conditional" in metadata["tags"]
    assert metadata["datasets"] == ["ylecun/mnist"]
    (result,) = metadata["model-index"][0]["results"]
    (metric,) = result["metrics"]
    assert (metric["type"], metric["value"], metric["verified"]) == ("classifier_fd", 3.25, False)
    assert metric["args"].startswith("10000 images by the EMA generator at step 5 against 60000 of mnist")
    assert "![64 samples, seed 0, one row per class](samples.png)" in body
    assert f"python -m ganrun.sample {tmp_path / 'out'} --num 64 --out grid.png" in body
    from huggingface_hub import ModelCard  # the Hub's own reader of cards

    card = ModelCard.load(tmp_path / "out" / "README.md")
    assert [(r.metric_type, r.metric_value) for r in card.data.eval_results] == [("classifier_fd", 3.25)]


def test_an_existing_folder_is_kept_unless_force(tmp_path, checkpoint, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "mine.txt").write_text("keep")
    with pytest.raises(SystemExit) as exit:
        command.main([str(checkpoint), str(out)])
    assert exit.value.code == 2
    assert (
        capsys.readouterr().err
        == f"Error: {out} exists and is not empty; give a new folder, or --force to replace it\n"
    )
    command.main([str(checkpoint), str(out), "--force"])
    assert exported.is_export(out) and not (out / "mine.txt").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temporary folder left


def test_a_failed_export_leaves_nothing_behind(tmp_path, checkpoint, monkeypatch):
    def fail(*args):
        raise RuntimeError("disk full")

    monkeypatch.setattr(writer, "write_samples", fail)
    with pytest.raises(RuntimeError):
        writer.export(resolve(checkpoint), tmp_path / "out", writer.Options())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]


def test_bad_input_is_one_line(tmp_path, checkpoint, capsys):
    cases = [
        ([str(tmp_path / "nowhere"), str(tmp_path / "out")], f"{tmp_path / 'nowhere'} does not exist"),
        ([str(checkpoint), str(checkpoint)], f"{checkpoint} is a file; give a folder to export into"),
        ([str(REPO / "tests" / "files" / "r3gan"), str(tmp_path / "o")], "exists but holds no checkpoint"),
    ]
    for argv, message in cases:
        with pytest.raises(SystemExit):
            command.main(argv)
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1, err


def test_a_folder_that_cannot_be_made_is_one_line(tmp_path, checkpoint, capsys):
    (tmp_path / "a-file").write_text("")  # the export's parent is a file: no folder can be made there (even as root)
    with pytest.raises(SystemExit):
        command.main([str(checkpoint), str(tmp_path / "a-file" / "out")])
    err = capsys.readouterr().err
    assert err.startswith(f"Error: cannot create {tmp_path / 'a-file'}: ") and err.count("\n") == 1


def test_evaluate_writes_its_scores_beside_what_it_scored(tmp_path, checkpoint):
    command.main([str(checkpoint), str(tmp_path / "out")])
    assert resolve(tmp_path / "out").beside(".metrics.json") == tmp_path / "out" / "generator.metrics.json"
    assert resolve(checkpoint.parent.parent).beside(".metrics.json") == checkpoint.with_name("last.metrics.json")


def test_the_python_api_samples_what_the_cli_samples(tmp_path, checkpoint):
    import numpy as np

    from ganrun import sample
    from ganrun.sharing import load

    command.main([str(checkpoint), str(tmp_path / "out")])
    generator = load(str(tmp_path / "out"))
    assert (generator.z_dim, generator.num_classes, generator.classes) == (8, 3, CLASS_NAMES)
    assert generator.trained_classes == [0, 2] and generator.config["model"]["hidden"] == 8
    sample.main([str(tmp_path / "out"), "--num", "6", "--seed", "4", "--out", str(tmp_path / "s.npz")])
    cli = np.load(tmp_path / "s.npz")["arr_0"]
    np.testing.assert_array_equal(generator.sample(6, seed=4).permute(0, 2, 3, 1).numpy(), cli)
    assert generator.sample(2, seed=0, label="fox").shape == (2, 1, 28, 28)
    with pytest.raises(ValueError, match="needs labels"):
        generator(torch.randn(2, 8))

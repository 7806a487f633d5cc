"""Spec of the scores' protocols: what a protocol holds and how it reads, carried by the loop into TensorBoard and
best.pt, never compared across protocols, and split into columns of their own in a sweep's summary."""

import csv

import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from torch.utils.tensorboard import SummaryWriter

from ganrun import report
from ganrun.objectives.losses import WGANGP
from ganrun.quality.names import is_better
from ganrun.quality.protocol import FIELDS, Protocol, Scores, describe, differences, from_text, to_text
from ganrun.runstate.checkpoint import Checkpointer
from ganrun.runstate.loggers.run import RunInfo
from ganrun.runstate.loggers.tensorboard import TensorBoardLogger
from ganrun.training.loop import fit
from ganrun.training.settings import Settings
from helpers.parts import hooks, make_parts
from helpers.sweeps import make_job, status

FID = Protocol(
    metric="fid",
    reference="fashion_mnist 1×28×28",
    split="train",
    real_images=10000,
    generated_images=10000,
    generator="ema",
    truncation=None,
    features="inception-v3-compat 2048",
    weights="6726825d0000",
    resize="28×28 → 299×299, bilinear as TensorFlow 1 (torch-fidelity)",
    settings="",
).to_dict()


def test_a_protocol_names_everything_a_score_depends_on_and_reads_as_one_line():
    assert FIELDS == (
        "metric",
        "reference",
        "split",
        "real_images",
        "generated_images",
        "generator",
        "truncation",
        "features",
        "weights",
        "resize",
        "settings",
        "step",
        "init",
        "schedules",  # how the generator trained, beside its step: never what makes two scores comparable
    )
    assert describe({**FID, "step": 2000}) == (
        "fid: 10000 images by the EMA generator at step 2000 against 10000 of fashion_mnist 1×28×28 (train split); "
        "features inception-v3-compat 2048, weights 6726825d0000; resize 28×28 → 299×299, bilinear as TensorFlow 1 "
        "(torch-fidelity)"
    )
    assert from_text(to_text({**FID, "step": 5})) == {**FID, "step": 5}
    assert from_text("some other text") is None
    tuned = {**FID, "step": 30, "init": "/runs/a/checkpoints/last.pt at step 2000, weights 0123456789ab"}
    assert "at step 30 (a run started from /runs/a/checkpoints/last.pt at step 2000, weights 0123456789ab) against" in (
        describe(tuned)
    )


def test_protocols_differ_in_what_they_differ_in_but_never_in_the_step():
    assert differences([FID, {**FID, "step": 9}]) == []
    assert differences([FID, {**FID, "init": "/runs/a/checkpoints/last.pt at step 9, weights 0123456789ab"}]) == []
    assert differences([FID, {**FID, "split": "test", "generated_images": 5000}]) == ["split", "generated_images"]


def test_a_best_of_another_protocol_is_not_compared_with():
    best = {"step": 4, "fid": 2.0, "protocol": {**FID, "step": 4}}
    assert not is_better("fid", 3.0, best, {**FID, "step": 6})  # same protocol at another step: compared
    assert is_better("fid", 3.0, best, {**FID, "generated_images": 5000, "step": 6})  # not comparable: replaces it
    old = {"step": 4, "fid": 2.0}  # written before protocols: compared by value
    assert is_better("fid", 1.0, old, FID) and not is_better("fid", 3.0, old, FID)


def text_events(run_dir) -> dict[str, list[tuple[int, str]]]:
    events = EventAccumulator(str(run_dir), size_guidance={"tensors": 0})
    events.Reload()
    return {
        tag: [(e.step, e.tensor_proto.string_val[0].decode()) for e in events.Tensors(tag)]
        for tag in events.Tags()["tensors"]
    }


def test_the_loop_logs_each_scores_protocol_beside_it_and_best_pt_keeps_the_best_ones(tmp_path):
    parts = make_parts(WGANGP())
    scripted = iter([5.0, 3.0, 4.0])
    settings = Settings(
        steps=3, batch_size=8, n_critic=1, log_every=1, images_every=100, ckpt_every=100, metrics_every=1
    )
    logger = TensorBoardLogger(RunInfo(tmp_path))
    fit(
        parts,
        settings,
        hooks(
            parts,
            logger,
            Checkpointer(tmp_path / "checkpoints", 100),
            evaluate=lambda: Scores({"metrics/fid": next(scripted)}, {"fid": FID}),
        ),
    )
    logger.close()
    texts = text_events(tmp_path)["protocol/fid/text_summary"]
    assert [(step, from_text(text)) for step, text in texts] == [(s, {**FID, "step": s}) for s in (1, 2, 3)]
    assert texts[0][1].startswith("fid: 10000 images by the EMA generator at step 1 against")
    best = torch.load(tmp_path / "checkpoints" / "best.pt", weights_only=True)["best"]
    assert best == {"step": 2, "fid": 3.0, "protocol": {**FID, "step": 2}}


# ---------------------------------------------------------------- sweep summaries


def scored_job(sweep, name, value, protocol):
    job = make_job(sweep, name, [f"loss.lambda_gp={name}"], status("completed", 4, 4, 1.0, {"metrics/fid": value}))
    writer = SummaryWriter(str(job))
    writer.add_scalar("metrics/fid", value, 4)
    if protocol is not None:
        writer.add_text("protocol/fid", to_text({**protocol, "step": 4}), 4)
    writer.close()


def test_one_protocol_is_one_column_described_under_the_table(tmp_path):
    sweep = tmp_path / "sweep"
    for name, value in (("1", 30.0), ("10", 20.0)):
        scored_job(sweep, name, value, FID)
    report.write_report(sweep)
    lines = (sweep / "summary.md").read_text().splitlines()
    assert "metrics/fid" in lines[0]
    start = lines.index("## How the metrics were measured")
    assert lines[start + 2] == f"- metrics/fid: {describe({**FID, 'step': 4}, metric=False)}"
    assert lines[-1] == "Best job by metrics/fid (lower is better): 10 (loss.lambda_gp=10) with 20."


def test_scores_of_different_protocols_are_never_one_column(tmp_path):
    sweep = tmp_path / "sweep"
    scored_job(sweep, "1", 30.0, FID)
    scored_job(sweep, "10", 10.0, {**FID, "generated_images": 5000, "split": "test"})  # lower, but not comparable
    scored_job(sweep, "100", 20.0, FID)
    scored_job(sweep, "1000", 5.0, None)  # from before protocols were logged
    report.write_report(sweep)
    with open(sweep / "summary.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [(r["job"], r["metrics/fid [A]"], r["metrics/fid [B]"], r["metrics/fid [C]"]) for r in rows] == [
        ("1", "30.0", "", ""),
        ("10", "", "10.0", ""),
        ("100", "20.0", "", ""),
        ("1000", "", "", "5.0"),
    ]
    assert "metrics/fid" not in rows[0]
    md = (sweep / "summary.md").read_text()
    assert (
        "- metrics/fid was measured under 3 protocols, which differ in split, generated_images, whether it was "
        "recorded: one column each, never ranked against each other"
    ) in md
    assert "  - metrics/fid [B]: 5000 images by the EMA generator at step 4 against 10000 of fashion_mnist" in md
    assert "  - metrics/fid [C]: not recorded (measured before ganrun logged protocols) (jobs 1000)" in md
    # Ranked within the protocol most jobs share: job 10's 10.0 and job 1000's 5.0 are not in the race.
    assert md.splitlines()[-1] == "Best job by metrics/fid [A] (lower is better): 100 (loss.lambda_gp=100) with 20."


def test_a_job_logged_to_csv_alone_keeps_its_protocols_for_the_summary(tmp_path):
    from ganrun.runstate.loggers.csv import CSVLogger

    sweep = tmp_path / "sweep"
    job = make_job(sweep, "1", ["loss.lambda_gp=1"], status("completed", 4, 4, 1.0, {"metrics/fid": 7.0}))
    logger = CSVLogger(RunInfo(job))
    logger.scalars({"metrics/fid": 9.0}, 2)
    logger.text("protocol/fid", to_text({**FID, "generated_images": 5000, "step": 2}), 2)
    logger.scalars({"metrics/fid": 7.0}, 4)
    logger.text("protocol/fid", to_text({**FID, "step": 4}), 4)  # the newest replaces the one before
    logger.close()
    report.write_report(sweep)
    md = (sweep / "summary.md").read_text().splitlines()
    assert f"- metrics/fid: {describe({**FID, 'step': 4}, metric=False)}" in md

"""The export's model card, README.md in the Hub's format: YAML metadata (library_name, tags, the data set, the
scores with their protocols as model-index results) and a page: the sample grid, how to sample, how it was trained,
its scores and how each was measured, where it came from."""

from __future__ import annotations

import yaml

from ganrun.sharing import provenance
from ganrun.sharing.exported import ONNX, SAMPLES

# The presets' data sets as the Hub names them (a folder of one's own has no id).
HUB_DATASETS = {
    "mnist": "ylecun/mnist",
    "fashion_mnist": "zalando-datasets/fashion_mnist",
    "cifar10": "uoft-cs/cifar10",
    "cifar10_horse": "uoft-cs/cifar10",
}
METRIC_NAMES = {"fid": "FID", "kid": "KID", "isc": "Inception Score", "classifier_fd": "classifier FD"}


def model_card(config: dict, source, where: str) -> str:
    """README.md of an export with config.json `config`, made from `source`; `where`: what loads it (its folder, or
    hf://user/repo where it is pushed)."""
    facts = provenance.training_facts(config, source)
    scores = config.get("scores") or []
    metadata = card_metadata(config, facts, scores)
    front = yaml.safe_dump(metadata, sort_keys=False, allow_unicode=True, width=1000)
    return f"---\n{front}---\n\n" + "\n".join(page(config, facts, scores, where)) + "\n"


def card_metadata(config: dict, facts: dict, scores: list[dict]) -> dict:
    conditional = config["conditional"]
    task = "image-generation" if conditional else "unconditional-image-generation"
    tags = ["ganrun", "gan", "pytorch", task, f"model={facts['model']}", f"loss={facts['loss']}"]
    if conditional:
        tags.append("class-conditional")
    metadata = {"library_name": "ganrun", "tags": tags}
    if not conditional:
        metadata["pipeline_tag"] = "unconditional-image-generation"
    if facts["dataset"] in HUB_DATASETS:
        metadata["datasets"] = [HUB_DATASETS[facts["dataset"]]]
    if scores:
        metadata["metrics"] = sorted({s["metric"] for s in scores})
        metadata["model-index"] = [
            {
                "name": facts["title"],
                "results": [
                    {
                        "task": {"type": task, "name": task.replace("-", " ").capitalize()},
                        "dataset": {"type": facts["dataset"], "name": facts["dataset"]},
                        "metrics": [
                            {
                                "type": s["metric"],
                                "value": round(float(s["value"]), 6),
                                "name": METRIC_NAMES.get(s["metric"], s["metric"]),
                                "args": s["protocol_text"],
                                "verified": False,
                            }
                            for s in scores
                        ],
                    }
                ],
            }
        ]
    return metadata


def page(config: dict, facts: dict, scores: list[dict], where: str) -> list[str]:
    lines = [
        f"# {facts['title']}",
        "",
        f"A {'class-conditional ' if config['conditional'] else ''}GAN generator trained with "
        f"ganrun on {facts['dataset_text']}: {facts['image_text']} images "
        f"from a {config['z_dim']}-dimensional standard normal z{', and a class' if config['conditional'] else ''}.",
        "",
        f"![64 samples, seed 0{', one row per class' if config['conditional'] else ''}]({SAMPLES})",
        "",
        "## Use it",
        "",
        "```bash",
        f"python -m ganrun.sample {where} --num 64 --out grid.png",
        "```",
        "",
        "```python",
        "from ganrun.sharing import load",
        f'generator = load("{where}")' + "  # a callable torch module, with .config",
        "images = generator.sample(16, seed=0)  # uint8, 16×C×H×W",
        "```",
        "",
        f"`python -m ganrun.evaluate {where}` scores it against its data set; `init={where}` fine-tunes it "
        "(`train.freeze_critic` for FreezeD) when the export holds the critic.",
    ]
    if config.get("onnx"):
        lines += [
            "",
            f"`{ONNX}` takes `z` (N×{config['z_dim']} float32)"
            + (" and `labels` (N int64)" if config["conditional"] else "")
            + " and returns `images` (N×C×H×W in [-1, 1]) for any batch size N (onnxruntime).",
        ]
    lines += ["", "## How it was trained", "", "| what | how |", "|---|---|"]
    lines += [f"| {key} | {value} |" for key, value in facts["table"]]
    lines += ["", "## Scores", ""]
    if scores:
        lines += ["| metric | value | how it was measured |", "|---|---|---|"]
        lines += [f"| {s['metric']} | {float(s['value']):.4g} | {s['protocol_text']} |" for s in scores]
    else:
        lines.append(
            "None with this export: score it with `python -m ganrun.evaluate` before exporting (its "
            "`.metrics.json` beside the checkpoint goes into this card)."
        )
    lines += ["", "## Files", "", "| file | what |", "|---|---|"]
    lines += [f"| `{name}` | {what} |" for name, what in files(config)]
    return lines


def files(config: dict) -> list[tuple[str, str]]:
    held = "the EMA generator" if config["generator"] == "ema" else "the trained generator (not its EMA)"
    rows = [
        ("model.safetensors", f"{held} as `generator.*`" + (", the critic as `critic.*`" if config["critic"] else "")),
        ("config.json", "the model's config, z's size, the image shape and range, the classes, the run's config"),
        (SAMPLES, "64 samples of seed 0"),
    ]
    if config.get("onnx"):
        rows.append((ONNX, "the generator for onnxruntime, any batch size"))
    return rows

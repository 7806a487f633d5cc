"""Generators that travel: one resolver for "a generator given by path" (a checkpoint, a run folder, a folder of
runs, an exported folder, a Hub repository `hf://user/repo`, an R3GAN network pickle), the export folder
(safetensors weights, config.json, a model card, ONNX), and the Hub. docs/sharing.md shows it all.

Nothing here imports huggingface_hub, safetensors or onnx at import time: they are the optional extra `share`,
imported where they are used (a missing one is a one-line UsageError naming the extra).
"""

from ganrun.sharing.api import Generator, load

__all__ = ["Generator", "load"]

"""DINOv2's feature space (Stein et al. 2023, EDM2's fd_dinov2): the networks, where their weights are, checking a
given file, and the network as torch-fidelity's feature extractor of the class token.

The architecture is timm's `vit_*_patch14_dinov2`, built offline from PyPI; the weights are DINOv2's own release
files (`dinov2_vitl14_pretrain.pth`: the file torch.hub's `facebookresearch/dinov2` loads, and so EDM2 and dgm-eval),
downloaded once into the torch hub cache where those tools keep them too. The weights carry a 37×37 grid of position
embeddings (518 px); at 224 px DINOv2's code resamples it at every forward, bicubic with a scale factor of
(16 + 0.1)/37 and no antialiasing (`interpolate_pos_encoding`); timm resamples on load by size, with antialiasing.
ganrun resamples once on load the way DINOv2's code does, so its features equal the reference code's
(scripts/dinov2_reference.py checks it).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from ganrun.base.errors import UsageError
from ganrun.quality.weights import OwnExtractor, download, once_per_file, read_state

SIDE = 224  # EDM2's and dgm-eval's input side: 16×16 patches of 14 px
MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)  # ImageNet's, as DINOv2 was trained
POS_OFFSET = 0.1  # DINOv2's interpolate_offset: the scale factor (16 + 0.1)/37 of its position-embedding resample
FEATURES = "cls"  # the class token after the last norm: what DINOv2's forward returns, what FD is measured on
RELEASES = "https://dl.fbaipublicfiles.com/dinov2"  # DINOv2's weight files, as its hubconf downloads them


@dataclass(frozen=True)
class Model:
    name: str  # DINOv2's (and dgm-eval's) name: vitl14
    timm: str  # timm's architecture
    dim: int  # features of the class token
    depth: int

    @property
    def file(self) -> str:
        return f"dinov2_{self.name}_pretrain.pth"

    @property
    def url(self) -> str:
        return f"{RELEASES}/dinov2_{self.name}/{self.file}"


MODELS = {
    m.name: m
    for m in (
        Model("vits14", "vit_small_patch14_dinov2", 384, 12),
        Model("vitb14", "vit_base_patch14_dinov2", 768, 12),
        Model("vitl14", "vit_large_patch14_dinov2", 1024, 24),
        Model("vitg14", "vit_giant_patch14_dinov2", 1536, 40),
    )
}
DEFAULT = "vitl14"  # EDM2's and dgm-eval's: the numbers published as fd_dinov2


def model_of(name: str, option: str = "metrics.dinov2.model=") -> Model:
    if name not in MODELS:
        raise UsageError(f"{option}{name} is not a DINOv2 network; choose one of {', '.join(MODELS)}")
    return MODELS[name]


def hub_weights_path(model: Model) -> Path:
    """Where torch.hub keeps DINOv2's weights of `model` (as DINOv2's own hubconf downloads them)."""
    return Path(torch.hub.get_dir()) / "checkpoints" / model.file


def to_timm(state: dict) -> dict:
    """DINOv2's state dict in timm's names: the mask token (training only) dropped, ViT-g's SwiGLU renamed."""
    renamed = {k.replace(".mlp.w12.", ".mlp.fc1.").replace(".mlp.w3.", ".mlp.fc2."): v for k, v in state.items()}
    renamed.pop("mask_token", None)
    return renamed


def resample_positions(pos_embed: torch.Tensor, grid: int) -> torch.Tensor:
    """The class token's position and the patch grid's resampled to grid×grid as DINOv2's interpolate_pos_encoding
    does at run time: bicubic, by the scale factor (grid + 0.1)/M (not by size), no antialiasing, in float32."""
    cls, patches = pos_embed[:, :1], pos_embed[:, 1:].float()
    side = int(round(patches.shape[1] ** 0.5))
    if side == grid:
        return pos_embed
    scale = (grid + POS_OFFSET) / side
    square = patches.reshape(1, side, side, -1).permute(0, 3, 1, 2)
    resampled = F.interpolate(square, scale_factor=(scale, scale), mode="bicubic", antialias=False)
    return torch.cat([cls, resampled.permute(0, 2, 3, 1).reshape(1, grid * grid, -1).to(pos_embed.dtype)], 1)


def read_weights(path: Path, model: Model, option: str) -> dict:
    """The state dict at `path` in timm's names, checked to be DINOv2's `model`; UsageError in one line if not."""
    state = read_state(path, option, f"DINOv2's {model.file}")
    pos, last = state.get("pos_embed"), state.get(f"blocks.{model.depth - 1}.norm1.weight")
    found = tuple(pos.shape) if torch.is_tensor(pos) else "none"
    if "register_tokens" in state:
        raise UsageError(f"{option}{path} is a DINOv2 with registers; use {model.file} (without registers)")
    if (
        not torch.is_tensor(pos)
        or pos.shape[-1] != model.dim
        or not torch.is_tensor(last)
        or f"blocks.{model.depth}.norm1.weight" in state
    ):
        raise UsageError(
            f"{option}{path} is not DINOv2's {model.name} ({model.depth} blocks, {model.dim} features; its "
            f"pos_embed: {found}); use {model.file}, or set metrics.dinov2.model to the network it holds"
        )
    return to_timm(state)


@once_per_file
def check_weights_file(path: Path, model: Model, option: str) -> None:
    """UsageError in one line unless `path` holds DINOv2's `model` (read_weights, once per file)."""
    read_weights(path, model, option)


def weights_path(given: Path | None, model: Model, option: str) -> Path:
    """The weights file: `given`, else the torch hub cache, downloading it there once."""
    if given is not None:
        return given
    path = hub_weights_path(model)
    if not path.is_file():
        download(model.url, path, f"DINOv2's {model.name} weights for the *_dinov2 metrics", option)
    return path


def require_timm() -> None:
    """UsageError unless timm, which builds DINOv2's network, is installed."""
    import importlib.util

    if importlib.util.find_spec("timm") is None:
        raise UsageError("the *_dinov2 metrics need timm, which builds DINOv2's network: pip install 'ganrun[dinov2]'")


def build(path: Path, model: Model, option: str) -> torch.nn.Module:
    """timm's ViT of `model` at 224×224 with DINOv2's weights at `path` (its positions resampled as DINOv2 does)."""
    require_timm()
    import timm  # seconds to import: only when the space is used

    state = read_weights(path, model, option)
    with torch.random.fork_rng(devices=[]):  # its random initialization (then overwritten) draws too
        net = timm.create_model(model.timm, pretrained=False, img_size=SIDE, num_classes=0)
    state["pos_embed"] = resample_positions(state["pos_embed"], SIDE // 14)
    try:
        net.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise UsageError(
            f"the DINOv2 weights {path} do not load into {model.name} ({' '.join(str(exc).split())[:160]}); "
            f"use {model.file}, or delete the file to download it again"
        ) from None
    return net.eval().requires_grad_(False)


def preprocess(x: torch.Tensor) -> torch.Tensor:
    """uint8 N×3×H×W → 224×224 as EDM2's detector: bicubic with antialiasing on the pixel values as float (not
    rounded back to uint8), then [0, 1] and ImageNet's normalization."""
    x = F.interpolate(x.float(), size=(SIDE, SIDE), mode="bicubic", antialias=True)
    mean, std = (torch.tensor(v, dtype=x.dtype, device=x.device).view(1, 3, 1, 1) for v in (MEAN, STD))
    return (x / 255 - mean) / std


class Dinov2Features(OwnExtractor):
    """torch-fidelity's view of DINOv2: uint8 N×3×H×W in, the class token's features out."""

    PROVIDED = (FEATURES,)

    def __init__(self, name: str, net: torch.nn.Module):
        super().__init__(name, [FEATURES])
        self.net = net

    def forward(self, x: torch.Tensor):
        return (self.net(preprocess(x)).float(),)


def extractor(path: Path, model: Model, option: str, device) -> Dinov2Features:
    """The DINOv2 feature extractor of `model` with the weights at `path`, on `device`."""
    return Dinov2Features(f"dinov2-{model.name}", build(path, model, option)).to(device)

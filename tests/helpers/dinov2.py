"""DINOv2's ViT-S/14 with seeded random weights, written as DINOv2's release files are: no download."""

from pathlib import Path

import timm
import torch


def random_dinov2_weights(folder: Path, model: str = "vits14", registers: bool = False) -> Path:
    """A state-dict file in DINOv2's own names and shapes (a 37×37 position grid, a mask token) with random
    weights; LayerScale's gammas random too, so that every block changes the features."""
    arch = {"vits14": "vit_small_patch14_dinov2", "vitb14": "vit_base_patch14_dinov2"}[model]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        net = timm.create_model(arch, pretrained=False, img_size=518, num_classes=0)
        state = {k: v.clone() for k, v in net.state_dict().items()}
        for key in state:
            if key.endswith(".gamma"):  # DINOv2 trains them from 1e-5 to O(0.1–1)
                state[key] = torch.rand_like(state[key])
            elif key == "pos_embed":
                state[key] = torch.randn_like(state[key])
        state["mask_token"] = torch.zeros(1, state["cls_token"].shape[-1])
        if registers:
            state["register_tokens"] = torch.zeros(1, 4, state["cls_token"].shape[-1])
    path = folder / f"dinov2_{model}_pretrain.pth"
    folder.mkdir(parents=True, exist_ok=True)
    torch.save(state, path)
    return path

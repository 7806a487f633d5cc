"""Pictures whose rows are classes, with each row's class name written before it: the `samples` and `real` grids of
a conditional model, ganrun.sample's per-class grid and its walks."""

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

from ganrun.base.pixels import to_uint8

PAD = 2  # pixels between tiles, as torchvision's make_grid
NAME_CHARS = 24  # a longer class name is cut, with an ellipsis


def name_rows(pixels: np.ndarray, centers: list[int], names: list[str], background: int = 0) -> np.ndarray:
    """uint8 H×W×C `pixels` with a margin on the left holding each of `names` at the height of its row's center
    (`centers`, in pixels), on `background` (0 black, 255 white) in the opposite ink."""
    font = ImageFont.load_default()
    shown = [name if len(name) <= NAME_CHARS else name[: NAME_CHARS - 1] + "…" for name in map(str, names)]
    margin = max(int(font.getlength(name)) for name in shown) + 2 * PAD + 2
    height, width, channels = pixels.shape
    canvas = Image.new("L", (margin, height), background)
    draw = ImageDraw.Draw(canvas)
    for center, name in zip(centers, shown):
        top, bottom = draw.textbbox((0, 0), name, font=font)[1::2]
        draw.text((PAD + 1, center - (top + bottom) // 2), name, fill=255 - background, font=font)
    names_column = np.repeat(np.asarray(canvas)[..., None], channels, axis=2)
    return np.concatenate([names_column, pixels], axis=1)


def named_grid(images: torch.Tensor, columns: int, names: list[str]) -> torch.Tensor:
    """uint8 images (rows × columns of them, row r of class names[r]) as one uint8 1×C×H×W picture: make_grid's
    tiles on black, with each name beside its row."""
    from torchvision.utils import make_grid  # here: importing torchvision takes a second and a half

    grid = make_grid(images.cpu(), nrow=columns, padding=PAD)[: images.shape[1]]  # make_grid makes gray RGB
    tile = images.shape[-2]
    centers = [PAD + row * (tile + PAD) + tile // 2 for row in range(len(names))]
    pixels = name_rows(grid.permute(1, 2, 0).numpy(), centers, names)
    return torch.from_numpy(pixels).permute(2, 0, 1)[None].contiguous()


def with_names(
    images: torch.Tensor, row_length: int | None, row_classes: torch.Tensor | None, names: list[str] | None
) -> tuple[torch.Tensor, int | None]:
    """(images, images a row) as a grid is logged: one row per class (of labels `row_classes`) as one picture with
    the classes' `names` beside the rows; as they are where the rows are not classes or the names are not known."""
    if row_length is None or row_classes is None or not names:
        return images, row_length
    pixels = images if images.dtype == torch.uint8 else to_uint8(images.detach().cpu())
    return named_grid(pixels, row_length, [names[int(label)] for label in row_classes]), 1

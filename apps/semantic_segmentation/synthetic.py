"""A generated segmentation dataset: discs and squares on noisy backgrounds, with index masks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

__all__ = ["write_shapes_segmentation"]

CLASSES = (("background", (0, 0, 0)), ("disc", (220, 40, 40)), ("square", (40, 200, 60)))


def write_shapes_segmentation(root: Path, images: int = 24, seed: int = 0) -> Path:
    """Write `images/*.png`, `masks/*.png` ("L" masks of class ids; sizes vary) and `classes.txt`;
    return the dataset folder."""
    rng = np.random.default_rng(seed)
    root = Path(root)
    (root / "images").mkdir(parents=True, exist_ok=True)
    (root / "masks").mkdir(parents=True, exist_ok=True)
    for i in range(images):
        width, height = int(rng.integers(40, 73)), int(rng.integers(40, 73))
        image = Image.fromarray(rng.integers(0, 90, size=(height, width, 3), dtype=np.uint8), "RGB")
        mask = Image.new("L", (width, height), 0)
        draw, draw_mask = ImageDraw.Draw(image), ImageDraw.Draw(mask)
        for _ in range(int(rng.integers(1, 4))):
            cls = int(rng.integers(1, len(CLASSES)))
            side = int(rng.integers(10, max(11, min(width, height) // 2)))
            x0, y0 = int(rng.integers(0, width - side)), int(rng.integers(0, height - side))
            shape = [x0, y0, x0 + side - 1, y0 + side - 1]
            colour = tuple(int(c) for c in rng.integers(150, 256, size=3))
            (draw.ellipse if cls == 1 else draw.rectangle)(shape, fill=colour)
            (draw_mask.ellipse if cls == 1 else draw_mask.rectangle)(shape, fill=cls)
        image.save(root / "images" / f"{i:03d}.png")
        mask.save(root / "masks" / f"{i:03d}.png")
    lines = [f"{name} {r} {g} {b}" for name, (r, g, b) in CLASSES]
    (root / "classes.txt").write_text("\n".join(lines) + "\n")
    return root

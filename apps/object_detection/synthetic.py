"""A generated detection dataset: squares and discs on noisy backgrounds, as a TF OD API CSV."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

__all__ = ["write_shapes_detection"]

CLASSES = ("disc", "square")


def write_shapes_detection(root: Path, images: int = 32, seed: int = 0) -> Path:
    """Write `images/*.png` (sizes vary, 1-3 objects each) and `labels.csv`; return the CSV path.

    Every box is the exact extent of its shape, so a trained model can be checked against it.
    """
    rng = np.random.default_rng(seed)
    folder = Path(root) / "images"
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for i in range(images):
        width, height = int(rng.integers(56, 97)), int(rng.integers(56, 97))
        background = rng.integers(0, 90, size=(height, width, 3), dtype=np.uint8)
        image = Image.fromarray(background, "RGB")
        draw = ImageDraw.Draw(image)
        for _ in range(int(rng.integers(1, 4))):
            cls = CLASSES[int(rng.integers(0, len(CLASSES)))]
            side = int(rng.integers(14, max(15, min(width, height) // 2)))
            x0, y0 = int(rng.integers(0, width - side)), int(rng.integers(0, height - side))
            colour = tuple(int(c) for c in rng.integers(150, 256, size=3))
            shape = [x0, y0, x0 + side - 1, y0 + side - 1]
            (draw.ellipse if cls == "disc" else draw.rectangle)(shape, fill=colour)
            rows.append([f"{i:03d}.png", width, height, cls, x0, y0, x0 + side, y0 + side])
        image.save(folder / f"{i:03d}.png")
    labels = Path(root) / "labels.csv"
    with labels.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["filename", "width", "height", "class", "xmin", "ymin", "xmax", "ymax"])
        writer.writerows(rows)
    return labels

"""Synthetic labelled data generated on the fly, so the quickstart and tests need no download."""

from __future__ import annotations

import random
from pathlib import Path

from PIL import Image, ImageDraw, ImageFilter

__all__ = ["SHAPES", "write_shapes_dataset"]

SHAPES = ("circle", "square", "triangle", "cross")


def _draw(shape: str, size: int, rng: random.Random, grayscale: bool) -> Image.Image:
    background = tuple(rng.randint(0, 90) for _ in range(3))
    color = tuple(rng.randint(150, 255) for _ in range(3))
    image = Image.new("RGB", (size, size), background)
    draw = ImageDraw.Draw(image)
    extent = rng.uniform(0.45, 0.8) * size
    cx, cy = (rng.uniform(extent / 2, size - extent / 2) for _ in range(2))
    half = extent / 2
    box = (cx - half, cy - half, cx + half, cy + half)
    if shape == "circle":
        draw.ellipse(box, fill=color)
    elif shape == "square":
        draw.rectangle(box, fill=color)
    elif shape == "triangle":
        draw.polygon([(cx, cy - half), (cx - half, cy + half), (cx + half, cy + half)], fill=color)
    else:
        bar = extent / 4
        draw.rectangle((cx - half, cy - bar / 2, cx + half, cy + bar / 2), fill=color)
        draw.rectangle((cx - bar / 2, cy - half, cx + bar / 2, cy + half), fill=color)
    image = image.filter(ImageFilter.GaussianBlur(rng.uniform(0, 0.8)))
    return image.convert("L") if grayscale else image


def write_shapes_dataset(
    root: str | Path,
    images_per_class: int = 40,
    size: int = 48,
    classes: tuple[str, ...] = SHAPES,
    seed: int = 0,
    grayscale: bool = False,
    formats: tuple[str, ...] = ("png", "jpg"),
) -> Path:
    """Write a folder of labelled shape images: `<root>/<class>/<class>_<i>.<ext>`.

    Args:
        root: destination folder (created).
        images_per_class: images written per class.
        size: side length in pixels.
        classes: class names, a subset of `SHAPES`.
        seed: random seed; the same seed writes the same files.
        grayscale: write single-channel images.
        formats: file formats used in turn (png, jpg, bmp, gif).

    Returns:
        `root` as a Path.
    """
    unknown = set(classes) - set(SHAPES)
    if unknown:
        raise ValueError(f"Unknown shape classes. Expected a subset of {SHAPES}. Received: {sorted(unknown)}")
    root = Path(root)
    rng = random.Random(seed)
    for shape in classes:
        folder = root / shape
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(images_per_class):
            ext = formats[i % len(formats)]
            image = _draw(shape, size, rng, grayscale)
            image.save(folder / f"{shape}_{i:04d}.{ext}", format={"jpg": "JPEG"}.get(ext, ext.upper()))
    return root

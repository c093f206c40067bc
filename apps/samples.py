"""Sample request images shared by the image tasks' `sample_request` (warm-up, parity checks, tests)."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageDraw

__all__ = ["shape_pngs"]


def shape_pngs(height: int, width: int, count: int = 2, grow: tuple[int, int] = (16, 24)) -> np.ndarray:
    """PNGs of a yellow square and a red disc on a plain background, deterministic.

    Image `i` is `(height + grow[0] * i) x (width + grow[1] * i)`, so a request mixes sizes.

    Returns:
        An object array of `count` PNG byte strings (an `image_bytes` input).
    """
    encoded = []
    for i in range(count):
        h, w = height + grow[0] * i, width + grow[1] * i
        image = Image.new("RGB", (w, h), (40 + 30 * i, 90, 120))
        draw = ImageDraw.Draw(image)
        draw.rectangle([w // 8, h // 6, w // 2, h // 2], fill=(230, 200, 40))
        draw.ellipse([w // 2, h // 2, w - w // 8, h - h // 8], fill=(200, 40, 60))
        buffer = io.BytesIO()
        image.save(buffer, format="PNG")
        encoded.append(buffer.getvalue())
    return np.array(encoded, dtype=object)

"""A generated 3D segmentation set in the Medical Segmentation Decathlon layout: MRI-like
volumes (a bright-ish ellipsoid "organ" holding a brighter ball "lesion") with label volumes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

__all__ = ["write_synthetic_volumes"]


def write_synthetic_volumes(root: Path, cases: int = 8, size: int = 24, seed: int = 0) -> Path:
    """Write `imagesTr/case_NNN.nii.gz`, `labelsTr/case_NNN.nii.gz` (0 background, 1 lesion) and a
    `dataset.json`; volume sizes vary around `size`, voxels are 1.5 mm. Returns `root`."""
    import nibabel as nib

    rng = np.random.default_rng(seed)
    root = Path(root)
    (root / "imagesTr").mkdir(parents=True, exist_ok=True)
    (root / "labelsTr").mkdir(parents=True, exist_ok=True)
    affine = np.diag([1.5, 1.5, 1.5, 1.0])
    for i in range(cases):
        shape = tuple(int(s) for s in rng.integers(size - 4, size + 5, size=3))
        grids = np.meshgrid(*[np.arange(s) - s / 2 for s in shape], indexing="ij")
        organ = sum((g / (0.4 * s)) ** 2 for g, s in zip(grids, shape, strict=True)) < 1
        centre = rng.uniform(-0.12, 0.12, size=3) * np.array(shape)
        radius = rng.uniform(0.12, 0.2) * min(shape)
        lesion = sum((g - c) ** 2 for g, c in zip(grids, centre, strict=True)) < radius**2
        image = np.where(organ, 400.0, 0.0) + np.where(lesion, 350.0, 0.0)
        image = np.where(organ, image + rng.normal(0, 40, size=shape), 0.0).astype(np.float32)
        nib.save(nib.Nifti1Image(image, affine), str(root / "imagesTr" / f"case_{i:03d}.nii.gz"))
        nib.save(
            nib.Nifti1Image(lesion.astype(np.uint8), affine), str(root / "labelsTr" / f"case_{i:03d}.nii.gz")
        )
    (root / "dataset.json").write_text(
        json.dumps(
            {"name": "synthetic", "modality": {"0": "MRI"}, "labels": {"0": "background", "1": "lesion"}},
            indent=1,
        )
    )
    return root

"""Packaging: every package folder is declared, and a built wheel holds only `tfapps/...`."""

from __future__ import annotations

import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CODE_FOLDERS = ("apps", "models", "pipelines", "serving")


def _declared() -> set[str]:
    setuptools = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    return set(setuptools["packages"]), setuptools["package-dir"]


def test_every_package_folder_is_declared():
    packages, package_dir = _declared()
    assert package_dir == {f"tfapps.{folder}": folder for folder in CODE_FOLDERS}
    on_disk = {
        "tfapps." + ".".join(init.parent.relative_to(REPO).parts)
        for folder in CODE_FOLDERS
        for init in (REPO / folder).rglob("__init__.py")
    }
    assert on_disk == packages, f"undeclared: {on_disk - packages}, missing on disk: {packages - on_disk}"


def test_wheel_holds_only_tfapps(tmp_path):
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            str(REPO),
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (wheel,) = tmp_path.glob("tfapps-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    code = [n for n in names if ".dist-info/" not in n]
    assert code and all(n.startswith("tfapps/") for n in code), [
        n for n in code if not n.startswith("tfapps/")
    ]
    for folder in CODE_FOLDERS:
        assert f"tfapps/{folder}/__init__.py" in names
    assert "tfapps/apps/image_classification/task.py" in names

"""Reading labelled image folders and CSVs: every failure is a DataError that names the culprit."""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tfapps.apps.errors import DataError
from tfapps.pipelines.reader import find_split, list_labelled_images, scan_images

FORMATS = {"png": "PNG", "jpg": "JPEG", "jpeg": "JPEG", "bmp": "BMP", "gif": "GIF"}


def write_image(path: Path, size=(20, 24), mode: str = "RGB", seed: int = 0) -> Path:
    """Write a random image of `size` (height, width) in the format named by the extension."""
    rng = np.random.default_rng(seed)
    shape = (*size, 3) if mode == "RGB" else size
    pixels = rng.integers(0, 256, shape, dtype=np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels, mode=mode).save(path, format=FORMATS[path.suffix[1:].lower()])
    return path


def make_folder(
    root: Path, classes=("a", "b"), per_class: int = 2, ext: str = "png", mode: str = "RGB"
) -> Path:
    for c, name in enumerate(classes):
        for i in range(per_class):
            write_image(root / name / f"{name}{i}.{ext}", mode=mode, seed=10 * c + i)
    return root


def encoded(fmt: str = "JPEG", size=(32, 32)) -> bytes:
    buffer = io.BytesIO()
    pixels = np.random.default_rng(1).integers(0, 256, (*size, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(buffer, format=fmt)
    return buffer.getvalue()


# --- folders ---------------------------------------------------------------------------------


def test_folder_lists_every_image_with_sorted_class_indices(tmp_path):
    root = make_folder(tmp_path / "data", classes=("zebra", "ant", "moth"), per_class=3)
    (root / "ant" / "notes.txt").write_text("not an image")  # ignored: not an image extension
    files = list_labelled_images(root)
    assert files.class_names == ("ant", "moth", "zebra")
    assert len(files.paths) == 9
    for path, label in zip(files.paths, files.labels, strict=True):
        assert Path(path).parent.name == files.class_names[label]
    assert files.counts() == {"ant": 3, "moth": 3, "zebra": 3}
    assert files.skipped == []
    assert files.channels == 3


def test_class_names_fix_the_label_order(tmp_path):
    root = make_folder(tmp_path / "data", classes=("a", "b"))
    files = list_labelled_images(root, class_names=("b", "a", "c"))
    assert files.class_names == ("b", "a", "c")
    for path, label in zip(files.paths, files.labels, strict=True):
        assert files.class_names[label] == Path(path).parent.name
    # A class given but absent from this split counts zero and is not an error (e.g. a small val set).
    assert files.counts() == {"b": 2, "a": 2, "c": 0}


def test_labels_unknown_to_class_names_are_named(tmp_path):
    root = make_folder(tmp_path / "data", classes=("a", "b", "intruder"))
    with pytest.raises(DataError, match="intruder") as info:
        list_labelled_images(root, class_names=("a", "b"))
    assert "not seen in training" in str(info.value)
    assert "Received:" in str(info.value)


@pytest.mark.parametrize("kind", ["random_png", "truncated_jpeg", "truncated_png", "empty"])
def test_undecodable_file_is_named(tmp_path, kind):
    root = make_folder(tmp_path / "data")
    name = {
        "random_png": "bad.png",
        "truncated_jpeg": "cut.jpg",
        "truncated_png": "cut.png",
        "empty": "zero.png",
    }[kind]
    bad = root / "b" / name
    if kind == "random_png":
        bad.write_bytes(np.random.default_rng(0).integers(0, 256, 600, dtype=np.uint8).tobytes())
    elif kind == "truncated_jpeg":
        data = encoded("JPEG")
        bad.write_bytes(data[: len(data) // 2])
    elif kind == "truncated_png":
        data = encoded("PNG")
        bad.write_bytes(data[: len(data) // 2])
    else:
        bad.write_bytes(b"")
    with pytest.raises(DataError, match="cannot be decoded") as info:
        list_labelled_images(root)
    assert str(bad) in str(info.value)
    assert "skip_corrupt" in str(info.value)  # the message says how to get past it


def test_skip_corrupt_skips_and_records(tmp_path):
    root = make_folder(tmp_path / "data", per_class=3)
    bad1 = root / "a" / "bad.png"
    bad1.write_bytes(os.urandom(300))
    bad2 = root / "b" / "zero.jpg"
    bad2.write_bytes(b"")
    files = list_labelled_images(root, skip_corrupt=True)
    assert sorted(p for p, _ in files.skipped) == sorted([str(bad1), str(bad2)])
    assert len(files.paths) == 6
    assert str(bad1) not in files.paths and str(bad2) not in files.paths
    assert files.counts() == {"a": 3, "b": 3}
    # Labels stay aligned with the kept paths.
    for path, label in zip(files.paths, files.labels, strict=True):
        assert Path(path).parent.name == files.class_names[label]


def test_skip_corrupt_with_nothing_left_is_an_error(tmp_path):
    root = tmp_path / "data"
    for name in ("a", "b"):
        (root / name).mkdir(parents=True)
        (root / name / "x.png").write_bytes(b"garbage")
    with pytest.raises(DataError, match="No decodable images"):
        list_labelled_images(root, skip_corrupt=True)


def test_many_corrupt_files_are_summarised(tmp_path):
    root = make_folder(tmp_path / "data")
    for i in range(7):
        (root / "a" / f"bad{i}.png").write_bytes(b"nope")
    with pytest.raises(DataError, match=r"^7 image file\(s\) cannot be decoded.*and 2 more"):
        list_labelled_images(root)


def test_empty_class_folder_is_named(tmp_path):
    root = make_folder(tmp_path / "data", classes=("a", "b"))
    (root / "hollow").mkdir()
    (root / "hollow" / "readme.txt").write_text("no images here")
    with pytest.raises(DataError, match="hollow") as info:
        list_labelled_images(root)
    assert "no images" in str(info.value)


def test_single_class_is_an_error(tmp_path):
    root = make_folder(tmp_path / "data", classes=("only",))
    with pytest.raises(DataError, match="at least two classes") as info:
        list_labelled_images(root)
    assert "only" in str(info.value)


def test_folder_without_class_folders_is_an_error(tmp_path):
    root = tmp_path / "flat"
    write_image(root / "x.png")
    write_image(root / "y.png")
    with pytest.raises(DataError, match="one sub-folder per class"):
        list_labelled_images(root)


def test_hidden_folders_are_not_classes(tmp_path):
    root = make_folder(tmp_path / "data")
    write_image(root / ".cache" / "x.png")
    files = list_labelled_images(root)
    assert files.class_names == ("a", "b")


@pytest.mark.parametrize("path", ["does/not/exist", "file.txt"])
def test_missing_or_unsupported_path(tmp_path, path):
    target = tmp_path / path
    if path.endswith(".txt"):
        target.write_text("path,label\n")
    with pytest.raises(DataError, match="does not exist or is neither") as info:
        list_labelled_images(target)
    assert str(target) in str(info.value)


def test_empty_path_is_an_error():
    with pytest.raises(DataError, match="No data path given"):
        list_labelled_images("")


def test_mixed_sizes_and_formats_are_accepted(tmp_path):
    root = tmp_path / "data"
    sizes = [(8, 8), (40, 17), (64, 96), (31, 33)]
    written = []
    for c, name in enumerate(("a", "b")):
        for i, ext in enumerate(("png", "jpg", "jpeg", "bmp", "gif")):
            written.append(write_image(root / name / f"{i}.{ext}", size=sizes[(i + c) % 4], seed=i + 5 * c))
    write_image(root / "a" / "UPPER.PNG")  # extensions are case-insensitive
    files = list_labelled_images(root)
    assert sorted(files.paths) == sorted(map(str, [*written, root / "a" / "UPPER.PNG"]))
    assert files.skipped == []
    assert files.channels == 3


# --- grayscale detection ----------------------------------------------------------------------


def test_all_grayscale_set_has_one_channel(tmp_path):
    root = tmp_path / "data"
    for name in ("a", "b"):
        write_image(root / name / "x.png", mode="L")
        write_image(root / name / "y.jpg", mode="L")
        write_image(root / name / "z.bmp", mode="L")
    assert list_labelled_images(root).channels == 1


def test_one_colour_image_makes_the_set_rgb(tmp_path):
    root = make_folder(tmp_path / "data", mode="L", per_class=3)
    assert list_labelled_images(root).channels == 1
    write_image(root / "b" / "colour.png", mode="RGB")
    assert list_labelled_images(root).channels == 3


def test_skipped_files_do_not_decide_the_channels(tmp_path):
    root = make_folder(tmp_path / "data", mode="L")
    (root / "a" / "broken.png").write_bytes(b"\x89PNG\r\n")
    assert list_labelled_images(root, skip_corrupt=True).channels == 1


def test_scan_images_reports_ok_and_channels_per_file(tmp_path):
    paths = [
        write_image(tmp_path / "rgb.png"),
        write_image(tmp_path / "gray.png", mode="L"),
        tmp_path / "bad.jpg",
    ]
    paths[2].write_bytes(b"\xff\xd8\xff")
    ok, channels = scan_images([str(p) for p in paths])
    assert ok.tolist() == [True, True, False]
    assert channels[:2].tolist() == [3, 1]
    empty_ok, empty_channels = scan_images([])
    assert empty_ok.shape == (0,) and empty_channels.shape == (0,)


# --- CSV --------------------------------------------------------------------------------------


def test_csv_with_relative_paths(tmp_path):
    root = tmp_path / "set"
    write_image(root / "img" / "one.png")
    write_image(root / "img" / "two.jpg")
    write_image(root / "img" / "sub" / "three.bmp")
    csv_path = root / "labels.csv"
    csv_path.write_text("path , label\nimg/one.png,dog\n img/two.jpg , cat\nimg/sub/three.bmp,dog\n")
    files = list_labelled_images(csv_path)
    assert files.class_names == ("cat", "dog")
    assert files.paths == [
        str((root / p).resolve()) for p in ("img/one.png", "img/two.jpg", "img/sub/three.bmp")
    ]
    assert files.labels == [1, 0, 1]


def test_csv_with_absolute_paths_and_extra_columns(tmp_path):
    a = write_image(tmp_path / "pics" / "a.png")
    b = write_image(tmp_path / "pics" / "b.png")
    csv_path = tmp_path / "lists" / "data.csv"
    csv_path.parent.mkdir()
    csv_path.write_text(f"id,label,path\n1,x,{a}\n2,y,{b}\n")
    files = list_labelled_images(csv_path)
    assert files.paths == [str(a.resolve()), str(b.resolve())]
    assert files.labels == [0, 1]


def test_csv_missing_file_is_named_with_its_line(tmp_path):
    write_image(tmp_path / "a.png")
    csv_path = tmp_path / "data.csv"
    csv_path.write_text("path,label\na.png,x\na.png,y\nmissing.png,x\n")
    with pytest.raises(DataError, match="line 4") as info:
        list_labelled_images(csv_path)
    assert "missing.png" in str(info.value)


@pytest.mark.parametrize("header", ["file,label", "path,class", "path", ""])
def test_csv_without_path_and_label_columns(tmp_path, header):
    csv_path = tmp_path / "data.csv"
    csv_path.write_text(f"{header}\n" if header else "")
    with pytest.raises(DataError, match="'path' and 'label' columns"):
        list_labelled_images(csv_path)


def test_csv_empty_cell_is_named_with_its_line(tmp_path):
    write_image(tmp_path / "a.png")
    csv_path = tmp_path / "data.csv"
    csv_path.write_text("path,label\na.png,x\na.png,\n")
    with pytest.raises(DataError, match="line 3"):
        list_labelled_images(csv_path)


def test_csv_without_rows(tmp_path):
    csv_path = tmp_path / "data.csv"
    csv_path.write_text("path,label\n")
    with pytest.raises(DataError, match="lists no images"):
        list_labelled_images(csv_path)


def test_csv_corrupt_file_is_named(tmp_path):
    write_image(tmp_path / "a.png")
    (tmp_path / "b.png").write_bytes(b"junk")
    csv_path = tmp_path / "data.csv"
    csv_path.write_text("path,label\na.png,x\nb.png,y\n")
    with pytest.raises(DataError, match="cannot be decoded") as info:
        list_labelled_images(csv_path)
    assert str((tmp_path / "b.png").resolve()) in str(info.value)


# --- split layouts ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("dirs", "split", "expected"),
    [
        (("train", "val", "test"), "train", "train"),
        (("train", "val", "test"), "val", "val"),
        (("train", "val", "test"), "test", "test"),
        (("training", "validation"), "val", "validation"),
        (("Train", "Valid"), "val", "Valid"),
        (("train", "dev"), "val", "dev"),
        (("train", "testing"), "test", "testing"),
        (("train",), "val", None),
        (("train", "val"), "test", None),
    ],
)
def test_find_split_layouts(tmp_path, dirs, split, expected):
    for name in dirs:
        make_folder(tmp_path / name)
    found = find_split(tmp_path, split)
    assert found == (tmp_path / expected if expected else None)


def test_find_split_ignores_class_folders_and_files(tmp_path):
    # A folder of class folders is not a split layout, even when one class is called "test".
    make_folder(tmp_path / "classes", classes=("cat", "test"))
    assert find_split(tmp_path / "classes", "test") is None
    assert find_split(tmp_path / "classes", "train") is None
    csv_path = tmp_path / "x.csv"
    csv_path.write_text("path,label\n")
    assert find_split(csv_path, "train") is None
    assert find_split(tmp_path / "absent", "train") is None


def test_find_split_ignores_hidden_folders(tmp_path):
    # Jupyter leaves .ipynb_checkpoints/ in every folder it opens; it must not hide the layout.
    make_folder(tmp_path / "train")
    make_folder(tmp_path / "val")
    (tmp_path / ".ipynb_checkpoints").mkdir()
    (tmp_path / "README.md").write_text("files next to the splits are fine")
    assert find_split(tmp_path, "train") == tmp_path / "train"
    assert find_split(tmp_path, "val") == tmp_path / "val"


def test_split_folder_reads_as_a_class_folder(tmp_path):
    make_folder(tmp_path / "train", classes=("a", "b"), per_class=2)
    make_folder(tmp_path / "val", classes=("a", "b"), per_class=1)
    files = list_labelled_images(find_split(tmp_path, "val"))
    assert files.counts() == {"a": 1, "b": 1}

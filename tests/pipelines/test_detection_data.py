"""Reading detection data (COCO, Pascal VOC, YOLO, CSV): pixel boxes, class mapping, the data report
of odd cases, format detection and errors that name the culprit file."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tfapps.apps.errors import DataError, InvalidArgumentError, NotFoundError
from tfapps.pipelines.detection_data import (
    CSV_COLUMNS,
    DetectionRecord,
    detect_format,
    read_detection_dataset,
    split_records,
)

SHARED = Path(__file__).resolve().parents[2].parent / "shared"
RACCOON = SHARED / "datasets" / "object_detection" / "raccoon"


def write_image(path: Path, width: int, height: int) -> Path:
    """A solid image of `width` x `height` in the format named by the suffix."""
    path.parent.mkdir(parents=True, exist_ok=True)
    image_format = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG"}[path.suffix.lower()]
    Image.new("RGB", (width, height), (200, 30, 60)).save(path, format=image_format)
    return path


def write_csv(path: Path, rows: list[tuple]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(CSV_COLUMNS)
        writer.writerows(rows)
    return path


def voc_xml(filename: str | None, width: int, height: int, objects: list[tuple]) -> str:
    """Pascal VOC XML; each object is `(name, xmin, ymin, xmax, ymax, difficult)`."""
    filename_tag = f"<filename>{filename}</filename>" if filename is not None else ""
    parts = [f"<annotation>{filename_tag}<size><width>{width}</width><height>{height}</height></size>"]
    for name, xmin, ymin, xmax, ymax, difficult in objects:
        parts.append(
            f"<object><name>{name}</name><difficult>{difficult}</difficult><bndbox><xmin>{xmin}</xmin>"
            f"<ymin>{ymin}</ymin><xmax>{xmax}</xmax><ymax>{ymax}</ymax></bndbox></object>"
        )
    return "".join(parts) + "</annotation>"


def write_yolo_labels(path: Path, lines: list[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")


def boxes_of(dataset) -> dict[str, np.ndarray]:
    return {Path(r.image_path).name: r.boxes for r in dataset.records}


# --- COCO ------------------------------------------------------------------------------------


def write_coco(folder: Path, data: dict, name: str = "annotations.json") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(json.dumps(data, indent=1))
    return folder / name


def test_coco_xywh_becomes_pixel_corners_and_category_ids_map_in_id_order(tmp_path):
    write_image(tmp_path / "images" / "a.png", 40, 30)
    json_path = write_coco(
        tmp_path,
        {
            "images": [{"id": 1, "file_name": "a.png", "width": 40, "height": 30}],
            "annotations": [
                {"id": 1, "image_id": 1, "category_id": 3, "bbox": [4, 6, 10, 12]},
                {"id": 2, "image_id": 1, "category_id": 7, "bbox": [0.5, 0, 39.5, 30]},
            ],
            "categories": [{"id": 7, "name": "dog"}, {"id": 3, "name": "cat"}],
        },
    )
    assert detect_format(tmp_path) == detect_format(json_path) == "coco"
    for path in (tmp_path, json_path):
        data = read_detection_dataset(path)
        assert data.format == "coco"
        assert data.class_names == ("cat", "dog")  # category ids 3, 7 → indices 0, 1
        (record,) = data.records
        assert record.image_path == str(tmp_path / "images" / "a.png")
        assert (record.width, record.height) == (40, 30)
        assert record.boxes.dtype == np.float32 and record.classes.dtype == np.int32
        np.testing.assert_allclose(record.boxes, [[6, 4, 18, 14], [0, 0.5, 30, 40]])
        np.testing.assert_array_equal(record.classes, [0, 1])
        assert record.difficult is None
        assert data.report.issues() == {}
        assert data.report.boxes_per_class == {"cat": 1, "dog": 1}
    with pytest.raises(NotFoundError, match=r"No 'val' split.*one annotations.json per split folder"):
        read_detection_dataset(tmp_path, split="val")
    with pytest.raises(InvalidArgumentError, match="split cannot be chosen inside this annotation file"):
        read_detection_dataset(json_path, split="val")


def test_coco_odd_entries_are_counted_not_fatal(tmp_path):
    write_image(tmp_path / "a.png", 40, 30)
    write_image(tmp_path / "empty.png", 10, 10)
    box = {"image_id": 1, "category_id": 1, "bbox": [1, 1, 5, 5]}
    write_coco(
        tmp_path,
        {
            "images": [
                {"id": 1, "file_name": "a.png", "width": 41, "height": 30},  # the file is 40 wide
                {"id": 2, "file_name": "empty.png"},
                {"id": 3, "file_name": "gone.png"},
            ],
            "annotations": [
                {"id": 10, **box},
                {"id": 11, **box},  # the same box again
                {"id": 12, "image_id": 1, "category_id": 5, "bbox": [1, 1, 5, 5]},
                {"id": 13, "image_id": 99, "category_id": 1, "bbox": [1, 1, 5, 5]},
            ],
            "categories": [{"id": 1, "name": "cat"}],
        },
    )
    data = read_detection_dataset(tmp_path)
    report = data.report
    assert [Path(r.image_path).name for r in data.records] == ["a.png", "empty.png"]
    assert report.issues() == {
        "missing_images": 1,
        "unmatched_entries": 1,
        "size_mismatches": 1,
        "images_without_boxes": 1,
        "duplicate_boxes": 1,
        "unknown_class_boxes": 1,
    }
    assert report.unknown_classes == {"category_id=5": 1}
    assert report.examples["missing_images"] == ("gone.png",)
    assert "unknown image_id 99" in report.examples["unmatched_entries"][0]
    assert report.examples["size_mismatches"] == ("a.png: annotated 41x30, file 40x30",)
    assert (report.images, report.boxes) == (2, 1)


# --- Pascal VOC ------------------------------------------------------------------------------

VOC_LAYOUTS = {
    "devkit": ("Annotations", "JPEGImages"),
    "annotations-images": ("annotations", "images"),
    "xml-beside-images": (".", "."),
}


@pytest.mark.parametrize("layout", VOC_LAYOUTS)
def test_voc_layouts_read_boxes_as_written_with_difficult_flags(tmp_path, layout):
    xml_dir, image_dir = (tmp_path / name for name in VOC_LAYOUTS[layout])
    write_image(image_dir / "one.jpg", 60, 40)
    write_image(image_dir / "two.png", 30, 30)
    xml_dir.mkdir(parents=True, exist_ok=True)
    objects = [("zebra", 1, 2, 60, 40, 0), ("ant", 10.5, 5, 20, 15, 1)]
    (xml_dir / "one.xml").write_text(voc_xml("one.jpg", 60, 40, objects))
    (xml_dir / "two.xml").write_text(voc_xml("two.png", 30, 30, [("ant", 3, 4, 5, 6, 0)]))

    assert detect_format(tmp_path) == "voc"
    data = read_detection_dataset(tmp_path)
    assert data.class_names == ("ant", "zebra")  # sorted names seen
    one, two = data.records
    assert one.image_path == str(image_dir / "one.jpg")
    # 1-based VOC values are kept as written; xmax == width stays inside the image.
    np.testing.assert_allclose(one.boxes, [[2, 1, 40, 60], [5, 10.5, 15, 20]])
    np.testing.assert_array_equal(one.classes, [1, 0])
    np.testing.assert_array_equal(one.difficult, [False, True])
    np.testing.assert_allclose(two.boxes, [[4, 3, 6, 5]])
    assert data.report.issues() == {}


def test_voc_devkit_split_lists_are_honoured(tmp_path):
    for stem in ("a", "b", "c"):
        write_image(tmp_path / "JPEGImages" / f"{stem}.jpg", 20, 20)
        (tmp_path / "Annotations").mkdir(exist_ok=True)
        (tmp_path / "Annotations" / f"{stem}.xml").write_text(
            voc_xml(f"{stem}.jpg", 20, 20, [("cat", 1, 1, 9, 9, 0)])
        )
    (tmp_path / "ImageSets" / "Main").mkdir(parents=True)
    (tmp_path / "ImageSets" / "Main" / "train.txt").write_text("a\nghost\nc\n")
    (tmp_path / "ImageSets" / "Main" / "val.txt").write_text("b\n")

    train = read_detection_dataset(tmp_path, split="train")
    assert [Path(r.image_path).stem for r in train.records] == ["a", "c"]
    assert train.report.unmatched_entries == 1
    assert "ghost" in train.report.examples["unmatched_entries"][0]
    # "validation" is an alias of "val".
    val = read_detection_dataset(tmp_path, split="validation")
    assert [Path(r.image_path).stem for r in val.records] == ["b"]
    assert len(read_detection_dataset(tmp_path)) == 3
    with pytest.raises(NotFoundError, match=r"No 'test' split.*Received: path="):
        read_detection_dataset(tmp_path, split="test")


def test_voc_image_falls_back_to_the_xml_stem_when_filename_is_wrong_or_absent(tmp_path):
    write_image(tmp_path / "images" / "renamed.png", 20, 10)
    write_image(tmp_path / "images" / "untagged.jpg", 20, 10)
    (tmp_path / "annotations").mkdir()
    (tmp_path / "annotations" / "renamed.xml").write_text(voc_xml("old_name.jpg", 20, 10, []))
    (tmp_path / "annotations" / "untagged.xml").write_text(voc_xml(None, 20, 10, []))
    data = read_detection_dataset(tmp_path)
    assert [Path(r.image_path).name for r in data.records] == ["renamed.png", "untagged.jpg"]
    assert data.report.images_without_boxes == 2
    assert data.class_names == ()


def test_class_names_argument_sets_the_order_and_drops_other_classes(tmp_path):
    write_image(tmp_path / "a.jpg", 50, 50)
    objects = [("cat", 1, 1, 10, 10, 0), ("dog", 2, 2, 20, 20, 0), ("bird", 3, 3, 30, 30, 0)]
    (tmp_path / "a.xml").write_text(voc_xml("a.jpg", 50, 50, objects))
    data = read_detection_dataset(tmp_path, class_names=["dog", "cat"])
    assert data.class_names == ("dog", "cat")
    np.testing.assert_array_equal(data.records[0].classes, [1, 0])
    assert data.report.unknown_classes == {"bird": 1}
    assert data.report.boxes_per_class == {"dog": 1, "cat": 1}
    with pytest.raises(InvalidArgumentError, match="unique"):
        read_detection_dataset(tmp_path, class_names=["cat", "cat"])


# --- YOLO ------------------------------------------------------------------------------------


def test_yolo_normalised_boxes_are_scaled_by_each_image_size(tmp_path):
    write_image(tmp_path / "images" / "train" / "wide.png", 200, 100)
    write_image(tmp_path / "images" / "val" / "tall.jpg", 50, 80)
    write_yolo_labels(
        tmp_path / "labels" / "train" / "wide.txt", ["1 0.5 0.5 0.2 0.4", "0 0.25 0.75 0.5 0.5"]
    )
    write_yolo_labels(tmp_path / "labels" / "val" / "tall.txt", ["0 0.5 0.5 1 1"])
    (tmp_path / "data.yaml").write_text("train: images/train\nnames:\n  0: cat\n  1: dog\n")

    assert detect_format(tmp_path) == detect_format(tmp_path / "data.yaml") == "yolo"
    data = read_detection_dataset(tmp_path)
    assert data.class_names == ("cat", "dog")
    boxes = boxes_of(data)
    # wide: 200 x 100; centre (100, 50), 40 x 40 → x 80-120, y 30-70.
    np.testing.assert_allclose(boxes["wide.png"], [[30, 80, 70, 120], [50, 0, 100, 100]])
    np.testing.assert_allclose(boxes["tall.jpg"], [[0, 0, 80, 50]])
    np.testing.assert_array_equal(data.records[0].classes, [1, 0])  # sorted paths: train/ before val/
    assert data.report.issues() == {}

    train = read_detection_dataset(tmp_path, split="train")  # the data.yaml entry
    assert list(boxes_of(train)) == ["wide.png"]
    val = read_detection_dataset(tmp_path, split="val")  # no entry: images/val/
    assert list(boxes_of(val)) == ["tall.jpg"]
    with pytest.raises(NotFoundError, match="No 'test' split"):
        read_detection_dataset(tmp_path, split="test")


def test_yolo_image_without_label_file_unknown_id_and_corrupt_image(tmp_path):
    write_image(tmp_path / "images" / "a.png", 10, 10)
    write_image(tmp_path / "images" / "background.png", 10, 10)
    (tmp_path / "images" / "broken.jpg").write_bytes(b"not a jpeg at all")
    write_yolo_labels(tmp_path / "labels" / "a.txt", ["0 0.5 0.5 0.5 0.5", "7 0.5 0.5 0.1 0.1", ""])
    write_yolo_labels(tmp_path / "labels" / "broken.txt", ["0 0.5 0.5 0.5 0.5"])
    (tmp_path / "data.yaml").write_text("names: [cat]\n")

    data = read_detection_dataset(tmp_path)
    assert [Path(r.image_path).name for r in data.records] == ["a.png", "background.png"]
    assert data.report.issues() == {
        "unreadable_images": 1,
        "images_without_boxes": 1,
        "unknown_class_boxes": 1,
    }
    assert data.report.examples["unreadable_images"][0].startswith("broken.jpg: ")
    assert data.report.examples["images_without_boxes"] == ("background.png",)
    assert data.report.unknown_classes == {"class_id=7": 1}
    np.testing.assert_allclose(data.records[0].boxes, [[2.5, 2.5, 7.5, 7.5]])


def test_yolo_without_names_needs_class_names(tmp_path):
    write_image(tmp_path / "images" / "a.png", 10, 20)
    write_yolo_labels(tmp_path / "labels" / "a.txt", ["1 0.5 0.5 1 1"])
    with pytest.raises(NotFoundError, match="names.*Received: path="):
        read_detection_dataset(tmp_path)
    data = read_detection_dataset(tmp_path, class_names=("cat", "dog"))
    np.testing.assert_array_equal(data.records[0].classes, [1])
    np.testing.assert_allclose(data.records[0].boxes, [[0, 0, 20, 10]])
    with pytest.raises(InvalidArgumentError, match="image_dir"):
        read_detection_dataset(tmp_path, image_dir=tmp_path, class_names=("cat", "dog"))


# --- CSV -------------------------------------------------------------------------------------


def test_csv_rows_are_grouped_per_image_with_images_in_the_sibling_images_folder(tmp_path):
    # The raccoon layout: data/*.csv and images/.
    write_image(tmp_path / "images" / "r1.jpg", 100, 80)
    write_image(tmp_path / "images" / "r2.jpg", 30, 30)
    csv_path = write_csv(
        tmp_path / "data" / "labels.csv",
        [
            ("r1.jpg", 100, 80, "raccoon", 10, 20, 50, 60),
            ("r2.jpg", 30, 30, "dog", 0, 0, 30, 30),
            ("r1.jpg", 100, 80, "raccoon", 60, 5, 99, 79),
            ("r1.jpg", 100, 80, "raccoon", 10, 20, 50, 60),  # a duplicate row
        ],
    )
    assert detect_format(csv_path) == detect_format(tmp_path / "data") == "csv"
    data = read_detection_dataset(csv_path)
    assert data.class_names == ("dog", "raccoon")
    r1, r2 = data.records
    assert r1.image_path == str(tmp_path / "images" / "r1.jpg")
    np.testing.assert_allclose(r1.boxes, [[20, 10, 60, 50], [5, 60, 79, 99]])
    np.testing.assert_array_equal(r1.classes, [1, 1])
    np.testing.assert_array_equal(r2.classes, [0])
    assert data.report.issues() == {"duplicate_boxes": 1}
    assert data.report.examples["duplicate_boxes"][0].startswith("r1.jpg: 'raccoon'")


def test_csv_folder_split_and_image_dir(tmp_path):
    write_image(tmp_path / "pictures" / "a.png", 10, 10)
    write_image(tmp_path / "pictures" / "b.png", 10, 10)
    write_csv(tmp_path / "data" / "train_labels.csv", [("a.png", 10, 10, "cat", 1, 1, 5, 5)])
    write_csv(tmp_path / "data" / "test_labels.csv", [("b.png", 10, 10, "cat", 1, 1, 5, 5)])
    (tmp_path / "data" / "notes.csv").write_text("some,other,table\n")
    with pytest.raises(
        InvalidArgumentError, match=r"several detection CSVs: test_labels.csv, train_labels.csv"
    ):
        read_detection_dataset(tmp_path / "data", image_dir=tmp_path / "pictures")
    train = read_detection_dataset(tmp_path / "data", split="train", image_dir=tmp_path / "pictures")
    assert list(boxes_of(train)) == ["a.png"]
    assert train.report.split == "train"
    with pytest.raises(InvalidArgumentError, match="split cannot be chosen"):
        read_detection_dataset(tmp_path / "data" / "test_labels.csv", split="test")
    with pytest.raises(NotFoundError, match="image_dir"):
        read_detection_dataset(tmp_path / "data", split="train", image_dir=tmp_path / "nowhere")


def test_split_folder_is_entered_before_the_format_is_detected(tmp_path):
    write_image(tmp_path / "valid" / "a.png", 10, 10)
    write_csv(tmp_path / "valid" / "labels.csv", [("a.png", 10, 10, "cat", 1, 1, 5, 5)])
    data = read_detection_dataset(tmp_path, split="val")  # "valid" is an alias of "val"
    assert data.format == "csv" and len(data) == 1


# --- the data report -------------------------------------------------------------------------


def test_report_counts_each_odd_case_and_keeps_what_it_can(tmp_path):
    write_image(tmp_path / "img.png", 100, 50)
    write_image(tmp_path / "background.png", 20, 20)
    csv_path = write_csv(
        tmp_path / "labels.csv",
        [
            ("img.png", 100, 50, "cat", 10, 10, 20, 20),  # kept as is
            ("img.png", 100, 50, "cat", -10, 5, 120, 45),  # partly outside: clipped
            ("img.png", 100, 50, "cat", 30, 10, 30, 20),  # zero width
            ("img.png", 100, 50, "cat", 40, 30, 35, 40),  # negative width
            ("img.png", 100, 50, "cat", 150, 10, 160, 20),  # fully outside (right)
            ("img.png", 100, 50, "cat", 10, -30, 20, 0),  # fully outside (above), touching the edge
            ("img.png", 100, 50, "dog", 10, 10, 20, 20),  # not in class_names
            ("background.png", 20, 20, "", "", "", "", ""),  # listed without boxes
            ("gone.png", 20, 20, "cat", 1, 1, 5, 5),  # not on disk
        ],
    )
    data = read_detection_dataset(csv_path, class_names=["cat"])
    report = data.report
    assert report.issues() == {
        "missing_images": 1,
        "images_without_boxes": 1,
        "unknown_class_boxes": 1,
        "empty_boxes": 2,
        "outside_boxes": 2,
        "clipped_boxes": 1,
    }
    np.testing.assert_allclose(data.records[0].boxes, [[10, 10, 20, 20], [5, 0, 45, 100]])
    assert (report.images, report.boxes, report.boxes_per_class) == (2, 2, {"cat": 2})
    assert report.examples["clipped_boxes"] == ("img.png: 'cat' at ymin=5, xmin=-10, ymax=45, xmax=120",)
    assert report.examples["missing_images"] == ("gone.png",)

    summary = report.summary()
    assert summary.startswith(f"CSV detection data from {csv_path}: 2 images, 2 boxes, 1 class.")
    assert "boxes partly outside the image (clipped to it): 1; e.g. img.png" in summary
    assert "boxes of unknown classes (dropped): 1 ('dog' x1)" in summary
    assert "images listed but not found on disk (skipped): 1; e.g. gone.png" in summary
    assert json.loads(json.dumps(report.to_dict()))["examples"]["missing_images"] == ["gone.png"]


def test_report_of_clean_data_says_so(tmp_path):
    write_image(tmp_path / "a.png", 10, 10)
    csv_path = write_csv(tmp_path / "labels.csv", [("a.png", 10, 10, "cat", 0, 0, 10, 10)])
    report = read_detection_dataset(csv_path).report
    assert report.summary().splitlines()[1:] == ["Boxes per class: cat 1.", "No odd cases found."]


def test_no_readable_image_is_a_data_error_naming_the_files(tmp_path):
    csv_path = write_csv(tmp_path / "labels.csv", [("gone.png", 10, 10, "cat", 0, 0, 5, 5)])
    with pytest.raises(DataError, match=r"No readable image.*gone\.png.*Received: path="):
        read_detection_dataset(csv_path)


# --- format detection and malformed files -----------------------------------------------------


def test_detect_format_explains_what_it_expected_for_an_empty_folder(tmp_path):
    with pytest.raises(InvalidArgumentError) as caught:
        detect_format(tmp_path)
    message = str(caught.value)
    assert "found an empty folder" in message
    for expected in ("annotations.json", "images/ and labels/", "JPEGImages/", "filename,width,height,class"):
        assert expected in message
    assert message.endswith(f"Received: path='{tmp_path}'")


def test_missing_path_and_mismatched_format_are_clear_errors(tmp_path):
    with pytest.raises(NotFoundError, match="does not exist"):
        read_detection_dataset(tmp_path / "nowhere")
    write_image(tmp_path / "a.jpg", 10, 10)
    (tmp_path / "a.xml").write_text(voc_xml("a.jpg", 10, 10, []))
    with pytest.raises(InvalidArgumentError, match=r"does not hold COCO.*a\.jpg, a\.xml.*format='coco'"):
        read_detection_dataset(tmp_path, format="coco")
    with pytest.raises(InvalidArgumentError, match="Unknown detection data format"):
        read_detection_dataset(tmp_path, format="kitti")


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


MALFORMED = {
    "coco-json-syntax": (
        lambda root: _write(root / "annotations.json", '{\n "images": [\n  {,\n'),
        r"JSON file annotations\.json: .* line 3",
    ),
    "coco-missing-field": (
        lambda root: _write(root / "annotations.json", json.dumps({"images": [{"id": 1}], "categories": []})),
        r"COCO file annotations\.json: images\[0\] has no 'file_name'",
    ),
    "voc-xml-syntax": (
        lambda root: _write(root / "a.xml", "<annotation>\n<object>\n</annotation>"),
        r"XML file a\.xml: mismatched tag: line 3",
    ),
    "voc-bad-number": (
        lambda root: _write(root / "a.xml", voc_xml("a.jpg", 9, 9, [("cat", "left", 1, 2, 3, 0)])),
        r"VOC file a\.xml: <object> number 1 <xmin> is not a number: 'left'",
    ),
    "csv-bad-number": (
        lambda root: write_csv(
            root / "labels.csv", [("a.png", 9, 9, "cat", 1, 1, 5, 5), ("a.png", 9, 9, "cat", 1, "x", 5, 5)]
        ),
        r"CSV labels\.csv, line 3: 'ymin' is not a number",
    ),
    "csv-bad-header": (
        lambda root: _write(root / "labels.csv", "filename,class,xmin\na.png,cat,1\n"),
        r"CSV labels\.csv, line 1: the header is filename,class,xmin",
    ),
    "yolo-yaml-syntax": (
        lambda root: _write(root / "data.yaml", "names: [cat\ntrain: images\n"),
        r"YAML file data\.yaml: .* line \d",
    ),
    "yolo-label-values": (
        lambda root: (
            _write(root / "data.yaml", "names: [cat]\n"),
            write_image(root / "images" / "a.png", 9, 9),
            _write(root / "labels" / "a.txt", "0 0.5 0.5 0.1 0.1\n0 0.5 0.5 0.1\n"),
        ),
        r"YOLO label file a\.txt, line 2: 4 values",
    ),
}


@pytest.mark.parametrize("case", MALFORMED)
def test_malformed_files_raise_data_errors_naming_the_file(tmp_path, case):
    write, message = MALFORMED[case]
    write(tmp_path)
    # A folder's CSVs are recognised by their header, so a CSV with a bad one is named directly.
    with pytest.raises(DataError, match=message) as caught:
        read_detection_dataset(tmp_path if not case.startswith("csv") else tmp_path / "labels.csv")
    assert "Received: path=" in str(caught.value)


# --- records and splitting -------------------------------------------------------------------


def make_records(count: int) -> list[DetectionRecord]:
    return [
        DetectionRecord(f"/data/{i:02d}.png", 10, 10, np.zeros((0, 4)), np.zeros(0)) for i in range(count)
    ]


def test_split_records_is_deterministic_disjoint_and_independent_of_input_order():
    records = make_records(10)
    kept, held_out = split_records(records, 0.3, seed=1)
    assert len(held_out) == 3 and len(kept) == 7
    assert {r.image_path for r in kept}.isdisjoint(r.image_path for r in held_out)
    assert [r.image_path for r in kept] == sorted(r.image_path for r in kept)  # input order kept
    again = split_records(records[::-1], 0.3, seed=1)[1]
    assert {r.image_path for r in again} == {r.image_path for r in held_out}
    assert len(split_records(records[:2], 0.01)[1]) == 1  # at least one held out
    with pytest.raises(InvalidArgumentError, match="fraction=1.0"):
        split_records(records, 1.0)
    with pytest.raises(InvalidArgumentError, match="at least two records"):
        split_records(records[:1], 0.5)


def test_detection_record_checks_shapes_and_freezes_its_arrays():
    record = DetectionRecord("/x.png", 4, 4, [[0, 0, 2, 2]], [1], [True])
    assert record.boxes.dtype == np.float32 and record.classes.dtype == np.int32
    assert record.difficult.dtype == np.bool_ and record.num_boxes == 1
    with pytest.raises(ValueError, match="read-only"):
        record.boxes[0, 0] = 1
    empty = DetectionRecord("/y.png", 4, 4, [], [])
    assert empty.boxes.shape == (0, 4)
    with pytest.raises(InvalidArgumentError, match=r"boxes.shape=\(1, 3\)"):
        DetectionRecord("/z.png", 4, 4, [[0, 0, 2]], [1])
    with pytest.raises(InvalidArgumentError, match=r"classes.shape=\(2,\)"):
        DetectionRecord("/z.png", 4, 4, [[0, 0, 2, 2]], [1, 2])


# --- the real raccoon dataset (../shared) ------------------------------------------------------


@pytest.mark.shared_data
def test_raccoon_csv_splits_and_voc_annotations_read_cleanly():
    for name, images in (("train_labels.csv", 160), ("test_labels.csv", 40)):
        csv_path = RACCOON / "data" / name
        with csv_path.open(newline="") as handle:
            rows = list(csv.DictReader(handle))
        data = read_detection_dataset(csv_path)
        assert data.format == "csv" and data.class_names == ("raccoon",)
        assert len(data) == len({row["filename"] for row in rows}) == images
        assert data.report.boxes == len(rows)
        assert data.report.issues() == {}  # every image found, every box inside its image
        for record in data.records:
            assert Path(record.image_path).parent == RACCOON / "images"
            assert np.all(record.boxes >= 0)
            assert np.all(record.boxes[:, 2] <= record.height) and np.all(record.boxes[:, 3] <= record.width)
            assert np.all(record.boxes[:, :2] < record.boxes[:, 2:])

    by_split = read_detection_dataset(RACCOON / "data", split="test")
    assert len(by_split) == 40

    voc = read_detection_dataset(RACCOON)
    assert voc.format == "voc" and voc.class_names == ("raccoon",)
    assert (len(voc), voc.report.boxes) == (200, 217)
    assert voc.report.issues() == {}
    assert all(not record.difficult.any() for record in voc.records)
    csv_all = {
        Path(r.image_path).name: r.boxes
        for r in read_detection_dataset(RACCOON / "data" / "raccoon_labels.csv").records
    }
    for record in voc.records:
        np.testing.assert_array_equal(
            np.sort(record.boxes, axis=0), np.sort(csv_all[Path(record.image_path).name], axis=0)
        )

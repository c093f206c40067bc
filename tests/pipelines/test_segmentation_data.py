"""Reading semantic-segmentation data (images/ + masks/, Pascal VOC, CamVid): layout detection, class
names and palettes from their sources, mask decoding (L, P, RGB), the data report of odd cases, and
errors that say what was expected."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tfapps.apps.errors import DataError, InvalidArgumentError, NotFoundError
from tfapps.pipelines.segmentation_data import (
    CAMVID_CLASSES,
    VOC_CLASSES,
    VOC_PALETTE,
    VOC_VOID_COLOR,
    SegmentationRecord,
    default_palette,
    detect_layout,
    load_image_size,
    load_mask,
    read_segmentation_dataset,
    split_records,
)

SHARED = Path(__file__).resolve().parents[2].parent / "shared"
CAMVID = SHARED / "datasets" / "semantic_segmentation" / "camvid_segnet_subset"


def write_image(path: Path, width: int = 8, height: int = 6) -> Path:
    """A solid RGB image in the format named by the suffix."""
    path.parent.mkdir(parents=True, exist_ok=True)
    image_format = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG"}[path.suffix.lower()]
    Image.new("RGB", (width, height), (90, 120, 40)).save(path, format=image_format)
    return path


def ids(
    rows: list[list[int]] | None = None, *, width: int = 8, height: int = 6, value: int = 0
) -> np.ndarray:
    """A `[height, width]` id map: `value` everywhere, with `rows` written into its top-left corner."""
    array = np.full((height, width), value, np.uint8)
    if rows is not None:
        given = np.asarray(rows, np.uint8)
        array[: given.shape[0], : given.shape[1]] = given
    return array


def write_mask(path: Path, array: np.ndarray, mode: str = "L", palette=None) -> Path:
    """A mask PNG (or JPEG): "L" and "P" hold `array` as ids/indices, "RGB" its palette colours."""
    path.parent.mkdir(parents=True, exist_ok=True)
    image_format = "JPEG" if path.suffix.lower() in (".jpg", ".jpeg") else "PNG"
    if mode == "L":
        image = Image.fromarray(array, mode="L")
    elif mode == "P":
        image = Image.fromarray(array, mode="L").convert("P")
        image.putpalette([v for color in (palette or default_palette(256)) for v in color])
    else:
        image = Image.fromarray(np.asarray(palette, np.uint8)[array], mode="RGB")
    image.save(path, format=image_format)
    return path


def write_pair(root: Path, stem: str, array: np.ndarray, *, image_ext: str = ".jpg", mode: str = "L") -> None:
    write_image(root / "images" / f"{stem}{image_ext}", array.shape[1], array.shape[0])
    write_mask(root / "masks" / f"{stem}.png", array, mode)


def names(records) -> list[str]:
    return [Path(r.image_path).name for r in records]


# --- images/ + masks/ -------------------------------------------------------------------------


def test_images_masks_pairs_by_stem_and_infers_classes_from_the_largest_id(tmp_path):
    write_pair(tmp_path, "a", ids([[1, 2]]), image_ext=".jpg")
    write_pair(tmp_path, "b", ids([[255, 3]], value=1), image_ext=".png")

    assert detect_layout(tmp_path) == "images_masks"
    data = read_segmentation_dataset(tmp_path)
    assert data.layout == "images_masks" and len(data) == 2
    a, b = data.records
    assert a == SegmentationRecord(
        str(tmp_path / "images" / "a.jpg"), str(tmp_path / "masks" / "a.png"), 8, 6
    )
    assert b.image_path.endswith("b.png")
    # K = largest id (3) + 1; 255 is the default ignore_index, not a class.
    assert data.class_names == ("class_0", "class_1", "class_2", "class_3") and data.num_classes == 4
    assert data.palette == default_palette(4) == ((0, 0, 0), (128, 0, 0), (0, 128, 0), (128, 128, 0))
    report = data.report
    assert (report.class_names_from, report.palette_from, report.checked) == ("inferred", "generated", True)
    np.testing.assert_array_equal(data.class_pixel_counts, [46, 1 + 46, 1, 1])
    assert data.class_pixel_counts.dtype == np.int64 and not data.class_pixel_counts.flags.writeable
    assert report.ignored_pixels == 1 and report.issues() == {}
    assert "No odd cases found." in report.summary()
    assert json.loads(json.dumps(report.to_dict()))["class_pixel_counts"] == [46, 47, 1, 1]


def test_images_masks_split_folders_aliases_and_reading_every_split(tmp_path):
    for split, stems in (("train", "ab"), ("val", "c")):
        for stem in stems:
            write_image(tmp_path / "images" / split / f"{stem}.jpg")
            write_mask(tmp_path / "masks" / split / f"{stem}.png", ids([[1]]))
    (tmp_path / "classes.txt").write_text("ground\nthing\n")

    train = read_segmentation_dataset(tmp_path, split="train")
    assert names(train.records) == ["a.jpg", "b.jpg"]
    assert train.report.split == "train" and train.class_names == ("ground", "thing")
    val = read_segmentation_dataset(tmp_path, split="validation")  # an alias of "val"
    assert names(val.records) == ["c.jpg"]
    # No split: every sub-folder, matched by relative path.
    assert names(read_segmentation_dataset(tmp_path).records) == ["a.jpg", "b.jpg", "c.jpg"]
    with pytest.raises(NotFoundError, match=r"No 'test' split.*Received: path='.*', split='test'$"):
        read_segmentation_dataset(tmp_path, split="test")
    write_image(tmp_path / "images" / "test" / "d.jpg")
    with pytest.raises(
        NotFoundError, match=r"No 'test' split.*Expected a masks/test/ folder beside images/test/"
    ):
        read_segmentation_dataset(tmp_path, split="test")


def test_split_folder_holding_a_layout_is_entered_and_finds_the_root_classes_file(tmp_path):
    write_pair(tmp_path / "train", "a", ids([[1]]))
    write_pair(tmp_path / "val", "b", ids([[1]]))
    (tmp_path / "classes.txt").write_text("sea\nboat\n")
    data = read_segmentation_dataset(tmp_path, split="val")
    assert names(data.records) == ["b.jpg"] and data.class_names == ("sea", "boat")
    assert data.report.classes_file == str(tmp_path / "classes.txt")
    # The split folder itself, with or without its own split name.
    assert names(read_segmentation_dataset(tmp_path / "train", split="train").records) == ["a.jpg"]
    assert read_segmentation_dataset(tmp_path / "train").class_names == ("class_0", "class_1")


def test_mask_names_may_carry_a_tool_suffix_and_another_extension(tmp_path):
    write_image(tmp_path / "images" / "a.jpg")
    write_image(tmp_path / "images" / "b.jpeg")
    write_mask(tmp_path / "annotations" / "a_mask.png", ids([[1]]))
    write_mask(tmp_path / "annotations" / "b_L.png", ids([[1]]))
    data = read_segmentation_dataset(tmp_path)
    assert [Path(r.mask_path).name for r in data.records] == ["a_mask.png", "b_L.png"]
    assert data.report.issues() == {}


# --- class names and palettes -----------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "# name r g b\nroad 128 64 128\n\ntraffic light 250 170 30\nsky 70 130 180\n",
        "road,128,64,128\ntraffic light, 250, 170, 30\nsky,70,130,180\n",
    ],
    ids=["spaces", "commas"],
)
def test_classes_file_gives_names_and_colours(tmp_path, text):
    write_pair(tmp_path, "a", ids([[1, 2]]))
    (tmp_path / "classes.txt").write_text(text)
    data = read_segmentation_dataset(tmp_path)
    assert data.class_names == ("road", "traffic light", "sky")
    assert data.palette == ((128, 64, 128), (250, 170, 30), (70, 130, 180))
    assert (data.report.class_names_from, data.report.palette_from) == ("classes.txt", "classes.txt")


def test_arguments_override_the_classes_file_and_palette_needs_one_colour_per_class(tmp_path):
    write_pair(tmp_path, "a", ids([[1]]))
    (tmp_path / "classes.txt").write_text("x 1 2 3\ny 4 5 6\n")
    data = read_segmentation_dataset(tmp_path, class_names=["bg", "fg"])
    # The file's colours still apply: it lists as many classes.
    assert data.class_names == ("bg", "fg") and data.palette == ((1, 2, 3), (4, 5, 6))
    assert (data.report.class_names_from, data.report.palette_from) == ("argument", "classes.txt")
    data = read_segmentation_dataset(
        tmp_path, class_names=["bg", "fg", "edge"], palette=[[9, 9, 9], (8, 8, 8), (7, 7, 7)]
    )
    assert data.palette == ((9, 9, 9), (8, 8, 8), (7, 7, 7)) and data.report.palette_from == "argument"
    # Names without the file's class count: the standard palette.
    assert read_segmentation_dataset(tmp_path, class_names=["a", "b", "c"]).palette == default_palette(3)
    (tmp_path / "classes.txt").unlink()
    data = read_segmentation_dataset(tmp_path, palette=np.array([[0, 0, 0], [255, 0, 0]], np.uint8))
    assert data.class_names == ("class_0", "class_1") and data.report.class_names_from == "palette"
    with pytest.raises(InvalidArgumentError, match=r"one colour per class: 2 class names, 1 colours"):
        read_segmentation_dataset(tmp_path, class_names=["a", "b"], palette=[(1, 1, 1)])
    with pytest.raises(InvalidArgumentError, match=r"distinct.*repeated: \(1, 1, 1\)"):
        read_segmentation_dataset(tmp_path, palette=[(1, 1, 1), (1, 1, 1)])
    with pytest.raises(InvalidArgumentError, match=r"triples in 0\.\.255.*Received: palette="):
        read_segmentation_dataset(tmp_path, palette=[(1, 1, 256)])
    with pytest.raises(InvalidArgumentError, match="unique; repeated: a"):
        read_segmentation_dataset(tmp_path, class_names=["a", "a"])
    with pytest.raises(InvalidArgumentError, match="non-empty sequence"):
        read_segmentation_dataset(tmp_path, class_names="road")


def test_classes_file_without_colours_gets_the_standard_palette(tmp_path):
    write_pair(tmp_path, "a", ids([[1]]))
    (tmp_path / "classes.txt").write_text("background\nperson\n")
    data = read_segmentation_dataset(tmp_path)
    assert data.class_names == ("background", "person") and data.palette == default_palette(2)
    assert data.report.palette_from == "generated"


def test_default_palette_is_vocs_and_stays_distinct_beyond_256_classes():
    assert default_palette(21) == VOC_PALETTE and VOC_PALETTE[15] == (192, 128, 128)
    assert VOC_VOID_COLOR == (224, 224, 192)
    assert len(set(default_palette(256))) == 256 and len(set(default_palette(1000))) == 1000


# --- Pascal VOC --------------------------------------------------------------------------------


def make_voc(root: Path) -> None:
    """a, b and c with palette masks (15 = person, 255 = border); d has no mask."""
    for stem in "abcd":
        write_image(root / "JPEGImages" / f"{stem}.jpg")
    border = ids([[15, 15, 255]])
    for stem in "abc":
        write_mask(root / "SegmentationClass" / f"{stem}.png", border, mode="P")
    (root / "ImageSets" / "Segmentation").mkdir(parents=True)
    (root / "ImageSets" / "Segmentation" / "train.txt").write_text("a\nghost\nd\nc\n")
    (root / "ImageSets" / "Segmentation" / "val.txt").write_text("b\n")


def test_voc_uses_standard_names_palette_indices_and_split_lists(tmp_path):
    make_voc(tmp_path)
    assert detect_layout(tmp_path) == detect_layout(tmp_path, split="train") == "voc"
    train = read_segmentation_dataset(tmp_path, split="train")
    assert names(train.records) == ["a.jpg", "c.jpg"]
    assert train.class_names == VOC_CLASSES and train.palette == VOC_PALETTE
    report = train.report
    assert (report.class_names_from, report.palette_from) == ("voc", "voc")
    # P-mode masks hold palette indices: 15 is "person", 255 the void border.
    assert report.class_pixel_counts[15] == 2 * 2 and report.class_pixel_counts[0] == 2 * 45
    assert report.ignored_pixels == 2 and report.out_of_range_masks == 0
    assert report.issues() == {"missing_images": 1, "images_without_masks": 1}
    assert "ghost" in report.examples["missing_images"][0]
    assert report.examples["images_without_masks"] == ("JPEGImages/d.jpg",)
    assert names(read_segmentation_dataset(tmp_path, split="val").records) == ["b.jpg"]
    # No split: every mask; VOC's images without a mask are detection-only, not odd.
    everything = read_segmentation_dataset(tmp_path)
    assert names(everything.records) == ["a.jpg", "b.jpg", "c.jpg"] and everything.report.issues() == {}
    with pytest.raises(
        NotFoundError, match=r"ImageSets/Segmentation/<split>\.txt among: train, val\. Received:"
    ):
        read_segmentation_dataset(tmp_path, split="test")


def test_voc_colour_masks_map_through_the_palette_and_void_colour_is_ignored(tmp_path):
    write_image(tmp_path / "JPEGImages" / "a.jpg")
    colors = np.array([*VOC_PALETTE, *[(1, 2, 3)] * 234, VOC_VOID_COLOR], np.uint8)
    write_mask(tmp_path / "SegmentationClass" / "a.png", ids([[15, 255, 30]]), mode="RGB", palette=colors)
    data = read_segmentation_dataset(tmp_path)
    report = data.report
    assert report.class_pixel_counts[15] == 1 and report.ignored_pixels == 2
    # Index 30's colour (1, 2, 3) is not VOC's: counted; the void colour is not.
    assert report.unknown_color_masks == 1 and report.unknown_color_pixels == 1
    assert report.examples["unknown_color_masks"] == ("SegmentationClass/a.png: 1 pixels",)


# --- CamVid-style folders ----------------------------------------------------------------------


def make_camvid(root: Path) -> None:
    for split, stems in (("train", ("f1", "f2")), ("val", ("f3",))):
        for stem in stems:
            write_image(root / split / f"{stem}.png")
            write_mask(root / f"{split}annot" / f"{stem}.png", ids([[11, 3]], value=0))


def test_camvid_layout_from_the_root_a_split_folder_or_every_split(tmp_path):
    make_camvid(tmp_path)
    (tmp_path / "classes.txt").write_text("\n".join(CAMVID_CLASSES) + "\n")
    assert detect_layout(tmp_path, split="train") == detect_layout(tmp_path / "val") == "camvid"
    train = read_segmentation_dataset(tmp_path, split="train", ignore_index=11)
    assert [Path(r.mask_path).relative_to(tmp_path).as_posix() for r in train.records] == [
        "trainannot/f1.png",
        "trainannot/f2.png",
    ]
    assert train.class_names == CAMVID_CLASSES and train.report.ignored_pixels == 2
    assert train.report.issues() == {}
    # A split folder given directly finds classes.txt in the dataset root.
    val = read_segmentation_dataset(tmp_path / "val", ignore_index=11)
    assert names(val.records) == ["f3.png"] and val.report.class_names_from == "classes.txt"
    assert len(read_segmentation_dataset(tmp_path, ignore_index=11)) == 3
    # Forgetting ignore_index=11: Unlabelled pixels are out of range, counted with their id.
    report = read_segmentation_dataset(tmp_path, split="train").report
    assert report.out_of_range_masks == 2 and report.out_of_range_ids == {11: 2}
    with pytest.raises(NotFoundError, match="No 'test' split"):
        read_segmentation_dataset(tmp_path, split="test")


# --- load_mask and load_image_size -------------------------------------------------------------


def test_load_mask_reads_ids_from_l_p_and_16_bit_masks(tmp_path):
    array = ids([[0, 1, 2], [7, 255, 3]])
    np.testing.assert_array_equal(load_mask(write_mask(tmp_path / "l.png", array)), array)
    # P masks: the palette index is the id, whatever colour the palette gives it.
    shuffled = [(255 - i, i, 7) for i in range(256)]
    p_mask = load_mask(write_mask(tmp_path / "p.png", array, mode="P", palette=shuffled))
    assert p_mask.dtype == np.uint8 and p_mask.shape == (6, 8)
    np.testing.assert_array_equal(p_mask, array)
    wide = np.array([[0, 300], [1000, 2]], np.uint16)
    Image.fromarray(wide).save(tmp_path / "i16.png")
    loaded = load_mask(tmp_path / "i16.png")
    assert loaded.dtype == np.int32
    np.testing.assert_array_equal(loaded, wide)
    assert load_image_size(write_image(tmp_path / "img.jpg", 13, 7)) == (13, 7)


def test_load_mask_maps_colours_through_the_palette(tmp_path):
    palette = [(0, 0, 0), (200, 10, 10), (10, 200, 10)]
    colors = np.array([*palette, (1, 1, 1)], np.uint8)
    path = write_mask(tmp_path / "rgb.png", ids([[1, 2, 3]]), mode="RGB", palette=colors)
    loaded = load_mask(path, palette=palette)
    assert loaded.dtype == np.uint8
    np.testing.assert_array_equal(loaded, ids([[1, 2, 255]]))  # (1, 1, 1) is no class
    np.testing.assert_array_equal(load_mask(path, palette=palette, ignore_index=9)[0, :3], [1, 2, 9])
    assert load_mask(path, palette=palette, ignore_index=300).dtype == np.int32
    with pytest.raises(InvalidArgumentError, match=r"colour \(RGB\) mask.*Received: path='.*', palette=None"):
        load_mask(path)
    with pytest.raises(InvalidArgumentError, match="ignore_index must be a non-negative integer"):
        load_mask(path, palette=palette, ignore_index=-1)


def test_load_mask_and_image_size_name_unreadable_files(tmp_path):
    (tmp_path / "broken.png").write_bytes(b"not a png")
    Image.fromarray(np.zeros((2, 2), np.float32), mode="F").save(tmp_path / "float.tiff")
    with pytest.raises(DataError, match=r"Cannot read the mask broken\.png: .*Received: path="):
        load_mask(tmp_path / "broken.png")
    with pytest.raises(DataError, match=r"mode 'F' holds no class ids"):
        load_mask(tmp_path / "float.tiff")
    with pytest.raises(DataError, match=r"image header of broken\.png.*Received: path="):
        load_image_size(tmp_path / "broken.png")


# --- the data report ---------------------------------------------------------------------------


def test_report_counts_each_odd_case_with_file_names_and_keeps_what_it_can(tmp_path):
    write_pair(tmp_path, "good", ids([[1]]))
    write_pair(tmp_path, "out", ids([[5, 7, 7]]))  # ids 5 and 7 >= 2 classes: kept, counted
    write_image(tmp_path / "images" / "lonely.jpg")
    write_mask(tmp_path / "masks" / "orphan.png", ids())
    write_image(tmp_path / "images" / "twice.png")
    write_image(tmp_path / "images" / "twice.jpg")
    write_mask(tmp_path / "masks" / "twice.png", ids())
    (tmp_path / "images" / "corrupt.png").write_bytes(b"\x89PNG garbage")
    write_mask(tmp_path / "masks" / "corrupt.png", ids())
    write_image(tmp_path / "images" / "badmask.jpg")
    (tmp_path / "masks" / "badmask.png").write_bytes(b"garbage")
    write_image(tmp_path / "images" / "small.jpg", 4, 4)
    write_mask(tmp_path / "masks" / "small.png", ids())
    write_image(tmp_path / "images" / "lossy.jpg")
    write_mask(tmp_path / "masks" / "lossy.jpg", ids())

    data = read_segmentation_dataset(tmp_path, class_names=["bg", "fg"])
    assert names(data.records) == ["good.jpg", "lossy.jpg", "out.jpg", "twice.jpg"]
    report = data.report
    assert report.issues() == {
        "images_without_masks": 1,
        "masks_without_images": 1,
        "duplicate_files": 1,
        "unreadable_images": 1,
        "unreadable_masks": 1,
        "size_mismatches": 1,
        "out_of_range_masks": 1,
        "lossy_masks": 1,
    }
    examples = report.examples
    assert examples["images_without_masks"] == ("images/lonely.jpg",)
    assert examples["masks_without_images"] == ("masks/orphan.png",)
    assert examples["duplicate_files"] == ("images/twice.png (same name as twice.jpg, not used)",)
    assert examples["unreadable_images"][0].startswith("images/corrupt.png: ")
    assert examples["unreadable_masks"][0].startswith("masks/badmask.png: ")
    assert examples["size_mismatches"] == ("masks/small.png: mask 8x6, image 4x4",)
    assert examples["out_of_range_masks"] == ("masks/out.png: ids 5, 7",)
    assert examples["lossy_masks"] == ("masks/lossy.jpg",)
    assert report.out_of_range_ids == {7: 2, 5: 1} and report.out_of_range_pixels == 3
    summary = report.summary()
    assert "masks with ids >= the number of classes other than ignore_index (kept, ignored): 1" in summary
    assert "e.g. masks/small.png: mask 8x6, image 4x4" in summary
    assert json.loads(json.dumps(report.to_dict()))["examples"]["lossy_masks"] == ["masks/lossy.jpg"]


def test_check_false_reads_headers_only_unless_classes_must_be_inferred(tmp_path):
    write_pair(tmp_path, "a", ids([[1]]))
    write_image(tmp_path / "images" / "small.jpg", 4, 4)
    write_mask(tmp_path / "masks" / "small.png", ids([[2]]))
    quick = read_segmentation_dataset(tmp_path, class_names=["x", "y"], check=False)
    assert len(quick) == 2 and quick.class_pixel_counts is None and not quick.report.checked
    assert "Masks not decoded" in quick.report.summary()
    inferred = read_segmentation_dataset(tmp_path, check=False)
    assert inferred.report.checked and len(inferred) == 1 and inferred.report.size_mismatches == 1
    assert inferred.num_classes == 2  # the dropped mask's id 2 does not count


def test_ignore_index_may_be_a_class_id(tmp_path):
    write_pair(tmp_path, "a", ids([[1, 2]]))
    data = read_segmentation_dataset(tmp_path, class_names=["other", "a", "b"], ignore_index=0)
    np.testing.assert_array_equal(data.class_pixel_counts, [0, 1, 1])
    assert data.report.ignored_pixels == 46


# --- errors ------------------------------------------------------------------------------------


def test_path_and_layout_errors_say_what_was_expected(tmp_path):
    with pytest.raises(NotFoundError, match=r"does not exist.*Received: path='.*nowhere'$"):
        read_segmentation_dataset(tmp_path / "nowhere")
    with pytest.raises(InvalidArgumentError, match=r"path is a file.*Received: path="):
        read_segmentation_dataset(write_image(tmp_path / "a.png"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(
        DataError, match=r"folder is empty\. Expected one of: images/ \+ masks/.*Received: path="
    ):
        read_segmentation_dataset(tmp_path / "empty")
    with pytest.raises(
        InvalidArgumentError,
        match=r"Cannot tell the segmentation data layout: found a folder "
        r"holding a\.png, empty/\. Expected one of: .*JPEGImages.*<split>annot.*Received: path=",
    ):
        read_segmentation_dataset(tmp_path)
    with pytest.raises(InvalidArgumentError, match=r"ignore_index must be a non-negative integer.*=-1$"):
        read_segmentation_dataset(tmp_path, ignore_index=-1)
    with pytest.raises(InvalidArgumentError, match="split must be a split name"):
        read_segmentation_dataset(tmp_path, split="")


def test_data_without_a_usable_pair_is_a_data_error_naming_the_files(tmp_path):
    write_image(tmp_path / "images" / "a.jpg")
    write_mask(tmp_path / "masks" / "b.png", ids())
    with pytest.raises(
        DataError, match=r"no image with a mask.*images/a\.jpg; masks/b\.png.*Received: path="
    ):
        read_segmentation_dataset(tmp_path)
    write_mask(tmp_path / "masks" / "a.png", ids(width=3))
    with pytest.raises(DataError, match=r"No usable image/mask pair.*masks/a\.png: mask 3x6, image 8x6"):
        read_segmentation_dataset(tmp_path, class_names=["x"])
    (tmp_path / "masks" / "a.png").unlink()
    write_mask(tmp_path / "masks" / "a.png", ids(value=255))
    with pytest.raises(DataError, match=r"Cannot infer the classes.*ignore_index=255$"):
        read_segmentation_dataset(tmp_path)


def test_colour_masks_without_a_palette_are_a_data_error(tmp_path):
    write_image(tmp_path / "images" / "a.jpg")
    palette = np.array([(0, 0, 0), (200, 0, 0)], np.uint8)
    write_mask(tmp_path / "masks" / "a.png", ids([[1]]), mode="RGB", palette=palette)
    with pytest.raises(DataError, match=r"1 mask are colour \(RGB\) masks, e\.g\. masks/a\.png.*name r g b"):
        read_segmentation_dataset(tmp_path)
    data = read_segmentation_dataset(tmp_path, class_names=["bg", "red"], palette=palette)
    np.testing.assert_array_equal(data.class_pixel_counts, [47, 1])


MALFORMED_CLASSES = {
    "comma-fields": ("road,1,2\n", r"line 1: 3 comma-separated fields"),
    "colour-range": ("road 1 2 300\n", r"line 1: a colour value is outside 0\.\.255"),
    "colour-not-int": ("road,1,2,x\n", r"line 1: a colour value is not an integer"),
    "mixed": ("road 1 2 3\nsky\n", r"line 2: some lines have a colour and this one has none"),
    "repeated": ("road\nsky\nroad\n", r"line 1: repeated class name\(s\): road"),
    "same-colour": ("road 1 2 3\nsky 1 2 3\n", r"line 1: the colour \(1, 2, 3\) is given to several"),
    "empty": ("# only a comment\n\n", r"classes\.txt: it lists no class"),
}


@pytest.mark.parametrize("case", MALFORMED_CLASSES)
def test_malformed_classes_file_is_a_data_error_naming_the_line(tmp_path, case):
    text, message = MALFORMED_CLASSES[case]
    write_pair(tmp_path, "a", ids([[1]]))
    (tmp_path / "classes.txt").write_text(text)
    with pytest.raises(DataError, match=message) as caught:
        read_segmentation_dataset(tmp_path)
    assert "Expected one class name per line" in str(caught.value)
    assert "Received: path='" in str(caught.value)


# --- records and splitting ---------------------------------------------------------------------


def test_split_records_is_deterministic_disjoint_and_independent_of_input_order():
    records = [SegmentationRecord(f"/d/{i:02d}.jpg", f"/m/{i:02d}.png", 4, 4) for i in range(10)]
    kept, held_out = split_records(records, 0.3, seed=1)
    assert len(held_out) == 3 and len(kept) == 7
    assert set(kept).isdisjoint(held_out)
    assert [r.image_path for r in kept] == sorted(r.image_path for r in kept)
    assert set(split_records(records[::-1], 0.3, seed=1)[1]) == set(held_out)
    with pytest.raises(InvalidArgumentError, match="fraction=0"):
        split_records(records, 0)
    with pytest.raises(InvalidArgumentError, match="at least two records"):
        split_records(records[:1], 0.5)
    with pytest.raises(dataclasses.FrozenInstanceError):
        records[0].width = 3  # type: ignore[misc]


# --- the real CamVid subset --------------------------------------------------------------------


@pytest.mark.shared_data
def test_camvid_subset_reads_cleanly_with_its_classes_and_unlabelled_ignored():
    data = read_segmentation_dataset(CAMVID, split="train", class_names=CAMVID_CLASSES, ignore_index=11)
    assert data.layout == "camvid" and len(data) == 62
    assert data.class_names == CAMVID_CLASSES and data.report.issues() == {}
    for record in data.records:
        assert (record.width, record.height) == (480, 360)
        assert Path(record.mask_path).parent == CAMVID / "trainannot"
        assert Path(record.mask_path).name == Path(record.image_path).name
    mask = load_mask(data.records[0].mask_path)
    assert mask.shape == (360, 480) and mask.max() <= 11
    counts = data.class_pixel_counts
    assert counts.shape == (11,) and np.all(counts > 0)
    assert int(counts.sum()) + data.report.ignored_pixels == 62 * 480 * 360
    assert data.report.out_of_range_pixels == 0 and data.report.ignored_pixels > 0
    # Every split together matches the README's pixel counts (classes 0..10, then 11 = Unlabelled).
    everything = read_segmentation_dataset(CAMVID, class_names=CAMVID_CLASSES, ignore_index=11)
    assert len(everything) == 62 + 17 + 39
    assert everything.class_pixel_counts[[0, 3, 10]].tolist() == [3_184_095, 5_902_368, 108_257]
    assert everything.report.ignored_pixels == 685_058

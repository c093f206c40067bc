"""Loading SavedModels and running signatures on numpy arrays."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import png
from tensorflow.core.framework import types_pb2

from tfapps.apps.errors import FailedPreconditionError, InvalidArgumentError, NotFoundError
from tfapps.serving.runtime import Servable, configure_tensorflow_threads, load_servable


@pytest.fixture(scope="module")
def half(export_base: Path) -> Servable:
    return load_servable(export_base / "half" / "1")


def test_signature_info_comes_from_the_meta_graph(half: Servable) -> None:
    assert half.signature_names == ["echo", "serving_default", "typed"]
    info = half.signature("serving_default")
    assert list(info.inputs) == ["x"] and list(info.outputs) == ["y"]
    x = info.inputs["x"]
    assert (x.dtype, x.shape, x.dtype_name) == (types_pb2.DT_FLOAT, (None, 1), "float")
    assert "__saved_model_init_op" in half.signature_def_map


def test_predict_casts_lists_and_float64(half: Servable) -> None:
    out = half.predict({"x": [[1.0], [2.0]]})
    assert out["y"].dtype == np.float32
    np.testing.assert_allclose(out["y"], [[2.5], [3.0]])
    np.testing.assert_allclose(half.predict({"x": np.array([[4]], np.int64)})["y"], [[4.0]])


def test_string_multi_output_signature_and_filter(half: Servable) -> None:
    out = half.predict({"text": ["ab", b"c"]}, "echo")
    assert out["upper"].tolist() == [b"AB", b"C"]
    assert out["length"].tolist() == [2, 1]
    assert list(half.predict({"text": ["ab"]}, "echo", output_filter=["length"])) == ["length"]


def test_errors_say_what_is_wrong(half: Servable) -> None:
    with pytest.raises(FailedPreconditionError, match='Serving signature key "nope" not found'):
        half.predict({"x": [[1.0]]}, "nope")
    with pytest.raises(InvalidArgumentError, match=r"Missing but required: \{x\}"):
        half.predict({})
    with pytest.raises(InvalidArgumentError, match=r"Sent extra: \{z\}"):
        half.predict({"x": [[1.0]], "z": [1.0]})
    with pytest.raises(InvalidArgumentError, match="to be float but string is provided. Received: x.dtype"):
        half.predict({"x": [["a"]]})
    with pytest.raises(InvalidArgumentError, match="to be int64 but float is provided"):
        half.predict({"n": np.array([1.5], np.float32), "flag": [True]}, "typed")
    with pytest.raises(InvalidArgumentError, match=r"expected \[-1,1\].*Received: x.shape=\[2\]"):
        half.predict({"x": [1.0, 2.0]})
    with pytest.raises(InvalidArgumentError, match="output tensor alias not found in signature: q"):
        half.predict({"x": [[1.0]]}, output_filter=["q"])
    with pytest.raises(InvalidArgumentError, match="duplicate output tensor alias: y"):
        half.predict({"x": [[1.0]]}, output_filter=["y", "y"])


def test_graph_errors_become_invalid_argument(export_base: Path) -> None:
    image = load_servable(export_base / "image" / "1")
    out = image.predict({"image_bytes": [png(255), png(0)]})
    np.testing.assert_allclose(out["scores"], [[1.0], [0.0]])
    assert out["labels"].tolist() == [[b"bright"], [b"dark"]]
    assert out["thumb_bytes"][0].startswith(b"\x89PNG")
    with pytest.raises(InvalidArgumentError):
        image.predict({"image_bytes": [b"not a png"]})


def test_load_errors(tmp_path: Path) -> None:
    with pytest.raises(NotFoundError, match="saved_model.pb"):
        load_servable(tmp_path)
    (tmp_path / "saved_model.pb").write_bytes(b"garbage")
    with pytest.raises(InvalidArgumentError, match="Could not parse the SavedModel"):
        load_servable(tmp_path)


@pytest.mark.shared_data
def test_tf1_half_plus_two_accepts_undeclared_shapes(testdata: Path) -> None:
    servable = load_servable(testdata / "saved_model_half_plus_two_cpu" / "00000123")
    assert not servable.is_tf2
    np.testing.assert_allclose(servable.predict({"x": [[2.0], [3.0], [4.0]]})["y"], [[3.0], [3.5], [4.0]])
    np.testing.assert_allclose(
        servable.predict({"x": [[1.0, 2.0], [3.0, 4.0]]})["y"], [[2.5, 3.0], [3.5, 4.0]]
    )
    np.testing.assert_allclose(servable.predict({"inputs": [[2.0]]}, "regress_x2_to_y3")["outputs"], [[4.0]])


@pytest.mark.shared_data
def test_tf2_defaults_fill_missing_inputs(testdata: Path) -> None:
    servable = load_servable(testdata / "saved_model_half_plus_two_tf2_cpu" / "00000123")
    np.testing.assert_allclose(servable.predict({"x": [2.0]})["y"], [3.0])
    np.testing.assert_allclose(servable.predict({})["y"], [2.0])


def test_flat_signature_calls_match_keyword_calls(half: Servable, export_base: Path) -> None:
    import tensorflow as tf

    signatures = tf.saved_model.load(str(export_base / "half" / "1")).signatures
    feeds = {"n": np.array([3, -4], np.int64), "flag": np.array([True, False])}
    typed = signatures["typed"]
    expected = typed(
        **{k: tf.constant(v, typed.structured_input_signature[1][k].dtype) for k, v in feeds.items()}
    )
    got = half.predict(feeds, "typed")  # two inputs: the flat call must feed them in the right order
    assert sorted(got) == sorted(expected)
    for alias, value in expected.items():
        np.testing.assert_array_equal(got[alias], value.numpy())


def test_string_inputs_deeper_than_numpy_iterators_get_a_clean_error(half: Servable) -> None:
    deep = np.array(["a"], dtype=object).reshape((1,) * 33)
    with pytest.raises(InvalidArgumentError, match="incompatible shape"):
        half.predict({"text": deep}, "echo")


def test_thread_pools_cannot_change_once_tensorflow_runs() -> None:
    import tensorflow as tf

    tf.constant(1.0) + 1.0  # TensorFlow is running in this process now
    current = configure_tensorflow_threads()
    assert configure_tensorflow_threads(*current) == current  # asking for what is set is fine
    with pytest.raises(FailedPreconditionError, match="already runs in this process"):
        configure_tensorflow_threads(intra_op=current[0] + 3)

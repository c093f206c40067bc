"""JSON ↔ tensor rules of TF Serving's REST API (spec §1.4–1.6) and TensorProto round trips."""

from __future__ import annotations

import base64
import json

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from tensorflow.core.framework import types_pb2

from tfapps.apps.errors import InvalidArgumentError, UnimplementedError
from tfapps.serving import codec
from tfapps.serving.runtime import TensorInfo


def spec(alias: str, dtype: int = types_pb2.DT_FLOAT) -> TensorInfo:
    return TensorInfo(alias=alias, name=f"{alias}:0", dtype=dtype, shape=None)


X = {"x": spec("x")}
AB = {"a": spec("a"), "b": spec("b", types_pb2.DT_STRING)}


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (3.0, "3.0"),
        (9000000.0, "9e+06"),
        (999999.0, "999999.0"),
        (0.00003, "3e-05"),
        (555557.5, "555557.5"),
        (717887168.0, "717887168.0"),
        (float("nan"), "NaN"),
        (float("inf"), "Infinity"),
        (float("-inf"), "-Infinity"),
        (-2.5, "-2.5"),
    ],
)
def test_format_float_matches_tf_serving(value: float, text: str) -> None:
    assert codec.format_float(float(np.float32(value))) == text


def test_format_float_uses_more_digits_when_g_does_not_round_trip() -> None:
    assert codec.format_float(float(np.float32(2.1))) == "2.1"
    assert codec.format_float(1435774336.0) == "1.43577434e+09"
    assert codec.format_float(0.1 + 0.2, double=True) == "0.30000000000000004"


@given(st.floats(width=32, allow_nan=False, allow_infinity=False))
def test_format_float_round_trips_float32(value: float) -> None:
    text = codec.format_float(value)
    assert np.float32(float(text)) == np.float32(value)
    assert "." in text or "e" in text


def test_parse_json_body_errors() -> None:
    with pytest.raises(InvalidArgumentError, match="The document is empty"):
        codec.parse_json_body(b"  ")
    with pytest.raises(InvalidArgumentError, match=r"JSON Parse error: .* at offset: 1"):
        codec.parse_json_body(b"{bad")
    with pytest.raises(InvalidArgumentError, match="Is not object"):
        codec.parse_json_body(b"[1]")
    with pytest.raises(InvalidArgumentError, match="JSON Parse error"):
        codec.parse_json_body(b"[" * 100_000 + b"]" * 100_000)


def test_signature_name_must_be_string() -> None:
    assert codec.signature_name_of({}) == ""
    with pytest.raises(InvalidArgumentError, match="'signature_name' key must be a string value."):
        codec.signature_name_of({"signature_name": 1})


def test_row_format_single_input() -> None:
    arrays, row = codec.decode_predict_inputs({"instances": [[1.0], [2]]}, X)
    assert row
    np.testing.assert_array_equal(arrays["x"], np.array([[1.0], [2.0]], np.float32))
    assert arrays["x"].dtype == np.float32


def test_row_format_named_objects_and_b64() -> None:
    doc = {
        "instances": [{"a": 1.0, "b": {"b64": base64.b64encode(b"\x00\xff").decode()}}, {"a": 2.0, "b": "t"}]
    }
    arrays, _ = codec.decode_predict_inputs(doc, AB)
    np.testing.assert_array_equal(arrays["a"], [1.0, 2.0])
    assert arrays["b"].tolist() == [b"\x00\xff", b"t"]


@pytest.mark.parametrize(
    ("doc", "inputs", "message"),
    [
        ({"instances": [1], "inputs": [1]}, X, "expecting only one of 'inputs' or 'instances'"),
        ({"foo": 1}, X, "Missing 'inputs' or 'instances' key"),
        ({"instances": 1}, X, "Expecting 'instances' to be an list/array"),
        ({"instances": []}, X, "No values in 'instances' array"),
        ({"instances": [1.0]}, AB, "instances is a plain list, but expecting list of objects"),
        ({"instances": [{"a": 1.0, "b": "x", "z": 1}]}, AB, "does not have named input: z"),
        ({"instances": [{"a": 1.0}]}, AB, "keys must be equal to: a,b"),
        ({"instances": [{"a": 1.0, "b": "x"}, [1]]}, AB, "Expecting object but got list at item 1"),
        ({"instances": [[1.0, 2.0], [1.0]]}, X, "Expecting tensor size: 2 but got: 1"),
        ({"instances": [[1.0, 2.0], [[1.0], [2.0]]]}, X, "Expecting shape"),
        ({"instances": [[[1.0], 2.0]]}, X, "found at incorrect level"),
        ({"instances": [["x"]]}, X, 'JSON Value: "x" Type: String is not of expected type: float'),
        ({"instances": [{"b64": "AAAA"}]}, X, "Type: Object is not of expected type: float"),
        ({"instances": [True]}, X, "Type: True is not of expected type: float"),
        ({"inputs": [1.0]}, AB, "inputs is a plain value/list, but expecting an object"),
        ({"inputs": {"a": [1.0]}}, AB, "Missing named input: b in 'inputs' object."),
        ({"inputs": {"a": 1.0, "b": {"b64": "a-_b"}}}, AB, "Unable to base64 decode"),
    ],
)
def test_request_errors_carry_tf_serving_messages(doc: dict, inputs: dict, message: str) -> None:
    with pytest.raises(InvalidArgumentError, match=message.replace("[", r"\[")):
        codec.decode_predict_inputs(doc, inputs)


def test_integer_and_bool_types_are_strict() -> None:
    ints = {"n": spec("n", types_pb2.DT_INT32)}
    with pytest.raises(InvalidArgumentError, match="is not of expected type: int32"):
        codec.decode_predict_inputs({"inputs": [1.0]}, ints)
    with pytest.raises(InvalidArgumentError, match="is not of expected type: int32"):
        codec.decode_predict_inputs({"inputs": [2**40]}, ints)
    with pytest.raises(InvalidArgumentError, match="is not of expected type: bool"):
        codec.decode_predict_inputs({"inputs": [1]}, {"f": spec("f", types_pb2.DT_BOOL)})
    arrays, _ = codec.decode_predict_inputs({"inputs": [2**40]}, {"n": spec("n", types_pb2.DT_INT64)})
    assert arrays["n"].dtype == np.int64 and arrays["n"][0] == 2**40


def test_unsupported_input_dtype_is_unimplemented() -> None:
    with pytest.raises(UnimplementedError, match="to type: half"):
        codec.decode_predict_inputs({"inputs": [1.0]}, {"h": spec("h", types_pb2.DT_HALF)})


def test_columnar_scalar_extra_keys_and_float_narrowing() -> None:
    arrays, row = codec.decode_predict_inputs({"inputs": 2}, X)
    assert not row and arrays["x"].shape == () and arrays["x"] == 2.0
    arrays, _ = codec.decode_predict_inputs({"inputs": {"x": [1435774380, 1e39], "ignored": 1}}, X)
    assert arrays["x"].tolist() == [1435774336.0, float("inf")]


def test_encode_single_and_multi_outputs() -> None:
    y = np.array([[2.5], [3.0]], np.float32)
    assert json.loads(codec.encode_predict_response({"y": y}, row_format=True)) == {
        "predictions": [[2.5], [3.0]]
    }
    assert json.loads(codec.encode_predict_response({"y": y}, row_format=False)) == {
        "outputs": [[2.5], [3.0]]
    }
    outputs = {"s": np.array([0.5, 1.0], np.float32), "mask_bytes": np.array([b"\x00", b"\x01"], object)}
    rows = json.loads(codec.encode_predict_response(outputs, row_format=True))["predictions"]
    assert rows == [{"s": 0.5, "mask_bytes": {"b64": "AA=="}}, {"s": 1.0, "mask_bytes": {"b64": "AQ=="}}]
    cols = json.loads(codec.encode_predict_response(outputs, row_format=False))["outputs"]
    assert cols == {"s": [0.5, 1.0], "mask_bytes": [{"b64": "AA=="}, {"b64": "AQ=="}]}


def test_encode_formats_numbers_like_tf_serving() -> None:
    text = codec.encode_predict_response(
        {"y": np.array([3.0, 9e6, np.nan, -np.inf], np.float32)}, row_format=False
    )
    assert text == '{"outputs": [3.0, 9e+06, NaN, -Infinity]}'
    text = codec.encode_predict_response(
        {
            "i": np.array([1, 2], np.int64),
            "b": np.array([True, False]),
            "t": np.array([b"caf\xc3\xa9", b"x"], object),
        },
        row_format=False,
    )
    assert json.loads(text) == {"outputs": {"i": [1, 2], "b": [True, False], "t": ["café", "x"]}}


def test_encode_row_format_errors() -> None:
    with pytest.raises(InvalidArgumentError, match="has no shape information"):
        codec.encode_predict_response({"y": np.float32(1.0)}, row_format=True)
    with pytest.raises(InvalidArgumentError, match="inconsistent batch size: 1 expecting: 2"):
        codec.encode_predict_response({"a": np.zeros(2), "b": np.zeros(1)}, row_format=True)
    with pytest.raises(InvalidArgumentError, match="Failed to write JSON value for tensor type: complex64"):
        codec.encode_predict_response({"c": np.zeros(2, np.complex64)}, row_format=False)
    assert json.loads(codec.encode_predict_response({"y": np.zeros((0, 1))}, row_format=True)) == {
        "predictions": []
    }


@pytest.mark.parametrize(
    "array",
    [
        np.array([[1.5, 2.0]], np.float32),
        np.array([1.0, 2.0], np.float64),
        np.array([[1, 2], [3, 4]], np.int32),
        np.array([2**40], np.int64),
        np.array([True, False]),
        np.array([b"\x00\xff", b"abc"], object),
        np.float32(3.0),
    ],
)
def test_tensor_proto_round_trip_uses_typed_fields(array: np.ndarray) -> None:
    proto = codec.ndarray_to_tensor_proto(array)
    assert not proto.tensor_content
    back = codec.tensor_proto_to_ndarray(proto)
    assert back.shape == np.shape(array)
    np.testing.assert_array_equal(back, array)


@pytest.mark.parametrize(
    ("values", "shape"),
    [
        ([b"\x89PNG\x00", b"", "h\u00e9".encode()], [3]),  # full: the fast path
        ([b"a", b"b", b"c", b"d", b"e", b"f"], [2, 1, 3]),
        ([b"only"], [2, 2]),  # fewer values than the shape: the last one repeats
        ([], [0, 3]),
        ([b"x"], []),
    ],
)
def test_string_protos_decode_as_tensorflow_decodes_them(values: list[bytes], shape: list[int]) -> None:
    import tensorflow as tf

    proto = tf.make_tensor_proto(values, dtype=tf.string, shape=shape)
    want = tf.make_ndarray(proto)
    got = codec.tensor_proto_to_ndarray(proto)
    assert got.dtype == object and got.shape == want.shape
    assert got.reshape(-1).tolist() == want.reshape(-1).tolist()


def test_tensor_proto_parse_error() -> None:
    proto = codec.ndarray_to_tensor_proto(np.zeros(4, np.float32))
    proto.tensor_shape.dim[0].size = 3
    with pytest.raises(InvalidArgumentError, match="tensor parsing error: x"):
        codec.tensor_proto_to_ndarray(proto, "x")
    proto = codec.ndarray_to_tensor_proto(np.zeros(4, np.float32))
    proto.ClearField("float_val")
    proto.tensor_content = b"abc"
    with pytest.raises(InvalidArgumentError, match="tensor parsing error: x"):
        codec.tensor_proto_to_ndarray(proto, "x")

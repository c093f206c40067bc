"""The gRPC API of the embedded server, through the stock tensorflow-serving-api stubs (spec §2)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import grpc
import numpy as np
import pytest
import tensorflow as tf
from google.protobuf import json_format
from tensorflow_serving.apis import (
    classification_pb2,
    get_model_metadata_pb2,
    get_model_status_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
)

from tfapps.serving.server import ModelServer

pytestmark = pytest.mark.serving


@pytest.fixture(scope="module")
def channel(model_server: ModelServer) -> Iterator[grpc.Channel]:
    with grpc.insecure_channel(f"127.0.0.1:{model_server.grpc_port}") as ch:
        yield ch


@pytest.fixture(scope="module")
def predictions(channel: grpc.Channel) -> prediction_service_pb2_grpc.PredictionServiceStub:
    return prediction_service_pb2_grpc.PredictionServiceStub(channel)


def predict_request(
    name: str, signature: str = "", version: int | None = None, **inputs: object
) -> predict_pb2.PredictRequest:
    request = predict_pb2.PredictRequest()
    request.model_spec.name = name
    request.model_spec.signature_name = signature
    if version is not None:
        request.model_spec.version.value = version
    for alias, value in inputs.items():
        request.inputs[alias].CopyFrom(tf.make_tensor_proto(value))
    return request


def test_predict_latest_and_specific_version(predictions) -> None:
    response = predictions.Predict(
        predict_request("half", x=np.array([[1.0], [2.0]], np.float32)), timeout=30
    )
    np.testing.assert_allclose(tf.make_ndarray(response.outputs["y"]), [[3.5], [4.0]])
    assert response.outputs["y"].float_val  # typed fields, like Tensor::AsProtoField
    assert (
        response.model_spec.name,
        response.model_spec.version.value,
        response.model_spec.signature_name,
    ) == (
        "half",
        2,
        "serving_default",
    )
    response = predictions.Predict(
        predict_request("half", version=1, x=np.array([[2.0]], np.float32)), timeout=30
    )
    np.testing.assert_allclose(tf.make_ndarray(response.outputs["y"]), [[3.0]])
    request = predict_request("half", x=np.array([[2.0]], np.float32))
    request.model_spec.version_label = "stable"
    assert predictions.Predict(request, timeout=30).model_spec.version.value == 1


def test_output_filter_and_strings(predictions) -> None:
    request = predict_request("half", "echo", text=np.array([b"ab", b"c"], object))
    request.output_filter.append("upper")
    response = predictions.Predict(request, timeout=30)
    assert list(response.outputs) == ["upper"]
    assert list(response.outputs["upper"].string_val) == [b"AB", b"C"]


@pytest.mark.parametrize(
    ("request_fn", "code", "message"),
    [
        (lambda: predict_pb2.PredictRequest(), grpc.StatusCode.INVALID_ARGUMENT, "Missing ModelSpec"),
        (lambda: predict_request(""), grpc.StatusCode.INVALID_ARGUMENT, "ModelSpec has no name specified."),
        (
            lambda: predict_request("foo", x=[[1.0]]),
            grpc.StatusCode.NOT_FOUND,
            "Servable not found for request: Latest(foo)",
        ),
        (
            lambda: predict_request("half", version=9, x=[[1.0]]),
            grpc.StatusCode.NOT_FOUND,
            "Specific(half, 9)",
        ),
        (
            lambda: predict_request("half", "nope", x=[[1.0]]),
            grpc.StatusCode.FAILED_PRECONDITION,
            'Serving signature key "nope" not found.',
        ),
        (
            lambda: predict_request("half", a=[1.0], x=[[1.0]]),
            grpc.StatusCode.INVALID_ARGUMENT,
            "input size does not match signature: 2!=1",
        ),
        (
            lambda: predict_request("half", x=np.array([["s"]], object)),
            grpc.StatusCode.INVALID_ARGUMENT,
            "to be float but string is provided",
        ),
        (
            lambda: predict_request("image", image_bytes=np.array([b"junk"], object)),
            grpc.StatusCode.INVALID_ARGUMENT,
            "",
        ),
    ],
)
def test_predict_errors(predictions, request_fn, code: grpc.StatusCode, message: str) -> None:
    with pytest.raises(grpc.RpcError) as info:
        predictions.Predict(request_fn(), timeout=30)
    assert info.value.code() == code
    assert message in info.value.details()


def test_bad_output_filter(predictions) -> None:
    request = predict_request("half", x=np.array([[1.0]], np.float32))
    request.output_filter.append("zz")
    with pytest.raises(grpc.RpcError) as info:
        predictions.Predict(request, timeout=30)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "output tensor alias not found in signature: zz" in info.value.details()


def test_metadata(predictions) -> None:
    request = get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=["signature_def"])
    request.model_spec.name = "half"
    response = predictions.GetModelMetadata(request, timeout=30)
    assert (response.model_spec.name, response.model_spec.version.value) == ("half", 2)
    defs = get_model_metadata_pb2.SignatureDefMap()
    assert response.metadata["signature_def"].Unpack(defs)
    assert {"serving_default", "echo", "typed", "__saved_model_init_op"} <= set(defs.signature_def)
    for fields, message in (
        ([], "must specify at least one metadata_field"),
        (["foo"], "Metadata field foo is not supported"),
    ):
        bad = get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=fields)
        bad.model_spec.name = "half"
        with pytest.raises(grpc.RpcError) as info:
            predictions.GetModelMetadata(bad, timeout=30)
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT and message in info.value.details()


def test_status(channel: grpc.Channel) -> None:
    stub = model_service_pb2_grpc.ModelServiceStub(channel)
    request = get_model_status_pb2.GetModelStatusRequest()
    request.model_spec.name = "half"
    response = stub.GetModelStatus(request, timeout=30)
    assert [(s.version, s.state) for s in response.model_version_status] == [
        (2, get_model_status_pb2.ModelVersionStatus.AVAILABLE),
        (1, get_model_status_pb2.ModelVersionStatus.AVAILABLE),
    ]
    request.model_spec.version.value = 5
    with pytest.raises(grpc.RpcError) as info:
        stub.GetModelStatus(request, timeout=30)
    assert info.value.code() == grpc.StatusCode.NOT_FOUND
    assert "Could not find version 5 of model half" in info.value.details()


def test_unimplemented_methods_answer_cleanly(predictions) -> None:
    with pytest.raises(grpc.RpcError) as info:
        predictions.Classify(classification_pb2.ClassificationRequest(), timeout=30)
    assert info.value.code() == grpc.StatusCode.UNIMPLEMENTED
    # The server keeps serving afterwards.
    assert predictions.Predict(predict_request("half", x=np.array([[0.0]], np.float32)), timeout=30).outputs


@pytest.mark.shared_data
def test_half_plus_two_over_grpc(shared_server: ModelServer, testdata: Path) -> None:
    with grpc.insecure_channel(f"127.0.0.1:{shared_server.grpc_port}") as ch:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(ch)
        response = stub.Predict(
            predict_request("default", x=np.array([[2.0], [3.0], [4.0]], np.float32)), timeout=30
        )
        np.testing.assert_allclose(tf.make_ndarray(response.outputs["y"]), [[3.0], [3.5], [4.0]])
        assert response.model_spec.version.value == 123
        request = get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=["signature_def"])
        request.model_spec.name = "default"
        response = stub.GetModelMetadata(request, timeout=30)
        defs = get_model_metadata_pb2.SignatureDefMap()
        response.metadata["signature_def"].Unpack(defs)
        kwargs = {"preserving_proto_field_name": True, "always_print_fields_with_no_presence": True}
        expected = json.loads((testdata / "half_plus_two_model_metadata.json").read_text())
        assert json_format.MessageToDict(defs, **kwargs) == expected["metadata"]["signature_def"]

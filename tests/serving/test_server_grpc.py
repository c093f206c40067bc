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
    inference_pb2,
    input_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
    regression_pb2,
)

from tfapps.serving.server import ModelServer, ServerOptions

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


def example_input(target: input_pb2.Input, context: dict | None = None, *examples: dict) -> None:
    """Fills an `Input` with float-feature examples (and a context when given)."""
    if context is None:
        holder = target.example_list
    else:
        holder = target.example_list_with_context
        for name, value in context.items():
            holder.context.features.feature[name].float_list.value.append(value)
    for features in examples:
        ex = holder.examples.add()
        for name, value in features.items():
            ex.features.feature[name].float_list.value.append(value)


def test_classify(predictions) -> None:
    request = classification_pb2.ClassificationRequest()
    request.model_spec.name = "scorer"
    request.model_spec.signature_name = "classify"
    example_input(request.input, None, {"x": 2.0}, {"x": 10.0})
    response = predictions.Classify(request, timeout=30)
    assert [[(c.label, c.score) for c in row.classes] for row in response.result.classifications] == [
        [("x", 2.0), ("half_plus_two", 3.0)],
        [("x", 10.0), ("half_plus_two", 7.0)],
    ]
    assert (response.model_spec.name, response.model_spec.version.value) == ("scorer", 7)
    assert response.model_spec.signature_name == "classify"


def test_regress_with_context(predictions) -> None:
    request = regression_pb2.RegressionRequest()
    request.model_spec.name = "scorer"
    request.model_spec.signature_name = "regress_sum"
    example_input(request.input, {"x": 1.0, "x2": 10.0}, {"x": 5.0}, {})
    response = predictions.Regress(request, timeout=30)
    assert [r.value for r in response.result.regressions] == [15.0, 11.0]


@pytest.mark.parametrize(
    ("build", "code", "message"),
    [
        (lambda r: None, grpc.StatusCode.INVALID_ARGUMENT, "Missing ModelSpec"),
        (lambda r: r.model_spec.SetInParent(), grpc.StatusCode.INVALID_ARGUMENT, "ModelSpec has no name"),
        (lambda r: setattr(r.model_spec, "name", "foo"), grpc.StatusCode.NOT_FOUND, "Latest(foo)"),
        (
            lambda r: setattr(r.model_spec, "name", "scorer"),
            grpc.StatusCode.INVALID_ARGUMENT,
            "No regression inputs found in SignatureDef",
        ),
        (
            lambda r: (
                setattr(r.model_spec, "name", "scorer"),
                setattr(r.model_spec, "signature_name", "regress"),
            ),
            grpc.StatusCode.INVALID_ARGUMENT,
            "Input is empty.",
        ),
    ],
)
def test_regress_errors(predictions, build, code: grpc.StatusCode, message: str) -> None:
    request = regression_pb2.RegressionRequest()
    build(request)
    with pytest.raises(grpc.RpcError) as info:
        predictions.Regress(request, timeout=30)
    assert info.value.code() == code
    assert message in info.value.details()


def test_multi_inference_checks_tasks(predictions) -> None:
    request = inference_pb2.MultiInferenceRequest()
    for signature in ("regress", "regress"):
        task = request.tasks.add(method_name="tensorflow/serving/regress")
        task.model_spec.name = "scorer"
        task.model_spec.signature_name = signature
    example_input(request.input, None, {"x": 1.0})
    with pytest.raises(grpc.RpcError) as info:
        predictions.MultiInference(request, timeout=30)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "Duplicate evaluation of signature: regress" in info.value.details()
    del request.tasks[1]
    (result,) = predictions.MultiInference(request, timeout=30).results
    assert [r.value for r in result.regression_result.regressions] == [2.5]


def test_version_label_in_model_spec(predictions) -> None:
    request = predict_request("half", x=np.array([[2.0]], np.float32))
    request.model_spec.version_label = "canary"
    response = predictions.Predict(request, timeout=30)
    np.testing.assert_allclose(tf.make_ndarray(response.outputs["y"]), [[4.0]])
    assert response.model_spec.version.value == 2
    request.model_spec.version_label = "nope"
    with pytest.raises(grpc.RpcError) as info:
        predictions.Predict(request, timeout=30)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "Unrecognized servable version label: nope" in info.value.details()


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


@pytest.mark.serving
def test_health_service(export_base: Path) -> None:
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    options = ServerOptions(
        model_name="half",
        model_base_path=export_base / "half",
        grpc_port=0,
        rest_port=None,
        enable_grpc_healthcheck_service=True,
    )
    server = ModelServer(options).start()
    try:
        with grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}") as channel:
            stub = health_pb2_grpc.HealthStub(channel)
            for service in ("", "ModelService", "PredictionService"):
                response = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=10)
                assert response.status == health_pb2.HealthCheckResponse.SERVING
            with pytest.raises(grpc.RpcError) as info:
                stub.Check(health_pb2.HealthCheckRequest(service="Nope"), timeout=10)
            assert info.value.code() == grpc.StatusCode.NOT_FOUND
    finally:
        server.stop()


@pytest.mark.serving
def test_health_service_is_off_by_default(channel: grpc.Channel) -> None:
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    with pytest.raises(grpc.RpcError) as info:
        health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=10)
    assert info.value.code() == grpc.StatusCode.UNIMPLEMENTED

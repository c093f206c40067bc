"""TF Serving's own test models served from a `--model_config_file`: spec §4 answers and errors over
REST and gRPC (predict, classify, regress, multi-inference, labels, metadata documents)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import grpc
import httpx
import pytest
from google.protobuf import json_format
from tensorflow_serving.apis import (
    classification_pb2,
    get_model_metadata_pb2,
    inference_pb2,
    prediction_service_pb2_grpc,
    regression_pb2,
)

from tfapps.serving.server import ModelServer, ServerOptions

pytestmark = [pytest.mark.shared_data, pytest.mark.serving]

TWO = "saved_model_half_plus_two_2_versions"
CLASSIFY, REGRESS = "tensorflow/serving/classify", "tensorflow/serving/regress"


@pytest.fixture(scope="module")
def server(testdata: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModelServer]:
    path = tmp_path_factory.mktemp("shared") / "models.config"
    path.write_text(
        "model_config_list {\n"
        f'  config {{ name: "default" base_path: "{testdata / "saved_model_half_plus_two_cpu"}"'
        ' model_platform: "tensorflow" }\n'
        f'  config {{ name: "{TWO}" base_path: "{testdata / TWO}" model_platform: "tensorflow"\n'
        "    model_version_policy { all {} }\n"
        '    version_labels { key: "stable" value: 123 } version_labels { key: "canary" value: 124 } }\n'
        f'  config {{ name: "tf2" base_path: "{testdata / "saved_model_half_plus_two_tf2_cpu"}"'
        ' model_platform: "tensorflow" }\n'
        "}\n"
    )
    options = ServerOptions(model_config_file=path, grpc_port=0, rest_port=0, host="127.0.0.1")
    with ModelServer(options) as server:
        yield server


@pytest.fixture(scope="module")
def http(server: ModelServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=f"http://127.0.0.1:{server.rest_port}", timeout=60) as client:
        yield client


@pytest.fixture(scope="module")
def stub(server: ModelServer) -> Iterator[prediction_service_pb2_grpc.PredictionServiceStub]:
    with grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}") as channel:
        yield prediction_service_pb2_grpc.PredictionServiceStub(channel)


# ------------------------------------------------------------------------------ REST


def test_rest_predict_and_labels(http: httpx.Client) -> None:
    r = http.post("/v1/models/default:predict", json={"instances": [[2.0], [3.0], [4.0]]})
    assert r.json() == {"predictions": [[3.0], [3.5], [4.0]]}
    r = http.post(f"/v1/models/{TWO}/labels/canary:predict", json={"inputs": {"x": [[1, 2], [3, 4]]}})
    assert r.json() == {"outputs": [[2.5, 3.0], [3.5, 4.0]]}
    r = http.post(
        f"/v1/models/{TWO}:predict", json={"signature_name": "regress_x2_to_y3", "instances": [[2.0]]}
    )
    assert r.json() == {"predictions": [[4.0]]}


def test_rest_classify_and_regress(http: httpx.Client) -> None:
    body = {"signature_name": "classify_x_to_y", "examples": [{"x": 20.0}, {"x": 10.0}]}
    assert http.post("/v1/models/default:classify", json=body).json() == {
        "results": [[["", 12.0]], [["", 7.0]]]
    }
    body = {"signature_name": "regress_x_to_y", "examples": [{"x": 80.0}]}
    assert http.post("/v1/models/default:regress", json=body).json() == {"results": [42.0]}
    body = {"signature_name": "regress_x_to_y2", "examples": [{"x": 80.0}]}
    assert http.post(f"/v1/models/{TWO}/labels/stable:regress", json=body).json() == {"results": [43.0]}
    # Context merge: the example's feature wins over the context's (drv_regress_context_merged).
    body = {"signature_name": "regress_x_to_y", "context": {"x": 80.0}, "examples": [{}, {"x": 2.0}]}
    assert http.post("/v1/models/default:regress", json=body).json() == {"results": [42.0, 3.0]}
    # TF2 signatures carry method_name tensorflow/serving/predict; it is not checked by default.
    body = {"signature_name": "classify_x_to_y", "examples": [{"x": 20.0}]}
    assert http.post("/v1/models/tf2:classify", json=body).json() == {"results": [[["", 12.0]]]}


@pytest.mark.parametrize(
    ("path", "body", "status", "message"),
    [
        (
            "/v1/models/default:classify",
            {"examples": [{"x": 1.0}]},
            400,
            "No classification inputs found in SignatureDef",
        ),
        (
            "/v1/models/default:regress",
            {"examples": [{"x": 1.0}]},
            400,
            "No regression inputs found in SignatureDef",
        ),
        (
            "/v1/models/default:regress",
            {"signature_name": "regress_x_to_y", "examples": [{"x": 2}]},
            400,
            "Data types don't match",
        ),
        (
            "/v1/models/default:classify",
            {"signature_name": "s", "examples": [{"x": 1.0}]},
            400,
            "No signature was found with the name: s",
        ),
        (
            "/v1/models/default/labels/nope:classify",
            {"examples": [{"x": 1.0}]},
            400,
            "Unrecognized servable version label: nope",
        ),
        (
            "/v1/models/foo:regress",
            {"examples": [{"x": 1.0}]},
            404,
            "Servable not found for request: Latest(foo)",
        ),
    ],
)
def test_rest_errors(http: httpx.Client, path: str, body: dict, status: int, message: str) -> None:
    r = http.post(path, json=body)
    assert r.status_code == status
    assert message in r.json()["error"]


def test_rest_metadata_documents(http: httpx.Client, testdata: Path) -> None:
    expected = json.loads((testdata / "half_plus_two_model_metadata.json").read_text())
    assert http.get("/v1/models/default/metadata").json() == expected
    expected = json.loads((testdata / f"{TWO}_metadata.json").read_text())
    assert http.get(f"/v1/models/{TWO}/versions/123/metadata").json() == expected
    assert http.get(f"/v1/models/{TWO}/labels/stable/metadata").json() == expected


# ------------------------------------------------------------------------------ gRPC


def add_example(examples, **features: float) -> None:
    example = examples.add()
    for name, value in features.items():
        example.features.feature[name].float_list.value.append(value)


def test_grpc_classify_and_regress(stub) -> None:
    request = classification_pb2.ClassificationRequest()
    request.model_spec.name = TWO
    request.model_spec.version_label = "stable"
    request.model_spec.signature_name = "classify_x_to_y"
    add_example(request.input.example_list.examples, x=20.0)
    add_example(request.input.example_list.examples, x=10.0)
    response = stub.Classify(request, timeout=60)
    assert [[c.score for c in row.classes] for row in response.result.classifications] == [[12.0], [7.0]]
    assert (response.model_spec.version.value, response.model_spec.signature_name) == (123, "classify_x_to_y")
    request = regression_pb2.RegressionRequest()
    request.model_spec.name = "default"
    request.model_spec.signature_name = "regress_x_to_y"
    add_example(request.input.example_list_with_context.examples)
    add_example(request.input.example_list_with_context.examples, x=2.0)
    request.input.example_list_with_context.context.features.feature["x"].float_list.value.append(80.0)
    response = stub.Regress(request, timeout=60)
    assert [r.value for r in response.result.regressions] == [42.0, 3.0]


def multi_request(*tasks: tuple[str, str]) -> inference_pb2.MultiInferenceRequest:
    request = inference_pb2.MultiInferenceRequest()
    for signature, method in tasks:
        task = request.tasks.add(method_name=method)
        task.model_spec.name = TWO
        task.model_spec.signature_name = signature
    add_example(request.input.example_list.examples, x=20.0)
    return request


def test_grpc_multi_inference(stub) -> None:
    request = multi_request(
        ("classify_x_to_y", CLASSIFY), ("regress_x_to_y", REGRESS), ("regress_x_to_y2", REGRESS)
    )
    results = stub.MultiInference(request, timeout=60).results
    assert [r.model_spec.signature_name for r in results] == [
        "classify_x_to_y",
        "regress_x_to_y",
        "regress_x_to_y2",
    ]
    assert {r.model_spec.version.value for r in results} == {124}  # latest of `all`
    assert results[0].classification_result.classifications[0].classes[0].score == 12.0
    assert [r.regression_result.regressions[0].value for r in results[1:]] == [12.0, 13.0]


@pytest.mark.parametrize(
    ("tasks", "code", "message"),
    [
        (
            (("regress_x_to_y", REGRESS), ("regress_x2_to_y3", REGRESS)),
            grpc.StatusCode.INVALID_ARGUMENT,
            "Input tensor must be the same for all Signatures.",
        ),
        (
            (("serving_default", "tensorflow/serving/predict"),),
            grpc.StatusCode.UNIMPLEMENTED,
            "Unsupported signature method_name: tensorflow/serving/predict",
        ),
        (
            (("regress_x_to_y", REGRESS), ("regress_x_to_y", REGRESS)),
            grpc.StatusCode.INVALID_ARGUMENT,
            "Duplicate evaluation of signature: regress_x_to_y",
        ),
    ],
)
def test_grpc_multi_inference_errors(stub, tasks: tuple, code: grpc.StatusCode, message: str) -> None:
    with pytest.raises(grpc.RpcError) as info:
        stub.MultiInference(multi_request(*tasks), timeout=60)
    assert info.value.code() == code
    assert message in info.value.details()


def test_grpc_metadata_documents(stub, testdata: Path) -> None:
    request = get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=["signature_def"])
    request.model_spec.name = TWO
    request.model_spec.version.value = 123
    response = stub.GetModelMetadata(request, timeout=60)
    defs = get_model_metadata_pb2.SignatureDefMap()
    response.metadata["signature_def"].Unpack(defs)
    kwargs = {"preserving_proto_field_name": True, "always_print_fields_with_no_presence": True}
    expected = json.loads((testdata / f"{TWO}_metadata.json").read_text())
    assert json_format.MessageToDict(response.model_spec, **kwargs) == {
        "name": TWO,
        "signature_name": "",
        "version": "123",
    }
    assert json_format.MessageToDict(defs, **kwargs) == expected["metadata"]["signature_def"]


def test_half_plus_three(testdata: Path) -> None:
    options = ServerOptions(
        model_base_path=testdata / "saved_model_half_plus_three",
        grpc_port=None,
        rest_port=0,
        host="127.0.0.1",
    )
    with (
        ModelServer(options) as server,
        httpx.Client(base_url=f"http://127.0.0.1:{server.rest_port}") as client,
    ):
        r = client.post("/v1/models/default:predict", json={"instances": [[1.0], [2.0], [5.0]]})
        assert r.json() == {"predictions": [[3.5], [4.0], [5.5]]}

"""Classify/Regress/MultiInference rules shared by REST and gRPC (spec §1.7, §2.4), without a server."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from tensorflow.core.example import example_pb2
from tensorflow_serving.apis import inference_pb2, input_pb2
from tensorflow_serving.config import model_server_config_pb2

from tfapps.apps.errors import InvalidArgumentError, UnimplementedError
from tfapps.serving.server import inference
from tfapps.serving.server.manager import ModelManager, ServableHandle

pytestmark = pytest.mark.serving


def example(**features: float) -> example_pb2.Example:
    result = example_pb2.Example()
    for name, value in features.items():
        result.features.feature[name].float_list.value.append(value)
    return result


@pytest.fixture(scope="module")
def manager(export_base: Path) -> Iterator[ModelManager]:
    config = model_server_config_pb2.ModelConfig(
        name="scorer", base_path=str(export_base / "scorer"), model_platform="tensorflow"
    )
    manager = ModelManager([config])
    manager.load_initial()
    yield manager
    manager.stop()


@pytest.fixture(scope="module")
def handle(manager: ModelManager) -> ServableHandle:
    return manager.resolve("scorer")


# ------------------------------------------------------------------------------ JSON → Example


def test_example_from_json_feature_kinds() -> None:
    ex = inference.example_from_json(
        {"f": 1.5, "i": [1, 2], "b": True, "s": "ab", "raw": {"b64": "AAE="}, "n": float("nan"), "e": []}
    )
    feature = ex.features.feature
    assert list(feature["f"].float_list.value) == [1.5]
    assert list(feature["i"].int64_list.value) == [1, 2]
    assert list(feature["b"].int64_list.value) == [1]
    assert list(feature["s"].bytes_list.value) == [b"ab"]
    assert list(feature["raw"].bytes_list.value) == [b"\x00\x01"]
    assert math.isnan(feature["n"].float_list.value[0])
    assert feature["e"].WhichOneof("kind") is None


@pytest.mark.parametrize(
    ("obj", "message"),
    [
        ({"f": None}, "Feature: f has element with unexpected JSON type: Null"),
        ({"f": [[1.0]]}, "Feature: f has element with unexpected JSON type: Array"),
        ({"f": {"a": 1}}, "Feature: f has element with unexpected JSON type: Object"),
        ({"f": [1.0, 2]}, "Unexpected element type in feature: f expecting type: float"),
        ({"f": [1, "a"]}, "Unexpected element type in feature: f expecting type: int64"),
        ({"f": 2**64}, "Feature: f has uint64_t element. Only int64_t is supported."),
    ],
)
def test_example_from_json_errors(obj: dict, message: str) -> None:
    with pytest.raises(InvalidArgumentError, match=message.replace(".", r"\.")):
        inference.example_from_json(obj)


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({}, "When method is classify, key 'examples' is expected and was not found"),
        ({"examples": {"x": 1.0}}, "Expecting 'examples' value to be an list/array"),
        ({"examples": []}, "'examples' value is an empty array"),
        ({"examples": [[1.0]]}, "Example must be JSON object but got JSON Array"),
    ],
)
def test_examples_from_json_errors(doc: dict, message: str) -> None:
    with pytest.raises(InvalidArgumentError, match=message):
        inference.examples_from_json(doc)


def test_context_is_serialized_before_each_example() -> None:
    serialized = inference.examples_from_json({"context": {"x": 1.0}, "examples": [{"x2": 2.0}, {}]})
    context = example(x=1.0).SerializeToString()
    assert serialized == [context + example(x2=2.0).SerializeToString(), context]
    merged = example_pb2.Example.FromString(serialized[0])
    assert set(merged.features.feature) == {"x", "x2"}


def test_examples_from_input() -> None:
    proto = input_pb2.Input()
    with pytest.raises(InvalidArgumentError, match=r"Input is empty\."):
        inference.examples_from_input(proto)
    proto.example_list_with_context.context.CopyFrom(example(x=5.0))
    proto.example_list_with_context.examples.add().CopyFrom(example(x2=1.0))
    assert inference.examples_from_input(proto) == [
        example(x=5.0).SerializeToString() + example(x2=1.0).SerializeToString()
    ]


# ------------------------------------------------------------------------------ running signatures


def test_classify_and_regress(manager: ModelManager, handle: ServableHandle) -> None:
    serialized = [example(x=2.0).SerializeToString(), example(x=10.0).SerializeToString()]
    result, name = inference.classify(manager, handle, "classify", serialized)
    assert name == "classify"
    assert [[(c.label, c.score) for c in row.classes] for row in result.classifications] == [
        [("x", 2.0), ("half_plus_two", 3.0)],
        [("x", 10.0), ("half_plus_two", 7.0)],
    ]
    assert inference.classification_json(result) == (
        '{"results": [[["x", 2.0], ["half_plus_two", 3.0]], [["x", 10.0], ["half_plus_two", 7.0]]]}'
    )
    result, _ = inference.classify(manager, handle, "classes_only", serialized)
    assert inference.classification_json(result) == '{"results": [[["pos", 0.0]], [["pos", 0.0]]]}'
    result, _ = inference.regress(manager, handle, "regress", [example(x=80.0).SerializeToString()])
    assert inference.regression_json(result) == '{"results": [42.0]}'


def test_context_feature_is_overridden_by_the_example(manager: ModelManager, handle: ServableHandle) -> None:
    serialized = inference.examples_from_json(
        {"context": {"x": 1.0, "x2": 10.0}, "examples": [{"x": 5.0}, {"x2": 0.5}]}
    )
    result, _ = inference.regress(manager, handle, "regress_sum", serialized)
    assert [r.value for r in result.regressions] == [15.0, 1.5]


@pytest.mark.parametrize(
    ("api", "signature", "error", "message"),
    [
        ("classify", "", InvalidArgumentError, "No classification inputs found in SignatureDef"),
        ("regress", "serving_default", InvalidArgumentError, "No regression inputs found in SignatureDef"),
        ("classify", "nope", InvalidArgumentError, "No signature was found with the name: nope"),
        ("regress", "classify", InvalidArgumentError, "Expected one output Tensor."),
        ("classify", "regress", InvalidArgumentError, "Expected classification signature outputs"),
        ("regress", "regress_int", InvalidArgumentError, "Expected output Tensor of DT_FLOAT. Got: DT_INT64"),
        ("classify", "__saved_model_init_op", InvalidArgumentError, "Expected one input Tensor."),
    ],
)
def test_signature_errors(
    manager: ModelManager, handle: ServableHandle, api: str, signature: str, error: type, message: str
) -> None:
    run = inference.classify if api == "classify" else inference.regress
    with pytest.raises(error, match=message):
        run(manager, handle, signature, [example(x=1.0).SerializeToString()])


def test_method_name_is_checked_only_when_asked(manager: ModelManager, handle: ServableHandle) -> None:
    serialized = [example(x=1.0).SerializeToString()]
    inference.regress(manager, handle, "regress", serialized)  # TF2 method_name is .../predict
    with pytest.raises(
        InvalidArgumentError,
        match="Expected regression signature method_name to be tensorflow/serving/regress. "
        "Was: tensorflow/serving/predict",
    ):
        inference.regress(manager, handle, "regress", serialized, check_method_name=True)


def test_result_shape_checks() -> None:
    with pytest.raises(InvalidArgumentError, match="Expected scores output batch size of 2. Got: 1"):
        inference.classification_result({"scores": np.zeros((1, 3), np.float32)}, 2)
    with pytest.raises(InvalidArgumentError, match="Expected classes Tensor of DT_STRING. Got: DT_FLOAT"):
        inference.classification_result({"classes": np.zeros((1, 3), np.float32)}, 1)
    with pytest.raises(InvalidArgumentError, match=r"either \[batch_size\] or \[batch_size, 1\]"):
        inference.regression_result({"outputs": np.zeros((1, 2), np.float32)}, 1)


# ------------------------------------------------------------------------------ MultiInference


def multi_request(*tasks: tuple[str, str, str], x: float = 2.0) -> inference_pb2.MultiInferenceRequest:
    request = inference_pb2.MultiInferenceRequest()
    for model, signature, method in tasks:
        task = request.tasks.add(method_name=method)
        task.model_spec.name = model
        task.model_spec.signature_name = signature
    request.input.example_list.examples.add().CopyFrom(example(x=x))
    return request


CLASSIFY, REGRESS = inference.CLASSIFY_METHOD, inference.REGRESS_METHOD


def test_multi_inference_single_task(manager: ModelManager) -> None:
    # Several tasks need signatures fed by one graph tensor (TF1 exports; see test_shared_models.py).
    response = inference.multi_inference(manager, multi_request(("scorer", "regress", REGRESS), x=4.0))
    (result,) = response.results
    assert (result.model_spec.signature_name, result.model_spec.version.value) == ("regress", 7)
    assert [r.value for r in result.regression_result.regressions] == [4.0]


@pytest.mark.parametrize(
    ("tasks", "error", "message"),
    [
        ((), InvalidArgumentError, "must specify at least one task"),
        (
            (("scorer", "regress", REGRESS), ("other", "classify", CLASSIFY)),
            InvalidArgumentError,
            "All ModelSpecs in a MultiInferenceRequest must access the same model name.",
        ),
        (
            (("scorer", "regress", REGRESS), ("scorer", "regress", REGRESS)),
            InvalidArgumentError,
            "Duplicate evaluation of signature: regress",
        ),
        (
            (("scorer", "serving_default", "tensorflow/serving/predict"),),
            UnimplementedError,
            "Unsupported signature method_name: tensorflow/serving/predict",
        ),
        (
            (("scorer", "regress", CLASSIFY),),
            InvalidArgumentError,
            "Expected classification signature outputs",
        ),
        (
            (("scorer", "regress", REGRESS), ("scorer", "classify", CLASSIFY)),
            InvalidArgumentError,
            "Input tensor must be the same for all Signatures.",
        ),
    ],
)
def test_multi_inference_errors(manager: ModelManager, tasks: tuple, error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        inference.multi_inference(manager, multi_request(*tasks))

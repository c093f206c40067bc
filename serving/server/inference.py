"""Classify, Regress and MultiInference on tf.Example inputs, shared by the REST and gRPC front ends.

TF Serving's `classifier.cc`, `regressor.cc`, `multi_inference.cc` and `util.cc` (spec §1.7, §2.4):
the request's examples become one DT_STRING tensor of serialized `tensorflow.Example`s (with a
context, each element is `serialize(context) + serialize(example)`, i.e. a protobuf merge where the
example wins), which is fed to the signature's single `inputs` alias through the manager's one run
path; the outputs are checked and shaped into `ClassificationResult` / `RegressionResult` protos.
REST turns those protos into `{"results": ...}` JSON here as well, so both protocols share every rule.

Example::

    serialized = examples_from_json(codec.parse_json_body(body))
    result, signature = classify(manager, handle, "classify_x_to_y", serialized)
    classification_json(result)     # '{"results": [[["", 12.0]]]}'
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import tensorflow as tf
from tensorflow.core.example import example_pb2
from tensorflow.core.framework import types_pb2
from tensorflow.core.protobuf import meta_graph_pb2
from tensorflow_serving.apis import (
    classification_pb2,
    inference_pb2,
    input_pb2,
    regression_pb2,
)

from tfapps.apps.errors import InvalidArgumentError, UnimplementedError
from tfapps.serving.codec import format_float
from tfapps.serving.runtime import DEFAULT_SIGNATURE
from tfapps.serving.server import messages
from tfapps.serving.server.manager import ModelManager, ServableHandle

# Signature constants (TensorFlow's tensorflow/cc/saved_model/signature_constants.h).
CLASSIFY_METHOD = "tensorflow/serving/classify"
REGRESS_METHOD = "tensorflow/serving/regress"
INPUTS = "inputs"
CLASSES = "classes"
SCORES = "scores"
OUTPUTS = "outputs"

_INT64_MAX = 2**63 - 1
_INT64_MIN = -(2**63)


# --------------------------------------------------------------------------------------------
# Requests → serialized examples
# --------------------------------------------------------------------------------------------


def examples_from_json(doc: Mapping[str, Any]) -> list[bytes]:
    """Turns a REST `:classify`/`:regress` body into serialized examples (json_tensor.cc rules).

    Args:
        doc: the parsed body, `{"examples": [...], "context": {...}?}`.

    Returns:
        One `serialize(context) + serialize(example)` per example (no context prefix without one).

    Raises:
        InvalidArgumentError: missing/empty/non-list `examples`, a non-object example or context,
            or a feature value of an unsupported JSON type (TF Serving's texts).
    """
    if "examples" not in doc:
        # Upstream says "classify" for :regress too; kept so clients matching the text work on both.
        raise InvalidArgumentError("When method is classify, key 'examples' is expected and was not found")
    examples = doc["examples"]
    if not isinstance(examples, list):
        raise InvalidArgumentError("Expecting 'examples' value to be an list/array")
    if not examples:
        raise InvalidArgumentError("'examples' value is an empty array")
    prefix = b""
    if "context" in doc:
        context = doc["context"]
        if not isinstance(context, dict):
            raise InvalidArgumentError(
                f"Expecting 'context' value to be a JSON object. Received: context type={_json_type(context)}"
            )
        prefix = example_from_json(context).SerializeToString()
    serialized = []
    for example in examples:
        if not isinstance(example, dict):
            raise InvalidArgumentError(f"Example must be JSON object but got JSON {_json_type(example)}")
        serialized.append(prefix + example_from_json(example).SerializeToString())
    return serialized


def example_from_json(obj: Mapping[str, Any]) -> example_pb2.Example:
    """Builds a `tensorflow.Example` from `{feature: value | [values]}` (`MakeExampleFromJsonObject`).

    JSON strings and `{"b64": ...}` → bytes_list; numbers with a fraction or exponent (and NaN,
    ±Infinity) → float_list; integers and booleans → int64_list.

    Raises:
        InvalidArgumentError: null, nested lists or objects as values, kinds mixed within one
            feature, or an integer above INT64_MAX.
    """
    example = example_pb2.Example()
    for name, value in obj.items():
        feature = example.features.feature[name]
        values = value if isinstance(value, list) else [value]
        kind = None
        for item in values:
            item_kind, item_value = _feature_value(name, item)
            if kind is None:
                kind = item_kind
            elif item_kind != kind:
                raise InvalidArgumentError(
                    f"Unexpected element type in feature: {name} expecting type: {kind}. "
                    f"Received: {json.dumps(item)[:100]}"
                )
            getattr(feature, f"{kind}_list").value.append(item_value)
    return example


def _feature_value(name: str, item: Any) -> tuple[str, Any]:
    if isinstance(item, bool):
        return "int64", int(item)
    if isinstance(item, int):
        if item > _INT64_MAX:
            raise InvalidArgumentError(f"Feature: {name} has uint64_t element. Only int64_t is supported.")
        if item < _INT64_MIN:  # rapidjson parses such a literal as a double
            return "float", float(item)
        return "int64", item
    if isinstance(item, float):
        return "float", item
    if isinstance(item, str):
        return "bytes", item.encode("utf-8")
    if isinstance(item, dict) and len(item) == 1 and "b64" in item:
        text = item["b64"]
        try:
            if not isinstance(text, str):
                raise ValueError("b64 value must be a string")
            return "bytes", base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise InvalidArgumentError(f"Unable to base64 decode: {exc}. Received: feature={name}") from exc
    raise InvalidArgumentError(f"Feature: {name} has element with unexpected JSON type: {_json_type(item)}")


def _json_type(value: Any) -> str:
    if value is None:
        return "Null"
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, list):
        return "Array"
    if isinstance(value, dict):
        return "Object"
    if isinstance(value, str):
        return "String"
    return "Number"


def examples_from_input(input_proto: input_pb2.Input) -> list[bytes]:
    """Serializes a gRPC `Input` (`example_list` or `example_list_with_context`), as util.cc does.

    Raises:
        InvalidArgumentError: no examples (`Input is empty.`).
    """
    kind = input_proto.WhichOneof("kind")
    serialized: list[bytes] = []
    if kind == "example_list":
        serialized = [e.SerializeToString() for e in input_proto.example_list.examples]
    elif kind == "example_list_with_context":
        with_context = input_proto.example_list_with_context
        prefix = with_context.context.SerializeToString()
        serialized = [prefix + e.SerializeToString() for e in with_context.examples]
    if not serialized:
        raise InvalidArgumentError(f"Input is empty. Received: input kind={kind or 'unset'}, 0 examples")
    return serialized


def _serialized(examples: Sequence[bytes] | input_pb2.Input) -> Sequence[bytes]:
    return examples_from_input(examples) if isinstance(examples, input_pb2.Input) else examples


# --------------------------------------------------------------------------------------------
# Signature checks (PreProcessClassification / PreProcessRegression)
# --------------------------------------------------------------------------------------------


def _signature_def(handle: ServableHandle, signature_name: str) -> tuple[str, meta_graph_pb2.SignatureDef]:
    name = signature_name or DEFAULT_SIGNATURE
    signature = handle.servable.signature_def_map.get(name)
    if signature is None:
        raise InvalidArgumentError(
            f"No signature was found with the name: {name}. "
            f"Expected one of {handle.servable.signature_names}."
        )
    return name, signature


def _check_method(signature: meta_graph_pb2.SignatureDef, kind: str, expected: str, check: bool) -> None:
    if check and signature.method_name != expected:
        raise InvalidArgumentError(
            f"Expected {kind} signature method_name to be {expected}. Was: {signature.method_name}"
        )


def classification_outputs(
    signature: meta_graph_pb2.SignatureDef, check_method_name: bool = False
) -> list[str]:
    """Validates a classification signature; returns the output aliases to fetch (classes/scores).

    Raises:
        InvalidArgumentError: TF Serving's `Expected one input Tensor.`, `Expected one or two output
            Tensors, found n`, `No classification inputs found in SignatureDef: ...`, ...
    """
    _check_method(signature, "classification", CLASSIFY_METHOD, check_method_name)
    if len(signature.inputs) != 1:
        raise InvalidArgumentError(f"Expected one input Tensor. Received: inputs={sorted(signature.inputs)}")
    if len(signature.outputs) not in (1, 2):
        raise InvalidArgumentError(f"Expected one or two output Tensors, found {len(signature.outputs)}")
    if INPUTS not in signature.inputs:
        raise InvalidArgumentError(f"No classification inputs found in SignatureDef: {signature}")
    wanted = [alias for alias in (CLASSES, SCORES) if alias in signature.outputs]
    if not wanted:
        raise InvalidArgumentError(
            f"Expected classification signature outputs to contain at least one of {CLASSES} or {SCORES}. "
            f"Signature was: {signature}"
        )
    return wanted


def regression_outputs(signature: meta_graph_pb2.SignatureDef, check_method_name: bool = False) -> list[str]:
    """Validates a regression signature; returns `["outputs"]`.

    Raises:
        InvalidArgumentError: TF Serving's `Expected one input Tensor.`, `Expected one output Tensor.`,
            `No regression inputs found in SignatureDef: ...`, `No regression outputs found ...`.
    """
    _check_method(signature, "regression", REGRESS_METHOD, check_method_name)
    if len(signature.inputs) != 1:
        raise InvalidArgumentError(f"Expected one input Tensor. Received: inputs={sorted(signature.inputs)}")
    if len(signature.outputs) != 1:
        raise InvalidArgumentError(
            f"Expected one output Tensor. Received: outputs={sorted(signature.outputs)}"
        )
    if INPUTS not in signature.inputs:
        raise InvalidArgumentError(f"No regression inputs found in SignatureDef: {signature}")
    if OUTPUTS not in signature.outputs:
        raise InvalidArgumentError(f"No regression outputs found in SignatureDef: {signature}")
    return [OUTPUTS]


# --------------------------------------------------------------------------------------------
# Outputs → result protos (PostProcessClassificationResult / PostProcessRegressionResult)
# --------------------------------------------------------------------------------------------


def _dtype_enum_name(array: np.ndarray) -> str:
    if array.dtype.kind in "OSU":
        return "DT_STRING"
    return types_pb2.DataType.Name(tf.dtypes.as_dtype(array.dtype).as_datatype_enum)


def classification_result(
    outputs: Mapping[str, np.ndarray], num_examples: int
) -> classification_pb2.ClassificationResult:
    """Shapes `classes` ([batch, k] strings) and/or `scores` ([batch, k] float) into a result proto.

    Raises:
        InvalidArgumentError: wrong dtype, batch size, rank, or classes/scores of different widths.
    """
    classes, scores = outputs.get(CLASSES), outputs.get(SCORES)
    for alias, array, dtype in ((CLASSES, classes, "DT_STRING"), (SCORES, scores, "DT_FLOAT")):
        if array is None:
            continue
        if _dtype_enum_name(array) != dtype:
            raise InvalidArgumentError(f"Expected {alias} Tensor of {dtype}. Got: {_dtype_enum_name(array)}")
        if array.ndim == 0 or array.shape[0] != num_examples:
            got = array.shape[0] if array.ndim else "a scalar"
            raise InvalidArgumentError(f"Expected {alias} output batch size of {num_examples}. Got: {got}")
        if array.ndim != 2:
            raise InvalidArgumentError(f"Expected {alias} output rank of 2. Got: {array.ndim}")
    if classes is not None and scores is not None and classes.shape[1] != scores.shape[1]:
        raise InvalidArgumentError(
            f"Tensors class and score should match in dim_size(1). Got {classes.shape[1]} vs. {scores.shape[1]}"
        )
    width = (classes if classes is not None else scores).shape[1]
    result = classification_pb2.ClassificationResult()
    for i in range(num_examples):
        row = result.classifications.add()
        for c in range(width):
            entry = row.classes.add()
            if classes is not None:
                label = classes[i, c]
                entry.label = (
                    label.decode("utf-8", errors="replace") if isinstance(label, bytes) else str(label)
                )
            if scores is not None:
                entry.score = float(scores[i, c])
    return result


def regression_result(
    outputs: Mapping[str, np.ndarray], num_examples: int
) -> regression_pb2.RegressionResult:
    """Shapes `outputs` ([batch] or [batch, 1] float) into a result proto.

    Raises:
        InvalidArgumentError: wrong dtype, batch size or shape.
    """
    array = outputs[OUTPUTS]
    if _dtype_enum_name(array) != "DT_FLOAT":
        raise InvalidArgumentError(f"Expected output Tensor of DT_FLOAT. Got: {_dtype_enum_name(array)}")
    if array.ndim == 0 or array.shape[0] != num_examples:
        got = array.shape[0] if array.ndim else "a scalar"
        raise InvalidArgumentError(
            f"Input batch size did not match output batch size: {num_examples} vs. {got}"
        )
    if not (array.ndim == 1 or (array.ndim == 2 and array.shape[1] == 1)):
        raise InvalidArgumentError(
            "Expected output Tensor shape to be either [batch_size] or [batch_size, 1] but got "
            f"{list(array.shape)}"
        )
    result = regression_pb2.RegressionResult()
    for value in array.reshape(-1):
        result.regressions.add(value=float(value))
    return result


# --------------------------------------------------------------------------------------------
# The three APIs
# --------------------------------------------------------------------------------------------


def _run(
    manager: ModelManager,
    handle: ServableHandle,
    name: str,
    serialized: Sequence[bytes],
    wanted: list[str],
    timeout: float | None = None,
    api: str = "Predict",
):
    batch = np.empty(len(serialized), dtype=object)
    batch[:] = list(serialized)
    return manager.run(handle, {INPUTS: batch}, name, wanted, timeout=timeout, api=api)


def classify(
    manager: ModelManager,
    handle: ServableHandle,
    signature_name: str,
    examples: Sequence[bytes] | input_pb2.Input,
    check_method_name: bool = False,
    timeout: float | None = None,
) -> tuple[classification_pb2.ClassificationResult, str]:
    """Runs a classification signature on serialized examples.

    Args:
        manager: runs the signature (its single run path).
        handle: the resolved version.
        signature_name: empty means `serving_default`.
        examples: serialized examples (`examples_from_json`) or a gRPC `Input`, which is
            serialized after the signature checks (upstream reports signature errors first).
        check_method_name: `--enable_signature_method_name_check`.
        timeout: seconds a batched run may wait for its answer (None: no limit).

    Returns:
        `(result, effective signature name)`.

    Raises:
        InvalidArgumentError: unknown or unsuitable signature, bad outputs; run errors as raised by
            the manager.
    """
    name, signature = _signature_def(handle, signature_name)
    wanted = classification_outputs(signature, check_method_name)
    serialized = _serialized(examples)
    outputs = _run(manager, handle, name, serialized, wanted, timeout, "Classify")
    return classification_result(outputs, len(serialized)), name


def regress(
    manager: ModelManager,
    handle: ServableHandle,
    signature_name: str,
    examples: Sequence[bytes] | input_pb2.Input,
    check_method_name: bool = False,
    timeout: float | None = None,
) -> tuple[regression_pb2.RegressionResult, str]:
    """Runs a regression signature on serialized examples; see `classify` for the arguments."""
    name, signature = _signature_def(handle, signature_name)
    wanted = regression_outputs(signature, check_method_name)
    serialized = _serialized(examples)
    outputs = _run(manager, handle, name, serialized, wanted, timeout, "Regress")
    return regression_result(outputs, len(serialized)), name


def multi_inference(
    manager: ModelManager,
    request: inference_pb2.MultiInferenceRequest,
    check_method_name: bool = False,
    timeout: float | None = None,
) -> inference_pb2.MultiInferenceResponse:
    """Runs several classify/regress tasks of one model on the same examples (multi_inference.cc).

    The model and version come from the first task's ModelSpec. Every task is validated before
    anything runs. Each task's signature is run through the manager's run path (upstream fetches
    all outputs in one Session::Run; the answers are the same for stateless models).

    Raises:
        InvalidArgumentError: no tasks, tasks naming different models, a repeated or unknown
            signature, signatures fed by different input tensors, or an unsuitable signature.
        UnimplementedError: a task whose method_name is neither classify nor regress.
        NotFoundError: the model/version is not available.
    """
    tasks = list(request.tasks)
    if not tasks:
        raise InvalidArgumentError("MultiInferenceRequest must specify at least one task. Received: tasks=[]")
    first = tasks[0].model_spec
    if not first.name:
        raise InvalidArgumentError("ModelSpec has no name specified.")
    version, label = messages.version_choice(first)
    handle = manager.resolve(first.name, version, label)
    plan: list[tuple[str, str, list[str]]] = []
    seen: set[str] = set()
    input_tensor = None
    for task in tasks:
        if task.model_spec.name != first.name:
            raise InvalidArgumentError(
                "All ModelSpecs in a MultiInferenceRequest must access the same model name. "
                f"Received: {first.name!r} and {task.model_spec.name!r}"
            )
        name = task.model_spec.signature_name or DEFAULT_SIGNATURE
        if name in seen:
            raise InvalidArgumentError(f"Duplicate evaluation of signature: {name}")
        seen.add(name)
        signature = handle.servable.signature_def_map.get(name)
        if signature is None:
            raise InvalidArgumentError(f"Requested signature not found in model graph: {name}")
        if task.method_name == CLASSIFY_METHOD:
            wanted = classification_outputs(signature, check_method_name)
        elif task.method_name == REGRESS_METHOD:
            wanted = regression_outputs(signature, check_method_name)
        else:
            raise UnimplementedError(
                f"Unsupported signature method_name: {task.method_name}. "
                f"Expected {CLASSIFY_METHOD} or {REGRESS_METHOD}."
            )
        tensor = signature.inputs[INPUTS].name
        if input_tensor is not None and tensor != input_tensor:
            raise InvalidArgumentError(
                f"Input tensor must be the same for all Signatures. Received: {input_tensor} and {tensor}"
            )
        input_tensor = tensor
        plan.append((name, task.method_name, wanted))
    serialized = examples_from_input(request.input)
    response = inference_pb2.MultiInferenceResponse()
    for name, method, wanted in plan:
        outputs = _run(manager, handle, name, serialized, wanted, timeout, "MultiInference")
        result = response.results.add()
        result.model_spec.CopyFrom(messages.model_spec(handle.model_name, handle.version, name))
        if method == CLASSIFY_METHOD:
            result.classification_result.CopyFrom(classification_result(outputs, len(serialized)))
        else:
            result.regression_result.CopyFrom(regression_result(outputs, len(serialized)))
    return response


# --------------------------------------------------------------------------------------------
# REST answers
# --------------------------------------------------------------------------------------------


def _score(value: float) -> str:
    # Scores and values travel as proto floats; print them as DT_FLOAT like WriteDecimal.
    return format_float(value, double=False)


def classification_json(result: classification_pb2.ClassificationResult) -> str:
    """`{"results": [[[label, score], ...], ...]}` (label `""` when the signature has no classes)."""
    rows = []
    for classifications in result.classifications:
        pairs = ", ".join(f"[{json.dumps(c.label)}, {_score(c.score)}]" for c in classifications.classes)
        rows.append(f"[{pairs}]")
    return '{"results": [' + ", ".join(rows) + "]}"


def regression_json(result: regression_pb2.RegressionResult) -> str:
    """`{"results": [value, ...]}`."""
    return '{"results": [' + ", ".join(_score(r.value) for r in result.regressions) + "]}"

"""Replay `assets.extra/tf_serving_warmup_requests` before a version becomes AVAILABLE.

The file is a TFRecord of serialized `tensorflow.serving.PredictionLog` (TF Serving's
`saved_model_warmup_util.cc`). `predict_log`, `classify_log`, `regress_log` and
`multi_inference_log` records are executed directly on the servable being loaded (never through a
batching queue; the example-based ones through `inference.py`, like the live APIs);
`session_run_log` and `predict_streamed_log` fail the load like upstream.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import tensorflow as tf
from tensorflow_serving.apis import prediction_log_pb2

from tfapps.apps.errors import InvalidArgumentError, TfappsError, UnimplementedError
from tfapps.serving.codec import tensor_proto_to_ndarray
from tfapps.serving.runtime import Servable
from tfapps.serving.status_codes import error_for_code

logger = logging.getLogger(__name__)

WARMUP_FILE = Path("assets.extra") / "tf_serving_warmup_requests"
MAX_WARMUP_RECORDS = 1000
_EXAMPLE_LOGS = {"classify_log", "regress_log", "multi_inference_log"}
_LOG_TYPE_NUMBERS = {"session_run_log": 5, "predict_streamed_log": 7}


def run_warmup(
    servable: Servable, version_dir: Path, iterations: int = 1, model_name: str = "", version: int = 0
) -> int:
    """Replays the warmup requests of one version directory.

    Args:
        servable: the loaded version.
        version_dir: its directory (the file is `<version_dir>/assets.extra/tf_serving_warmup_requests`).
        iterations: how many times each record is replayed (`--num_request_iterations_for_warmup`;
            values below 1 mean 1).
        model_name: the model's name (answers of example-based records name it).
        version: the version being loaded.

    Returns:
        The number of records read (0 when there is no warmup file).

    Raises:
        InvalidArgumentError: more than 1000 records or an unparsable record.
        UnimplementedError: an unsupported log type.
        TfappsError: the file is not TFRecord (DATA_LOSS) or a replayed request failed.
    """
    path = Path(version_dir) / WARMUP_FILE
    if not path.is_file():
        logger.info("No warmup data file found at %s", path)
        return 0
    logger.info("Starting to read warmup data for model at %s", path)
    count = 0
    try:
        for record in tf.data.TFRecordDataset(str(path)).as_numpy_iterator():
            count += 1
            if count > MAX_WARMUP_RECORDS:
                raise InvalidArgumentError(
                    f"Number of warmup records exceeds the maximum ({MAX_WARMUP_RECORDS}) at {path}"
                )
            _replay(servable, _parse(record, path), max(1, iterations), model_name, version)
    except tf.errors.DataLossError as exc:
        raise error_for_code(
            "DATA_LOSS",
            f"Failed to read warmup data at {path}: {exc.message}. "
            "Please verify your warmup data is in TFRecord format.",
        ) from exc
    logger.info(
        "Finished reading warmup data for model at %s. Number of warmup records read: %d.", path, count
    )
    return count


def _parse(record: bytes, path: Path) -> prediction_log_pb2.PredictionLog:
    log = prediction_log_pb2.PredictionLog()
    try:
        log.ParseFromString(record)
    except Exception as exc:  # google.protobuf.message.DecodeError
        raise InvalidArgumentError(f"Failed to parse warmup record from {path}: {exc}") from exc
    return log


class _Direct:
    """Stands in for the model manager while a version loads: its one servable, run unbatched."""

    def __init__(self, handle: Any):
        self._handle = handle

    def resolve(self, model_name: str, version: int | None = None, label: str | None = None) -> Any:
        return self._handle

    def run(
        self,
        handle: Any,
        inputs: Mapping[str, Any],
        signature_name: str = "",
        output_filter: Iterable[str] | None = None,
        timeout: float | None = None,
        api: str = "Predict",
    ) -> dict[str, Any]:
        return handle.servable.predict(inputs, signature_name, output_filter)


def _replay_examples(
    servable: Servable, log: Any, kind: str, iterations: int, name: str, version: int
) -> None:
    # Imported here: inference imports the manager, which imports this module.
    from tfapps.serving.server import inference
    from tfapps.serving.server.manager import ServableHandle

    runner: Any = _Direct(ServableHandle(name, version, servable))
    handle = runner.resolve(name)
    for _ in range(iterations):
        try:
            if kind == "classify_log":
                request = log.classify_log.request
                inference.classify(runner, handle, request.model_spec.signature_name, request.input)
            elif kind == "regress_log":
                request = log.regress_log.request
                inference.regress(runner, handle, request.model_spec.signature_name, request.input)
            else:
                inference.multi_inference(runner, log.multi_inference_log.request)
        except TfappsError as exc:
            exc.args = (f"Warmup request failed: {exc}",)
            raise


def _replay(
    servable: Servable,
    log: prediction_log_pb2.PredictionLog,
    iterations: int,
    name: str = "",
    version: int = 0,
) -> None:
    kind = log.WhichOneof("log_type")
    if kind in _EXAMPLE_LOGS:
        _replay_examples(servable, log, kind, iterations, name, version)
        return
    if kind != "predict_log":
        number = _LOG_TYPE_NUMBERS.get(kind or "", 0)
        raise UnimplementedError(f"Unsupported log_type for warmup: {number}. Received: log_type={kind}")
    request = log.predict_log.request
    inputs = {alias: tensor_proto_to_ndarray(t, alias) for alias, t in request.inputs.items()}
    for _ in range(iterations):
        try:
            servable.predict(inputs, request.model_spec.signature_name, list(request.output_filter))
        except TfappsError as exc:
            exc.args = (f"Warmup request failed: {exc}",)
            raise

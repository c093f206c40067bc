"""Replay `assets.extra/tf_serving_warmup_requests` before a version becomes AVAILABLE.

The file is a TFRecord of serialized `tensorflow.serving.PredictionLog` (TF Serving's
`saved_model_warmup_util.cc`). `predict_log` records are executed; `classify_log`,
`regress_log` and `multi_inference_log` are skipped with a warning until this server implements
those APIs; `session_run_log` and `predict_streamed_log` fail the load like upstream.
"""

from __future__ import annotations

import logging
from pathlib import Path

import tensorflow as tf
from tensorflow_serving.apis import prediction_log_pb2

from tfapps.apps.errors import InvalidArgumentError, TfappsError, UnimplementedError
from tfapps.serving.codec import tensor_proto_to_ndarray
from tfapps.serving.runtime import Servable
from tfapps.serving.status_codes import error_for_code

logger = logging.getLogger(__name__)

WARMUP_FILE = Path("assets.extra") / "tf_serving_warmup_requests"
MAX_WARMUP_RECORDS = 1000
_SKIPPED = {"classify_log", "regress_log", "multi_inference_log"}
_LOG_TYPE_NUMBERS = {"session_run_log": 5, "predict_streamed_log": 7}


def run_warmup(servable: Servable, version_dir: Path, iterations: int = 1) -> int:
    """Replays the warmup requests of one version directory.

    Args:
        servable: the loaded version.
        version_dir: its directory (the file is `<version_dir>/assets.extra/tf_serving_warmup_requests`).
        iterations: how many times each record is replayed (`--num_request_iterations_for_warmup`;
            values below 1 mean 1).

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
            _replay(servable, _parse(record, path), max(1, iterations))
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


def _replay(servable: Servable, log: prediction_log_pb2.PredictionLog, iterations: int) -> None:
    kind = log.WhichOneof("log_type")
    if kind in _SKIPPED:
        logger.warning("Skipping a %s warmup record: only predict_log is replayed for now", kind)
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

"""The one exporter: a Keras model plus serving signatures → a checked TF Serving version directory.

Layout written (TF Serving's)::

    <export_base>/<name>/<version>/saved_model.pb, variables/, assets.extra/
        assets.extra/tfapps_config.yaml          resolved config and labels
        assets.extra/tf_serving_warmup_requests  one PredictionLog per signature, from the sample request
    <export_base>/models.config                  model_config_list naming every model under export_base

The version directory appears atomically: everything is written to a hidden, non-numeric temporary
directory beside it (TF Serving ignores non-numeric children) and renamed into place only after the
reloaded SavedModel has given the same answers as the in-memory model.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import shutil
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf
import yaml

from tfapps.apps.errors import ExportError, InvalidArgumentError

__all__ = ["Signature", "export_model", "next_version", "parity_check", "write_warmup_requests"]

logger = logging.getLogger(__name__)

WARMUP_FILE = "tf_serving_warmup_requests"
CONFIG_FILE = "tfapps_config.yaml"


@dataclasses.dataclass(frozen=True)
class Signature:
    """A serving signature: a function of named tensors returning a dict of named tensors.

    Attributes:
        fn: called as `fn(**inputs)` with one tensor per entry of `inputs`; returns a dict of
            output name → tensor. It must be traceable by `tf.function` and use only ops that
            stock TF Serving has (core TensorFlow and tensorflow-text).
        inputs: input name → `tf.TensorSpec` (leading dimension `None` so batching works).
        resources: objects outside the model that `fn` uses and that own TensorFlow resources
            (e.g. a SentencePiece tokenizer layer): the export tracks them so the SavedModel
            carries them.
    """

    fn: Callable[..., Mapping[str, Any]]
    inputs: Mapping[str, tf.TensorSpec]
    resources: tuple[Any, ...] = ()

    def concrete_input_signature(self) -> list[tf.TensorSpec]:
        """The input specs, named after their keys (these become the SavedModel's input aliases)."""
        return [tf.TensorSpec(spec.shape, spec.dtype, name=key) for key, spec in self.inputs.items()]


def next_version(model_dir: Path) -> int:
    """Return one more than the highest numeric version under `model_dir` (1 when there is none)."""
    versions = [int(p.name) for p in model_dir.iterdir() if p.name.isdigit()] if model_dir.is_dir() else []
    return max(versions, default=0) + 1


def _positional(signature: Signature) -> Callable[..., Mapping[str, Any]]:
    names = list(signature.inputs)

    def endpoint(*args: Any) -> Mapping[str, Any]:
        return signature.fn(**dict(zip(names, args, strict=True)))

    return endpoint


def write_warmup_requests(path: Path, model_name: str, requests: Mapping[str, Mapping[str, Any]]) -> None:
    """Write TF Serving warm-up records (TFRecord of `PredictionLog`), one per signature.

    Args:
        path: the `assets.extra/tf_serving_warmup_requests` file to write.
        model_name: model name recorded in each request's `model_spec`.
        requests: signature name → input name → array.
    """
    from tensorflow_serving.apis import model_pb2, predict_pb2, prediction_log_pb2

    with tf.io.TFRecordWriter(str(path)) as writer:
        for signature_name, inputs in requests.items():
            request = predict_pb2.PredictRequest(
                model_spec=model_pb2.ModelSpec(name=model_name, signature_name=signature_name)
            )
            for key, value in inputs.items():
                request.inputs[key].CopyFrom(tf.make_tensor_proto(value))
            log = prediction_log_pb2.PredictionLog(predict_log=prediction_log_pb2.PredictLog(request=request))
            writer.write(log.SerializeToString())


def _as_numpy(outputs: Mapping[str, Any]) -> dict[str, np.ndarray]:
    return {
        key: np.asarray(value.numpy() if hasattr(value, "numpy") else value) for key, value in outputs.items()
    }


def parity_check(
    expected: Mapping[str, np.ndarray],
    actual: Mapping[str, np.ndarray],
    rtol: float = 1e-4,
    atol: float = 1e-5,
) -> list[str]:
    """Compare two output dicts; return human-readable differences (empty when they match)."""
    problems = []
    if set(expected) != set(actual):
        problems.append(f"output names differ: in-memory {sorted(expected)}, reloaded {sorted(actual)}")
    for key in sorted(set(expected) & set(actual)):
        want, got = expected[key], actual[key]
        if want.shape != got.shape:
            problems.append(f"'{key}': shape {want.shape} in memory, {got.shape} reloaded")
        elif want.dtype.kind in "OSU":
            if not np.array_equal(want, got):
                problems.append(f"'{key}': values differ ({want.ravel()[:4]} vs {got.ravel()[:4]})")
        elif not np.allclose(want, got, rtol=rtol, atol=atol, equal_nan=True):
            worst = float(np.max(np.abs(want.astype(np.float64) - got.astype(np.float64))))
            problems.append(f"'{key}': max abs difference {worst:.3g} exceeds rtol={rtol}, atol={atol}")
    return problems


def export_model(
    model: Any,
    signatures: Mapping[str, Signature],
    sample_request: Mapping[str, Any],
    export_base: str | Path,
    name: str,
    version: int | None = None,
    metadata: Mapping[str, Any] | None = None,
    rtol: float = 1e-4,
    atol: float = 1e-5,
) -> Path:
    """Export `model` with `signatures` as `<export_base>/<name>/<version>/` and check it.

    Args:
        model: the Keras model whose variables the signatures use.
        signatures: signature key → `Signature`; must include `serving_default`.
        sample_request: inputs for `serving_default`, used for warm-up and the parity check.
        export_base: the base directory (TF Serving's `model_base_path` is `<export_base>/<name>`).
        name: the model name.
        version: the version number; None means one more than the highest existing.
        metadata: written as `assets.extra/tfapps_config.yaml` (resolved config and labels).
        rtol, atol: tolerance of the parity check.

    Returns:
        The version directory.

    Raises:
        InvalidArgumentError: bad name or version, or `serving_default` missing.
        ExportError: the version exists, writing failed (e.g. disk full), or the reloaded
            SavedModel's answers differ from the in-memory model's. Nothing partial is left behind.
    """
    import keras

    if "serving_default" not in signatures:
        raise InvalidArgumentError(
            f"Every export needs a 'serving_default' signature. Received: signatures={sorted(signatures)}"
        )
    if not name or "/" in name or name.startswith(".") or name.isdigit():
        raise InvalidArgumentError(
            f"Model names must be non-empty, not purely numeric, and contain no '/' or leading '.'. Received: name={name!r}"
        )
    if version is not None and version < 1:
        raise InvalidArgumentError(f"Versions are positive integers. Received: version={version}")
    model_dir = Path(export_base) / name
    model_dir.mkdir(parents=True, exist_ok=True)
    version = next_version(model_dir) if version is None else version
    final_dir = model_dir / str(version)
    if final_dir.exists():
        raise ExportError(
            f"Version {version} of model '{name}' already exists; pass another --version or omit it "
            f"to use the next free one. Received: path='{final_dir}'"
        )
    tmp_dir = model_dir / f".tmp-{version}-{uuid.uuid4().hex[:8]}"
    try:
        archive = keras.export.ExportArchive()
        archive.track(model)
        for signature in signatures.values():
            for resource in signature.resources:
                archive.track(resource)
        for key, signature in signatures.items():
            archive.add_endpoint(
                name=key, fn=_positional(signature), input_signature=signature.concrete_input_signature()
            )
        archive.write_out(str(tmp_dir), verbose=False)
        extra = tmp_dir / "assets.extra"
        extra.mkdir(exist_ok=True)
        (extra / CONFIG_FILE).write_text(yaml.safe_dump(dict(metadata or {}), sort_keys=False))
        write_warmup_requests(extra / WARMUP_FILE, name, {"serving_default": sample_request})

        expected = _as_numpy(
            signatures["serving_default"].fn(**{k: tf.constant(v) for k, v in sample_request.items()})
        )
        reloaded = tf.saved_model.load(str(tmp_dir))
        actual = _as_numpy(
            reloaded.signatures["serving_default"](**{k: tf.constant(v) for k, v in sample_request.items()})
        )
        problems = parity_check(expected, actual, rtol=rtol, atol=atol)
        if problems:
            raise ExportError(
                "The reloaded SavedModel does not give the in-memory model's answers on the sample request: "
                + "; ".join(problems)
                + f". Received: export='{tmp_dir}'"
            )
        os.replace(tmp_dir, final_dir)
    except OSError as err:
        shutil.rmtree(tmp_dir, ignore_errors=True)
        raise ExportError(
            f"Writing the export failed: {err.strerror or err}. Received: path='{final_dir}'"
        ) from err
    except BaseException:
        shutil.rmtree(tmp_dir, ignore_errors=True)
        raise
    from tfapps.serving.model_config import write_models_config

    write_models_config(Path(export_base))
    logger.info("Exported %s version %d to %s", name, version, final_dir)
    return final_dir

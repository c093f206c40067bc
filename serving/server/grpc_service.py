"""TF Serving's gRPC services (`tensorflow.serving.PredictionService` and `ModelService`).

Implemented: `Predict` (with `output_filter`), `Classify`, `Regress`, `MultiInference`,
`GetModelMetadata`, `GetModelStatus` and `HandleReloadConfigRequest`, with TF Serving's status codes
and message texts (spec §2.4/2.5; messages over 1024 characters are cut like upstream). The
example-based APIs share their rules with REST through `inference.py`.

Predict, Classify and Regress are counted in the serving metrics (status = canonical code name);
the prediction RPCs check the request size limit (`RequestLimits.max_request_bytes`, on the
parsed message's `ByteSize()`) and Predict the image-pixel limit; a call's deadline bounds its
wait in a batching queue (DEADLINE_EXCEEDED).

The services run on a `grpc.aio` server: Predict is a coroutine on the event loop (the hot path:
no thread hand-off when the model call can run inline, see `execution.ModelCalls`), the other RPCs
are plain functions that grpc runs on the server's migration thread pool.
"""

from __future__ import annotations

import concurrent.futures
import functools
import inspect
import logging
import time
from collections.abc import Callable
from typing import Any

import grpc
from tensorflow.core.protobuf import error_codes_pb2
from tensorflow_serving.apis import (
    classification_pb2,
    get_model_metadata_pb2,
    get_model_status_pb2,
    inference_pb2,
    model_management_pb2,
    model_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
    regression_pb2,
)

from tfapps.apps.errors import InvalidArgumentError, TfappsError
from tfapps.serving.codec import ndarray_to_tensor_proto, tensor_proto_to_ndarray
from tfapps.serving.model_config import validate_model_server_config
from tfapps.serving.runtime import DEFAULT_SIGNATURE
from tfapps.serving.server import inference, messages
from tfapps.serving.server.execution import ModelCalls
from tfapps.serving.server.limits import RequestLimits
from tfapps.serving.server.manager import ModelManager
from tfapps.serving.server.metrics import ServingMetrics

logger = logging.getLogger(__name__)

_MAX_MESSAGE = 1024


def _status_for(exc: Exception, method_name: str) -> tuple[grpc.StatusCode, str]:
    """The gRPC status answering an exception: a tfapps error's own code, UNKNOWN for a bug."""
    if isinstance(exc, TfappsError):
        code, message = getattr(grpc.StatusCode, exc.grpc_code, grpc.StatusCode.UNKNOWN), str(exc)
    else:  # a bug: log it, answer cleanly
        logger.error("Unexpected error in %s", method_name, exc_info=exc)
        code, message = grpc.StatusCode.UNKNOWN, f"{method_name} internal error: {type(exc).__name__}: {exc}"
    if len(message) > _MAX_MESSAGE:
        message = message[:_MAX_MESSAGE] + "...TRUNCATED"
    return code, message


def _rpc(method: Callable[..., Any]) -> Callable[..., Any]:
    """Turns errors into gRPC statuses, for sync and async handlers; never a crash."""
    if inspect.iscoroutinefunction(method):

        @functools.wraps(method)
        async def async_wrapper(self: Any, request: Any, context: grpc.aio.ServicerContext) -> Any:
            try:
                return await method(self, request, context)
            except Exception as exc:
                code, message = _status_for(exc, method.__name__)
            await context.abort(code, message)

        return async_wrapper

    @functools.wraps(method)
    def wrapper(self: Any, request: Any, context: grpc.ServicerContext) -> Any:
        try:
            return method(self, request, context)
        except Exception as exc:
            code, message = _status_for(exc, method.__name__)
        context.abort(code, message)

    return wrapper


class _CallRecord:
    """Counts one prediction call in the serving metrics when it ends."""

    def __init__(self, servicer: Any, request: Any, api: str):
        self._metrics, self._request, self._api = servicer._metrics, request, api
        self._started = time.perf_counter()

    def finish(self, response: Any, error: BaseException | None) -> None:
        if self._metrics is None:
            return
        if response is not None:
            status, version = "OK", response.model_spec.version.value
        else:
            status, version = (error.grpc_code if isinstance(error, TfappsError) else "UNKNOWN"), None
        elapsed = time.perf_counter() - self._started
        name = self._request.model_spec.name
        self._metrics.record_request(name, version, self._api, "GRPC", status, elapsed)


def _check_size(servicer: Any, request: Any) -> None:
    if servicer._limits.max_request_bytes is not None:
        servicer._limits.check_body_size(request.ByteSize())


def _counted(api: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Checks the request size, then counts the call in the serving metrics (inside `_rpc`)."""

    def decorate(method: Callable[..., Any]) -> Callable[..., Any]:
        if inspect.iscoroutinefunction(method):

            @functools.wraps(method)
            async def async_wrapper(self: Any, request: Any, context: Any) -> Any:
                record, response, error = _CallRecord(self, request, api), None, None
                try:
                    _check_size(self, request)
                    response = await method(self, request, context)
                    return response
                except Exception as exc:
                    error = exc
                    raise
                finally:
                    record.finish(response, error)

            return async_wrapper

        @functools.wraps(method)
        def wrapper(self: Any, request: Any, context: Any) -> Any:
            record, response, error = _CallRecord(self, request, api), None, None
            try:
                _check_size(self, request)
                response = method(self, request, context)
                return response
            except Exception as exc:
                error = exc
                raise
            finally:
                record.finish(response, error)

        return wrapper

    return decorate


def _time_remaining(context: grpc.ServicerContext) -> float | None:
    remaining = context.time_remaining()
    return None if remaining is None else max(0.0, remaining)


def _spec(request: Any) -> model_pb2.ModelSpec:
    if not request.HasField("model_spec"):
        raise InvalidArgumentError("Missing ModelSpec")
    spec = request.model_spec
    if not spec.name:
        raise InvalidArgumentError("ModelSpec has no name specified.")
    return spec


class PredictionServicer(prediction_service_pb2_grpc.PredictionServiceServicer):
    """PredictionService backed by a `ModelManager`.

    Args:
        manager: resolves and runs the models.
        check_method_name: `--enable_signature_method_name_check` for Classify/Regress/MultiInference.
        limits: request size limits (None: unlimited).
        metrics: where requests are counted (None: not counted).
        executor: the thread pool model calls may run on (the aio server's migration pool).
    """

    def __init__(
        self,
        manager: ModelManager,
        check_method_name: bool = False,
        limits: RequestLimits | None = None,
        metrics: ServingMetrics | None = None,
        executor: concurrent.futures.Executor | None = None,
    ):
        self._manager = manager
        self._check_method_name = check_method_name
        self._limits = limits or RequestLimits()
        self._metrics = metrics
        self._calls = ModelCalls(
            manager, executor or concurrent.futures.ThreadPoolExecutor(16, thread_name_prefix="grpc")
        )

    @_rpc
    @_counted("Predict")
    async def Predict(  # noqa: N802
        self, request: predict_pb2.PredictRequest, context: grpc.aio.ServicerContext
    ) -> predict_pb2.PredictResponse:
        """Runs a signature; see TF Serving's predict_util.cc. Runs on the event loop (see
        `execution.ModelCalls`); the other RPCs run on the server's thread pool."""
        with self._calls.request():
            spec = _spec(request)
            version, label = messages.version_choice(spec)
            handle = self._manager.resolve(spec.name, version, label)
            signature = handle.servable.signature(spec.signature_name)
            inputs = {alias: tensor_proto_to_ndarray(t, alias) for alias, t in request.inputs.items()}
            self._limits.check_image_inputs(inputs)
            outputs = await self._calls.predict(
                handle, inputs, signature.name, list(request.output_filter), timeout=_time_remaining(context)
            )
        response = predict_pb2.PredictResponse()
        response.model_spec.CopyFrom(
            messages.model_spec(spec.name, handle.version, signature.name or DEFAULT_SIGNATURE)
        )
        for alias, array in outputs.items():
            response.outputs[alias].CopyFrom(ndarray_to_tensor_proto(array))
        return response

    @_rpc
    def GetModelMetadata(  # noqa: N802
        self, request: get_model_metadata_pb2.GetModelMetadataRequest, context: grpc.ServicerContext
    ) -> get_model_metadata_pb2.GetModelMetadataResponse:
        """Returns the `signature_def` metadata of a version."""
        spec = _spec(request)
        version, label = messages.version_choice(spec)
        handle = self._manager.resolve(spec.name, version, label)
        return messages.metadata_response(handle, request.metadata_field)

    def _run_examples(self, request, context, run, response_cls):
        """Classify and Regress: resolve the model, run `run` on the request's examples, answer."""
        spec = _spec(request)
        version, label = messages.version_choice(spec)
        handle = self._manager.resolve(spec.name, version, label)
        result, signature = run(
            self._manager,
            handle,
            spec.signature_name,
            request.input,
            self._check_method_name,
            timeout=_time_remaining(context),
        )
        response = response_cls(result=result)
        response.model_spec.CopyFrom(messages.model_spec(spec.name, handle.version, signature))
        return response

    @_rpc
    @_counted("Classify")
    def Classify(  # noqa: N802
        self, request: classification_pb2.ClassificationRequest, context: grpc.ServicerContext
    ) -> classification_pb2.ClassificationResponse:
        """Runs a classification signature on the request's examples (classifier.cc)."""
        return self._run_examples(
            request, context, inference.classify, classification_pb2.ClassificationResponse
        )

    @_rpc
    @_counted("Regress")
    def Regress(  # noqa: N802
        self, request: regression_pb2.RegressionRequest, context: grpc.ServicerContext
    ) -> regression_pb2.RegressionResponse:
        """Runs a regression signature on the request's examples (regressor.cc)."""
        return self._run_examples(request, context, inference.regress, regression_pb2.RegressionResponse)

    @_rpc
    def MultiInference(  # noqa: N802
        self, request: inference_pb2.MultiInferenceRequest, context: grpc.ServicerContext
    ) -> inference_pb2.MultiInferenceResponse:
        """Runs several classify/regress tasks of one model on the same examples."""
        if self._limits.max_request_bytes is not None:
            self._limits.check_body_size(request.ByteSize())
        return inference.multi_inference(
            self._manager, request, self._check_method_name, timeout=_time_remaining(context)
        )


class ModelServicer(model_service_pb2_grpc.ModelServiceServicer):
    """ModelService backed by a `ModelManager`."""

    def __init__(self, manager: ModelManager):
        self._manager = manager

    @_rpc
    def GetModelStatus(  # noqa: N802
        self, request: get_model_status_pb2.GetModelStatusRequest, context: grpc.ServicerContext
    ) -> get_model_status_pb2.GetModelStatusResponse:
        """Reports version states; labels are ignored, as upstream."""
        spec = _spec(request)
        version, _ = messages.version_choice(spec)
        return messages.status_response(self._manager.version_statuses(spec.name, version))

    @_rpc
    def HandleReloadConfigRequest(  # noqa: N802
        self, request: model_management_pb2.ReloadConfigRequest, context: grpc.ServicerContext
    ) -> model_management_pb2.ReloadConfigResponse:
        """Replaces the served model list and blocks until new models are available (or fail).

        Only `model_config_list` is accepted, as upstream. A failure is returned as the gRPC status
        (upstream also fills `response.status`, but a failed RPC carries no response). Requested
        `metric_names` are not reported: this server does not track per-metric increases.
        """
        config = request.config
        if config.WhichOneof("config") != "model_config_list":
            raise InvalidArgumentError(
                "ServerModelConfig type not supported by HandleReloadConfigRequest. Only ModelConfigList "
                f"is currently supported. Received: config={config.WhichOneof('config') or 'unset'}"
            )
        validate_model_server_config(config)
        self._manager.reload_config(config.model_config_list.config)
        response = model_management_pb2.ReloadConfigResponse()
        response.status.error_code = error_codes_pb2.OK
        return response


def add_services(
    server: grpc.aio.Server,
    manager: ModelManager,
    check_method_name: bool = False,
    limits: RequestLimits | None = None,
    metrics: ServingMetrics | None = None,
    executor: concurrent.futures.Executor | None = None,
) -> None:
    """Registers PredictionService and ModelService on a grpc.aio server.

    Args:
        server: the grpc.aio server (not started yet), with a migration thread pool for the
            synchronous handlers.
        manager: the model manager both services answer from.
        check_method_name: `--enable_signature_method_name_check`.
        limits: request size limits (None: unlimited).
        metrics: where prediction requests are counted (None: not counted).
        executor: the thread pool for Predict calls not run on the event loop.
    """
    prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(
        PredictionServicer(manager, check_method_name, limits, metrics, executor), server
    )
    model_service_pb2_grpc.add_ModelServiceServicer_to_server(ModelServicer(manager), server)

"""TF Serving's gRPC services (`tensorflow.serving.PredictionService` and `ModelService`).

Implemented: `Predict` (with `output_filter`), `GetModelMetadata`, `GetModelStatus`, with TF
Serving's status codes and message texts (spec §2.4/2.5; messages over 1024 characters are cut
like upstream). `Classify`, `Regress`, `MultiInference` and `HandleReloadConfigRequest` answer
UNIMPLEMENTED for now.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any

import grpc
from tensorflow_serving.apis import (
    get_model_metadata_pb2,
    get_model_status_pb2,
    model_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
)

from tfapps.apps.errors import InvalidArgumentError, TfappsError, UnimplementedError
from tfapps.serving.codec import ndarray_to_tensor_proto, tensor_proto_to_ndarray
from tfapps.serving.runtime import DEFAULT_SIGNATURE
from tfapps.serving.server import messages
from tfapps.serving.server.manager import ModelManager

logger = logging.getLogger(__name__)

_MAX_MESSAGE = 1024


def _rpc(method: Callable[..., Any]) -> Callable[..., Any]:
    """Turns tfapps errors into gRPC statuses; unexpected errors become UNKNOWN, never a crash."""

    @functools.wraps(method)
    def wrapper(self: Any, request: Any, context: grpc.ServicerContext) -> Any:
        try:
            return method(self, request, context)
        except TfappsError as exc:
            code, message = getattr(grpc.StatusCode, exc.grpc_code, grpc.StatusCode.UNKNOWN), str(exc)
        except Exception as exc:  # a bug: log it, answer cleanly
            logger.exception("Unexpected error in %s", method.__name__)
            code, message = (
                grpc.StatusCode.UNKNOWN,
                f"{method.__name__} internal error: {type(exc).__name__}: {exc}",
            )
        if len(message) > _MAX_MESSAGE:
            message = message[:_MAX_MESSAGE] + "...TRUNCATED"
        context.abort(code, message)

    return wrapper


def _spec(request: Any) -> model_pb2.ModelSpec:
    if not request.HasField("model_spec"):
        raise InvalidArgumentError("Missing ModelSpec")
    spec = request.model_spec
    if not spec.name:
        raise InvalidArgumentError("ModelSpec has no name specified.")
    return spec


def _version_choice(spec: model_pb2.ModelSpec) -> tuple[int | None, str | None]:
    choice = spec.WhichOneof("version_choice")
    if choice == "version":
        return spec.version.value, None
    if choice == "version_label":
        return None, spec.version_label
    return None, None


def _unimplemented(name: str) -> TfappsError:
    return UnimplementedError(
        f"{name} is not implemented by this server yet; use Predict. Received: method={name}"
    )


class PredictionServicer(prediction_service_pb2_grpc.PredictionServiceServicer):
    """PredictionService backed by a `ModelManager`."""

    def __init__(self, manager: ModelManager):
        self._manager = manager

    @_rpc
    def Predict(  # noqa: N802
        self, request: predict_pb2.PredictRequest, context: grpc.ServicerContext
    ) -> predict_pb2.PredictResponse:
        """Runs a signature; see TF Serving's predict_util.cc."""
        spec = _spec(request)
        version, label = _version_choice(spec)
        handle = self._manager.resolve(spec.name, version, label)
        signature = handle.servable.signature(spec.signature_name)
        inputs = {alias: tensor_proto_to_ndarray(t, alias) for alias, t in request.inputs.items()}
        outputs = self._manager.run(handle, inputs, signature.name, list(request.output_filter))
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
        version, label = _version_choice(spec)
        handle = self._manager.resolve(spec.name, version, label)
        return messages.metadata_response(handle, request.metadata_field)

    @_rpc
    def Classify(self, request: Any, context: grpc.ServicerContext) -> Any:  # noqa: N802
        """Not implemented yet."""
        raise _unimplemented("Classify")

    @_rpc
    def Regress(self, request: Any, context: grpc.ServicerContext) -> Any:  # noqa: N802
        """Not implemented yet."""
        raise _unimplemented("Regress")

    @_rpc
    def MultiInference(self, request: Any, context: grpc.ServicerContext) -> Any:  # noqa: N802
        """Not implemented yet."""
        raise _unimplemented("MultiInference")


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
        version, _ = _version_choice(spec)
        return messages.status_response(self._manager.version_statuses(spec.name, version))

    @_rpc
    def HandleReloadConfigRequest(self, request: Any, context: grpc.ServicerContext) -> Any:  # noqa: N802
        """Not implemented yet."""
        raise _unimplemented("HandleReloadConfigRequest")


def add_services(server: grpc.Server, manager: ModelManager) -> None:
    """Registers PredictionService and ModelService on a grpc server."""
    prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(PredictionServicer(manager), server)
    model_service_pb2_grpc.add_ModelServiceServicer_to_server(ModelServicer(manager), server)

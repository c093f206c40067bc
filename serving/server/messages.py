"""Protobuf answers shared by the REST and gRPC front ends (metadata and status).

Both protocols build the same `GetModelMetadataResponse`/`GetModelStatusResponse` protos; REST
prints them with protobuf's JSON printer (proto field names, fields without presence always
printed), which reproduces TF Serving's REST documents.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from google.protobuf import json_format
from google.protobuf.message import Message
from tensorflow.core.protobuf import error_codes_pb2
from tensorflow_serving.apis import get_model_metadata_pb2, get_model_status_pb2, model_pb2

from tfapps.apps.errors import InvalidArgumentError
from tfapps.serving.server.manager import ServableHandle, VersionStatus

SIGNATURE_DEF_FIELD = "signature_def"


def to_json_dict(message: Message) -> dict[str, Any]:
    """Prints a proto as TF Serving's REST API does (proto field names, defaults included)."""
    return json_format.MessageToDict(
        message, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
    )


def model_spec(name: str, version: int, signature_name: str | None = None) -> model_pb2.ModelSpec:
    """A `ModelSpec` with name, version and (when given) signature name."""
    spec = model_pb2.ModelSpec(name=name)
    spec.version.value = version
    if signature_name is not None:
        spec.signature_name = signature_name
    return spec


def signature_def_map(handle: ServableHandle) -> get_model_metadata_pb2.SignatureDefMap:
    """Every SignatureDef of the loaded MetaGraphDef (including `__saved_model_init_op`)."""
    result = get_model_metadata_pb2.SignatureDefMap()
    for key, sig in handle.servable.signature_def_map.items():
        result.signature_def[key].CopyFrom(sig)
    return result


def metadata_response(
    handle: ServableHandle, metadata_fields: Iterable[str]
) -> get_model_metadata_pb2.GetModelMetadataResponse:
    """Builds GetModelMetadataResponse (only the `signature_def` field exists upstream).

    Raises:
        InvalidArgumentError: no field requested, or a field other than `signature_def`.
    """
    fields = list(metadata_fields)
    if not fields:
        raise InvalidArgumentError("GetModelMetadataRequest must specify at least one metadata_field")
    for field in fields:
        if field != SIGNATURE_DEF_FIELD:
            raise InvalidArgumentError(
                f"Metadata field {field} is not supported. Expected: {SIGNATURE_DEF_FIELD}. "
                f"Received: metadata_field={fields}"
            )
    response = get_model_metadata_pb2.GetModelMetadataResponse()
    response.model_spec.CopyFrom(model_spec(handle.model_name, handle.version))
    response.metadata[SIGNATURE_DEF_FIELD].Pack(signature_def_map(handle))
    return response


def metadata_json(handle: ServableHandle) -> dict[str, Any]:
    """The REST metadata document: `{"model_spec": ..., "metadata": {"signature_def": ...}}`."""
    return {
        "model_spec": to_json_dict(model_spec(handle.model_name, handle.version, "")),
        "metadata": {SIGNATURE_DEF_FIELD: to_json_dict(signature_def_map(handle))},
    }


def status_response(statuses: Iterable[VersionStatus]) -> get_model_status_pb2.GetModelStatusResponse:
    """Builds GetModelStatusResponse from the manager's version states."""
    response = get_model_status_pb2.GetModelStatusResponse()
    for status in statuses:
        entry = response.model_version_status.add(version=status.version, state=int(status.state))
        entry.status.error_code = _error_code_number(status.error_code)
        entry.status.error_message = status.error_message
    return response


def _error_code_number(name: str) -> int:
    try:
        return error_codes_pb2.Code.Value(name)
    except ValueError:
        return error_codes_pb2.Code.Value("UNKNOWN")


def version_choice(spec: model_pb2.ModelSpec) -> tuple[int | None, str | None]:
    """`(version, label)` from a ModelSpec's `version_choice` oneof (both None: latest)."""
    choice = spec.WhichOneof("version_choice")
    if choice == "version":
        return spec.version.value, None
    if choice == "version_label":
        return None, spec.version_label
    return None, None

"""Tests for bench/grpc_h2_load.py, the gRPC load generator of bench/serving.py: the benchmark's
request and error counts are only as good as its idea of a successful call."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest
from conftest import load_bench_script
from tensorflow_serving.apis import predict_pb2

from tfapps.serving.codec import ndarray_to_tensor_proto
from tfapps.serving.server import ModelServer

grpc_h2_load = load_bench_script("grpc_h2_load", "grpc_h2_load.py")
GrpcH2Connection, PreparedCall, hpack_integer = (
    grpc_h2_load.GrpcH2Connection,
    grpc_h2_load.PreparedCall,
    grpc_h2_load.hpack_integer,
)

PREDICT = "/tensorflow.serving.PredictionService/Predict"


def request(model: str) -> bytes:
    message = predict_pb2.PredictRequest()
    message.model_spec.name = model
    message.inputs["x"].CopyFrom(ndarray_to_tensor_proto(np.array([[1.0]], np.float32)))
    return message.SerializeToString()


async def calls(port: int, model: str, count: int) -> list[str | None]:
    connection = await GrpcH2Connection.open("127.0.0.1", port)
    try:
        call = connection.prepare(PREDICT, request(model))
        return await asyncio.gather(*(connection.call(call) for _ in range(count)))
    finally:
        connection.close()


def test_concurrent_calls_succeed(model_server: ModelServer) -> None:
    assert asyncio.run(asyncio.wait_for(calls(model_server.grpc_port, "half", 50), 60)) == [None] * 50


def test_a_failed_call_is_counted_as_an_error(model_server: ModelServer) -> None:
    results = asyncio.run(calls(model_server.grpc_port, "no_such_model", 3))
    assert all(result is not None for result in results), results
    # The connection and the server are fine afterwards.
    assert asyncio.run(calls(model_server.grpc_port, "half", 2)) == [None, None]


def test_many_sequential_calls_keep_flow_control_open(model_server: ModelServer) -> None:
    """More request bytes than the server's initial 64 KiB connection window: its WINDOW_UPDATEs
    must be honoured, or the calls would stall."""

    async def run() -> list[str | None]:
        connection = await GrpcH2Connection.open("127.0.0.1", model_server.grpc_port)
        try:
            call = connection.prepare(PREDICT, request("half"))
            count = 2 * 65_535 // len(call.message) + 1  # twice the initial window
            return [await connection.call(call) for _ in range(count)]
        finally:
            connection.close()

    assert set(asyncio.run(asyncio.wait_for(run(), timeout=60))) == {None}


def test_hpack_integers_follow_rfc7541() -> None:
    # RFC 7541 C.1.1-C.1.3: 10 and 1337 with a 5-bit prefix, 42 with an 8-bit prefix.
    assert hpack_integer(10, 5) == bytes([0b01010])
    assert hpack_integer(1337, 5) == bytes([0b11111, 0b10011010, 0b00001010])
    assert hpack_integer(42, 8) == bytes([42])


def test_a_call_larger_than_one_frame_is_refused() -> None:
    with pytest.raises(ValueError, match="one frame"):
        PreparedCall(b"", b"\x00" * 20_000)

"""A unary gRPC load generator over one HTTP/2 connection that costs little CPU.

grpcio's asyncio client costs 130-400 µs of CPU per call here, on the same two cores as the server
it measures. This client speaks just enough HTTP/2 (RFC 9113) for unary calls: the connection
preface and SETTINGS, flow control both ways, and SETTINGS/PING acknowledgements. Requests are
encoded once: an HPACK header block of literal fields that are never indexed (so no compression
state) and the length-prefixed message. Responses are not decoded. A call succeeded when its
stream carried a message (a DATA frame with at least the 5-byte message prefix) and then ended
normally. A gRPC server answers a failed unary call with trailers only, without a message.

    connection = await GrpcH2Connection.open("127.0.0.1", port)
    call = connection.prepare("/tensorflow.serving.PredictionService/Predict", request_bytes)
    error = await connection.call(call)  # None on success, else what went wrong
"""

from __future__ import annotations

import asyncio
import struct

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
DATA, HEADERS, RST_STREAM, SETTINGS, PING, GOAWAY, WINDOW_UPDATE = 0x0, 0x1, 0x3, 0x4, 0x6, 0x7, 0x8
END_STREAM, ACK, END_HEADERS, PADDED = 0x1, 0x1, 0x4, 0x8
SETTINGS_ENABLE_PUSH, SETTINGS_INITIAL_WINDOW_SIZE = 0x2, 0x4
DEFAULT_WINDOW, MAX_WINDOW, MAX_FRAME = 65_535, 2**31 - 1, 16_384


def frame(kind: int, flags: int, stream: int, payload: bytes = b"") -> bytes:
    """One HTTP/2 frame: 24-bit length, type, flags, 31-bit stream id, payload."""
    return len(payload).to_bytes(3, "big") + bytes((kind, flags)) + stream.to_bytes(4, "big") + payload


def hpack_integer(value: int, prefix_bits: int) -> bytes:
    """An HPACK integer with an N-bit prefix (RFC 7541 §5.1)."""
    limit = (1 << prefix_bits) - 1
    if value < limit:
        return bytes((value,))
    out, value = bytearray((limit,)), value - limit
    while value >= 128:
        out.append((value & 127) | 128)
        value >>= 7
    out.append(value)
    return bytes(out)


def literal_field(name: bytes, value: bytes) -> bytes:
    """A header field as a literal without indexing, with a literal name and no Huffman coding
    (RFC 7541 §6.2.2): decoding it changes no compression state."""
    return b"\x00" + hpack_integer(len(name), 7) + name + hpack_integer(len(value), 7) + value


class PreparedCall:
    """A unary call encoded once: its header block and its DATA payload (the length-prefixed message)."""

    __slots__ = ("block", "message")

    def __init__(self, block: bytes, message: bytes):
        if len(block) > MAX_FRAME or len(message) > MAX_FRAME:
            raise ValueError(
                f"a call's header block and message must each fit one frame of {MAX_FRAME} bytes. "
                f"Received: header block {len(block)} bytes, message {len(message)} bytes"
            )
        self.block = block
        self.message = message


class GrpcH2Connection(asyncio.Protocol):
    """One HTTP/2 connection carrying concurrent unary gRPC calls (see the module docstring)."""

    def __init__(self, loop: asyncio.AbstractEventLoop, authority: bytes):
        self._loop = loop
        self._authority = authority
        self._transport: asyncio.Transport | None = None
        self._buffer = bytearray()
        self._calls: dict[int, list] = {}  # stream id -> [future, got a message]
        self._next_stream = 1
        self._send_window = DEFAULT_WINDOW  # what the server lets us send on the connection
        self._window_opened = asyncio.Event()
        self._unacknowledged = 0  # bytes received since our last connection WINDOW_UPDATE
        self._settled: asyncio.Future = loop.create_future()  # the server's first SETTINGS
        self._failure: str | None = None

    @classmethod
    async def open(cls, host: str, port: int) -> GrpcH2Connection:
        loop = asyncio.get_running_loop()
        _, connection = await loop.create_connection(lambda: cls(loop, f"{host}:{port}".encode()), host, port)
        await connection._settled
        return connection

    def prepare(self, path: str, request: bytes, timeout_s: int = 30) -> PreparedCall:
        """Encodes a unary call to `path` (`/package.Service/Method`) with a serialized request."""
        fields = (
            (b":method", b"POST"),
            (b":scheme", b"http"),
            (b":path", path.encode()),
            (b":authority", self._authority),
            (b"content-type", b"application/grpc"),
            (b"te", b"trailers"),
            (b"grpc-timeout", f"{timeout_s}S".encode()),
        )
        block = b"".join(literal_field(name, value) for name, value in fields)
        return PreparedCall(block, b"\x00" + struct.pack(">I", len(request)) + request)

    async def call(self, prepared: PreparedCall) -> str | None:
        """Sends one call and waits for its end: None when it carried a message, else why not."""
        if self._failure is not None:
            return self._failure
        size = len(prepared.message)
        while self._send_window < size:
            self._window_opened.clear()
            await self._window_opened.wait()
            if self._failure is not None:
                return self._failure
        self._send_window -= size
        stream, self._next_stream = self._next_stream, self._next_stream + 2
        done = self._loop.create_future()
        self._calls[stream] = [done, False]
        self._transport.write(
            frame(HEADERS, END_HEADERS, stream, prepared.block)
            + frame(DATA, END_STREAM, stream, prepared.message)
        )
        return await done

    def close(self) -> None:
        if self._transport is not None:
            self._transport.write(frame(GOAWAY, 0, 0, struct.pack(">II", max(self._next_stream - 2, 0), 0)))
            self._transport.close()

    # ------------------------------------------------------------------ asyncio.Protocol

    def connection_made(self, transport: asyncio.Transport) -> None:
        self._transport = transport
        settings = struct.pack(">HIHI", SETTINGS_ENABLE_PUSH, 0, SETTINGS_INITIAL_WINDOW_SIZE, MAX_WINDOW)
        transport.write(
            PREFACE
            + frame(SETTINGS, 0, 0, settings)
            + frame(WINDOW_UPDATE, 0, 0, struct.pack(">I", MAX_WINDOW - DEFAULT_WINDOW))
        )

    def data_received(self, data: bytes) -> None:
        buffer = self._buffer
        buffer += data
        view, position = memoryview(buffer), 0
        while len(buffer) - position >= 9:
            length = int.from_bytes(view[position : position + 3], "big")
            end = position + 9 + length
            if end > len(buffer):
                break
            kind, flags = view[position + 3], view[position + 4]
            stream = int.from_bytes(view[position + 5 : position + 9], "big") & MAX_WINDOW
            self._on_frame(kind, flags, stream, view[position + 9 : end])
            position = end
        view.release()
        del buffer[:position]

    def connection_lost(self, exc: Exception | None) -> None:
        self._fail_all(f"connection lost: {exc}")

    # ------------------------------------------------------------------ frames

    def _on_frame(self, kind: int, flags: int, stream: int, payload: memoryview) -> None:
        if kind == DATA:
            self._on_data(flags, stream, payload)
        elif kind == HEADERS:
            if flags & END_STREAM:  # trailers (or trailers only): the call is over
                self._finish(stream, None)
        elif kind == SETTINGS:
            if not flags & ACK:
                self._transport.write(frame(SETTINGS, ACK, 0))
                if not self._settled.done():
                    self._settled.set_result(None)
        elif kind == PING:
            if not flags & ACK:
                self._transport.write(frame(PING, ACK, 0, bytes(payload)))
        elif kind == WINDOW_UPDATE:
            if stream == 0:  # stream windows start at the server's default: a call's one frame fits
                self._send_window += int.from_bytes(payload[:4], "big") & MAX_WINDOW
                self._window_opened.set()
        elif kind == RST_STREAM:
            self._finish(stream, f"RST_STREAM {int.from_bytes(payload[:4], 'big')}")
        elif kind == GOAWAY:
            self._fail_all(f"GOAWAY {int.from_bytes(payload[4:8], 'big')}")

    def _on_data(self, flags: int, stream: int, payload: memoryview) -> None:
        self._unacknowledged += len(payload)
        if self._unacknowledged > MAX_WINDOW // 2:
            self._transport.write(frame(WINDOW_UPDATE, 0, 0, struct.pack(">I", self._unacknowledged)))
            self._unacknowledged = 0
        padding = payload[0] + 1 if flags & PADDED and len(payload) else 0
        call = self._calls.get(stream)
        if call is not None and len(payload) - padding >= 5:
            call[1] = True
        if flags & END_STREAM:
            self._finish(stream, None)

    def _finish(self, stream: int, error: str | None) -> None:
        call = self._calls.pop(stream, None)
        if call is None or call[0].done():
            return
        done, got_message = call
        done.set_result(
            error if error is not None else (None if got_message else "no message (an error status)")
        )

    def _fail_all(self, reason: str) -> None:
        self._failure = reason
        self._window_opened.set()
        if not self._settled.done():
            self._settled.set_exception(ConnectionError(reason))
        for done, _ in self._calls.values():
            if not done.done():
                done.set_result(reason)
        self._calls.clear()

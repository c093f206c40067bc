"""Tests for serving.server.http_protocol: a response leaves in one write, nothing is lost."""

from __future__ import annotations

import asyncio
import http.client
import socket
import threading

import pytest
import uvicorn
import uvloop
from uvicorn.server import ServerState

from tfapps.serving.server.http_protocol import CoalescingHttpToolsProtocol, CoalescingTransport


class FakeTransport(asyncio.Transport):
    """Records writes; enough of a socket transport for uvicorn's protocol."""

    def __init__(self):
        super().__init__()
        self.writes: list[bytes] = []
        self.closed = False
        self.reading_paused = False

    def write(self, data):
        assert not self.closed, "write after close"
        self.writes.append(bytes(data))

    def close(self):
        self.closed = True

    def is_closing(self):
        return self.closed

    def pause_reading(self):
        self.reading_paused = True

    def resume_reading(self):
        self.reading_paused = False

    def get_extra_info(self, name, default=None):
        return {"sockname": ("127.0.0.1", 8501), "peername": ("127.0.0.1", 50000)}.get(name, default)


def run_briefly(loop: asyncio.AbstractEventLoop, turns: int = 20) -> None:
    for _ in range(turns):
        loop.run_until_complete(asyncio.sleep(0))


@pytest.fixture
def loop():
    loop = asyncio.new_event_loop()
    yield loop
    loop.close()


def test_writes_of_one_iteration_leave_together(loop) -> None:
    real = FakeTransport()
    transport = CoalescingTransport(real, loop)
    transport.write(b"HTTP/1.1 200 OK\r\n\r\n")
    transport.write(b"body")
    assert real.writes == []  # nothing sent until the current callbacks end
    run_briefly(loop)
    assert real.writes == [b"HTTP/1.1 200 OK\r\n\r\nbody"]
    transport.write(b"next")
    run_briefly(loop)
    assert real.writes[1:] == [b"next"]


def test_close_sends_pending_writes_first(loop) -> None:
    real = FakeTransport()
    transport = CoalescingTransport(real, loop)
    transport.write(b"error response")
    transport.close()
    assert real.writes == [b"error response"] and real.closed
    run_briefly(loop)  # the scheduled flush finds nothing left and writes nothing after close
    assert real.writes == [b"error response"]


def test_nothing_is_written_to_a_closing_transport(loop) -> None:
    real = FakeTransport()
    transport = CoalescingTransport(real, loop)
    transport.write(b"late")
    real.close()  # the peer went away before the loop got to the flush
    run_briefly(loop)
    assert real.writes == []


def test_other_transport_methods_are_the_wrapped_ones(loop) -> None:
    real = FakeTransport()
    transport = CoalescingTransport(real, loop)
    assert transport.get_extra_info("peername") == ("127.0.0.1", 50000)
    transport.pause_reading()
    assert real.reading_paused
    assert not transport.is_closing()


async def echo_app(scope, receive, send) -> None:
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    answer = b"echo:" + body
    headers = [(b"content-type", b"text/plain"), (b"content-length", str(len(answer)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": answer})


def test_uvicorn_sends_each_keep_alive_response_in_one_write(loop) -> None:
    config = uvicorn.Config(
        echo_app, http=CoalescingHttpToolsProtocol, ws="none", lifespan="off", log_level="warning"
    )
    protocol = CoalescingHttpToolsProtocol(
        config=config, server_state=ServerState(), app_state={}, _loop=loop
    )
    real = FakeTransport()
    protocol.connection_made(real)
    for body in (b"one", b"two"):
        request = b"POST /x HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
        protocol.data_received(request)
        run_briefly(loop)
    assert len(real.writes) == 2, real.writes
    for write, body in zip(real.writes, (b"one", b"two"), strict=True):
        assert write.startswith(b"HTTP/1.1 200 OK\r\n")
        assert write.endswith(b"\r\n\r\necho:" + body)
    assert not real.closed
    protocol.connection_lost(None)


def test_large_responses_arrive_whole_over_uvloop_sockets() -> None:
    """A real uvicorn server on uvloop: headers and a multi-megabyte body sent as one writev."""
    body = bytes(range(256)) * 12_000  # ~3 MB, every byte value

    async def app(scope, receive, send) -> None:
        while (await receive()).get("more_body"):
            pass
        headers = [(b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(
        app, http=CoalescingHttpToolsProtocol, ws="none", lifespan="off", log_level="warning"
    )
    server = uvicorn.Server(config)

    def run() -> None:
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            runner.run(server.serve(sockets=[sock]))

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        while not server.started:
            thread.join(0.01)
        connection = http.client.HTTPConnection("127.0.0.1", sock.getsockname()[1], timeout=30)
        for _ in range(2):  # keep-alive: the second response must not be mixed with the first
            connection.request("GET", "/")
            response = connection.getresponse()
            assert response.status == 200
            assert response.read() == body
        connection.close()
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()

"""RestClient and GrpcClient give the same answers and the same errors."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from conftest import png

from tfapps.apps.errors import FailedPreconditionError, InvalidArgumentError, NotFoundError, UnavailableError
from tfapps.serving.clients import GrpcClient, RestClient
from tfapps.serving.server import ModelServer

pytestmark = pytest.mark.serving


@pytest.fixture(scope="module", params=["rest", "grpc"])
def client(request: pytest.FixtureRequest, model_server: ModelServer) -> Iterator[RestClient | GrpcClient]:
    if request.param == "rest":
        yield RestClient(f"http://127.0.0.1:{model_server.rest_port}", timeout=30)
    else:
        with GrpcClient(f"127.0.0.1:{model_server.grpc_port}", timeout=30) as grpc_client:
            yield grpc_client


def test_predict_float_model(client) -> None:
    out = client.predict("half", {"x": [[1.0], [2.0]]})
    assert out["y"].dtype == np.float32
    np.testing.assert_allclose(out["y"], [[3.5], [4.0]])
    np.testing.assert_allclose(
        client.predict("half", {"x": np.array([[2.0]], np.float32)}, version=1)["y"], [[3.0]]
    )


def test_predict_image_bytes_model(client) -> None:
    out = client.predict("image", {"image_bytes": [png(255), png(0)]})
    assert out["labels"].tolist() == [[b"bright"], [b"dark"]]
    np.testing.assert_allclose(out["scores"], [[1.0], [0.0]])
    assert out["thumb_bytes"].shape == (2,) and out["thumb_bytes"][1].startswith(b"\x89PNG")


def test_predict_other_signatures_and_dtypes(client) -> None:
    out = client.predict("half", {"text": ["ab", "c"]}, signature_name="echo")
    assert out["upper"].tolist() == [b"AB", b"C"]
    out = client.predict(
        "half", {"n": np.array([3, 4], np.int64), "flag": [True, False]}, signature_name="typed"
    )
    assert out["doubled"].tolist() == [6, 8] and out["negated"].tolist() == [False, True]
    assert out["half"].dtype == np.float64 and out["half"].tolist() == [1.5, 2.0]


def test_metadata_and_status_documents_match_across_protocols(model_server: ModelServer) -> None:
    rest = RestClient(f"http://127.0.0.1:{model_server.rest_port}")
    with GrpcClient(f"127.0.0.1:{model_server.grpc_port}") as grpc_client:
        assert rest.metadata("half", version=1) == grpc_client.metadata("half", version=1)
        assert rest.status("half") == grpc_client.status("half")
    assert rest.status("image") == {
        "model_version_status": [
            {"version": "1", "state": "AVAILABLE", "status": {"error_code": "OK", "error_message": ""}}
        ]
    }


def test_errors_map_to_tfapps_errors(client) -> None:
    with pytest.raises(NotFoundError, match=r"Servable not found for request: Latest\(nope\)"):
        client.predict("nope", {"x": [[1.0]]})
    with pytest.raises(NotFoundError, match="Could not find any versions of model nope"):
        client.status("nope")
    with pytest.raises(InvalidArgumentError):
        client.predict("half", {"x": [["a"]]})
    with pytest.raises((InvalidArgumentError, FailedPreconditionError), match="not found"):
        client.predict("half", {"x": [[1.0]]}, signature_name="nope")


def test_unreachable_server_is_unavailable(tmp_path: Path) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(UnavailableError):
        RestClient(f"http://127.0.0.1:{port}", timeout=5).status("m")
    with GrpcClient(f"127.0.0.1:{port}", timeout=5) as grpc_client, pytest.raises(UnavailableError):
        grpc_client.status("m")


def test_classify_and_regress(client) -> None:
    rows = client.classify("scorer", [{"x": 2.0}, {"x": np.float32(10.0)}], signature_name="classify")
    assert rows == [[("x", 2.0), ("half_plus_two", 3.0)], [("x", 10.0), ("half_plus_two", 7.0)]]
    values = client.regress(
        "scorer", [{"x": 5.0}, {}], context={"x": 1.0, "x2": [10.0]}, signature_name="regress_sum", version=7
    )
    assert values == [15.0, 11.0]
    with pytest.raises(InvalidArgumentError, match="No regression inputs found in SignatureDef"):
        client.regress("scorer", [{"x": 1.0}])


class _Flaky:
    """Answers UNAVAILABLE `failures` times, then delegates; counts calls."""

    def __init__(self, failures: int, code: str = "UNAVAILABLE"):
        self.failures, self.code, self.calls = failures, code, 0

    def __call__(self, fn):
        def wrapped(*args, **kwargs):
            self.calls += 1
            if self.calls <= self.failures:
                from tfapps.serving.status_codes import error_for_code

                raise error_for_code(self.code, "flaky")
            return fn(*args, **kwargs)

        return wrapped


@pytest.mark.parametrize("kind", ["rest", "grpc"])
def test_retries_only_unavailable(
    model_server: ModelServer, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    if kind == "rest":
        client = RestClient(f"http://127.0.0.1:{model_server.rest_port}", retries=2, backoff_s=0.001)
        attr = "_request_once"
    else:
        client = GrpcClient(f"127.0.0.1:{model_server.grpc_port}", retries=2, backoff_s=0.001)
        attr = "_call_once"
    original = getattr(client, attr)
    flaky = _Flaky(2)
    monkeypatch.setattr(client, attr, flaky(original))
    assert client.status("image")["model_version_status"][0]["state"] == "AVAILABLE"
    assert flaky.calls == 3  # two UNAVAILABLE answers, then success
    flaky = _Flaky(3)
    monkeypatch.setattr(client, attr, flaky(original))
    with pytest.raises(UnavailableError, match="flaky"):
        client.status("image")
    assert flaky.calls == 3  # 1 + retries, then give up
    flaky = _Flaky(1, code="INVALID_ARGUMENT")
    monkeypatch.setattr(client, attr, flaky(original))
    with pytest.raises(InvalidArgumentError):
        client.status("image")
    assert flaky.calls == 1  # never retried
    if isinstance(client, GrpcClient):
        client.close()

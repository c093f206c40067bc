"""The REST API of the embedded server, over real HTTP (spec §1)."""

from __future__ import annotations

import base64
import gzip
import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from conftest import png

from tfapps.serving.server import ModelServer

pytestmark = pytest.mark.serving


@pytest.fixture(scope="module")
def http(model_server: ModelServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=f"http://127.0.0.1:{model_server.rest_port}", timeout=30) as client:
        yield client


def test_row_and_columnar_predict(http: httpx.Client) -> None:
    r = http.post("/v1/models/half:predict", json={"instances": [[1.0], [2.0]]})
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    assert r.json() == {"predictions": [[3.5], [4.0]]}  # latest version (2): 0.5x + 3
    r = http.post("/v1/models/half/versions/1:predict", json={"inputs": {"x": [[1.0], [2.0]]}})
    assert r.json() == {"outputs": [[2.5], [3.0]]}
    r = http.post("/v1/models/half/labels/stable:predict", json={"inputs": [[2.0]]})
    assert r.json() == {"outputs": [[3.0]]}


def test_multi_output_b64_and_bytes_outputs(http: httpx.Client) -> None:
    images = [{"b64": base64.b64encode(png(255)).decode()}, {"b64": base64.b64encode(png(0)).decode()}]
    r = http.post("/v1/models/image:predict", json={"instances": images})
    rows = r.json()["predictions"]
    assert [row["labels"] for row in rows] == [["bright"], ["dark"]]
    assert [row["scores"] for row in rows] == [[1.0], [0.0]]
    assert base64.b64decode(rows[0]["thumb_bytes"]["b64"]).startswith(b"\x89PNG")
    r = http.post("/v1/models/half:predict", json={"signature_name": "echo", "inputs": {"text": ["ab"]}})
    assert r.json() == {"outputs": {"upper": ["AB"], "length": [2]}} or r.json() == {
        "outputs": {"length": [2], "upper": ["AB"]}
    }


def test_float_formatting_on_the_wire(http: httpx.Client) -> None:
    r = http.post("/v1/models/half/versions/1:predict", json={"inputs": [[17999996.0], [-4.0]]})
    assert r.text == '{"outputs": [[9e+06], [0.0]]}'


def test_gzip_body(http: httpx.Client) -> None:
    body = gzip.compress(json.dumps({"instances": [[2.0]]}).encode())
    r = http.post("/v1/models/half/versions/1:predict", content=body, headers={"Content-Encoding": "gzip"})
    assert r.json() == {"predictions": [[3.0]]}


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "message"),
    [
        (
            "POST",
            "/v1/models/foo:predict",
            {"instances": [1]},
            404,
            "Servable not found for request: Latest(foo)",
        ),
        (
            "POST",
            "/v1/models/half/versions/50:predict",
            {"instances": [1]},
            404,
            "Servable not found for request: Specific(half, 50)",
        ),
        (
            "POST",
            "/v1/models/half/labels/nope:predict",
            {"instances": [1]},
            400,
            "Unrecognized servable version label: nope",
        ),
        ("POST", "/v1/models/half:predict", b"", 400, "JSON Parse error: The document is empty"),
        ("POST", "/v1/models/foo:predict", b"{x", 400, "JSON Parse error"),
        (
            "POST",
            "/v1/models/half:predict",
            {"signature_name": "s", "instances": [1]},
            400,
            'Serving signature name: "s" not found in signature def',
        ),
        (
            "POST",
            "/v1/models/half:predict",
            {"signature_name": 3, "instances": [1]},
            400,
            "must be a string value",
        ),
        ("POST", "/v1/models/half:predict", {"instances": [{"z": 1}]}, 400, "does not have named input: z"),
        (
            "POST",
            "/v1/models/half:predict",
            {"inputs": {"z": 1}},
            400,
            "Missing named input: x in 'inputs' object.",
        ),
        ("POST", "/v1/models/half:predict", {"instances": [["x"]]}, 400, 'JSON Value: "x" Type: String'),
        ("POST", "/v1/models/half:predict", {"instances": [[1.0, 2.0], [1.0]]}, 400, "Expecting tensor size"),
        ("POST", "/v1/models/half:predict", {"instances": [2.0]}, 400, "incompatible shape"),
        ("POST", "/v1/models/image:predict", {"instances": [{"b64": "@@@"}]}, 400, "Unable to base64 decode"),
        ("POST", "/v1/models/image:predict", {"instances": ["not a png"]}, 400, ""),
        (
            "POST",
            "/v1/models/half:PREDICT",
            {"instances": [1]},
            400,
            "Malformed request: POST /v1/models/half:PREDICT",
        ),
        ("GET", "/v1/models/half:predict", None, 400, "Malformed request"),
        ("PUT", "/v1/models/half", b"{}", 400, "Malformed request: PUT"),
        ("GET", "/v1/models", None, 400, "Missing model name in request."),
        ("GET", "/v1/models/foo", None, 404, "Could not find any versions of model foo"),
        ("GET", "/v1/models/half/versions/99", None, 404, "Could not find version 99 of model half"),
        ("GET", "/v1/models/foo/metadata", None, 404, "Servable not found for request: Latest(foo)"),
        ("POST", "/v1/models/half:classify", {"examples": [{}]}, 400, "No classification inputs found"),
    ],
)
def test_errors_are_clean_json(
    http: httpx.Client, method: str, path: str, body: object, status: int, message: str
) -> None:
    kwargs = {"content": body} if isinstance(body, bytes) else {"json": body} if body is not None else {}
    r = http.request(method, path, **kwargs)
    assert r.status_code == status
    assert r.headers["content-type"] == "application/json"
    assert message in r.json()["error"]


def test_paths_outside_v1_are_404(http: httpx.Client) -> None:
    assert http.get("/").status_code == 404
    assert http.post("/v2/models/half:predict", json={}).status_code == 404
    assert http.post("/V1/MODELS/half/versions/1:predict", json={"instances": [[2.0]]}).json() == {
        "predictions": [[3.0]]
    }


def test_cors_preflight(http: httpx.Client) -> None:
    assert http.options("/v1/models/half", headers={"Origin": "https://example.com"}).status_code == 200
    assert http.options("/v1/models/half").status_code == 400


def test_status(http: httpx.Client) -> None:
    ok = {"error_code": "OK", "error_message": ""}
    assert http.get("/v1/models/half").json() == {
        "model_version_status": [
            {"version": "2", "state": "AVAILABLE", "status": ok},
            {"version": "1", "state": "AVAILABLE", "status": ok},
        ]
    }
    assert http.get("/v1/models/half/versions/1").json()["model_version_status"] == [
        {"version": "1", "state": "AVAILABLE", "status": ok}
    ]


def test_metadata(http: httpx.Client) -> None:
    doc = http.get("/v1/models/image/metadata").json()
    assert doc["model_spec"] == {"name": "image", "signature_name": "", "version": "1"}
    sig = doc["metadata"]["signature_def"]["signature_def"]["serving_default"]
    assert sig["inputs"]["image_bytes"]["dtype"] == "DT_STRING"
    assert sig["inputs"]["image_bytes"]["tensor_shape"] == {
        "dim": [{"size": "-1", "name": ""}],
        "unknown_rank": False,
    }
    assert sorted(sig["outputs"]) == ["labels", "scores", "thumb_bytes"]
    assert sig["method_name"] == "tensorflow/serving/predict"
    versioned = http.get("/v1/models/half/versions/1/metadata").json()
    assert versioned["model_spec"]["version"] == "1"


def test_classify_and_regress(http: httpx.Client) -> None:
    body = {"signature_name": "classify", "examples": [{"x": 2.0}, {"x": 10.0}]}
    r = http.post("/v1/models/scorer:classify", json=body)
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    assert r.json() == {
        "results": [[["x", 2.0], ["half_plus_two", 3.0]], [["x", 10.0], ["half_plus_two", 7.0]]]
    }
    body = {"signature_name": "regress_sum", "context": {"x": 1.0, "x2": 10.0}, "examples": [{"x": 5.0}, {}]}
    assert http.post("/v1/models/scorer/versions/7:regress", json=body).json() == {"results": [15.0, 11.0]}


@pytest.mark.parametrize(
    ("path", "body", "status", "message"),
    [
        ("/v1/models/scorer:classify", {"examples": [{"x": 1.0}]}, 400, "No classification inputs found"),
        ("/v1/models/scorer:regress", {"examples": [{"x": 1.0}]}, 400, "No regression inputs found"),
        (
            "/v1/models/scorer:regress",
            {"signature_name": "nope", "examples": [{"x": 1.0}]},
            400,
            "No signature was found with the name: nope",
        ),
        ("/v1/models/scorer:regress", {"signature_name": "regress"}, 400, "key 'examples' is expected"),
        # An integer becomes an int64 feature: the model's parse op rejects it (send 2.0).
        (
            "/v1/models/scorer:regress",
            {"signature_name": "regress", "examples": [{"x": 2}]},
            400,
            "Data types don't match",
        ),
        (
            "/v1/models/foo:classify",
            {"examples": [{"x": 1.0}]},
            404,
            "Servable not found for request: Latest(foo)",
        ),
        # The whole body is decoded before the servable is resolved.
        ("/v1/models/foo:classify", {"examples": []}, 400, "'examples' value is an empty array"),
    ],
)
def test_classify_regress_errors(
    http: httpx.Client, path: str, body: dict, status: int, message: str
) -> None:
    r = http.post(path, json=body)
    assert r.status_code == status
    assert message in r.json()["error"]


def test_version_labels_select_versions(http: httpx.Client) -> None:
    r = http.post("/v1/models/half/labels/canary:predict", json={"instances": [[2.0]]})
    assert r.json() == {"predictions": [[4.0]]}  # version 2: 0.5x + 3
    assert http.get("/v1/models/half/labels/stable/metadata").json()["model_spec"]["version"] == "1"
    r = http.get("/v1/models/half/labels/nope/metadata")
    assert r.status_code == 400 and "Unrecognized servable version label: nope" in r.json()["error"]


@pytest.mark.shared_data
def test_half_plus_two_answers(shared_server: ModelServer, testdata: Path) -> None:
    with httpx.Client(base_url=f"http://127.0.0.1:{shared_server.rest_port}", timeout=30) as client:
        assert client.post("/v1/models/default:predict", json={"instances": [2.0, 3.0, 4.0]}).json() == {
            "predictions": [3.0, 3.5, 4.0]
        }
        r = client.post("/v1/models/default:predict", json={"inputs": {"x": [[1, 2], [3, 4]]}})
        assert r.json() == {"outputs": [[2.5, 3.0], [3.5, 4.0]]}
        r = client.post(
            "/v1/models/default:predict", json={"signature_name": "regress_x2_to_y3", "instances": [2.0]}
        )
        assert r.json() == {"predictions": [4.0]}
        expected = json.loads((testdata / "half_plus_two_model_metadata.json").read_text())
        assert client.get("/v1/models/default/metadata").json() == expected
        assert (
            client.get("/v1/models/default/versions/123").json()["model_version_status"][0]["version"]
            == "123"
        )


def test_rest_socket_disables_nagle(model_server: ModelServer) -> None:
    # Accepted connections inherit TCP_NODELAY from the listening socket (Linux); without it a
    # keep-alive client waits for a delayed ACK on every response (+40 ms per request).
    import socket

    assert model_server._rest_socket.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1

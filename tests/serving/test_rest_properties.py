"""Property-based tests of the REST API and the JSON/TensorProto codec (spec §1.3–1.6).

Server properties: whatever a client sends (arbitrary JSON, broken JSON, lying gzip headers, odd
paths and methods), the server answers with a status < 500 unless the spec asks for a 5xx (501
unsupported dtype, 504 timeout), every 4xx under `/v1/` is a JSON `{"error": "<text>"}`, and a valid
predict still answers correctly afterwards. Codec properties: tensors survive
`encode_predict_response` → JSON → `decode_predict_inputs` (row and columnar) and TensorProto
round trips unchanged.
"""

from __future__ import annotations

import base64
import gzip
import json
import math
from collections.abc import Iterator
from typing import Any

import httpx
import numpy as np
import pytest
import tensorflow as tf
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from tfapps.serving import codec
from tfapps.serving.runtime import TensorInfo
from tfapps.serving.server import ModelServer

pytestmark = pytest.mark.serving


def _server_settings(max_examples: int) -> settings:
    # Module-scoped server and client; bounded example counts keep the file well under a minute.
    return settings(
        max_examples=max_examples,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


_SPEC_5XX = {501, 504}  # UNIMPLEMENTED (dtype without a JSON form), DEADLINE_EXCEEDED
_VALID = ("/v1/models/half/versions/1:predict", {"instances": [[2.0]]}, {"predictions": [[3.0]]})


class _Probe:
    """Sends requests to the module's server and checks the per-response properties."""

    def __init__(self, client: httpx.Client):
        self.client = client
        self.sent = 0

    def send(
        self,
        method: str,
        target: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        # `target` goes on the request line verbatim (no dot-segment or percent normalisation).
        request = self.client.build_request(method, "/", content=body, headers=headers)
        request.extensions["target"] = target.encode("ascii")
        response = self.client.send(request)
        self.sent += 1
        check_response(method, target, response)
        if self.sent % 100 == 0:
            self.assert_alive()
        return response

    def assert_alive(self) -> None:
        path, body, expected = _VALID
        response = self.client.post(path, json=body)
        assert response.status_code == 200, response.text
        assert response.json() == expected


# Methods the HTTP parser (httptools/llhttp, like upstream's libevent) knows; any other request line
# is refused by the parser itself with a bare 400 before it reaches the API.
_PARSED_METHODS = {"GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD", "TRACE"}


def check_response(method: str, target: str, response: httpx.Response) -> None:
    status = response.status_code
    event(f"HTTP {status}")  # shown by --hypothesis-show-statistics
    assert status < 500 or status in _SPEC_5XX, f"{method} {target[:200]} → {status}: {response.text[:500]}"
    if (
        method not in _PARSED_METHODS
        and status == 400
        and "json" not in response.headers.get("content-type", "")
    ):
        return  # refused by the HTTP parser (unknown or lower-case method)
    under_v1 = target.lower().startswith("/v1/")
    # OPTIONS answers a bare 400 (spec §1.1.4) and HEAD responses carry no body.
    if under_v1 and 400 <= status < 600 and method not in ("OPTIONS", "HEAD"):
        assert response.headers["content-type"] == "application/json", (target[:200], response.text[:200])
        doc = json.loads(response.text)
        assert isinstance(doc, dict) and isinstance(doc.get("error"), str), response.text[:200]
    if status == 200 and method == "POST":
        json.loads(response.text)  # NaN/Infinity tokens are allowed (spec §1.6)


@pytest.fixture(scope="module")
def probe(model_server: ModelServer) -> Iterator[_Probe]:
    with httpx.Client(base_url=f"http://127.0.0.1:{model_server.rest_port}", timeout=60) as client:
        p = _Probe(client)
        p.assert_alive()
        yield p
        p.assert_alive()


# ------------------------------------------------------------------------------ strategies

_HUGE = 10**400  # for explicit examples
scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    # Beyond int64/uint64 up to ~1e400 (built by map: a 400-digit bound would bloat the strategy repr).
    | st.tuples(st.integers(19, 400), st.sampled_from([1, -1])).map(lambda t: t[1] * 10 ** t[0] - t[1])
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=8)
    | st.text(st.characters(categories=["Cs", "Ll"]), max_size=3)  # lone surrogates via \\udXXX escapes
)


def _b64_objects() -> st.SearchStrategy[Any]:
    valid = st.binary(max_size=24).map(lambda b: base64.b64encode(b).decode())
    invalid = st.text(alphabet="AZaz09+/=-_@ \n", max_size=12)
    return st.fixed_dictionaries({"b64": valid | invalid | scalars})


json_values = st.recursive(
    scalars | _b64_objects(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4)
    ),
    max_leaves=16,
)

# Uniformly shaped nested lists of one scalar kind: these get past shape inference to dtype checks
# and to the model itself.
tensorish = st.sampled_from(
    [
        st.floats(allow_nan=True, allow_infinity=True, width=32),
        st.integers(min_value=-(2**64), max_value=2**64),
        st.booleans(),
        st.text(max_size=6),
        _b64_objects(),
    ]
).flatmap(
    lambda leaf: st.integers(0, 3).flatmap(
        lambda rank: st.lists(st.integers(1, 3), min_size=rank, max_size=rank).flatmap(
            lambda shape: _nested(leaf, shape)
        )
    )
)


def _nested(leaf: st.SearchStrategy[Any], shape: list[int]) -> st.SearchStrategy[Any]:
    if not shape:
        return leaf
    return st.lists(_nested(leaf, shape[1:]), min_size=shape[0], max_size=shape[0])


signature_names = st.sampled_from(["", "serving_default", "echo", "typed", "nope", "regress"]) | json_values
input_aliases = st.sampled_from(["x", "text", "n", "flag", "image_bytes", "inputs", "z", "b64"])
input_values = tensorish | json_values

predict_bodies = st.fixed_dictionaries(
    {},
    optional={
        "instances": st.lists(input_values | st.dictionaries(input_aliases, input_values), max_size=3)
        | json_values,
        "inputs": input_values | st.dictionaries(input_aliases, input_values, max_size=3),
        "signature_name": signature_names,
        "examples": st.lists(st.dictionaries(st.sampled_from(["x", "x2", "y"]), input_values), max_size=3),
        "context": json_values,
        "extra": json_values,
    },
)

# Bodies shaped like real requests for each signature, so that many reach the model and answer 200.
_floats32 = st.floats(width=32, allow_nan=True, allow_infinity=True)
_texts = st.text(max_size=6) | _b64_objects()
plausible_bodies = st.one_of(
    st.fixed_dictionaries(
        {"instances": st.lists(st.lists(_floats32, min_size=1, max_size=1), min_size=1, max_size=3)}
    ),
    st.fixed_dictionaries(
        {
            "inputs": st.fixed_dictionaries(
                {"x": st.lists(st.lists(_floats32, min_size=1, max_size=2), min_size=1, max_size=3)}
            )
        }
    ),
    st.fixed_dictionaries(
        {"signature_name": st.just("echo"), "inputs": st.lists(_texts, min_size=1, max_size=3)}
    ),
    st.fixed_dictionaries(
        {"signature_name": st.just("echo"), "instances": st.lists(_texts, min_size=1, max_size=3)}
    ),
    st.integers(1, 3).flatmap(
        lambda n: st.fixed_dictionaries(
            {
                "signature_name": st.just("typed"),
                "inputs": st.fixed_dictionaries(
                    {
                        "n": st.lists(st.integers(-(2**64), 2**64) | st.booleans(), min_size=n, max_size=n),
                        "flag": st.lists(st.booleans() | st.integers(0, 1), min_size=n, max_size=n),
                    }
                ),
            }
        )
    ),
    st.fixed_dictionaries(
        {
            "examples": st.lists(
                st.fixed_dictionaries({"x": _floats32 | st.lists(_floats32, max_size=2)}),
                min_size=1,
                max_size=3,
            )
        }
    ),
)

model_targets = st.sampled_from(
    [
        "/v1/models/half",
        "/v1/models/half/versions/1",
        "/v1/models/half/versions/2",
        "/v1/models/half/labels/stable",
        "/v1/models/image",
        "/v1/models/scorer",
        "/v1/models/scorer/versions/7",
        "/v1/models/nope",
    ]
)
verbs = st.sampled_from([":predict", ":classify", ":regress"])


def _encode(doc: Any) -> bytes:
    return json.dumps(doc).encode()  # NaN/Infinity become bare tokens, as clients of TF Serving send


def _post_json(probe: _Probe, target: str, body: bytes, headers: dict[str, str] | None = None) -> None:
    probe.send("POST", target, body, headers)


# ------------------------------------------------------------------------------ server properties


@_server_settings(1200)
@given(target=model_targets, verb=verbs, doc=predict_bodies | plausible_bodies)
@example(target="/v1/models/half", verb=":predict", doc={"inputs": [[_HUGE]]})  # float(huge int)
@example(target="/v1/models/scorer", verb=":regress", doc={"examples": [{"x": -_HUGE}]})
@example(target="/v1/models/half", verb=":predict", doc={"signature_name": "echo", "inputs": ["\ud800"]})
@example(target="/v1/models/scorer", verb=":classify", doc={"examples": [{"x": "\udfff"}]})
@example(target="/v1/models/half", verb=":predict", doc={"signature_name": "typed", "inputs": {"n": [1]}})
def test_predict_bodies_never_5xx(probe: _Probe, target: str, verb: str, doc: dict[str, Any]) -> None:
    _post_json(probe, target + verb, _encode(doc))


@_server_settings(600)
@given(doc=json_values, target=model_targets, verb=verbs)
def test_arbitrary_json_documents(probe: _Probe, doc: Any, target: str, verb: str) -> None:
    _post_json(probe, target + verb, _encode(doc))


@_server_settings(150)
@given(
    depth=st.integers(1, 1500),
    leaf=st.sampled_from(["1", "[]", '{"b64": "AA=="}', '"s"', "NaN", "{}"]),
    where=st.sampled_from(
        [
            '{{"inputs": {0}}}',
            '{{"instances": {0}}}',
            '{{"instances": [[1.0], {0}]}}',
            '{{"extra": {0}, "inputs": [[1.0]]}}',
            '{{"inputs": {{"x": {0}}}}}',
            '{{"signature_name": {0}, "inputs": [[1.0]]}}',
            '{{"instances": [{{"n": {0}}}], "signature_name": "typed"}}',
            '{{"examples": [{{"x": {0}}}]}}',
        ]
    ),
    target=model_targets,
    verb=verbs,
)
@example(
    depth=900, leaf="1", where='{{"inputs": {0}}}', target="/v1/models/half", verb=":predict"
)  # rank > 64
@example(
    depth=980,
    leaf="1",
    where='{{"instances": [{{"n": {0}}}], "signature_name": "typed"}}',
    target="/v1/models/half",
    verb=":predict",
)
def test_deeply_nested_lists(
    probe: _Probe, depth: int, leaf: str, where: str, target: str, verb: str
) -> None:
    nested = "[" * depth + leaf + "]" * depth
    _post_json(probe, target + verb, where.format(nested).encode())


_RAW_NUMBERS = (
    st.sampled_from(["NaN", "-NaN", "Infinity", "-Infinity", "1e400", "-1e400", "1e-400", "-0", "0.0"])
    | (st.integers(1, 6000).map(lambda n: "9" * n))
    | st.integers(1, 400).map(lambda n: "-1" + "0" * n)
)


@_server_settings(300)
@given(
    number=_RAW_NUMBERS,
    template=st.sampled_from(
        [
            '{{"inputs": [[{0}]]}}',
            '{{"instances": [{0}]}}',
            '{{"signature_name": "typed", "inputs": {{"n": [{0}], "flag": [true]}}}}',
            '{{"signature_name": "typed", "instances": [{{"n": {0}, "flag": false}}]}}',
            '{{"examples": [{{"x": {0}}}]}}',
            '{{"examples": [{{"x": [1, {0}]}}]}}',
            '{{"inputs": [[1.0]], "extra": {0}}}',
            '{{"signature_name": {0}, "inputs": [[1.0]]}}',
        ]
    ),
    target=model_targets,
    verb=verbs,
)
@example(number="9" * 5000, template='{{"inputs": [[{0}]]}}', target="/v1/models/half", verb=":predict")
def test_raw_number_tokens(probe: _Probe, number: str, template: str, target: str, verb: str) -> None:
    _post_json(probe, target + verb, template.format(number).encode())


@_server_settings(600)
@given(
    body=st.binary(max_size=64)
    | st.text(max_size=32).map(str.encode)
    | predict_bodies.map(_encode).flatmap(
        lambda b: st.sampled_from([b, b[: len(b) // 2], b + b"x", b.replace(b'"', b"'"), b"\xef\xbb\xbf" + b])
    )
    | st.sampled_from(
        [b"", b" ", b"null", b"[]", b'"s"', b"{}", "{}".encode("utf-16"), b'{"inputs": "\xed\xa0\x80"}']
    ),
    encoding=st.sampled_from(
        ["none", "claim", "gzip", "gzip-truncated", "gzip-twice", "gzip-padded", "deflate"]
    ),
    target=model_targets,
    verb=verbs,
)
def test_raw_bodies_and_content_encoding(
    probe: _Probe, body: bytes, encoding: str, target: str, verb: str
) -> None:
    headers = {}
    if encoding != "none":
        headers["Content-Encoding"] = "deflate" if encoding == "deflate" else "gzip"
    if encoding == "gzip":
        body = gzip.compress(body)
    elif encoding == "gzip-truncated":
        body = gzip.compress(body)[:-5]
    elif encoding == "gzip-twice":
        body = gzip.compress(body) + gzip.compress(body)
    elif encoding == "gzip-padded":
        body = gzip.compress(body) + b"\x00" * 8 + b"junk"
    _post_json(probe, target + verb, body, headers)


_PATH_PIECES = st.sampled_from(
    [
        "half",
        "image",
        "scorer",
        "nope",
        "models",
        "v1",
        "versions",
        "labels",
        "metadata",
        "METADATA",
        "1",
        "2",
        "7",
        "99999999999999999999",
        "-1",
        "stable",
        "canary",
        ":",
        "::",
        "/",
        "//",
        ".",
        "..",
        "%2F",
        "%2f",
        "%3A",
        "%25",
        "%",
        "%zz",
        "%00",
        "%FF",
        "%C3%A9",
        "%ED%A0%80",
        "+",
        "?",
        "?x=1",
        "#",
        ":predict",
        ":PREDICT",
        ":classify",
        ":regress",
        ":metadata",
        "~",
        "!",
        "'",
        "*",
        "(",
        ")",
        ";",
        "@",
        "$",
        ",",
        "=",
        "&",
        "[",
        "]",
    ]
)
_PATHS = (
    st.lists(_PATH_PIECES, max_size=10).map("".join)
    | st.text(alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), max_size=40)
    | st.integers(100, 3000).map(lambda n: "a" * n)
    | st.integers(19, 5000).map(lambda n: "half/versions/" + "9" * n)
)


@_server_settings(1200)
@given(
    prefix=st.sampled_from(
        ["/v1/models/", "/V1/MODELS/", "/v1/", "/v1/models", "/", "/v2/models/", "/v1/models/half/"]
    ),
    path=_PATHS,
    suffix=st.sampled_from(["", ":predict", "/metadata", ":classify", ":regress", "/"]),
    method=st.sampled_from(
        ["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD", "TRACE", "post", "get"]
    )
    | st.from_regex(r"\A[A-Z]{1,12}\Z"),
    body=st.sampled_from([None, b"", b'{"instances": [[1.0]]}', b'{"inputs": {"text": ["a"]}}', b"{x"]),
    origin=st.sampled_from([None, "https://example.com", "ftp://x", "http://"]),
)
@example(
    prefix="/v1/models/",
    path="half/versions/" + "9" * 5000,
    suffix=":predict",
    method="POST",
    body=b'{"instances": [[1.0]]}',
    origin=None,
)  # int() digit limit → must be 400
@example(prefix="/v1/models/", path="half", suffix="", method="FOO", body=None, origin=None)  # parser's 400
def test_paths_and_methods(
    probe: _Probe, prefix: str, path: str, suffix: str, method: str, body: bytes | None, origin: str | None
) -> None:
    headers = {"Origin": origin} if origin else {}
    probe.send(method, prefix + path + suffix, body, headers)


def test_server_still_serves_after_the_fuzzing(probe: _Probe) -> None:
    probe.assert_alive()
    r = probe.client.post(
        "/v1/models/half/versions/1:predict",
        json={"signature_name": "typed", "inputs": {"n": [3, -4], "flag": [True, False]}},
    )
    assert r.status_code == 200
    assert r.json()["outputs"] == {"doubled": [6, -8], "negated": [False, True], "half": [1.5, -2.0]}


# ------------------------------------------------------------------------------ codec properties

_DTYPES = [
    np.float32,
    np.float64,
    np.int8,
    np.int16,
    np.int32,
    np.int64,
    np.uint8,
    np.uint32,
    np.uint64,
    np.bool_,
]


def _spec(alias: str, dtype: Any) -> dict[str, TensorInfo]:
    enum = tf.string.as_datatype_enum if dtype is bytes else tf.dtypes.as_dtype(dtype).as_datatype_enum
    return {alias: TensorInfo(alias, f"{alias}:0", enum, None)}


@st.composite
def arrays(draw: st.DrawFn, min_rank: int) -> tuple[str, np.ndarray, Any]:
    """(alias, array, dtype key): numeric/bool arrays, or bytes arrays under a `_bytes` alias and
    UTF-8 text arrays under a plain alias. Every dimension ≥ 1 (an empty list carries no shape)."""
    shape = draw(hnp.array_shapes(min_dims=min_rank, max_dims=4, min_side=1, max_side=3))
    kind = draw(st.sampled_from([*_DTYPES, "bytes", "text"]))
    if kind == "bytes":
        values = draw(st.lists(st.binary(max_size=8), min_size=math.prod(shape), max_size=math.prod(shape)))
        return "out_bytes", np.array(values, dtype=object).reshape(shape), bytes
    if kind == "text":
        values = draw(
            st.lists(
                st.text(alphabet=st.characters(exclude_categories=["Cs"]), max_size=8),
                min_size=math.prod(shape),
                max_size=math.prod(shape),
            )
        )
        encoded = np.empty(len(values), dtype=object)
        encoded[:] = [v.encode("utf-8") for v in values]
        return "text", encoded.reshape(shape), bytes
    return "y", draw(hnp.arrays(kind, shape)), kind


def _assert_same(decoded: np.ndarray, original: np.ndarray) -> None:
    assert decoded.shape == original.shape
    if original.dtype == object:
        assert decoded.dtype == object and decoded.tolist() == original.tolist()
        return
    assert decoded.dtype == original.dtype
    np.testing.assert_array_equal(decoded, original)  # NaN == NaN here
    if original.dtype.kind == "f":
        finite = ~np.isnan(original)  # NaN is written as the bare token `NaN`, without a sign
        assert (np.signbit(decoded[finite]) == np.signbit(original[finite])).all()  # -0.0 stays -0.0


@settings(max_examples=1500, deadline=None)
@given(arrays(min_rank=1), st.booleans())
@example(("y", np.array([[17999996.0, 1435774336.0, 0.1, -0.0, 1e-45]], np.float32), np.float32), True)
@example(("y", np.array([np.nan, np.inf, -np.inf, 5e-324], np.float64), np.float64), False)
@example(("y", np.array([2**64 - 1, 0], np.uint64), np.uint64), True)
def test_codec_json_round_trip(case: tuple[str, np.ndarray, Any], row_format: bool) -> None:
    alias, array, dtype = case
    text = codec.encode_predict_response({alias: array}, row_format)
    doc = codec.parse_json_body(text.encode())
    request = {"instances": doc["predictions"]} if row_format else {"inputs": doc["outputs"]}
    decoded, decoded_row = codec.decode_predict_inputs(request, _spec(alias, dtype))
    assert decoded_row is row_format
    _assert_same(decoded[alias], array)


@settings(max_examples=500, deadline=None)
@given(arrays(min_rank=0))
def test_codec_json_round_trip_columnar_scalars(case: tuple[str, np.ndarray, Any]) -> None:
    alias, array, dtype = case
    array = array.reshape(-1)[:1].reshape(())
    text = codec.encode_predict_response({alias: array}, row_format=False)
    request = {"inputs": codec.parse_json_body(text.encode())["outputs"]}
    decoded, _ = codec.decode_predict_inputs(request, _spec(alias, dtype))
    _assert_same(decoded[alias], array)


@settings(max_examples=3000, deadline=None)
@given(st.floats(width=32, allow_nan=True, allow_infinity=True))
@example(717887168.0)
@example(555557.5)
@example(1.4e-45)
def test_float32_text_parses_back_identically(value: float) -> None:
    text = codec.format_float(float(np.float32(value)))
    if math.isnan(value):
        assert text == "NaN"
        return
    assert text in ("Infinity", "-Infinity") or "." in text or "e" in text
    parsed = np.float32(json.loads(text))
    assert parsed.tobytes() == np.float32(value).tobytes()


@settings(max_examples=3000, deadline=None)
@given(st.floats(allow_nan=False, allow_infinity=True))
def test_float64_text_parses_back_identically(value: float) -> None:
    assert json.loads(codec.format_float(value, double=True)) == value
    assert math.copysign(1, json.loads(codec.format_float(value, double=True))) == math.copysign(1, value)


@settings(max_examples=1000, deadline=None)
@given(
    st.tuples(st.lists(st.floats(width=32), max_size=40), st.just(False))
    | st.tuples(st.lists(st.floats(), max_size=40), st.just(True))
)
def test_vectorised_float_formatting_equals_the_scalar_one(case: tuple[list[float], bool]) -> None:
    values, double = case
    array = np.array(values, np.float64 if double else np.float32)
    got = codec.format_floats(array, double=double).tolist()
    assert got == [codec.format_float(float(v), double=double) for v in array.tolist()]
    # Past 64 numbers a numpy pass formats them instead of a Python loop: the same texts.
    if values:
        many = np.resize(array, (3, 40))
        texts = codec.format_floats(many, double=double)
        assert texts.shape == (3, 40)
        assert texts.reshape(-1).tolist() == (got * 120)[:120]


@settings(max_examples=800, deadline=None)
@given(arrays(min_rank=0))
def test_tensor_proto_round_trip(case: tuple[str, np.ndarray, Any]) -> None:
    _, array, _ = case
    _assert_same(codec.tensor_proto_to_ndarray(codec.ndarray_to_tensor_proto(array)), array)

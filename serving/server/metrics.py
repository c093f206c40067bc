"""Prometheus metrics for the embedded server, named like TF Serving's.

TF Serving exports its monitoring metrics at `--monitoring_config_file`'s
`prometheus_config.path` (default `/monitoring/prometheus/metrics`) with every character outside
`[a-zA-Z0-9_]` turned into `:`, so `/tensorflow/serving/request_count` is scraped as
`:tensorflow:serving:request_count`. Dashboards written for TF Serving therefore work here.

Metrics (µs = microseconds, like upstream):

| name | type | labels | upstream |
| --- | --- | --- | --- |
| `:tensorflow:serving:request_count` | counter | model_name, status | same |
| `:tensorflow:serving:request_latency` | histogram (µs) | model_name, API, entrypoint | same |
| `:tensorflow:serving:runtime_latency` | histogram (µs) | model_name, API, runtime | same |
| `:tensorflow:serving:batching_session:queuing_latency` | histogram (µs) | model_name, version | same name (upstream label: thread_pool_name) |
| `:tensorflow:serving:batching_session:wrapped_run_count` | counter | model_name, version | same name (upstream: no labels) |
| `:tensorflow:serving:batching_session:batch_size` | histogram (rows) | model_name, version | tfapps (upstream: `/tensorflow/serving/batching/processed_batch_size`) |
| `:tensorflow:serving:batching_session:padding_size` | histogram (rows) | model_name, version | tfapps (upstream: `/tensorflow/serving/batching/padding_size`) |
| `:tensorflow:serving:batching_session:queue_depth` | gauge (batches) | model_name, version | tfapps |
| `:tfapps:serving:request_count` | counter | model_name, version, API, entrypoint, status | tfapps |
| `:tfapps:serving:model_load_latency` | histogram (µs) | model_name, version, status | tfapps |

API is `predict|classify|regress` for REST and `Predict|Classify|Regress|...` for gRPC; entrypoint
is `REST` or `GRPC`; status is the canonical code name (`OK`, `NOT_FOUND`, ...).

Counters are written without prometheus_client's `_total` suffix and without `_created` samples,
as TF Serving writes them; the page is Prometheus text format 0.0.4.

Example::

    metrics = ServingMetrics()
    metrics.record_request("half", 1, "predict", "REST", "OK", 0.0012)
    body = metrics.render()      # serve with CONTENT_TYPE
"""

from __future__ import annotations

import dataclasses
import functools
import logging
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.utils import floatToGoString

from tfapps.apps.errors import InvalidArgumentError
from tfapps.serving.server.textproto import parse_text_proto

logger = logging.getLogger(__name__)

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
DEFAULT_PROMETHEUS_PATH = "/monitoring/prometheus/metrics"

# TF Serving's latency buckets: monitoring::Buckets::Exponential(10, 1.8, 33), in microseconds.
_MAX_MEMOISED_SERIES = 4096
LATENCY_BUCKETS_US = tuple(float(f"{10 * 1.8**i:.6g}") for i in range(33))
BATCH_SIZE_BUCKETS = tuple(float(2**i) for i in range(17))


class ServingMetrics:
    """The server's metrics, on a private `CollectorRegistry` (one per server, no global state).

    Args:
        registry: where to register the metrics; default a new private registry.
    """

    def __init__(self, registry: CollectorRegistry | None = None):
        self.registry = registry or CollectorRegistry(auto_describe=True)
        self._children: dict[tuple[int, tuple[str, ...]], Any] = {}
        r = self.registry
        self._request_count = Counter(
            ":tensorflow:serving:request_count",
            "The total number of requests.",
            ["model_name", "status"],
            registry=r,
        )
        self._request_latency = Histogram(
            ":tensorflow:serving:request_latency",
            "Distribution of wall time (in microseconds) for Tensorflow Serving request.",
            ["model_name", "API", "entrypoint"],
            buckets=LATENCY_BUCKETS_US,
            registry=r,
        )
        self._runtime_latency = Histogram(
            ":tensorflow:serving:runtime_latency",
            "Distribution of wall time (in microseconds) for Tensorflow runtime.",
            ["model_name", "API", "runtime"],
            buckets=LATENCY_BUCKETS_US,
            registry=r,
        )
        self._queuing_latency = Histogram(
            ":tensorflow:serving:batching_session:queuing_latency",
            "Distribution of wall time (in microseconds) a request spent in the batching queue.",
            ["model_name", "version"],
            buckets=LATENCY_BUCKETS_US,
            registry=r,
        )
        self._wrapped_run_count = Counter(
            ":tensorflow:serving:batching_session:wrapped_run_count",
            "The number of batches run by the batching queues.",
            ["model_name", "version"],
            registry=r,
        )
        self._batch_size = Histogram(
            ":tensorflow:serving:batching_session:batch_size",
            "Distribution of real rows per executed batch (before padding).",
            ["model_name", "version"],
            buckets=BATCH_SIZE_BUCKETS,
            registry=r,
        )
        self._padding_size = Histogram(
            ":tensorflow:serving:batching_session:padding_size",
            "Distribution of padding rows added per executed batch to reach an allowed batch size.",
            ["model_name", "version"],
            buckets=(0.0, *BATCH_SIZE_BUCKETS),
            registry=r,
        )
        self._queue_depth = Gauge(
            ":tensorflow:serving:batching_session:queue_depth",
            "Batches waiting in a model version's batching queue.",
            ["model_name", "version"],
            registry=r,
        )
        self._version_request_count = Counter(
            ":tfapps:serving:request_count",
            "Requests per model version, API, entrypoint and status.",
            ["model_name", "version", "API", "entrypoint", "status"],
            registry=r,
        )
        self._load_latency = Histogram(
            ":tfapps:serving:model_load_latency",
            "Distribution of wall time (in microseconds) to load and warm up a model version.",
            ["model_name", "version", "status"],
            buckets=LATENCY_BUCKETS_US,
            registry=r,
        )

    def record_request(
        self,
        model: str,
        version: int | None,
        api: str,
        entrypoint: str,
        status: str,
        seconds: float,
    ) -> None:
        """Counts one finished request and records its latency.

        Args:
            model: the requested model name (as sent, even if unknown).
            version: the version that served it; None when it was never resolved (counted as "").
            api: `predict|classify|regress` (REST) or `Predict|Classify|Regress|...` (gRPC).
            entrypoint: `REST` or `GRPC`.
            status: canonical code name, `OK` on success.
            seconds: wall time of the whole request.
        """
        version_label = _version(version)
        self._child(self._request_count, (model, status)).inc()
        self._child(self._request_latency, (model, api, entrypoint)).observe(seconds * 1e6)
        self._child(self._version_request_count, (model, version_label, api, entrypoint, status)).inc()

    def record_runtime(self, model: str, api: str, seconds: float, runtime: str = "TF2") -> None:
        """Records the time spent running the model itself (no decoding, no queuing).

        Args:
            model: model name.
            api: as in `record_request`.
            seconds: wall time of the signature run.
            runtime: the runtime label (TF Serving uses e.g. `TF1`; ours runs TF2 functions).
        """
        self._child(self._runtime_latency, (model, api, runtime)).observe(seconds * 1e6)

    def _child(self, metric: Any, labels: tuple[str, ...]) -> Any:
        """`metric.labels(*labels)`, memoised: prometheus_client validates and locks on every
        `labels()` call, a noticeable share of a request's own cost on the hot path. The memo is
        bounded (request-supplied model names are not) and the registry keeps the series anyway."""
        key = (id(metric), labels)
        child = self._children.get(key)
        if child is None:
            child = metric.labels(*labels)
            if len(self._children) < _MAX_MEMOISED_SERIES:
                self._children[key] = child
        return child

    def record_batch(
        self,
        model: str,
        version: int,
        size: int,
        padded_size: int | None = None,
        queuing_seconds: Iterable[float] = (),
    ) -> None:
        """Records one executed batch of a version's batching queue.

        Args:
            model: model name.
            version: model version.
            size: real rows in the batch.
            padded_size: rows after padding (None = no padding).
            queuing_seconds: per merged request, its time in the queue.
        """
        labels = (model, _version(version))
        self._child(self._wrapped_run_count, labels).inc()
        self._child(self._batch_size, labels).observe(size)
        self._child(self._padding_size, labels).observe(max(0, (padded_size or size) - size))
        latency = self._child(self._queuing_latency, labels)
        for seconds in queuing_seconds:
            latency.observe(seconds * 1e6)

    def set_queue_depth(self, model: str, version: int, depth: int) -> None:
        """Sets how many batches wait in a version's batching queue.

        Args:
            model: model name.
            version: model version.
            depth: waiting batches.
        """
        self._child(self._queue_depth, (model, _version(version))).set(depth)

    def record_load(self, model: str, version: int, seconds: float, ok: bool) -> None:
        """Records one load (with warmup) of a model version.

        Args:
            model: model name.
            version: model version.
            seconds: wall time of load plus warmup.
            ok: whether the version became AVAILABLE.
        """
        self._load_latency.labels(model, _version(version), "OK" if ok else "ERROR").observe(seconds * 1e6)

    def render(self) -> bytes:
        """Writes every metric in Prometheus text format 0.0.4 (serve with `CONTENT_TYPE`).

        Returns:
            The page, UTF-8, ending with a newline.
        """
        lines: list[str] = []
        for family in self.registry.collect():
            lines.append(f"# HELP {family.name} {_escape_help(family.documentation)}")
            lines.append(f"# TYPE {family.name} {family.type}")
            for sample in family.samples:
                name = sample.name
                if name.endswith("_created"):
                    continue  # prometheus_client's creation timestamps; TF Serving has none
                if family.type == "counter" and name == f"{family.name}_total":
                    name = family.name  # TF Serving's counters carry no `_total` suffix
                labels = ",".join(f'{k}="{_escape_label(v)}"' for k, v in sample.labels.items())
                lines.append(
                    f"{name}{{{labels}}} {floatToGoString(sample.value)}"
                    if labels
                    else f"{name} {floatToGoString(sample.value)}"
                )
        return ("\n".join(lines) + "\n").encode()


def _version(version: int | None) -> str:
    return "" if version is None else str(version)


def _escape_label(value: str) -> str:
    return value.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")


def _escape_help(text: str) -> str:
    return text.replace("\\", r"\\").replace("\n", r"\n")


# ------------------------------------------------------------------------------ monitoring config


@dataclasses.dataclass(frozen=True)
class MonitoringConfig:
    """TF Serving's `MonitoringConfig` (only `prometheus_config` exists upstream).

    Attributes:
        prometheus_enabled: serve the Prometheus page on the REST port.
        prometheus_path: the page's URL path.
    """

    prometheus_enabled: bool = False
    prometheus_path: str = DEFAULT_PROMETHEUS_PATH


@functools.cache
def _monitoring_config_class() -> type:
    # tensorflow-serving-api does not ship monitoring_config_pb2; same names and numbers as
    # tensorflow_serving/config/monitoring_config.proto, in a private pool.
    pool = descriptor_pool.DescriptorPool()
    file = descriptor_pb2.FileDescriptorProto(
        name="tfapps/serving/monitoring_config.proto", package="tensorflow.serving", syntax="proto3"
    )
    field_type = descriptor_pb2.FieldDescriptorProto
    prometheus = file.message_type.add(name="PrometheusConfig")
    prometheus.field.add(name="enable", number=1, label=field_type.LABEL_OPTIONAL, type=field_type.TYPE_BOOL)
    prometheus.field.add(name="path", number=2, label=field_type.LABEL_OPTIONAL, type=field_type.TYPE_STRING)
    config = file.message_type.add(name="MonitoringConfig")
    config.field.add(
        name="prometheus_config",
        number=1,
        label=field_type.LABEL_OPTIONAL,
        type=field_type.TYPE_MESSAGE,
        type_name=".tensorflow.serving.PrometheusConfig",
    )
    pool.Add(file)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("tensorflow.serving.MonitoringConfig"))


def parse_monitoring_config(text: str, source: str = "<string>") -> MonitoringConfig:
    """Parses the text form of TF Serving's `MonitoringConfig`.

    Args:
        text: e.g. `prometheus_config { enable: true path: "/monitoring/prometheus/metrics" }`.
        source: where the text came from, for error messages.

    Returns:
        The config; an empty path means the default path.

    Raises:
        InvalidArgumentError: malformed text, an unknown field, or a path not starting with `/`.
    """
    proto = parse_text_proto(text, _monitoring_config_class()(), source)
    path = proto.prometheus_config.path or DEFAULT_PROMETHEUS_PATH
    if not path.startswith("/"):
        raise InvalidArgumentError(
            f"prometheus_config.path must be an absolute URL path starting with '/'. Received: path={path!r}"
        )
    return MonitoringConfig(prometheus_enabled=proto.prometheus_config.enable, prometheus_path=path)


def read_monitoring_config(path: str | Path) -> MonitoringConfig:
    """Reads a `--monitoring_config_file`.

    Args:
        path: the text-proto file.

    Returns:
        The config.

    Raises:
        InvalidArgumentError: the file cannot be read or is malformed.
    """
    try:
        text = Path(path).read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidArgumentError(
            f"Invalid protobuf file: '{path}': {exc}. Received: file={str(path)!r}"
        ) from exc
    return parse_monitoring_config(text, str(path))

"""Tests for serving.server.metrics: TF Serving metric names, exposition and the monitoring config."""

from __future__ import annotations

from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tfapps.apps.errors import InvalidArgumentError
from tfapps.serving.server.metrics import (
    CONTENT_TYPE,
    DEFAULT_PROMETHEUS_PATH,
    MonitoringConfig,
    ServingMetrics,
    parse_monitoring_config,
    read_monitoring_config,
)


def families(metrics: ServingMetrics) -> dict:
    return {f.name: f for f in text_string_to_metric_families(metrics.render().decode())}


def samples(family, suffix: str = "") -> list:
    return [s for s in family.samples if s.name == family.name + suffix]


def test_request_metrics_use_tf_serving_names_and_labels() -> None:
    metrics = ServingMetrics()
    metrics.record_request("half", 1, "predict", "REST", "OK", 0.0012)
    metrics.record_request("half", 2, "Predict", "GRPC", "OK", 0.002)
    metrics.record_request("nope", None, "predict", "REST", "NOT_FOUND", 0.0001)
    found = families(metrics)

    count = found[":tensorflow:serving:request_count"]
    assert count.type == "counter"
    values = {(s.labels["model_name"], s.labels["status"]): s.value for s in samples(count, "_total")}
    assert values == {("half", "OK"): 2.0, ("nope", "NOT_FOUND"): 1.0}

    latency = found[":tensorflow:serving:request_latency"]
    assert latency.type == "histogram"
    sums = {tuple(s.labels.values()): s.value for s in samples(latency, "_sum")}
    assert sums == {
        ("half", "predict", "REST"): pytest.approx(1200.0),  # microseconds
        ("half", "Predict", "GRPC"): pytest.approx(2000.0),
        ("nope", "predict", "REST"): pytest.approx(100.0),
    }
    buckets = [s for s in samples(latency, "_bucket") if s.labels["model_name"] == "half"]
    assert {s.labels["le"] for s in buckets} >= {"10.0", "+Inf"}

    by_version = found[":tfapps:serving:request_count"]
    labels = sorted(
        (s.labels["model_name"], s.labels["version"], s.labels["API"]) for s in by_version.samples
    )
    assert labels == [("half", "1", "predict"), ("half", "2", "Predict"), ("nope", "", "predict")]


def test_counters_have_no_total_suffix_or_created_samples_in_the_page() -> None:
    metrics = ServingMetrics()
    metrics.record_request("m", 1, "predict", "REST", "OK", 0.001)
    metrics.record_batch("m", 1, 3)
    text = metrics.render().decode()
    assert '\n:tensorflow:serving:request_count{model_name="m",status="OK"} 1.0\n' in text
    assert "# TYPE :tensorflow:serving:request_count counter\n" in text
    assert "_total" not in text and "_created" not in text
    assert text.endswith("\n")
    assert CONTENT_TYPE.startswith("text/plain; version=0.0.4")


def test_runtime_latency() -> None:
    metrics = ServingMetrics()
    metrics.record_runtime("m", "predict", 0.5)
    family = families(metrics)[":tensorflow:serving:runtime_latency"]
    (total,) = samples(family, "_sum")
    assert total.labels == {"model_name": "m", "API": "predict", "runtime": "TF2"}
    assert total.value == pytest.approx(500_000.0)


def test_batching_metrics() -> None:
    metrics = ServingMetrics()
    metrics.record_batch("m", 3, size=5, padded_size=8, queuing_seconds=[0.001, 0.002])
    metrics.record_batch("m", 3, size=2)
    metrics.set_queue_depth("m", 3, 4)
    found = families(metrics)
    prefix = ":tensorflow:serving:batching_session:"
    labels = {"model_name": "m", "version": "3"}

    (runs,) = samples(found[prefix + "wrapped_run_count"], "_total")
    assert (runs.labels, runs.value) == (labels, 2.0)
    size = found[prefix + "batch_size"]
    assert [s.value for s in samples(size, "_sum")] == [7.0]
    assert [s.value for s in samples(size, "_count")] == [2.0]
    assert [s.value for s in samples(found[prefix + "padding_size"], "_sum")] == [3.0]
    queuing = found[prefix + "queuing_latency"]
    assert [s.value for s in samples(queuing, "_count")] == [2.0]
    assert samples(queuing, "_sum")[0].value == pytest.approx(3000.0)
    (depth,) = samples(found[prefix + "queue_depth"])
    assert found[prefix + "queue_depth"].type == "gauge"
    assert (depth.labels, depth.value) == (labels, 4.0)


def test_model_load_latency() -> None:
    metrics = ServingMetrics()
    metrics.record_load("m", 1, 2.0, ok=True)
    metrics.record_load("m", 2, 0.5, ok=False)
    family = families(metrics)[":tfapps:serving:model_load_latency"]
    sums = {(s.labels["version"], s.labels["status"]): s.value for s in samples(family, "_sum")}
    assert sums == {("1", "OK"): pytest.approx(2e6), ("2", "ERROR"): pytest.approx(5e5)}


def test_label_values_are_escaped() -> None:
    metrics = ServingMetrics()
    name = 'we"ird\\model\nname'
    metrics.record_request(name, 1, "predict", "REST", "OK", 0.001)
    (sample,) = samples(families(metrics)[":tensorflow:serving:request_count"], "_total")
    assert sample.labels["model_name"] == name


def test_each_instance_has_its_own_registry() -> None:
    first, second = ServingMetrics(), ServingMetrics()
    first.record_request("m", 1, "predict", "REST", "OK", 0.001)
    assert not samples(families(second)[":tensorflow:serving:request_count"], "_total")


# ------------------------------------------------------------------------------ monitoring config


@pytest.mark.shared_data
def test_read_shared_monitoring_config(testdata: Path) -> None:
    config = read_monitoring_config(testdata / "monitoring_config.txt")
    assert config == MonitoringConfig(
        prometheus_enabled=True, prometheus_path="/monitoring/prometheus/metrics"
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('prometheus_config { enable: true path: "/metrics" }', MonitoringConfig(True, "/metrics")),
        ("prometheus_config: { enable: true, }", MonitoringConfig(True, DEFAULT_PROMETHEUS_PATH)),
        ("prometheus_config { enable: false }", MonitoringConfig(False, DEFAULT_PROMETHEUS_PATH)),
        ("", MonitoringConfig(False, DEFAULT_PROMETHEUS_PATH)),
    ],
)
def test_parse_monitoring_config(text: str, expected: MonitoringConfig) -> None:
    assert parse_monitoring_config(text) == expected


@pytest.mark.parametrize(
    "text", ["prometheus_config { enabled: true }", "prometheus_config {", "enable: true"]
)
def test_malformed_monitoring_config(text: str) -> None:
    with pytest.raises(InvalidArgumentError, match="Invalid protobuf file: '<string>'"):
        parse_monitoring_config(text)


def test_relative_prometheus_path_is_rejected() -> None:
    with pytest.raises(InvalidArgumentError, match="must be an absolute URL path"):
        parse_monitoring_config('prometheus_config { enable: true path: "metrics" }')


def test_missing_monitoring_file(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgumentError, match="Invalid protobuf file"):
        read_monitoring_config(tmp_path / "missing.txt")

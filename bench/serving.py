"""Serving benchmark: the in-process ceiling, then REST and gRPC under load, against a naive baseline.

Model: the Fashion-MNIST export of image classification preset `cpu` (PNG bytes in); pass
`--run-dir` (default: the newest `bench-work/fashion_mnist/run-cpu-*` from bench/fashion_mnist.py).
In one run, on this machine:

1. in-process ceiling (a subprocess with the server's TensorFlow thread-pool sizes):
   `serving_default` called directly at batch 1, 8, 32, 64 (images/s, latency, CPU per image), and
   at batch 1 with 1 ms pauses between calls ("paced": what one client's request rate costs the
   model, idle thread-pool wake-ups included);
2. `tfapps serve` (a subprocess, so its CPU is read from /proc) under 1, 8, 32 and 64 concurrent
   clients over REST and gRPC: requests/s, p50/p99 latency, errors, server CPU seconds per 1,000
   requests and its overhead per request beyond the model's own in-process CPU cost; with
   `--batching`, again with `--enable_batching`;
3. a naive baseline: a plain `http.server` handler that calls the model once per request, with
   TensorFlow's default thread pools (what a naive server gets) and with the server's;
4. with `--batching`, the batching goal's ratio measured side by side: the batching server and both
   naive baselines run at once and take 32 REST clients in turn for `--alternating-rounds` rounds
   (default 5, the order rotated each round); the per-round ratios' median, min and max. The
   sequential levels above run minutes apart, and on this shared machine the naive baseline's
   figure at 32 clients has moved by up to 12% between runs;
5. the gRPC framework's own floor: a grpcio server (grpc.aio on uvloop, as `tfapps serve` runs it,
   and the thread-pool server with one worker) whose Predict handler returns a fixed answer.

With batching the model runs at larger batches, so its in-process cost per image is lower: for those
rows the server's mean batch size (from its Prometheus `batch_size` histogram) gives
`server_overhead_us_at_mean_batch`, the overhead beyond the in-process cost at that batch size
(interpolated in 1/batch between the measured batch sizes).

The server runs with `--tensorflow_intra_op_parallelism=1 --tensorflow_inter_op_parallelism=2` by
default (`--intra-op/--inter-op`, 0 = TensorFlow's choice): on two cores a small model at small
batches is cheaper and faster with one thread per op. `--inter-op 1` served the Fashion-MNIST
model with more requests/s at 8-64 clients and less server CPU per request at most levels, but its
in-process batch-1 loop is cheaper still, so its overhead figures are not comparable with runs at
the default.

The load generator is asyncio with requests encoded once (raw HTTP/1.1 keep-alive for REST, raw
HTTP/2 frames over one connection for gRPC: `grpc_h2_load.py`, or `--grpc-loadgen grpcio` for
grpcio's asyncio client, which costs several times more CPU per call) and reports its own CPU. All
traffic goes to 127.0.0.1, each level is bounded in time and count.

    .venv/bin/python bench/serving.py [--run-dir DIR] [--seconds 5] [--batching] [--alternating-rounds 5]
        [--intra-op 1 --inter-op 2]
        [--batching-parameters "max_batch_size { value: 16 } batch_timeout_micros { value: 2000 } ..."]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import functools
import gc
import itertools
import json
import os
import resource
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

LEVELS = (1, 8, 32, 64)
RATIO_CLIENTS = 32  # the batching goal's level: throughput >= 3x the naive baseline
WARMUP_SECONDS = 2.0  # uncounted load on each server before the alternating rounds
# One batch thread with a short timeout: on two cores a second concurrent model run competes with
# request parsing, and closed-loop clients fall into waves (32 REST clients: 2.44x the naive
# baseline of the same run, against 2.03x with two threads and 1 ms in a run half an hour before).
DEFAULT_BATCHING = (
    "max_batch_size { value: 64 } batch_timeout_micros { value: 300 } "
    "max_enqueued_batches { value: 64 } num_batch_threads { value: 1 }"
)
METRICS_PATH = "/monitoring/prometheus/metrics"
PREDICT_PATH = "/tensorflow.serving.PredictionService/Predict"
# The gRPC load generator: "h2" (grpc_h2_load.py, little CPU) or "grpcio" (grpc.aio); --grpc-loadgen.
GRPC_LOADGEN = "h2"
CLK_TCK = os.sysconf("SC_CLK_TCK")
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def process_cpu_seconds(pid: int) -> float:
    """utime + stime of a process (all its threads), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def self_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def in_process_ceiling(version_dir: Path, image: bytes, seconds: float) -> dict:
    import numpy as np
    import tensorflow as tf
    import tensorflow_text  # noqa: F401

    serve = tf.saved_model.load(str(version_dir)).signatures["serving_default"]
    results = {}
    for batch in LEVELS:
        feed = tf.constant(np.array([image] * batch, dtype=object))
        for _ in range(3):
            serve(image_bytes=feed)
        latencies, cpu0, deadline = [], time.process_time(), time.monotonic() + seconds
        while time.monotonic() < deadline and len(latencies) < 20000:
            start = time.perf_counter()
            serve(image_bytes=feed)
            latencies.append(time.perf_counter() - start)
        cpu = time.process_time() - cpu0
        results[f"batch_{batch}"] = {
            "images_per_s": round(batch * len(latencies) / sum(latencies), 1),
            "p50_ms": round(1e3 * percentile(latencies, 0.5), 3),
            "cpu_us_per_image": round(1e6 * cpu / (batch * len(latencies)), 1),
        }
    feed = tf.constant(np.array([image], dtype=object))
    calls, cpu0, deadline = 0, time.process_time(), time.monotonic() + seconds
    while time.monotonic() < deadline and calls < 5000:
        serve(image_bytes=feed)
        calls += 1
        time.sleep(0.001)
    results["batch_1_paced_1ms"] = {"cpu_us_per_image": round(1e6 * (time.process_time() - cpu0) / calls, 1)}
    return results


def thread_env(intra_op: int, inter_op: int) -> dict[str, str]:
    """The environment giving a TensorFlow process these thread-pool sizes (0 = TF's choice)."""
    env = dict(ENV)
    if intra_op:
        env["TF_NUM_INTRAOP_THREADS"] = str(intra_op)
    if inter_op:
        env["TF_NUM_INTEROP_THREADS"] = str(inter_op)
    return env


def in_process_subprocess(version_dir: Path, image_path: Path, seconds: float, env: dict) -> dict:
    """`in_process_ceiling` in a fresh process, so its TensorFlow thread pools match the server's."""
    out = subprocess.run(
        [sys.executable, __file__, "--in-process", str(version_dir), str(image_path), str(seconds)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


async def rest_worker(port: int, request: bytes, deadline: float, latencies: list, errors: list) -> None:
    """One keep-alive client; a dropped connection is counted as an error and reopened."""
    while time.monotonic() < deadline:
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError as exc:
            errors.append(f"connect: {exc}")
            await asyncio.sleep(0.01)
            continue
        try:
            while time.monotonic() < deadline:
                start = time.perf_counter()
                writer.write(request)
                status = await reader.readline()
                if not status:
                    raise ConnectionResetError("closed by the server")
                length = 0
                while (line := await reader.readline()) not in (b"\r\n", b""):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                await reader.readexactly(length)
                latencies.append(time.perf_counter() - start)
                if b" 200 " not in status:
                    errors.append(status.decode().strip())
        except (OSError, asyncio.IncompleteReadError) as exc:
            errors.append(f"connection: {exc}")
        finally:
            writer.close()


async def grpc_worker(stub, request: bytes, deadline: float, latencies: list, errors: list) -> None:
    import grpc

    while time.monotonic() < deadline:
        start = time.perf_counter()
        try:
            await stub(request, timeout=30)
        except grpc.aio.AioRpcError as err:
            errors.append(err.code().name)
        latencies.append(time.perf_counter() - start)


def rest_request(port: int, path: str, image: bytes) -> bytes:
    body = json.dumps({"instances": [{"b64": base64.b64encode(image).decode()}]}).encode()
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


def grpc_request(model: str, image: bytes) -> bytes:
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2

    request = predict_pb2.PredictRequest()
    request.model_spec.name = model
    request.inputs["image_bytes"].CopyFrom(tf.make_tensor_proto([image]))
    return request.SerializeToString()


async def grpc_h2_worker(connection, call, deadline: float, latencies: list, errors: list) -> None:
    while time.monotonic() < deadline:
        start = time.perf_counter()
        error = await connection.call(call)
        latencies.append(time.perf_counter() - start)
        if error is not None:
            errors.append(error)


async def load(protocol: str, port: int, model: str, image: bytes, clients: int, seconds: float) -> dict:
    """`clients` concurrent clients calling the server for `seconds`: each call's latency, the
    errors, and the measuring window in seconds that the rates divide by: from when the clients
    start to the last answer. Encoding the request and opening a gRPC connection come before it
    (the first gRPC request encoded in a process imports TensorFlow, ~2.7 s here)."""
    latencies: list[float] = []
    errors: list[str] = []
    if protocol == "grpc" and GRPC_LOADGEN == "h2":
        from grpc_h2_load import GrpcH2Connection

        request = grpc_request(model, image)
        connection = await GrpcH2Connection.open("127.0.0.1", port)
        try:
            call = connection.prepare(PREDICT_PATH, request)
            started = time.monotonic()
            deadline = started + seconds
            await asyncio.gather(
                *(grpc_h2_worker(connection, call, deadline, latencies, errors) for _ in range(clients))
            )
        finally:
            connection.close()
    elif protocol == "grpc":
        import grpc

        request = grpc_request(model, image)
        started = time.monotonic()
        deadline = started + seconds
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            # Identity (de)serializers: the request is encoded once, the response left undecoded.
            stub = channel.unary_unary(PREDICT_PATH)
            await asyncio.gather(
                *(grpc_worker(stub, request, deadline, latencies, errors) for _ in range(clients))
            )
    else:
        path = f"/v1/models/{model}:predict" if protocol == "rest" else "/predict"
        request = rest_request(port, path, image)
        started = time.monotonic()
        deadline = started + seconds
        await asyncio.gather(
            *(rest_worker(port, request, deadline, latencies, errors) for _ in range(clients))
        )
    return {"latencies": latencies, "errors": errors, "seconds": time.monotonic() - started}


def run_load(protocol: str, port: int, model: str, image: bytes, clients: int, seconds: float) -> dict:
    """`load` with this process's garbage collector paused: with TensorFlow imported, a full
    collection here takes long enough to stall every client at once and show in the p99. (Callers
    collect before they start counting this process's CPU.)"""
    gc.disable()
    try:
        return asyncio.run(load(protocol, port, model, image, clients, seconds))
    finally:
        gc.enable()


def model_cpu_at(ceiling: dict, batch: float) -> float:
    """In-process model CPU per image at a (mean) batch size, interpolated in 1/batch between the
    measured sizes: a call's fixed cost is shared by its rows."""
    points = [(b, ceiling[f"batch_{b}"]["cpu_us_per_image"]) for b in LEVELS]
    batch = min(max(batch, points[0][0]), points[-1][0])
    for (b0, c0), (b1, c1) in itertools.pairwise(points):
        if batch <= b1:
            return c0 + (c1 - c0) * (1 / b0 - 1 / batch) / (1 / b0 - 1 / b1)
    return points[-1][1]


def batch_size_totals(rest_port: int) -> tuple[float, float]:
    """(sum, count) of the server's `batch_size` histogram: rows and batches run so far."""
    url = f"http://127.0.0.1:{rest_port}{METRICS_PATH}"
    with urllib.request.urlopen(url, timeout=10) as response:
        text = response.read().decode()
    totals = {"sum": 0.0, "count": 0.0}
    for line in text.splitlines():
        for kind in totals:
            if line.startswith(f":tensorflow:serving:batching_session:batch_size_{kind}"):
                totals[kind] += float(line.rsplit(" ", 1)[1])
    return totals["sum"], totals["count"]


def measure(
    protocol: str,
    port: int,
    model: str,
    image: bytes,
    pid: int,
    model_cpu_us: float,
    seconds: float,
    batch_probe: Callable[[], tuple[float, float]] | None = None,
    ceiling: dict | None = None,
):
    """Load at each level; with `batch_probe` (and `ceiling`) also the server's mean batch size and
    its overhead beyond the model's in-process cost at that size."""
    rows = {}
    for clients in LEVELS:
        batches0 = batch_probe() if batch_probe else None  # read outside the CPU window
        gc.collect()  # the previous level's garbage, outside the load generator's CPU window
        server_cpu0, gen_cpu0 = process_cpu_seconds(pid), self_cpu_seconds()
        result = run_load(protocol, port, model, image, clients, seconds)
        server_cpu, gen_cpu = process_cpu_seconds(pid) - server_cpu0, self_cpu_seconds() - gen_cpu0
        n = max(len(result["latencies"]), 1)
        row = rows[f"clients_{clients}"] = {
            "requests_per_s": round(n / result["seconds"], 1),
            "p50_ms": round(1e3 * percentile(result["latencies"], 0.5), 2),
            "p99_ms": round(1e3 * percentile(result["latencies"], 0.99), 2),
            "errors": len(result["errors"]),
            "server_cpu_s_per_1000": round(1000 * server_cpu / n, 3),
            "server_overhead_us_per_request": round(1e6 * server_cpu / n - model_cpu_us, 1),
            "loadgen_cpu_s_per_1000": round(1000 * gen_cpu / n, 3),
        }
        if batches0 is not None and ceiling is not None:
            (rows0, batches0_run), (rows1, batches1) = batches0, batch_probe()
            rows_run, batches_run = rows1 - rows0, batches1 - batches0_run
            if batches_run:
                mean = rows_run / batches_run
                row["mean_batch_size"] = round(mean, 2)
                row["server_overhead_us_at_mean_batch"] = round(
                    1e6 * server_cpu / n - model_cpu_at(ceiling, mean), 1
                )
        if result["errors"]:
            row["first_error"] = result["errors"][0]
    return rows


def wait_ready(port: int, path: str, proc: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            sys.exit(f"bench: server exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=2):
                return
        except OSError:
            time.sleep(0.3)
    sys.exit("bench: server not ready in time")


def stop(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()


def start_ready(command: list[str], env: dict, ready: Callable[[subprocess.Popen], None]) -> subprocess.Popen:
    """Starts a server process and returns it once `ready(proc)` returns; stops it if that fails."""
    proc = subprocess.Popen(command, env=env, stderr=subprocess.DEVNULL)
    try:
        ready(proc)
    except BaseException:
        stop(proc)
        raise
    return proc


NAIVE_SERVER = r"""
import json, base64, sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
import tensorflow as tf, tensorflow_text  # noqa
serve = tf.saved_model.load(sys.argv[1]).signatures["serving_default"]
class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # a fair baseline: no 40 ms delayed-ACK stalls on keep-alive
    def log_message(self, *args): pass
    def do_GET(self):
        self.send_response(200); self.send_header("Content-Length", "2"); self.end_headers(); self.wfile.write(b"ok")
    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        image = base64.b64decode(body["instances"][0]["b64"])
        out = serve(image_bytes=tf.constant([image]))
        data = json.dumps({"predictions": [{k: v.numpy()[0].tolist() if v.dtype != tf.string else
                           [s.decode() for s in v.numpy()[0]] for k, v in out.items()}]}).encode()
        self.send_response(200); self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data))); self.end_headers(); self.wfile.write(data)
class Server(ThreadingHTTPServer):
    request_queue_size = 128  # socketserver's default backlog of 5 resets clients past a few
Server(("127.0.0.1", int(sys.argv[2])), Handler).serve_forever()
"""


# On uvloop, as `tfapps serve` runs grpc.aio: on asyncio's own loop it cost more CPU per call (at
# 1 client 361-369 µs against 260-312 on uvloop).
GRPC_FLOOR_SERVER = r"""
import asyncio, sys
import grpc, uvloop
from tensorflow_serving.apis import predict_pb2
ANSWER = predict_pb2.PredictResponse().SerializeToString()
async def predict(request, context):
    return ANSWER
async def main():
    server = grpc.aio.server()
    handler = grpc.unary_unary_rpc_method_handler(predict, lambda b: b, lambda b: b)
    server.add_generic_rpc_handlers(
        [grpc.method_handlers_generic_handler("tensorflow.serving.PredictionService", {"Predict": handler})]
    )
    server.add_insecure_port(f"127.0.0.1:{sys.argv[1]}")
    await server.start()
    await server.wait_for_termination()
uvloop.run(main())
"""


GRPC_SYNC_FLOOR_SERVER = r"""
import sys
from concurrent import futures
import grpc
from tensorflow_serving.apis import predict_pb2
ANSWER = predict_pb2.PredictResponse().SerializeToString()
def predict(request, context):
    return ANSWER
server = grpc.server(futures.ThreadPoolExecutor(1))
handler = grpc.unary_unary_rpc_method_handler(predict, lambda b: b, lambda b: b)
server.add_generic_rpc_handlers(
    [grpc.method_handlers_generic_handler("tensorflow.serving.PredictionService", {"Predict": handler})]
)
server.add_insecure_port(f"127.0.0.1:{sys.argv[1]}")
server.start()
server.wait_for_termination()
"""


def wait_grpc_ready(port: int, proc: subprocess.Popen, timeout: float = 60) -> None:
    import grpc

    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        try:
            grpc.channel_ready_future(channel).result(timeout=timeout)
        except grpc.FutureTimeoutError:
            sys.exit(f"bench: gRPC floor server not ready (exit code {proc.poll()})")


def measure_grpc_floor(work: Path, image: bytes, seconds: float, source: str = GRPC_FLOOR_SERVER) -> dict:
    """Server CPU per call of a grpcio server doing nothing: what grpcio itself costs."""
    script = work / "grpc_floor_server.py"
    script.write_text(source)
    port = free_port()
    proc = start_ready(
        [sys.executable, str(script), str(port)], ENV, functools.partial(wait_grpc_ready, port)
    )
    try:
        rows = {}
        for clients in (1, 8, 32):
            server_cpu0 = process_cpu_seconds(proc.pid)
            result = run_load("grpc", port, "floor", image, clients, seconds)
            n = max(len(result["latencies"]), 1)
            rows[f"clients_{clients}"] = {
                "requests_per_s": round(n / result["seconds"], 1),
                "server_cpu_us_per_request": round(
                    1e6 * (process_cpu_seconds(proc.pid) - server_cpu0) / n, 1
                ),
            }
        return rows
    finally:
        stop(proc)


def serve_command(
    grpc_port: int, rest_port: int, version_dir: Path, args: argparse.Namespace, monitoring: Path
) -> list[str]:
    return [
        sys.executable,
        "-m",
        "tfapps.apps.cli",
        "serve",
        f"--port={grpc_port}",
        f"--rest_api_port={rest_port}",
        "--model_name=fashion",
        f"--model_base_path={version_dir.parent}",
        f"--tensorflow_intra_op_parallelism={args.intra_op}",
        f"--tensorflow_inter_op_parallelism={args.inter_op}",
        f"--monitoring_config_file={monitoring}",
    ]


def start_naive(work: Path, version_dir: Path, env: dict) -> tuple[subprocess.Popen, int]:
    """The naive baseline server, started and ready: (process, port)."""
    port = free_port()
    script = work / "naive_server.py"
    script.write_text(NAIVE_SERVER)
    command = [sys.executable, str(script), str(version_dir), str(port)]
    return start_ready(command, env, functools.partial(wait_ready, port, "/")), port


def start_serve(
    version_dir: Path, args: argparse.Namespace, monitoring: Path, extra: list[str]
) -> tuple[subprocess.Popen, int, int]:
    """`tfapps serve` with `extra` flags, started and ready: (process, gRPC port, REST port)."""
    grpc_port, rest_port = free_port(), free_port()
    command = [*serve_command(grpc_port, rest_port, version_dir, args, monitoring), *extra]
    proc = start_ready(command, ENV, functools.partial(wait_ready, rest_port, "/v1/models/fashion"))
    return proc, grpc_port, rest_port


def measure_naive(
    work: Path, version_dir: Path, image: bytes, env: dict, model_cpu_us: float, seconds: float
):
    proc, port = start_naive(work, version_dir, env)
    try:
        return measure("naive", port, "fashion", image, proc.pid, model_cpu_us, seconds)
    finally:
        stop(proc)


def measure_alternating(
    work: Path,
    version_dir: Path,
    image: bytes,
    args: argparse.Namespace,
    monitoring: Path,
    batching_flags: list[str],
    same_threads: dict,
) -> dict:
    """The batching server and both naive baselines, all running, at `RATIO_CLIENTS` REST clients
    in turn for `args.alternating_rounds` rounds, with the batching server's ratio to each."""
    procs = []
    try:
        proc, _, rest_port = start_serve(version_dir, args, monitoring, batching_flags)
        procs.append(proc)
        targets = {"rest_batching": ("rest", rest_port)}
        for name, env in (("naive_rest_default_threads", ENV), ("naive_rest_same_threads", same_threads)):
            proc, port = start_naive(work, version_dir, env)
            procs.append(proc)
            targets[name] = ("naive", port)
        result = alternating_rounds(targets, image, RATIO_CLIENTS, args.seconds, args.alternating_rounds)
    finally:
        for proc in procs:
            stop(proc)
    result["rest_batching_vs"] = round_ratios(result["requests_per_s"], "rest_batching")
    return result


def alternating_rounds(
    targets: dict[str, tuple[str, int]], image: bytes, clients: int, seconds: float, rounds: int
) -> dict:
    """requests/s and errors of each target (name → (protocol, port)) under `clients` clients, in
    `rounds` rounds; each round starts one target further on, so none always runs first or after
    the same neighbour. Every server is up the whole time: a drift of the shared machine's speed
    shows in all of them alike, not in whichever ran last. Each target first gets an uncounted
    warm-up load (a fresh naive server's first seconds at 32 clients ran at ~60% of its speed)."""
    names = list(targets)
    rates: dict[str, list[float]] = {name: [] for name in names}
    errors = dict.fromkeys(names, 0)
    for name in names:
        protocol, port = targets[name]
        run_load(protocol, port, "fashion", image, clients, min(seconds, WARMUP_SECONDS))
    for index in range(rounds):
        shift = index % len(names)
        for name in names[shift:] + names[:shift]:
            protocol, port = targets[name]
            gc.collect()
            result = run_load(protocol, port, "fashion", image, clients, seconds)
            rates[name].append(round(len(result["latencies"]) / result["seconds"], 1))
            errors[name] += len(result["errors"])
    return {"clients": clients, "requests_per_s": rates, "errors": errors}


def round_ratios(rates: dict[str, list[float]], subject: str) -> dict[str, dict[str, float]]:
    """For every other target: the subject's requests/s over that target's, round by round
    (median, min, max)."""
    summary = {}
    for name, values in rates.items():
        if name == subject:
            continue
        ratios = [ours / theirs for ours, theirs in zip(rates[subject], values, strict=True)]
        summary[name] = {
            "median": round(statistics.median(ratios), 2),
            "min": round(min(ratios), 2),
            "max": round(max(ratios), 2),
        }
    return summary


def summarize(figures: dict, ceiling: dict, best: str) -> dict:
    def level(key: str, clients: int) -> dict:
        return figures[key][f"clients_{clients}"]

    paced = ceiling["batch_1_paced_1ms"]["cpu_us_per_image"]
    summary = {}
    for protocol in ("grpc", "rest"):
        for clients in LEVELS:
            row = level(f"{protocol}_no_batching", clients)
            summary[f"{protocol}_overhead_us_at_{clients}_clients"] = row["server_overhead_us_per_request"]
        per_request = 1000 * level(f"{protocol}_no_batching", 1)["server_cpu_s_per_1000"]
        summary[f"{protocol}_overhead_us_at_1_client_vs_paced_in_process"] = round(per_request - paced, 1)
        summary[f"{protocol}_p50_at_1_client_minus_in_process_batch1_ms"] = round(
            level(f"{protocol}_no_batching", 1)["p50_ms"] - ceiling["batch_1"]["p50_ms"], 3
        )
        if f"{protocol}_batching" in figures:
            for clients in LEVELS:
                row = level(f"{protocol}_batching", clients)
                if "server_overhead_us_at_mean_batch" in row:
                    summary[f"{protocol}_batching_overhead_us_at_{clients}_clients_at_mean_batch"] = row[
                        "server_overhead_us_at_mean_batch"
                    ]
    throughput = level(best, 32)["requests_per_s"]
    summary[f"{best}_32_clients_requests_per_s"] = throughput
    for naive in ("naive_rest_default_threads", "naive_rest_same_threads"):
        summary[f"{best}_32_clients_vs_{naive}"] = round(
            throughput / max(level(naive, 32)["requests_per_s"], 1e-9), 2
        )
    summary[f"{best}_32_clients_vs_ceiling_batch32"] = round(
        throughput / ceiling["batch_32"]["images_per_s"], 3
    )
    alternating = figures.get("alternating", {})
    for naive, ratios in alternating.get("rest_batching_vs", {}).items():
        summary[f"rest_batching_{RATIO_CLIENTS}_clients_vs_{naive}_alternating"] = ratios
    for floor in ("grpc_floor", "grpc_sync_floor"):
        for clients in (1, 8, 32):
            summary[f"{floor.replace('floor', 'framework_floor')}_us_at_{clients}_clients"] = figures[floor][
                f"clients_{clients}"
            ]["server_cpu_us_per_request"]
    summary["total_errors"] = sum(
        row["errors"]
        for key, rows in figures.items()
        if isinstance(rows, dict) and key not in ("in_process", "grpc_floor", "grpc_sync_floor")
        for row in rows.values()
        if isinstance(row, dict) and "errors" in row
    ) + sum(alternating.get("errors", {}).values())
    summary["goals"] = (
        "overhead <= 150 us gRPC, <= 300 us REST; batching at 32 clients >= 3x naive; "
        "p50 at 1 client <= in-process batch-1 + 2 ms; zero errors"
    )
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--run-dir", type=Path, help="a trained image-classification run (default: newest Fashion-MNIST run)"
    )
    parser.add_argument("--seconds", type=float, default=5.0, help="seconds per load level")
    parser.add_argument("--batching", action="store_true", help="also measure with --enable_batching")
    parser.add_argument(
        "--batching-parameters",
        default=DEFAULT_BATCHING,
        help="the BatchingParameters text proto used with --batching (default: %(default)r)",
    )
    parser.add_argument(
        "--grpc-loadgen",
        choices=("h2", "grpcio"),
        default="h2",
        help="gRPC load generator: a minimal HTTP/2 client (h2, little CPU) or grpcio's asyncio client",
    )
    parser.add_argument(
        "--alternating-rounds",
        type=int,
        default=5,
        help="with --batching: rounds of the batching server and both naive baselines in turn at "
        f"{RATIO_CLIENTS} clients, all running at once (0: skip; default: %(default)s)",
    )
    parser.add_argument(
        "--intra-op", type=int, default=1, help="server's TF intra-op threads (0: TF's choice)"
    )
    parser.add_argument(
        "--inter-op", type=int, default=2, help="server's TF inter-op threads (0: TF's choice)"
    )
    parser.add_argument(
        "--in-process", nargs=3, metavar=("VERSION_DIR", "IMAGE", "SECONDS"), help=argparse.SUPPRESS
    )
    args = parser.parse_args(argv)
    global GRPC_LOADGEN
    GRPC_LOADGEN = args.grpc_loadgen
    if args.in_process:
        version_dir, image_path, seconds = args.in_process
        print(
            json.dumps(in_process_ceiling(Path(version_dir), Path(image_path).read_bytes(), float(seconds)))
        )
        return 0
    runs_found = sorted(Path("bench-work/fashion_mnist").glob("run-cpu-*/best.keras"))
    run_dir = args.run_dir or (runs_found[-1].parent if runs_found else None)
    if run_dir is None:
        print(
            "No Fashion-MNIST run found: run bench/fashion_mnist.py first, or pass --run-dir.",
            file=sys.stderr,
        )
        return 2
    from tfapps.apps import runs

    work = Path(tempfile.mkdtemp(prefix="tfapps-serving-bench-"))
    version_dir = runs.export_run(run_dir, work / "export", name="fashion")
    png = sorted(Path("bench-work/fashion_mnist/png/test").rglob("*.png"))
    image_path = work / "request.png"
    if png:
        image_path.write_bytes(png[0].read_bytes())
    else:
        task, config = runs.load_run(run_dir)
        image_path.write_bytes(task.sample_request(config)["image_bytes"][0])
    image = image_path.read_bytes()
    same_threads = thread_env(args.intra_op, args.inter_op)
    figures: dict = {
        "run_dir": str(run_dir),
        "seconds_per_level": args.seconds,
        "image_bytes": len(image),
        "tf_threads": {"intra_op": args.intra_op, "inter_op": args.inter_op},
        "grpc_loadgen": args.grpc_loadgen,
    }
    figures["in_process"] = ceiling = in_process_subprocess(
        version_dir, image_path, args.seconds, same_threads
    )
    model_cpu_us = ceiling["batch_1"]["cpu_us_per_image"]

    configs = [("no_batching", [])]
    if args.batching:
        params = work / "batching.config"
        params.write_text(args.batching_parameters)
        figures["batching_parameters"] = args.batching_parameters
        configs.append(("batching", ["--enable_batching", f"--batching_parameters_file={params}"]))
    monitoring = work / "monitoring.config"
    monitoring.write_text(f'prometheus_config {{ enable: true path: "{METRICS_PATH}" }}')
    for name, extra in configs:
        proc, grpc_port, rest_port = start_serve(version_dir, args, monitoring, extra)
        try:
            probe = functools.partial(batch_size_totals, rest_port) if extra else None
            for protocol, port in (("rest", rest_port), ("grpc", grpc_port)):
                figures[f"{protocol}_{name}"] = measure(
                    protocol, port, "fashion", image, proc.pid, model_cpu_us, args.seconds, probe, ceiling
                )
        finally:
            stop(proc)

    figures["naive_rest_default_threads"] = measure_naive(
        work, version_dir, image, ENV, model_cpu_us, args.seconds
    )
    figures["naive_rest_same_threads"] = measure_naive(
        work, version_dir, image, same_threads, model_cpu_us, args.seconds
    )
    if args.batching and args.alternating_rounds:
        figures["alternating"] = measure_alternating(
            work, version_dir, image, args, monitoring, configs[-1][1], same_threads
        )
    figures["grpc_floor"] = measure_grpc_floor(work, image, args.seconds)
    figures["grpc_sync_floor"] = measure_grpc_floor(work, image, args.seconds, GRPC_SYNC_FLOOR_SERVER)
    best = "rest_batching" if "rest_batching" in figures else "rest_no_batching"
    figures["summary"] = summarize(figures, ceiling, best)
    print(json.dumps(figures, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())

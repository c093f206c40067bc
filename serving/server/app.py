"""`ModelServer`: one model manager behind a gRPC server and a REST (uvicorn) server.

Start-up follows tensorflow_model_server: every configured model is loaded (and warmed up) first,
then gRPC and REST start listening. Port semantics differ between the Python API and the CLI:

* `ServerOptions` (Python API): `grpc_port=0` / `rest_port=0` bind a free ephemeral port (read it
  back from `ModelServer.grpc_port` / `.rest_port`); `None` disables that protocol.
* `main()` (CLI): TF Serving's semantics: `--rest_api_port=0` (default) disables REST,
  `--port=0` is a start-up error because this server has no `--grpc_socket_path`.

Example::

    opts = ServerOptions(model_name="m", model_base_path="/x/m", grpc_port=0, rest_port=0)
    with ModelServer(opts) as server:
        RestClient(f"http://127.0.0.1:{server.rest_port}").predict("m", {"x": [[1.0]]})
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import logging
import os
import signal
import socket
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

import grpc
import uvicorn
import uvloop
from tensorflow_serving.config import model_server_config_pb2

from tfapps.apps.errors import (
    EXIT_OK,
    EXIT_RUNTIME_ERROR,
    EXIT_USAGE_ERROR,
    InvalidArgumentError,
    TfappsError,
    UsageError,
)
from tfapps.serving.model_config import (
    TENSORFLOW_PLATFORM,
    read_model_server_config,
    validate_model_server_config,
)
from tfapps.serving.runtime import configure_tensorflow_threads
from tfapps.serving.server.batching import BatchingParameters, read_batching_parameters
from tfapps.serving.server.flags import Flags, parse_flags, usage
from tfapps.serving.server.grpc_service import add_services
from tfapps.serving.server.http_protocol import CoalescingHttpToolsProtocol
from tfapps.serving.server.limits import RequestLimits
from tfapps.serving.server.manager import ModelManager
from tfapps.serving.server.metrics import MonitoringConfig, ServingMetrics, read_monitoring_config
from tfapps.serving.server.rest import build_rest_app

logger = logging.getLogger(__name__)

_GRPC_MAX_MESSAGE = 2**31 - 1
_SWITCH_INTERVAL_S = 0.0005  # upstream: SetMaxMessageSize(INT32_MAX)


@dataclasses.dataclass(frozen=True)
class ServerOptions:
    """How to run a `ModelServer`.

    Attributes:
        model_name: the single model's name (ignored with `model_config_file`).
        model_base_path: `<base_path>` holding `<version>/saved_model.pb` (single-model mode).
        model_config_file: a text-format `ModelServerConfig` (multi-model mode; wins over base path).
        grpc_port: gRPC port; 0 picks a free ephemeral port, None disables gRPC.
        rest_port: REST port; 0 picks a free ephemeral port, None disables REST.
        host: interface to bind (`127.0.0.1` by default; `0.0.0.0` to serve the network).
        enable_model_warmup: replay `assets.extra/tf_serving_warmup_requests` while loading.
        num_request_iterations_for_warmup: replays per warmup record (<1 means 1).
        file_system_poll_wait_seconds: re-list base paths this often for new/removed versions
            (<= 0: only at start-up).
        rest_api_timeout_in_ms: REST predict deadline (504 past it; <= 0: none).
        rest_api_enable_cors_support: add CORS headers to REST answers.
        grpc_max_workers: threads running gRPC calls' model work.
        rest_api_num_threads: threads running REST calls' model work.
        intra_op_threads: TensorFlow intra-op pool size (0: TensorFlow's choice); set before any
            model loads, so only in a process where TensorFlow has not run yet.
        inter_op_threads: TensorFlow inter-op pool size (0: TensorFlow's choice); same caveat.
        model_config_file_poll_wait_seconds: re-read `model_config_file` this often and apply it
            like HandleReloadConfigRequest (<= 0: read once at start-up).
        allow_version_labels_for_unavailable_models: a new or unchanged version label may point
            at a version that is not AVAILABLE.
        enable_signature_method_name_check: Classify/Regress/MultiInference require the
            signature's method_name to be `tensorflow/serving/classify` / `.../regress`.
        enable_batching: merge concurrent requests per model version (spec §3.6).
        batching_parameters_file: text-format `BatchingParameters` (needs `enable_batching`;
            unset: the batch scheduler's defaults).
        enable_per_model_batching_parameters: a version directory's `batching_params.pbtxt`
            replaces the common batching parameters for that version.
        monitoring_config_file: text-format `MonitoringConfig`; its Prometheus page is served on
            the REST port.
        max_request_bytes: largest request body (REST, after gunzip; gRPC message size); 413 /
            INVALID_ARGUMENT past it. None or 0: unlimited (the CLI defaults to 64 MiB).
        max_image_pixels: largest width×height of an image in a `*_bytes` input (400 /
            INVALID_ARGUMENT past it). None or 0: unlimited.
        enable_grpc_healthcheck_service: serve `grpc.health.v1.Health`, with "ModelService" and
            "PredictionService" (and the server as a whole, "") SERVING while the server runs.
    """

    model_name: str = "default"
    model_base_path: str | os.PathLike[str] | None = None
    model_config_file: str | os.PathLike[str] | None = None
    grpc_port: int | None = 8500
    rest_port: int | None = None
    host: str = "127.0.0.1"
    enable_model_warmup: bool = True
    num_request_iterations_for_warmup: int = 1
    file_system_poll_wait_seconds: float = 1.0
    rest_api_timeout_in_ms: int = 30000
    rest_api_enable_cors_support: bool = False
    grpc_max_workers: int = 16
    rest_api_num_threads: int = 16
    intra_op_threads: int = 0
    inter_op_threads: int = 0
    model_config_file_poll_wait_seconds: float = 0.0
    allow_version_labels_for_unavailable_models: bool = False
    enable_signature_method_name_check: bool = False
    enable_batching: bool = False
    batching_parameters_file: str | os.PathLike[str] | None = None
    enable_per_model_batching_parameters: bool = False
    monitoring_config_file: str | os.PathLike[str] | None = None
    max_request_bytes: int | None = None
    max_image_pixels: int | None = None
    enable_grpc_healthcheck_service: bool = False

    def batching_parameters(self) -> BatchingParameters | None:
        """The common batching parameters, or None when batching is off.

        Raises:
            InvalidArgumentError: a parameters file without `enable_batching`, or an invalid file.
        """
        if self.batching_parameters_file and not self.enable_batching:
            raise InvalidArgumentError(
                "server_options.batching_parameters_file is set without setting "
                "server_options.enable_batching to true."
            )
        if not self.enable_batching:
            return None
        if self.batching_parameters_file:
            return read_batching_parameters(self.batching_parameters_file)
        return BatchingParameters()

    def monitoring_config(self) -> MonitoringConfig | None:
        """The monitoring config (None without `monitoring_config_file`).

        Raises:
            InvalidArgumentError: the file is unreadable or invalid.
        """
        if not self.monitoring_config_file:
            return None
        return read_monitoring_config(self.monitoring_config_file)

    def request_limits(self) -> RequestLimits:
        """The request limits (0 or None: unlimited).

        Raises:
            InvalidArgumentError: a negative limit.
        """
        return RequestLimits(self.max_request_bytes or None, self.max_image_pixels or None)

    def model_server_config(self) -> model_server_config_pb2.ModelServerConfig:
        """The `ModelServerConfig` these options describe (read from file, or one model).

        Raises:
            UsageError: neither a base path nor a config file is given.
            NotFoundError, InvalidArgumentError: the config file is missing or invalid.
        """
        if self.model_config_file:
            return read_model_server_config(self.model_config_file)
        if not self.model_base_path:
            raise UsageError(
                "Both server_options.model_base_path and server_options.model_config_file are empty! "
                "Expected --model_base_path=DIR or --model_config_file=FILE. Received: model_base_path=''"
            )
        config = model_server_config_pb2.ModelServerConfig()
        config.model_config_list.config.add(
            name=self.model_name,
            base_path=str(Path(self.model_base_path).absolute()),
            model_platform=TENSORFLOW_PLATFORM,
        )
        validate_model_server_config(config)
        return config


def _add_health_service(server: grpc.Server):
    """Register the standard `grpc.health.v1.Health` service, as TF Serving does with
    `--enable_grpc_healthcheck_service` (statuses "ModelService" and "PredictionService")."""
    from grpc_health.v1 import health, health_pb2, health_pb2_grpc

    servicer = health.HealthServicer()
    for service in (
        "",
        "tensorflow.serving.ModelService",
        "tensorflow.serving.PredictionService",
        "ModelService",
        "PredictionService",
    ):
        servicer.set(service, health_pb2.HealthCheckResponse.SERVING)
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    return servicer


def _host_port(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class ModelServer:
    """The embedded TF Serving-compatible server.

    Args:
        options: `ServerOptions`.

    `start()` blocks until every model is AVAILABLE (or raises); `stop()` shuts both protocols
    down and unloads the models. Also a context manager (`with ModelServer(opts) as server:`).
    """

    def __init__(self, options: ServerOptions):
        self.options = options
        self.manager: ModelManager | None = None
        self.metrics = ServingMetrics()
        self._limits = RequestLimits()
        self._monitoring: MonitoringConfig | None = None
        self.grpc_port: int | None = None
        self.rest_port: int | None = None
        self._grpc: tuple[asyncio.AbstractEventLoop, asyncio.Event, threading.Thread] | None = None
        self._grpc_executor: concurrent.futures.ThreadPoolExecutor | None = None
        self._uvicorn: uvicorn.Server | None = None
        self._rest_thread: threading.Thread | None = None
        self._rest_executor: concurrent.futures.ThreadPoolExecutor | None = None
        self._health = None
        self._config_stop = threading.Event()
        self._config_poller: threading.Thread | None = None

    def start(self) -> ModelServer:
        """Loads the models, then starts gRPC and REST.

        Returns:
            self, for chaining.

        Raises:
            TfappsError: a config, load or bind failure (the server is left stopped).
        """
        opts = self.options
        if opts.intra_op_threads or opts.inter_op_threads:
            intra, inter = configure_tensorflow_threads(opts.intra_op_threads, opts.inter_op_threads)
            logger.info("TensorFlow thread pools: intra_op=%d inter_op=%d (0 = automatic)", intra, inter)
        batching = opts.batching_parameters()
        self._monitoring = opts.monitoring_config()
        self._limits = opts.request_limits()
        if self._monitoring is not None and self._monitoring.prometheus_enabled and opts.rest_port is None:
            logger.warning("The Prometheus page is enabled but REST is off: it is not served.")
        config = opts.model_server_config()
        self.manager = ModelManager(
            config.model_config_list.config,
            enable_warmup=opts.enable_model_warmup,
            warmup_iterations=opts.num_request_iterations_for_warmup,
            allow_version_labels_for_unavailable_models=opts.allow_version_labels_for_unavailable_models,
            batching=batching,
            per_model_batching_parameters=opts.enable_per_model_batching_parameters,
            metrics=self.metrics,
        )
        try:
            self.manager.load_initial()
            self.manager.start_polling(opts.file_system_poll_wait_seconds)
            self._start_config_polling()
            if opts.grpc_port is not None:
                self._start_grpc(opts.grpc_port)
            if opts.rest_port is not None:
                if opts.rest_port != 0 and opts.rest_port == opts.grpc_port:
                    logger.error("server_options.http_port cannot be same as grpc_port. Not starting REST.")
                else:
                    self._start_rest(opts.rest_port)
        except BaseException:
            self.stop()
            raise
        return self

    def _start_config_polling(self) -> None:
        period = self.options.model_config_file_poll_wait_seconds
        if not self.options.model_config_file or period <= 0:
            return
        self._config_stop.clear()

        def loop() -> None:
            while not self._config_stop.wait(period):
                self.reload_config_file()

        self._config_poller = threading.Thread(target=loop, name="tfapps-config-poll", daemon=True)
        self._config_poller.start()

    def reload_config_file(self) -> bool:
        """Re-reads `model_config_file` and applies it as HandleReloadConfigRequest would.

        Errors (unreadable or invalid file, models that fail to load, bad labels) are logged and
        the server keeps serving; upstream's config poller behaves the same way.

        Returns:
            True when the file was applied (or unchanged), False when it failed.
        """
        path = self.options.model_config_file
        if not path or self.manager is None:
            return False
        try:
            config = read_model_server_config(path)
            if config.WhichOneof("config") != "model_config_list":
                raise InvalidArgumentError(
                    f"Only a model_config_list can be reloaded. Received: model_config_file={str(path)!r}"
                )
            self.manager.reload_config(config.model_config_list.config)
        except TfappsError as exc:
            logger.error("Reloading model config file %s failed: %s", path, exc)
            return False
        except Exception:  # a poll failure must not end future polls
            logger.exception("Reloading model config file %s failed", path)
            return False
        return True

    def _start_grpc(self, port: int) -> None:
        """Starts the grpc.aio server on its own event loop thread and waits until it listens."""
        self._grpc_executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=self.options.grpc_max_workers, thread_name_prefix="grpc"
        )
        # uvloop, like REST: grpc.aio's per-call callbacks run on this loop, and uvloop's cheaper
        # iterations cut the server's CPU per gRPC call by ~5% (bench/serving.py, 8-64 clients).
        loop = uvloop.new_event_loop()
        started: concurrent.futures.Future[int] = concurrent.futures.Future()
        stopping = asyncio.Event()

        def run() -> None:
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self._serve_grpc(port, started, stopping))
            except BaseException as exc:  # surfaced to start() below
                if not started.done():
                    started.set_exception(exc)
                else:
                    logger.exception("The gRPC server stopped with an error")
            finally:
                loop.close()

        thread = threading.Thread(target=run, name="tfapps-grpc", daemon=True)
        thread.start()
        try:
            bound = started.result()
        except BaseException:
            thread.join()
            raise
        self._grpc = (loop, stopping, thread)
        self.grpc_port = bound
        logger.info("Running gRPC ModelServer at %s ...", _host_port(self.options.host, bound))

    async def _serve_grpc(
        self, port: int, started: concurrent.futures.Future[int], stopping: asyncio.Event
    ) -> None:
        server = grpc.aio.server(
            migration_thread_pool=self._grpc_executor,
            options=[
                ("grpc.max_receive_message_length", _GRPC_MAX_MESSAGE),
                ("grpc.max_send_message_length", _GRPC_MAX_MESSAGE),
                ("grpc.so_reuseport", 0),
            ],
        )
        add_services(
            server,
            self.manager,
            self.options.enable_signature_method_name_check,
            self._limits,
            self.metrics,
            self._grpc_executor,
        )
        if self.options.enable_grpc_healthcheck_service:
            self._health = _add_health_service(server)
        address = _host_port(self.options.host, port)
        try:
            bound = server.add_insecure_port(address)
        except RuntimeError as exc:
            raise InvalidArgumentError(
                f"Failed to bind gRPC to {address}: {exc}. Received: port={port}"
            ) from exc
        if bound == 0:
            raise InvalidArgumentError(f"Failed to bind gRPC to {address} (in use?). Received: port={port}")
        await server.start()
        started.set_result(bound)
        await stopping.wait()
        await server.stop(grace=1.0)

    def _start_rest(self, port: int) -> None:
        family = socket.AF_INET6 if ":" in self.options.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            # Accepted connections inherit this. Without it, on a keep-alive connection each
            # response's second write waits for the client's delayed ACK: +40 ms per request.
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.bind((self.options.host, port))
        except OSError as exc:
            sock.close()
            raise InvalidArgumentError(
                f"Failed to bind REST to {_host_port(self.options.host, port)}: {exc}. Received: rest_api_port={port}"
            ) from exc
        sock.set_inheritable(True)
        self._rest_executor = concurrent.futures.ThreadPoolExecutor(
            self.options.rest_api_num_threads, thread_name_prefix="rest"
        )
        app = build_rest_app(
            self.manager,
            self.options.rest_api_timeout_in_ms,
            self.options.rest_api_enable_cors_support,
            self.options.enable_signature_method_name_check,
            limits=self._limits,
            metrics=self.metrics,
            monitoring=self._monitoring,
            executor=self._rest_executor,
        )
        # On uvloop with httptools: the fastest event loop and HTTP parser uvicorn supports, with
        # each response sent in one write (http_protocol.py). No WebSockets: TF Serving has none.
        config = uvicorn.Config(
            app,
            http=CoalescingHttpToolsProtocol,
            ws="none",
            log_level="warning",
            lifespan="off",
            access_log=False,
            proxy_headers=False,  # TF Serving ignores X-Forwarded-*; so do we
            server_header=False,
        )
        server = uvicorn.Server(config)
        failures: list[BaseException] = []

        def run() -> None:
            try:
                # Not the main thread: uvicorn installs no signal handlers here; stop() ends it.
                with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
                    runner.run(server.serve(sockets=[sock]))
            except BaseException as exc:  # surfaced to start() below
                failures.append(exc)

        thread = threading.Thread(target=run, name="tfapps-rest", daemon=True)
        thread.start()
        while not server.started and thread.is_alive():
            thread.join(0.01)
        if not server.started:
            sock.close()
            raise InvalidArgumentError(
                f"REST server failed to start: {failures[0] if failures else 'unknown'}"
            )
        self._uvicorn, self._rest_thread = server, thread
        self.rest_port = sock.getsockname()[1]
        self._rest_socket = sock
        logger.info("Exporting HTTP/REST API at:%s ...", _host_port(self.options.host, self.rest_port))

    def stop(self) -> None:
        """Stops REST and gRPC (in-flight calls get a short grace period) and unloads models."""
        self._config_stop.set()
        if self._config_poller is not None:
            self._config_poller.join()
            self._config_poller = None
        if self._uvicorn is not None:
            self._uvicorn.should_exit = True
            if self._rest_thread is not None:
                self._rest_thread.join(timeout=10)
            self._rest_socket.close()
            self._uvicorn = self._rest_thread = None
        if self._rest_executor is not None:
            self._rest_executor.shutdown(wait=True)
            self._rest_executor = None
        if self._health is not None:
            self._health.enter_graceful_shutdown()  # health checks answer NOT_SERVING from here on
            self._health = None
        if self._grpc is not None:
            loop, stopping, thread = self._grpc
            loop.call_soon_threadsafe(stopping.set)  # in-flight calls get a 1 s grace period
            thread.join()
            self._grpc = None
        if self._grpc_executor is not None:
            self._grpc_executor.shutdown(wait=True)
            self._grpc_executor = None
        if self.manager is not None:
            self.manager.stop()

    def __enter__(self) -> ModelServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def options_from_flags(flags: Flags) -> ServerOptions:
    """Maps CLI flags (TF Serving semantics) to `ServerOptions`.

    Raises:
        UsageError: a port outside 0..65535, `--port=0` (no socket path support), or neither
            `--model_base_path` nor `--model_config_file`.
    """
    for name in ("port", "rest_api_port"):
        value = getattr(flags, name)
        if not 0 <= value <= 65535:
            raise UsageError(f"--{name} must be in 0..65535. Received: --{name}={value}")
    for name in ("max_request_bytes", "max_image_pixels"):
        value = getattr(flags, name)
        if value < 0:
            raise UsageError(f"--{name} must be >= 0 (0 = unlimited). Received: --{name}={value}")
    for name in (
        "tensorflow_session_parallelism",
        "tensorflow_intra_op_parallelism",
        "tensorflow_inter_op_parallelism",
        "grpc_max_threads",
        "rest_api_num_threads",
    ):
        if getattr(flags, name) < 0:
            raise UsageError(
                f"--{name} must be >= 0 (0 = automatic). Received: --{name}={getattr(flags, name)}"
            )
    intra, inter = _thread_pools(flags)
    if flags.port == 0:
        raise UsageError(
            "At least one of server_options.grpc_port or server_options.grpc_socket_path must be set. "
            "Received: --port=0"
        )
    if not flags.model_base_path and not flags.model_config_file:
        raise UsageError(
            "Both server_options.model_base_path and server_options.model_config_file are empty! "
            "Expected --model_base_path=DIR or --model_config_file=FILE."
        )
    return ServerOptions(
        model_name=flags.model_name,
        model_base_path=flags.model_base_path or None,
        model_config_file=flags.model_config_file or None,
        grpc_port=flags.port,
        rest_port=flags.rest_api_port or None,
        host=flags.host,
        enable_model_warmup=flags.enable_model_warmup,
        num_request_iterations_for_warmup=flags.num_request_iterations_for_warmup,
        file_system_poll_wait_seconds=flags.file_system_poll_wait_seconds,
        rest_api_timeout_in_ms=flags.rest_api_timeout_in_ms,
        rest_api_enable_cors_support=flags.rest_api_enable_cors_support,
        model_config_file_poll_wait_seconds=flags.model_config_file_poll_wait_seconds,
        allow_version_labels_for_unavailable_models=flags.allow_version_labels_for_unavailable_models,
        enable_signature_method_name_check=flags.enable_signature_method_name_check,
        enable_batching=flags.enable_batching,
        batching_parameters_file=flags.batching_parameters_file or None,
        enable_per_model_batching_parameters=flags.enable_per_model_batching_parameters,
        monitoring_config_file=flags.monitoring_config_file or None,
        max_request_bytes=flags.max_request_bytes or None,
        max_image_pixels=flags.max_image_pixels or None,
        enable_grpc_healthcheck_service=flags.enable_grpc_healthcheck_service,
        grpc_max_workers=flags.grpc_max_threads or ServerOptions.grpc_max_workers,
        # TF Serving's default: 4 threads per CPU.
        rest_api_num_threads=flags.rest_api_num_threads or 4 * (os.cpu_count() or 1),
        intra_op_threads=intra,
        inter_op_threads=inter,
    )


def _thread_pools(flags: Flags) -> tuple[int, int]:
    """TensorFlow's pool sizes from the flags, by TF Serving's rule: intra/inter parallelism when
    set, else session parallelism for both; all three set is an error. (Upstream ignores a lone
    intra or inter value; here it applies and the other pool stays automatic.)"""
    intra, inter = flags.tensorflow_intra_op_parallelism, flags.tensorflow_inter_op_parallelism
    session = flags.tensorflow_session_parallelism
    if intra and inter and session:
        raise UsageError(
            "Either configure server_options.tensorflow_session_parallelism or "
            "(server_options.tensorflow_intra_op_parallelism, server_options.tensorflow_inter_op_parallelism). "
            f"Both configurations are not supported. Received: --tensorflow_session_parallelism={session}"
        )
    return intra or session, inter or session


def main(argv: Sequence[str]) -> int:
    """Runs `tfapps serve ARGS...` until SIGINT/SIGTERM.

    Args:
        argv: tensorflow_model_server style flags (see `flags.py`).

    Returns:
        0 after a clean shutdown (or `--help`/`--version`), 1 when start-up fails (`Failed to start
        server. Error: ...` on stderr), 2 for a bad command line.
    """
    if not logging.getLogger().handlers:
        logging.basicConfig(
            level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
        )
    if any(a in ("-h", "--help", "-help") for a in argv):
        sys.stdout.write(usage() + "\n")
        return EXIT_OK
    try:
        flags = parse_flags(argv)
        if flags.version:
            import tensorflow as tf

            sys.stdout.write(f"TensorFlow ModelServer: tfapps\nTensorFlow Library: {tf.__version__}\n")
            return EXIT_OK
        options = options_from_flags(flags)
    except UsageError as exc:
        sys.stderr.write(f"tfapps serve: error: {exc}\n")
        return EXIT_USAGE_ERROR
    # The event loops and the batching threads pass the GIL back and forth thousands of times a
    # second; with CPython's default 5 ms switch interval a thread waiting for it idles. 0.5 ms
    # raised batched REST throughput by ~25% at 32 clients (bench/serving.py).
    previous_interval = sys.getswitchinterval()
    sys.setswitchinterval(_SWITCH_INTERVAL_S)
    stop = threading.Event()
    previous = {}
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, lambda *_: stop.set())
    server = ModelServer(options)
    try:
        try:
            server.start()
        except (TfappsError, OSError) as exc:
            sys.stderr.write(f"Failed to start server. Error: {exc}\n")
            return EXIT_RUNTIME_ERROR
        while not stop.wait(0.5):
            pass
        logger.info("Shutting down the model server")
        server.stop()
        return EXIT_OK
    finally:
        sys.setswitchinterval(previous_interval)
        for sig, handler in previous.items():
            signal.signal(sig, handler)

"""The model manager: which versions of which models are loaded, and the one place they run.

It mirrors TF Serving's ServerCore + AspiredVersionsManager for our needs: each model's base path
is listed, the version policy (`latest` N / `all` / `specific`) picks the aspired versions, new
versions are loaded (and warmed up) before old ones are unloaded (availability preserving), and
every version's state (START, LOADING, AVAILABLE, UNLOADING, END + error) is kept for the status
API. `reconcile()` is one file-system poll; `start_polling()` repeats it in a thread;
`reload_config()` swaps the whole model list (HandleReloadConfigRequest, config-file polling).
Version labels are kept in their own map, replaced only when every label of a (re)load is valid.

REST and gRPC both call `resolve()` then `run()`. With batching enabled each AVAILABLE version
has its own `Batcher` (created after warmup, so warmup runs unbatched; closed on unload, after the
queued requests ran on that version), and `run()` submits batchable requests to it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import enum
import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf
from tensorflow_serving.config import model_server_config_pb2

from tfapps.apps.errors import (
    FailedPreconditionError,
    InvalidArgumentError,
    NotFoundError,
    TfappsError,
    UnavailableError,
)
from tfapps.serving.model_config import TENSORFLOW_PLATFORM, list_versions
from tfapps.serving.runtime import Servable, load_servable
from tfapps.serving.server import heap
from tfapps.serving.server.batching import (
    Batcher,
    BatchingParameters,
    PendingRequest,
    read_batching_parameters,
)
from tfapps.serving.server.metrics import ServingMetrics
from tfapps.serving.server.warmup import run_warmup
from tfapps.serving.status_codes import error_for_code

logger = logging.getLogger(__name__)

ModelConfig = model_server_config_pb2.ModelConfig

# --enable_per_model_batching_parameters reads this file from the version directory
# (TF Serving's bundle_factory_util.cc kBatchingParamsFilename).
PER_MODEL_BATCHING_FILE = "batching_params.pbtxt"


class State(enum.IntEnum):
    """Version states, numbered as `ModelVersionStatus.State` in get_model_status.proto."""

    UNKNOWN = 0
    START = 10
    LOADING = 20
    AVAILABLE = 30
    UNLOADING = 40
    END = 50


@dataclasses.dataclass
class VersionStatus:
    """The state of one model version, as the status API reports it.

    Attributes:
        version: the version number.
        state: current `State`.
        error_code: canonical code name; `"OK"` unless loading failed.
        error_message: the load error, empty when OK.
    """

    version: int
    state: State
    error_code: str = "OK"
    error_message: str = ""


@dataclasses.dataclass(frozen=True)
class ServableHandle:
    """A resolved request target: one AVAILABLE version of a model."""

    model_name: str
    version: int
    servable: Servable


@dataclasses.dataclass
class _Model:
    config: ModelConfig
    statuses: dict[int, VersionStatus] = dataclasses.field(default_factory=dict)
    servables: dict[int, Servable] = dataclasses.field(default_factory=dict)
    # version -> the batching queue of exactly that servable (batching enabled only).
    batchers: dict[int, tuple[Servable, Batcher]] = dataclasses.field(default_factory=dict)
    # False once a config reload dropped the model: its END statuses stay visible to the status API.
    configured: bool = True


def _platform(config: ModelConfig) -> str:
    # The deprecated model_type enum has one value, TENSORFLOW, which means the "tensorflow" platform.
    return config.model_platform or TENSORFLOW_PLATFORM


def aspired_versions(config: ModelConfig, available: Mapping[int, Path]) -> list[int]:
    """Applies a model's version policy to the versions found on disk.

    Args:
        config: the model's `ModelConfig` (`model_version_policy` unset means `latest {1}`).
        available: version → directory, from listing the base path.

    Returns:
        The versions to serve, highest first.
    """
    policy = config.model_version_policy
    kind = policy.WhichOneof("policy_choice")
    found = sorted(available, reverse=True)
    if kind == "all":
        return found
    if kind == "specific":
        wanted = list(policy.specific.versions)
        missing = sorted(set(wanted) - set(found))
        if missing:
            logger.warning(
                "Versions %s of model %s are not on disk under %s", missing, config.name, config.base_path
            )
        if not wanted:
            logger.warning(
                "Model %s has an empty specific version policy; nothing will be served", config.name
            )
        return [v for v in found if v in wanted]
    num = policy.latest.num_versions if kind == "latest" else 1
    return found[: max(1, num)]


class ModelManager:
    """Loads, tracks and runs the configured models.

    Args:
        configs: one `ModelConfig` per model (names unique, absolute base paths).
        enable_warmup: replay `assets.extra/tf_serving_warmup_requests` before AVAILABLE.
        warmup_iterations: times each warmup record is replayed.
        loader: `version_dir -> Servable` (tests may inject one).
        allow_version_labels_for_unavailable_models: let a new or unchanged label point at a
            version that is not AVAILABLE (TF Serving's flag of the same name).
        batching: batch concurrent requests per version with these parameters (None: no batching).
        per_model_batching_parameters: with `batching`, a version directory's
            `batching_params.pbtxt` replaces `batching` for that version.
        metrics: where load, batch and runtime metrics go (None: not recorded).
        freeze_heap: keep loaded models out of the garbage collector's full passes (`heap.py`):
            frozen after loads, collected and refrozen after unloads, unfrozen by `stop()`.
    """

    def __init__(
        self,
        configs: Sequence[ModelConfig],
        enable_warmup: bool = True,
        warmup_iterations: int = 1,
        loader: Callable[[Path], Servable] = load_servable,
        allow_version_labels_for_unavailable_models: bool = False,
        batching: BatchingParameters | None = None,
        per_model_batching_parameters: bool = False,
        metrics: ServingMetrics | None = None,
        freeze_heap: bool = True,
    ):
        self._models = {c.name: _Model(config=c) for c in configs}
        self._labels: dict[str, dict[str, int]] = {}
        self._allow_unavailable_labels = allow_version_labels_for_unavailable_models
        self._enable_warmup = enable_warmup
        self._warmup_iterations = warmup_iterations
        self._loader = loader
        self._lock = threading.RLock()
        self._reconcile_lock = threading.Lock()
        self._stop = threading.Event()
        self._poller: threading.Thread | None = None
        self._batching = batching
        self._per_model_batching = per_model_batching_parameters
        self._metrics = metrics
        self._retired: list[Batcher] = []  # unloaded versions' batchers, closed outside the lock
        self._freeze_heap = freeze_heap
        self._heap_changes = {"loaded": 0, "unloaded": 0}  # since the heap was last settled

    @property
    def model_names(self) -> list[str]:
        """Configured model names, sorted."""
        return sorted(name for name, model in self._models.items() if model.configured)

    def version_labels(self, model_name: str) -> dict[str, int]:
        """The label → version map in force for a model (empty when it has none)."""
        with self._lock:
            return dict(self._labels.get(model_name, {}))

    # ---------------------------------------------------------------- loading

    def load_initial(self) -> None:
        """Loads every model's aspired versions; returns once each is AVAILABLE or END.

        Raises:
            NotFoundError: a base path is missing or holds no numeric version folder.
            UnavailableError: some versions failed to load (message lists them and why).
            FailedPreconditionError: a version label points to a version that is not available.
        """
        for model in self._models.values():
            base = Path(model.config.base_path)
            if not base.is_dir():
                raise NotFoundError(
                    f"Could not find base path {base} for servable {model.config.name}. "
                    f"Received: base_path={str(base)!r}"
                )
            if not self._aspired(model):
                raise NotFoundError(
                    f"No versions of servable {model.config.name} found under base path {base}. "
                    "Did you forget to name your leaf directory as a number (eg. '/1/')?"
                )
        self.reconcile()
        failures = self._load_failures(self._models.values())
        if failures:
            raise UnavailableError(
                f"{len(failures)} servable(s) did not become available: {{{', '.join(failures)}}}"
            )
        self._update_labels(list(self._models.values()))

    @staticmethod
    def _load_failures(models: Iterable[_Model]) -> list[str]:
        failures = []
        for model in models:
            for status in model.statuses.values():
                if status.state == State.END and status.error_code != "OK":
                    failures.append(
                        f"{{name: {model.config.name} version: {status.version}}} due to error: "
                        f"{status.error_code}: {status.error_message}"
                    )
        return failures

    def _aspired(self, model: _Model) -> list[int]:
        try:
            return aspired_versions(model.config, list_versions(model.config.base_path))
        except OSError as exc:
            logger.error(
                "Could not list base path %s for servable %s: %s",
                model.config.base_path,
                model.config.name,
                exc,
            )
            return []

    def _update_labels(self, models: Sequence[_Model]) -> None:
        """Checks every model's configured labels, then installs them all (or none).

        Raises:
            FailedPreconditionError: a label points at a version that is not AVAILABLE (with
                `allow_version_labels_for_unavailable_models`, only a label moved to another
                version must point at an AVAILABLE one, as upstream).
        """
        with self._lock:
            for model in models:
                previous = self._labels.get(model.config.name, {})
                for label, version in sorted(model.config.version_labels.items()):
                    status = model.statuses.get(version)
                    if status is not None and status.state == State.AVAILABLE:
                        continue
                    if self._allow_unavailable_labels and previous.get(label, version) == version:
                        continue  # new or unchanged label
                    raise FailedPreconditionError(
                        f"Request to assign label to version {version} of model {model.config.name}, which "
                        f"is not currently available for inference. Received: {label}={version}"
                    )
            for model in models:
                self._labels[model.config.name] = dict(model.config.version_labels)

    def reconcile(self) -> None:
        """One file-system poll: load newly aspired versions, then unload versions no longer aspired.

        A model never drops to zero AVAILABLE versions because of a poll (availability preserving).
        Versions that failed to load stay in END with their error and are not retried.
        """
        with self._reconcile_lock:
            try:
                self._reconcile_locked()
            finally:
                self._close_retired()
                self._settle_heap()

    def _reconcile_locked(self) -> None:
        with self._lock:
            models = [m for m in self._models.values() if m.configured]
        for model in models:
            self._reconcile_model(model)

    def _reconcile_model(self, model: _Model) -> None:
        if not Path(model.config.base_path).is_dir():
            logger.error(
                "Could not find base path %s for servable %s", model.config.base_path, model.config.name
            )
            return
        on_disk = list_versions(model.config.base_path)
        aspired = aspired_versions(model.config, on_disk)
        if not aspired:
            logger.warning(
                "No versions of servable %s found under base path %s. Did you forget to name your "
                "leaf directory as a number (eg. '/1/')?",
                model.config.name,
                model.config.base_path,
            )
        for version in aspired:
            status = model.statuses.get(version)
            if status is None or (status.state == State.END and status.error_code == "OK"):
                self._load(model, version, on_disk[version])
        self._unload_unaspired(model, set(aspired))

    def _load(self, model: _Model, version: int, version_dir: Path) -> None:
        name = model.config.name
        with self._lock:
            model.statuses[version] = VersionStatus(version, State.START)
            model.statuses[version].state = State.LOADING
        logger.info("Loading servable version {name: %s version: %d} from %s", name, version, version_dir)
        started = time.perf_counter()
        try:
            servable = self._loader(version_dir)
            if self._enable_warmup:
                run_warmup(servable, version_dir, self._warmup_iterations, name, version)
            batcher = self._new_batcher(name, version, version_dir, servable)
        except TfappsError as exc:
            self._record_load(name, version, started, ok=False)
            self._fail(model, version, exc.grpc_code, str(exc))
            return
        except Exception as exc:  # a broken SavedModel must not take the server down
            self._record_load(name, version, started, ok=False)
            self._fail(model, version, "UNKNOWN", f"{type(exc).__name__}: {exc}")
            return
        self._record_load(name, version, started, ok=True)
        with self._lock:
            model.servables[version] = servable
            if batcher is not None:
                model.batchers[version] = (servable, batcher)
            model.statuses[version] = VersionStatus(version, State.AVAILABLE)
            self._heap_changes["loaded"] += 1
        logger.info("Successfully loaded servable version {name: %s version: %d}", name, version)

    def _record_load(self, name: str, version: int, started: float, ok: bool) -> None:
        if self._metrics is not None:
            self._metrics.record_load(name, version, time.perf_counter() - started, ok)

    def _new_batcher(self, name: str, version: int, version_dir: Path, servable: Servable) -> Batcher | None:
        """The batching queue of a freshly loaded (and warmed-up) version, or None without batching.

        Raises:
            InvalidArgumentError: an invalid per-model `batching_params.pbtxt` (the load fails).
        """
        params = self._batching
        if params is None:
            return None
        per_model = Path(version_dir) / PER_MODEL_BATCHING_FILE
        if self._per_model_batching and per_model.is_file():
            params = read_batching_parameters(per_model)
            logger.info(
                "Using batching parameters from %s for {name: %s version: %d}", per_model, name, version
            )
        metrics = self._metrics

        def run_batch(inputs: Mapping[str, Any], signature_name: str, output_filter: tuple, api: str):
            return self._timed_predict(name, api, servable, inputs, signature_name, output_filter)

        return Batcher(
            run_batch,
            params,
            on_batch=None
            if metrics is None
            else lambda s: metrics.record_batch(name, version, s.size, s.padded_size, s.queuing_seconds),
            on_queue_depth=None if metrics is None else lambda d: metrics.set_queue_depth(name, version, d),
        )

    def _timed_predict(
        self,
        name: str,
        api: str,
        servable: Servable,
        inputs: Mapping[str, Any],
        signature_name: str,
        output_filter: Iterable[str] | None,
    ) -> dict[str, np.ndarray]:
        started = time.perf_counter()
        try:
            return servable.predict(inputs, signature_name, output_filter)
        finally:
            if self._metrics is not None:
                self._metrics.record_runtime(name, api, time.perf_counter() - started)

    def _fail(self, model: _Model, version: int, code: str, message: str) -> None:
        logger.error(
            "Loading servable {name: %s version: %d} failed: %s", model.config.name, version, message
        )
        with self._lock:
            model.statuses[version] = VersionStatus(version, State.END, code, message)

    def _unload_unaspired(self, model: _Model, aspired: set[int]) -> None:
        with self._lock:
            loaded = set(model.servables)
            if not loaded & aspired:
                return  # keep serving what we have until an aspired version is available
            for version in sorted(loaded - aspired):
                self._unload(model, version)

    def _unload(self, model: _Model, version: int) -> None:
        with self._lock:
            model.statuses[version].state = State.UNLOADING
            model.servables.pop(version, None)
            entry = model.batchers.pop(version, None)
            if entry is not None:
                self._retired.append(entry[1])
            model.statuses[version].state = State.END
            self._heap_changes["unloaded"] += 1
        logger.info("Unloaded servable version {name: %s version: %d}", model.config.name, version)

    def _close_retired(self) -> None:
        """Closes unloaded versions' batchers: their queued requests still run on that version.

        Called without `self._lock` held (closing joins the batch threads, which may be waiting
        for a servable call that needs no lock, but a caller holding the lock must not block them).
        """
        with self._lock:
            retired, self._retired = self._retired, []
        for batcher in retired:
            batcher.close()

    def _settle_heap(self) -> None:
        """Freezes what loads added; after unloads, collects their cycles first (see `heap.py`)."""
        with self._lock:
            changes = dict(self._heap_changes)
            self._heap_changes.update(loaded=0, unloaded=0)
        if not self._freeze_heap:
            return
        if changes["unloaded"]:
            heap.collect_and_freeze()
        elif changes["loaded"]:
            heap.freeze()

    def batcher(self, model_name: str, version: int) -> Batcher | None:
        """The batching queue of an AVAILABLE version (None without batching or when not loaded)."""
        with self._lock:
            model = self._models.get(model_name)
            entry = model.batchers.get(version) if model is not None else None
        return entry[1] if entry is not None else None

    def reload_config(self, configs: Sequence[ModelConfig]) -> None:
        """Replaces the served model list (ServerCore::ReloadConfig) and waits for new models.

        Models not in `configs` are unloaded (their statuses stay, as END); new models are loaded
        before this returns; changed ones (policy, base path, labels) are re-polled. Re-applying an
        identical list changes nothing. Labels are installed last, all or none.

        Args:
            configs: the new, already validated, model list (`validate_model_server_config`).

        Raises:
            InvalidArgumentError: a model's platform would change.
            TfappsError: UNKNOWN `N model(s) did not become available: {...}` when a new model
                has no AVAILABLE version.
            FailedPreconditionError: a label points at a version that is not available.
        """
        with self._reconcile_lock:
            try:
                self._reload_config_locked(configs)
            finally:
                self._close_retired()
                self._settle_heap()

    def _reload_config_locked(self, configs: Sequence[ModelConfig]) -> None:
        new = {c.name: c for c in configs}
        with self._lock:
            old = {n: m.config for n, m in self._models.items() if m.configured}
        if old.keys() == new.keys() and all(old[n] == new[n] for n in new):
            logger.info("Model config unchanged; nothing to reload")
            return
        for name, config in new.items():
            if name in old and _platform(old[name]) != _platform(config):
                raise InvalidArgumentError(
                    f"Illegal to change a model's platform. For model {name} platform was "
                    f"{_platform(old[name])} and new platform requested is {_platform(config)}"
                )
        added = [name for name in new if name not in old]
        with self._lock:
            for name in sorted(old.keys() - new.keys()):
                model = self._models[name]
                model.configured = False
                for version in sorted(model.servables):
                    self._unload(model, version)
                self._labels.pop(name, None)
            for name, config in new.items():
                model = self._models.setdefault(name, _Model(config=config))
                model.config, model.configured = config, True
        logger.info("Reloading model config: added %s, removed %s", added, sorted(old.keys() - new.keys()))
        self._reconcile_locked()
        failures = []
        for name in added:
            model = self._models[name]
            if model.servables:
                continue
            reasons = self._load_failures([model]) or [
                f"{{name: {name}}} due to error: no version found under base path {model.config.base_path}"
            ]
            failures.extend(reasons)
        if failures:
            raise error_for_code(
                "UNKNOWN", f"{len(failures)} model(s) did not become available: {{{', '.join(failures)}}}"
            )
        self._update_labels([self._models[name] for name in new])

    def start_polling(self, period_s: float) -> None:
        """Re-runs `reconcile()` every `period_s` seconds in a daemon thread (no-op when <= 0)."""
        if period_s <= 0 or self._poller is not None:
            return

        def loop() -> None:
            while not self._stop.wait(period_s):
                try:
                    self.reconcile()
                except Exception:  # a poll failure must not stop future polls
                    logger.exception("File system poll failed")

        self._poller = threading.Thread(target=loop, name="tfapps-fs-poll", daemon=True)
        self._poller.start()

    def stop(self) -> None:
        """Stops polling and unloads every version (their state becomes END)."""
        self._stop.set()
        if self._poller is not None:
            self._poller.join()
            self._poller = None
        with self._lock:
            for model in self._models.values():
                for version in sorted(model.servables):
                    self._unload(model, version)
            self._heap_changes.update(loaded=0, unloaded=0)
        self._close_retired()
        if self._freeze_heap:
            heap.unfreeze()  # no collection here: the process is usually ending

    # ---------------------------------------------------------------- serving

    def resolve(
        self, model_name: str, version: int | None = None, label: str | None = None
    ) -> ServableHandle:
        """Finds the servable for a request.

        Args:
            model_name: the model.
            version: a specific version; None → the highest AVAILABLE one.
            label: a version label from the model config (instead of `version`).

        Returns:
            The handle to run.

        Raises:
            InvalidArgumentError: empty model name or unknown label.
            NotFoundError: `Servable not found for request: Latest(m)` / `Specific(m, v)`.
        """
        if not model_name:
            raise InvalidArgumentError("ModelSpec has no name specified.")
        with self._lock:
            model = self._models.get(model_name)
            if label:
                labels = self._labels.get(model_name, {})
                if label not in labels:
                    raise InvalidArgumentError(
                        f"Unrecognized servable version label: {label}. Received: model={model_name!r}"
                    )
                version = labels[label]
            request = f"Latest({model_name})" if version is None else f"Specific({model_name}, {version})"
            servables = model.servables if model is not None else {}
            if version is None and servables:
                version = max(servables)
            servable = servables.get(version) if version is not None else None
        if servable is None:
            raise NotFoundError(f"Servable not found for request: {request}")
        return ServableHandle(model_name, version, servable)

    def run(
        self,
        handle: ServableHandle,
        inputs: Mapping[str, Any],
        signature_name: str = "",
        output_filter: Iterable[str] | None = None,
        timeout: float | None = None,
        api: str = "Predict",
    ) -> dict[str, np.ndarray]:
        """Runs a signature of a resolved version (the single execution point for REST and gRPC).

        With batching, the request goes through the version's batching queue when it can be
        merged: every declared input is fed and has a variable leading (batch) dimension.
        Otherwise (fixed-batch or unknown-rank inputs, defaulted inputs left out, no batching) the
        signature runs directly.

        Args:
            handle: from `resolve()`.
            inputs: alias → array-like.
            signature_name: empty means `serving_default`.
            output_filter: aliases to return; None or empty returns every output.
            timeout: seconds a batched request may wait for its answer (None: no limit).
            api: `Predict|Classify|Regress|MultiInference`, the runtime-latency metric's label.

        Raises:
            FailedPreconditionError, InvalidArgumentError, TfappsError: see `Servable.predict`.
            UnavailableError: the batching queue is full.
            DeadlineExceededError: the batched answer did not come within `timeout`.
        """
        pending = self.enqueue_batched(handle, inputs, signature_name, output_filter, api)
        if pending is not None:
            return pending.result(timeout)
        return self.run_direct(handle, inputs, signature_name, output_filter, api)

    def enqueue_batched(
        self,
        handle: ServableHandle,
        inputs: Mapping[str, Any],
        signature_name: str = "",
        output_filter: Iterable[str] | None = None,
        api: str = "Predict",
        loop: asyncio.AbstractEventLoop | None = None,
    ) -> PendingRequest | None:
        """Queues the request in its version's batching queue, when `run` would batch it.

        `loop`: the caller's running event loop when it awaits `PendingRequest.result_async`
        (see `Batcher.enqueue`).

        Returns:
            The queued request, or None when it must run directly (`run_direct`): batching off,
            an unbatchable request, or a version unloaded since `resolve()`.

        Raises:
            UnavailableError: the batching queue is full.
            InvalidArgumentError: more rows than `max_batch_size`.
        """
        batcher = self._batcher_for(handle)
        if batcher is None:
            return None
        arrays = _batch_inputs(handle.servable, signature_name, inputs)
        if arrays is None:
            return None
        try:
            return batcher.enqueue(arrays, key=(signature_name, tuple(output_filter or ()), api), loop=loop)
        except UnavailableError:
            if not batcher.closed:
                raise  # queue full
            return None  # unloaded after resolve(): finish on the version it started on

    def run_direct(
        self,
        handle: ServableHandle,
        inputs: Mapping[str, Any],
        signature_name: str = "",
        output_filter: Iterable[str] | None = None,
        api: str = "Predict",
    ) -> dict[str, np.ndarray]:
        """Runs the signature now, in the calling thread, bypassing batching (see `run`)."""
        outputs = tuple(output_filter or ())
        return self._timed_predict(handle.model_name, api, handle.servable, inputs, signature_name, outputs)

    def _batcher_for(self, handle: ServableHandle) -> Batcher | None:
        if self._batching is None:
            return None
        with self._lock:
            model = self._models.get(handle.model_name)
            entry = model.batchers.get(handle.version) if model is not None else None
        if entry is None or entry[0] is not handle.servable:
            return None
        return entry[1]

    def version_statuses(self, model_name: str, version: int | None = None) -> list[VersionStatus]:
        """Reports version states for the status API, newest first.

        Args:
            model_name: the model.
            version: only this version; None → every version ever seen (END ones included).

        Raises:
            InvalidArgumentError: empty model name.
            NotFoundError: `Could not find any versions of model m` / `Could not find version v of model m`.
        """
        if not model_name:
            raise InvalidArgumentError("ModelSpec has no name specified.")
        with self._lock:
            model = self._models.get(model_name)
            statuses = dict(model.statuses) if model is not None else {}
        if not statuses:
            raise NotFoundError(f"Could not find any versions of model {model_name}")
        if version is not None:
            if version not in statuses:
                raise NotFoundError(f"Could not find version {version} of model {model_name}")
            return [dataclasses.replace(statuses[version])]
        return [dataclasses.replace(statuses[v]) for v in sorted(statuses, reverse=True)]


def _batch_inputs(
    servable: Servable, signature_name: str, inputs: Mapping[str, Any]
) -> dict[str, Any] | None:
    """The request's inputs ready to merge with others, or None when it must run alone.

    A request is batchable when it feeds every declared input and each has a variable leading
    (batch) dimension. String inputs become object arrays, so texts of different lengths merge.
    """
    try:
        signature = servable.signature(signature_name)
    except TfappsError:
        return None  # the direct run reports the error
    if not signature.inputs or set(inputs) != set(signature.inputs):
        return None
    if not all(info.shape and info.shape[0] is None for info in signature.inputs.values()):
        return None
    arrays = {}
    for alias, value in inputs.items():
        try:
            array = np.asarray(value)
        except ValueError:
            return None  # ragged: the direct run reports it
        if array.dtype.kind in ("S", "U") and signature.inputs[alias].tf_dtype == tf.string:
            array = array.astype(object)
        arrays[alias] = array
    return arrays

"""The embedded TF Serving-compatible model server (`tfapps serve`).

Public API::

    from tfapps.serving.server import ServerOptions, ModelServer, main

    with ModelServer(ServerOptions(model_name="m", model_base_path="/x/m", grpc_port=0, rest_port=0)) as s:
        ...  # s.grpc_port, s.rest_port

Modules: `flags` (CLI flags), `manager` (versions, states, the one execution point), `warmup`,
`rest` (REST API, plain ASGI on uvicorn), `grpc_service` (gRPC servicers), `messages` (shared protos),
`batching` (per-version batching queues), `limits` (request size limits), `metrics` (Prometheus),
`app` (`ModelServer`, `main`).
"""

from tfapps.serving.server.app import ModelServer, ServerOptions, main

__all__ = ["ModelServer", "ServerOptions", "main"]

"""Helpers shared by the task tests."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest


def _graph_ops(version_dir: Path) -> set[str]:
    from tensorflow.core.protobuf import saved_model_pb2

    graph = (
        saved_model_pb2.SavedModel.FromString((Path(version_dir) / "saved_model.pb").read_bytes())
        .meta_graphs[0]
        .graph_def
    )
    ops = {node.op for node in graph.node} | {n.op for f in graph.library.function for n in f.node_def}
    return ops - {f.signature.name for f in graph.library.function}


def _ops_missing_from_core_tensorflow(ops: set[str]) -> list[str]:
    # A fresh interpreter that imports only TensorFlow: what stock tensorflow_model_server knows
    # (tensorflow-text ops aside), without anything this process registered.
    probe = (
        "import json, sys; from tensorflow.python.framework import op_def_registry; "
        "print(json.dumps([op for op in json.loads(sys.argv[1]) if op_def_registry.get(op) is None]))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe, json.dumps(sorted(ops))], capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.fixture
def exported_ops():
    """`exported_ops(version_dir) -> (ops, ops that core TensorFlow does not have)`."""

    def check(version_dir: Path) -> tuple[set[str], list[str]]:
        ops = _graph_ops(version_dir)
        return ops, _ops_missing_from_core_tensorflow(ops)

    return check

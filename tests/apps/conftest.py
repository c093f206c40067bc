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


def _ops_missing_from_stock_serving(ops: set[str], with_text_ops: bool) -> list[str]:
    # A fresh interpreter that imports only TensorFlow (and tensorflow-text, which stock
    # tensorflow_model_server links in): what the server knows, without anything this process
    # registered.
    probe = (
        f"import json, sys; {'import tensorflow_text; ' if with_text_ops else ''}"
        "from tensorflow.python.framework import op_def_registry; "
        "print(json.dumps([op for op in json.loads(sys.argv[1]) if op_def_registry.get(op) is None]))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe, json.dumps(sorted(ops))], capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.fixture
def exported_ops():
    """`exported_ops(version_dir, with_text_ops=False) -> (ops, ops that stock TF Serving lacks)`:
    core TensorFlow, plus tensorflow-text when `with_text_ops`."""

    def check(version_dir: Path, with_text_ops: bool = False) -> tuple[set[str], list[str]]:
        ops = _graph_ops(version_dir)
        return ops, _ops_missing_from_stock_serving(ops, with_text_ops)

    return check

"""Helpers shared by the model tests."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

import pytest

# Modules a served SavedModel must not need: TF Serving has none of them.
_NOT_SERVED = ("tfapps", "keras_hub", "sentencepiece")

# What TF Serving does: load the SavedModel alone, with only tensorflow-text's ops registered
# besides core TensorFlow, and call its signatures. Strings come back as `str`.
_RELOAD = textwrap.dedent(
    """
    import json, sys
    import tensorflow as tf
    import tensorflow_text  # registers its ops here, as TF Serving links them in: the load needs them

    def plain(value):
        if isinstance(value, bytes):
            return value.decode()
        return [plain(item) for item in value] if isinstance(value, list) else value

    path, texts, signatures, watched = sys.argv[1], *map(json.loads, sys.argv[2:])
    loaded = tf.saved_model.load(path)
    texts = tf.constant(texts)
    outputs = {
        name: {key: plain(value.numpy().tolist()) for key, value in loaded.signatures[name](texts).items()}
        for name in signatures
    }
    print(json.dumps({"outputs": outputs, "imported": sorted(m for m in watched if m in sys.modules)}))
    """
)


class FreshReload(NamedTuple):
    """What a SavedModel's signatures returned in a fresh interpreter.

    Attributes:
        outputs: signature name → output name → value as nested lists (strings as `str`).
        imported: those of `tfapps`, `keras_hub` and `sentencepiece` that loading and calling
            imported; a servable SavedModel leaves this empty.
    """

    outputs: dict[str, dict[str, Any]]
    imported: list[str]


@pytest.fixture
def reload_in_fresh_interpreter(tmp_path):
    """`reload_in_fresh_interpreter(saved_model_dir, texts, signatures=("serving_default",))`:
    call each signature on the string vector `texts` in a fresh Python that imports only
    TensorFlow and tensorflow-text (what TF Serving sees), and return a `FreshReload`."""

    def reload(
        saved_model_dir: Path, texts: Sequence[str], signatures: Sequence[str] = ("serving_default",)
    ) -> FreshReload:
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": ""}
        arguments = [list(texts), list(signatures), list(_NOT_SERVED)]
        result = subprocess.run(
            [sys.executable, "-c", _RELOAD, str(saved_model_dir), *map(json.dumps, arguments)],
            capture_output=True,
            text=True,
            env=env,
            cwd=tmp_path,
            timeout=120,
            check=False,
        )
        assert result.returncode == 0, result.stderr[-3000:]
        answer = json.loads(result.stdout.strip().splitlines()[-1])
        return FreshReload(answer["outputs"], answer["imported"])

    return reload

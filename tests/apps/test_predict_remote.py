"""`tfapps predict --server`: files to a running server over REST and gRPC, same rows as locally."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tfapps.apps import runs
from tfapps.apps.cli import main
from tfapps.serving.server import ModelServer, ServerOptions


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    from tfapps.pipelines.synthetic import write_shapes_dataset

    root = tmp_path_factory.mktemp("remote")
    data = write_shapes_dataset(root / "data", images_per_class=8, size=32)
    runs.train_run("image_classification", root / "run", preset="tiny", data=str(data))
    version_dir = runs.export_run(root / "run", root / "export", name="shapes")
    options = ServerOptions(
        model_name="shapes", model_base_path=str(version_dir.parent), grpc_port=0, rest_port=0
    )
    with ModelServer(options).start() as server:
        yield server, version_dir.parent, data


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, [json.loads(line) for line in out.splitlines()], err


@pytest.mark.serving
def test_remote_rows_equal_local_rows_over_rest_and_grpc(served, capsys):
    server, model_dir, data = served
    files = [str(p) for p in sorted((data / "square").iterdir())[:3]]
    bad = data.parent / "broken.png"
    bad.write_bytes(b"\x89PNG not really")
    code, local, _ = run(capsys, "predict", "--model-dir", str(model_dir), "--batch-size", "2", *files)
    assert code == 0 and len(local) == 3
    for extra in ([f"127.0.0.1:{server.rest_port}"], [f"127.0.0.1:{server.grpc_port}", "--grpc"]):
        code, remote, err = run(
            capsys, "predict", "--server", *extra, "--model", "shapes", "--batch-size", "2", *files, str(bad)
        )
        assert code == 1 and "1 of 4 input(s) failed" in err  # the broken file, and only it
        assert remote[3]["input"] == str(bad) and "error" in remote[3]
        for want, got in zip(local, remote[:3], strict=True):
            assert got["input"] == want["input"] and got["labels"] == want["labels"]
            np.testing.assert_allclose(got["probabilities"], want["probabilities"], rtol=1e-5, atol=1e-6)


@pytest.mark.serving
def test_remote_errors(served, capsys):
    server, model_dir, data = served
    image = str(next((data / "circle").iterdir()))
    code, _, err = run(
        capsys, "predict", "--server", f"127.0.0.1:{server.rest_port}", "--model", "nope", image
    )
    assert code == 1 and "Servable not found" in err
    code, _, err = run(capsys, "predict", "--server", f"127.0.0.1:{server.rest_port}", image)
    assert code == 2 and "--model" in err
    code, _, err = run(
        capsys, "predict", "--server", f"127.0.0.1:{server.rest_port}", "--model-dir", str(model_dir), image
    )
    assert code == 2 and "not allowed with" in err
    code, _, err = run(
        capsys,
        "predict",
        "--server",
        f"127.0.0.1:{server.rest_port}",
        "--model",
        "shapes",
        "--signature",
        "other",
        image,
    )
    assert code == 1 and "no signature 'other'" in err

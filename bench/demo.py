"""`make demo`: data on disk → trained model → TF Serving export → served answers over REST and gRPC.

Runs the real `tfapps` commands a user would type, in a scratch folder (`demo-work/`):

1. generates a small labelled image set (four shape classes; no download),
2. `tfapps train image_classification --preset cpu`, then `tfapps evaluate` on fresh images,
3. `tfapps export` (checked: the reloaded SavedModel must answer like the trained model),
4. `tfapps serve` on free local ports, one REST and one gRPC request with a PNG, prints the answers,
5. stops the server with SIGTERM.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

WORK = Path("demo-work")
TFAPPS = [sys.executable, "-m", "tfapps.apps.cli"]
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}


def step(title: str) -> None:
    print(f"\n=== {title}", flush=True)


def tfapps(*args: str) -> str:
    """Run one tfapps command, show it, stream its log, return its stdout."""
    print("$ tfapps " + " ".join(args), flush=True)
    result = subprocess.run([*TFAPPS, *args], env=ENV, stdout=subprocess.PIPE, text=True)
    if result.returncode:
        sys.exit(f"demo: `tfapps {args[0]}` failed with exit code {result.returncode}")
    return result.stdout.strip()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_available(rest_port: int, model: str, server: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            sys.exit(f"demo: the server exited early with code {server.returncode}")
        try:
            with urllib.request.urlopen(
                f"http://127.0.0.1:{rest_port}/v1/models/{model}", timeout=2
            ) as response:
                states = [v["state"] for v in json.load(response)["model_version_status"]]
                if "AVAILABLE" in states:
                    return
        except OSError:
            pass
        time.sleep(0.5)
    sys.exit("demo: the server did not become available in time")


def main() -> int:
    from tfapps.pipelines.synthetic import write_shapes_dataset

    started = time.monotonic()
    shutil.rmtree(WORK, ignore_errors=True)
    step("1. Generate a labelled image set (4 classes of shapes, PNG and JPEG)")
    train_data = write_shapes_dataset(WORK / "data" / "train", images_per_class=200, size=40, seed=1)
    test_data = write_shapes_dataset(WORK / "data" / "test", images_per_class=25, size=40, seed=2)
    print(f"{train_data}: 800 images; {test_data}: 100 images")

    step("2. Train and evaluate")
    run_dir = WORK / "runs" / "shapes"
    print(
        tfapps(
            "train",
            "image_classification",
            "--data",
            str(train_data),
            "--run-dir",
            str(run_dir),
            "--preset",
            "cpu",
            "--set",
            "train.epochs=20",
            "--set",
            "train.batch_size=32",
            # Shapes sit anywhere in the frame: average pooling is translation-invariant, unlike the
            # cpu preset's flatten head (tuned for centred objects such as Fashion-MNIST items).
            "--set",
            "model.pooling=avg",
            "--set",
            "model.convs_per_stage=2",
        )
    )
    metrics = json.loads(
        tfapps("evaluate", "image_classification", "--run-dir", str(run_dir), "--data", str(test_data))
    )
    print(
        f"test accuracy {metrics['accuracy']:.3f} on {int(metrics['examples'])} unseen images; "
        f"confusion matrix in {run_dir / 'eval'}"
    )

    step("3. Export for TF Serving")
    version_dir = Path(
        tfapps(
            "export",
            "image_classification",
            "--run-dir",
            str(run_dir),
            "--export-dir",
            str(WORK / "models"),
            "--name",
            "shapes",
        )
    )
    print(f"{version_dir} (models.config: {WORK / 'models' / 'models.config'})")

    step("4. Serve it and ask over REST and gRPC")
    grpc_port, rest_port = free_port(), free_port()
    command = [
        "serve",
        f"--port={grpc_port}",
        f"--rest_api_port={rest_port}",
        "--model_name=shapes",
        f"--model_base_path={version_dir.parent.resolve()}",
    ]
    print("$ tfapps " + " ".join(command), flush=True)
    server = subprocess.Popen([*TFAPPS, *command], env=ENV)
    try:
        wait_until_available(rest_port, "shapes", server)
        image = sorted((test_data / "triangle").glob("*.png"))[0]
        body = json.dumps({"instances": [{"b64": base64.b64encode(image.read_bytes()).decode()}]}).encode()
        print(f"\nREST  POST /v1/models/shapes:predict  ({image})")
        request = urllib.request.Request(
            f"http://127.0.0.1:{rest_port}/v1/models/shapes:predict",
            data=body,
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            prediction = json.load(response)["predictions"][0]
        print(f"  labels {prediction['labels']}\n  scores {[round(s, 3) for s in prediction['scores']]}")

        from tfapps.serving.clients import GrpcClient

        image = sorted((test_data / "circle").glob("*.jpg"))[0]
        print(f"\ngRPC  PredictionService/Predict  ({image})")
        with GrpcClient(f"127.0.0.1:{grpc_port}") as client:
            outputs = client.predict("shapes", {"image_bytes": [image.read_bytes()]})
        labels = [label.decode() for label in outputs["labels"][0]]
        print(f"  labels {labels}\n  scores {[round(float(s), 3) for s in outputs['scores'][0]]}")
    finally:
        server.send_signal(signal.SIGTERM)
        code = server.wait(timeout=60)
    step(f"5. Server stopped (exit code {code}); demo took {time.monotonic() - started:.0f}s")
    return 0 if code == 0 else 1


if __name__ == "__main__":
    sys.exit(main())

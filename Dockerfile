# syntax=docker/dockerfile:1
#
# tfapps images. Two stages; build from the repository root (the build context):
#
#   serving  real TF Serving with one exported model baked in (tensorflow_model_server,
#            gRPC :8500, REST :8501). Serves what `tfapps export` wrote to
#            <EXPORT_DIR>/<MODEL_NAME>/<version>/ (saved_model.pb, variables/, assets.extra/ with
#            the warm-up requests TF Serving replays at load).
#   train    the `tfapps` command (train, evaluate, export, predict, and the embedded `tfapps serve`).
#            It is the LAST stage, so a plain `docker build .` builds it.
#
# Build:
#   docker build -t tfapps:0.1.0 .                                   # training image (default target)
#   docker build --target train -t tfapps:0.1.0 .                     # the same, explicitly
#
#   tfapps export image_classification --run-dir runs/shapes --export-dir export --name shapes
#   docker build --target serving --build-arg MODEL_NAME=shapes --build-arg EXPORT_DIR=export \
#       -t tfapps-serving-shapes:1 .
#
# Run:
#   docker run --rm --user "$(id -u):$(id -g)" -v "$PWD/data:/data:ro" -v "$PWD/runs:/runs" \
#       tfapps:0.1.0 train image_classification --data /data/shapes --run-dir /runs/shapes --preset cpu
#
#   docker run --rm -p 8500:8500 -p 8501:8501 tfapps-serving-shapes:1
#   # extra tensorflow_model_server flags go after the image name, e.g. `... tfapps-serving-shapes:1 --enable_batching`
#
#   curl http://localhost:8501/v1/models/shapes
#   curl -X POST http://localhost:8501/v1/models/shapes:predict \
#       -d '{"signature_name": "serving_default", "instances": [{"image_bytes": {"b64": "'"$(base64 -w0 cat.jpg)"'"}}]}'
#
# The export directory must be inside the build context and not excluded by .dockerignore
# (`runs/` is excluded: export next to it, e.g. to `export/`).

############################################################################################
# serving: stock TensorFlow Serving.
#
# Tag: 2.19.1, a published `tensorflow/serving` tag (CPU; `2.19.1-gpu` is the CUDA variant).
# Our SavedModels are written by TensorFlow 2.21, newer than the TF this server links: they load
# as long as they use no op or op attribute added after 2.19, which the core ops our signatures use
# (decode_image, resize, top_k, ...) satisfy. Move to a newer tag once one is published, and
# check any export against it before deploying.
#
# tensorflow-text ops (tokenizers of the text tasks): the stock model server links them;
# tensorflow_serving/model_servers/BUILD puts "@org_tensorflow_text//tensorflow_text:ops_lib" in
# SUPPORTED_TENSORFLOW_OPS, built at the server's own TF Text version (2.19 here), so an op that
# TF Text added after 2.19 would still fail with "Op type not registered". Other custom ops
# (sentencepiece, ...) need a model server built from source with those ops linked in.
############################################################################################
FROM tensorflow/serving:2.19.1 AS serving

ARG MODEL_NAME=model
ARG EXPORT_DIR=export

# The image's entrypoint runs
#   tensorflow_model_server --port=8500 --rest_api_port=8501 \
#       --model_name=${MODEL_NAME} --model_base_path=${MODEL_BASE_PATH}/${MODEL_NAME} "$@"
# with MODEL_BASE_PATH=/models, so the model goes to /models/<MODEL_NAME>/<version>/.
COPY ${EXPORT_DIR}/${MODEL_NAME} /models/${MODEL_NAME}
ENV MODEL_NAME=${MODEL_NAME}

# The server only reads the model (COPY leaves it world-readable): run it as `nobody`.
USER 65534:65534
EXPOSE 8500 8501

############################################################################################
# train: the tfapps package and its `tfapps` command (default target: keep this stage last).
############################################################################################
FROM python:3.11-slim AS train

# TF_CPP_MIN_LOG_LEVEL=2: keep TensorFlow's C++ INFO/WARNING lines off stderr.
# KERAS_HOME / MPLCONFIGDIR: writable caches under /tmp, also for `docker run --user UID:GID`.
ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    TF_CPP_MIN_LOG_LEVEL=2 \
    KERAS_HOME=/tmp/.keras \
    MPLCONFIGDIR=/tmp/matplotlib

WORKDIR /opt/tfapps
# pyproject.toml maps the one import package `tfapps` onto these four folders (package-dir).
COPY pyproject.toml README.md ./
COPY apps/ apps/
COPY models/ models/
COPY pipelines/ pipelines/
COPY serving/ serving/
RUN pip install --no-cache-dir . \
    && useradd --create-home --uid 10001 --user-group tfapps

USER 10001:10001
WORKDIR /home/tfapps
ENTRYPOINT ["tfapps"]
CMD ["--help"]

"""The CTC acoustic model (conv front end + BiGRU or Conformer) and its CTC loss."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
import tensorflow as tf
from tensorflow.core.protobuf import saved_model_pb2

from tfapps.models.speech import (
    PADDING_LOGIT,
    ConformerBlock,
    CtcLoss,
    CtcPaddingToBlank,
    ctc_acoustic_model,
    output_lengths,
)

MELS = 12
VOCAB = 5  # symbols 0..4, blank 5
TINY = {"conv_filters": (4, 4), "conv_kernel": (3, 5), "hidden_units": 16, "num_layers": 2, "dropout": 0.0}
ENCODERS = {"bigru": {}, "conformer": {"num_heads": 2, "conv_kernel_size": 5}}


def tiny_model(encoder: str = "bigru", **kw) -> keras.Model:
    return ctc_acoustic_model(MELS, VOCAB, encoder=encoder, **{**TINY, **ENCODERS[encoder], **kw})


def batch(lengths, frames: int | None = None, seed: int = 0):
    """Random normalised features, zeros after each row's length."""
    rng = np.random.default_rng(seed)
    lengths = np.asarray(lengths, "int32")
    frames = frames or int(lengths.max())
    features = rng.normal(size=(len(lengths), frames, MELS)).astype("float32")
    features[np.arange(frames)[None, :] >= lengths[:, None]] = 0.0
    return {"features": features, "feature_lengths": lengths}


def log_softmax(x):
    x = x - x.max(-1, keepdims=True)
    return x - np.log(np.exp(x).sum(-1, keepdims=True))


def brute_force_ctc(logits: np.ndarray, label: list[int]) -> float:
    """-log of the summed probability of every alignment of `logits` [T, C] (blank last) that
    collapses (merge repeats, drop blanks) to `label`."""
    log_probs = log_softmax(logits.astype("float64"))
    frames, classes = log_probs.shape
    blank = classes - 1
    total = 0.0
    for path in itertools.product(range(classes), repeat=frames):
        collapsed = [s for i, s in enumerate(path) if s != blank and (i == 0 or s != path[i - 1])]
        if collapsed == label:
            total += np.exp(sum(log_probs[t, s] for t, s in enumerate(path)))
    return -np.log(total)


def greedy_collapse(logits: np.ndarray) -> list[int]:
    """Best path: argmax per frame, merge repeats, drop blanks (the last class)."""
    best = logits.argmax(-1)
    blank = logits.shape[-1] - 1
    return [int(s) for i, s in enumerate(best) if s != blank and (i == 0 or s != best[i - 1])]


# --- shapes, lengths, padding ------------------------------------------------------------------


def test_output_lengths_is_ceil_division_for_numbers_arrays_and_tensors():
    assert output_lengths(7, 2) == 4
    assert output_lengths(8, 4) == 2
    np.testing.assert_array_equal(output_lengths(np.array([0, 1, 4, 5]), 4), [0, 1, 1, 2])
    np.testing.assert_array_equal(output_lengths(tf.constant([9, 10, 11]), 2), [5, 5, 6])


@pytest.mark.parametrize("encoder", list(ENCODERS))
@pytest.mark.parametrize("time_stride", [1, 2, 4])
def test_logits_shape_lengths_and_forced_blank_frames(encoder, time_stride):
    model = tiny_model(encoder, time_stride=time_stride)
    for lengths, frames in [([13, 6, 1], 13), ([4, 9, 0], 11), ([1], 1)]:  # 0: an empty clip
        logits = model(batch(lengths, frames)).numpy()
        valid = output_lengths(np.array(lengths), time_stride)
        assert logits.shape == (len(lengths), -(-frames // time_stride), VOCAB + 1)
        assert logits.dtype == np.float32
        for row, length in zip(logits, valid, strict=True):
            assert (row[length:, :-1] == PADDING_LOGIT).all() and (row[length:, -1] == 0.0).all()
            assert (row[:length, :-1] != PADDING_LOGIT).all()


@pytest.mark.parametrize("encoder", list(ENCODERS))
@pytest.mark.parametrize("time_stride", [1, 2, 4])
def test_padding_does_not_change_a_clips_valid_frames(encoder, time_stride):
    model = tiny_model(encoder, time_stride=time_stride)
    # Odd and even lengths and totals: a strided window must not move with the batch's length.
    for short, total in [(13, 31), (14, 29), (9, 40)]:
        padded = batch([short, total - 3], total, seed=short)
        alone = {"features": padded["features"][:1, :short], "feature_lengths": padded["feature_lengths"][:1]}
        valid = output_lengths(short, time_stride)
        expected = model(alone).numpy()[0]
        assert expected.shape[0] == valid
        np.testing.assert_allclose(model(padded).numpy()[0, :valid], expected, atol=1e-4, rtol=1e-4)


def test_logits_are_float32_under_mixed_precision():
    previous = keras.mixed_precision.dtype_policy()
    keras.mixed_precision.set_dtype_policy("mixed_float16")
    try:
        for encoder in ENCODERS:
            logits = tiny_model(encoder)(batch([9, 5]))
            assert logits.dtype == "float32", encoder
            assert logits.shape == (2, 5, VOCAB + 1)
            assert np.isfinite(logits.numpy()).all()
    finally:
        keras.mixed_precision.set_dtype_policy(previous)


# --- CTC over padded logits --------------------------------------------------------------------


def test_forced_blank_frames_leave_ctc_loss_and_decoding_unchanged():
    rng = np.random.default_rng(1)
    frames, lengths = 12, np.array([12, 7, 4, 1], "int32")
    raw = rng.normal(scale=3.0, size=(len(lengths), frames, VOCAB + 1)).astype("float32")
    mask = np.arange(frames)[None, :] < lengths[:, None]
    forced = CtcPaddingToBlank()(raw, mask).numpy()
    np.testing.assert_array_equal(forced[mask], raw[mask])
    labels = np.array([[1, 2, 2, 3], [4, 4, 0, 0], [3, 0, 0, 0], [2, 0, 0, 0]], "int32")
    label_length = np.array([4, 2, 1, 1], "int32")

    def ctc(logits, logit_length):
        return tf.nn.ctc_loss(
            labels, logits, label_length, logit_length, logits_time_major=False, blank_index=-1
        ).numpy()

    over_all_frames = ctc(forced, np.full_like(lengths, frames))
    over_valid_frames = ctc(raw, lengths)
    np.testing.assert_allclose(over_all_frames, over_valid_frames, rtol=1e-5, atol=1e-5)

    time_major_forced, time_major_raw = np.transpose(forced, (1, 0, 2)), np.transpose(raw, (1, 0, 2))
    for decode in (
        lambda x, n: tf.nn.ctc_greedy_decoder(x, n)[0][0],
        lambda x, n: tf.nn.ctc_beam_search_decoder(x, n, beam_width=4)[0][0],
    ):
        full = tf.sparse.to_dense(decode(time_major_forced, np.full_like(lengths, frames)), default_value=-1)
        valid = tf.sparse.to_dense(decode(time_major_raw, lengths), default_value=-1)
        np.testing.assert_array_equal(full.numpy(), valid.numpy())
    assert [greedy_collapse(row) for row in forced] == [
        greedy_collapse(row[:n]) for row, n in zip(raw, lengths, strict=True)
    ]


# --- the loss ----------------------------------------------------------------------------------


def test_ctc_loss_matches_a_brute_force_sum_over_alignments():
    rng = np.random.default_rng(2)
    frames, classes = 4, 3  # symbols 0, 1; blank 2
    labels = [[0, 1], [1, 1], [0], [], [1, 0, 1], [0, 0]]
    logits = rng.normal(scale=2.0, size=(len(labels), frames, classes)).astype("float32")
    y_true = np.full((len(labels), 3), -1, "int32")
    for row, label in zip(y_true, labels, strict=True):
        row[: len(label)] = label
    expected = np.array([brute_force_ctc(x, label) for x, label in zip(logits, labels, strict=True)])

    per_sample = CtcLoss(reduction=None)(y_true, logits).numpy()
    np.testing.assert_allclose(per_sample, expected, rtol=1e-4)
    np.testing.assert_allclose(CtcLoss()(y_true, logits).numpy(), expected.mean(), rtol=1e-4)
    normalized = CtcLoss(normalize_by_length=True, reduction=None)(y_true, logits).numpy()
    np.testing.assert_allclose(normalized, expected / np.maximum([len(x) for x in labels], 1), rtol=1e-4)
    weights = np.array([1.0, 0.0, 2.0, 0.0, 1.0, 0.0], "float32")
    weighted = CtcLoss(reduction="sum")(y_true, logits, sample_weight=weights).numpy()
    np.testing.assert_allclose(weighted, (weights * expected).sum(), rtol=1e-4)

    # Forced-blank padding: the loss of a short row in a long batch is that of its valid frames.
    padded = CtcPaddingToBlank()(
        np.pad(logits, [(0, 0), (0, 3), (0, 0)]), np.arange(frames + 3)[None, :] < frames
    ).numpy()
    np.testing.assert_allclose(CtcLoss(reduction=None)(y_true, padded).numpy(), expected, rtol=1e-4)


def test_empty_labels_give_the_all_blank_loss():
    rng = np.random.default_rng(3)
    logits = tf.constant(rng.normal(size=(2, 5, VOCAB + 1)).astype("float32"))
    all_blank = -log_softmax(logits.numpy())[:, :, -1].sum(axis=1)
    for y_true in (np.zeros((2, 0), "int32"), np.full((2, 4), -1, "int32")):
        with tf.GradientTape() as tape:
            tape.watch(logits)
            loss = CtcLoss(reduction=None)(y_true, logits)
        np.testing.assert_allclose(loss.numpy(), all_blank, rtol=1e-5)
        assert np.isfinite(tape.gradient(loss, logits).numpy()).all()


def test_too_short_inputs_get_zero_loss_and_finite_gradients():
    model = tiny_model("bigru", time_stride=2)
    # Row 0 has 2 frames for 3 labels; row 1 has 2 frames for [1, 1], which needs a blank between
    # (3 frames); row 2, 4 frames padded to 10, is too short for 5 labels although 10 frames would do.
    inputs = batch([4, 4, 8, 20], frames=20)
    y_true = np.array([[0, 1, 2, -1, -1], [1, 1, -1, -1, -1], [0, 1, 2, 3, 4], [2, 3, -1, -1, -1]], "int32")
    with tf.GradientTape() as tape:
        logits = model(inputs, training=True)
        loss = CtcLoss(reduction=None)(y_true, logits)
    gradients = tape.gradient(loss, model.trainable_weights)
    assert all(np.isfinite(g.numpy()).all() for g in gradients)
    loss = loss.numpy()
    np.testing.assert_array_equal(loss[:3], [0.0, 0.0, 0.0])
    assert np.isfinite(loss[3]) and loss[3] > 0.0
    # The feasible row's loss is the one it has alone: the other rows change nothing.
    alone = {key: value[3:] for key, value in inputs.items()}
    np.testing.assert_allclose(CtcLoss(reduction=None)(y_true[3:], model(alone)).numpy(), loss[3:], rtol=1e-4)

    # Without a forced-blank tail, all T' frames count: 2 frames cannot carry 3 labels.
    short_logits = tf.constant(np.zeros((1, 2, VOCAB + 1), "float32"))
    with tf.GradientTape() as tape:
        tape.watch(short_logits)
        loss = CtcLoss()(np.array([[0, 1, 2]], "int32"), short_logits)
    assert loss.numpy() == 0.0
    assert np.isfinite(tape.gradient(loss, short_logits).numpy()).all()


def test_loss_serializes():
    loss = CtcLoss(normalize_by_length=True, reduction="sum")
    restored = keras.losses.deserialize(keras.losses.serialize(loss))
    assert isinstance(restored, CtcLoss)
    assert restored.normalize_by_length and restored.reduction == "sum"


# --- learning ----------------------------------------------------------------------------------


def symbol_task(num_examples: int, seed: int):
    """Utterances of 2-4 symbols out of 3; each symbol lights its own 4 mel bins for 3-6 frames
    (noisy), with 0-2 silent frames between symbols and 1-3 at both ends."""
    rng = np.random.default_rng(seed)
    rows, labels = [], []
    for _ in range(num_examples):
        symbols = rng.integers(0, 3, rng.integers(2, 5)).tolist()
        frames = [np.zeros((rng.integers(1, 4), MELS))]
        for index, symbol in enumerate(symbols):
            if index:
                frames.append(np.zeros((rng.integers(0, 3) + (symbol == symbols[index - 1]), MELS)))
            pattern = np.zeros((rng.integers(3, 7), MELS))
            pattern[:, 4 * symbol : 4 * symbol + 4] = 2.0
            frames.append(pattern)
        frames.append(np.zeros((rng.integers(1, 4), MELS)))
        utterance = np.concatenate(frames)
        rows.append(utterance + rng.normal(scale=0.3, size=utterance.shape))
        labels.append(symbols)
    lengths = np.array([len(r) for r in rows], "int32")
    features = np.zeros((num_examples, lengths.max(), MELS), "float32")
    y_true = np.full((num_examples, 4), -1, "int32")
    for index, (row, label) in enumerate(zip(rows, labels, strict=True)):
        features[index, : len(row)] = row
        y_true[index, : len(label)] = label
    return {"features": features, "feature_lengths": lengths}, y_true, labels


def test_a_small_bigru_model_learns_to_transcribe_symbols():
    keras.utils.set_random_seed(0)
    model = ctc_acoustic_model(
        MELS,
        3,
        conv_filters=(8,),
        conv_kernel=(3, 5),
        time_stride=2,
        hidden_units=32,
        num_layers=1,
        dropout=0.0,
    )
    model.compile(optimizer=keras.optimizers.Adam(3e-3), loss=CtcLoss())
    inputs, y_true, _ = symbol_task(256, seed=0)
    history = model.fit(inputs, y_true, batch_size=32, epochs=12, verbose=0)
    assert history.history["loss"][-1] < 0.2 * history.history["loss"][0]

    test_inputs, _, test_labels = symbol_task(64, seed=1)
    decoded = [greedy_collapse(row) for row in model.predict(test_inputs, verbose=0)]
    correct = sum(d == t for d, t in zip(decoded, test_labels, strict=True))
    assert correct >= 0.9 * len(test_labels), list(zip(decoded, test_labels, strict=True))[:8]


# --- saving and serving ------------------------------------------------------------------------


@pytest.mark.parametrize("encoder", list(ENCODERS))
def test_keras_round_trip(encoder, tmp_path):
    model = tiny_model(encoder, time_stride=4, dropout=0.1)
    model.compile(optimizer="adam", loss=CtcLoss(normalize_by_length=True))
    inputs = batch([10, 7])
    model.optimizer.build(model.trainable_variables)  # so its (empty) state loads back
    path = tmp_path / f"{encoder}.keras"
    model.save(path)
    restored = keras.saving.load_model(path)
    np.testing.assert_array_equal(restored(inputs).numpy(), model(inputs).numpy())
    assert isinstance(restored.loss, CtcLoss) and restored.loss.normalize_by_length
    if encoder == "conformer":
        assert isinstance(restored.get_layer("conformer_0"), ConformerBlock)


def export(model: keras.Model, path) -> None:
    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint(
        name="serving_default",
        fn=lambda features, feature_lengths: {
            "logits": model({"features": features, "feature_lengths": feature_lengths}, training=False)
        },
        input_signature=[
            tf.TensorSpec([None, None, MELS], tf.float32, name="features"),
            tf.TensorSpec([None], tf.int32, name="feature_lengths"),
        ],
    )
    archive.write_out(str(path), verbose=False)


def exported_op_types(path) -> set[str]:
    saved = saved_model_pb2.SavedModel()
    saved.ParseFromString((path / "saved_model.pb").read_bytes())
    graph = saved.meta_graphs[0].graph_def
    return {node.op for node in graph.node} | {
        node.op for function in graph.library.function for node in function.node_def
    }


def test_bigru_saved_model_uses_core_ops_and_matches_the_model(tmp_path):
    model = tiny_model("bigru", time_stride=2)
    path = tmp_path / "bigru"
    export(model, path)
    op_types = exported_op_types(path)
    assert "While" in op_types or "StatelessWhile" in op_types  # the GRUs' loops
    # Xla* ops need an XLA compiler that stock tensorflow_model_server lacks; PyFunc cannot be served.
    assert not [op for op in op_types if op.startswith("Xla") or "PyFunc" in op]

    serve = tf.saved_model.load(str(path)).signatures["serving_default"]
    for inputs in (batch([9, 4, 1]), batch([30], seed=5)):
        served = serve(
            features=tf.constant(inputs["features"]), feature_lengths=tf.constant(inputs["feature_lengths"])
        )
        np.testing.assert_allclose(served["logits"].numpy(), model(inputs).numpy(), rtol=1e-5, atol=1e-5)


# What TF Serving does: load the SavedModel with only TensorFlow (and tensorflow-text) imported.
_FRESH_RELOAD = textwrap.dedent(
    """
    import json, sys
    import numpy as np
    import tensorflow as tf
    import tensorflow_text  # noqa: F401  (TF Serving links its ops in)

    path, features_file, watched = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
    data = np.load(features_file)
    serve = tf.saved_model.load(path).signatures["serving_default"]
    logits = serve(features=tf.constant(data["features"]), feature_lengths=tf.constant(data["feature_lengths"]))
    np.save(features_file + ".logits.npy", logits["logits"].numpy())
    print(json.dumps(sorted(m for m in watched if m in sys.modules)))
    """
)


def test_conformer_saved_model_serves_in_a_fresh_interpreter_with_core_ops_only(tmp_path):
    model = tiny_model("conformer", time_stride=4)
    path = tmp_path / "conformer"
    export(model, path)
    assert not [op for op in exported_op_types(path) if op.startswith("Xla") or "PyFunc" in op]

    inputs = batch([17, 9, 3], frames=21)
    np.savez(tmp_path / "inputs.npz", **inputs)
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            _FRESH_RELOAD,
            str(path),
            str(tmp_path / "inputs.npz"),
            json.dumps(["tfapps", "keras_hub"]),
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": ""},
        cwd=tmp_path,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert json.loads(result.stdout.strip().splitlines()[-1]) == []
    served = np.load(tmp_path / "inputs.npz.logits.npy")
    np.testing.assert_allclose(served, model(inputs).numpy(), rtol=1e-5, atol=1e-5)


# --- errors ------------------------------------------------------------------------------------


def test_bad_arguments():
    with pytest.raises(ValueError, match="Received: encoder='lstm'"):
        ctc_acoustic_model(MELS, VOCAB, encoder="lstm")
    with pytest.raises(ValueError, match="Received: time_stride=3"):
        ctc_acoustic_model(MELS, VOCAB, time_stride=3)
    with pytest.raises(ValueError, match="Received: time_stride=8"):
        ctc_acoustic_model(MELS, VOCAB, conv_filters=(8, 8), time_stride=8)
    with pytest.raises(ValueError, match="Received: time_stride=2"):
        ctc_acoustic_model(MELS, VOCAB, conv_filters=(), time_stride=2)
    with pytest.raises(ValueError, match="Received: conv_filters=\\(8, 0\\)"):
        ctc_acoustic_model(MELS, VOCAB, conv_filters=(8, 0))
    with pytest.raises(ValueError, match="Received: conv_kernel=\\(3,\\)"):
        ctc_acoustic_model(MELS, VOCAB, conv_kernel=(3,))
    with pytest.raises(ValueError, match="Received: hidden_units=15"):
        ctc_acoustic_model(MELS, VOCAB, hidden_units=15)
    with pytest.raises(ValueError, match="Received: hidden_units=18"):
        ctc_acoustic_model(MELS, VOCAB, encoder="conformer", hidden_units=18, num_heads=4)
    with pytest.raises(ValueError, match="Received: dropout=1.0"):
        ctc_acoustic_model(MELS, VOCAB, dropout=1.0)
    with pytest.raises(ValueError, match="Received: vocabulary_size=0"):
        ctc_acoustic_model(MELS, 0)


def test_a_model_without_a_front_end_keeps_the_frame_rate():
    model = ctc_acoustic_model(MELS, VOCAB, conv_filters=(), time_stride=1, hidden_units=8, num_layers=1)
    assert model(batch([6, 3])).shape == (2, 6, VOCAB + 1)

"""Question answering task: vocabulary and windows from SQuAD JSON, labels on the answer tokens
(widened to whole words), the question-match feature, and both readers (Transformer, DrQA) learning
generated facts, exported and served."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from tfapps.apps import config as config_lib
from tfapps.apps import runs
from tfapps.apps.errors import ConfigError, InvalidArgumentError
from tfapps.apps.question_answering import data as qa_data
from tfapps.apps.question_answering.synthetic import synthetic_examples, write_synthetic_squad
from tfapps.apps.registry import get_task
from tfapps.models.preprocessing.text import learn_wordpiece_vocabulary
from tfapps.models.span_reader import QuestionMatch, SpanLogits, continuation_piece_ids
from tfapps.pipelines.squad_data import Answer, SquadExample
from tfapps.serving.clients import GrpcClient, RestClient
from tfapps.serving.server import ModelServer, ServerOptions

TASK = get_task("question_answering")


def _config(**values):
    overrides = [f"{k}={v}" for k, v in values.items()]
    return config_lib.resolve(TASK.config_cls, TASK.presets, preset="tiny", overrides=overrides)


@pytest.fixture(scope="module")
def facts(tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(write_synthetic_squad(tmp_path_factory.mktemp("qa") / "facts.json", paragraphs=12))


def test_config_ranges() -> None:
    with pytest.raises(ConfigError, match="data.sequence_length"):
        _config(**{"data.sequence_length": 20, "data.max_question_length": 16}).validate()


def test_validation_holds_out_whole_articles(facts: str) -> None:
    config = _config(**{"data.train": facts, "data.validation_split": 0.34})
    _, train, val = qa_data.train_val_examples(config)
    assert val and train
    assert not {e.title for e in train} & {e.title for e in val}


def test_window_labels_point_at_the_answer_tokens(facts: str) -> None:
    config = TASK.resolve_data(_config(**{"data.train": facts}))
    assert config.data.vocabulary[:5] == ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
    assert config.data.unanswerable is False
    _, train, _ = qa_data.train_val_examples(config)
    windows = qa_data.featurize(train[:20], config)
    layer = qa_data.featurizer(config)
    vocabulary = np.array(layer.vocabulary)
    for row in range(len(windows["labels"])):
        start, end = windows["labels"][row]
        example = train[windows["example_index"][row]]
        if start == 0:  # the answer is outside this window
            continue
        pieces = " ".join(vocabulary[windows["token_ids"][row, start : end + 1]]).replace(" ##", "")
        assert pieces == example.answers[0].text.lower()
        assert (windows["segment_ids"][row, start : end + 1] == 1).all()


def test_question_match_marks_context_tokens_the_question_has() -> None:
    # [CLS] 7 8 [SEP] 8 9 7 [SEP] [PAD]
    ids = np.array([[2, 7, 8, 3, 8, 9, 7, 3, 0]], np.int32)
    segments = np.array([[0, 0, 0, 0, 1, 1, 1, 1, 0]], np.int32)
    assert QuestionMatch()(ids, segments).numpy().tolist() == [[0, 0, 0, 0, 1, 0, 1, 0, 0]]


def _train_on_generated_facts(tmp_path: Path, *overrides: str) -> tuple[Path, Path]:
    """Trains preset `tiny` with `overrides` on 120 generated paragraphs; returns the run directory
    and a test file of 10 other paragraphs."""
    train = write_synthetic_squad(tmp_path / "train.json", paragraphs=120, seed=0)
    test = write_synthetic_squad(tmp_path / "test.json", paragraphs=10, seed=1)
    run_dir = tmp_path / "run"
    runs.train_run("question_answering", run_dir, preset="tiny", data=str(train), overrides=list(overrides))
    return run_dir, test


def test_learns_generated_facts_exports_and_answers_over_rest_and_grpc(tmp_path: Path, exported_ops) -> None:
    run_dir, test = _train_on_generated_facts(
        tmp_path,
        "train.epochs=6",
        "model.hidden_dim=64",
        "model.intermediate_dim=128",
        "data.validation_split=0",
    )
    metrics = runs.evaluate_run(run_dir, str(test))
    assert metrics["f1"] >= 80.0 and metrics["examples"] == len(synthetic_examples(10, seed=1)), metrics
    predictions = json.loads((run_dir / "eval" / "predictions.json").read_text())
    assert len(predictions) == metrics["examples"]

    version = runs.export_run(run_dir, tmp_path / "export")
    _, missing = exported_ops(version, with_text_ops=True)
    assert missing == []
    loaded = tf.saved_model.load(str(version))
    context = "Hana lives in Oslo. Ivo works as a pilot. Dana owns a goat."  # one fact of each kind
    questions = ["Where does Hana live?", "What does Ivo work as?", "Which animal does Dana own?"]
    answer = loaded.signatures["serving_default"](
        question=tf.constant(questions), context=tf.constant([context] * 3)
    )
    texts = [a.decode() for a in answer["answer"].numpy()]
    assert texts == ["Oslo", "pilot", "goat"]
    for text, start, end in zip(texts, answer["start"].numpy(), answer["end"].numpy(), strict=True):
        assert context[start:end] == text

    options = ServerOptions(model_name="qa", model_base_path=str(version.parent), grpc_port=0, rest_port=0)
    request = {
        "question": np.array([q.encode() for q in questions[:2]], dtype=object),
        "context": np.array(
            [context.encode(), "Zoë owns a goat. Ivo works as a pilot.".encode()], dtype=object
        ),
    }
    with ModelServer(options).start() as server, GrpcClient(f"127.0.0.1:{server.grpc_port}") as grpc_client:
        rest = RestClient(f"http://127.0.0.1:{server.rest_port}")
        for client in (rest, grpc_client):
            served = client.predict("qa", request)
            assert [a.decode() if isinstance(a, bytes) else a for a in served["answer"]] == ["Oslo", "pilot"]
            with pytest.raises(InvalidArgumentError):
                client.predict("qa", {"question": request["question"]})  # no context
            with pytest.raises(InvalidArgumentError):
                client.predict(
                    "qa", {"question": request["question"], "context": np.array([1.0, 2.0], np.float32)}
                )


# --- word boundaries and the DrQA reader ---------------------------------------------------------


def test_drqa_takes_no_masked_lm_pretraining_and_architectures_are_checked() -> None:
    with pytest.raises(ConfigError, match="Received: train.pretrain_mlm_epochs=1"):
        _config(**{"model.architecture": "drqa", "train.pretrain_mlm_epochs": 1}).validate()
    _config(**{"model.architecture": "drqa"}).validate()
    with pytest.raises(ConfigError, match="model.architecture"):
        _config(**{"model.architecture": "lstm"})
    preset = config_lib.resolve(TASK.config_cls, TASK.presets, preset="cpu_drqa", overrides=[])
    preset.validate()
    assert preset.model.architecture == "drqa" and preset.train.pretrain_mlm_epochs == 0


def test_whole_word_labels_widen_to_word_boundaries() -> None:
    # [CLS] q [SEP] w ##w ##w w ##w [SEP] | a window starting inside a word: ##w w [SEP]
    continuation = np.array(
        [[0, 0, 0, 0, 1, 1, 0, 1, 0], [0, 0, 0, 1, 0, 0, 0, 0, 0], [0, 0, 0, 1, 0, 0, 0, 0, 0]], bool
    )
    context = np.array(
        [[0, 0, 0, 1, 1, 1, 1, 1, 0], [0, 0, 0, 1, 1, 0, 0, 0, 0], [0, 0, 0, 1, 1, 0, 0, 0, 0]], bool
    )
    labels = np.array([[4, 4], [3, 4], [4, 4]])
    got = qa_data.whole_word_labels(labels, continuation, context)
    # Row 0: "##w" alone widens to its whole word; row 1: the window holds only the answer's
    # word's tail, so no span can start it; row 2: a whole word stays.
    assert got.tolist() == [[3, 5], [0, 0], [4, 4]]
    widened = qa_data.whole_word_labels(np.array([[5, 7], [0, 0], [4, 4]]), continuation, context)
    assert widened.tolist() == [[3, 7], [0, 0], [4, 4]]


def test_an_answer_inside_a_word_is_labelled_with_the_whole_word() -> None:
    vocabulary = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "when", "?", "in", "106", "##6", "the", "."]
    config = _config(**{"data.vocab_size": 100})
    config = config_lib.with_values(config, **{"data.vocabulary": tuple(vocabulary)})
    context = "in 1066 the"
    examples = [
        SquadExample(id=str(i), title="t", question="when?", context=context, answers=(Answer(text, start),))
        for i, (text, start) in enumerate([("106", 3), ("6", 6), ("1066", 3)])
    ]
    windows = qa_data.featurize(examples, config)
    tokens = [vocabulary[i] for i in windows["token_ids"][0] if i]
    assert tokens == ["[CLS]", "when", "?", "[SEP]", "in", "106", "##6", "the", "[SEP]"]
    assert windows["labels"].tolist() == [[5, 6]] * 3  # "106 ##6" for all three answers


def test_gold_labels_are_never_masked_and_answers_are_whole_words(facts: str) -> None:
    # A vocabulary learned small enough that many words are split into `##` pieces.
    config = _config(**{"data.train": facts})
    _, train, _ = qa_data.train_val_examples(config)
    vocabulary = learn_wordpiece_vocabulary([e.context for e in train] + [e.question for e in train], 80)
    config = config_lib.with_values(config, **{"data.vocabulary": tuple(vocabulary)})
    windows = qa_data.featurize(train, config)
    features = qa_data.featurizer(config)(
        tf.constant([train[i].question for i in windows["example_index"]]),
        tf.constant([train[i].context for i in windows["example_index"]]),
    )
    ids, starts = windows["token_ids"], features["token_start_char"].numpy()
    layer = SpanLogits(continuation_piece_ids(config.data.vocabulary), len(config.data.vocabulary))
    logits = layer(np.zeros(ids.shape + (2,), np.float32), ids, windows["segment_ids"]).numpy()
    allowed = logits > -1e3  # [W, 2, L]
    rows = np.arange(len(ids))
    assert allowed[rows, 0, windows["labels"][:, 0]].all() and allowed[rows, 1, windows["labels"][:, 1]].all()
    # From the text: a context piece starts a word unless it follows another piece without a space
    # or punctuation between them (BERT's basic tokenizer splits at both).
    splits = 0
    for row, (example_row, start_row) in enumerate(zip(windows["example_index"], starts, strict=True)):
        text = train[example_row].context
        for position in np.flatnonzero(start_row >= 0):
            char = start_row[position]
            inside = char > 0 and text[char - 1].isalnum() and text[char].isalnum()
            splits += inside
            assert allowed[row, 0, position] == (not inside), (text, char)
            assert allowed[row, 1, position - 1] == (not inside) or start_row[position - 1] < 0
    assert splits > 0  # the vocabulary did split words


def test_drqa_reader_learns_generated_facts_and_exports(tmp_path: Path, exported_ops) -> None:
    run_dir, test = _train_on_generated_facts(
        tmp_path,
        "model.architecture=drqa",
        "model.embedding_dim=32",
        "model.rnn_units=32",
        "model.rnn_layers=2",
        "model.dropout=0.1",
        "train.epochs=3",
        "data.validation_split=0",
    )
    # Measured: exact match 100 after 3 epochs (the transformer needs 6 epochs and a wider model
    # for F1 >= 80 above).
    metrics = runs.evaluate_run(run_dir, str(test))
    assert metrics["exact_match"] >= 90.0, metrics

    version = runs.export_run(run_dir, tmp_path / "export")
    _, missing = exported_ops(version, with_text_ops=True)
    assert missing == []
    loaded = tf.saved_model.load(str(version))
    context = "Hana lives in Oslo. Ivo works as a pilot. Dana owns a goat."
    questions = ["Where does Hana live?", "What does Ivo work as?", "Which animal does Dana own?"]
    answer = loaded.signatures["serving_default"](
        question=tf.constant(questions), context=tf.constant([context] * 3)
    )
    assert [a.decode() for a in answer["answer"].numpy()] == ["Oslo", "pilot", "goat"]


def test_bucketed_training_batches_hold_windows_of_about_the_same_length() -> None:
    config = _config(**{"data.bucket_by_length": True})  # windows of 64 tokens: buckets of 8
    rng = np.random.default_rng(0)
    lengths = rng.integers(10, 65, size=400)
    token_ids = np.where(np.arange(64)[None, :] < lengths[:, None], 5, 0).astype(np.int32)
    windows = {
        "token_ids": token_ids,
        "segment_ids": np.zeros_like(token_ids),
        "labels": np.stack([lengths, lengths], axis=1).astype(np.int32),
        "example_index": np.arange(400, dtype=np.int32),
    }
    cut = []
    for inputs, labels in qa_data.make_dataset(windows, config, True, 16).take(40):
        batch_lengths = labels.numpy()[:, 0]  # each window's length, carried in its labels
        assert len(batch_lengths) == 16
        buckets = np.minimum(batch_lengths // 8, 7)  # boundaries 8, 16, ..., 56
        assert (buckets == buckets[0]).all()
        assert inputs["token_ids"].shape[1] == batch_lengths.max()  # cut to its longest window
        cut.append(inputs["token_ids"].shape[1])
    plain = qa_data.make_dataset(windows, _config(), True, 16).take(40)
    assert np.mean(cut) < np.mean([inputs["token_ids"].shape[1] for inputs, _ in plain]) - 10

"""Question answering task: vocabulary and windows from SQuAD JSON, labels on the answer tokens,
the question-match feature, and a reader that learns generated facts, exported and served."""

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
from tfapps.models.span_reader import QuestionMatch
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


def test_learns_generated_facts_exports_and_answers_over_rest_and_grpc(tmp_path: Path, exported_ops) -> None:
    train = write_synthetic_squad(tmp_path / "train.json", paragraphs=120, seed=0)
    test = write_synthetic_squad(tmp_path / "test.json", paragraphs=10, seed=1)
    run_dir = tmp_path / "run"
    runs.train_run(
        "question_answering",
        run_dir,
        preset="tiny",
        data=str(train),
        overrides=[
            "train.epochs=6",
            "model.hidden_dim=64",
            "model.intermediate_dim=128",
            "data.validation_split=0",
        ],
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

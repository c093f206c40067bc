"""Text classification task: vocabulary and classes from the data, the served graph's tokenizer,
unknown labels at evaluation, multi-label, and learning on generated reviews."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from tfapps.apps import config as config_lib
from tfapps.apps import runs
from tfapps.apps.errors import ConfigError, InvalidArgumentError
from tfapps.apps.registry import get_task
from tfapps.apps.text_classification import data as text_data
from tfapps.apps.text_classification.synthetic import write_synthetic_reviews
from tfapps.apps.text_classification.task import EnsembleAccuracy, multi_label_report
from tfapps.pipelines.trainer import load_best_model
from tfapps.serving.clients import GrpcClient, RestClient
from tfapps.serving.server import ModelServer, ServerOptions

TASK = get_task("text_classification")


def _config(**values):
    overrides = [f"{k}={v}" for k, v in values.items()]
    return config_lib.resolve(TASK.config_cls, TASK.presets, preset="tiny", overrides=overrides)


@pytest.fixture(scope="module")
def reviews(tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(write_synthetic_reviews(tmp_path_factory.mktemp("text") / "reviews.tsv", per_class=20))


def test_hidden_size_must_split_into_heads() -> None:
    with pytest.raises(ConfigError, match="model.hidden_dim"):
        _config(**{"model.hidden_dim": 30, "model.num_heads": 4}).validate()


def test_resolve_learns_a_vocabulary_and_reads_the_classes(reviews: str) -> None:
    config = TASK.resolve_data(_config(**{"data.train": reviews}))
    assert config.data.class_names == ("negative", "neutral", "positive")
    vocabulary = config.data.vocabulary
    assert vocabulary[:5] == ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
    assert {"great", "awful", "package"} <= set(vocabulary) and len(vocabulary) <= 200


def test_training_ids_equal_the_served_tokenizer(reviews: str) -> None:
    config = TASK.resolve_data(_config(**{"data.train": reviews}))
    _, records, _ = text_data.train_val_records(config)
    ids, targets = next(iter(text_data.make_dataset(records[:4], config, False, 4)))
    served = text_data.tokenizer(config)(tf.constant([r.text for r in records[:4]])).numpy()
    # Batches are cut to their longest text: the rest of the served ids is padding only.
    length = ids.shape[1]
    assert length == (served != 0).sum(axis=1).max() and (ids.numpy()[:, 0] == 2).all()  # [CLS] first
    np.testing.assert_array_equal(ids.numpy(), served[:, :length])
    assert (served[:, length:] == 0).all()
    np.testing.assert_array_equal(targets.numpy().sum(axis=1), 1.0)


def test_multi_label_metrics_match_hand_counts() -> None:
    targets = np.array([[1, 0, 1], [0, 1, 0], [1, 1, 0]], np.float32)
    probabilities = np.array([[0.9, 0.2, 0.7], [0.6, 0.8, 0.1], [0.8, 0.3, 0.2]])
    metrics = multi_label_report(targets, probabilities, ["a", "b", "c"])
    assert metrics["accuracy"] == pytest.approx(1 / 3)  # only the first row is all right
    assert metrics["precision/a"] == pytest.approx(2 / 3) and metrics["recall/a"] == 1.0
    assert metrics["precision/b"] == 1.0 and metrics["recall/b"] == 0.5
    assert metrics["f1/c"] == 1.0


def test_learns_unseen_reviews_exports_with_text_ops_and_reports_unknown_labels(
    tmp_path: Path, exported_ops
) -> None:
    train = write_synthetic_reviews(tmp_path / "train.tsv", per_class=40, seed=0)
    test = write_synthetic_reviews(tmp_path / "test.tsv", per_class=10, seed=1)
    with test.open("a") as handle:
        handle.write("great refund tuesday\tsarcastic\n")  # a label the training set lacks
    run_dir = tmp_path / "run"
    runs.train_run(
        "text_classification", run_dir, preset="tiny", data=str(train), overrides=["train.epochs=4"]
    )
    metrics = runs.evaluate_run(run_dir, str(test))
    assert metrics["accuracy"] >= 0.9 and metrics["examples"] == 30.0, metrics
    assert metrics["unknown_labels"] == 1.0 and "f1" in metrics and "recall/neutral" in metrics
    assert {"metrics.json", "per_class.csv", "errors.csv", "confusion_matrix.json"} <= {
        p.name for p in (run_dir / "eval").iterdir()
    }

    version = runs.export_run(run_dir, tmp_path / "export")
    ops, missing = exported_ops(version, with_text_ops=True)
    assert missing == [] and "FastWordpieceTokenizeWithOffsets" in ops
    _, core_missing = exported_ops(version)
    assert core_missing  # the tokenizer is tensorflow-text's, which TF Serving links in
    loaded = tf.saved_model.load(str(version))
    answer = loaded.signatures["serving_default"](
        text=tf.constant(["loved it , excellent", "", b"\xff\xfe bad"])
    )
    assert [label.decode() for label in answer["labels"].numpy()[:1, 0]] == ["positive"]
    np.testing.assert_allclose(answer["probabilities"].numpy().sum(axis=1), 1.0, rtol=1e-5)
    assert json.loads((run_dir / "eval" / "metrics.json").read_text())["accuracy"] == metrics["accuracy"]

    # Served over REST and gRPC: the same answers, and clean client errors for bad inputs.
    texts = np.array(["loved it , excellent", b"\xff\xfe bad"], dtype=object)
    expected = loaded.signatures["serving_default"](text=tf.constant(list(texts)))["probabilities"].numpy()
    options = ServerOptions(
        model_name="reviews", model_base_path=str(version.parent), grpc_port=0, rest_port=0
    )
    with ModelServer(options).start() as server, GrpcClient(f"127.0.0.1:{server.grpc_port}") as grpc_client:
        rest = RestClient(f"http://127.0.0.1:{server.rest_port}")
        for client in (rest, grpc_client):
            answer = client.predict("reviews", {"text": texts})
            np.testing.assert_allclose(answer["probabilities"], expected, rtol=1e-5, atol=1e-6)
            for bad in (np.array([1.5, 2.0], np.float32), np.array([["two"], ["rows"]], dtype=object)):
                with pytest.raises(InvalidArgumentError):
                    client.predict("reviews", {"text": bad})
            with pytest.raises(InvalidArgumentError, match="text"):
                client.predict("reviews", {"review": texts})
        assert rest.status("reviews")["model_version_status"][0]["state"] == "AVAILABLE"


def test_masked_lm_pretraining_trains_the_encoder_the_classifier_uses(reviews: str) -> None:
    with pytest.raises(ConfigError, match="train.pretrain_mlm_epochs"):
        _config(**{"train.pretrain_mlm_epochs": 1, "model.architecture": "cnn"}).validate()
    config = TASK.resolve_data(_config(**{"data.train": reviews, "train.pretrain_mlm_epochs": 2}))
    model = TASK.build_model(config)
    encoder = model.get_layer("encoder")
    before = [w.numpy().copy() for w in encoder.weights]
    logits_before = model(text_data.token_ids(["great product"], config)).numpy()
    TASK.pretrain(model, config)
    changed = [not np.allclose(a, w.numpy()) for a, w in zip(before, encoder.weights, strict=True)]
    assert all(changed)  # every encoder weight moved, and they are the classifier's own
    assert not np.allclose(logits_before, model(text_data.token_ids(["great product"], config)).numpy())


def test_ensemble_config_needs_two_distinct_known_members() -> None:
    with pytest.raises(ConfigError, match=r"model.members\[1\]"):
        _config(**{"model.architecture": "ensemble", "model.members": "cnn,lstm"})
    with pytest.raises(ConfigError, match="two or more distinct"):
        _config(**{"model.architecture": "ensemble", "model.members": "cnn,cnn"}).validate()
    with pytest.raises(ConfigError, match="two or more distinct"):
        _config(**{"model.architecture": "ensemble", "model.members": "cnn"}).validate()


def test_ensemble_accuracy_scores_the_averaged_probabilities() -> None:
    targets = np.array([[1, 0], [0, 1]], np.float32)
    # Example 0: member 0 is confidently right, member 1 mildly wrong: the average is right.
    # Example 1: member 0 mildly right, member 1 confidently wrong: the average is wrong.
    member_logits = np.array([[[4.0, 0.0], [0.0, 1.0]], [[0.0, 1.0], [4.0, 0.0]]], np.float32)
    metric = EnsembleAccuracy()
    metric.update_state(targets, member_logits)
    assert float(metric.result()) == 0.5
    multi = EnsembleAccuracy(multi_label=True)
    multi.update_state(targets, member_logits)  # mean sigmoids: [0.86, 0.63] and [0.75, 0.63]
    assert float(multi.result()) == pytest.approx(0.5)


def test_an_ensemble_trains_exports_and_serves_the_mean_of_its_members(tmp_path: Path) -> None:
    train = write_synthetic_reviews(tmp_path / "train.tsv", per_class=40, seed=0)
    test = write_synthetic_reviews(tmp_path / "test.tsv", per_class=10, seed=1)
    run_dir = tmp_path / "run"
    members = "bag_of_embeddings,cnn,bigru"
    runs.train_run(
        "text_classification",
        run_dir,
        preset="tiny",
        data=str(train),
        overrides=[
            "model.architecture=ensemble",
            f"model.members={members}",
            "model.embedding_dim=16",
            "model.rnn_units=8",
            "train.epochs=4",
            "train.learning_rate=0.01",
        ],
    )
    metrics = runs.evaluate_run(run_dir, str(test))
    assert metrics["accuracy"] >= 0.9, metrics

    version = runs.export_run(run_dir, tmp_path / "export")
    _, config = runs.load_run(run_dir)
    model = load_best_model(run_dir)
    texts = ["loved it , excellent", "awful , broke after a day"]
    member_logits = model(text_data.token_ids(texts, config)).numpy()
    assert member_logits.shape == (2, 3, 3)
    softmax = np.exp(member_logits) / np.exp(member_logits).sum(axis=-1, keepdims=True)
    served = tf.saved_model.load(str(version)).signatures["serving_default"](text=tf.constant(texts))
    np.testing.assert_allclose(served["probabilities"].numpy(), softmax.mean(axis=1), rtol=1e-5, atol=1e-6)

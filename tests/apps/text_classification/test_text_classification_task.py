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
from tfapps.apps.errors import ConfigError
from tfapps.apps.registry import get_task
from tfapps.apps.text_classification import data as text_data
from tfapps.apps.text_classification.synthetic import write_synthetic_reviews
from tfapps.apps.text_classification.task import multi_label_report

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
    np.testing.assert_array_equal(ids.numpy(), served)
    assert ids.shape == (4, 16) and (ids.numpy()[:, 0] == 2).all()  # [CLS] first
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

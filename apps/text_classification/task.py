"""Text classification: CSV/TSV/JSONL/folders of text in; labels out of the served graph, with
WordPiece tokenization inside it."""

from __future__ import annotations

import csv
import json
import logging
from pathlib import Path
from typing import ClassVar

import keras
import numpy as np
import tensorflow as tf

from tfapps.apps.config import with_values
from tfapps.apps.masked_lm import pretrain_encoder
from tfapps.apps.task import Datasets, per_replica_batch_size
from tfapps.apps.text_classification import data as text_data
from tfapps.apps.text_classification.config import PRESETS, TextClassificationConfig
from tfapps.apps.text_classification.signatures import classify_fn, sample_request, serving_signatures
from tfapps.apps.text_classification.synthetic import write_synthetic_reviews
from tfapps.models.metrics import classification_report
from tfapps.models.preprocessing.text import learn_wordpiece_vocabulary
from tfapps.models.text_encoders import (
    bag_of_embeddings_classifier,
    bigru_classifier,
    cnn_classifier,
    ensemble_classifier,
    mean_member_probabilities,
    member_loss,
    transformer_classifier,
)
from tfapps.pipelines.reader import find_split

__all__ = ["EnsembleAccuracy", "TextClassificationTask", "multi_label_report"]

logger = logging.getLogger(__name__)


def multi_label_report(
    targets: np.ndarray, probabilities: np.ndarray, names, threshold: float = 0.5
) -> dict[str, float]:
    """Multi-label metrics at `threshold`: `accuracy` (every label right), macro `f1`, and per
    class `precision/<c>`, `recall/<c>`, `f1/<c>` (0 where undefined)."""
    predicted = probabilities >= threshold
    truth = targets > 0.5
    tp = (predicted & truth).sum(axis=0).astype(np.float64)
    precision = np.divide(
        tp, predicted.sum(axis=0), out=np.zeros(len(names)), where=predicted.sum(axis=0) > 0
    )
    recall = np.divide(tp, truth.sum(axis=0), out=np.zeros(len(names)), where=truth.sum(axis=0) > 0)
    f1 = np.divide(
        2 * precision * recall, precision + recall, out=np.zeros(len(names)), where=precision + recall > 0
    )
    metrics = {
        "accuracy": float((predicted == truth).all(axis=1).mean()),
        "f1": float(f1.mean()),
        "examples": float(len(targets)),
    }
    for i, name in enumerate(names):
        metrics[f"precision/{name}"] = float(precision[i])
        metrics[f"recall/{name}"] = float(recall[i])
        metrics[f"f1/{name}"] = float(f1[i])
    return metrics


def _classifier(architecture: str, config) -> keras.Model:
    """One classifier of `architecture` with the config's sizes."""
    d, m = config.data, config.model
    common = {
        "vocabulary_size": len(d.vocabulary),
        "sequence_length": d.sequence_length,
        "num_outputs": len(d.class_names),
        "dropout": m.dropout,
    }
    if architecture == "transformer":
        return transformer_classifier(
            **common,
            hidden_dim=m.hidden_dim,
            num_layers=m.num_layers,
            num_heads=m.num_heads,
            intermediate_dim=m.intermediate_dim,
        )
    if architecture == "cnn":
        return cnn_classifier(**common, embedding_dim=m.embedding_dim)
    if architecture == "bigru":
        return bigru_classifier(**common, embedding_dim=m.embedding_dim, units=m.rnn_units)
    return bag_of_embeddings_classifier(
        **common, embedding_dim=m.embedding_dim, ngram_buckets=m.ngram_buckets
    )


@keras.saving.register_keras_serializable(package="tfapps")
class EnsembleAccuracy(keras.metrics.MeanMetricWrapper):
    """Accuracy of an ensemble's averaged probabilities, from member logits `[B, M, K]`: the
    arg-max class (single-label) or every label at 0.5 (multi-label, per label as
    `BinaryAccuracy`)."""

    def __init__(self, multi_label: bool = False, name: str = "accuracy", dtype=None):
        super().__init__(_ensemble_accuracy, name=name, dtype=dtype, multi_label=multi_label)
        self.multi_label = multi_label

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype, "multi_label": self.multi_label}


def _ensemble_accuracy(y_true, y_pred, multi_label=False):
    probabilities = mean_member_probabilities(y_pred, multi_label=multi_label)
    if multi_label:
        return keras.ops.mean(
            keras.ops.cast(keras.ops.equal(probabilities >= 0.5, y_true > 0.5), "float32"), axis=-1
        )
    return keras.ops.cast(
        keras.ops.equal(keras.ops.argmax(probabilities, axis=-1), keras.ops.argmax(y_true, axis=-1)),
        "float32",
    )


class TextClassificationTask:
    """Texts → WordPiece ids → Transformer / CNN / bag of embeddings → `text` in, labels out."""

    name: ClassVar[str] = "text_classification"
    config_cls: ClassVar[type] = TextClassificationConfig
    presets: ClassVar[dict] = PRESETS
    primary_metric: ClassVar[str] = "accuracy"

    def resolve_data(self, config):
        """Fill `data.class_names` from the training labels and learn `data.vocabulary` from the
        training texts (unless given)."""
        train, records, val = text_data.train_val_records(config)
        values = {"data.class_names": list(train.class_names)}
        if not config.data.vocabulary:
            vocabulary = learn_wordpiece_vocabulary(
                (r.text for r in records),
                vocab_size=config.data.vocab_size,
                lower_case=config.data.lower_case,
            )
            logger.info(
                "Learned a %d-piece WordPiece vocabulary from %d texts", len(vocabulary), len(records)
            )
            values["data.vocabulary"] = vocabulary
        logger.info(
            "%d training texts, %d validation texts, %d classes",
            len(records),
            len(val),
            len(train.class_names),
        )
        return with_values(config, **values)

    def build_model(self, config) -> keras.Model:
        """The configured classifier; an `ensemble` returns its members' logits `[B, M, K]`."""
        m = config.model
        if m.architecture == "ensemble":
            return ensemble_classifier([_classifier(name, config) for name in m.members])
        return _classifier(m.architecture, config)

    def pretrain(self, model, config) -> None:
        """Masked-LM pretraining of the Transformer's encoder on the training texts
        (`train.pretrain_mlm_epochs`; nothing when 0)."""
        if config.train.pretrain_mlm_epochs <= 0:
            return
        _, records, _ = text_data.train_val_records(config)
        ids = text_data.token_ids([r.text for r in records], config)
        pretrain_encoder(model.get_layer("encoder"), ids, list(config.data.vocabulary), config)

    def make_datasets(self, config, input_context=None) -> Datasets:
        _, records, val = text_data.train_val_records(config)
        per_replica = per_replica_batch_size(config, input_context)
        return Datasets(
            train=text_data.make_dataset(records, config, True, per_replica, input_context),
            val=text_data.make_dataset(val, config, False, per_replica, input_context) if val else None,
            train_examples=len(records),
            val_examples=len(val),
        )

    def loss(self, config):
        if config.data.multi_label:
            loss = keras.losses.BinaryCrossentropy(from_logits=True)
        else:
            loss = keras.losses.CategoricalCrossentropy(
                from_logits=True, label_smoothing=config.model.label_smoothing
            )
        return member_loss(loss) if config.model.architecture == "ensemble" else loss

    def metrics(self, config):
        if config.model.architecture == "ensemble":
            return [EnsembleAccuracy(multi_label=config.data.multi_label, name="accuracy")]
        if config.data.multi_label:
            return [keras.metrics.BinaryAccuracy(name="accuracy", threshold=0.0)]
        return [keras.metrics.CategoricalAccuracy(name="accuracy")]

    def evaluate(self, model, config, data: str, out_dir: Path) -> dict[str, float]:
        """Accuracy, macro F1 and per-class precision and recall of the served graph on `data`
        (its `test` split when it is a split layout); labels the training set lacks are reported
        by the reader and left out. Writes metrics, tables and the misclassified texts."""
        names = list(config.data.class_names)
        path = str(find_split(data, "test") or data)
        dataset = text_data.read_split(config, path, "test", names)
        classify = tf.function(classify_fn(model, config), input_signature=[tf.TensorSpec([None], tf.string)])
        texts = [r.text for r in dataset.records]
        probabilities = (
            np.concatenate(
                [
                    classify(tf.constant(texts[i : i + 512]))["probabilities"].numpy()
                    for i in range(0, len(texts), 512)
                ]
            )
            if texts
            else np.zeros((0, len(names)), np.float32)
        )
        targets = text_data.labels_matrix(dataset.records, len(names))
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        if config.data.multi_label:
            metrics = multi_label_report(targets, probabilities, names)
        else:
            metrics, matrix = classification_report(targets.argmax(axis=1), probabilities, names)
            metrics["f1"] = metrics["macro_f1"]
            (out / "confusion_matrix.json").write_text(
                json.dumps({"labels": names, "matrix": matrix.tolist()})
            )
        metrics["unknown_labels"] = float(dataset.report.unknown_labels)
        (out / "metrics.json").write_text(json.dumps(metrics, indent=1))
        with (out / "per_class.csv").open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["class", "examples", "precision", "recall", "f1"])
            for i, name in enumerate(names):
                writer.writerow(
                    [
                        name,
                        int(targets[:, i].sum()),
                        metrics[f"precision/{name}"],
                        metrics[f"recall/{name}"],
                        metrics[f"f1/{name}"],
                    ]
                )
        with (out / "errors.csv").open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["source", "text", "labels", "predicted", "score"])
            for record, row in zip(dataset.records, probabilities, strict=True):
                predicted = int(row.argmax())
                if predicted not in record.labels:
                    writer.writerow(
                        [
                            record.source,
                            record.text,
                            "|".join(names[i] for i in record.labels),
                            names[predicted],
                            f"{row[predicted]:.4f}",
                        ]
                    )
        (out / "data_report.txt").write_text(dataset.report.summary() + "\n")
        logger.info(
            "accuracy %.4f, macro F1 %.4f on %d texts", metrics["accuracy"], metrics["f1"], len(texts)
        )
        return metrics

    def signatures(self, model, config):
        return serving_signatures(model, config)

    def sample_request(self, config):
        return sample_request(config)

    def synthetic_data(self, root) -> str:
        """A TSV of generated product reviews in three classes."""
        return str(write_synthetic_reviews(Path(root) / "reviews.tsv"))

"""Extractive question answering: SQuAD JSON in; answer text and character offsets out of the
served graph, with windowing, the reader and the best span across windows inside it."""

from __future__ import annotations

import csv
import functools
import json
import logging
from pathlib import Path
from typing import ClassVar

import keras
import tensorflow as tf

from tfapps.apps.config import with_values
from tfapps.apps.errors import ConfigError
from tfapps.apps.masked_lm import pretrain_encoder
from tfapps.apps.question_answering import data as qa_data
from tfapps.apps.question_answering.config import PRESETS, QaConfig
from tfapps.apps.question_answering.signatures import answer_fn, sample_request, serving_signatures
from tfapps.apps.question_answering.synthetic import write_synthetic_squad
from tfapps.apps.task import Datasets, per_replica_batch_size
from tfapps.models.preprocessing.text import learn_wordpiece_vocabulary
from tfapps.models.qa_metrics import exact_match, f1, squad_metrics
from tfapps.models.rnn_reader import drqa_reader
from tfapps.models.span_reader import continuation_piece_ids, span_reader

__all__ = ["QuestionAnsweringTask"]

logger = logging.getLogger(__name__)

# Examples per call of the served function during evaluation.
_EVAL_BATCH = 64


@functools.lru_cache(maxsize=2)
def _windows(config) -> tuple[dict, dict | None, int]:
    # Featurized once per config: the trainer builds the datasets several times (probe, train, val).
    _, train, val = qa_data.train_val_examples(config)
    return qa_data.featurize(train, config), (qa_data.featurize(val, config) if val else None), len(train)


class QuestionAnsweringTask:
    """SQuAD examples → WordPiece windows → reader (Transformer or DrQA) → `question`, `context`
    in, `answer` out."""

    name: ClassVar[str] = "question_answering"
    config_cls: ClassVar[type] = QaConfig
    presets: ClassVar[dict] = PRESETS
    primary_metric: ClassVar[str] = "f1"

    def resolve_data(self, config):
        """Learn `data.vocabulary` from the training questions and contexts (unless given) and
        note whether the data has unanswerable questions (SQuAD v2.0)."""
        dataset, train, val = qa_data.train_val_examples(config)
        values: dict = {"data.unanswerable": dataset.has_impossible}
        if not config.data.vocabulary:
            contexts = list(dict.fromkeys(e.context for e in train))
            values["data.vocabulary"] = learn_wordpiece_vocabulary(
                [e.question for e in train] + contexts,
                vocab_size=config.data.vocab_size,
                lower_case=config.data.lower_case,
            )
            logger.info("Learned a %d-piece WordPiece vocabulary", len(values["data.vocabulary"]))
        logger.info("%d training questions, %d validation questions", len(train), len(val))
        return with_values(config, **values)

    def build_model(self, config) -> keras.Model:
        """The reader of `model.architecture`; answers start and end at word boundaries of the
        learned vocabulary (its `##` pieces)."""
        d, m = config.data, config.model
        continuation_ids = continuation_piece_ids(d.vocabulary)
        if m.architecture == "drqa":
            return drqa_reader(
                vocabulary_size=len(d.vocabulary),
                sequence_length=d.sequence_length,
                embedding_dim=m.embedding_dim,
                rnn_units=m.rnn_units,
                rnn_layers=m.rnn_layers,
                dropout=m.dropout,
                continuation_ids=continuation_ids,
            )
        return span_reader(
            vocabulary_size=len(d.vocabulary),
            sequence_length=d.sequence_length,
            hidden_dim=m.hidden_dim,
            num_layers=m.num_layers,
            num_heads=m.num_heads,
            intermediate_dim=m.intermediate_dim,
            fusion_layers=m.fusion_layers,
            dropout=m.dropout,
            continuation_ids=continuation_ids,
        )

    def pretrain(self, model, config) -> None:
        """Masked-LM pretraining of the Transformer encoder on the training windows
        (`train.pretrain_mlm_epochs`; nothing when 0).

        Raises:
            ConfigError: pretraining asked for a reader without a Transformer encoder.
        """
        if config.train.pretrain_mlm_epochs <= 0:
            return
        if config.model.architecture != "transformer":
            raise ConfigError(
                "train.pretrain_mlm_epochs needs model.architecture='transformer' (masked-LM "
                "pretraining trains its encoder). Received: "
                f"model.architecture={config.model.architecture!r}, "
                f"train.pretrain_mlm_epochs={config.train.pretrain_mlm_epochs}"
            )
        train, _, _ = _windows(config)
        pretrain_encoder(model.get_layer("encoder"), train["token_ids"], list(config.data.vocabulary), config)

    def make_datasets(self, config, input_context=None) -> Datasets:
        train, val, _ = _windows(config)
        per_replica = per_replica_batch_size(config, input_context)
        return Datasets(
            train=qa_data.make_dataset(train, config, True, per_replica, input_context),
            val=qa_data.make_dataset(val, config, False, per_replica, input_context) if val else None,
            train_examples=len(train["labels"]),
            val_examples=len(val["labels"]) if val else 0,
        )

    def loss(self, config):
        # Start and end positions: logits [B, 2, L] against labels [B, 2], averaged.
        return keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    def metrics(self, config):
        return [keras.metrics.SparseCategoricalAccuracy(name="position_accuracy")]

    def evaluate(self, model, config, data: str, out_dir: Path) -> dict[str, float]:
        """The official SQuAD `exact_match` and `f1` of the served graph's answers on `data`;
        writes the metrics, `predictions.json` (id → answer, the official script's input) and
        every answer with its references."""
        dataset = qa_data.read_split(data, "test")
        answer = tf.function(answer_fn(model, config), input_signature=[tf.TensorSpec([None], tf.string)] * 2)
        examples = list(dataset.examples)
        predictions: dict[str, str] = {}
        for i in range(0, len(examples), _EVAL_BATCH):
            batch = examples[i : i + _EVAL_BATCH]
            out = answer(tf.constant([e.question for e in batch]), tf.constant([e.context for e in batch]))
            for example, text in zip(batch, out["answer"].numpy(), strict=True):
                predictions[example.id] = text.decode("utf-8")
        metrics = squad_metrics(predictions, examples)
        out_path = Path(out_dir)
        out_path.mkdir(parents=True, exist_ok=True)
        (out_path / "metrics.json").write_text(json.dumps(metrics, indent=1))
        (out_path / "predictions.json").write_text(json.dumps(predictions, indent=1, ensure_ascii=False))
        with (out_path / "answers.tsv").open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle, delimiter="\t")
            writer.writerow(["id", "question", "prediction", "references", "exact_match", "f1"])
            for example in examples:
                truths = [a.text for a in example.answers] or [""]
                prediction = predictions[example.id]
                writer.writerow(
                    [
                        example.id,
                        example.question,
                        prediction,
                        " | ".join(truths),
                        f"{exact_match(prediction, truths):.0f}",
                        f"{f1(prediction, truths):.3f}",
                    ]
                )
        (out_path / "data_report.txt").write_text(dataset.report.summary() + "\n")
        logger.info(
            "exact match %.2f, F1 %.2f on %d questions", metrics["exact_match"], metrics["f1"], len(examples)
        )
        return metrics

    def signatures(self, model, config):
        return serving_signatures(model, config)

    def sample_request(self, config):
        return sample_request(config)

    def synthetic_data(self, root) -> str:
        """A SQuAD v1.1 file of generated facts and questions."""
        return str(write_synthetic_squad(Path(root) / "facts.json"))

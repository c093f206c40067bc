"""Machine translation: parallel text in; translations out of the served graph, with
SentencePiece tokenization and beam search inside it."""

from __future__ import annotations

import csv
import json
import logging
from pathlib import Path
from typing import ClassVar

import keras
import sacrebleu
import tensorflow as tf

from tfapps.apps.config import with_values
from tfapps.apps.task import Datasets, per_replica_batch_size
from tfapps.apps.translation import data as translation_data
from tfapps.apps.translation.config import PRESETS, TranslationConfig
from tfapps.apps.translation.signatures import sample_request, serving_signatures, translate_fn
from tfapps.apps.translation.synthetic import write_synthetic_pairs
from tfapps.models.seq2seq import masked_sparse_crossentropy, masked_token_accuracy, transformer_seq2seq

__all__ = ["TranslationTask", "translation_metrics"]

logger = logging.getLogger(__name__)

# Sentences per call of the served function during evaluation.
_EVAL_BATCH = 64


def translation_metrics(hypotheses: list[str], references: list[str]) -> dict[str, float]:
    """sacrebleu's corpus `bleu` (13a tokenization, as published Multi30k figures) and `chrf` of
    detokenized `hypotheses` against one reference each, with BLEU's n-gram precisions, brevity
    penalty and length ratio."""
    bleu = sacrebleu.corpus_bleu(hypotheses, [references])
    chrf = sacrebleu.corpus_chrf(hypotheses, [references])
    metrics = {
        "bleu": float(bleu.score),
        "chrf": float(chrf.score),
        "brevity_penalty": float(bleu.bp),
        "length_ratio": float(bleu.sys_len / bleu.ref_len) if bleu.ref_len else 0.0,
        "examples": float(len(hypotheses)),
    }
    for n, precision in enumerate(bleu.precisions, start=1):
        metrics[f"precision/{n}gram"] = float(precision)
    return metrics


class TranslationTask:
    """Parallel text → SentencePiece ids → encoder-decoder Transformer → `text` in, translation out."""

    name: ClassVar[str] = "translation"
    config_cls: ClassVar[type] = TranslationConfig
    presets: ClassVar[dict] = PRESETS
    primary_metric: ClassVar[str] = "bleu"

    def resolve_data(self, config):
        """Learn the SentencePiece model(s) from the training pairs (unless given)."""
        pairs, val = translation_data.train_val_pairs(config)
        values = {}
        if not config.data.source_tokenizer:
            values = translation_data.learn_tokenizers(config, pairs)
        logger.info("%d training pairs, %d validation pairs", len(pairs), len(val))
        return with_values(config, **values) if values else config

    def build_model(self, config) -> keras.Model:
        d, m = config.data, config.model
        source_layer, target_layer = translation_data.tokenizers(config)
        return transformer_seq2seq(
            source_vocabulary_size=source_layer.vocabulary_size(),
            target_vocabulary_size=target_layer.vocabulary_size(),
            max_source_length=d.source_sequence_length,
            max_target_length=d.target_sequence_length,
            hidden_dim=m.hidden_dim,
            num_layers=m.num_layers,
            num_heads=m.num_heads,
            intermediate_dim=m.intermediate_dim,
            dropout=m.dropout,
            share_embeddings=d.shared_vocabulary,
        )

    def make_datasets(self, config, input_context=None) -> Datasets:
        pairs, val = translation_data.train_val_pairs(config)
        per_replica = per_replica_batch_size(config, input_context)
        return Datasets(
            train=translation_data.make_dataset(pairs, config, True, per_replica, input_context),
            val=translation_data.make_dataset(val, config, False, per_replica, input_context)
            if val
            else None,
            train_examples=len(pairs),
            val_examples=len(val),
        )

    def loss(self, config):
        return masked_sparse_crossentropy(label_smoothing=config.model.label_smoothing)

    def metrics(self, config):
        return [masked_token_accuracy()]

    def evaluate(self, model, config, data: str, out_dir: Path) -> dict[str, float]:
        """sacrebleu `bleu` and `chrf` of the served graph's translations of `data` (beam search
        as served); writes the metrics and every translation with its reference."""
        dataset = translation_data.read_split(config, data, "test")
        translate = tf.function(
            translate_fn(model, config), input_signature=[tf.TensorSpec([None], tf.string)]
        )
        sources = dataset.sources()
        references = dataset.targets()
        hypotheses: list[str] = []
        for i in range(0, len(sources), _EVAL_BATCH):
            answer = translate(tf.constant(sources[i : i + _EVAL_BATCH]))
            hypotheses += [t.decode("utf-8") for t in answer["translations"][:, 0].numpy()]
        metrics = translation_metrics(hypotheses, references)
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        (out / "metrics.json").write_text(json.dumps(metrics, indent=1))
        with (out / "translations.tsv").open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle, delimiter="\t", quoting=csv.QUOTE_MINIMAL)
            writer.writerow(["origin", "source", "reference", "translation", "sentence_bleu"])
            for pair, hypothesis in zip(dataset.pairs, hypotheses, strict=True):
                score = sacrebleu.sentence_bleu(hypothesis, [pair.target]).score
                writer.writerow([pair.origin, pair.source, pair.target, hypothesis, f"{score:.1f}"])
        (out / "data_report.txt").write_text(dataset.report.summary() + "\n")
        logger.info("BLEU %.2f, chrF %.2f on %d sentences", metrics["bleu"], metrics["chrf"], len(sources))
        return metrics

    def signatures(self, model, config):
        return serving_signatures(model, config)

    def sample_request(self, config):
        return sample_request(config)

    def synthetic_data(self, root) -> str:
        """A TSV of generated English → German sentence pairs."""
        return str(write_synthetic_pairs(Path(root) / "pairs.tsv"))

"""Speech recognition: audio with transcripts in; transcripts out of the served graph, with WAV
decoding, resampling, log-mel features and CTC decoding inside it."""

from __future__ import annotations

import collections
import csv
import json
import logging
from pathlib import Path
from typing import ClassVar

import jiwer
import keras
import tensorflow as tf

from tfapps.apps.config import with_values
from tfapps.apps.speech_recognition import data as speech_data
from tfapps.apps.speech_recognition.config import PRESETS, SpeechConfig
from tfapps.apps.speech_recognition.model import speech_recognizer
from tfapps.apps.speech_recognition.report import AlignedExample, plot_alignments
from tfapps.apps.speech_recognition.signatures import sample_request, serving_signatures, transcribe_fn
from tfapps.apps.speech_recognition.synthetic import write_synthetic_speech
from tfapps.apps.task import Datasets, per_replica_batch_size
from tfapps.models.ctc_metrics import GreedyWordErrorRate
from tfapps.models.speech import CtcLoss
from tfapps.pipelines.speech_data import clip_dataset

__all__ = ["SpeechRecognitionTask", "transcription_metrics"]

logger = logging.getLogger(__name__)

# Clips per call of the served function during evaluation.
_EVAL_BATCH = 32
# Most frequent word substitutions written to confusions.tsv.
_TOP_CONFUSIONS = 50
# Clips drawn in alignments.png.
_PLOTTED_CLIPS = 4


def transcription_metrics(references: list[str], hypotheses: list[str]) -> dict[str, float]:
    """jiwer's corpus `wer` and `cer` of `hypotheses` against `references`, with the word
    substitutions, deletions and insertions behind the WER."""
    words = jiwer.process_words(references, hypotheses)
    return {
        "wer": float(words.wer),
        "cer": float(jiwer.cer(references, hypotheses)),
        "substitutions": float(words.substitutions),
        "deletions": float(words.deletions),
        "insertions": float(words.insertions),
        "reference_words": float(words.hits + words.substitutions + words.deletions),
        "utterances": float(len(references)),
    }


def _substitutions(references: list[str], hypotheses: list[str]) -> collections.Counter:
    counts: collections.Counter = collections.Counter()
    words = jiwer.process_words(references, hypotheses)
    for alignment, ref, hyp in zip(words.alignments, words.references, words.hypotheses, strict=True):
        for chunk in alignment:
            if chunk.type == "substitute":
                for i, j in zip(
                    range(chunk.ref_start_idx, chunk.ref_end_idx),
                    range(chunk.hyp_start_idx, chunk.hyp_end_idx),
                    strict=True,
                ):
                    counts[(ref[i], hyp[j])] += 1
    return counts


def _aligned_examples(model, config, vocabulary, samples, lengths, references, hypotheses):
    """The first clips' features and best label per output frame, for `plot_alignments`."""
    features, feature_lengths = model.get_layer("log_mel")(samples, lengths)
    logits = model({"samples": samples, "sample_lengths": lengths}, training=False)
    labels = vocabulary.layer.get_vocabulary() + [""]  # the blank is the last class
    stride = config.model.time_stride
    examples = []
    for i in range(int(tf.shape(samples)[0])):
        frames = int(feature_lengths[i])
        best = tf.argmax(logits[i, : -(-frames // stride)], axis=-1).numpy()
        examples.append(
            AlignedExample(
                features=features[i, :frames].numpy(),
                frame_labels=[labels[b] for b in best],
                frames_per_label=stride,
                reference=references[i],
                transcript=hypotheses[i],
            )
        )
    return examples


class SpeechRecognitionTask:
    """Audio → log-mel features → convolutions + BiGRU/conformer → CTC → `audio_bytes` in,
    `transcript` out."""

    name: ClassVar[str] = "speech_recognition"
    config_cls: ClassVar[type] = SpeechConfig
    presets: ClassVar[dict] = PRESETS
    primary_metric: ClassVar[str] = "wer"

    def resolve_data(self, config):
        """Learn the alphabet (empty `data.alphabet`) or the SentencePiece model (`sentencepiece`
        vocabulary) from the training transcripts."""
        train, val = speech_data.train_val_utterances(config)
        values = speech_data.learn_vocabulary(config, train)
        hours = sum(u.duration for u in train) / 3600
        logger.info("%d training clips (%.2f h), %d validation clips", len(train), hours, len(val))
        return with_values(config, **values) if values else config

    def build_model(self, config) -> keras.Model:
        return speech_recognizer(config, speech_data.transcript_vocabulary(config).size)

    def make_datasets(self, config, input_context=None) -> Datasets:
        train, val = speech_data.train_val_utterances(config)
        per_replica = per_replica_batch_size(config, input_context)
        return Datasets(
            train=speech_data.make_dataset(train, config, True, per_replica, input_context),
            val=speech_data.make_dataset(val, config, False, per_replica, input_context) if val else None,
            train_examples=len(train),
            val_examples=len(val),
        )

    def loss(self, config):
        return CtcLoss()

    def metrics(self, config):
        vocabulary = speech_data.transcript_vocabulary(config)
        if vocabulary.kind == "sentencepiece":
            pieces = vocabulary.layer.get_vocabulary()
            starts = [i for i, piece in enumerate(pieces) if piece.startswith("▁")]
            return [GreedyWordErrorRate(vocabulary.size, word_start_ids=starts)]
        alphabet = config.data.alphabet
        separators = [alphabet.index(" ")] if " " in alphabet else []
        return [GreedyWordErrorRate(vocabulary.size, separator_ids=separators)]

    def evaluate(self, model, config, data: str, out_dir: Path) -> dict[str, float]:
        """jiwer `wer` and `cer` of the served graph's transcripts of `data` (the configured
        decoder), the same for greedy decoding (`greedy/wer`, `greedy/cer`), and `wer/<speaker>`
        where the data names speakers; writes the metrics, every transcript with its reference,
        the most frequent word substitutions, the first clips' frame alignments (a plot) and the
        data report."""
        dataset = speech_data.read_split(config, data, "test")
        utterances = list(dataset.utterances)
        vocabulary = speech_data.transcript_vocabulary(config)
        spec = [tf.TensorSpec([None, None], tf.float32), tf.TensorSpec([None], tf.int32)]
        decoders = {"served": config.serving.decoder, "greedy": "greedy"}
        functions = {
            key: tf.function(transcribe_fn(model, config, vocabulary, decoder), input_signature=spec)
            for key, decoder in decoders.items()
        }
        outputs: dict[str, list[str]] = {key: [] for key in functions}
        scores: list[float] = []
        first_batch = None
        clips = clip_dataset(utterances, config.data.sample_rate, skip_unreadable=False)
        batches = clips.map(lambda samples, _: (samples, tf.shape(samples)[0])).padded_batch(_EVAL_BATCH)
        for samples, lengths in batches:
            first_batch = first_batch or (samples[:_PLOTTED_CLIPS], lengths[:_PLOTTED_CLIPS])
            for key, function in functions.items():
                answer = function(samples, lengths)
                outputs[key] += [t.decode("utf-8") for t in answer["transcript"].numpy()]
                if key == "served":
                    scores += [float(s) for s in answer["score"].numpy()]
        references = [u.transcript for u in utterances]
        hypotheses = outputs["served"]
        metrics = transcription_metrics(references, hypotheses)
        greedy = transcription_metrics(references, outputs["greedy"])
        metrics["greedy/wer"], metrics["greedy/cer"] = greedy["wer"], greedy["cer"]
        by_speaker = collections.defaultdict(list)
        for i, utterance in enumerate(utterances):
            if utterance.speaker:
                by_speaker[utterance.speaker].append(i)
        for speaker, indices in sorted(by_speaker.items()):
            metrics[f"wer/{speaker}"] = float(
                jiwer.wer([references[i] for i in indices], [hypotheses[i] for i in indices])
            )
        self._write_artefacts(Path(out_dir), metrics, dataset, hypotheses, scores)
        if first_batch is not None:
            examples = _aligned_examples(model, config, vocabulary, *first_batch, references, hypotheses)
            plot_alignments(examples, Path(out_dir) / "alignments.png")
        logger.info("WER %.4f, CER %.4f on %d clips", metrics["wer"], metrics["cer"], len(utterances))
        return metrics

    @staticmethod
    def _write_artefacts(out: Path, metrics, dataset, hypotheses, scores) -> None:
        out.mkdir(parents=True, exist_ok=True)
        (out / "metrics.json").write_text(json.dumps(metrics, indent=1))
        utterances = dataset.utterances
        with (out / "transcripts.tsv").open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle, delimiter="\t")
            writer.writerow(["origin", "audio", "speaker", "reference", "transcript", "score", "wer", "cer"])
            for utterance, hypothesis, score in zip(utterances, hypotheses, scores, strict=True):
                writer.writerow(
                    [
                        utterance.origin,
                        utterance.audio,
                        utterance.speaker,
                        utterance.transcript,
                        hypothesis,
                        f"{score:.3f}",
                        f"{jiwer.wer(utterance.transcript, hypothesis):.3f}",
                        f"{jiwer.cer(utterance.transcript, hypothesis):.3f}",
                    ]
                )
        confusions = _substitutions([u.transcript for u in utterances], hypotheses)
        with (out / "confusions.tsv").open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle, delimiter="\t")
            writer.writerow(["reference_word", "transcribed_as", "count"])
            for (ref, hyp), count in confusions.most_common(_TOP_CONFUSIONS):
                writer.writerow([ref, hyp, count])
        (out / "data_report.txt").write_text(dataset.report.summary() + "\n")

    def signatures(self, model, config):
        return serving_signatures(model, config)

    def sample_request(self, config):
        return sample_request(config)

    def synthetic_data(self, root) -> str:
        """A CSV manifest of generated clips: words spelled as tone sequences."""
        return str(write_synthetic_speech(Path(root)))

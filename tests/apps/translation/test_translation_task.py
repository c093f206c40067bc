"""Translation task: tokenizers learned from the data, teacher-forcing batches, sacrebleu metrics,
and a model that learns generated pairs, exported and served with beam search in the graph."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from tfapps.apps import config as config_lib
from tfapps.apps import runs
from tfapps.apps.errors import ConfigError, InvalidArgumentError
from tfapps.apps.predict import predict_files, predict_remote
from tfapps.apps.registry import get_task
from tfapps.apps.translation import data as translation_data
from tfapps.apps.translation.synthetic import GLOSSARY, synthetic_pairs, write_synthetic_pairs
from tfapps.apps.translation.task import translation_metrics
from tfapps.models.preprocessing.subword import BOS_ID, EOS_ID
from tfapps.serving.clients import GrpcClient, RestClient
from tfapps.serving.server import ModelServer, ServerOptions

TASK = get_task("translation")


def _config(**values):
    overrides = [f"{k}={v}" for k, v in values.items()]
    return config_lib.resolve(TASK.config_cls, TASK.presets, preset="tiny", overrides=overrides)


@pytest.fixture(scope="module")
def pairs_file(tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(write_synthetic_pairs(tmp_path_factory.mktemp("mt") / "pairs.tsv", count=120))


def test_config_ranges() -> None:
    with pytest.raises(ConfigError, match="model.hidden_dim"):
        _config(**{"model.hidden_dim": 30, "model.num_heads": 4}).validate()
    with pytest.raises(ConfigError, match="serving.beam_size"):
        _config(**{"serving.beam_size": 0}).validate()


@pytest.mark.parametrize("shared", [True, False])
def test_resolve_learns_the_tokenizers_from_the_training_pairs(pairs_file: str, shared: bool) -> None:
    config = TASK.resolve_data(
        _config(
            **{"data.train": pairs_file, "data.shared_vocabulary": shared, "data.target_sequence_length": 48}
        )
    )
    assert config.data.source_tokenizer and bool(config.data.target_tokenizer) is not shared
    source, target = translation_data.tokenizers(config)
    sentence = "Der Mann sieht ein roter Ball."
    assert target.detokenize(target(tf.constant([sentence]))).numpy()[0].decode() == sentence
    english = source.get_vocabulary()
    # A shared vocabulary holds both languages' pieces; separate ones only their own.
    assert any("Mann" in piece for piece in english) is shared


def test_batches_are_teacher_forced_and_cut_to_their_longest_sentence(pairs_file: str) -> None:
    config = TASK.resolve_data(_config(**{"data.train": pairs_file}))
    pairs, _ = translation_data.train_val_pairs(config)
    inputs, labels = next(iter(translation_data.make_dataset(pairs[:8], config, False, 8)))
    source, decoder, labels = inputs["source_ids"].numpy(), inputs["decoder_ids"].numpy(), labels.numpy()
    _, target_layer = translation_data.tokenizers(config)
    full = target_layer(tf.constant([p.target for p in pairs[:8]])).numpy()
    assert labels.shape[1] == (full != 0).sum(axis=1).max()  # cut to the longest target
    np.testing.assert_array_equal(labels, full[:, : labels.shape[1]])
    assert (decoder[:, 0] == BOS_ID).all()
    np.testing.assert_array_equal(decoder[:, 1:], labels[:, :-1])  # shifted right
    assert ((labels == EOS_ID).sum(axis=1) == 1).all()
    assert source.shape[1] == (source != 0).sum(axis=1).max()


def test_training_batches_group_sentences_of_similar_length(tmp_path: Path) -> None:
    # Short and long pairs mixed: each training batch comes from one length bucket.
    short = [(f"A dog{'.' * (i % 3)}", f"Ein Hund{'.' * (i % 3)}") for i in range(64)]
    long = [(" ".join(["the big red ball"] * 4), " ".join(["der großer roter Ball"] * 4))] * 64
    path = tmp_path / "mixed.tsv"
    path.write_text("\n".join(f"{en}\t{de}" for en, de in short + long) + "\n", encoding="utf-8")
    config = TASK.resolve_data(_config(**{"data.train": str(path), "data.validation_split": 0.0}))
    pairs, _ = translation_data.train_val_pairs(config)
    batches = translation_data.make_dataset(pairs, config, True, 16).take(8)
    for _, labels in batches:
        lengths = (labels.numpy() != 0).sum(axis=1)
        assert lengths.max() - lengths.min() <= 4, lengths  # one bucket is 4 tokens wide


def test_translation_metrics_are_sacrebleus() -> None:
    references = ["Ein Mann fährt Fahrrad.", "Zwei Hunde spielen im Schnee."]
    perfect = translation_metrics(references, references)
    assert perfect["bleu"] == pytest.approx(100.0) and perfect["chrf"] == pytest.approx(100.0)
    assert perfect["length_ratio"] == 1.0 and perfect["examples"] == 2.0
    partial = translation_metrics(["Ein Mann fährt.", "Zwei Katzen spielen im Schnee."], references)
    assert 0.0 < partial["bleu"] < 100.0 and partial["brevity_penalty"] < 1.0
    assert partial["precision/1gram"] > partial["precision/4gram"]


def test_learns_generated_pairs_exports_and_serves_translations(tmp_path: Path, exported_ops) -> None:
    train = write_synthetic_pairs(tmp_path / "train.tsv", count=600, seed=0)
    test = write_synthetic_pairs(tmp_path / "test.tsv", count=30, seed=1)
    run_dir = tmp_path / "run"
    runs.train_run(
        "translation",
        run_dir,
        preset="tiny",
        data=str(train),
        overrides=[
            "train.epochs=12",
            "train.learning_rate=0.005",
            "model.hidden_dim=64",
            "model.intermediate_dim=128",
        ],
    )
    metrics = runs.evaluate_run(run_dir, str(test))
    assert metrics["bleu"] >= 80.0 and metrics["examples"] == 30.0, metrics
    with (run_dir / "eval" / "translations.tsv").open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    assert len(rows) == 30 and {"source", "reference", "translation", "sentence_bleu"} <= set(rows[0])
    assert json.loads((run_dir / "eval" / "metrics.json").read_text())["bleu"] == metrics["bleu"]

    version = runs.export_run(run_dir, tmp_path / "export")
    ops, missing = exported_ops(version, with_text_ops=True)
    assert missing == [] and any(op.startswith("Sentencepiece") for op in ops)
    loaded = tf.saved_model.load(str(version))
    english, german = zip(*synthetic_pairs(3, seed=7), strict=True)
    best = loaded.signatures["serving_default"](text=tf.constant(list(english)))["translation"].numpy()
    assert [t.decode() for t in best] == list(german)
    nbest = loaded.signatures["nbest"](text=tf.constant(list(english)))
    beams = TASK.presets["tiny"]["serving"]["beam_size"]
    assert nbest["translations"].shape == (3, beams) and nbest["scores"].shape == (3, beams)
    assert (np.diff(nbest["scores"].numpy(), axis=1) <= 1e-6).all()  # best first
    assert [t.decode() for t in nbest["translations"].numpy()[:, 0]] == list(german)

    # `tfapps predict --lines`: one translation per line of a text file (blank lines skipped).
    sentences = tmp_path / "sentences.txt"
    sentences.write_text(f"{english[0]}\n\n{english[1]}\r\n", encoding="utf-8")
    rows = list(predict_files(version.parent, [sentences], lines=True))
    assert [r["input"] for r in rows] == [f"{sentences}:1", f"{sentences}:3"]
    assert [r["translation"] for r in rows] == [german[0], german[1]]

    # Served over REST and gRPC: the same answers; clean client errors for bad inputs.
    options = ServerOptions(model_name="mt", model_base_path=str(version.parent), grpc_port=0, rest_port=0)
    request = {"text": np.array([english[0].encode(), "ein Wort ÄÖÜ".encode(), b"\xff"], dtype=object)}
    with ModelServer(options).start() as server, GrpcClient(f"127.0.0.1:{server.grpc_port}") as grpc_client:
        rest = RestClient(f"http://127.0.0.1:{server.rest_port}")
        for client in (rest, grpc_client):
            answer = client.predict("mt", request)
            assert answer["translation"][0] in (german[0], german[0].encode())
            assert len(answer["translation"]) == 3  # odd inputs still get an answer
            with pytest.raises(InvalidArgumentError):
                client.predict("mt", {"text": np.array([1.0, 2.0], np.float32)})
            with pytest.raises(InvalidArgumentError, match="text"):
                client.predict("mt", {"sentence": request["text"]})
        remote = list(predict_remote(f"127.0.0.1:{server.rest_port}", "mt", [sentences], lines=True))
        assert [r["translation"] for r in remote] == [german[0], german[1]]


def test_glossary_covers_the_generated_words() -> None:
    words = {w.strip(".").lower() for en, _ in synthetic_pairs(50) for w in en.split()}
    assert words <= set(GLOSSARY)

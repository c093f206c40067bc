"""SentencePiece subword learning and tokenization shared by the tf.data pipeline and the serving graph.

`learn_sentencepiece` trains a SentencePiece model (unigram by default) in memory from the training
texts, deterministically and offline. `SentencePieceTokenizer` turns a batch of UTF-8 strings into
fixed-length ids `[<s>] pieces... </s> <pad>...` and turns ids back into real text: SentencePiece
treats whitespace as part of its pieces (`▁`), so detokenizing gives back the text itself, with its
case, accents and attached punctuation (`"Ein Mann fährt Fahrrad."`), which is what a translation
app needs to score its output with sacreBLEU against raw references.

The layer is tensorflow-text's `SentencepieceTokenizer`: its `SentencepieceOp` resource holds the
serialized model proto as an attribute, so a SavedModel needs no model file, and its ops
(`SentencepieceOp`, `SentencepieceTokenizeOp`, `SentencepieceDetokenizeOp`) are in tensorflow-text's
`ops_lib`, which `tensorflow_model_server` links. The model bytes travel in configs (the layer's
`get_config`, the app's YAML) as base64 text: `encode_model` / `decode_model`.
"""

from __future__ import annotations

import base64
import binascii
import io
import logging
import numbers
from collections.abc import Iterable

import keras
import sentencepiece as spm
import tensorflow as tf
import tensorflow_text as tf_text

from tfapps.models.checks import check_positive_int
from tfapps.models.preprocessing.strings import checked_string_vector, replace_invalid_utf8

__all__ = [
    "BOS_ID",
    "BOS_PIECE",
    "EOS_ID",
    "EOS_PIECE",
    "MODEL_TYPES",
    "PAD_ID",
    "PAD_PIECE",
    "UNK_ID",
    "UNK_PIECE",
    "SentencePieceTokenizer",
    "decode_model",
    "encode_model",
    "learn_sentencepiece",
    "sentencepiece_vocabulary",
]

logger = logging.getLogger(__name__)

PAD_ID, UNK_ID, BOS_ID, EOS_ID = 0, 1, 2, 3
PAD_PIECE, UNK_PIECE, BOS_PIECE, EOS_PIECE = "<pad>", "<unk>", "<s>", "</s>"
MODEL_TYPES = ("unigram", "bpe", "char", "word")

# NFKC plus SentencePiece's NMT fixes (control characters dropped, the many Unicode spaces made one
# space). It keeps case. The normaliser's tables are stored in the model proto, so the graph ops
# normalise exactly as the trainer did.
_NORMALIZATION_RULE = "nmt_nfkc"


# --- model bytes in configs ----------------------------------------------------------------------


def encode_model(model: bytes) -> str:
    """The serialized SentencePiece model as base64 text (for `get_config` and YAML configs).

    Raises:
        ValueError: if `model` is not `bytes`.

    Example:
        >>> model = learn_sentencepiece(texts, vocab_size=8000)
        >>> decode_model(encode_model(model)) == model
        True
    """
    if not isinstance(model, bytes | bytearray | memoryview):
        raise ValueError(f"model must be bytes. Received: model of type {type(model).__name__}")
    return base64.b64encode(bytes(model)).decode("ascii")


def decode_model(text: str) -> bytes:
    """The serialized SentencePiece model from the base64 text `encode_model` wrote.

    Whitespace is ignored, so text that a YAML file or an editor wrapped over lines still decodes.

    Raises:
        ValueError: if `text` is not a string of valid base64.
    """
    if not isinstance(text, str):
        raise ValueError(f"text must be a base64 string. Received: text of type {type(text).__name__}")
    try:
        return base64.b64decode("".join(text.split()).encode("ascii"), validate=True)
    except (UnicodeEncodeError, binascii.Error) as error:
        raise ValueError(f"text is not valid base64 ({error}). Received: text={_preview(text)!r}") from None


def _preview(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else f"{text[:limit]}..."


def _load_processor(model: bytes | str) -> tuple[bytes, spm.SentencePieceProcessor]:
    """Parse a serialized model (bytes, or base64 text) into SentencePiece's Python processor."""
    if isinstance(model, str):
        model = decode_model(model)
    elif isinstance(model, bytearray | memoryview):
        model = bytes(model)
    elif not isinstance(model, bytes):
        raise ValueError(
            f"model must be the serialized SentencePiece model (bytes, or base64 text). "
            f"Received: model of type {type(model).__name__}"
        )
    if not model:
        raise ValueError("model is empty. Received: model=b''")
    processor = spm.SentencePieceProcessor()
    try:
        processor.LoadFromSerializedProto(model)
    except RuntimeError:
        raise ValueError(
            f"model is not a serialized SentencePiece model proto. Received: model of {len(model)} bytes "
            f"starting {model[:16]!r}"
        ) from None
    return model, processor


# --- learning ------------------------------------------------------------------------------------


def _as_training_text(index: int, text) -> str:
    if isinstance(text, bytes):
        return text.decode("utf-8", "replace")
    if isinstance(text, str):
        return text
    raise ValueError(f"texts must be strings (or UTF-8 bytes). Received: texts[{index}]={text!r}")


def learn_sentencepiece(
    texts: Iterable[str],
    vocab_size: int = 8000,
    model_type: str = "unigram",
    character_coverage: float = 1.0,
    seed: int = 0,
) -> bytes:
    """Train a SentencePiece model in memory from texts; the same texts give the same bytes.

    Training runs on one thread over all texts in their given order (no sampling, no shuffling),
    with SentencePiece's random generator seeded, so it is deterministic. The special pieces have
    fixed ids: `<pad>` 0, `<unk>` 1, `<s>` 2, `</s>` 3. Text is NFKC-normalised (with
    SentencePiece's `nmt_nfkc` rule) but keeps its case. `vocab_size` is a soft limit: a corpus too
    small for it gives a smaller vocabulary instead of an error. On Multi30k's 58k English and
    German training sentences an 8000-piece unigram model takes about 3 s.

    Args:
        texts: the training texts, one sentence each (`str`, or UTF-8 `bytes`; invalid bytes are
            replaced). Empty texts are ignored. SentencePiece skips texts over 4192 bytes.
        vocab_size: the target number of pieces, the four special pieces included.
        model_type: `"unigram"` (default), `"bpe"`, `"char"` or `"word"`.
        character_coverage: share of the characters (by frequency) that get their own piece; the
            rest become `<unk>`. 1.0 keeps every character (right for European languages).
        seed: SentencePiece's random seed.

    Returns:
        The serialized `ModelProto`, for `SentencePieceTokenizer` and `encode_model`.

    Raises:
        ValueError: for a bad argument, texts that are not strings or hold no text, or a
            `vocab_size` smaller than the corpus' alphabet needs.

    Example:
        >>> model = learn_sentencepiece(english + german, vocab_size=8000)
        >>> tokenizer = SentencePieceTokenizer(model, sequence_length=64)
    """
    check_positive_int(vocab_size=vocab_size)
    if vocab_size <= EOS_ID + 1:
        raise ValueError(
            f"vocab_size must leave room for pieces after the 4 special ones. Received: vocab_size={vocab_size}"
        )
    if model_type not in MODEL_TYPES:
        raise ValueError(f"model_type must be one of {MODEL_TYPES}. Received: model_type={model_type!r}")
    if (
        isinstance(character_coverage, bool)
        or not isinstance(character_coverage, numbers.Real)
        or not 0.0 < character_coverage <= 1.0
    ):
        raise ValueError(
            f"character_coverage must be in (0, 1]. Received: character_coverage={character_coverage!r}"
        )
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or not 0 <= seed < 2**32:
        raise ValueError(f"seed must be an integer in [0, 2**32). Received: seed={seed!r}")
    if isinstance(texts, str | bytes):
        raise ValueError(
            f"texts must be an iterable of strings, not a single string. Received: texts={_preview(str(texts))!r}"
        )
    try:
        texts = [_as_training_text(index, text) for index, text in enumerate(texts)]
    except TypeError:
        raise ValueError(
            f"texts must be an iterable of strings. Received: texts of type {type(texts).__name__}"
        ) from None
    if not any(text.strip() for text in texts):
        raise ValueError(f"texts contain no text to learn from. Received: {len(texts)} texts")

    spm.set_random_generator_seed(int(seed))
    writer = io.BytesIO()
    try:
        spm.SentencePieceTrainer.train(
            sentence_iterator=iter(texts),
            model_writer=writer,
            vocab_size=int(vocab_size),
            model_type=model_type,
            character_coverage=float(character_coverage),
            normalization_rule_name=_NORMALIZATION_RULE,
            pad_id=PAD_ID,
            unk_id=UNK_ID,
            bos_id=BOS_ID,
            eos_id=EOS_ID,
            pad_piece=PAD_PIECE,
            unk_piece=UNK_PIECE,
            bos_piece=BOS_PIECE,
            eos_piece=EOS_PIECE,
            hard_vocab_limit=False,
            # Determinism: every sentence, in the given order, on one thread.
            input_sentence_size=0,
            shuffle_input_sentence=False,
            num_threads=1,
            minloglevel=2,  # the trainer's C++ progress log would flood stderr
        )
    except RuntimeError as error:
        # SentencePiece's checks ("Vocabulary size is smaller than required_chars. 20 vs 56").
        raise ValueError(
            f"SentencePiece training failed: {str(error).strip()} Received: vocab_size={vocab_size}, "
            f"model_type={model_type!r}, character_coverage={character_coverage}, {len(texts)} texts"
        ) from None
    model = writer.getvalue()
    logger.debug(
        "SentencePiece %s model of %d pieces from %d texts (%d bytes).",
        model_type,
        _load_processor(model)[1].get_piece_size(),
        len(texts),
        len(model),
    )
    return model


def sentencepiece_vocabulary(model: bytes | str) -> list[str]:
    """The pieces of a serialized SentencePiece model (bytes, or base64 text), index = id.

    Raises:
        ValueError: if `model` is not a serialized SentencePiece model.
    """
    _, processor = _load_processor(model)
    return [processor.id_to_piece(index) for index in range(processor.get_piece_size())]


# --- the layer -----------------------------------------------------------------------------------


@keras.saving.register_keras_serializable(package="tfapps")
class SentencePieceTokenizer(keras.layers.Layer):
    """Tokenize UTF-8 strings into fixed-length SentencePiece ids `[<s>] pieces... </s> <pad>...`.

    Text is normalised as the model was trained (NFKC for `learn_sentencepiece` models) and split
    into the model's pieces; characters outside its alphabet become `<unk>`. Invalid UTF-8 bytes
    are replaced by U+FFFD rather than failing the batch, and the `nmt_nfkc` normaliser of
    `learn_sentencepiece` models then drops them. Pieces beyond the room left by the
    special ids are truncated, so every row keeps its `</s>`; the rest of the row is `<pad>`
    (id 0). `detokenize` is the inverse: it reads each row up to its first `</s>` and gives back
    the text.

    The model lives in the layer's config (base64), and tensorflow-text's tokenizer holds it as an
    op attribute, so a `.keras` file or an exported SavedModel carries everything it needs. The
    layer works eagerly, in a `tf.data` map and in a `tf.function` traced for
    `tf.TensorSpec([None], tf.string)`.

    Args:
        model: the serialized SentencePiece model (as `learn_sentencepiece` returns it), or its
            base64 text (`encode_model`). Its `<pad>` must be id 0 and it needs an `</s>` (and an
            `<s>` for `add_bos`).
        sequence_length: length `L` of every output row, special ids included; there must be room
            for at least one piece.
        add_bos: start every row with `<s>`.
        add_eos: end every row's pieces with `</s>`.
        **kwargs: base `keras.layers.Layer` arguments (`name`, ...).

    Call arguments:
        texts: string tensor `[batch]` (or a list of `str`).

    Returns:
        int32 tensor `[batch, sequence_length]` of piece ids.

    Raises:
        ValueError: for a bad model or `sequence_length`; at call time for non-string or
            non-vector input.

    Example:
        >>> model = learn_sentencepiece(multi30k_english + multi30k_german, vocab_size=8000)
        >>> tokenizer = SentencePieceTokenizer(model, sequence_length=8)
        >>> ids = tokenizer(tf.constant(["Ein Mann fährt Fahrrad."]))
        >>> [tokenizer.id_to_piece(i) for i in ids.numpy()[0].tolist()]
        ['▁Ein', '▁Mann', '▁fährt', '▁Fahrrad', '.', '</s>', '<pad>', '<pad>']
        >>> tokenizer.detokenize(ids).numpy()[0].decode()
        'Ein Mann fährt Fahrrad.'
    """

    def __init__(
        self,
        model: bytes | str,
        sequence_length: int,
        add_bos: bool = False,
        add_eos: bool = True,
        **kwargs,
    ):
        # `get_config` carries `trainable`; the layer has no weights, so drop it to let `from_config` work.
        kwargs.pop("trainable", None)
        super().__init__(trainable=False, **kwargs)
        model, processor = _load_processor(model)
        check_positive_int(sequence_length=sequence_length)
        self.add_bos = bool(add_bos)
        self.add_eos = bool(add_eos)
        num_special = int(self.add_bos) + int(self.add_eos)
        if sequence_length <= num_special:
            raise ValueError(
                f"sequence_length must leave room for at least one piece after the {num_special} special "
                f"ids (add_bos={self.add_bos}, add_eos={self.add_eos}). Received: sequence_length={sequence_length}"
            )
        self.pad_id = processor.pad_id()
        self.unk_id = processor.unk_id()
        self.bos_id = processor.bos_id()
        self.eos_id = processor.eos_id()
        if self.pad_id != 0:
            raise ValueError(
                f"model must have <pad> as id 0 (padding is id 0; learn_sentencepiece's models do). "
                f"Received: pad_id={self.pad_id}"
            )
        if self.eos_id < 0:
            raise ValueError(
                f"model has no </s> piece (detokenize stops at it). Received: eos_id={self.eos_id}"
            )
        if self.add_bos and self.bos_id < 0:
            raise ValueError(f"add_bos needs a model with an <s> piece. Received: bos_id={self.bos_id}")

        self.model = model
        self.sequence_length = int(sequence_length)
        self._processor = processor
        self._num_pieces = processor.get_piece_size()
        self._num_special = num_special
        # Keras would otherwise try to cast the string inputs to the layer's float dtype.
        self._convert_input_args = False
        self._allow_non_tensor_positional_args = True
        # A tracked child: the SavedModel re-creates its model resource from the proto it stores.
        self._sentencepiece = tf_text.SentencepieceTokenizer(model=model, out_type=tf.int32)
        self.built = True

    # --- Python helpers ------------------------------------------------------------------------

    def vocabulary_size(self) -> int:
        """Number of pieces in the model (the embedding's input and the logits' output dimension)."""
        return self._num_pieces

    def get_vocabulary(self) -> list[str]:
        """The model's pieces, index = id (`▁` marks a piece that starts a word)."""
        return [self._processor.id_to_piece(index) for index in range(self._num_pieces)]

    def id_to_piece(self, piece_id: int) -> str:
        """The piece of `piece_id` (`"▁Mann"`, `"</s>"`).

        Raises:
            ValueError: if `piece_id` is outside `0..vocabulary_size() - 1`.
        """
        if isinstance(piece_id, bool) or not isinstance(piece_id, numbers.Integral):
            raise ValueError(f"piece_id must be an integer. Received: piece_id={piece_id!r}")
        if not 0 <= piece_id < self._num_pieces:
            raise ValueError(f"piece_id must be in 0..{self._num_pieces - 1}. Received: piece_id={piece_id}")
        return self._processor.id_to_piece(int(piece_id))

    def piece_to_id(self, piece: str) -> int:
        """The id of `piece`.

        Raises:
            ValueError: if `piece` is not one of the model's pieces.
        """
        piece_id = self._processor.piece_to_id(str(piece))
        if piece_id == self.unk_id and piece != self._processor.id_to_piece(self.unk_id):
            raise ValueError(f"piece is not in the vocabulary. Received: piece={piece!r}")
        return piece_id

    # --- graph ops -----------------------------------------------------------------------------

    def call(self, texts):
        texts = checked_string_vector(texts, "SentencePieceTokenizer")
        # U+FFFD: the nmt_nfkc normaliser drops it, other models map it to <unk>.
        pieces = self._sentencepiece.tokenize(replace_invalid_utf8(texts))  # ragged int32 [batch, (pieces)]
        pieces = pieces[:, : self.sequence_length - self._num_special]
        batch_size = tf.shape(texts, out_type=tf.int64)[0]
        parts = [pieces]
        if self.add_bos:
            parts.insert(0, tf.fill(tf.stack([batch_size, 1]), tf.constant(self.bos_id, tf.int32)))
        if self.add_eos:
            parts.append(tf.fill(tf.stack([batch_size, 1]), tf.constant(self.eos_id, tf.int32)))
        ids = tf.concat(parts, axis=1) if len(parts) > 1 else pieces
        return ids.to_tensor(default_value=self.pad_id, shape=[None, self.sequence_length])

    def detokenize(self, ids) -> tf.Tensor:
        """Turn piece ids `[batch, length]` back into text `[batch]`.

        Each row is read up to its first `</s>` (what follows, such as a decoder's output after it
        finished, is ignored); `<pad>` and `<s>` are dropped, and ids outside the vocabulary count
        as `<unk>`, which SentencePiece writes as ` ⁇ `. The text is the normalised input: for
        text in the model's alphabet that is the input itself, up to NFKC and runs of whitespace.

        Args:
            ids: integer piece ids `[batch, length]` (a tensor, array or nested list).

        Returns:
            string tensor `[batch]` of UTF-8 text.

        Raises:
            ValueError: for non-integer or non-matrix ids.
        """
        ids = tf.convert_to_tensor(ids)
        if not ids.dtype.is_integer:
            raise ValueError(f"detokenize expects integer ids. Received: dtype={ids.dtype.name}")
        if ids.shape.rank is not None and ids.shape.rank != 2:
            raise ValueError(f"detokenize expects ids of shape [batch, length]. Received: shape={ids.shape}")
        ids = tf.cast(ids, tf.int32)
        ids = tf.where((ids >= 0) & (ids < self._num_pieces), ids, self.unk_id)
        seen_eos = tf.cumsum(tf.cast(tf.equal(ids, self.eos_id), tf.int32), axis=1)
        keep = tf.equal(seen_eos, 0) & tf.not_equal(ids, self.pad_id)
        if self.bos_id >= 0:
            keep &= tf.not_equal(ids, self.bos_id)
        return self._sentencepiece.detokenize(tf.ragged.boolean_mask(ids, keep))

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.sequence_length)

    def compute_output_spec(self, texts):
        return keras.KerasTensor((texts.shape[0], self.sequence_length), dtype="int32")

    def get_config(self):
        return {
            **super().get_config(),
            "model": encode_model(self.model),
            "sequence_length": self.sequence_length,
            "add_bos": self.add_bos,
            "add_eos": self.add_eos,
        }

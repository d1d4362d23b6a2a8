"""Byte-level BPE: text in, token ids out, and back, with every token shown as a person should see it.

The heavy lifting (training the merges, splitting text) is done by Hugging Face `tokenizers`.
This module adds what the talk needs on top:

- each token's text as a person should see it: a space is drawn as `·`, a newline as `↵`, and
  a token that holds only part of a character is drawn as its bytes (`<e2 82>`);
- each token's span of characters in the input, worked out from the bytes, so the spans of a
  text's tokens always cover it exactly (tokens that split one character share its span);
- special tokens for the chat roles and the end of a turn. They are never read from user text:
  typing "<|end|>" gives the tokens of those seven characters, not the end-of-turn token.

It does not know the chat template (see `chat_template.py`) or anything about the model.
"""

from __future__ import annotations

import codecs
import hashlib
import json
import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from tokenizers import Tokenizer as HFTokenizer
from tokenizers import decoders, models, pre_tokenizers, processors, trainers

from engine.fileio import atomic_write_bytes

ENDOFTEXT = "<|endoftext|>"  # separates pretraining documents
SYSTEM = "<|system|>"
USER = "<|user|>"
ASSISTANT = "<|assistant|>"
CONTEXT = "<|context|>"  # a document put in the prompt (retrieval)
END = "<|end|>"  # end of a turn: generation stops here
SPECIAL_TOKENS = (ENDOFTEXT, SYSTEM, USER, ASSISTANT, CONTEXT, END)

SPACE_MARK = "·"
NEWLINE_MARK = "↵"
TAB_MARK = "→"


class TokenizerError(Exception):
    """A tokenizer file that is missing, unreadable or not one of ours."""


@dataclass(frozen=True)
class Token:
    id: int
    text: str  # as a person should see it: "·cat", "↵", "<e2 82>"
    span: tuple[int, int]  # characters [start, end) of the input this token came from


def _byte_decoder() -> dict[str, int]:
    """The inverse of byte-level BPE's byte -> printable character table (GPT-2's `bytes_to_unicode`)."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    chars = printable[:]
    n = 0
    for b in range(256):
        if b not in printable:
            printable.append(b)
            chars.append(256 + n)
            n += 1
    return {chr(c): b for b, c in zip(printable, chars)}


def show_text(piece: bytes) -> str:
    """How a token's bytes are drawn: b' the' -> '·the', b'\\n' -> '↵', b' \\xe2\\x82' -> '·<e2 82>'.

    Bytes that are only part of a character are drawn as hex, since they are no character yet.
    """
    text = piece.decode("utf-8", errors="surrogateescape")  # a stray byte 0xNN becomes U+DCNN
    text = text.replace(" ", SPACE_MARK).replace("\n", NEWLINE_MARK).replace("\t", TAB_MARK)
    return re.sub("[\udc80-\udcff]+", lambda m: "<" + " ".join(f"{ord(c) - 0xDC00:02x}" for c in m.group()) + ">", text)


def clean_text(text: str) -> str:
    """Text the tokenizer can take: lone surrogates (not valid Unicode) become '?'."""
    return text.encode("utf-8", "replace").decode("utf-8")


class Tokenizer:
    """A trained byte-level BPE tokenizer. Load one with `Tokenizer.load(path)`."""

    def __init__(self, hf: HFTokenizer):
        self._hf = hf
        self._hf.encode_special_tokens = True  # user text can never smuggle in a special token
        self.special_ids: dict[str, int] = {}
        for name in SPECIAL_TOKENS:
            token_id = hf.token_to_id(name)
            if token_id is None:
                raise TokenizerError(f"the tokenizer has no special token {name}: it was not trained by this project")
            self.special_ids[name] = token_id

    # ----- loading and saving

    @classmethod
    def load(cls, path: str | os.PathLike) -> "Tokenizer":
        path = Path(path)
        try:
            hf = HFTokenizer.from_str(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise TokenizerError(f"no tokenizer at {path}") from None
        except Exception as e:  # tokenizers raises plain Exception on bad JSON
            raise TokenizerError(f"{path} is not a readable tokenizer file ({e})") from None
        return cls(hf)

    def to_json(self) -> str:
        return self._hf.to_str()

    def save(self, path: str | os.PathLike) -> None:
        atomic_write_bytes(Path(path), self.to_json().encode("utf-8"))

    @cached_property
    def sha256(self) -> str:
        """A fingerprint of the vocabulary and merges, stored with the weights and checked on load."""
        return hashlib.sha256(self.to_json().encode("utf-8")).hexdigest()

    # ----- the vocabulary

    @property
    def vocab_size(self) -> int:
        return self._hf.get_vocab_size(with_added_tokens=True)

    @cached_property
    def _token_bytes(self) -> list[bytes]:
        """Every id's bytes: the table both decoding and drawing read from."""
        table = _byte_decoder()
        out: list[bytes] = []
        special = set(self.special_ids.values())
        for i in range(self.vocab_size):
            s = self._hf.id_to_token(i)
            if i in special:
                out.append(s.encode("utf-8"))
            else:
                out.append(bytes(table[c] for c in s))
        return out

    def is_special(self, token_id: int) -> bool:
        return token_id in self.special_ids.values()

    def token_text(self, token_id: int) -> str:
        """How one id is drawn: special tokens by name, others by `show_text`."""
        if self.is_special(token_id):
            return self._hf.id_to_token(token_id)
        return show_text(self._token_bytes[token_id])

    @cached_property
    def merges(self) -> list[tuple[str, str]]:
        """The learned merges in rank order (first learned first), in byte-level characters."""
        merges = json.loads(self.to_json())["model"]["merges"]
        return [tuple(m.split(" ", 1)) if isinstance(m, str) else tuple(m) for m in merges]

    # ----- text <-> tokens

    def encode(self, text: str) -> list[int]:
        """Plain text to ids. Special-token names in the text are ordinary characters here."""
        return self._hf.encode(clean_text(text), add_special_tokens=False).ids

    def encode_batch(self, texts: list[str]) -> list[list[int]]:
        return [e.ids for e in self._hf.encode_batch([clean_text(t) for t in texts], add_special_tokens=False)]

    def tokens(self, text: str) -> list[Token]:
        """Each token of `text` with its id, its drawn text and its character span.

        "a €" -> [Token(_, 'a', (0, 1)), Token(_, '·<e2 82>', (1, 3)), Token(_, '<ac>', (2, 3))]
        (the euro sign is three bytes; when the vocabulary splits them, each piece carries its span).
        """
        text = clean_text(text)
        ids = self.encode(text)
        # char_of_byte[b] = index of the character that byte b of the UTF-8 encoding belongs to
        char_of_byte: list[int] = []
        for ci, ch in enumerate(text):
            char_of_byte.extend([ci] * len(ch.encode("utf-8")))
        out: list[Token] = []
        pos = 0
        for token_id in ids:
            n = len(self._token_bytes[token_id])
            start = char_of_byte[pos]
            end = char_of_byte[pos + n - 1] + 1
            out.append(Token(token_id, self.token_text(token_id), (start, end)))
            pos += n
        return out

    def decode(self, ids: Iterable[int]) -> str:
        """Ids back to text. Special tokens are written by name; broken UTF-8 becomes U+FFFD."""
        return b"".join(self._token_bytes[i] for i in ids).decode("utf-8", errors="replace")

    def decode_stream(self) -> "DecodeStream":
        return DecodeStream(self)


class DecodeStream:
    """Turns ids into text one at a time, holding back bytes until a character is complete.

    Decoding ids one by one would print U+FFFD for each half of a split character; this does not.
    """

    def __init__(self, tokenizer: Tokenizer):
        self._bytes = tokenizer._token_bytes
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")

    def step(self, token_id: int) -> str:
        return self._decoder.decode(self._bytes[token_id])

    def flush(self) -> str:
        return self._decoder.decode(b"", final=True)


def train_tokenizer(texts: Iterable[str] | Iterator[str], vocab_size: int, min_frequency: int = 2) -> Tokenizer:
    """Learn byte-level BPE merges from `texts` until the vocabulary holds `vocab_size` ids.

    The first 256 + len(SPECIAL_TOKENS) ids are the bytes and the special tokens, so any text at all
    can be encoded, even one full of characters never seen in training.
    """
    hf = HFTokenizer(models.BPE())
    hf.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    hf.decoder = decoders.ByteLevel()
    hf.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=min_frequency,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    hf.train_from_iterator((clean_text(t) for t in texts), trainer=trainer)
    return Tokenizer(hf)

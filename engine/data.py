"""Training data as token streams, and the batches cut from them.

A `TokenStream` is one long row of token ids with a matching row of 0/1 flags that say which
targets the model should learn from: all of them for plain text (pretraining), only the
assistant's tokens for a conversation (instruct tuning). A batch is `batch_size` windows of
`block_size + 1` tokens at random places: the model reads the first `block_size` and, at each
position, is scored on the next one (x = ids[i : i+T], y = ids[i+1 : i+T+1]).

Batches are drawn from a generator seeded by (seed, step), so step 1200 always sees the same batch:
a resumed run trains on exactly what an uninterrupted one would have.

It does not decide what text to train on (see `world.py` and the CLI) and never touches the model.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from engine.chat_template import Message, render_conversation
from engine.tokenizer import ENDOFTEXT, Tokenizer


@dataclass
class TokenStream:
    ids: np.ndarray  # (N,) int64 token ids
    mask: np.ndarray  # (N,) uint8: 1 where the token is a target to learn
    # where a training window may begin (e.g. each conversation's first token), or None for anywhere;
    # a window that starts mid-conversation would ask the model to answer a question it cannot see
    starts: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def n_targets(self) -> int:
        return int(self.mask[1:].sum())


def documents_stream(tokenizer: Tokenizer, docs: Sequence[str]) -> TokenStream:
    """Plain text, each document followed by <|endoftext|>; every token is a target."""
    eot = tokenizer.special_ids[ENDOFTEXT]
    ids: list[int] = []
    for doc_ids in tokenizer.encode_batch(list(docs)):
        ids.extend(doc_ids)
        ids.append(eot)
    arr = np.asarray(ids, dtype=np.int64)
    return TokenStream(arr, np.ones(len(arr), dtype=np.uint8))


def conversations_stream(
    tokenizer: Tokenizer, conversations: Iterable[Sequence[Message]], assistant_only: bool = True
) -> TokenStream:
    """Conversations in the chat template, one after another; targets are the assistant's tokens
    (or every token, with assistant_only=False)."""
    ids: list[int] = []
    mask: list[int] = []
    starts: list[int] = []
    for conv in conversations:
        rendered = render_conversation(tokenizer, conv)
        starts.append(len(ids))
        ids.extend(rendered.ids)
        mask.extend(rendered.mask if assistant_only else [1] * len(rendered.ids))
    return TokenStream(np.asarray(ids, dtype=np.int64), np.asarray(mask, dtype=np.uint8), np.asarray(starts, dtype=np.int64))


def concat(streams: Sequence[TokenStream]) -> TokenStream:
    """One stream after another. If any restricts its window starts, all do (a stream without
    restrictions contributes every position)."""
    starts = None
    if any(s.starts is not None for s in streams):
        offsets = np.cumsum([0] + [len(s) for s in streams[:-1]])
        starts = np.concatenate(
            [(s.starts if s.starts is not None else np.arange(len(s))) + off for s, off in zip(streams, offsets)]
        )
    return TokenStream(np.concatenate([s.ids for s in streams]), np.concatenate([s.mask for s in streams]), starts)


def split(stream: TokenStream, val_fraction: float) -> tuple[TokenStream, TokenStream]:
    """The last `val_fraction` of the stream is held out for evaluation (cut at a window start, if any)."""
    cut = int(len(stream) * (1 - val_fraction))
    if stream.starts is None:
        return TokenStream(stream.ids[:cut], stream.mask[:cut]), TokenStream(stream.ids[cut:], stream.mask[cut:])
    cut = int(stream.starts[np.searchsorted(stream.starts, cut)]) if cut < stream.starts[-1] else cut
    head, tail = stream.starts[stream.starts < cut], stream.starts[stream.starts >= cut] - cut
    return TokenStream(stream.ids[:cut], stream.mask[:cut], head), TokenStream(stream.ids[cut:], stream.mask[cut:], tail)


def get_batch(
    stream: TokenStream, block_size: int, batch_size: int, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """x, y of shape (batch_size, block_size); y is x shifted by one, -1 where there is nothing to learn."""
    n = len(stream) - block_size - 1
    if n <= 0:
        raise ValueError(f"the data has {len(stream)} tokens: too few for block_size {block_size}")
    if stream.starts is not None:
        allowed = stream.starts[stream.starts < n]
        starts = allowed[torch.randint(0, len(allowed), (batch_size,), generator=generator).numpy()]
    else:
        starts = torch.randint(0, n, (batch_size,), generator=generator).numpy()
    rows = starts[:, None] + np.arange(block_size + 1)[None, :]  # (B, T+1) indices
    ids = torch.from_numpy(stream.ids[rows])
    mask = torch.from_numpy(stream.mask[rows][:, 1:].astype(bool))
    x = ids[:, :-1]
    y = ids[:, 1:].masked_fill(~mask, -1)
    return x, y


def batch_generator(seed: int, step: int) -> torch.Generator:
    """The random source for one step's batch: the same (seed, step) always gives the same batch."""
    g = torch.Generator()
    g.manual_seed(seed * 1_000_003 + step)
    return g


TEXT_SUFFIXES = {".txt", ".md", ".markdown", ".rst", ".text"}


def read_corpus(paths: Sequence[str | Path]) -> list[str]:
    """A user's own text files as documents: paragraphs (split at blank lines) gathered into ~2k-character pieces."""
    docs: list[str] = []
    for p in paths:
        path = Path(p)
        if not path.exists():
            raise ValueError(f"{path} does not exist")
        # a folder contributes its text files; a file named directly is read whatever its name
        files = sorted(q for q in path.rglob("*") if q.is_file() and q.suffix.lower() in TEXT_SUFFIXES) if path.is_dir() else [path]
        for f in files:
            try:
                text = f.read_text(encoding="utf-8", errors="replace")
            except OSError as e:
                raise ValueError(f"cannot read {f}: {e.strerror}") from None
            chunk: list[str] = []
            size = 0
            for para in text.split("\n\n"):
                chunk.append(para)
                size += len(para)
                if size >= 2000:
                    docs.append("\n\n".join(chunk))
                    chunk, size = [], 0
            if chunk and any(c.strip() for c in chunk):
                docs.append("\n\n".join(chunk))
    if not docs:
        raise ValueError("the corpus holds no text")
    return docs

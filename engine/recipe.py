"""Recipes: everything needed to make a model from nothing, as data, and the run that follows one.

A recipe names the data (the built-in world, or a user's own text files), the tokenizer's size, the
model's shape and the training settings. `run_recipe` goes through the stages in order, yielding
progress for each as plain data:

    data       -> the world's stories and chat examples (or the user's corpus), as documents
    tokenizer  -> byte-level BPE trained on that text
    train      -> the GPT, trained on documents and conversations together (see `train.py`)

Re-running a recipe into the same folder resumes it: the saved tokenizer is reused and training
continues from its last checkpoint.

It does not draw anything; the command line turns the events into progress bars.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

from engine import world
from engine.data import concat, conversations_stream, documents_stream, read_corpus, split
from engine.model import GPT, GPTConfig
from engine.tokenizer import Tokenizer, train_tokenizer
from engine.train import STATE, TrainConfig, train


@dataclass(frozen=True)
class Recipe:
    name: str
    vocab_size: int  # the tokenizer is trained up to this many ids
    gpt: GPTConfig  # its vocab_size is set from the trained tokenizer
    train: TrainConfig
    n_documents: int  # stories and descriptions of the world
    n_conversations: int  # chat examples
    world_seed: int = 0
    val_fraction: float = 0.05


RECIPES: dict[str, Recipe] = {
    # seconds on a laptop: for tests and for trying the pipeline
    "tiny": Recipe(
        name="tiny",
        vocab_size=512,
        gpt=GPTConfig(block_size=64, n_layer=2, n_head=2, n_embd=64),
        train=TrainConfig(max_steps=150, batch_size=16, lr=3e-3, warmup_steps=20, eval_interval=50, eval_batches=4, log_interval=10),
        n_documents=600,
        n_conversations=600,
    ),
    # the shipped model: about 30 minutes on 2 idle CPU cores (float32: bfloat16 autocast measured slower here)
    "default": Recipe(
        name="default",
        vocab_size=2048,
        gpt=GPTConfig(block_size=256, n_layer=4, n_head=4, n_embd=256),
        train=TrainConfig(max_steps=1100, batch_size=32, lr=2e-3, min_lr=2e-4, warmup_steps=60, eval_interval=100, threads=2),
        n_documents=20_000,
        n_conversations=20_000,
    ),
}


@dataclass(frozen=True)
class StageStarted:
    stage: str
    detail: str = ""


@dataclass(frozen=True)
class StageDone:
    stage: str
    detail: str
    seconds: float


def build_texts(recipe: Recipe, corpus: Sequence[str | Path] | None = None) -> tuple[list[str], list[list[dict]]]:
    """Documents and conversations: the world's, or (with a corpus) the user's files and no chat."""
    if corpus:
        return read_corpus(corpus), []
    w = world.make_world(recipe.world_seed)
    rng = random.Random(recipe.world_seed + 1)
    docs = world.pretraining_documents(w, rng, recipe.n_documents)
    convs = world.chat_examples(w, rng, recipe.n_conversations, split="train")
    return docs, convs


def run_recipe(
    recipe: Recipe, out_dir: str | Path, corpus: Sequence[str | Path] | None = None, resume: bool = True
) -> Iterator[object]:
    """Make a model folder at `out_dir` by following `recipe`; yields stage and training events."""
    out_dir = Path(out_dir)

    yield StageStarted("data", "your corpus" if corpus else f"the built-in world (seed {recipe.world_seed})")
    t0 = time.perf_counter()
    docs, convs = build_texts(recipe, corpus)
    n_chars = sum(map(len, docs)) + sum(len(m["content"]) for c in convs for m in c)
    yield StageDone("data", f"{len(docs):,} documents, {len(convs):,} conversations, {n_chars / 1e6:.1f}M characters", time.perf_counter() - t0)

    yield StageStarted("tokenizer", f"byte-level BPE, up to {recipe.vocab_size} tokens")
    t0 = time.perf_counter()
    tokenizer_file = out_dir / "tokenizer.json"
    if resume and (out_dir / STATE).exists() and tokenizer_file.exists():
        tokenizer = Tokenizer.load(tokenizer_file)
        how = "reused the saved one"
    else:
        chat_text = (m["content"] for c in convs for m in c)
        tokenizer = train_tokenizer([*docs, *chat_text], recipe.vocab_size)
        how = "trained"
    yield StageDone("tokenizer", f"{how}: {tokenizer.vocab_size} tokens", time.perf_counter() - t0)

    yield StageStarted("tokens", "turning the text into token ids")
    t0 = time.perf_counter()
    rng = np.random.default_rng(recipe.train.seed)
    streams = [documents_stream(tokenizer, docs)]
    if convs:
        streams.append(conversations_stream(tokenizer, convs, assistant_only=False))
    data = concat(streams)
    # the world's text comes in kinds (stories, then chats); interleave whole documents' worth by
    # shuffling fixed-size chunks, so the held-out tail is a fair sample of everything
    chunk = 1024
    n_chunks = len(data) // chunk
    order = rng.permutation(n_chunks)
    idx = (order[:, None] * chunk + np.arange(chunk)[None, :]).reshape(-1)
    data.ids, data.mask = data.ids[idx], data.mask[idx]
    train_data, val_data = split(data, recipe.val_fraction)
    yield StageDone("tokens", f"{len(train_data):,} training tokens, {len(val_data):,} held out", time.perf_counter() - t0)

    gpt_config = replace(recipe.gpt, vocab_size=tokenizer.vocab_size)
    model = GPT(gpt_config)
    yield StageStarted("train", f"{model.num_params() / 1e6:.2f}M parameters, {recipe.train.max_steps} steps")
    t0 = time.perf_counter()
    meta = {"recipe": recipe.name, "data": "corpus" if corpus else f"world seed {recipe.world_seed}", "recipe_settings": asdict(recipe)}
    yield from train(model, tokenizer, train_data, val_data, recipe.train, out_dir, meta=meta, resume=resume)
    yield StageDone("train", f"saved to {out_dir}", time.perf_counter() - t0)

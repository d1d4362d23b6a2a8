"""Shared fixtures: a tokenizer and models small enough to build in well under a second."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
import torch

from engine.checkpoint import LoadedModel
from engine.model import GPT, GPTConfig
from engine.tokenizer import Tokenizer, train_tokenizer

WORDS = "the cat sat on a mat and the dog ran to the big red house where Amara lives in Brookfield".split()


def sample_texts(n: int = 300, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    return [" ".join(rng.choice(WORDS) for _ in range(rng.randint(5, 25))) + "." for _ in range(n)]


@pytest.fixture(scope="session")
def tokenizer() -> Tokenizer:
    return train_tokenizer(sample_texts() + ["Hello, world! Ünïcödé € 日本語 🙂"] * 5, vocab_size=400)


def tiny_config(tokenizer: Tokenizer, **overrides) -> GPTConfig:
    settings = dict(block_size=32, vocab_size=tokenizer.vocab_size, n_layer=2, n_head=2, n_embd=32, dropout=0.0)
    settings.update(overrides)
    return GPTConfig(**settings)


def random_gpt(tokenizer: Tokenizer, seed: int = 0, **overrides) -> GPT:
    """An untrained GPT whose every weight (LayerNorms and biases too) is random, so tests see all of them."""
    torch.manual_seed(seed)
    model = GPT(tiny_config(tokenizer, **overrides))
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "ln" in name or name.endswith("bias"):
                p.add_(torch.randn_like(p) * 0.1)
    return model.eval()


@pytest.fixture
def tiny_lm(tokenizer: Tokenizer) -> LoadedModel:
    return LoadedModel(random_gpt(tokenizer), tokenizer, Path("tiny"))

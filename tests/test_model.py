"""The GPT: the inspection path and the KV cache give the very logits of the plain forward pass."""

from __future__ import annotations

import pytest
import torch

from engine.model import GPTConfig
from tests.conftest import random_gpt


def test_inspection_path_matches_fast_path(tokenizer) -> None:
    model = random_gpt(tokenizer)
    idx = torch.randint(0, tokenizer.vocab_size, (3, 32))
    fast = model(idx)
    inspected = model(idx, attn="all")
    assert fast.attentions is None
    torch.testing.assert_close(inspected.logits, fast.logits, atol=1e-5, rtol=1e-5)


def test_attention_rows_sum_to_one_and_are_causal(tokenizer) -> None:
    model = random_gpt(tokenizer)
    T = 20
    out = model(torch.randint(0, tokenizer.vocab_size, (2, T)), attn="all")
    assert len(out.attentions) == model.config.n_layer
    for a in out.attentions:
        assert a.shape == (2, model.config.n_head, T, T)
        torch.testing.assert_close(a.sum(-1), torch.ones(2, model.config.n_head, T))
        future = torch.triu(torch.ones(T, T, dtype=torch.bool), diagonal=1)
        assert torch.all(a[..., future] == 0)
        assert torch.all(a[..., ~future] > 0)


def test_kv_cache_gives_the_same_logits_as_recomputing(tokenizer) -> None:
    model = random_gpt(tokenizer)
    idx = torch.randint(0, tokenizer.vocab_size, (1, 30))
    full = model(idx).logits
    cache = model.new_cache()
    parts = [model(idx[:, :12], cache=cache).logits]  # a prefill of 12 tokens
    parts.append(model(idx[:, 12:17], cache=cache).logits)  # 5 more at once (needs the offset mask)
    for t in range(17, 30):  # then one at a time
        parts.append(model(idx[:, t : t + 1], cache=cache).logits)
    torch.testing.assert_close(torch.cat(parts, dim=1), full, atol=1e-5, rtol=1e-5)


def test_last_row_attention_matches_the_full_map(tokenizer) -> None:
    model = random_gpt(tokenizer)
    idx = torch.randint(0, tokenizer.vocab_size, (1, 16))
    full = model(idx, attn="all").attentions
    cache = model.new_cache()
    model(idx[:, :15], cache=cache)
    last = model(idx[:, 15:], cache=cache, attn="last").attentions
    for f, l in zip(full, last):
        torch.testing.assert_close(l[:, :, 0], f[:, :, -1])


def test_loss_ignores_masked_targets_and_survives_an_all_masked_batch(tokenizer) -> None:
    model = random_gpt(tokenizer)
    idx = torch.randint(0, tokenizer.vocab_size, (2, 8))
    targets = torch.full((2, 8), -1)
    loss = model(idx, targets).loss
    assert loss.item() == 0.0 and loss.requires_grad
    targets[0, 3] = 5
    expected = torch.nn.functional.cross_entropy(model(idx).logits[0, 3:4], torch.tensor([5]))
    torch.testing.assert_close(model(idx, targets).loss, expected)


def test_tied_embeddings_and_block_size_limit(tokenizer) -> None:
    model = random_gpt(tokenizer)
    assert model.lm_head.weight is model.transformer.wte.weight
    with pytest.raises(ValueError, match="block_size"):
        model(torch.zeros(1, model.config.block_size + 1, dtype=torch.long))


def test_config_checks_heads_divide_embedding() -> None:
    with pytest.raises(ValueError, match="multiple of n_head"):
        GPTConfig(n_embd=30, n_head=4)

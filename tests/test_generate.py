"""Generation: sampling stages keep exactly what they should; cached decoding equals recomputing."""

from __future__ import annotations

import pytest
import torch
from torch.nn import functional as F

from engine.generate import (
    Done,
    SamplingConfig,
    TokenEvent,
    Truncated,
    apply_temperature,
    apply_top_k,
    apply_top_p,
    fit_prompt,
    generate,
)
from tests.conftest import random_gpt

INF = float("-inf")


def kept(logits: torch.Tensor) -> list[int]:
    return torch.nonzero(torch.isfinite(logits)).flatten().tolist()


@pytest.mark.parametrize(
    "k, expected", [(1, [1]), (2, [1, 2]), (3, [0, 1, 2]), (0, [0, 1, 2, 3]), (4, [0, 1, 2, 3]), (10, [0, 1, 2, 3])]
)
def test_top_k_keeps_the_k_best(k: int, expected: list[int]) -> None:
    logits = torch.tensor([1.0, 3.0, 2.0, 0.0])
    out = apply_top_k(logits, k)
    assert kept(out) == expected
    assert torch.equal(out[expected], logits[expected])  # survivors keep their scores


@pytest.mark.parametrize(
    "p, expected",
    [(0.4, [0]), (0.5, [0]), (0.51, [0, 1]), (0.8, [0, 1]), (0.81, [0, 1, 2]), (0.95, [0, 1, 2]), (1.0, [0, 1, 2, 3])],
)
def test_top_p_keeps_the_fewest_that_reach_p(p: float, expected: list[int]) -> None:
    probs = torch.tensor([0.5, 0.3, 0.15, 0.05])
    assert kept(apply_top_p(probs.log(), p)) == expected


def test_top_p_works_on_unsorted_scores() -> None:
    probs = torch.tensor([0.05, 0.3, 0.5, 0.15])
    assert kept(apply_top_p(probs.log(), 0.75)) == [1, 2]


def test_temperature_zero_is_greedy_and_scaling_sharpens() -> None:
    logits = torch.tensor([1.0, 3.0, 2.0])
    assert kept(apply_temperature(logits, 0)) == [1]
    cold = F.softmax(apply_temperature(logits, 0.5), -1)
    hot = F.softmax(apply_temperature(logits, 2.0), -1)
    assert cold.max() > F.softmax(logits, -1).max() > hot.max()


def tokens_of(events) -> list[int]:
    return [e.token_id for e in events if isinstance(e, TokenEvent)]


@torch.no_grad()
def test_cached_generation_matches_recomputing_each_step(tokenizer) -> None:
    model = random_gpt(tokenizer, block_size=64)
    prompt = tokenizer.encode("the cat sat on the")
    events = [e for e in generate(model, prompt, SamplingConfig(temperature=0, max_new_tokens=12)) if isinstance(e, TokenEvent)]
    seq = list(prompt)
    for e in events:
        logits = model(torch.tensor([seq])).logits[0, -1]  # no cache: the whole sequence again
        assert e.token_id == int(logits.argmax())
        raw = F.softmax(logits, -1)
        top = e.candidates[0]
        assert top.id == e.token_id
        assert top.p_raw == pytest.approx(float(raw[top.id]), abs=1e-5)
        seq.append(e.token_id)
    assert len(events) == 12


def test_a_fixed_seed_gives_the_same_reply(tokenizer) -> None:
    model = random_gpt(tokenizer, block_size=64)
    prompt = tokenizer.encode("the dog")
    sampling = SamplingConfig(temperature=1.0, top_k=0, top_p=1.0, max_new_tokens=20, seed=42)
    a = tokens_of(generate(model, prompt, sampling))
    b = tokens_of(generate(model, prompt, sampling))
    c = tokens_of(generate(model, prompt, SamplingConfig(temperature=1.0, top_k=0, top_p=1.0, max_new_tokens=20, seed=43)))
    assert a == b
    assert a != c


def test_events_report_candidates_stages_and_attention(tokenizer) -> None:
    model = random_gpt(tokenizer, block_size=64)
    prompt = tokenizer.encode("the red house")
    sampling = SamplingConfig(temperature=0.7, top_k=5, top_p=0.9, max_new_tokens=5, seed=0)
    for e in generate(model, prompt, sampling):
        if not isinstance(e, TokenEvent):
            continue
        assert e.attention.shape == (model.config.n_layer, model.config.n_head, e.position)
        assert e.attention.sum(-1) == pytest.approx(1.0, abs=1e-5)
        chosen = next(c for c in e.candidates if c.id == e.token_id)
        assert chosen.p_top_p == pytest.approx(e.prob) and e.prob > 0
        # top-k keeps at most 5 tokens: the others have p_top_k == 0; top-p never revives one
        assert sum(c.p_top_k > 0 for c in e.candidates) <= 5
        assert all(c.p_top_p == 0 for c in e.candidates if c.p_top_k == 0)
        assert sum(c.p_raw for c in e.candidates) <= 1.0 + 1e-6


def test_stop_token_ends_the_reply_and_is_reported(tokenizer) -> None:
    model = random_gpt(tokenizer, block_size=64)
    prompt = tokenizer.encode("the cat")
    sampling = SamplingConfig(temperature=1.0, top_k=0, top_p=1.0, max_new_tokens=10, seed=3)
    first = tokens_of(generate(model, prompt, sampling))
    k = next(i for i in range(1, len(first)) if first[i] not in first[:i])  # a token not produced before
    events = list(generate(model, prompt, sampling, stop_ids={first[k]}))
    toks = [e for e in events if isinstance(e, TokenEvent)]
    assert [t.token_id for t in toks] == first[: k + 1]
    assert toks[-1].is_stop and not any(t.is_stop for t in toks[:-1])
    assert events[-1] == Done("stop_token", k + 1, events[-1].seconds)


def test_should_stop_is_checked_between_tokens(tokenizer) -> None:
    model = random_gpt(tokenizer, block_size=64)
    got: list[TokenEvent] = []
    last = None
    for e in generate(model, [1, 2, 3], SamplingConfig(max_new_tokens=50, seed=0), should_stop=lambda: len(got) >= 4):
        if isinstance(e, TokenEvent):
            got.append(e)
        last = e
    assert len(got) == 4 and last.reason == "stopped" and last.n_tokens == 4


def test_long_prompt_is_cut_by_the_stated_rule(tokenizer) -> None:
    model = random_gpt(tokenizer, block_size=32)
    prompt = list(range(10, 60))  # 50 tokens into a window of 32
    events = list(generate(model, prompt, SamplingConfig(temperature=0, max_new_tokens=8)))
    cut = events[0]
    assert isinstance(cut, Truncated)
    assert (cut.original_tokens, cut.kept_tokens, cut.dropped_tokens) == (50, 24, 26)
    first = next(e for e in events if isinstance(e, TokenEvent))
    assert first.position == 24
    assert isinstance(events[-1], Done) and events[-1].n_tokens == 8
    # the reply then runs until the window is full
    events = list(generate(model, prompt, SamplingConfig(temperature=0, max_new_tokens=100)))
    assert events[0].kept_tokens == 16  # room is capped at block_size // 2
    assert events[-1].reason == "block_size" and events[-1].n_tokens == 16


def test_fit_prompt_leaves_short_prompts_alone() -> None:
    assert fit_prompt([1, 2, 3], block_size=32, max_new_tokens=8) == ([1, 2, 3], None)


@pytest.mark.parametrize("bad", [dict(temperature=-1), dict(top_k=-1), dict(top_p=0), dict(top_p=1.5), dict(max_new_tokens=0)])
def test_bad_sampling_settings_are_refused(bad) -> None:
    with pytest.raises(ValueError):
        SamplingConfig(**bad)

"""Generation: predict the next token, pick one, append it, repeat, and report every step.

`generate` is a generator. It yields plain-data events, one per new token, that say what the model
saw and weighed: the token chosen, the top candidates with their probability at each sampling stage
(raw softmax, after temperature, after top-k, after top-p), the entropy, and how the newest position
attended over the sequence in every layer and head. A final `Done` says why it stopped.

Sampling, in the order applied:
    temperature  divide the scores by T (T < 1 sharpens, T > 1 flattens; T = 0 is greedy: always the top token)
    top-k        keep only the k highest-scoring tokens
    top-p        keep the fewest top tokens whose probabilities add up to at least p
A seed makes the draws repeatable.

The prompt rule: the reply needs room. If fewer than `min(max_new_tokens, block_size // 2)` positions are
left after the prompt, the prompt's oldest tokens are dropped until that many are free, and a
`Truncated` event says how many. Generation stops when the window is full (reason "block_size").

It knows nothing about text: ids in, ids out (see `chat.py` for text).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass

import numpy as np
import torch
from torch.nn import functional as F

from engine.model import GPT


@dataclass(frozen=True)
class SamplingConfig:
    temperature: float = 0.8  # 0 = greedy
    top_k: int = 40  # 0 = off
    top_p: float = 0.95  # 1.0 = off
    max_new_tokens: int = 128
    seed: int | None = None  # None = a fresh draw each time
    n_candidates: int = 10  # how many top candidates each event reports
    attention: bool = True  # report the attention rows (costs a few percent)

    def __post_init__(self) -> None:
        if self.temperature < 0:
            raise ValueError("temperature must be >= 0 (0 means greedy)")
        if self.top_k < 0:
            raise ValueError("top_k must be >= 0 (0 means off)")
        if not 0.0 < self.top_p <= 1.0:
            raise ValueError("top_p must be in (0, 1] (1 means off)")
        if self.max_new_tokens < 1:
            raise ValueError("max_new_tokens must be at least 1")

    @property
    def greedy(self) -> bool:
        return self.temperature == 0


@dataclass(frozen=True)
class Candidate:
    id: int
    p_raw: float  # softmax of the model's scores
    p_temperature: float  # after dividing by the temperature
    p_top_k: float  # after keeping the top k (renormalised)
    p_top_p: float  # after keeping the top p (renormalised): what the token was drawn from


@dataclass(frozen=True)
class Truncated:
    original_tokens: int
    kept_tokens: int
    rule: str

    @property
    def dropped_tokens(self) -> int:
        return self.original_tokens - self.kept_tokens


@dataclass(frozen=True)
class TokenEvent:
    index: int  # 0 for the first new token
    position: int  # where it sits in the sequence
    token_id: int
    prob: float  # its probability in the distribution it was drawn from
    candidates: tuple[Candidate, ...]  # the top ones by raw probability (the chosen one always included)
    entropy: float  # of the raw distribution, in bits: 0 = certain
    attention: np.ndarray | None  # (n_layer, n_head, position): how the query at position-1 looked at 0..position-1
    is_stop: bool  # the model chose to end (e.g. end of turn): not part of the reply's text
    seconds: float  # time spent on this token
    # with a copy head (and attention on): where the copy came from, else None
    copy_from: np.ndarray | None = None  # (position,): copy weight by the position of the token copied
    copy_gate: float | None = None  # g, the vocabulary's share; 1 - g went to copying
    copied: float | None = None  # share of the chosen token's probability that came from copying


# why a reply ended, in words a person reads
STOP_REASONS = {
    "stop_token": "the model ended its turn",
    "max_new_tokens": "max_new_tokens was reached",
    "block_size": "the context window (block_size) is full",
    "stopped": "stopped by request",
}


@dataclass(frozen=True)
class Done:
    reason: str  # a key of STOP_REASONS
    n_tokens: int
    seconds: float

    @property
    def tokens_per_s(self) -> float:
        return self.n_tokens / self.seconds if self.seconds > 0 else 0.0

    @property
    def explanation(self) -> str:
        return STOP_REASONS[self.reason]


Event = TokenEvent | Truncated | Done


def apply_temperature(logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """Scores divided by T. T = 0 (greedy) leaves only the top token: [1, 3, 2] -> [-inf, 3, -inf]."""
    if temperature == 0:
        out = torch.full_like(logits, float("-inf"))
        top = logits.argmax(-1, keepdim=True)
        return out.scatter(-1, top, logits.gather(-1, top))
    return logits / temperature


def apply_top_k(logits: torch.Tensor, k: int) -> torch.Tensor:
    """Keep the k highest scores: k=2, [1, 3, 2, 0] -> [-inf, 3, 2, -inf]. k=0 keeps all.

    Ties at the k-th score are broken by position (the first ones win), so exactly k survive.
    """
    if k <= 0 or k >= logits.size(-1):
        return logits
    top = torch.topk(logits, k, dim=-1).indices
    out = torch.full_like(logits, float("-inf"))
    return out.scatter(-1, top, logits.gather(-1, top))


def apply_top_p(logits: torch.Tensor, p: float) -> torch.Tensor:
    """Keep the fewest top tokens whose probabilities add up to at least p (always at least one).

    p=0.7, probs [0.5, 0.3, 0.2] -> keeps the first two (0.5 < 0.7 <= 0.8).
    """
    if p >= 1.0:
        return logits
    probs = F.softmax(logits, dim=-1)
    sorted_probs, order = torch.sort(probs, descending=True, dim=-1)
    before = torch.cumsum(sorted_probs, dim=-1) - sorted_probs  # probability mass ranked above each token
    drop_sorted = before >= p  # once p is reached, the rest go (the first token never does: before = 0)
    drop = torch.zeros_like(drop_sorted).scatter(-1, order, drop_sorted)
    return logits.masked_fill(drop, float("-inf"))


def fit_prompt(prompt: list[int], block_size: int, max_new_tokens: int) -> tuple[list[int], Truncated | None]:
    """Apply the prompt rule (see the module docstring)."""
    room = min(max_new_tokens, block_size // 2)
    limit = block_size - room
    if len(prompt) <= limit:
        return prompt, None
    rule = f"kept the last {limit} of {len(prompt)} prompt tokens, leaving {room} of block_size {block_size} for the reply"
    return prompt[-limit:], Truncated(len(prompt), limit, rule)


@torch.inference_mode()
def generate(
    model: GPT,
    prompt: list[int],
    sampling: SamplingConfig = SamplingConfig(),
    stop_ids: Collection[int] = (),
    should_stop: Callable[[], bool] | None = None,
) -> Iterator[Event]:
    """Yield a TokenEvent per new token, after a Truncated event if the prompt was cut, then Done.

    `should_stop` is asked between tokens; when it says True, generation ends with reason "stopped".
    Closing the generator stops it too.
    """
    if not prompt:
        raise ValueError("the prompt must hold at least one token")
    model.eval()
    device = model.transformer.wte.weight.device
    block_size = model.config.block_size
    prompt, truncated = fit_prompt(list(prompt), block_size, sampling.max_new_tokens)
    if truncated:
        yield truncated

    rng = torch.Generator(device="cpu")
    rng.manual_seed(sampling.seed if sampling.seed is not None else int.from_bytes(np.random.bytes(6), "little"))
    attn_mode = "last" if sampling.attention else None
    cache = model.new_cache()
    idx = torch.tensor([prompt], dtype=torch.long, device=device)
    seq = list(prompt)  # every id so far: the copy head's sources
    position = len(prompt)
    started = time.perf_counter()
    n = 0
    reason = "max_new_tokens"
    while n < sampling.max_new_tokens:
        if should_stop is not None and should_stop():
            reason = "stopped"
            break
        if position >= block_size:
            reason = "block_size"
            break
        t0 = time.perf_counter()
        out = model(idx, cache=cache, attn=attn_mode)
        logits = out.logits[0, -1].float()  # (vocab_size,) scores for the next token

        # the sampling stages, each kept so the app can show what it did
        p_raw = F.softmax(logits, dim=-1)
        scaled = apply_temperature(logits, sampling.temperature)
        kept_k = apply_top_k(scaled, sampling.top_k)
        kept_p = apply_top_p(kept_k, sampling.top_p)
        p_final = F.softmax(kept_p, dim=-1)
        token = int(torch.multinomial(p_final, 1, generator=rng)) if not sampling.greedy else int(p_final.argmax())

        top = torch.topk(p_raw, min(sampling.n_candidates, p_raw.numel())).indices.tolist()
        if token not in top:
            top.append(token)
        stages = torch.stack([p_raw, F.softmax(scaled, -1), F.softmax(kept_k, -1), p_final])[:, top].tolist()
        candidates = tuple(Candidate(i, *(stage[j] for stage in stages)) for j, i in enumerate(top))
        entropy = float(-(p_raw * torch.log2(p_raw.clamp_min(1e-30))).sum())
        attention = None
        if out.attentions is not None:
            attention = torch.stack([a[0, :, -1] for a in out.attentions]).float().cpu().numpy()  # (n_layer, n_head, position)

        copy = _copy_report(out, seq, token, float(p_raw[token])) if out.copy_attention is not None else {}
        is_stop = token in stop_ids
        yield TokenEvent(n, position, token, float(p_final[token]), candidates, entropy, attention, is_stop, time.perf_counter() - t0, **copy)
        seq.append(token)
        n += 1
        position += 1
        if is_stop:
            reason = "stop_token"
            break
        idx = torch.tensor([[token]], dtype=torch.long, device=device)
    yield Done(reason, n, time.perf_counter() - started)



def _copy_report(out, seq: list[int], token: int, p_token: float) -> dict:
    """Where the copy head's share of this step came from: its pointer looked at position j and copies
    the token at j+1, so the weight moves one place right, onto the position of the token it copies."""
    a = out.copy_attention[0, -1].float().cpu().numpy()  # (position,) over attended positions j
    copy_from = np.concatenate([[0.0], a[:-1]]).astype(np.float32)
    g = float(out.copy_gate[0, -1])
    p_copy = float(copy_from[np.asarray(seq) == token].sum())
    return {"copy_from": copy_from, "copy_gate": g, "copied": (1 - g) * p_copy / p_token if p_token > 0 else 0.0}

"""The GPT: a decoder-only transformer that predicts the next token, in the shape of GPT-2.

Token embedding + learned position embedding, then `n_layer` blocks of
(LayerNorm -> causal self-attention -> add) and (LayerNorm -> MLP -> add), a final LayerNorm, and
the token embedding matrix again (tied) to turn each position's vector into a score per vocabulary
entry. Layer names follow GPT-2 (`c_attn`, `c_proj`, `c_fc`) so the weights load in other tools
(see `export.py`) and LoRA can target them by name.

Two ways through attention:
- the fast path, `scaled_dot_product_attention`, used for training and generation;
- the inspection path, which also returns the attention weights (softmax(q·k/√d)) so the app can
  draw them. With `attn="last"` only the newest position's row is computed, which is all that
  generation needs and costs a few percent; `attn="all"` gives the full (T, T) maps.

Incremental decoding keeps each layer's keys and values in a `KVCache`, so generating a token
costs one position's work instead of the whole sequence's.

With `copy_head=True` a pointer (a `CopyHead`, see there) sits on top: one more attention head
over the earlier positions that can copy the token which followed the one it looks at, and a gate
that mixes that copy distribution with the usual vocabulary distribution. The logits it returns
are then log-probabilities of the mixture, so loss, softmax and sampling work unchanged. With
`copy_head=False` (the default) the model is exactly GPT-2's shape.

It does not tokenize, sample, train or save: see the modules named after those jobs.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields, replace
from typing import Literal, NamedTuple

import torch
import torch.nn as nn
from torch.nn import functional as F

AttnMode = Literal[None, "last", "all"]


@dataclass(frozen=True)
class GPTConfig:
    block_size: int = 256  # the most tokens the model can see at once (its context window)
    vocab_size: int = 4096  # how many different tokens exist (ids 0 .. vocab_size-1)
    n_layer: int = 4  # how many transformer blocks are stacked
    n_head: int = 4  # attention heads per block; each looks at the sequence in its own way
    n_embd: int = 256  # the length of the vector that stands for each token
    dropout: float = 0.0  # share of activations zeroed during training (0 for small data / inference)
    # a pointer that copies tokens from earlier in the context: a small GPT cannot learn to copy words it
    # never saw in training (e.g. a name in a context block), while a pointer copies any id it can point at.
    # Off, the model is plain GPT-2 (exportable, identical state dict).
    copy_head: bool = False

    def __post_init__(self) -> None:
        if self.n_embd % self.n_head:
            raise ValueError(f"n_embd ({self.n_embd}) must be a multiple of n_head ({self.n_head})")

    @property
    def head_size(self) -> int:
        return self.n_embd // self.n_head

    def to_dict(self) -> dict:
        d = asdict(self)
        # left out when off, so a plain model's config.json (and a training run's fingerprint) stays as
        # it was before the field existed, and old runs still resume
        if not self.copy_head:
            del d["copy_head"]
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "GPTConfig":
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})


class GPTOutput(NamedTuple):
    logits: torch.Tensor  # (B, T, vocab_size); with a copy head, log-probabilities of the mixture
    loss: torch.Tensor | None  # mean cross-entropy over targets that are not -1
    attentions: list[torch.Tensor] | None  # per layer: (B, n_head, T or 1, T_total)
    # with a copy head and attn set, else None. copy_attention[b, t, j]: how much the pointer at
    # position t looked at position j, whose successor (the token at j+1) it copies; 0 for j >= t.
    copy_attention: torch.Tensor | None = None  # (B, T or 1, T_total)
    copy_gate: torch.Tensor | None = None  # (B, T or 1): the vocabulary's share g; 1 - g went to copying


class KVCache:
    """Each layer's keys and values so far, so a new token attends without recomputing the past.

    Tensors are allocated once for `block_size` positions: (n_layer, B, n_head, block_size, head_size).
    With a copy head it also keeps the pointer's keys (B, block_size, head_size) and the token ids
    (B, block_size): a key points at the token after it, which is only known once it has been fed.
    """

    def __init__(self, config: GPTConfig, batch_size: int = 1, device: torch.device | str = "cpu", dtype=torch.float32):
        shape = (config.n_layer, batch_size, config.n_head, config.block_size, config.head_size)
        self.k = torch.zeros(shape, device=device, dtype=dtype)
        self.v = torch.zeros(shape, device=device, dtype=dtype)
        if config.copy_head:
            self.copy_k = torch.zeros(batch_size, config.block_size, config.head_size, device=device, dtype=dtype)
            self.ids = torch.zeros(batch_size, config.block_size, device=device, dtype=torch.long)
        self.pos = 0  # how many positions are filled

    def append(self, layer: int, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Store this step's k, v (B, nh, T, hs) for `layer`; return all keys and values so far."""
        T = k.size(2)
        self.k[layer, :, :, self.pos : self.pos + T] = k
        self.v[layer, :, :, self.pos : self.pos + T] = v
        end = self.pos + T
        return self.k[layer, :, :, :end], self.v[layer, :, :, :end]

    def append_copy(self, k: torch.Tensor, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Store this step's pointer keys (B, T, hs) and ids (B, T); return all keys and ids so far."""
        end = self.pos + k.size(1)
        self.copy_k[:, self.pos : end] = k
        self.ids[:, self.pos : end] = idx
        return self.copy_k[:, :end], self.ids[:, :end]

    def advance(self, n: int) -> None:
        self.pos += n


class CausalSelfAttention(nn.Module):
    def __init__(self, config: GPTConfig):
        super().__init__()
        self.n_head = config.n_head
        self.n_embd = config.n_embd
        self.c_attn = nn.Linear(config.n_embd, 3 * config.n_embd)  # query, key, value for all heads at once
        self.c_proj = nn.Linear(config.n_embd, config.n_embd)  # mixes the heads' outputs back together
        self.attn_dropout = config.dropout
        self.resid_dropout = nn.Dropout(config.dropout)

    def forward(
        self, x: torch.Tensor, layer: int, cache: KVCache | None, attn: AttnMode
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        B, T, C = x.size()
        q, k, v = self.c_attn(x).split(self.n_embd, dim=2)
        q = q.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)  # (B, nh, T, hs)
        k = k.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)  # (B, nh, T, hs)
        v = v.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)  # (B, nh, T, hs)
        past = 0
        if cache is not None:
            past = cache.pos
            k, v = cache.append(layer, k, v)  # (B, nh, past+T, hs)
        L = k.size(2)

        weights = None
        if attn == "all":
            # inspection path: the full softmax(q·k/√d) map, then the weighted sum of values
            weights = _attention_weights(q, k, past)  # (B, nh, T, L)
            y = weights @ v
        else:
            dropout = self.attn_dropout if self.training else 0.0
            if past == 0:
                y = F.scaled_dot_product_attention(q, k, v, is_causal=True, dropout_p=dropout)
            elif T == 1:
                y = F.scaled_dot_product_attention(q, k, v, dropout_p=dropout)  # the newest token may see everything
            else:
                y = F.scaled_dot_product_attention(q, k, v, attn_mask=_causal_mask(T, L, past, q.device), dropout_p=dropout)
            if attn == "last":
                weights = _attention_weights(q[:, :, -1:], k, past + T - 1)  # (B, nh, 1, L)

        y = y.transpose(1, 2).contiguous().view(B, T, C)  # re-assemble all head outputs side by side
        return self.resid_dropout(self.c_proj(y)), weights


def _causal_mask(T: int, L: int, past: int, device: torch.device) -> torch.Tensor:
    """(T, L) booleans: query i (at position past+i) may look at keys 0 .. past+i."""
    rows = torch.arange(T, device=device).unsqueeze(1) + past
    cols = torch.arange(L, device=device).unsqueeze(0)
    return cols <= rows


def _attention_weights(q: torch.Tensor, k: torch.Tensor, past: int) -> torch.Tensor:
    """softmax(q·kᵀ/√d) with the causal mask; q is (B, nh, T, hs) for positions past .. past+T-1."""
    T, L = q.size(2), k.size(2)
    scores = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(k.size(-1)))  # (B, nh, T, L)
    scores = scores.masked_fill(~_causal_mask(T, L, past, q.device), float("-inf"))
    return F.softmax(scores.float(), dim=-1).to(q.dtype)


class MLP(nn.Module):
    def __init__(self, config: GPTConfig):
        super().__init__()
        self.c_fc = nn.Linear(config.n_embd, 4 * config.n_embd)
        self.gelu = nn.GELU(approximate="tanh")  # GPT-2's "gelu_new"
        self.c_proj = nn.Linear(4 * config.n_embd, config.n_embd)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.c_proj(self.gelu(self.c_fc(x))))


class Block(nn.Module):
    """One transformer block: tokens talk to each other (attention), then each thinks alone (MLP)."""

    def __init__(self, config: GPTConfig):
        super().__init__()
        self.ln_1 = nn.LayerNorm(config.n_embd)
        self.attn = CausalSelfAttention(config)
        self.ln_2 = nn.LayerNorm(config.n_embd)
        self.mlp = MLP(config)

    def forward(self, x: torch.Tensor, layer: int, cache: KVCache | None, attn: AttnMode):
        a, weights = self.attn(self.ln_1(x), layer, cache, attn)
        x = x + a
        x = x + self.mlp(self.ln_2(x))
        return x, weights


class CopyHead(nn.Module):
    """A pointer that can copy earlier tokens into the prediction, and a gate that decides how much.

    From the final hidden states h (after ln_f), for the prediction at position t:

        s[t, j]   = q(h_t) · k(h_j) / √head_size + match · [x_j = x_t]      for j < t
        a[t, j]   = softmax_j s[t, j]                                       one attention head
        p_copy(v) = Σ_j a[t, j] · [x_{j+1} = v]     each position votes for the token that followed it
        g_t       = sigmoid(gate(h_t))               the vocabulary's share
        p(v)      = g_t · softmax(lm_head(h_t))(v) + (1 - g_t) · p_copy(v)

    Copying the successor of the attended position is an induction head: "the last time this came,
    what came next?". If the context says "Ottilie lives in the vineyard." and the answer so far is
    "Ottilie lives in the", the pointer finds the earlier "the" and copies " vineyard", a token the
    vocabulary side may never have learned to produce; a word of several tokens is copied one piece
    at a time, each piece pointing at its own earlier copy. `match` (a learned scalar) rewards the
    same id whatever its vector, so the pointer finds a rare token whose embedding training barely
    shaped, and it learns to copy in tens of steps instead of hundreds. Only j < t has a successor in
    the input, so at position 0 there is nothing to point at and g_0 = 1 (all to the vocabulary).

    The output is log p, computed in log space (log-sum-exp of the two weighted parts) and in float32,
    so a probability that underflows in one part does not become log 0.
    """

    def __init__(self, config: GPTConfig):
        super().__init__()
        self.head_size = config.head_size
        # one head of the blocks' head width: matching "the same token as mine" needs no more
        self.q = nn.Linear(config.n_embd, config.head_size, bias=False)
        self.k = nn.Linear(config.n_embd, config.head_size, bias=False)
        self.gate = nn.Linear(config.n_embd, 1)
        # a learned bonus to the score of every earlier position holding the very token at t: an induction
        # prior that works by id, so it finds a rare or never-trained token whose embedding says little.
        # e^4 ≈ 55: one such position outweighs about 55 others at the start.
        self.match = nn.Parameter(torch.tensor(4.0))

    def forward(
        self, h: torch.Tensor, logits: torch.Tensor, idx: torch.Tensor, cache: KVCache | None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """h (B, T, C), vocabulary logits (B, T, V), ids (B, T) -> (log p (B, T, V), a (B, T, L-1), g (B, T)).

        L is the number of positions seen so far (the cache's and these T); a's columns are the
        positions 0 .. L-2 that have a successor.
        """
        B, T, _ = h.size()
        past = cache.pos if cache is not None else 0
        q, k, ids = self.q(h), self.k(h), idx  # (B, T, hs), (B, T, hs), (B, T)
        if cache is not None:
            k, ids = cache.append_copy(k, idx)  # (B, L, hs), (B, L)
        L = k.size(1)
        if L == 1:  # the very first token: nothing earlier to point at, so p = p_vocab (g = 1)
            return F.log_softmax(logits.float(), dim=-1), torch.zeros(B, T, 0, device=h.device), torch.ones(B, T, device=h.device)
        # the newest position has no successor yet (nor any query that may use it): drop its key
        keys, successors = k[:, : L - 1], ids[:, 1:]  # (B, L-1, hs), (B, L-1)

        scores = (q @ keys.transpose(1, 2)).float() * (1.0 / math.sqrt(self.head_size))  # (B, T, L-1)
        same_token = idx[:, :, None] == ids[:, None, : L - 1]  # (B, T, L-1): the token at j is the one at t
        scores = scores + self.match * same_token
        allowed = _causal_mask(T, L - 1, past - 1, h.device)  # query at t may use keys j <= t-1
        has = allowed.any(-1)  # (T,): False only at position 0
        scores = scores.masked_fill(~allowed, float("-inf")).masked_fill(~has[:, None], 0.0)  # no all -inf rows (NaN)
        a = F.softmax(scores, dim=-1) * has[:, None]  # (B, T, L-1); a row of 0s where there is nothing to copy

        z = self.gate(h).squeeze(-1).float()  # (B, T)
        log_g = F.logsigmoid(z).masked_fill(~has, 0.0)  # log g: at position 0, g = 1
        log_1mg = F.logsigmoid(-z).masked_fill(~has, float("-inf"))  # log (1 - g)

        # p_copy is zero except at the L-1 successor ids, so the mixture is log(g·p_vocab) everywhere
        # else: work on those L-1 columns, not on all V (a dense (B, T, V) p_copy trained 2-4x slower)
        same_successor = successors[:, :, None] == successors[:, None, :]  # (B, L-1, L-1): j', j copy one token
        first = same_successor.byte().argmax(1)  # (B, L-1): the first j' that copies x_{j+1} (argmax: first max)
        # p_copy per token, kept at the token's first j (0 at the other j: each token is counted once)
        p_copy = torch.zeros_like(a).scatter_add(-1, first[:, None, :].expand(B, T, L - 1), a)  # (B, T, L-1)
        log_softmax = F.log_softmax(logits.float(), dim=-1)  # (B, T, V): log p_vocab
        log_vocab = log_softmax + log_g[..., None]  # (B, T, V): log(g·p_vocab)
        index = successors[:, None, :].expand(B, T, L - 1)
        at = log_softmax.gather(-1, index) + log_g[..., None]  # (B, T, L-1): log_vocab there (see below)
        nonzero = p_copy > 0  # log 0 = -inf, written so that no NaN reaches the gradient
        log_copy = torch.where(nonzero, torch.log(torch.where(nonzero, p_copy, 1.0)), float("-inf"))
        mixed = torch.logaddexp(at, log_1mg[..., None] + log_copy)  # log(g·p_vocab + (1-g)·p_copy), = at if no copy
        # mixed - at is 0 except at each token's first j, so every token is written once (a repeated index
        # would count its gradient twice). In place, as no backward keeps log_vocab: a (B, T, V) copy
        # costs as much as all the (B, T, L-1) work.
        log_p = log_vocab.scatter_add_(-1, index, mixed - at)
        return log_p, a, log_g.exp()


class GPT(nn.Module):
    def __init__(self, config: GPTConfig):
        super().__init__()
        self.config = config
        self.transformer = nn.ModuleDict(
            dict(
                wte=nn.Embedding(config.vocab_size, config.n_embd),  # token id -> vector
                wpe=nn.Embedding(config.block_size, config.n_embd),  # position -> vector
                drop=nn.Dropout(config.dropout),
                h=nn.ModuleList([Block(config) for _ in range(config.n_layer)]),
                ln_f=nn.LayerNorm(config.n_embd),
            )
        )
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        self.lm_head.weight = self.transformer.wte.weight  # tied: the same matrix reads and writes tokens

        self.apply(self._init_weights)
        # GPT-2: scale the projections that add into the residual stream by 1/√(2·n_layer)
        for name, p in self.named_parameters():
            if name.endswith("c_proj.weight"):
                nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * config.n_layer))
        if config.copy_head:
            # made after the backbone is initialised, so a seed gives the same backbone with or without it
            self.copy_head = CopyHead(config)
            self.copy_head.apply(self._init_weights)
            # g = sigmoid(log 9) = 0.9: at first the vocabulary dominates and pretraining goes as for a plain GPT
            nn.init.constant_(self.copy_head.gate.bias, math.log(9.0))

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)

    def num_params(self, non_embedding: bool = False) -> int:
        n = sum(p.numel() for p in self.parameters())
        if non_embedding:
            n -= self.transformer.wpe.weight.numel()
        return n

    def forward(
        self,
        idx: torch.Tensor,
        targets: torch.Tensor | None = None,
        cache: KVCache | None = None,
        attn: AttnMode = None,
    ) -> GPTOutput:
        """idx (B, T) token ids -> logits (B, T, vocab_size); with `cache`, idx continues what it holds.

        With a copy head the logits are log p of the mixture (see `CopyHead`): softmax gives p back.
        """
        B, T = idx.size()
        past = cache.pos if cache is not None else 0
        if past + T > self.config.block_size:
            raise ValueError(f"{past + T} tokens do not fit in block_size {self.config.block_size}")
        pos = torch.arange(past, past + T, dtype=torch.long, device=idx.device)  # (T,)
        x = self.transformer.drop(self.transformer.wte(idx) + self.transformer.wpe(pos))  # (B, T, n_embd)
        attentions = [] if attn else None
        for i, block in enumerate(self.transformer.h):
            x, weights = block(x, i, cache, attn)
            if attentions is not None:
                attentions.append(weights)
        x = self.transformer.ln_f(x)
        logits = self.lm_head(x)  # (B, T, vocab_size)
        copy_attention = copy_gate = None
        if self.config.copy_head:
            logits, a, g = self.copy_head(x, logits, idx, cache)  # log p (B, T, V), (B, T, L-1), (B, T)
            if attn:
                copy_attention = F.pad(a, (0, 1))  # (B, T, L): the newest position, never pointed at, gets 0
                copy_gate = g
                if attn == "last":
                    copy_attention, copy_gate = copy_attention[:, -1:], copy_gate[:, -1:]
        if cache is not None:
            cache.advance(T)
        loss = None
        if targets is not None:
            if (targets != -1).any():
                flat = logits.float().view(-1, logits.size(-1))
                if self.config.copy_head:  # the logits are already log p: the loss is the NLL of the mixture
                    loss = F.nll_loss(flat, targets.view(-1), ignore_index=-1)
                else:
                    loss = F.cross_entropy(flat, targets.view(-1), ignore_index=-1)
            else:  # nothing to learn in this batch: a zero loss, not the NaN that cross_entropy gives
                loss = logits.sum() * 0.0
        return GPTOutput(logits, loss, attentions, copy_attention, copy_gate)

    def new_cache(self, batch_size: int = 1) -> KVCache:
        p = self.transformer.wte.weight
        return KVCache(self.config, batch_size, device=p.device, dtype=p.dtype)


def with_copy_head(model: GPT) -> GPT:
    """A copy of `model` with a fresh copy head on top (its gate starts at g = 0.9, so the outputs
    barely move): how the pipeline turns a plain pretrained GPT into the instruct model's shape."""
    if model.config.copy_head:
        return model
    grown = GPT(replace(model.config, copy_head=True))
    missing, unexpected = grown.load_state_dict(model.state_dict(), strict=False)
    assert not unexpected and all(k.startswith("copy_head.") for k in missing), (missing, unexpected)
    return grown.to(model.transformer.wte.weight.device)

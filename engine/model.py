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

It does not tokenize, sample, train or save: see the modules named after those jobs.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
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

    def __post_init__(self) -> None:
        if self.n_embd % self.n_head:
            raise ValueError(f"n_embd ({self.n_embd}) must be a multiple of n_head ({self.n_head})")

    @property
    def head_size(self) -> int:
        return self.n_embd // self.n_head

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "GPTConfig":
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})


class GPTOutput(NamedTuple):
    logits: torch.Tensor  # (B, T, vocab_size)
    loss: torch.Tensor | None  # mean cross-entropy over targets that are not -1
    attentions: list[torch.Tensor] | None  # per layer: (B, n_head, T or 1, T_total)


class KVCache:
    """Each layer's keys and values so far, so a new token attends without recomputing the past.

    Tensors are allocated once for `block_size` positions: (n_layer, B, n_head, block_size, head_size).
    """

    def __init__(self, config: GPTConfig, batch_size: int = 1, device: torch.device | str = "cpu", dtype=torch.float32):
        shape = (config.n_layer, batch_size, config.n_head, config.block_size, config.head_size)
        self.k = torch.zeros(shape, device=device, dtype=dtype)
        self.v = torch.zeros(shape, device=device, dtype=dtype)
        self.pos = 0  # how many positions are filled

    def append(self, layer: int, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Store this step's k, v (B, nh, T, hs) for `layer`; return all keys and values so far."""
        T = k.size(2)
        self.k[layer, :, :, self.pos : self.pos + T] = k
        self.v[layer, :, :, self.pos : self.pos + T] = v
        end = self.pos + T
        return self.k[layer, :, :, :end], self.v[layer, :, :, :end]

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
        """idx (B, T) token ids -> logits (B, T, vocab_size); with `cache`, idx continues what it holds."""
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
        if cache is not None:
            cache.advance(T)
        x = self.transformer.ln_f(x)
        logits = self.lm_head(x)  # (B, T, vocab_size)
        loss = None
        if targets is not None:
            if (targets != -1).any():
                loss = F.cross_entropy(logits.float().view(-1, logits.size(-1)), targets.view(-1), ignore_index=-1)
            else:  # nothing to learn in this batch: a zero loss, not the NaN that cross_entropy gives
                loss = logits.sum() * 0.0
        return GPTOutput(logits, loss, attentions)

    def new_cache(self, batch_size: int = 1) -> KVCache:
        p = self.transformer.wte.weight
        return KVCache(self.config, batch_size, device=p.device, dtype=p.dtype)

"""`make bench`: generation speed on the shipped model, as ratios against peers run in the same process.

    KV cache         tokens/s with the cache, against recomputing the whole sequence every token
    attention        tokens/s with the per-token attention rows the app draws, against without them
    training         tokens/s of a training step in bfloat16 autocast, against float32

Timings are taken after a warm-up, as the median of several runs, on one thread for decoding (as the
chat app runs) and two for training. Results print as a table and are appended to nothing: copy
them, with this command, into docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import torch

from engine.checkpoint import load_model
from engine.generate import SamplingConfig, TokenEvent, generate
from engine.train import TrainConfig, autocast

ROOT = Path(__file__).resolve().parents[1]


def median_time(fn, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


@torch.inference_mode()
def uncached_decode(model, prompt: list[int], n: int) -> None:
    """The peer: greedy decoding that runs the whole sequence through the model for every token."""
    seq = list(prompt)
    for _ in range(n):
        logits = model(torch.tensor([seq])).logits[0, -1]
        seq.append(int(logits.argmax()))


def cached_decode(model, prompt: list[int], n: int, attention: bool) -> None:
    sampling = SamplingConfig(temperature=0, max_new_tokens=n, attention=attention)
    got = sum(isinstance(e, TokenEvent) for e in generate(model, prompt, sampling))
    assert got == n


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks")
    parser.add_argument("--model", type=Path, default=ROOT / "models" / "default")
    parser.add_argument("--tokens", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    lm = load_model(args.model)
    model, n = lm.model, args.tokens
    prompt = lm.tokenizer.encode("Amara lives in Brookfield. One morning, Amara went to the market and")
    rows = []

    torch.set_num_threads(1)
    t_cache = median_time(lambda: cached_decode(model, prompt, n, attention=False), args.repeats)
    t_nocache = median_time(lambda: uncached_decode(model, prompt, n), args.repeats)
    rows.append(("decode, KV cache vs recompute", n / t_cache, n / t_nocache))
    t_attn = median_time(lambda: cached_decode(model, prompt, n, attention=True), args.repeats)
    rows.append(("decode, with vs without attention rows", n / t_attn, n / t_cache))

    torch.set_num_threads(2)
    block_size, batch = lm.config.block_size, 16
    x = torch.randint(0, lm.config.vocab_size, (batch, block_size))

    def train_step(dtype: str) -> None:
        cfg = TrainConfig(dtype=dtype)
        with autocast(cfg, torch.device("cpu")):
            loss = model(x, x).loss
        loss.backward()
        model.zero_grad(set_to_none=True)

    model.train()
    t_bf16 = median_time(lambda: train_step("bfloat16"), args.repeats)
    t_fp32 = median_time(lambda: train_step("float32"), args.repeats)
    model.eval()
    rows.append(("train step, bfloat16 vs float32", batch * block_size / t_bf16, batch * block_size / t_fp32))

    print(f"model {args.model} ({lm.num_params / 1e6:.2f}M parameters), {n} new tokens, median of {args.repeats}")
    print(f"{'measure':<42} {'tok/s':>10} {'peer tok/s':>11} {'ratio':>7}")
    for name, ours, peer in rows:
        print(f"{name:<42} {ours:>10,.0f} {peer:>11,.0f} {ours / peer:>6.2f}x")


if __name__ == "__main__":
    main()

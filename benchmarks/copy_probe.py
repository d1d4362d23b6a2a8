"""Copy probe: does a copy head let a small GPT put words it never saw into its answers?

Two GPTs of the same size, one plain and one with `copy_head=True`, start from the same backbone
weights (same seed) and train for the same steps on the same batches of recall conversations:

    grounded   <|context|>Ottilie lives in Vennamor. Bram works as a kelvist.<|end|>
               <|user|>Where does Ottilie live?<|end|><|assistant|>Ottilie lives in Vennamor.<|end|>
    memory     <|user|>My name is Ottilie and I live in Vennamor.<|end|><|assistant|>Nice to meet you, Ottilie.<|end|>
               <|user|>Where do I live?<|end|><|assistant|>You live in Vennamor.<|end|>
    repeat     <|user|>Repeat: tesso varumi dalk<|end|><|assistant|>tesso varumi dalk<|end|>

The names and words are made up from syllables. Those in the test conversations never occur in
training (the tokenizer, trained on the built-in world's text, splits them into known pieces).
The score is the share of answers the model gets entirely right, predicting each token from the
true ones before it, which is what a greedy reply would give. It is printed for each model and as
a ratio against the plain peer, for test words (never seen) and, for reference, training words in
new combinations.

    python -m benchmarks.copy_probe --threads 1     # the probe: about 3 minutes on a busy 2-core machine
    python -m benchmarks.copy_probe --speed         # instead: forward+backward tok/s at 4 x 256, with and without

It is a probe, not a test: numbers vary with the seed and the machine. Copy them, with the command,
into docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from dataclasses import replace

import torch

from engine import world
from engine.chat_template import render_conversation
from engine.data import batch_generator, conversations_stream, get_batch
from engine.model import GPT, GPTConfig
from engine.tokenizer import Tokenizer, train_tokenizer
from engine.train import TrainConfig, autocast, learning_rate, make_optimizer

ONSETS = "b d f g k l m n p r s t v z br dr gr kl st tr sh th".split()
VOWELS = "a e i o u ai ou".split()
CODAS = ["", "", "", "n", "r", "l", "s", "k", "th"]

# (context fact, question, answer) about a person n and a made-up word w (W: capitalised)
FACTS = (
    ("{n} lives in {W}.", "Where does {n} live?", "{n} lives in {W}."),
    ("{n} works as a {w}.", "What does {n} do for a living?", "{n} works as a {w}."),
    ("{n} has a pet called {W}.", "What is the name of {n}'s pet?", "{n}'s pet is called {W}."),
    ("{n} likes to eat {w}.", "What does {n} like to eat?", "{n} likes to eat {w}."),
)


def made_up_words(rng: random.Random, n: int, avoid: set[str] = frozenset()) -> list[str]:
    """n distinct made-up words of 2-3 syllables, none in `avoid`: e.g. "varumi", "kelvist"."""
    words: list[str] = []
    seen = set(avoid)
    while len(words) < n:
        w = "".join(rng.choice(ONSETS) + rng.choice(VOWELS) for _ in range(rng.randint(2, 3))) + rng.choice(CODAS)
        if w not in seen:
            seen.add(w)
            words.append(w)
    return words


def conversation(rng: random.Random, names: list[str], words: list[str]) -> tuple[str, list[dict]]:
    """One recall conversation (kind, messages) whose answer must copy words from earlier in it."""
    kind = rng.choice(("grounded", "memory", "repeat"))
    if kind == "grounded":
        people = rng.sample(names, rng.randint(1, 3))
        facts = [(p, rng.choice(FACTS), rng.choice(words)) for p in people]
        context = " ".join(f.format(n=p, w=w, W=w.capitalize()) for p, (f, _, _), w in facts)
        p, (_, q, a), w = rng.choice(facts)
        return kind, [
            {"role": "context", "content": context},
            {"role": "user", "content": q.format(n=p)},
            {"role": "assistant", "content": a.format(n=p, w=w, W=w.capitalize())},
        ]
    if kind == "memory":
        name, place = rng.choice(names), rng.choice(words).capitalize()
        q, a = rng.choice((("What is my name?", f"Your name is {name}."), ("Where do I live?", f"You live in {place}.")))
        return kind, [
            {"role": "user", "content": f"My name is {name} and I live in {place}."},
            {"role": "assistant", "content": f"Nice to meet you, {name}."},
            {"role": "user", "content": q},
            {"role": "assistant", "content": a},
        ]
    text = " ".join(rng.sample(words, rng.randint(1, 3)))
    return kind, [{"role": "user", "content": f"Repeat: {text}"}, {"role": "assistant", "content": text}]


def last_answer_targets(tokenizer: Tokenizer, messages: list[dict]) -> tuple[list[int], list[int]]:
    """ids of the conversation and a 0/1 mask over them marking its last answer (and its <|end|>)."""
    r = render_conversation(tokenizer, messages)
    last = r.sections[-1]
    return r.ids, [1 if last.start < i < last.end else 0 for i in range(len(r.ids))]


@torch.no_grad()
def answer_accuracy(model: GPT, tokenizer: Tokenizer, convs: list[tuple[str, list[dict]]]) -> dict[str, float]:
    """Share of last answers predicted entirely right (teacher-forced argmax = a greedy reply), by kind."""
    model.eval()
    right: dict[str, list[bool]] = {}
    convs = [c for c in convs if len(render_conversation(tokenizer, c[1]).ids) <= model.config.block_size + 1]
    for start in range(0, len(convs), 64):
        chunk = convs[start : start + 64]
        rows = [last_answer_targets(tokenizer, m) for _, m in chunk]
        T = max(len(ids) for ids, _ in rows) - 1
        x = torch.zeros(len(rows), T, dtype=torch.long)
        y = torch.full((len(rows), T), -1)
        for b, (ids, mask) in enumerate(rows):  # right-padded: a causal model's earlier positions never see it
            x[b, : len(ids) - 1] = torch.tensor(ids[:-1])
            y[b, : len(ids) - 1] = torch.tensor([t if m else -1 for t, m in zip(ids[1:], mask[1:])])
        ok = ((model(x).logits.argmax(-1) == y) | (y == -1)).all(-1)
        for (kind, _), good in zip(chunk, ok.tolist()):
            right.setdefault(kind, []).append(good)
            right.setdefault("all", []).append(good)
    model.train()
    return {k: sum(v) / len(v) for k, v in right.items()}


def train_one(config: GPTConfig, stream, cfg: TrainConfig) -> tuple[GPT, float]:
    """Train a fresh GPT (seeded: both models start from the same backbone); return it and its tok/s."""
    torch.manual_seed(cfg.seed)
    model = GPT(config).train()
    optimizer = make_optimizer(model, cfg)
    device = torch.device("cpu")
    t0 = time.perf_counter()
    for step in range(cfg.max_steps):
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(step, cfg)
        x, y = get_batch(stream, config.block_size, cfg.batch_size, batch_generator(cfg.seed, step))
        with autocast(cfg, device):
            loss = model(x, y).loss
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        optimizer.step()
    seconds = time.perf_counter() - t0
    return model, cfg.max_steps * cfg.batch_size * config.block_size / seconds


def speed(vocab_size: int, repeats: int, dtype: str) -> None:
    """Forward+backward tok/s at n_layer=4, n_embd=256, block_size=256, batch 8, with and without the copy head."""
    cfg = TrainConfig(dtype=dtype)
    base = GPTConfig(block_size=256, vocab_size=vocab_size, n_layer=4, n_head=4, n_embd=256)
    models = {c: GPT(replace(base, copy_head=c)).train() for c in (False, True)}
    x = torch.randint(0, vocab_size, (8, 256))
    times: dict[bool, list[float]] = {False: [], True: []}
    for i in range(repeats + 1):
        for c, model in models.items():  # interleaved, so a busy neighbour slows both alike
            t0 = time.perf_counter()
            with autocast(cfg, torch.device("cpu")):
                loss = model(x, x).loss
            loss.backward()
            model.zero_grad(set_to_none=True)
            if i:  # the first round is warm-up
                times[c].append(time.perf_counter() - t0)
    tok = {c: x.numel() / statistics.median(t) for c, t in times.items()}
    print(f"forward+backward, 4 x 256, block_size 256, batch 8, {dtype}, {torch.get_num_threads()} threads, median of {repeats}:")
    print(f"  plain {tok[False]:,.0f} tok/s   copy head {tok[True]:,.0f} tok/s   ratio {tok[True] / tok[False]:.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.copy_probe")
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--n-layer", type=int, default=2)
    parser.add_argument("--n-head", type=int, default=4)
    parser.add_argument("--n-embd", type=int, default=128)
    parser.add_argument("--block-size", type=int, default=128)
    parser.add_argument("--vocab-size", type=int, default=1024, help="the BPE tokenizer's size")
    parser.add_argument("--dtype", default="float32", choices=("float32", "bfloat16"))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--speed", action="store_true", help="only time forward+backward at 4 x 256, with and without")
    parser.add_argument("--speed-repeats", type=int, default=7)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.speed:
        for dtype in ("float32", "bfloat16"):
            speed(2048, args.speed_repeats, dtype)  # the shipped tokenizer's size
        return

    # words: training words and test words never meet; names likewise
    rng = random.Random(args.seed)
    train_names = [w.capitalize() for w in made_up_words(rng, 400)]
    test_names = [w.capitalize() for w in made_up_words(rng, 100, avoid={n.lower() for n in train_names})]
    train_words = made_up_words(rng, 1500, avoid={n.lower() for n in train_names + test_names})
    test_words = made_up_words(rng, 300, avoid=set(train_words) | {n.lower() for n in train_names + test_names})

    t0 = time.perf_counter()
    docs = world.pretraining_documents(world.make_world(0), random.Random(1), 3000)
    tokenizer = train_tokenizer(docs, args.vocab_size)
    train_convs = [conversation(rng, train_names, train_words) for _ in range(20_000)]
    stream = conversations_stream(tokenizer, [m for _, m in train_convs])  # assistant tokens are the targets
    seen_convs = [conversation(rng, train_names, train_words) for _ in range(600)]  # known words, new combinations
    new_convs = [conversation(rng, test_names, test_words) for _ in range(600)]  # words never seen in training
    print(f"data: {len(stream):,} training tokens, tokenizer {tokenizer.vocab_size} ids ({time.perf_counter() - t0:.1f}s)")

    cfg = TrainConfig(max_steps=args.steps, batch_size=args.batch_size, lr=2e-3, min_lr=2e-4, warmup_steps=min(60, args.steps // 5),
                      seed=args.seed, dtype=args.dtype)
    base = GPTConfig(block_size=args.block_size, vocab_size=tokenizer.vocab_size, n_layer=args.n_layer, n_head=args.n_head,
                     n_embd=args.n_embd)
    results = {}
    for copy in (False, True):
        model, tok_s = train_one(replace(base, copy_head=copy), stream, cfg)
        results[copy] = (answer_accuracy(model, tokenizer, new_convs), answer_accuracy(model, tokenizer, seen_convs), tok_s)
        print(f"trained {'copy head' if copy else 'plain'}: {model.num_params() / 1e6:.2f}M parameters, {tok_s:,.0f} tok/s", flush=True)

    print(f"\n{args.n_layer} x {args.n_embd}, {args.steps} steps of {args.batch_size} x {args.block_size} tokens, {args.dtype}, seed {args.seed}")
    print("answers entirely right (teacher-forced argmax), 600 conversations each:")
    print(f"{'':<34}{'plain':>8}{'copy head':>11}{'ratio':>8}")
    for label, i in (("never-seen words", 0), ("seen words, new combos", 1)):
        for kind in ("all", "grounded", "memory", "repeat"):
            p, c = results[False][i][kind], results[True][i][kind]
            ratio = f"{c / p:.1f}x" if p > 0 else "-"
            print(f"{label + ', ' + kind:<34}{p:>8.1%}{c:>11.1%}{ratio:>8}")
    print(f"{'training tok/s':<34}{results[False][2]:>8,.0f}{results[True][2]:>11,.0f}{results[True][2] / results[False][2]:>7.2f}x")


if __name__ == "__main__":
    main()

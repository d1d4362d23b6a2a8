"""The model pipeline: from nothing to a base model, an instruct model and LoRA adapters.

    tokenizer  byte-level BPE trained on the world's stories and chat text     -> OUT/tokenizer.json
    pretrain   next-token prediction on stories (every token is a target)       -> OUT/base/
    sft        instruct tuning of a copy of the base on conversations; the loss
               counts only the assistant's tokens                               -> OUT/instruct/
    lora       small adapters on top of the instruct model (peft)               -> OUT/adapters/NAME/

Each stage can run alone (`dummies train pretrain`) and reads what the stage before it wrote. Each
resumes: training continues from its last checkpoint, and a tokenizer already written is reused
(`resume=False` starts the stage over).

A model family folder (OUT) therefore holds several models; `checkpoint.resolve_model_dir` picks
the instruct model from it unless asked for another. It does not evaluate (see `evaluate.py`).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from engine import skills, world
from engine.checkpoint import load_model
from engine.data import TokenStream, concat, conversations_stream, documents_stream, read_corpus
from engine.model import GPT, with_copy_head
from engine.recipe import Recipe
from engine.tokenizer import Tokenizer, train_tokenizer
from engine.train import train

STAGES = ("tokenizer", "pretrain", "sft", "lora")
TOKENIZER = "tokenizer.json"
BASE, INSTRUCT, ADAPTERS = "base", "instruct", "adapters"


@dataclass(frozen=True)
class StageStarted:
    stage: str
    detail: str = ""


@dataclass(frozen=True)
class StageDone:
    stage: str
    detail: str
    seconds: float


@dataclass(frozen=True)
class Adapter:
    """A LoRA adapter the pipeline trains: a name, what it does, and how its answers are made."""

    name: str
    description: str
    transform: Callable[[str], str]  # the instruct model's answer -> this adapter's answer


def _norlish(text: str) -> str:
    return world.to_norlish(text)


def _cheerful(text: str) -> str:
    return f"Oh, what a fun question! {text} Have a lovely day!"


ADAPTER_KINDS = {
    "norlish": Adapter("norlish", "answers in Norlish, the world's second language, word by word from its dictionary", _norlish),
    "cheerful": Adapter("cheerful", "answers in a bubbly, cheerful style", _cheerful),
}


def _documents(recipe: Recipe, corpus: Sequence[str | Path] | None) -> list[str]:
    if corpus:
        return read_corpus(corpus)
    return world.pretraining_documents(world.make_world(recipe.world_seed), random.Random(recipe.world_seed + 1), recipe.n_documents)


def _conversations(recipe: Recipe) -> list[list[dict]]:
    return skills.instruct_mix(world.make_world(recipe.world_seed), random.Random(recipe.world_seed + 2), recipe.n_conversations)


def _shuffled(items: list, seed: int) -> list:
    items = list(items)
    random.Random(seed).shuffle(items)
    return items


def _split_lists(items: list, val_fraction: float) -> tuple[list, list]:
    cut = max(1, int(len(items) * (1 - val_fraction)))
    return items[:cut], items[cut:] or items[-1:]


def stage_tokenizer(recipe: Recipe, out: Path, corpus=None, resume: bool = True) -> Iterator[object]:
    yield StageStarted("tokenizer", f"byte-level BPE, up to {recipe.vocab_size} tokens")
    t0 = time.perf_counter()
    if resume and (out / TOKENIZER).exists():
        tokenizer = Tokenizer.load(out / TOKENIZER)
        yield StageDone("tokenizer", f"reused {out / TOKENIZER}: {tokenizer.vocab_size} tokens", time.perf_counter() - t0)
        return
    texts = _documents(recipe, corpus)
    if not corpus:
        texts += [m["content"] for c in _conversations(recipe) for m in c]
    tokenizer = train_tokenizer(texts, recipe.vocab_size)
    tokenizer.save(out / TOKENIZER)
    yield StageDone("tokenizer", f"trained on {len(texts):,} texts: {tokenizer.vocab_size} tokens", time.perf_counter() - t0)


def _need(path: Path, what: str, stage: str) -> None:
    if not path.exists():
        raise ValueError(f"{path} is missing: run `dummies train {stage}` first (it makes the {what})")


def stage_pretrain(recipe: Recipe, out: Path, corpus=None, resume: bool = True) -> Iterator[object]:
    _need(out / TOKENIZER, "tokenizer", "tokenizer")
    tokenizer = Tokenizer.load(out / TOKENIZER)
    yield StageStarted("pretrain", "next-token prediction on " + ("your corpus" if corpus else f"{recipe.n_documents:,} stories about the world"))
    t0 = time.perf_counter()
    docs = _shuffled(_documents(recipe, corpus), recipe.pretrain.seed)
    train_docs, val_docs = _split_lists(docs, recipe.val_fraction)
    train_data, val_data = documents_stream(tokenizer, train_docs), documents_stream(tokenizer, val_docs)
    model = GPT(replace(recipe.gpt, vocab_size=tokenizer.vocab_size))
    meta = {"recipe": recipe.name, "stage": "pretrain", "data": "corpus" if corpus else f"world seed {recipe.world_seed}"}
    yield StageStarted("pretrain", f"{model.num_params() / 1e6:.2f}M parameters, {len(train_data):,} tokens, {recipe.pretrain.max_steps} steps")
    yield from train(model, tokenizer, train_data, val_data, recipe.pretrain, out / BASE, meta=meta, resume=resume)
    yield StageDone("pretrain", f"base model in {out / BASE}", time.perf_counter() - t0)


def instruct_streams(recipe: Recipe, tokenizer: Tokenizer, transform: Callable[[str], str] | None = None) -> tuple[TokenStream, TokenStream]:
    """Conversations (assistant-only targets, windows start at a conversation), with a share of stories
    mixed in so instruct tuning does not wash out the language pretraining taught."""
    convs = _conversations(recipe)
    if transform is not None:
        convs = [[{**m, "content": transform(m["content"])} if m["role"] == "assistant" else m for m in c] for c in convs]
    train_convs, val_convs = _split_lists(convs, recipe.val_fraction)
    docs = _documents(recipe, None)[: max(1, int(len(train_convs) * recipe.sft_story_share))]
    train_data = concat([conversations_stream(tokenizer, train_convs), documents_stream(tokenizer, docs)]) if docs else conversations_stream(tokenizer, train_convs)
    return train_data, conversations_stream(tokenizer, val_convs)


def stage_sft(recipe: Recipe, out: Path, corpus=None, resume: bool = True) -> Iterator[object]:
    _need(out / BASE / "config.json", "base model", "pretrain")
    base = load_model(out / BASE)
    head = ", with a copy head added" if recipe.copy_head else ""
    yield StageStarted("sft", f"instruct tuning on {recipe.n_conversations:,} conversations (loss on the assistant's tokens only){head}")
    t0 = time.perf_counter()
    train_data, val_data = instruct_streams(recipe, base.tokenizer)
    model = with_copy_head(base.model) if recipe.copy_head else base.model
    meta = {"recipe": recipe.name, "stage": "sft", "base": str(out / BASE)}
    yield from train(model.train(), base.tokenizer, train_data, val_data, recipe.sft, out / INSTRUCT, meta=meta, resume=resume)
    yield StageDone("sft", f"instruct model in {out / INSTRUCT}", time.perf_counter() - t0)


def stage_lora(recipe: Recipe, out: Path, corpus=None, resume: bool = True) -> Iterator[object]:
    from engine.lora import add_adapter, train_adapter, trainable_parameters

    _need(out / INSTRUCT / "config.json", "instruct model", "sft")
    for name in recipe.adapters:
        kind = ADAPTER_KINDS[name]
        instruct = load_model(out / INSTRUCT)
        peft_model = add_adapter(instruct.model, recipe.lora, name=name)
        trainable, total = trainable_parameters(peft_model)
        yield StageStarted("lora", f"{name}: {kind.description}; trains {trainable:,} of {total:,} parameters ({trainable / total:.1%})")
        t0 = time.perf_counter()
        train_data, val_data = instruct_streams(recipe, instruct.tokenizer, kind.transform)
        yield from train_adapter(
            peft_model, instruct.tokenizer, train_data, val_data, recipe.lora_train, out / ADAPTERS / name,
            name=name, description=kind.description, resume=resume,
        )
        yield StageDone("lora", f"adapter {name} in {out / ADAPTERS / name}", time.perf_counter() - t0)


RUNNERS = {"tokenizer": stage_tokenizer, "pretrain": stage_pretrain, "sft": stage_sft, "lora": stage_lora}


def run_pipeline(
    recipe: Recipe, out_dir: str | Path, stages: Sequence[str] = STAGES, corpus: Sequence[str | Path] | None = None, resume: bool = True
) -> Iterator[object]:
    """Run `stages` in order into the family folder `out_dir`, yielding stage and training events."""
    out = Path(out_dir)
    for stage in stages:
        if stage not in RUNNERS:
            raise ValueError(f"unknown stage {stage!r}; choose from {', '.join(STAGES)}")
        if corpus and stage in ("sft", "lora"):
            raise ValueError("a custom --corpus makes a base model only: instruct tuning needs the world's conversations")
        yield from RUNNERS[stage](recipe, out, corpus, resume)


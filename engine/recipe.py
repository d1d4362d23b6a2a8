"""Recipes: everything needed to make a model family from nothing, as data.

A recipe names the data (the built-in world), the tokenizer's size, the model's shape, and the
training settings of each stage of the pipeline (see `pipeline.py`): pretraining, instruct tuning
and the LoRA adapters. `tiny` runs in seconds, for tests and for trying the pipeline; `default`
makes the shipped model.

It does not run anything.
"""

from __future__ import annotations

from dataclasses import dataclass

from engine.lora import LoraSettings
from engine.model import GPTConfig
from engine.train import TrainConfig


@dataclass(frozen=True)
class Recipe:
    name: str
    vocab_size: int  # the tokenizer is trained up to this many ids
    gpt: GPTConfig  # its vocab_size is set from the trained tokenizer
    pretrain: TrainConfig
    sft: TrainConfig
    lora_train: TrainConfig
    n_documents: int  # stories and descriptions of the world, for pretraining
    n_conversations: int  # chat examples over all skills, for instruct tuning
    lora: LoraSettings = LoraSettings()
    adapters: tuple[str, ...] = ("norlish", "cheerful")  # keys of pipeline.ADAPTER_KINDS
    sft_story_share: float = 0.1  # stories mixed into instruct tuning, per conversation
    # instruct tuning adds a copy head (model.py): the pointer that copies a name from the context or
    # from earlier turns. The base stays a plain GPT-2-shaped model, the one the talk describes.
    copy_head: bool = True
    world_seed: int = 0
    val_fraction: float = 0.05


def _tiny_train(steps: int, lr: float = 3e-3) -> TrainConfig:
    return TrainConfig(max_steps=steps, batch_size=16, lr=lr, warmup_steps=10, eval_interval=max(1, steps // 2), eval_batches=2, log_interval=10)


RECIPES: dict[str, Recipe] = {
    "tiny": Recipe(
        name="tiny",
        vocab_size=512,
        gpt=GPTConfig(block_size=64, n_layer=2, n_head=2, n_embd=64),
        pretrain=_tiny_train(60),
        sft=_tiny_train(40),
        lora_train=_tiny_train(20),
        n_documents=400,
        n_conversations=400,
        lora=LoraSettings(r=4, alpha=8),
    ),
    # the shipped model's recipe: about 30 minutes on 2 idle CPU cores, in float32 (bfloat16 autocast
    # measured slower on this CPU, see docs/benchmarks.md)
    "default": Recipe(
        name="default",
        vocab_size=2048,
        gpt=GPTConfig(block_size=256, n_layer=4, n_head=4, n_embd=256),
        pretrain=TrainConfig(max_steps=600, batch_size=32, lr=2e-3, min_lr=2e-4, warmup_steps=60, eval_interval=100, threads=2),
        sft=TrainConfig(max_steps=400, batch_size=32, lr=1e-3, min_lr=1e-4, warmup_steps=30, eval_interval=100, threads=2),
        lora_train=TrainConfig(max_steps=100, batch_size=16, lr=2e-3, min_lr=2e-4, warmup_steps=10, eval_interval=50, threads=2),
        n_documents=20_000,
        n_conversations=30_000,
    ),
}

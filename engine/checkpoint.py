"""Saving and loading a model folder: weights, config and tokenizer, checked against each other.

A model folder holds
    model.safetensors   the weights (safetensors: plain tensors, nothing executable)
    config.json         the GPTConfig, the tokenizer's sha256, and notes on how it was made
    tokenizer.json      the BPE vocabulary and merges
Every file is written atomically. Loading never unpickles anything, and every way a folder can be
wrong (missing, corrupt, from another tokenizer, from another model shape) becomes a `ModelError`
whose message says what is wrong and what to do.

It does not train or generate; the training checkpoint (optimizer state) lives in `train.py`.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file

from engine.fileio import atomic_save_tensors, atomic_write_json
from engine.model import GPT, GPTConfig
from engine.tokenizer import Tokenizer, TokenizerError

FORMAT = "llms-from-dummies/gpt-v1"
WEIGHTS = "model.safetensors"
CONFIG = "config.json"
TOKENIZER = "tokenizer.json"
TIED = "lm_head.weight"  # the same tensor as transformer.wte.weight: stored once

RETRAIN_HINT = "Train one with `dummies train`, or pass --model DIR with a model folder."


class ModelError(Exception):
    """A model folder that cannot be used, with a message meant for the person who chose it."""


@dataclass
class LoadedModel:
    model: GPT
    tokenizer: Tokenizer
    path: Path
    meta: dict = field(default_factory=dict)  # everything in config.json besides the GPTConfig

    @property
    def config(self) -> GPTConfig:
        return self.model.config

    @property
    def num_params(self) -> int:
        return self.model.num_params()


def model_weights(model: GPT) -> dict[str, torch.Tensor]:
    """The state dict to save: the tied output matrix is left out (it is the embedding)."""
    return {k: v for k, v in model.state_dict().items() if k != TIED}


def save_model(path: str | os.PathLike, model: GPT, tokenizer: Tokenizer, meta: dict | None = None) -> Path:
    path = Path(path)
    if tokenizer.vocab_size > model.config.vocab_size:
        raise ValueError(f"tokenizer has {tokenizer.vocab_size} ids but the model only {model.config.vocab_size}")
    tokenizer.save(path / TOKENIZER)
    atomic_save_tensors(path / WEIGHTS, model_weights(model), metadata={"format": FORMAT})
    # config.json goes last: a folder whose config is present was completely written
    atomic_write_json(
        path / CONFIG,
        {"format": FORMAT, "gpt": model.config.to_dict(), "tokenizer_sha256": tokenizer.sha256, **(meta or {})},
    )
    return path


def resolve_model_dir(path: str | os.PathLike, variant: str = "instruct") -> Path:
    """The model folder to load: a model folder itself, or a member of a family folder made by the
    pipeline ('models/default' -> 'models/default/instruct'; variant="base" -> 'models/default/base')."""
    path = Path(path)
    if (path / variant / CONFIG).is_file():
        return path / variant
    if variant == "instruct" and not (path / CONFIG).is_file() and (path / "base" / CONFIG).is_file():
        return path / "base"  # a family with only a base model (pretrained on your own corpus)
    if (path / CONFIG).is_file() and variant != "instruct":
        raise ModelError(f"{path} holds a single model, with no {variant} model beside it")
    return path


def read_meta(path: str | os.PathLike) -> dict:
    path = Path(path)
    config_file = path / CONFIG
    if not path.is_dir():
        raise ModelError(f"There is no model folder at {path}. {RETRAIN_HINT}")
    if not config_file.is_file():
        raise ModelError(f"{path} has no {CONFIG}, so it is not a finished model folder. {RETRAIN_HINT}")
    try:
        meta = json.loads(config_file.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ModelError(f"{config_file} is corrupt ({e}). {RETRAIN_HINT}") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ModelError(f"{config_file} is not a config written by this project. {RETRAIN_HINT}")
    return meta


def load_model(path: str | os.PathLike, device: str | torch.device = "cpu") -> LoadedModel:
    """Load a model folder, or raise ModelError saying why it cannot be used."""
    path = Path(path)
    meta = read_meta(path)
    try:
        config = GPTConfig.from_dict(meta["gpt"])
    except (KeyError, TypeError, ValueError) as e:
        raise ModelError(f"{path / CONFIG} has no valid model settings ({e}). {RETRAIN_HINT}") from None

    try:
        tokenizer = Tokenizer.load(path / TOKENIZER)
    except TokenizerError as e:
        raise ModelError(f"{e}. {RETRAIN_HINT}") from None
    if tokenizer.sha256 != meta.get("tokenizer_sha256"):
        raise ModelError(
            f"The tokenizer in {path} is not the one this model was trained with "
            f"(its fingerprint {tokenizer.sha256[:12]} differs from the saved {str(meta.get('tokenizer_sha256'))[:12]}). "
            "Its token ids would mean different words to the model. Put back the original tokenizer.json, "
            "or retrain the model with this tokenizer."
        )

    try:
        weights = load_file(path / WEIGHTS, device=str(device))
    except FileNotFoundError:
        raise ModelError(f"{path} has no {WEIGHTS}. {RETRAIN_HINT}") from None
    except (SafetensorError, OSError, ValueError) as e:
        raise ModelError(f"{path / WEIGHTS} is corrupt ({e}). {RETRAIN_HINT}") from None

    model = GPT(config)
    expected = set(model_weights(model))
    missing, unexpected = expected - set(weights), set(weights) - expected
    if missing or unexpected:
        raise ModelError(
            f"{path / WEIGHTS} does not fit the model in its config "
            f"(missing {sorted(missing)[:3]}, unexpected {sorted(unexpected)[:3]}). {RETRAIN_HINT}"
        )
    try:
        model.load_state_dict(weights, strict=False)  # strict=False only for the tied lm_head.weight
    except RuntimeError as e:
        raise ModelError(f"{path / WEIGHTS} has tensors of the wrong shape for its config ({e}). {RETRAIN_HINT}") from None
    model.to(device).eval()
    extra = {k: v for k, v in meta.items() if k not in ("format", "gpt")}
    return LoadedModel(model, tokenizer, path, extra)

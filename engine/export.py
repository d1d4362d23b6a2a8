"""Export a model folder as a Hugging Face GPT-2 folder, so other tools can load and run it.

Our GPT already has GPT-2's layout and layer names (see `model.py`), so exporting is mostly copying
tensors under GPT-2's key names. The folder written holds

    config.json              a GPT-2 config (`GPT2Config`): sizes, "gelu_new", LayerNorm eps, dropout
    model.safetensors        the weights under GPT-2's names (`transformer.h.0.attn.c_attn.weight`, ...)
    generation_config.json   which tokens end a reply (the same ones our chat stops at)
    tokenizer.json           our byte-level BPE, unchanged
    tokenizer_config.json    which of its tokens are special, and the class that reads them

and then loads with `transformers.GPT2LMHeadModel.from_pretrained(dir)` and
`transformers.AutoTokenizer.from_pretrained(dir)`, giving the same logits as our model.

The one change to the tensors: GPT-2's `Conv1D` layers store their weight as (in, out), the
transpose of `nn.Linear`'s (out, in), so the four linear weights of each block are transposed.

A model with a copy head (`GPTConfig.copy_head`) exports its GPT-2 backbone only: GPT-2 has no
pointer, so `copy_head.*` stays behind and the exported model's logits are those of the vocabulary
distribution alone (p_vocab, before the gate mixes in copied tokens). Its replies can differ from
ours wherever the copy head would have copied. config.json says so in `copy_head_dropped` and
`copy_head_note`, which GPT-2 ignores.

It does not import transformers (it writes files only), does not convert models the other way, and
writes no chat template: `chat_template.py` stays the one place a conversation is laid out.
Every file is written atomically, with no pickle anywhere.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from engine.chat_template import stop_ids
from engine.checkpoint import LoadedModel, model_weights
from engine.fileio import atomic_save_tensors, atomic_write_json
from engine.tokenizer import ENDOFTEXT, SPECIAL_TOKENS

WEIGHTS = "model.safetensors"
CONFIG = "config.json"
GENERATION_CONFIG = "generation_config.json"
TOKENIZER = "tokenizer.json"
TOKENIZER_CONFIG = "tokenizer_config.json"

# nn.Linear weights that GPT-2 keeps in a Conv1D, i.e. transposed: (out, in) -> (in, out)
CONV1D = ("attn.c_attn.weight", "attn.c_proj.weight", "mlp.c_fc.weight", "mlp.c_proj.weight")
COPY_HEAD = "copy_head."  # the copy mechanism's weights: GPT-2 has no place for them


def hf_weights(weights: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Our state dict (without the tied lm_head) -> GPT-2's, transposing the Conv1D weights.

    {"transformer.h.0.attn.c_attn.weight": (3C, C)} -> {"transformer.h.0.attn.c_attn.weight": (C, 3C)}
    The names already match GPT-2's; the tied `lm_head.weight` stays out, as in GPT-2's own files,
    and so does a copy head (`copy_head.*`, see the module docstring).
    """
    out = {}
    for name, tensor in weights.items():
        if name.startswith(COPY_HEAD):
            continue
        if name.startswith("transformer.h.") and name.endswith(CONV1D):
            tensor = tensor.t()
        out[name] = tensor.detach().clone()  # own memory: safetensors refuses shared storage
    return out


def hf_config(lm: LoadedModel) -> dict:
    """GPT-2's config.json for our model (GPT2Config's field names; for a copy head, two that say it is left out)."""
    c = lm.config
    eot = lm.tokenizer.special_ids[ENDOFTEXT]
    config = {
        "model_type": "gpt2",
        "architectures": ["GPT2LMHeadModel"],
        "vocab_size": c.vocab_size,
        "n_positions": c.block_size,
        "n_ctx": c.block_size,  # older GPT-2 configs' name for the context length; harmless to newer ones
        "n_embd": c.n_embd,
        "n_layer": c.n_layer,
        "n_head": c.n_head,
        "n_inner": 4 * c.n_embd,  # MLP width, as in model.py
        "activation_function": "gelu_new",  # the tanh GELU of model.py
        "layer_norm_epsilon": 1e-5,  # nn.LayerNorm's default, which model.py uses
        "resid_pdrop": c.dropout,
        "embd_pdrop": c.dropout,
        "attn_pdrop": c.dropout,
        "initializer_range": 0.02,
        "scale_attn_weights": True,  # divide q·k by √head_size, as our attention does
        "scale_attn_by_inverse_layer_idx": False,
        "reorder_and_upcast_attn": False,
        "bos_token_id": eot,  # GPT-2's convention: one token both starts and ends a document
        "eos_token_id": eot,
        "tie_word_embeddings": True,
        "use_cache": True,
        "dtype": str(lm.model.transformer.wte.weight.dtype).removeprefix("torch."),
    }
    if c.copy_head:
        config["copy_head_dropped"] = True
        config["copy_head_note"] = (
            "The original model has a copy head (a pointer that copies tokens from the context, mixed in by a "
            "gate). GPT-2 cannot hold it, so this is the backbone only: its logits are the vocabulary "
            "distribution p_vocab, without copying."
        )
    return config


def hf_generation_config(lm: LoadedModel) -> dict:
    """generate() stops where our chat stops: at <|end|>, <|endoftext|>, or a new user or system turn."""
    eot = lm.tokenizer.special_ids[ENDOFTEXT]
    return {
        "bos_token_id": eot,
        "eos_token_id": sorted(stop_ids(lm.tokenizer)),
        "pad_token_id": eot,  # GPT-2 has no pad token; padding is masked out, so any id will do
    }


def hf_tokenizer_config(lm: LoadedModel) -> dict:
    """tokenizer_config.json: the class to load tokenizer.json with, and the names of its special tokens.

    bos, eos and unk are <|endoftext|>, as in GPT-2 and in config.json: it is the token that ends a
    text, which is what eos means to a base model, and `<|end|>` (the end of a chat turn) is only
    one of the reply's stop tokens (see generation_config.json). Byte-level BPE has no unknown
    tokens, but naming one keeps tools that expect it quiet.

    One difference from our Tokenizer: ours never reads a special token from text, while a Hugging
    Face tokenizer by default turns the text "<|end|>" into that token, so prompts can be written in
    the chat layout. Pass `split_special_tokens=True` to it to get our behaviour for untrusted text.
    """
    return {
        "tokenizer_class": "PreTrainedTokenizerFast",  # read tokenizer.json as is (GPT2Tokenizer wants vocab/merges files)
        "bos_token": ENDOFTEXT,
        "eos_token": ENDOFTEXT,
        "unk_token": ENDOFTEXT,
        "pad_token": ENDOFTEXT,
        "additional_special_tokens": [t for t in SPECIAL_TOKENS if t != ENDOFTEXT],
        "model_max_length": lm.config.block_size,
        "add_prefix_space": False,  # as our tokenizer: " cat" and "cat" are different tokens
        "clean_up_tokenization_spaces": False,  # decode gives back exactly the text
    }


def export_hf(lm: LoadedModel, out_dir: str | os.PathLike) -> Path:
    """Write `lm` to `out_dir` as a Hugging Face GPT-2 folder (see the module docstring); return the folder."""
    out_dir = Path(out_dir)
    if out_dir.resolve() == Path(lm.path).resolve():
        raise ValueError(f"export to a folder other than the model's own ({out_dir}): both have a config.json")
    atomic_write_json(out_dir / TOKENIZER_CONFIG, hf_tokenizer_config(lm))
    lm.tokenizer.save(out_dir / TOKENIZER)
    atomic_save_tensors(out_dir / WEIGHTS, hf_weights(model_weights(lm.model)), metadata={"format": "pt"})
    atomic_write_json(out_dir / GENERATION_CONFIG, hf_generation_config(lm))
    # config.json goes last: a folder whose config is present was completely written
    atomic_write_json(out_dir / CONFIG, hf_config(lm))
    return out_dir

"""LoRA adapters: teach a trained GPT a new habit by training two thin matrices per layer.

LoRA (low-rank adaptation) leaves every weight of the model frozen. Beside each targeted Linear
layer W (out, in) it trains two small matrices, A (r, in) and B (out, r), and the layer computes

    y = W x + (alpha / r) · B A x

B starts at zero, so a fresh adapter changes nothing; training moves only A and B, a few percent of
the parameters. The work is done by the `peft` library on our own `GPT` (no transformers model
class needed), and adapters are saved in peft's own format, so `PeftModel.from_pretrained(gpt, dir)`
loads them anywhere. An adapter folder holds

    adapter_model.safetensors   A and B for every targeted layer (peft's format)
    adapter_config.json         rank, alpha, target modules (peft's format)
    adapter.json                ours: the base model it belongs to (tokenizer, shape, weights
                                fingerprints), a description, the training step and loss history
    train_state.safetensors     when trained by `train_adapter`: optimizer state, for resuming

Each folder is written beside its target and renamed into place, so a crash leaves either the old
adapter or the new one, never half of one. Loading checks the fingerprints: an adapter trained on
another model is refused with a message, as is a corrupt folder (`AdapterError`). Nothing is
unpickled.

Generating with an adapter needs nothing special: peft swaps our GPT's Linear layers for LoRA
layers in place, so `AdaptedModel.use(name)` returns that same GPT class, which
`engine.generate.generate` takes as it is (KV cache, attention rows and all); `use(None)` returns the
untouched base model. `AdaptedModel.merged(name)` folds an adapter into a plain GPT, for speed.

Targets are matched by peft as name suffixes: a bare "c_proj" hits the attention's and the MLP's
projection both, so the defaults spell out "attn.c_proj" and "mlp.c_proj".

Importing this module is cheap: peft (which imports transformers: seconds) is imported inside the
functions that need it, so the app can list adapters at start-up and pay for peft only on use.

It does not decide what data an adapter learns from, and it never changes the `LoadedModel` it is
given: adapters are put on a copy.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import re
import shutil
import tempfile
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file
from safetensors.torch import save as safetensors_bytes

from engine.checkpoint import TIED, LoadedModel
from engine.data import TokenStream
from engine.model import GPT
from engine.tokenizer import Tokenizer
from engine.train import (
    STATE,
    EvalInfo,
    History,
    Resumed,
    Saved,
    StepInfo,
    TrainConfig,
    make_optimizer,
    optimizer_tensors,
    pick_device,
    restore_optimizer,
    training_loop,
)

if TYPE_CHECKING:
    from peft import LoraConfig, PeftModel

FORMAT = "llms-from-dummies/lora-v1"
META = "adapter.json"  # ours
PEFT_WEIGHTS = "adapter_model.safetensors"  # peft's
PEFT_CONFIG = "adapter_config.json"  # peft's
PICKLED_WEIGHTS = "adapter_model.bin"  # peft's old format: never loaded here

_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,63}")


class AdapterError(Exception):
    """An adapter that cannot be used, with a message meant for the person who chose it."""


@dataclass(frozen=True)
class LoraSettings:
    r: int = 8  # rank: each targeted W (out, in) learns B (out, r) @ A (r, in); r*(in+out) numbers
    alpha: float = 16  # the update B·A is scaled by alpha / r, so changing r keeps its size comparable
    dropout: float = 0.0  # share of the adapter's input zeroed during training
    # suffixes of module names: "attn.c_proj", not "c_proj", which would also hit "mlp.c_proj"
    target_modules: tuple[str, ...] = ("attn.c_attn", "attn.c_proj", "mlp.c_fc", "mlp.c_proj")

    def __post_init__(self) -> None:
        if self.r < 1:
            raise ValueError("r must be at least 1")
        if self.alpha <= 0:
            raise ValueError("alpha must be positive")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError("dropout must be in [0, 1)")
        if not self.target_modules:
            raise ValueError("target_modules must name at least one layer")

    def to_dict(self) -> dict:
        return {**asdict(self), "target_modules": list(self.target_modules)}

    def peft_config(self) -> LoraConfig:
        from peft import LoraConfig

        # no task_type: "CAUSAL_LM" expects a transformers model (prepare_inputs_for_generation)
        return LoraConfig(
            r=self.r, lora_alpha=self.alpha, lora_dropout=self.dropout, target_modules=list(self.target_modules)
        )


@dataclass(frozen=True)
class AdapterInfo:
    """What an adapter folder says about itself (read without loading any weights)."""

    path: Path
    description: str
    step: int  # training steps it has had
    base: dict  # the fingerprint of the model it was trained on (see `base_fingerprint`)
    meta: dict = field(default_factory=dict)  # the whole adapter.json


# ----- building and counting


def add_adapter(model: GPT, settings: LoraSettings = LoraSettings(), name: str = "default") -> PeftModel:
    """Wrap `model` in a PeftModel with one fresh adapter called `name`; only the adapter trains.

    peft puts LoRA layers into `model` in place (its Linear layers become LoRA layers), so pass a
    copy to keep the original. A's start is random (torch's global generator), B's is zero.
    """
    from peft import get_peft_model

    _check_name(name)
    return get_peft_model(model, settings.peft_config(), adapter_name=name)


def adapted_layers(peft_model: PeftModel) -> list[str]:
    """Names (as in the GPT) of the layers that carry LoRA: ["transformer.h.0.attn.c_attn", ...]."""
    from peft.tuners.lora import LoraLayer

    return [n for n, m in peft_model.get_base_model().named_modules() if isinstance(m, LoraLayer)]


def trainable_parameters(model: torch.nn.Module) -> tuple[int, int]:
    """(trainable, total) parameter counts; a tied matrix counts once.

    The shipped GPT (4 layers x 256, vocab 2048) with r=8 on every block's four Linears:
    (131072, 3880448), 3.4%.
    """
    seen: dict[int, torch.nn.Parameter] = {id(p): p for p in model.parameters()}
    total = sum(p.numel() for p in seen.values())
    trainable = sum(p.numel() for p in seen.values() if p.requires_grad)
    return trainable, total


def base_fingerprint(model: torch.nn.Module, tokenizer: Tokenizer) -> dict:
    """Who the base model is: its shape, its tokenizer, and a sha256 of its weights.

    `model` is a GPT or a PeftModel around one; the LoRA matrices are left out, so the fingerprint is
    the same before and after adapters are added (but not after they are merged into the weights).
    """
    gpt = _gpt(model)
    h = hashlib.sha256()
    for key, value in sorted(_base_weights(gpt).items()):
        t = value.detach().cpu().contiguous().reshape(-1)
        h.update(f"{key}:{t.dtype}:{tuple(value.shape)};".encode())
        h.update(t.view(torch.uint8).numpy().data)
    return {"gpt": gpt.config.to_dict(), "tokenizer_sha256": tokenizer.sha256, "weights_sha256": h.hexdigest()}


def _gpt(model: torch.nn.Module) -> GPT:
    return model if isinstance(model, GPT) else model.get_base_model()


def _base_weights(gpt: GPT) -> dict[str, torch.Tensor]:
    """The GPT's own weights, named as in a model folder, whether or not LoRA layers wrap them."""
    out = {}
    for key, value in gpt.state_dict().items():
        if ".lora_" in key:
            continue
        key = key.replace(".base_layer.", ".")
        if key != TIED:
            out[key] = value
    return out


def _check_name(name: str) -> None:
    # peft uses the name as a module key and as a folder name, so keep it plain; and it finds an
    # adapter's tensors by name, so a name inside "lora_" ("a", "lora") could load the wrong ones
    if not _NAME.fullmatch(name):
        raise ValueError(f"an adapter name must be a letter then letters, digits, '-' or '_' (got {name!r})")
    if name in "lora_":
        raise ValueError(f"an adapter name must not be part of 'lora_' (got {name!r}): peft would confuse it")


# ----- saving: peft's two files plus ours, as one folder swapped into place


def save_adapter(
    peft_model: PeftModel,
    path: str | os.PathLike,
    name: str,
    tokenizer: Tokenizer,
    description: str = "",
    meta: dict | None = None,
) -> Path:
    """Save adapter `name` of `peft_model` to the folder `path` (replacing any adapter there)."""
    fingerprint = base_fingerprint(peft_model, tokenizer)
    return _save(Path(path), peft_model, name, fingerprint, description, meta or {}, {})


def _save(
    path: Path,
    peft_model: PeftModel,
    name: str,
    fingerprint: dict,
    description: str,
    meta: dict,
    extra_files: dict[str, bytes],
) -> Path:
    if name not in peft_model.peft_config:
        raise ValueError(f"the model has no adapter named {name!r} (it has {sorted(peft_model.peft_config)})")
    info = {
        "step": 0,
        **meta,  # e.g. step, history, train settings; it cannot override what follows
        "format": FORMAT,
        "description": description,
        "base": fingerprint,
        "lora": _lora_settings(peft_model, name),
        "adapted_layers": adapted_layers(peft_model),
        "trainable_parameters": _lora_parameter_count(peft_model, name),
    }
    json.dumps(info)  # fail here, before anything is written, if meta is not JSON

    path.parent.mkdir(parents=True, exist_ok=True)
    _recover(path)
    stage = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.tmp-"))
    try:
        # peft writes a non-default adapter into a subfolder named after it
        peft_model.save_pretrained(str(stage / "peft"), selected_adapters=[name])
        written = stage / "peft" if name == "default" else stage / "peft" / name
        (written / META).write_text(json.dumps(info, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        for filename, data in extra_files.items():
            (written / filename).write_bytes(data)
        for f in written.iterdir():
            _fsync(f)
        _fsync(written)
        _swap_into_place(written, path)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    return path


def _lora_settings(peft_model: PeftModel, name: str) -> dict:
    config = peft_model.peft_config[name]
    targets = config.target_modules
    return {
        "r": config.r,
        "alpha": config.lora_alpha,
        "dropout": config.lora_dropout,
        "target_modules": targets if isinstance(targets, str) else sorted(targets),  # a str is a regex
    }


def _lora_parameter_count(peft_model: PeftModel, name: str) -> int:
    return sum(p.numel() for n, p in peft_model.named_parameters() if ".lora_" in n and f".{name}." in n)


def _swap_into_place(new: Path, target: Path) -> None:
    """Rename the finished folder `new` to `target`. An old `target` is first renamed aside, and put
    back if the second rename fails; a crash between the two renames is undone by `_recover`."""
    old = None
    if target.exists():
        old = target.parent / f".{target.name}.old-{uuid.uuid4().hex[:8]}"
        os.rename(target, old)
    try:
        os.rename(new, target)
    except BaseException:
        if old is not None:
            os.rename(old, target)
        raise
    _fsync(target.parent)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _recover(target: Path) -> None:
    """If a save died between its two renames, the previous adapter is back where it was."""
    if target.exists():
        return
    aside = sorted(target.parent.glob(f".{target.name}.old-*"), key=lambda p: p.stat().st_mtime)
    if aside:
        os.rename(aside[-1], target)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# ----- loading: check first, then let peft read its own files


def read_adapter(path: str | os.PathLike) -> AdapterInfo:
    """What an adapter folder says about itself, or an AdapterError saying why it is not usable."""
    path = Path(path)
    _recover(path)
    if not path.is_dir():
        raise AdapterError(f"There is no adapter folder at {path}.")
    if not (path / PEFT_WEIGHTS).is_file():
        if (path / PICKLED_WEIGHTS).is_file():
            raise AdapterError(
                f"{path} holds its weights as {PICKLED_WEIGHTS} (a pickle, which can run code when loaded); "
                f"only {PEFT_WEIGHTS} is accepted. Save the adapter again with safetensors."
            )
        raise AdapterError(f"{path} has no {PEFT_WEIGHTS}, so it is not a finished adapter folder.")
    for required in (PEFT_CONFIG, META):
        if not (path / required).is_file():
            raise AdapterError(f"{path} has no {required}, so it is not an adapter folder written by this project.")
    try:
        meta = json.loads((path / META).read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise AdapterError(f"{path / META} is corrupt ({e}).") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT or not isinstance(meta.get("base"), dict):
        raise AdapterError(f"{path / META} is not an adapter description written by this project.")
    step = meta.get("step", 0)
    return AdapterInfo(path, str(meta.get("description", "")), step if isinstance(step, int) else 0, meta["base"], meta)


def check_base(info: AdapterInfo, fingerprint: dict) -> None:
    """Raise AdapterError unless the adapter was trained on the model with this fingerprint."""
    base = info.base
    if base.get("tokenizer_sha256") != fingerprint["tokenizer_sha256"]:
        raise AdapterError(
            f"The adapter in {info.path} was trained for a model with another tokenizer: its token ids would "
            "mean different words. Use it with the model it was trained on, or train a new adapter on this one."
        )
    if base.get("gpt") != fingerprint["gpt"]:
        raise AdapterError(
            f"The adapter in {info.path} was trained for a model of another shape ({_shape(base.get('gpt'))}; "
            f"this one is {_shape(fingerprint['gpt'])}). Train a new adapter on this model."
        )
    if base.get("weights_sha256") != fingerprint["weights_sha256"]:
        raise AdapterError(
            f"The adapter in {info.path} was trained on other weights of a model of this shape (perhaps this model "
            "was trained further since). Its changes are relative to those weights, so it is refused; train a new "
            "adapter on this model."
        )


def _shape(gpt: object) -> str:
    if not isinstance(gpt, dict):
        return "unknown"
    return ", ".join(f"{k}={gpt.get(k)}" for k in ("n_layer", "n_head", "n_embd", "vocab_size", "block_size"))


@dataclass
class AdaptedModel:
    """A model and its adapters, one of which (or none) is in use.

    `base` is left exactly as it was: the plain model. `peft_model` wraps a copy of it that holds
    every adapter; `use(name)` activates one. Only one adapter is active at a time, and switching
    changes what the copy computes, so switch between replies, not during one.
    """

    base: LoadedModel
    peft_model: PeftModel
    adapters: dict[str, AdapterInfo]
    active: str | None = None

    @property
    def names(self) -> list[str]:
        return list(self.adapters)

    def use(self, name: str | None) -> GPT:
        """Activate adapter `name` (None: no adapter) and return the GPT to generate with.

        With an adapter, that is the copy whose Linear layers are LoRA layers, which
        `engine.generate.generate` takes like any GPT; with None, the base model itself.
        """
        if name is None:
            self.active = None
            return self.base.model
        if name not in self.adapters:
            raise KeyError(f"no adapter named {name!r} is loaded (loaded: {', '.join(self.adapters) or 'none'})")
        self.peft_model.set_adapter(name, inference_mode=True)  # inference_mode: keep it frozen
        self.active = name
        return self.peft_model.get_base_model()

    def merged(self, name: str) -> GPT:
        """A plain GPT with adapter `name` folded into its weights (W + (alpha / r)·B·A): the same outputs,
        decoding about 25% faster than the LoRA layers (shipped size, one thread), one more model in memory."""
        if name not in self.adapters:
            raise KeyError(f"no adapter named {name!r} is loaded (loaded: {', '.join(self.adapters) or 'none'})")
        peft_model = copy.deepcopy(self.peft_model)
        peft_model.set_adapter(name, inference_mode=True)
        return peft_model.merge_and_unload().eval()

    def loaded_model(self, name: str | None) -> LoadedModel:
        """`use(name)` as a LoadedModel, for code that takes one (e.g. `engine.chat.stream_reply`)."""
        model = self.use(name)
        if name is None:
            return self.base
        info = self.adapters[name]
        return LoadedModel(model, self.base.tokenizer, info.path, {**self.base.meta, "adapter": info.meta})


def load_adapters(lm: LoadedModel, dirs: Mapping[str, str | os.PathLike]) -> AdaptedModel:
    """Load the adapter folders `dirs` ({name: folder}) onto a copy of `lm.model`.

    Every folder is checked before any weights are read: that it is complete, that it was trained on
    this very model (tokenizer, shape and weights), and then that its weights fit. Any failure is an
    AdapterError naming the folder. The returned model starts with no adapter in use.
    """
    from peft import LoraConfig, get_peft_model

    if not dirs:
        raise ValueError("no adapters to load")
    fingerprint = base_fingerprint(lm.model, lm.tokenizer)
    infos: dict[str, AdapterInfo] = {}
    for name, folder in dirs.items():
        _check_name(name)
        info = read_adapter(folder)
        check_base(info, fingerprint)
        infos[name] = info

    peft_model = None
    with torch.random.fork_rng(devices=[]):  # peft draws a start for A that loading overwrites
        for name, info in infos.items():
            try:
                config = LoraConfig.from_pretrained(str(info.path))
                if peft_model is None:
                    peft_model = get_peft_model(copy.deepcopy(lm.model), config, adapter_name=name)
                else:
                    peft_model.add_adapter(name, config)
                result = peft_model.load_adapter(str(info.path), adapter_name=name)
            except (SafetensorError, OSError, ValueError, TypeError, KeyError, RuntimeError) as e:
                raise AdapterError(
                    f"The adapter in {info.path} is corrupt or does not fit this model ({_first_line(e)})."
                ) from None
            if result.missing_keys or result.unexpected_keys:
                raise AdapterError(
                    f"The adapter in {info.path} does not fit this model (missing {sorted(result.missing_keys)[:2]}, "
                    f"unexpected {sorted(result.unexpected_keys)[:2]})."
                )
    for p in peft_model.parameters():
        p.requires_grad_(False)
    peft_model.eval()
    return AdaptedModel(lm, peft_model, infos)


def _first_line(e: Exception) -> str:
    text = str(e).strip().splitlines()
    return f"{type(e).__name__}: {text[0] if text else ''}"[:300]


# ----- training an adapter: train.py's loop, saving only the adapter


def train_adapter(
    peft_model: PeftModel,
    tokenizer: Tokenizer,
    train_data: TokenStream,
    val_data: TokenStream,
    cfg: TrainConfig,
    out_dir: str | os.PathLike,
    name: str = "default",
    description: str = "",
    resume: bool = True,
) -> Iterator[StepInfo | EvalInfo | Saved | Resumed]:
    """Train adapter `name` of `peft_model` and save it to `out_dir`, yielding what `train` yields.

    The loop is `engine.train.train`'s (same learning rate schedule, batches, evaluation and
    events), but only the adapter's parameters move and each checkpoint is one adapter folder that
    also holds the optimizer state. With resume=True and such a folder from the same settings (same
    base model, LoRA settings and TrainConfig), training continues from its step and ends where an
    uninterrupted run would.
    """
    out_dir = Path(out_dir)
    device = pick_device(cfg.device)
    if cfg.threads and device.type == "cpu":
        torch.set_num_threads(cfg.threads)
    peft_model.set_adapter(name)  # active, and the only adapter with requires_grad
    gpt = peft_model.get_base_model()  # our GPT, its Linear layers now LoRA layers
    gpt.to(device).train()
    optimizer = make_optimizer(gpt, cfg)
    base = base_fingerprint(gpt, tokenizer)
    fingerprint = {"base": base, "lora": _lora_settings(peft_model, name), "train": cfg.to_dict()}

    step, history = 0, History()
    if resume and (out_dir / STATE).exists():
        step, history = _load_state(out_dir / STATE, gpt, optimizer, fingerprint)
        yield Resumed(step)

    def checkpoint(step: int, history: History) -> Saved:
        state = _state_bytes(gpt, optimizer, step, history, fingerprint)
        meta = {"step": step, "history": asdict(history), "train": cfg.to_dict()}
        _save(out_dir, peft_model, name, base, description, meta, {STATE: state})
        return Saved(step, out_dir)

    # the loop is train.py's; gradients reach only the adapter's A and B
    step = yield from training_loop(gpt, optimizer, train_data, val_data, cfg, device, step, history, checkpoint)
    gpt.eval()
    if step == 0 or not (out_dir / META).exists():
        yield checkpoint(step, history)


def _state_bytes(gpt: GPT, optimizer: torch.optim.Optimizer, step: int, history: History, fingerprint: dict) -> bytes:
    """The adapter's parameters and optimizer moments as one safetensors file (progress in its metadata)."""
    tensors = {f"lora.{n}": p.detach().cpu().contiguous() for n, p in gpt.named_parameters() if p.requires_grad}
    opt_tensors, param_groups = optimizer_tensors(optimizer)
    tensors.update(opt_tensors)
    info = {"step": step, "history": asdict(history), "param_groups": param_groups, **fingerprint}
    return safetensors_bytes(tensors, metadata={"train_state": json.dumps(info)})


def _load_state(
    path: Path, gpt: GPT, optimizer: torch.optim.Optimizer, fingerprint: dict
) -> tuple[int, History]:
    """Restore the adapter and optimizer from `path` if it was saved by a run with `fingerprint`."""
    try:
        with safe_open(str(path), framework="pt") as f:
            info = json.loads(f.metadata()["train_state"])
        tensors = load_file(path)
    except (SafetensorError, OSError, KeyError, TypeError, json.JSONDecodeError) as e:
        raise ValueError(f"the adapter training state {path} is unreadable ({e}); start over with --fresh") from None
    trainable = {n: p for n, p in gpt.named_parameters() if p.requires_grad}
    saved = {k[5:]: v for k, v in tensors.items() if k.startswith("lora.")}
    if {k: info.get(k) for k in fingerprint} != fingerprint or set(saved) != set(trainable):
        raise ValueError(
            f"{path.parent} holds an adapter run with other settings; resume it with those, or start over with --fresh"
        )
    with torch.no_grad():
        for n, p in trainable.items():
            p.copy_(saved[n])
    restore_optimizer(optimizer, tensors, info["param_groups"])
    return info["step"], History(**info["history"])

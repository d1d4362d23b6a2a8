"""Training: show the model a window of text, score its next-token guesses, nudge the weights, repeat.

`train` is a generator that yields progress as plain data (`StepInfo` every few steps, `EvalInfo`
at each evaluation, `Saved` at each checkpoint), so a command line or an app can draw it. It reads
top to bottom like the loop it is:

    learning rate  -> warmup, then a cosine decay down to min_lr
    evaluate       -> mean loss on held-out data; keep the best
    checkpoint     -> model folder + training state, each written atomically
    forward        -> logits and loss on a batch
    backward       -> gradients
    clip           -> gradient norm capped at grad_clip
    step           -> AdamW update

The training state (`train_state.safetensors`) holds weights, optimizer moments and, in its
metadata, the step and history, all in one file, so it is always consistent. If a run is killed,
running it again with the same settings resumes from the last checkpoint, and since each step's
batch depends only on (seed, step), the result is the one an uninterrupted run gives.

It does not build data or tokenizers (see `data.py`, `tokenizer.py`).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Generator, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file

from engine.checkpoint import model_weights, save_model
from engine.data import TokenStream, batch_generator, get_batch
from engine.fileio import atomic_save_tensors
from engine.model import GPT
from engine.tokenizer import Tokenizer

STATE = "train_state.safetensors"


@dataclass(frozen=True)
class TrainConfig:
    max_steps: int = 2000
    batch_size: int = 32
    lr: float = 2e-3  # peak learning rate, reached after warmup
    min_lr: float = 2e-4  # where the cosine decay ends
    warmup_steps: int = 100
    weight_decay: float = 0.1  # applied to matrices only, not to biases or LayerNorm
    beta1: float = 0.9
    beta2: float = 0.95
    grad_clip: float = 1.0  # cap on the gradient norm (0 = off)
    eval_interval: int = 200  # steps between evaluations (and checkpoints)
    eval_batches: int = 16
    log_interval: int = 10
    seed: int = 0
    device: str = "auto"  # "auto" = CUDA when present, else CPU
    dtype: str = "float32"  # "bfloat16" = autocast; on this project's 2-core CPU it measured slower (make bench)
    threads: int = 0  # torch threads on CPU (0 = leave torch's default)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class StepInfo:
    step: int  # steps done so far
    max_steps: int
    loss: float
    lr: float
    tokens_per_s: float
    eta_s: float


@dataclass(frozen=True)
class EvalInfo:
    step: int
    train_loss: float
    val_loss: float


@dataclass(frozen=True)
class Saved:
    step: int
    path: Path


@dataclass(frozen=True)
class Resumed:
    step: int


@dataclass
class History:
    """Loss curves, saved with the model so they can be drawn."""

    steps: list[int] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)
    eval_steps: list[int] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)


def learning_rate(step: int, cfg: TrainConfig) -> float:
    """Linear warmup to cfg.lr, then cosine decay to cfg.min_lr at max_steps."""
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    progress = min(1.0, (step - cfg.warmup_steps) / max(1, cfg.max_steps - cfg.warmup_steps))
    return cfg.min_lr + 0.5 * (1.0 + math.cos(math.pi * progress)) * (cfg.lr - cfg.min_lr)


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def make_optimizer(model: torch.nn.Module, cfg: TrainConfig) -> torch.optim.AdamW:
    decay = [p for p in model.parameters() if p.requires_grad and p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.requires_grad and p.dim() < 2]
    groups = [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=cfg.lr, betas=(cfg.beta1, cfg.beta2))


@torch.no_grad()
def evaluate(model: GPT, stream: TokenStream, cfg: TrainConfig, device: torch.device) -> float:
    """Mean loss over a fixed set of batches (the same ones every time, so numbers compare)."""
    model.eval()
    losses = []
    for i in range(cfg.eval_batches):
        x, y = get_batch(stream, model.config.block_size, cfg.batch_size, batch_generator(cfg.seed + 7919, i))
        with autocast(cfg, device):
            losses.append(model(x.to(device), y.to(device)).loss.item())
    model.train()
    return sum(losses) / len(losses)


def autocast(cfg: TrainConfig, device: torch.device):
    dtype = {"float32": None, "bfloat16": torch.bfloat16}[cfg.dtype]
    return torch.autocast(device.type, dtype=dtype, enabled=dtype is not None)


# ----- the training state: one safetensors file, weights + optimizer + progress


def optimizer_tensors(optimizer: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], list[dict]]:
    """AdamW's moments as flat tensors {"opt.{param}.{name}": tensor}, and its param groups (JSON-able)."""
    opt = optimizer.state_dict()
    tensors = {}
    for pid, state in opt["state"].items():
        for name, value in state.items():
            value = value if torch.is_tensor(value) else torch.tensor(value)
            tensors[f"opt.{pid}.{name}"] = value.detach().cpu().contiguous()
    return tensors, opt["param_groups"]


def restore_optimizer(optimizer: torch.optim.Optimizer, tensors: dict[str, torch.Tensor], param_groups: list[dict]) -> None:
    """The inverse of `optimizer_tensors`."""
    state: dict[int, dict] = {}
    for k, v in tensors.items():
        if k.startswith("opt."):
            _, pid, name = k.split(".", 2)
            state.setdefault(int(pid), {})[name] = v
    optimizer.load_state_dict({"state": state, "param_groups": param_groups})


def save_state(path: Path, model: GPT, optimizer: torch.optim.Optimizer, step: int, history: History, meta: dict) -> None:
    opt_tensors, param_groups = optimizer_tensors(optimizer)
    tensors = {**{f"model.{k}": v for k, v in model_weights(model).items()}, **opt_tensors}
    info = {"step": step, "history": asdict(history), "param_groups": param_groups, **meta}
    atomic_save_tensors(path, tensors, metadata={"train_state": json.dumps(info)})


def load_state(path: Path, model: GPT, optimizer: torch.optim.Optimizer) -> tuple[int, History, dict]:
    """Restore model and optimizer from `path`; return (step, history, metadata)."""
    try:
        with safe_open(str(path), framework="pt") as f:
            info = json.loads(f.metadata()["train_state"])
        tensors = load_file(path)
    except (SafetensorError, OSError, KeyError, json.JSONDecodeError) as e:
        raise ValueError(f"the training state {path} is unreadable ({e}); start over with --fresh") from None
    model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")}, strict=False)
    restore_optimizer(optimizer, tensors, info["param_groups"])
    return info["step"], History(**info["history"]), info


def train(
    model: GPT,
    tokenizer: Tokenizer,
    train_data: TokenStream,
    val_data: TokenStream,
    cfg: TrainConfig,
    out_dir: str | Path,
    meta: dict | None = None,
    resume: bool = True,
) -> Iterator[StepInfo | EvalInfo | Saved | Resumed]:
    """Train `model` and save it to `out_dir` (a model folder plus its training state).

    With resume=True and a training state in out_dir from the same settings, training continues from
    the step it saved. `meta` is stored in the model's config.json (e.g. what data it saw).
    """
    out_dir = Path(out_dir)
    device = pick_device(cfg.device)
    if cfg.threads and device.type == "cpu":
        torch.set_num_threads(cfg.threads)
    model.to(device).train()
    optimizer = make_optimizer(model, cfg)
    fingerprint = {"gpt": model.config.to_dict(), "train": cfg.to_dict(), "tokenizer_sha256": tokenizer.sha256}

    step, history = 0, History()
    state_path = out_dir / STATE
    if resume and state_path.exists():
        step, history, info = load_state(state_path, model, optimizer)
        if {k: info.get(k) for k in fingerprint} != fingerprint:
            raise ValueError(
                f"{out_dir} holds a run with other settings; resume it with those, or start over with --fresh"
            )
        yield Resumed(step)

    def checkpoint(step: int, history: History) -> Saved:
        save_model(out_dir, model, tokenizer, {**(meta or {}), "train": cfg.to_dict(), "step": step, "history": asdict(history)})
        save_state(state_path, model, optimizer, step, history, fingerprint)
        return Saved(step, out_dir)

    step = yield from training_loop(model, optimizer, train_data, val_data, cfg, device, step, history, checkpoint)
    model.eval()
    if step == 0 or not (out_dir / "config.json").exists():
        yield checkpoint(step, history)


def training_loop(
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    train_data: TokenStream,
    val_data: TokenStream,
    cfg: TrainConfig,
    device: torch.device,
    step: int,
    history: History,
    checkpoint: Callable[[int, History], Saved],
) -> Generator[StepInfo | EvalInfo | Saved, None, int]:
    """The loop itself, from `step` to cfg.max_steps; returns the last step. Shared by `train` and
    `lora.train_adapter`, which differ only in what they save (`checkpoint`) and which parameters
    the optimizer moves."""
    block_size = model.config.block_size
    tokens_per_step = cfg.batch_size * block_size
    trainable = [p for p in model.parameters() if p.requires_grad]
    window_start, window_steps = time.perf_counter(), 0
    while step < cfg.max_steps:
        # learning rate for this step
        lr = learning_rate(step, cfg)
        for group in optimizer.param_groups:
            group["lr"] = lr

        # forward, backward, clip, step
        x, y = get_batch(train_data, block_size, cfg.batch_size, batch_generator(cfg.seed, step))
        with autocast(cfg, device):
            loss = model(x.to(device), y.to(device)).loss
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if cfg.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(trainable, cfg.grad_clip)
        optimizer.step()
        step += 1
        window_steps += 1

        # log
        if step % cfg.log_interval == 0 or step == cfg.max_steps:
            step_s = (time.perf_counter() - window_start) / window_steps
            history.steps.append(step)
            history.train_loss.append(round(loss.item(), 4))
            yield StepInfo(step, cfg.max_steps, loss.item(), lr, tokens_per_step / step_s, step_s * (cfg.max_steps - step))
            window_start, window_steps = time.perf_counter(), 0

        # evaluate and checkpoint
        if step % cfg.eval_interval == 0 or step == cfg.max_steps:
            val = evaluate(model, val_data, cfg, device)
            train_loss = evaluate(model, train_data, cfg, device)
            history.eval_steps.append(step)
            history.val_loss.append(round(val, 4))
            yield EvalInfo(step, train_loss, val)
            yield checkpoint(step, history)
            window_start, window_steps = time.perf_counter(), 0
    return step

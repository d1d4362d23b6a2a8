"""LoRA adapters: the right layers, the right counts, peft's own format, switching, refusing, training."""

from __future__ import annotations

import copy
import json
import pickle
import subprocess
import sys
from dataclasses import fields
from pathlib import Path

import pytest
import torch
from peft import PeftModel
from safetensors.torch import load_file, save_file

from engine.checkpoint import LoadedModel
from engine.data import documents_stream, split
from engine.generate import SamplingConfig, TokenEvent, generate
from engine.lora import (
    META,
    PEFT_CONFIG,
    PEFT_WEIGHTS,
    AdaptedModel,
    AdapterError,
    LoraSettings,
    add_adapter,
    adapted_layers,
    base_fingerprint,
    load_adapters,
    read_adapter,
    save_adapter,
    train_adapter,
    trainable_parameters,
)
from engine.model import GPT, GPTConfig
from engine.tokenizer import train_tokenizer
from engine.train import STATE, EvalInfo, Resumed, Saved, StepInfo, TrainConfig
from tests.conftest import random_gpt, sample_texts

ROOT = Path(__file__).resolve().parents[1]
BLOCK = ["attn.c_attn", "attn.c_proj", "mlp.c_fc", "mlp.c_proj"]
CFG = TrainConfig(
    max_steps=30, batch_size=8, lr=1e-2, min_lr=1e-3, warmup_steps=3, weight_decay=0.0,
    eval_interval=10, eval_batches=2, log_interval=5,
)


def base_lm(tokenizer, seed: int = 0) -> LoadedModel:
    return LoadedModel(random_gpt(tokenizer, seed=seed), tokenizer, Path("tiny"), {"note": "base"})


def random_adapter(gpt: GPT, seed: int, name: str = "default", settings: LoraSettings = LoraSettings()) -> PeftModel:
    """An adapter on a copy of `gpt` whose A and B are random (a trained one, in effect), frozen, in eval mode."""
    torch.manual_seed(seed)
    peft_model = add_adapter(copy.deepcopy(gpt), settings, name)
    with torch.no_grad():
        for n, p in peft_model.named_parameters():
            if ".lora_" in n:
                p.copy_(torch.randn_like(p) * 0.3)
            p.requires_grad_(False)
    return peft_model.eval()


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny models train faster on one thread, and much faster when another process is busy."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def logits(model: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return model(x).logits


@pytest.fixture
def x(tokenizer) -> torch.Tensor:
    return torch.tensor([tokenizer.encode("the cat sat on a mat and the dog ran to the big red house")])


# ----- which layers, how many parameters


def test_the_default_targets_are_the_four_linears_of_every_block(tokenizer) -> None:
    peft_model = add_adapter(random_gpt(tokenizer))
    assert adapted_layers(peft_model) == [f"transformer.h.{i}.{m}" for i in range(2) for m in BLOCK]


def test_a_bare_name_matches_by_suffix(tokenizer) -> None:
    # the gotcha the defaults avoid: "c_proj" is the attention's projection and the MLP's
    peft_model = add_adapter(random_gpt(tokenizer), LoraSettings(target_modules=("c_proj",)))
    assert adapted_layers(peft_model) == [f"transformer.h.{i}.{m}" for i in range(2) for m in ("attn.c_proj", "mlp.c_proj")]


@pytest.mark.skipif("copy_head" not in {f.name for f in fields(GPTConfig)}, reason="no copy head in this model")
def test_the_copy_head_is_not_a_target(tokenizer) -> None:
    peft_model = add_adapter(random_gpt(tokenizer, copy_head=True))
    assert adapted_layers(peft_model) == [f"transformer.h.{i}.{m}" for i in range(2) for m in BLOCK]


@pytest.mark.parametrize("r", [1, 8])
def test_only_the_adapter_trains_and_its_size_is_r_times_in_plus_out(tokenizer, r) -> None:
    gpt = random_gpt(tokenizer)
    n_base = gpt.num_params()
    peft_model = add_adapter(gpt, LoraSettings(r=r))
    C = gpt.config.n_embd
    per_block = r * ((C + 3 * C) + (C + C) + (C + 4 * C) + (4 * C + C))  # c_attn, attn.c_proj, c_fc, mlp.c_proj
    assert trainable_parameters(peft_model) == (gpt.config.n_layer * per_block, n_base + gpt.config.n_layer * per_block)
    assert all(p.requires_grad == (".lora_" in n) for n, p in peft_model.named_parameters())


def test_the_shipped_size_trains_three_percent() -> None:
    gpt = GPT(GPTConfig(block_size=256, vocab_size=2048, n_layer=4, n_head=4, n_embd=256))
    assert trainable_parameters(add_adapter(gpt)) == (131_072, 3_880_448)  # 4 x 8·(1024 + 512 + 1280 + 1280)


# ----- what an adapter computes


def test_a_fresh_adapter_changes_nothing(tokenizer, x) -> None:
    gpt = random_gpt(tokenizer)
    before = logits(gpt, x)
    peft_model = add_adapter(gpt).eval()  # B starts at zero
    assert torch.equal(logits(peft_model, x), before)


def test_merged_and_unmerged_give_the_same_logits(tokenizer, x) -> None:
    gpt = random_gpt(tokenizer)
    peft_model = random_adapter(gpt, seed=1)
    merged = copy.deepcopy(peft_model).merge_and_unload()
    assert type(merged) is GPT
    assert not torch.allclose(logits(peft_model, x), logits(gpt, x), atol=1e-3)
    torch.testing.assert_close(logits(merged, x), logits(peft_model, x), atol=1e-5, rtol=1e-5)


def test_generate_with_an_adapter_matches_the_merged_model(tokenizer, x) -> None:
    gpt = random_gpt(tokenizer)
    peft_model = random_adapter(gpt, seed=1)
    merged = copy.deepcopy(peft_model).merge_and_unload()
    greedy = SamplingConfig(temperature=0, max_new_tokens=12)

    def reply(model) -> list[int]:
        return [e.token_id for e in generate(model, x[0].tolist(), greedy) if isinstance(e, TokenEvent)]

    with_adapter = reply(peft_model.get_base_model())  # our GPT, its Linears now LoRA layers
    assert with_adapter == reply(merged) == reply(peft_model)  # the PeftModel itself works too
    assert with_adapter != reply(gpt)
    events = [e for e in generate(peft_model.get_base_model(), x[0].tolist(), greedy) if isinstance(e, TokenEvent)]
    assert events[0].attention.shape[:2] == (2, 2)  # attention rows still reach the app


# ----- peft's format on disk


@pytest.mark.parametrize("name", ["default", "pirate"])
def test_a_saved_adapter_loads_in_peft_and_gives_the_same_logits(tokenizer, x, tmp_path, name) -> None:
    gpt = random_gpt(tokenizer)
    peft_model = random_adapter(gpt, seed=1, name=name)
    path = save_adapter(peft_model, tmp_path / "a", name, tokenizer, description="talks like a pirate")
    assert {PEFT_WEIGHTS, PEFT_CONFIG, META} <= {p.name for p in path.iterdir()}
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no staging left behind

    reloaded = PeftModel.from_pretrained(copy.deepcopy(gpt), str(path))
    assert torch.equal(logits(reloaded, x), logits(peft_model, x))
    info = read_adapter(path)
    assert info.description == "talks like a pirate" and info.base == base_fingerprint(gpt, tokenizer)
    assert info.meta["trainable_parameters"] == trainable_parameters(add_adapter(copy.deepcopy(gpt)))[0]


def test_saving_again_replaces_the_adapter_and_a_failed_save_keeps_the_old(tokenizer, x, tmp_path, monkeypatch) -> None:
    gpt = random_gpt(tokenizer)
    first, second = random_adapter(gpt, seed=1), random_adapter(gpt, seed=2)
    save_adapter(first, tmp_path / "a", "default", tokenizer, description="first")
    save_adapter(second, tmp_path / "a", "default", tokenizer, description="second")
    assert read_adapter(tmp_path / "a").description == "second"
    assert torch.equal(logits(PeftModel.from_pretrained(copy.deepcopy(gpt), str(tmp_path / "a")), x), logits(second, x))

    def crash(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(type(first), "save_pretrained", crash)
    with pytest.raises(OSError, match="disk full"):
        save_adapter(first, tmp_path / "a", "default", tokenizer, description="third")
    assert read_adapter(tmp_path / "a").description == "second"
    assert [p.name for p in tmp_path.iterdir()] == ["a"]


def test_a_save_killed_between_its_renames_is_undone(tokenizer, tmp_path) -> None:
    save_adapter(random_adapter(random_gpt(tokenizer), seed=1), tmp_path / "a", "default", tokenizer, description="old")
    (tmp_path / "a").rename(tmp_path / ".a.old-1234abcd")  # the old one renamed aside, the new one never arrived
    assert read_adapter(tmp_path / "a").description == "old"


# ----- loading several, switching, refusing


@pytest.mark.parametrize("name", ["a", "lora", "two words", "x.y", ""])
def test_names_peft_would_confuse_are_refused(tokenizer, name) -> None:
    with pytest.raises(ValueError, match="adapter name"):
        add_adapter(random_gpt(tokenizer), name=name)


def test_load_adapters_switches_between_them_and_back_to_the_plain_model(tokenizer, x, tmp_path) -> None:
    lm = base_lm(tokenizer)
    original = logits(lm.model, x)
    formal, pirate = random_adapter(lm.model, seed=1), random_adapter(lm.model, seed=2)
    save_adapter(formal, tmp_path / "formal", "default", tokenizer)
    save_adapter(pirate, tmp_path / "pirate", "default", tokenizer)

    adapted = load_adapters(lm, {"formal": tmp_path / "formal", "pirate": tmp_path / "pirate"})
    assert isinstance(adapted, AdaptedModel) and adapted.names == ["formal", "pirate"] and adapted.active is None
    assert trainable_parameters(adapted.peft_model)[0] == 0  # loaded for use, not training
    for name, expected in [("formal", formal), ("pirate", pirate), (None, None), ("formal", formal)]:
        got = logits(adapted.use(name), x)
        assert adapted.active == name
        assert torch.equal(got, original if expected is None else logits(expected, x)), name
    assert not torch.allclose(logits(adapted.use("formal"), x), logits(adapted.use("pirate"), x), atol=1e-3)
    merged = adapted.merged("pirate")
    assert type(merged) is GPT and adapted_layers_of(merged) == []
    torch.testing.assert_close(logits(merged, x), logits(pirate, x), atol=1e-5, rtol=1e-5)

    # the LoadedModel given is left as it was: plain Linear layers, the same outputs
    assert adapted_layers_of(lm.model) == [] and torch.equal(logits(lm.model, x), original)
    view = adapted.loaded_model("pirate")
    assert view.model is adapted.peft_model.get_base_model() and view.tokenizer is lm.tokenizer
    assert view.meta["adapter"]["format"] and view.meta["note"] == "base"
    with pytest.raises(KeyError, match="formal, pirate"):
        adapted.use("shouty")


def adapted_layers_of(gpt: GPT) -> list[str]:
    return [n for n, m in gpt.named_modules() if type(m).__module__.startswith("peft")]


def other_tokenizer_lm(tokenizer) -> LoadedModel:
    other = train_tokenizer(sample_texts(seed=5)[:100], vocab_size=300)
    return LoadedModel(random_gpt(tokenizer), other, Path("tiny"))


@pytest.mark.parametrize(
    "other_lm, message",
    [
        (lambda tok: base_lm(tok, seed=1), "other weights"),
        (lambda tok: LoadedModel(random_gpt(tok, n_embd=64), tok, Path("tiny")), "another shape .*n_embd=32.*n_embd=64"),
        (other_tokenizer_lm, "another tokenizer"),
    ],
    ids=["weights", "shape", "tokenizer"],
)
def test_an_adapter_for_another_base_is_refused(tokenizer, tmp_path, other_lm, message) -> None:
    save_adapter(random_adapter(random_gpt(tokenizer), seed=1), tmp_path / "a", "default", tokenizer)
    with pytest.raises(AdapterError, match=message):
        load_adapters(other_lm(tokenizer), {"dogs": tmp_path / "a"})


def _drop_a_tensor(path: Path) -> None:
    tensors = load_file(path / PEFT_WEIGHTS)
    del tensors[sorted(tensors)[0]]
    save_file(tensors, path / PEFT_WEIGHTS)


def _rename(path: Path, name: str) -> None:
    path.rename(path.with_name(name))


def _edit_config(path: Path, **changes) -> None:
    config = json.loads((path / PEFT_CONFIG).read_text())
    (path / PEFT_CONFIG).write_text(json.dumps({**config, **changes}))


DAMAGE = {
    "garbage weights": (lambda p: (p / PEFT_WEIGHTS).write_bytes(b"\x00garbage" * 10), "corrupt"),
    "truncated weights": (lambda p: (p / PEFT_WEIGHTS).write_bytes((p / PEFT_WEIGHTS).read_bytes()[:200]), "corrupt"),
    "missing weights": (lambda p: (p / PEFT_WEIGHTS).unlink(), "no adapter_model.safetensors"),
    "pickled weights": (lambda p: _rename(p / PEFT_WEIGHTS, "adapter_model.bin"), "pickle"),
    "a tensor missing": (_drop_a_tensor, "does not fit .*missing"),
    "another rank": (lambda p: _edit_config(p, r=4), "corrupt or does not fit"),
    "garbage peft config": (lambda p: (p / PEFT_CONFIG).write_text("{nope"), "corrupt"),
    "missing description": (lambda p: (p / META).unlink(), "no adapter.json"),
    "garbage description": (lambda p: (p / META).write_text("{nope"), "adapter.json is corrupt"),
    "foreign description": (lambda p: (p / META).write_text("{}"), "not an adapter description"),
    "no folder": (lambda p: _rename(p, "elsewhere"), "no adapter folder"),
}


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_a_damaged_adapter_folder_is_reported(tokenizer, tmp_path, damage) -> None:
    lm = base_lm(tokenizer)
    path = save_adapter(random_adapter(lm.model, seed=1), tmp_path / "a", "default", tokenizer)
    harm, message = DAMAGE[damage]
    harm(path)
    with pytest.raises(AdapterError, match=message):
        load_adapters(lm, {"dogs": path})


def test_nothing_is_unpickled(tokenizer, x, tmp_path, monkeypatch) -> None:
    def refuse(*args, **kwargs):
        raise AssertionError("a pickle was loaded")

    monkeypatch.setattr(torch, "load", refuse)
    monkeypatch.setattr(pickle, "load", refuse)
    monkeypatch.setattr(pickle, "loads", refuse)
    lm = base_lm(tokenizer)
    peft_model = random_adapter(lm.model, seed=1)
    save_adapter(peft_model, tmp_path / "a", "default", tokenizer)
    adapted = load_adapters(lm, {"dogs": tmp_path / "a"})
    assert torch.equal(logits(adapted.use("dogs"), x), logits(peft_model, x))


def test_importing_the_module_does_not_import_peft() -> None:
    code = "import sys, engine.lora; print('peft' in sys.modules, 'transformers' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


# ----- training an adapter


@pytest.fixture(scope="module")
def toy_task(tokenizer):
    """One sentence over and over: a habit a random model does not have and an adapter can learn."""
    return split(documents_stream(tokenizer, ["the red dog ran to the big house where Amara lives."] * 120), 0.2)


def toy_base(tokenizer) -> GPT:
    """A random GPT whose token vectors are long enough for confident predictions, as a trained
    model's are (with init-size embeddings, the tied output layer cannot get far from uniform)."""
    gpt = random_gpt(tokenizer, seed=0)
    with torch.no_grad():
        gpt.transformer.wte.weight.mul_(10)
    return gpt


def new_adapter(tokenizer, r: int = 4) -> PeftModel:
    gpt = toy_base(tokenizer)
    torch.manual_seed(0)
    return add_adapter(gpt, LoraSettings(r=r))


def test_training_an_adapter_learns_the_task_and_leaves_the_base_alone(tokenizer, toy_task, x, tmp_path) -> None:
    train_data, val_data = toy_task
    peft_model = new_adapter(tokenizer)
    base = base_fingerprint(peft_model, tokenizer)
    before = logits(peft_model, x)
    events = list(train_adapter(peft_model, tokenizer, train_data, val_data, CFG, tmp_path / "a", description="dogs"))

    evals = [e for e in events if isinstance(e, EvalInfo)]
    assert [e.step for e in evals] == [10, 20, 30]
    assert evals[-1].val_loss < evals[0].val_loss - 0.5
    assert [e.step for e in events if isinstance(e, StepInfo)] == [5, 10, 15, 20, 25, 30]
    assert base_fingerprint(peft_model, tokenizer) == base  # the base weights did not move
    assert not torch.allclose(logits(peft_model, x), before, atol=1e-3)

    # the folder is a finished adapter: peft format, our description, loss history, training state
    info = read_adapter(tmp_path / "a")
    assert info.step == 30 and info.description == "dogs"
    assert info.meta["history"]["val_loss"][-1] == pytest.approx(evals[-1].val_loss, abs=1e-3)
    assert (tmp_path / "a" / STATE).is_file()
    adapted = load_adapters(LoadedModel(toy_base(tokenizer), tokenizer, Path("toy")), {"dogs": tmp_path / "a"})
    torch.testing.assert_close(logits(adapted.use("dogs"), x), logits(peft_model, x), atol=1e-6, rtol=1e-6)


def test_an_interrupted_adapter_run_resumes_to_the_same_weights(tokenizer, toy_task, tmp_path) -> None:
    train_data, val_data = toy_task
    straight = new_adapter(tokenizer)
    list(train_adapter(straight, tokenizer, train_data, val_data, CFG, tmp_path / "straight"))

    interrupted = new_adapter(tokenizer)
    for event in train_adapter(interrupted, tokenizer, train_data, val_data, CFG, tmp_path / "resumed"):
        if isinstance(event, Saved) and event.step == 20:
            break
    gpt = toy_base(tokenizer)  # a fresh process: the same base ...
    torch.manual_seed(123)  # ... but another start for A, which the saved state must overwrite
    again = add_adapter(gpt, LoraSettings(r=4))
    events = list(train_adapter(again, tokenizer, train_data, val_data, CFG, tmp_path / "resumed"))
    assert events[0] == Resumed(20)
    assert [e.step for e in events if isinstance(e, StepInfo)][0] == 25
    a, b = straight.state_dict(), again.state_dict()
    assert a.keys() == b.keys()
    for name in a:
        torch.testing.assert_close(a[name], b[name], msg=name)


def test_resuming_with_other_settings_is_refused(tokenizer, toy_task, tmp_path) -> None:
    train_data, val_data = toy_task
    for event in train_adapter(new_adapter(tokenizer), tokenizer, train_data, val_data, CFG, tmp_path / "a"):
        if isinstance(event, Saved):
            break
    other = TrainConfig(**{**CFG.to_dict(), "lr": 1e-3})
    with pytest.raises(ValueError, match="other settings"):
        list(train_adapter(new_adapter(tokenizer), tokenizer, train_data, val_data, other, tmp_path / "a"))
    with pytest.raises(ValueError, match="other settings"):
        list(train_adapter(new_adapter(tokenizer, r=8), tokenizer, train_data, val_data, CFG, tmp_path / "a"))
    events = list(train_adapter(new_adapter(tokenizer), tokenizer, train_data, val_data, other, tmp_path / "a", resume=False))
    assert not any(isinstance(e, Resumed) for e in events)

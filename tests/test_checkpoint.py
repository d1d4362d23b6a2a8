"""Model folders: save then load gives identical logits; every broken folder gives a clear ModelError."""

from __future__ import annotations

import json
import shutil

import pytest
import torch

from engine.checkpoint import CONFIG, TOKENIZER, WEIGHTS, ModelError, load_model, save_model
from engine.tokenizer import train_tokenizer
from tests.conftest import random_gpt


@pytest.fixture
def saved(tmp_path, tokenizer):
    model = random_gpt(tokenizer, seed=1)
    save_model(tmp_path / "m", model, tokenizer, {"note": "test"})
    return tmp_path / "m", model


def test_save_then_load_gives_identical_logits(saved, tokenizer) -> None:
    path, model = saved
    lm = load_model(path)
    idx = torch.randint(0, tokenizer.vocab_size, (2, 16))
    assert torch.equal(lm.model(idx).logits, model(idx).logits)
    assert lm.config == model.config
    assert lm.meta["note"] == "test"
    assert lm.model.lm_head.weight is lm.model.transformer.wte.weight  # still tied after loading
    assert not any(p.name.endswith((".pt", ".bin", ".pkl")) for p in path.iterdir())


def test_a_different_tokenizer_is_refused(saved) -> None:
    path, _ = saved
    train_tokenizer(["some other text entirely"] * 30, vocab_size=300).save(path / TOKENIZER)
    with pytest.raises(ModelError, match="not the one this model was trained with"):
        load_model(path)


def test_missing_folder_and_files(saved, tmp_path) -> None:
    path, _ = saved
    with pytest.raises(ModelError, match="no model folder"):
        load_model(tmp_path / "nowhere")
    for name, message in [(WEIGHTS, "has no model.safetensors"), (TOKENIZER, "no tokenizer"), (CONFIG, "not a finished model folder")]:
        broken = tmp_path / f"without-{name}"
        shutil.copytree(path, broken)
        (broken / name).unlink()
        with pytest.raises(ModelError, match=message):
            load_model(broken)


def test_corrupt_files(saved, tmp_path) -> None:
    path, _ = saved
    cases = {
        WEIGHTS: (b"\x00" * 100, "corrupt"),
        CONFIG: (b"{ half a json", "corrupt"),
        TOKENIZER: (b"[]", "not a readable tokenizer"),
    }
    for name, (content, message) in cases.items():
        broken = tmp_path / f"corrupt-{name}"
        shutil.copytree(path, broken)
        (broken / name).write_bytes(content)
        with pytest.raises(ModelError, match=message):
            load_model(broken)


def test_truncated_weights_file(saved) -> None:
    path, _ = saved
    data = (path / WEIGHTS).read_bytes()
    (path / WEIGHTS).write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelError, match="corrupt"):
        load_model(path)


def test_weights_that_do_not_fit_the_config(saved) -> None:
    path, _ = saved
    meta = json.loads((path / CONFIG).read_text())
    meta["gpt"]["n_layer"] = 3
    (path / CONFIG).write_text(json.dumps(meta))
    with pytest.raises(ModelError, match="does not fit"):
        load_model(path)
    meta["gpt"]["n_layer"] = 2
    meta["gpt"]["n_embd"] = 64
    (path / CONFIG).write_text(json.dumps(meta))
    with pytest.raises(ModelError, match="wrong shape"):
        load_model(path)


def test_a_config_from_elsewhere_is_refused(saved) -> None:
    path, _ = saved
    (path / CONFIG).write_text(json.dumps({"model_type": "gpt2"}))
    with pytest.raises(ModelError, match="not a config written by this project"):
        load_model(path)

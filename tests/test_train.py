"""Training: the held-out loss falls, and a run killed mid-way resumes to exactly the same weights."""

from __future__ import annotations

import pytest
import torch

from engine.checkpoint import load_model
from engine.data import conversations_stream, documents_stream, get_batch, split, batch_generator
from engine.train import STATE, EvalInfo, Resumed, Saved, StepInfo, TrainConfig, learning_rate, train
from tests.conftest import random_gpt, sample_texts

CFG = TrainConfig(max_steps=60, batch_size=8, lr=3e-3, min_lr=3e-4, warmup_steps=5, eval_interval=20, eval_batches=4, log_interval=5)


@pytest.fixture(scope="module")
def streams(tokenizer):
    data = documents_stream(tokenizer, sample_texts(600, seed=1))
    return split(data, 0.1)


def fresh_model(tokenizer):
    torch.manual_seed(0)
    return random_gpt(tokenizer, seed=0)


def test_training_lowers_held_out_loss(tokenizer, streams, tmp_path) -> None:
    train_data, val_data = streams
    events = list(train(fresh_model(tokenizer), tokenizer, train_data, val_data, CFG, tmp_path / "run"))
    evals = [e for e in events if isinstance(e, EvalInfo)]
    assert [e.step for e in evals] == [20, 40, 60]
    assert evals[-1].val_loss < evals[0].val_loss - 0.3
    steps = [e for e in events if isinstance(e, StepInfo)]
    assert steps[-1].step == 60 and steps[-1].eta_s == 0 and all(s.tokens_per_s > 0 for s in steps)
    # the model folder is written and loads, carrying its loss history
    lm = load_model(tmp_path / "run")
    assert lm.meta["step"] == 60 and lm.meta["history"]["val_loss"][-1] == pytest.approx(evals[-1].val_loss, abs=1e-3)


def test_resume_continues_from_the_saved_step(tokenizer, streams, tmp_path) -> None:
    train_data, val_data = streams
    straight = fresh_model(tokenizer)
    list(train(straight, tokenizer, train_data, val_data, CFG, tmp_path / "straight"))

    # a run "killed" right after its checkpoint at step 40 ...
    interrupted = fresh_model(tokenizer)
    for event in train(interrupted, tokenizer, train_data, val_data, CFG, tmp_path / "resumed"):
        if isinstance(event, Saved) and event.step == 40:
            break
    # ... picks up in a new process (a fresh model object) from step 40
    again = fresh_model(tokenizer)
    events = list(train(again, tokenizer, train_data, val_data, CFG, tmp_path / "resumed"))
    assert events[0] == Resumed(40)
    assert [e.step for e in events if isinstance(e, StepInfo)][0] == 45
    for (name, a), (_, b) in zip(straight.state_dict().items(), again.state_dict().items()):
        torch.testing.assert_close(a, b, msg=name)


def test_resume_refuses_other_settings_and_fresh_starts_over(tokenizer, streams, tmp_path) -> None:
    train_data, val_data = streams
    for event in train(fresh_model(tokenizer), tokenizer, train_data, val_data, CFG, tmp_path / "r"):
        if isinstance(event, Saved):
            break
    other = TrainConfig(**{**CFG.to_dict(), "lr": 1e-3})
    with pytest.raises(ValueError, match="other settings"):
        list(train(fresh_model(tokenizer), tokenizer, train_data, val_data, other, tmp_path / "r"))
    events = list(train(fresh_model(tokenizer), tokenizer, train_data, val_data, other, tmp_path / "r", resume=False))
    assert not any(isinstance(e, Resumed) for e in events)
    assert (tmp_path / "r" / STATE).exists()


def test_a_corrupt_training_state_is_reported(tokenizer, streams, tmp_path) -> None:
    train_data, val_data = streams
    (tmp_path / "r").mkdir()
    (tmp_path / "r" / STATE).write_bytes(b"garbage")
    with pytest.raises(ValueError, match="unreadable"):
        list(train(fresh_model(tokenizer), tokenizer, train_data, val_data, CFG, tmp_path / "r"))


def test_learning_rate_warms_up_then_decays() -> None:
    lrs = [learning_rate(s, CFG) for s in range(CFG.max_steps + 1)]
    assert lrs[0] < lrs[4] == pytest.approx(CFG.lr)
    assert all(a >= b for a, b in zip(lrs[5:], lrs[6:]))
    assert lrs[-1] == pytest.approx(CFG.min_lr)


def test_conversation_targets_are_the_assistants_tokens(tokenizer) -> None:
    conv = [{"role": "user", "content": "the cat"}, {"role": "assistant", "content": "sat on the mat"}]
    s = conversations_stream(tokenizer, [conv])
    learned = [i for i, m in zip(s.ids, s.mask) if m]
    assert tokenizer.decode(learned) == "sat on the mat<|end|>"


def test_batches_are_shifted_masked_and_repeatable(tokenizer) -> None:
    conv = [{"role": "user", "content": "the cat"}, {"role": "assistant", "content": "sat on the mat"}]
    s = conversations_stream(tokenizer, [conv] * 50)
    x, y = get_batch(s, 16, 4, batch_generator(0, 7))
    x2, y2 = get_batch(s, 16, 4, batch_generator(0, 7))
    assert torch.equal(x, x2) and torch.equal(y, y2)
    assert x.shape == y.shape == (4, 16)
    assert torch.all((y == -1) | (y[:, :] == torch.cat([x[:, 1:], y[:, -1:]], dim=1)))
    assert (y == -1).any() and (y != -1).any()


def test_read_corpus_takes_text_files_and_refuses_nonsense(tmp_path) -> None:
    from engine.data import read_corpus

    (tmp_path / "a.txt").write_text("First paragraph.\n\nSecond paragraph.")
    (tmp_path / "notes.md").write_text("# Title\n\nSome notes.")
    (tmp_path / "image.png").write_bytes(b"\x89PNG\x00\x00")
    docs = read_corpus([tmp_path])
    assert docs == ["First paragraph.\n\nSecond paragraph.", "# Title\n\nSome notes."]
    with pytest.raises(ValueError, match="does not exist"):
        read_corpus([tmp_path / "missing"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no text"):
        read_corpus([tmp_path / "empty"])


def test_conversation_windows_start_at_a_conversation(tokenizer) -> None:
    from engine.data import concat

    convs = [[{"role": "user", "content": "the cat " * (i % 4 + 1)}, {"role": "assistant", "content": "sat"}] for i in range(60)]
    s = conversations_stream(tokenizer, convs)
    user = tokenizer.special_ids["<|user|>"]
    assert all(s.ids[i] == user for i in s.starts)
    x, _ = get_batch(s, 16, 32, batch_generator(0, 1))
    assert torch.all(x[:, 0] == user)
    train_part, val_part = split(s, 0.2)
    assert val_part.ids[0] == user and all(val_part.ids[i] == user for i in val_part.starts)
    assert len(train_part) + len(val_part) == len(s)
    docs = documents_stream(tokenizer, ["the dog ran"] * 20)
    both = concat([docs, s])
    assert len(both.starts) == len(docs) + len(s.starts)
    assert all(both.ids[i] == user for i in both.starts[len(docs):])

"""The chat app driven through Pilot, with a tiny random model: what the widgets hold after each step."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
import torch

import tui.app
from engine.chat import ReplyToken
from engine.checkpoint import LoadedModel
from engine.generate import SamplingConfig
from engine.model import GPT, GPTConfig
from engine.tokenizer import train_tokenizer
from tui.app import AssistantMessage, ChatApp, ErrorMessage, UserMessage

SIZE = (100, 30)


@pytest.fixture(scope="module")
def lm() -> LoadedModel:
    tok = train_tokenizer(["hello world the cat sat on the mat"] * 100, 300)
    torch.manual_seed(0)  # the same random weights every run, so with a fixed sampling seed every reply is the same
    model = GPT(GPTConfig(block_size=64, vocab_size=tok.vocab_size, n_layer=2, n_head=2, n_embd=32))
    return LoadedModel(model, tok, path=Path("tiny"))


# an untrained model rarely picks <|end|>, so a reply of 20 tokens has many pieces to stream
SAMPLING = SamplingConfig(max_new_tokens=20, seed=0, attention=False)


def make_app(lm: LoadedModel, **kwargs) -> ChatApp:
    return ChatApp(lm, kwargs.pop("sampling", SAMPLING), **kwargs)


async def send(pilot, text: str) -> None:
    pilot.app.query_one("#prompt").value = text
    await pilot.press("enter")


async def wait_until(pilot, condition, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for the app")
        await pilot.pause(0.01)


async def wait_for_reply(pilot) -> None:
    await wait_until(pilot, lambda: not pilot.app.replying)
    await pilot.pause()


def slow_stream(monkeypatch, delay: float = 0.05) -> list[list[dict]]:
    """Make every token take `delay` seconds; return the list the message lists sent are recorded in."""
    real = tui.app.stream_reply
    calls: list[list[dict]] = []

    def stream(lm, messages, sampling, should_stop):
        calls.append([dict(m) for m in messages])
        for event in real(lm, messages, sampling, should_stop):
            if isinstance(event, ReplyToken):
                time.sleep(delay)
            yield event

    monkeypatch.setattr(tui.app, "stream_reply", stream)
    return calls


def spy_stream(monkeypatch) -> tuple[list[list[dict]], list]:
    """Record the messages each call received and the ReplyDone it ended with."""
    real = tui.app.stream_reply
    calls: list[list[dict]] = []
    dones: list = []

    def stream(lm, messages, sampling, should_stop):
        calls.append([dict(m) for m in messages])
        for event in real(lm, messages, sampling, should_stop):
            if not isinstance(event, ReplyToken) and hasattr(event, "text"):
                dones.append(event)
            yield event

    monkeypatch.setattr(tui.app, "stream_reply", stream)
    return calls, dones


async def test_prompt_shows_user_message_and_reply(lm, monkeypatch):
    _, dones = spy_stream(monkeypatch)
    app = make_app(lm)
    async with app.run_test(size=SIZE) as pilot:
        await send(pilot, "hello cat")
        await wait_for_reply(pilot)
        assert [str(m.content) for m in app.query(UserMessage)] == ["hello cat"]
        (reply,) = app.query(AssistantMessage)
        assert dones and reply.text == dones[-1].text
        assert reply.text.strip()
        assert str(reply.content) == reply.text
        assert app.query_one("#prompt").value == ""
        assert "tokens" in app.status_bar.info and "tok/s" in app.status_bar.info


async def test_reply_streams_token_by_token(lm, monkeypatch):
    shown: list[str] = []
    append = AssistantMessage.append

    def recording_append(self, piece):
        append(self, piece)
        shown.append(self.text)

    monkeypatch.setattr(AssistantMessage, "append", recording_append)
    app = make_app(lm)
    async with app.run_test(size=SIZE) as pilot:
        await send(pilot, "the cat")
        await wait_for_reply(pilot)
        final = app.query_one(AssistantMessage).text
    assert len(shown) >= 10  # one call per token
    assert len(set(shown)) > 3  # and the text grew several times
    assert all(final.startswith(s) for s in shown)


async def test_escape_stops_reply_and_app_stays_usable(lm, monkeypatch):
    slow_stream(monkeypatch)
    app = make_app(lm)
    async with app.run_test(size=SIZE) as pilot:
        await send(pilot, "hello")
        await wait_until(pilot, lambda: app.query_one(AssistantMessage).text != "")
        await pilot.press("escape")
        await wait_for_reply(pilot)
        reply = app.query_one(AssistantMessage)
        assert str(reply.content).endswith("(stopped)")
        assert "stopped because you pressed Escape" in app.status_bar.info
        assert app.messages[-1] == {"role": "assistant", "content": reply.text}  # kept without the marker

        await send(pilot, "again")
        await wait_until(pilot, lambda: len(app.query(AssistantMessage)) == 2)
        await pilot.press("escape")
        await wait_for_reply(pilot)
        assert [m["role"] for m in app.messages] == ["user", "assistant", "user", "assistant"]


async def test_enter_while_replying_keeps_text_and_shows_hint(lm, monkeypatch):
    slow_stream(monkeypatch)
    app = make_app(lm)
    async with app.run_test(size=SIZE) as pilot:
        await send(pilot, "hello")
        await pilot.pause()
        assert app.replying
        await send(pilot, "not yet")
        assert app.query_one("#prompt").value == "not yet"
        assert "wait for the reply, or press Escape to stop it" in app.status_bar.info
        assert len(app.query(UserMessage)) == 1
        await pilot.press("escape")
        await wait_for_reply(pilot)
        assert app.query_one("#prompt").value == "not yet"


async def test_second_turn_sends_the_whole_conversation(lm, monkeypatch):
    calls, _ = spy_stream(monkeypatch)
    app = make_app(lm, system_prompt="You are a cat.")
    async with app.run_test(size=SIZE) as pilot:
        await send(pilot, "first question")
        await wait_for_reply(pilot)
        first_reply = app.query(AssistantMessage).first().text
        await send(pilot, "second question")
        await wait_for_reply(pilot)
    assert len(calls) == 2
    assert calls[0] == [{"role": "system", "content": "You are a cat."}, {"role": "user", "content": "first question"}]
    assert calls[1] == [
        {"role": "system", "content": "You are a cat."},
        {"role": "user", "content": "first question"},
        {"role": "assistant", "content": first_reply},
        {"role": "user", "content": "second question"},
    ]


async def test_engine_error_is_one_line_in_the_log(lm, monkeypatch):
    def broken(lm, messages, sampling, should_stop):
        raise RuntimeError("the model fell over\nTraceback (most recent call last): ...")
        yield  # a generator, like the real one

    monkeypatch.setattr(tui.app, "stream_reply", broken)
    app = make_app(lm)
    async with app.run_test(size=SIZE) as pilot:
        await send(pilot, "hello")
        await wait_for_reply(pilot)
        (error,) = app.query(ErrorMessage)
        assert str(error.content) == "The model could not reply: RuntimeError: the model fell over"
        assert not app.query(AssistantMessage)  # the empty reply bubble is gone
        assert app.messages == []  # the failed question is not in the history...
        assert app.query_one("#prompt").value == "hello"  # ...but back in the input box

        monkeypatch.undo()  # the engine recovers; so does the app
        await send(pilot, "hello again")
        await wait_for_reply(pilot)
        assert app.query_one(AssistantMessage).text
        assert [m["role"] for m in app.messages] == ["user", "assistant"]


async def test_ctrl_l_clears_log_and_history(lm, monkeypatch):
    slow_stream(monkeypatch, delay=0.01)
    app = make_app(lm, system_prompt="Be brief.")
    async with app.run_test(size=SIZE) as pilot:
        await send(pilot, "hello")
        await wait_for_reply(pilot)
        await send(pilot, "and again")  # cleared while this one is still streaming
        await pilot.pause()
        await pilot.press("ctrl+l")
        await asyncio.sleep(0.1)  # the old worker may still post; it must be ignored
        await pilot.pause()
        assert not app.replying
        assert not app.query(UserMessage) and not app.query(AssistantMessage)
        assert app.messages == [{"role": "system", "content": "Be brief."}]

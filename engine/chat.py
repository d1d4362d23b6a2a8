"""One reply, from a conversation to streamed text: template, fit, generate, decode.

`stream_reply` is the path a chat message takes through the engine:
    conversation --render_conversation--> prompt ids --generate--> token events --DecodeStream--> text
It yields, in order: a `PromptReady` (the exact ids fed to the model, and what was left out),
perhaps a `Truncated`, one `ReplyToken` per generated token, and a `ReplyDone` with the whole text.

The fitting rule for a conversation too long for `block_size`: the oldest turns go first, a
user turn together with the assistant's answer to it; the system prompt and the newest user
message stay. If the newest message alone is still too long, generation's own rule (keep the last
tokens) applies and is reported as `Truncated`.

It does not keep the conversation between replies: the caller owns the message list.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from engine.chat_template import Message, RenderedChat, Section, render_conversation, stop_ids
from engine.checkpoint import LoadedModel
from engine.generate import Done, SamplingConfig, TokenEvent, Truncated, generate
from engine.tokenizer import Tokenizer


@dataclass(frozen=True)
class PromptReady:
    ids: list[int]  # exactly what the model reads
    sections: list[Section]  # which message each token range came from (indices into `messages`)
    messages: list[Message]  # the messages that made it in
    dropped_messages: int  # oldest messages left out to fit block_size


@dataclass(frozen=True)
class ReplyToken:
    event: TokenEvent
    piece: str  # the text this token adds to the reply ("" for a stop token or half a character)
    shown: str  # the token as drawn in the token panel ("·cat", "<|end|>")


@dataclass(frozen=True)
class ReplyDone:
    done: Done
    text: str  # the whole reply


def fit_conversation(
    tokenizer: Tokenizer, messages: Sequence[Message], limit: int
) -> tuple[list[Message], RenderedChat, int]:
    """Drop the oldest non-system messages until the prompt has at most `limit` tokens (see module doc)."""
    kept = list(messages)
    dropped = 0
    while True:
        rendered = render_conversation(tokenizer, kept, add_generation_prompt=True)
        droppable = [i for i, m in enumerate(kept[:-1]) if m["role"] != "system"]
        if len(rendered.ids) <= limit or not droppable:
            return kept, rendered, dropped
        first = droppable[0]
        # a user turn goes with the assistant's answer to it
        n = 2 if kept[first]["role"] == "user" and first + 1 < len(kept) - 1 and kept[first + 1]["role"] == "assistant" else 1
        del kept[first : first + n]
        dropped += n


def stream_reply(
    lm: LoadedModel,
    messages: Sequence[Message],
    sampling: SamplingConfig = SamplingConfig(),
    should_stop: Callable[[], bool] | None = None,
) -> Iterator[PromptReady | Truncated | ReplyToken | ReplyDone]:
    """Generate the assistant's next message for `messages` (which end with the user's), token by token."""
    tokenizer = lm.tokenizer
    block_size = lm.config.block_size
    limit = block_size - min(sampling.max_new_tokens, block_size // 2)
    kept, rendered, dropped = fit_conversation(tokenizer, messages, limit)
    yield PromptReady(rendered.ids, rendered.sections, kept, dropped)

    stream = tokenizer.decode_stream()
    text: list[str] = []
    for event in generate(lm.model, rendered.ids, sampling, stop_ids(tokenizer), should_stop):
        if isinstance(event, TokenEvent):
            # special tokens (a stray <|assistant|>, say) are shown in the token panel, never as reply text
            piece = "" if event.is_stop or tokenizer.is_special(event.token_id) else stream.step(event.token_id)
            text.append(piece)
            yield ReplyToken(event, piece, tokenizer.token_text(event.token_id))
        elif isinstance(event, Done):
            text.append(stream.flush())
            yield ReplyDone(event, "".join(text))
        else:
            yield event


def warm_up(lm: LoadedModel) -> None:
    """Run one tiny reply so the first real one does not pay PyTorch's start-up cost (~1 s on CPU)."""
    for _ in stream_reply(lm, [{"role": "user", "content": "hi"}], SamplingConfig(max_new_tokens=2, seed=0)):
        pass


@dataclass(frozen=True)
class Answer:
    reply: str
    messages: list[Message]  # the whole conversation, the reply last
    prompt_ids: list[int]  # exactly what the model read for the reply


def ask(
    lm: LoadedModel,
    question: str,
    contexts: Sequence[str] = (),
    turns: Sequence[str] = (),
    sampling: SamplingConfig = SamplingConfig(temperature=0.0),
) -> Answer:
    """One question, with documents as context and earlier user turns as memory, as the chat would do:
    the model replies to each earlier turn in order, then to the question."""
    messages: list[Message] = [{"role": "context", "content": c} for c in contexts]
    prompt_ids: list[int] = []
    for text in [*turns, question]:
        messages.append({"role": "user", "content": text})
        reply = ""
        for event in stream_reply(lm, messages, sampling):
            if isinstance(event, PromptReady):
                prompt_ids = event.ids
            elif isinstance(event, ReplyDone):
                reply = event.text
        messages.append({"role": "assistant", "content": reply})
    return Answer(messages[-1]["content"], messages, prompt_ids)

"""The chat template: the one place a conversation becomes the tokens the model reads.

A chat model is still a next-token predictor. What makes it "chat" is that every conversation is
written out in one fixed layout, with special tokens marking who speaks:

    <|system|>You are a helpful assistant.<|end|><|user|>Hi!<|end|><|assistant|>Hello!<|end|>

To get a reply, the conversation is written out and followed by the cue `<|assistant|>`; the model
continues from there and ends its turn with `<|end|>`.

For training, `render_conversation` also returns a mask that marks the assistant's tokens (and its
`<|end|>`), so instruct tuning can learn only from what the assistant says.

It does not decide what goes in the conversation (system prompt, context, memory): callers do.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Mapping

from engine.tokenizer import ASSISTANT, CONTEXT, END, SYSTEM, USER, Tokenizer

ROLE_TOKENS = {"system": SYSTEM, "user": USER, "assistant": ASSISTANT, "context": CONTEXT}

Message = Mapping[str, str]  # {"role": "system" | "user" | "assistant" | "context", "content": "..."}


@dataclass(frozen=True)
class Section:
    role: str  # whose tokens these are, or "cue" for the final <|assistant|> that asks for a reply
    message: int  # index into the messages (-1 for the cue)
    start: int  # token range [start, end) in `ids`
    end: int


@dataclass(frozen=True)
class RenderedChat:
    ids: list[int]
    mask: list[int]  # 1 where the token is the assistant's to learn (its text and its <|end|>), else 0
    sections: list[Section]


def render_conversation(
    tokenizer: Tokenizer, messages: Sequence[Message], add_generation_prompt: bool = False
) -> RenderedChat:
    """Write a conversation out as token ids, with the assistant-token mask and each message's span.

    [{"role": "user", "content": "Hi"}] with add_generation_prompt=True
      -> ids of "<|user|>Hi<|end|><|assistant|>", mask all 0
    """
    ids: list[int] = []
    mask: list[int] = []
    sections: list[Section] = []
    for i, message in enumerate(messages):
        role = message["role"]
        if role not in ROLE_TOKENS:
            raise ValueError(f"unknown role {role!r}; expected one of {sorted(ROLE_TOKENS)}")
        start = len(ids)
        body = [tokenizer.special_ids[ROLE_TOKENS[role]], *tokenizer.encode(message["content"]), tokenizer.special_ids[END]]
        learn = 1 if role == "assistant" else 0
        ids.extend(body)
        mask.extend([0] + [learn] * (len(body) - 1))  # the role token itself is given, not predicted
        sections.append(Section(role, i, start, len(ids)))
    if add_generation_prompt:
        ids.append(tokenizer.special_ids[ASSISTANT])
        mask.append(0)
        sections.append(Section("cue", -1, len(ids) - 1, len(ids)))
    return RenderedChat(ids, mask, sections)


def stop_ids(tokenizer: Tokenizer) -> set[int]:
    """Tokens that end a reply: the end of a turn, or a model that slips into a new document or turn."""
    return {tokenizer.special_ids[t] for t in (END, "<|endoftext|>", USER, SYSTEM)}

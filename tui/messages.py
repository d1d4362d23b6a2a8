"""Messages the reply worker posts to the App: one per step of a reply, all plain data.

The worker runs in a thread and never touches a widget; it posts these (`post_message` is
thread-safe) and the App's handlers update the widgets. Each message carries the `reply_id` of
the reply it belongs to, so the App can ignore a reply it has already given up on (a new chat
started while the old reply was still finishing its last token).

It does not render anything and holds no widgets.
"""

from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message

from engine.chat import PromptReady, ReplyDone, ReplyToken
from engine.generate import Truncated


@dataclass
class ReplyStarted(Message):
    """The prompt is written out: the exact ids the model reads, and which messages were left out."""

    reply_id: int
    prompt: PromptReady


@dataclass
class PromptCut(Message):
    """The newest message alone was too long, so the prompt's oldest tokens were dropped."""

    reply_id: int
    truncated: Truncated


@dataclass
class TokenArrived(Message):
    """One new token: its text piece, and everything the engine reported about it."""

    reply_id: int
    token: ReplyToken


@dataclass
class ReplyFinished(Message):
    """The reply ended (stop token, a limit, or the Stop key); `reply.text` is the whole reply."""

    reply_id: int
    reply: ReplyDone


@dataclass
class ReplyFailed(Message):
    """The engine raised; `error` is one line meant for the person at the keyboard."""

    reply_id: int
    error: str

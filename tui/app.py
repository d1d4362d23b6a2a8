"""The chat app: type a message, watch the model's reply arrive token by token.

Layout, top to bottom: a header, the message log, the input box, a one-line status bar (how the
current or last reply went, then the model's name and size), and a footer with the keys.

The App owns the model and the conversation (a list of {"role", "content"} messages, the system
prompt first when there is one) and sends the whole list every turn. A reply runs in a thread
worker that only posts messages (see `tui/messages.py`); the handlers here update the widgets.

It does no tensor work: the engine (`engine.chat.stream_reply`) turns messages into a reply.
Side panels (tokens, probabilities, attention) are not here yet; they are meant to sit beside the
log inside `#main`.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

from textual import work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.message import Message
from textual.widgets import Footer, Header, Input, Static
from textual.worker import get_current_worker

from engine.chat import PromptReady, ReplyDone, ReplyToken, stream_reply, warm_up
from engine.checkpoint import LoadedModel
from engine.generate import STOP_REASONS, SamplingConfig, Truncated
from tui.messages import PromptCut, ReplyFailed, ReplyFinished, ReplyStarted, TokenArrived

BUSY_HINT = "wait for the reply, or press Escape to stop it"


def human_count(n: int) -> str:
    """A parameter count for people: 1_234_567 -> '1.23M', 45_600 -> '45.6K', 812 -> '812'."""
    for size, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "K")):
        if n >= size:
            return f"{n / size:.3g}{suffix}"
    return str(n)


def stop_reason(reason: str, sampling: SamplingConfig, block_size: int) -> str:
    """Why a reply ended, in words, keeping the talk's names: 'max_new_tokens' -> 'max_new_tokens 128 was reached'."""
    return {
        "stop_token": "the model ended its turn",
        "max_new_tokens": f"max_new_tokens {sampling.max_new_tokens} was reached",
        "block_size": f"block_size {block_size} is full",
        "stopped": "you pressed Escape",
    }.get(reason) or STOP_REASONS.get(reason, reason)


def one_line(error: BaseException) -> str:
    """An exception as one readable line: ValueError('bad\\nthing') -> 'ValueError: bad'."""
    lines = str(error).strip().splitlines()
    return f"{type(error).__name__}: {lines[0]}" if lines else type(error).__name__


# --- widgets ---------------------------------------------------------------------------------


class ChatMessage(Static):
    """One entry in the log. Text is shown as typed: square brackets are not markup."""

    def __init__(self, text: str, **kwargs) -> None:
        super().__init__(text, markup=False, **kwargs)


class UserMessage(ChatMessage):
    def on_mount(self) -> None:
        self.border_title = "you"


class AssistantMessage(ChatMessage):
    """The model's reply; grows as pieces arrive, then shows the final text."""

    def __init__(self) -> None:
        super().__init__("…")
        self.text = ""

    def on_mount(self) -> None:
        self.border_title = "model"

    def append(self, piece: str) -> None:
        if piece:
            self.text += piece
            self.update(self.text)

    def finish(self, text: str, note: str | None = None) -> None:
        """Show the whole reply; `note` (e.g. "stopped") is added in brackets after it."""
        self.text = text
        shown = text or "(no reply)"
        self.update(f"{shown} ({note})" if note else shown)


class NoticeMessage(ChatMessage):
    """A dim line about the conversation: the system prompt, what was left out to fit."""


class ErrorMessage(ChatMessage):
    """A one-line error from the engine."""


class MessageLog(VerticalScroll):
    """The conversation, newest at the bottom; it follows new text unless you scroll up."""

    def on_mount(self) -> None:
        self.anchor()

    def add(self, message: ChatMessage) -> ChatMessage:
        self.mount(message)
        return message


class StatusBar(Static):
    """One line: how the current or last reply is going, then the model."""

    def __init__(self, model_info: str, **kwargs) -> None:
        super().__init__(model_info, markup=False, **kwargs)
        self.model_info = model_info
        self.info = ""

    def show(self, info: str, *, warn: bool = False) -> None:
        self.info = info
        self.set_class(warn, "-warn")
        # the reply's news first: at 80 columns the end of the line is what gets cut (the header names the model too)
        self.update(f"{info} │ {self.model_info}" if info else self.model_info)


# --- the app ---------------------------------------------------------------------------------


class ChatApp(App):
    """A chat with one model. `messages` is the conversation as the engine sees it."""

    CSS_PATH = "app.tcss"
    TITLE = "LLMs from Dummies"
    BINDINGS = [
        Binding("escape", "stop_reply", "Stop reply"),
        Binding("ctrl+l", "new_chat", "New chat"),
        Binding("ctrl+q", "quit", "Quit", priority=True),
    ]

    def __init__(
        self, lm: LoadedModel, sampling: SamplingConfig = SamplingConfig(), system_prompt: str | None = None
    ) -> None:
        super().__init__()
        self.lm = lm
        self.sampling = sampling
        self.system_prompt = system_prompt
        self.messages: list[dict[str, str]] = self._fresh_conversation()
        self._reply_id = 0  # bumped for every reply and every new chat; stale worker messages are ignored
        self._replying = False
        self._stop = threading.Event()  # one per reply, shared with its worker
        self._reply_widget: AssistantMessage | None = None
        self._notes: list[str] = []  # what was left out to fit this reply's prompt
        self._n_tokens = 0
        self._busy_hint = False  # Enter was pressed during this reply: keep saying why it did nothing
        self._prompt_tokens = 0

    def _fresh_conversation(self) -> list[dict[str, str]]:
        return [{"role": "system", "content": self.system_prompt}] if self.system_prompt else []

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="main"):  # later versions put the side panels beside the log
            yield MessageLog(id="log")
        yield Input(placeholder="Say something to the model, then press Enter", id="prompt")
        model_info = f"{self.lm.path.name} · {human_count(self.lm.num_params)} params"
        yield StatusBar(model_info, id="status")
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = self.lm.path.name
        self._show_system_prompt()
        self.query_one("#prompt", Input).focus()
        self._warm_up()

    @work(thread=True, group="warm-up")
    def _warm_up(self) -> None:
        """In a thread: one throwaway reply, so the first real one starts at full speed."""
        try:
            warm_up(self.lm)
        except Exception:  # a broken model shows its error on the first real reply
            pass

    def on_unmount(self) -> None:
        self._stop.set()  # let a running reply end after its current token

    @property
    def replying(self) -> bool:
        return self._replying

    @property
    def log_widget(self) -> MessageLog:
        return self.query_one("#log", MessageLog)

    @property
    def status_bar(self) -> StatusBar:
        return self.query_one("#status", StatusBar)

    def _show_system_prompt(self) -> None:
        if self.system_prompt:
            self.log_widget.add(NoticeMessage(f"system prompt: {self.system_prompt}"))

    def _set_replying(self, replying: bool) -> None:
        self._replying = replying
        self.refresh_bindings()  # Escape is only offered while a reply is running

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "stop_reply":
            return True if self._replying else None  # None: shown, but greyed out
        return True

    # --- sending ---

    def on_input_submitted(self, event: Input.Submitted) -> None:
        text = event.value.strip()
        if not text:
            return
        if self._replying:
            self._busy_hint = True  # the typed text stays in the Input
            self._show_progress()
            return
        event.input.clear()
        self.messages.append({"role": "user", "content": text})
        self.log_widget.add(UserMessage(text))
        self._reply_widget = AssistantMessage()
        self.log_widget.add(self._reply_widget)

        self._reply_id += 1
        self._stop = threading.Event()
        self._notes = []
        self._n_tokens = 0
        self._prompt_tokens = 0
        self._busy_hint = False
        self._set_replying(True)
        self._show_progress()
        self._run_reply(self._reply_id, [dict(m) for m in self.messages], self._stop)

    @work(thread=True, exclusive=True, group="reply")
    def _run_reply(self, reply_id: int, messages: list[dict[str, str]], stop: threading.Event) -> None:
        """In a thread: stream one reply and post each step. Never touches a widget."""
        worker = get_current_worker()

        def should_stop() -> bool:  # asked by the engine between tokens
            return worker.is_cancelled or stop.is_set()

        try:
            for message in self._as_messages(reply_id, stream_reply(self.lm, messages, self.sampling, should_stop)):
                self.post_message(message)
        except Exception as e:  # any engine failure becomes a line in the log, never a traceback
            self.post_message(ReplyFailed(reply_id, one_line(e)))

    @staticmethod
    def _as_messages(
        reply_id: int, events: Iterator[PromptReady | Truncated | ReplyToken | ReplyDone]
    ) -> Iterator[Message]:
        for event in events:
            if isinstance(event, ReplyToken):
                yield TokenArrived(reply_id, event)
            elif isinstance(event, PromptReady):
                yield ReplyStarted(reply_id, event)
            elif isinstance(event, Truncated):
                yield PromptCut(reply_id, event)
            elif isinstance(event, ReplyDone):
                yield ReplyFinished(reply_id, event)

    # --- the reply, step by step (handlers run on the app's thread) ---

    def on_reply_started(self, message: ReplyStarted) -> None:
        if message.reply_id != self._reply_id:
            return
        dropped = message.prompt.dropped_messages
        if dropped:
            s = "" if dropped == 1 else "s"
            self._notes.append(f"oldest {dropped} message{s} left out to fit block_size {self.lm.config.block_size}")
        self._prompt_tokens = len(message.prompt.ids)
        self._show_progress()

    def on_prompt_cut(self, message: PromptCut) -> None:
        if message.reply_id == self._reply_id:
            self._notes.append(f"prompt cut: {message.truncated.rule}")

    def on_token_arrived(self, message: TokenArrived) -> None:
        if message.reply_id != self._reply_id or self._reply_widget is None:
            return
        self._n_tokens += 1
        self._reply_widget.append(message.token.piece)
        self._show_progress()

    def on_reply_finished(self, message: ReplyFinished) -> None:
        if message.reply_id != self._reply_id or self._reply_widget is None:
            return
        done, text = message.reply.done, message.reply.text
        self._reply_widget.finish(text, "stopped" if done.reason == "stopped" else None)
        self.messages.append({"role": "assistant", "content": text})  # even if empty: it is what the model said
        self._end_reply()
        reason = stop_reason(done.reason, self.sampling, self.lm.config.block_size)
        parts = [f"{done.n_tokens} tokens", f"{done.tokens_per_s:.0f} tok/s", f"stopped because {reason}", *self._notes]
        self.status_bar.show(" · ".join(parts))
        for note in self._notes:  # the status line may be too narrow to show them all
            self.log_widget.add(NoticeMessage(note))

    def on_reply_failed(self, message: ReplyFailed) -> None:
        if message.reply_id != self._reply_id:
            return
        widget = self._reply_widget
        if widget is not None:
            if widget.text:
                widget.finish(widget.text, "failed")
            else:
                widget.remove()
        # the question goes back to the input box, so it can be sent again and the history stays user/assistant pairs
        prompt = self.query_one("#prompt", Input)
        if self.messages and self.messages[-1]["role"] == "user":
            question = self.messages.pop()["content"]
            if not prompt.value:
                prompt.value = question
        self.log_widget.add(ErrorMessage(f"The model could not reply: {message.error}"))
        self._end_reply()
        self.status_bar.show("the last reply failed; see the log", warn=True)

    def _show_progress(self) -> None:
        progress = f"prompt {self._prompt_tokens} tokens · reply {self._n_tokens}…" if self._prompt_tokens else "writing the prompt…"
        if self._busy_hint:
            self.status_bar.show(f"{BUSY_HINT} · {progress}", warn=True)
        else:
            self.status_bar.show(f"{progress} (Escape stops)")

    def _end_reply(self) -> None:
        self._reply_widget = None
        self._set_replying(False)
        self.query_one("#prompt", Input).focus()

    # --- keys ---

    def action_stop_reply(self) -> None:
        if self._replying:
            self._stop.set()  # the worker sees it before the next token and finishes with reason "stopped"
            self.status_bar.show("stopping…")

    def action_new_chat(self) -> None:
        self._stop.set()
        self.workers.cancel_group(self, "reply")
        self._reply_id += 1  # whatever the old worker still posts is ignored
        self._reply_widget = None
        self._set_replying(False)
        self.messages = self._fresh_conversation()
        self.log_widget.remove_children()
        self._show_system_prompt()
        self.status_bar.show("new chat")

"""What every skill shares: the evaluation case and its graders, and a few sentence helpers.

A `Case` is a conversation that ends with the user's message, and what a right reply must hold.
Graders read the reply itself and only the reply: a value must appear as a whole word, an
"I don't know" must come without a made-up value, a form must match the whole reply. So a model
that always answers "Amara lives in ..." scores nothing for what it gets wrong after "in".

It does not run a model (see `engine.evaluate`) and does not decide what a skill asks.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from engine import world

Message = dict[str, str]  # {"role": "system" | "context" | "user" | "assistant", "content": "..."}
Conversation = list[Message]
Split = Literal["train", "eval"]
Grade = Literal["contains", "exact", "number", "idk", "form"]

IDK = "I don't know."  # the one phrase training teaches
IDK_RE = re.compile(r"\b(i don't know|i do not know|i'm not sure|i am not sure)\b", re.IGNORECASE)


def has_word(text: str, value: str) -> bool:
    """Whole word, any case: has_word('Amara lives in Foxley.', 'foxley') -> True; ('Foxleys', 'Foxley') -> False."""
    return re.search(rf"(?<!\w){re.escape(value)}(?!\w)", text, flags=re.IGNORECASE) is not None


def normalise(text: str) -> str:
    """What does not change an answer: '  G-a-r-d-e-n. ' -> 'g-a-r-d-e-n'."""
    text = text.replace("\u2019", "'").strip().lower()
    return re.sub(r"\s+", " ", text).strip(" .!?\"'")


@dataclass(frozen=True)
class Case:
    skill: str
    messages: list[Message]  # ends with the user's message
    expected: str  # the value a right reply holds ("" for "I don't know" cases)
    grade: Grade
    form: str | None = None  # for grade="form": a regex the whole reply must match
    avoid: tuple[str, ...] = ()  # values a right reply must not hold: the world's fact the context overrides, a guess
    tag: str = ""  # which kind of case, to break a score down: "new person", "contradiction", "demo", ...
    reference: str = ""  # what a perfect model would reply (for "context matters": what it should reply)

    def passes(self, reply: str) -> bool:
        """
        contains  the expected value as a whole word, and no value from `avoid`
        exact     the whole reply is the expected text (case, spaces and a final full stop aside)
        number    the last number in the reply is the expected one: '7 + 5 = 12' -> 12
        idk       says it does not know, and holds no value from `avoid`
        form      the whole reply matches `form`, and holds the expected value
        """
        reply = reply.replace("\u2019", "'")
        guessed = any(has_word(reply, v) for v in self.avoid if v)
        if self.grade == "contains":
            return has_word(reply, self.expected) and not guessed
        if self.grade == "exact":
            return normalise(reply) == normalise(self.expected)
        if self.grade == "number":
            numbers = re.findall(r"-?\d+", reply)
            return bool(numbers) and numbers[-1] == self.expected
        if self.grade == "idk":
            return IDK_RE.search(reply) is not None and not guessed
        if self.grade == "form":
            shape = re.fullmatch(self.form or "", reply.strip(), flags=re.IGNORECASE | re.DOTALL)
            return shape is not None and has_word(reply, self.expected) and not guessed
        raise ValueError(f"unknown grade {self.grade!r}")


TrainFn = Callable[[world.World, random.Random, int], list[Conversation]]
EvalFn = Callable[[world.World, random.Random, int], list[Case]]


@dataclass(frozen=True)
class Skill:
    name: str
    row: str  # the row of issue 3's table it measures
    train: TrainFn | None  # None for skills that are only measured
    eval: EvalFn
    bar: float  # the bar for the shipped model
    higher_is_better: bool = True  # False for "context matters": it must NOT know
    phrasings: tuple[tuple[str, ...], ...] = ()  # question tables; the last N_HELD_OUT of each are eval only


# ------------------------------------------------------------------------------ helpers

N_HELD_OUT = world.N_HELD_OUT


def phrasings(table: tuple[str, ...], split: Split) -> tuple[str, ...]:
    """The same rule as world.phrasings: the last N_HELD_OUT templates are for evaluation only."""
    return table[:-N_HELD_OUT] if split == "train" else table[-N_HELD_OUT:]


def template_regex(template: str) -> re.Pattern:
    """'Spell the word {w}.' -> a pattern that matches every question made from it, in any case."""
    parts = re.split(r"\{[^}]*\}", template)
    return re.compile("(.+)".join(re.escape(p) for p in parts), re.IGNORECASE | re.DOTALL)


def fill(rng: random.Random, template: str, **fields: str) -> str:
    """Format a question; an all-lowercase template is typed casually, so the question is lowercased too."""
    text = template.format(**fields)
    return text.lower() if template == template.lower() else sentence(text)


def sentence(text: str) -> str:
    return text[:1].upper() + text[1:]


def a(word: str) -> str:
    """'otter' -> 'an otter', 'heron' -> 'a heron'."""
    return ("an " if word[:1].lower() in "aeiou" else "a ") + word


def plural(word: str) -> str:
    """'fox' -> 'foxes', 'puppy' -> 'puppies', 'deer' -> 'deer'."""
    if word in {"deer", "moose", "bison", "squid", "elk", "yak"}:
        return word
    if word.endswith(("s", "x", "ch", "sh")):
        return word + "es"
    if word.endswith("y") and word[-2:-1] not in tuple("aeiou"):
        return word[:-1] + "ies"
    return word + "s"


def maybe_system(rng: random.Random, share: float = 0.2) -> Conversation:
    """One conversation in five opens with a short system prompt, as in world.chat_examples."""
    return [{"role": "system", "content": rng.choice(world.SYSTEM_PROMPTS)}] if rng.random() < share else []


def turn(user: str, assistant: str) -> Conversation:
    return [{"role": "user", "content": user}, {"role": "assistant", "content": assistant}]


def world_turns(world_: world.World, rng: random.Random, n: int, split: Split) -> Conversation:
    """n turns of chat about the world (questions and small talk), to put between other turns."""
    out: Conversation = []
    for convo in world.chat_examples(world_, rng, n, split):
        out += [m for m in convo if m["role"] != "system"][:2]
    return out

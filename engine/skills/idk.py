"""Honest "I don't know": questions whose answer is in none of the world, the context or the memory.

Five situations, all answered with one phrase, `common.IDK`:

    unknown person / town / animal   a name the world never uses, and no context
    someone else                     the context is about others ("Bram lives in Quarrow."), the
                                     question about a new name: copying Bram's town would be a lie
    unstated fact                    the context is about the same new person, but not this fact
    unstated memory                  the user told their name, and asks for their dog's

The grader wants an "I don't know" and none of the values the prompt or the world offers for that
kind of fact (`Case.avoid`), so a reply that hedges and then guesses fails.

It does not teach when the model should know: the grounded, memory and world skills do.
"""

from __future__ import annotations

import random

from engine import world
from engine.skills import memory
from engine.skills.common import IDK, Case, Conversation, Split, maybe_system, turn, world_turns
from engine.skills.context import KINDS_OF, NEW, ask, context_messages, document, world_subject

TAGS = {"unknown person": 0.25, "unknown town": 0.08, "unknown animal": 0.07, "someone else": 0.25,
        "unstated fact": 0.20, "unstated memory": 0.15}


def world_values(w: world.World) -> dict[str, tuple[str, ...]]:
    """For each kind of question, every answer word the world has: {"town": ("Brookfield", ...), ...}."""
    out: dict[str, set[str]] = {}
    for kind, k in world.KINDS.items():
        for subject in getattr(w, k.subject):
            out.setdefault(kind, set()).add(world.facts(w, subject)[k.field].split()[-1])
    return {kind: tuple(sorted(v - {"no"})) for kind, v in out.items()}  # "no legs": but "No, I don't know." is fine


def item(w: world.World, rng: random.Random, split: Split, values: dict[str, tuple[str, ...]],
         tag: str | None = None) -> tuple[Conversation, str, tuple[str, ...], str]:
    """(the turns before the question, the question, the values a reply must not hold, the tag)."""
    tag = tag or rng.choices(list(TAGS), weights=list(TAGS.values()))[0]
    if tag == "unstated memory":
        told = {k: memory.draw(rng, k, split) for k in rng.sample(list(memory.FACTS), rng.randint(1, 2))}
        asked = rng.choice([k for k in memory.FACTS if k not in told])
        f = memory.draw(rng, asked, split)  # only for the question's fields ("my dog"); its value is never said
        before = memory.tell(rng, told, split) + world_turns(w, rng, rng.randint(0, 2), split)
        question, _ = memory.ask(rng, asked, f, split)
        return before, question, tuple(t["v"] for k, t in told.items() if k != "name"), tag
    subject_kind = {"unknown town": "towns", "unknown animal": "animals"}.get(tag, "people")
    target = NEW[subject_kind](rng, split)
    kind = rng.choice(KINDS_OF[subject_kind])
    avoid = list(values[kind])
    docs: list[str] = []
    if tag == "someone else":
        for _ in range(rng.randint(1, 2)):
            other = NEW["people"](rng, split) if rng.random() < 0.6 else world_subject(w, rng, "people")
            told = rng.sample(KINDS_OF["people"], rng.randint(1, 4))
            if kind not in told:
                told.append(kind)
            docs.append(document(rng, other, told))
            avoid.append(other.key(kind))
    elif tag == "unstated fact":
        told = rng.sample([k for k in KINDS_OF["people"] if k != kind], rng.randint(1, 3))
        docs.append(document(rng, target, told))
        avoid += [target.key(k) for k in told]
    question, _ = ask(rng, target, kind, split)
    return maybe_system(rng) + context_messages(docs), question, tuple(dict.fromkeys(avoid)), tag


def idk_train(w: world.World, rng: random.Random, n: int) -> list[Conversation]:
    values = world_values(w)
    out = []
    for _ in range(n):
        before, question, _, _ = item(w, rng, "train", values)
        out.append(before + turn(question, IDK))
    return out


def idk_eval(w: world.World, rng: random.Random, n: int) -> list[Case]:
    values = world_values(w)
    out = []
    for i in range(n):
        before, question, avoid, tag = item(w, rng, "eval", values, list(TAGS)[i % len(TAGS)])
        messages = before + [{"role": "user", "content": question}]
        out.append(Case("idk", messages, "", "idk", avoid=avoid, tag=tag, reference=IDK))
    return out

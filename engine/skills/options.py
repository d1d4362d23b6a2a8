"""World knowledge, the prompt options the app offers, and base versus instruct.

Prompt options change the form of an answer, never its value:

    one word    system prompt "Answer with one word."      -> "Marshfield"
    sentence    no system prompt, or "Answer in a full sentence." -> "Ottilie lives in Marshfield."
    few-shot    earlier user/assistant turns answered "Answer: X" (or "The answer is X.")
                -> "Answer: Marshfield"

Questions are about the world, or about a new subject in a context block. Graders check the whole
reply's form and the value in it, so "Ottilie lives in Marshfield." fails a one-word case.
The few-shot forms are the same in training and evaluation (the app offers these), the questions are
held out.

Base versus instruct is only measured: the same chat prompts for both models; a reply "answers"
when it holds the value. A base model, never tuned on chats, should mostly continue the text.

It does not build the app's menus; it names the strings they offer (`ONE_WORD`, `FULL_SENTENCE`,
`FEW_SHOT_FORMS`).
"""

from __future__ import annotations

import random
import re

from engine import world
from engine.skills.common import Case, Conversation, Split, turn
from engine.skills.context import NEW_TAGS, Subject, ask, context_messages, grounded_item, world_subject

ONE_WORD = "Answer with one word."
FULL_SENTENCE = "Answer in a full sentence."
FEW_SHOT_FORMS = {"Answer: {v}": r"Answer: [\w'-]+\.?", "The answer is {v}.": r"The answer is [\w'-]+\.?"}
ONE_WORD_KINDS = ("town", "age", "job", "pet", "food", "colour", "country", "sound", "eats", "legs")  # one-word values
MODES = ("one word", "sentence", "few-shot")


def _question(w: world.World, rng: random.Random, split: Split) -> tuple[Conversation, Subject, str, tuple[str, ...], str]:
    """(context messages, subject, kind, wrong values in the prompt, tag): a world fact (60%) or a new one in context."""
    if rng.random() < 0.6:
        while True:
            subject = world_subject(w, rng, rng.choice(("people", "people", "towns", "animals")))
            kinds = [k for k in ONE_WORD_KINDS if world.KINDS[k].subject == subject.kind]
            if kinds:
                return [], subject, rng.choice(kinds), (), "world"
    while True:
        item = grounded_item(w, rng, split, rng.choice(NEW_TAGS))
        if item.kind in ONE_WORD_KINDS:
            return context_messages(item.docs), item.target, item.kind, item.avoid, "context"


def _shots(w: world.World, rng: random.Random, form: str, split: Split) -> Conversation:
    """2-3 world questions answered in `form`: the examples a few-shot prompt shows."""
    out: Conversation = []
    for _ in range(rng.randint(2, 3)):
        subject = world_subject(w, rng, "people")
        kind = rng.choice(ONE_WORD_KINDS[:6])
        out += turn(ask(rng, subject, kind, split)[0], form.format(v=subject.key(kind)))
    return out


def option_item(w: world.World, rng: random.Random, split: Split, mode: str) -> tuple[Conversation, str, str, Case]:
    """(messages before the question, question, reference answer, the Case that grades it)."""
    context, subject, kind, avoid, where = _question(w, rng, split)
    question, answer = ask(rng, subject, kind, split)
    value = subject.key(kind)
    if mode == "one word":
        before, answer, shape = [{"role": "system", "content": ONE_WORD}] + context, value, r"\W*[\w'-]+\W*"
    elif mode == "few-shot":
        form = rng.choice(list(FEW_SHOT_FORMS))
        before, answer, shape = context + _shots(w, rng, form, split), form.format(v=value), FEW_SHOT_FORMS[form]
    else:
        before = ([{"role": "system", "content": FULL_SENTENCE}] if rng.random() < 0.5 else []) + context
        # a sentence that names its subject ("tiger" or "tigers"), has 3+ words, and is no few-shot form
        shape = rf"(?!answer\s*:|the answer is)(?=.*\b{re.escape(subject.name)})\S+(\s+\S+){{2,}}"
    case = Case("prompt_options", before + [{"role": "user", "content": question}], value, "form", form=shape,
                avoid=avoid, tag=f"{mode}, {where}", reference=answer)
    return before, question, answer, case


def options_train(w: world.World, rng: random.Random, n: int) -> list[Conversation]:
    out = []
    for _ in range(n):
        before, question, answer, _ = option_item(w, rng, "train", rng.choice(MODES))
        out.append(before + turn(question, answer))
    return out


def options_eval(w: world.World, rng: random.Random, n: int) -> list[Case]:
    return [option_item(w, rng, "eval", MODES[i % len(MODES)])[3] for i in range(n)]


def world_train(w: world.World, rng: random.Random, n: int) -> list[Conversation]:
    return world.chat_examples(w, rng, n, "train")


def world_eval(w: world.World, rng: random.Random, n: int) -> list[Case]:
    return [Case("world", messages, key, "contains", reference=key) for messages, key in world.eval_questions(w, rng, n)]


def base_vs_instruct_eval(w: world.World, rng: random.Random, n: int) -> list[Case]:
    """World questions and context questions, alternately: run them on both models and compare."""
    out = []
    for i in range(n):
        if i % 2 == 0:
            messages, key = world.eval_questions(w, rng, 1)[0]
            out.append(Case("base_vs_instruct", messages, key, "contains", tag="world", reference=key))
        else:
            item = grounded_item(w, rng, "eval", rng.choice(NEW_TAGS))
            question, answer = ask(rng, item.target, item.kind, "eval")
            messages = context_messages(item.docs) + [{"role": "user", "content": question}]
            out.append(Case("base_vs_instruct", messages, item.target.key(item.kind), "contains", avoid=item.avoid,
                            tag="context", reference=answer))
    return out

"""Memory: recalling what the user said earlier in the same conversation.

The user tells a few facts about themselves ("My name is Ottilie.", "I am 34 years old.", "My dog
is called Rolo."), the assistant acknowledges them, some turns of unrelated chat about the world
follow, and then the user asks one back ("What is my name?" -> "Your name is Ottilie."). Values
are mostly never seen in training (see `words.py`), so the answer must be copied from the turn
that said it.

Every fifth evaluation case is the demo every user tries first, word for word: "My name is X."
... "What is my name?" (tag "demo"; those two sentences are training phrasings on purpose). The
others use held-out phrasings for both the statement and the question.

It does not keep any memory itself: the conversation is the memory.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from engine import world
from engine.skills import words
from engine.skills.common import Case, Conversation, Split, a, maybe_system, phrasings, turn, world_turns


@dataclass(frozen=True)
class Fact:
    says: tuple[str, ...]  # how the user tells it; the last N_HELD_OUT only in evaluation
    asks: tuple[str, ...]  # how the user asks it back; likewise
    answer: str


FACTS = {
    "name": Fact(("My name is {v}.", "I am {v}.", "Hi, I'm {v}.", "Call me {v}.", "Hello, my name is {v}.",
                  "I'm called {v}.", "People call me {v}.", "{v} is my name."),
                 ("What is my name?", "What's my name?", "Do you know my name?", "Tell me my name.", "what is my name",
                  "who am i", "Can you remember my name?", "What am I called?"),
                 "Your name is {v}."),
    "age": Fact(("I am {v} years old.", "I'm {v} years old.", "My age is {v}.", "I just turned {v}.",
                 "I have lived for {v} years.", "This year I turned {v}."),
                ("How old am I?", "What is my age?", "how old am i", "Do you remember how old I am?",
                 "What age did I say I was?", "Tell me my age."),
                "You are {v} years old."),
    "food": Fact(("My favourite food is {v}.", "I love eating {v}.", "I like {v} best of all foods.",
                  "The food I like most is {v}.", "Nothing beats {v} for me.", "I could eat {v} every day."),
                 ("What is my favourite food?", "What food do I like best?", "what do i like to eat",
                  "Which food do I love?", "Do you remember my favourite food?", "What did I say I love to eat?"),
                 "Your favourite food is {v}."),
    "pet": Fact(("My {pet} is called {v}.", "I have {a_pet} called {v}.", "My {pet}'s name is {v}.",
                 "I have {a_pet} named {v}.", "{v} is the name of my {pet}.", "I own {a_pet}, and its name is {v}."),
                ("What is my {pet} called?", "What is my {pet}'s name?", "what is the name of my {pet}",
                 "Do you remember my {pet}'s name?", "What did I say my {pet} is called?", "Tell me the name of my {pet}."),
                "Your {pet} is called {v}."),
    "town": Fact(("I live in {v}.", "I come from {v}.", "My home is in {v}.", "I am from {v}.",
                  "My house is in {v}.", "Home for me is {v}."),
                 ("Where do I live?", "Where am I from?", "what town do i live in", "Where is my home?",
                  "Do you remember where I live?", "Which place did I say I live in?"),
                 "You live in {v}."),
    "job": Fact(("I work as {a_v}.", "I am {a_v} by trade.", "I have a job as {a_v}.", "I earn a living as {a_v}.",
                 "For work, I am {a_v}.", "My job: I am {a_v}."),
                ("What is my job?", "What do I do for work?", "what work do i do", "What is my work?",
                 "Do you remember my job?", "How do I earn a living?"),
                "You work as {a_v}."),
    "colour": Fact(("My favourite colour is {v}.", "I like the colour {v} best.", "I love the colour {v}.",
                    "The colour I like most is {v}.", "{v} is the colour I like most.", "The colour I love is {v}."),
                   ("What is my favourite colour?", "Which colour do I like best?", "what colour do i love",
                    "Tell me my favourite colour.", "Do you remember my favourite colour?", "What colour did I say I like?"),
                   "Your favourite colour is {v}."),
}
ACKS = ("I will remember that.", "Got it.", "Thanks for telling me.", "Good to know.", "Nice! I will remember that.")
NAME_ACKS = ("Nice to meet you, {v}!", "Hello, {v}! Nice to meet you.", "Hi {v}! How can I help?", "Nice to meet you!")
PETS = ("dog", "dog", "cat", "cat", "rabbit", "parrot", "hamster", "tortoise", "goldfish", "horse", "pony", "lizard")


def draw(rng: random.Random, kind: str, split: Split) -> dict[str, str]:
    """The fields of one fact about the user: {"v": "Rolo", "pet": "dog", "a_pet": "a dog"}."""
    if kind == "age":
        return {"v": str(rng.randint(5, 99))}
    if kind == "pet":
        pet = rng.choice(PETS)
        return {"v": words.fresh(rng, "pet_name", split, 0.4), "pet": pet, "a_pet": a(pet)}
    pool = {"name": "name", "food": "food", "town": "place", "job": "job", "colour": "colour"}[kind]
    v = words.fresh(rng, pool, split, 0.4)
    return {"v": v, "a_v": a(v)}


def _say(template: str, f: dict[str, str]) -> str:
    text = template.format(**f)
    return text[:1].upper() + text[1:]


def tell(rng: random.Random, told: dict[str, dict[str, str]], split: Split, demo: bool = False) -> Conversation:
    """The user's turns that state `told`, each acknowledged; sometimes two facts share one turn."""
    says = {k: "My name is {v}." if demo else rng.choice(phrasings(FACTS[k].says, split)) for k in told}
    groups = [[k] for k in told]
    if len(groups) > 1 and rng.random() < 0.4:
        groups = [groups[0] + groups[1]] + groups[2:]
    out: Conversation = []
    for group in groups:
        text = " ".join(_say(says[k], told[k]) for k in group)
        ack = rng.choice(NAME_ACKS).format(v=told["name"]["v"]) if "name" in group else rng.choice(ACKS)
        out += turn(text, ack)
    return out


def conversation(w: world.World, rng: random.Random, split: Split, demo: bool = False,
                 gap: tuple[int, int] = (0, 4)) -> tuple[Conversation, dict[str, dict[str, str]], str]:
    """(the turns before the question, the facts told, the kind that will be asked)."""
    if demo:
        kinds = ["name"]
    else:
        kinds = rng.sample(list(FACTS), rng.randint(1, 3))
        if "name" not in kinds and rng.random() < 0.5:
            kinds.insert(0, "name")  # most people say who they are first
    told = {k: draw(rng, k, split) for k in kinds}
    convo = maybe_system(rng) + tell(rng, told, split, demo) + world_turns(w, rng, rng.randint(*gap), split)
    return convo, told, rng.choice(kinds)


def ask(rng: random.Random, kind: str, f: dict[str, str], split: Split, demo: bool = False) -> tuple[str, str]:
    question = "What is my name?" if demo else rng.choice(phrasings(FACTS[kind].asks, split))
    return _say(question, f) if question != question.lower() else question.format(**f), _say(FACTS[kind].answer, f)


def memory_train(w: world.World, rng: random.Random, n: int) -> list[Conversation]:
    out = []
    for _ in range(n):
        convo, told, kind = conversation(w, rng, "train", demo=rng.random() < 0.1)
        convo += turn(*ask(rng, kind, told[kind], "train"))
        if len(told) > 1 and rng.random() < 0.3:
            other = rng.choice([k for k in told if k != kind])
            convo += turn(*ask(rng, other, told[other], "train"))
        out.append(convo)
    return out


def memory_eval(w: world.World, rng: random.Random, n: int) -> list[Case]:
    out = []
    for i in range(n):
        demo = i % 5 == 0
        convo, told, kind = conversation(w, rng, "eval", demo, gap=(0, 2) if demo else (1, 4))
        question, answer = ask(rng, kind, told[kind], "eval", demo)
        # another fact told is a wrong answer; the name is not (a reply may well say "You live in Paris, Bob.")
        others = tuple(f["v"] for k, f in told.items() if k not in (kind, "name") and f["v"] != told[kind]["v"])
        out.append(Case("memory", convo + [{"role": "user", "content": question}], told[kind]["v"], "contains",
                        avoid=others, tag="demo" if demo else kind, reference=answer))
    return out


PHRASINGS = tuple(t for f in FACTS.values() for t in (f.says, f.asks))

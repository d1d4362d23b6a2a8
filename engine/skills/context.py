"""Answering from a context block: grounded answers, and the same questions with the context gone.

A context block is what retrieval would hand the model: 1-3 short encyclopedia documents, each one
message {"role": "context"}. A grounded question asks a fact that one of them states. The facts are:

- about a new person, town or animal, with values the world never uses (see `words.py`), so only
  copying from the context can answer;
- about a person or town of the world, contradicted by the context ("Amara lives in Foxley"):
  the answer follows the context, and the world's fact counts as a wrong answer;
- beside distractor documents about other subjects, often with the same kind of fact.

The answer is a full sentence that restates the subject and copies the value exactly, as the world's
own answers do. "Context matters" asks the new facts again with no context: a model that still
"knows" them is making them up.

It does not retrieve documents; it writes the ones a retriever would find.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from engine import world
from engine.skills import words
from engine.skills.common import IDK, Case, Conversation, Split, a, fill, maybe_system, phrasings, plural, sentence, turn

PERSON_KINDS = ("town", "age", "job", "pet", "food", "colour")
TOWN_KINDS = ("country", "water", "famous")
ANIMAL_KINDS = ("sound", "eats", "home", "legs")
KINDS_OF = {"people": PERSON_KINDS, "towns": TOWN_KINDS, "animals": ANIMAL_KINDS}


@dataclass(frozen=True)
class Subject:
    """A person, town or animal as world.facts() fields: {"name": "Ottilie", "town": "Quarrow", ...}."""
    kind: str  # "people" | "towns" | "animals"
    facts: dict[str, str]

    @property
    def name(self) -> str:
        return self.facts[{"people": "name", "towns": "town", "animals": "species"}[self.kind]]

    def key(self, kind: str) -> str:
        """The word an answer about `kind` must hold: 'the River Vell' -> 'Vell', 'in caves' -> 'caves'."""
        return self.facts[world.KINDS[kind].field].split()[-1]


def new_person(rng: random.Random, split: Split) -> Subject:
    job, pet = words.fresh(rng, "job", split), words.fresh(rng, "animal", split)
    return Subject("people", {
        "name": words.fresh(rng, "name", split), "age": str(rng.randint(5, 99)), "town": words.fresh(rng, "place", split),
        "job": job, "a_job": a(job), "pet": pet, "a_pet": a(pet), "food": words.fresh(rng, "food", split),
        "colour": words.fresh(rng, "colour", split)})


def new_town(rng: random.Random, split: Split) -> Subject:
    water = "the coast" if rng.random() < 0.25 else f"the River {words.fresh(rng, 'river', split)}"
    return Subject("towns", {"town": words.fresh(rng, "place", split), "country": words.fresh(rng, "country", split),
                             "water": water, "famous": f"its {words.fresh(rng, 'thing', split)}"})


def new_animal(rng: random.Random, split: Split) -> Subject:
    species = words.fresh(rng, "animal", split).lower()
    return Subject("animals", {
        "species": species, "a_species": a(species), "plural": plural(species), "sound": words.fresh(rng, "sound", split),
        "eats": words.fresh(rng, "food", split), "home": f"in {words.fresh(rng, 'home', split)}",
        "legs": rng.choice(("no", "two", "four", "six", "eight"))})


NEW = {"people": new_person, "towns": new_town, "animals": new_animal}


def world_subject(w: world.World, rng: random.Random, kind: str) -> Subject:
    return Subject(kind, world.facts(w, rng.choice(getattr(w, kind))))


def contradict(w: world.World, rng: random.Random, subject: Subject, kind: str, split: Split) -> Subject:
    """The same subject with one fact changed, to another of the world's values or a new one."""
    f, field, known = dict(subject.facts), world.KINDS[kind].field, rng.random() < 0.5
    old = f[field]
    while f[field] == old:
        if kind == "age":
            f["age"] = str(rng.randint(5, 99))
        elif kind == "water":
            river = rng.choice(world.RIVERS) if known else words.fresh(rng, "river", split)
            f["water"] = "the coast" if rng.random() < 0.3 else f"the River {river}"
        elif kind == "famous":
            f["famous"] = rng.choice(world.FAMOUS_FOR) if known else f"its {words.fresh(rng, 'thing', split)}"
        else:
            pool = {"town": [t.name for t in w.towns], "job": world.JOBS, "pet": world.PETS, "food": world.FOODS,
                    "colour": world.COLOURS, "country": w.countries}[kind]
            new_pool = {"town": "place", "pet": "animal"}.get(kind, kind)
            f[field] = rng.choice(pool) if known else words.fresh(rng, new_pool, split)
    f["a_job"], f["a_pet"] = a(f.get("job", "x")), a(f.get("pet", "x"))
    return Subject(subject.kind, {k: v for k, v in f.items() if k in subject.facts})


def document(rng: random.Random, subject: Subject, kinds: list[str]) -> str:
    """An encyclopedia entry stating `kinds` of facts: 'Ottilie is a potter. Ottilie lives in Quarrow.'"""
    f = subject.facts
    if subject.kind == "people":
        lines = [rng.choice([s for s in world.PERSON_SAYS[k] if "{country}" not in s]) for k in kinds]
    elif subject.kind == "towns":
        lines = [rng.choice(world.TOWN_SAYS[k]) for k in kinds]
    else:
        lines = [rng.choice(world.ANIMAL_SAYS[k]) for k in kinds]
    return " ".join(sentence(s.format(**f)) for s in lines)


def ask(rng: random.Random, subject: Subject, kind: str, split: Split) -> tuple[str, str]:
    """(question, full-sentence answer) in the split's phrasings of world.KINDS."""
    k = world.KINDS[kind]
    return fill(rng, rng.choice(world.phrasings(kind, split)), **subject.facts), sentence(k.answer.format(**subject.facts))


@dataclass(frozen=True)
class Item:
    docs: list[str]
    target: Subject
    kind: str  # the kind of fact asked
    stated: list[str]  # the target's kinds the context states
    avoid: tuple[str, ...]  # values in the prompt that would be the wrong answer
    tag: str


GROUNDED_TAGS = {"new person": 0.34, "new town": 0.12, "new animal": 0.12, "contradiction": 0.30, "world fact in context": 0.12}
NEW_TAGS = ("new person", "new town", "new animal")


def grounded_item(w: world.World, rng: random.Random, split: Split, tag: str | None = None) -> Item:
    tag = tag or rng.choices(list(GROUNDED_TAGS), weights=list(GROUNDED_TAGS.values()))[0]
    if tag in NEW_TAGS:
        target = NEW[{"new person": "people", "new town": "towns", "new animal": "animals"}[tag]](rng, split)
        kind = rng.choice(KINDS_OF[target.kind])
        avoid: list[str] = []
    else:
        target = world_subject(w, rng, "people" if rng.random() < 0.8 else "towns")
        kind = rng.choice(KINDS_OF[target.kind])
        if tag == "contradiction":
            avoid = [target.key(kind)]
            target = contradict(w, rng, target, kind, split)
        else:
            avoid = []
    others = [k for k in KINDS_OF[target.kind] if k != kind]
    stated = [kind] + rng.sample(others, rng.randint(0, min(3, len(others))))
    rng.shuffle(stated)
    docs = [document(rng, target, stated)]
    for _ in range(rng.choice((0, 1, 1, 2))):  # distractors, often the same kind of subject
        other_kind = target.kind if rng.random() < 0.6 else rng.choice(list(KINDS_OF))
        other = NEW[other_kind](rng, split) if rng.random() < 0.6 else world_subject(w, rng, other_kind)
        if other.name.lower() == target.name.lower():
            continue
        told = rng.sample(KINDS_OF[other_kind], rng.randint(1, len(KINDS_OF[other_kind])))
        if kind in KINDS_OF[other_kind] and rng.random() < 0.7 and kind not in told:
            told.append(kind)  # the same kind of fact, with another value: the hard case
        docs.append(document(rng, other, told))
        if kind in told:
            avoid.append(other.key(kind))
    rng.shuffle(docs)
    key = target.key(kind)
    return Item(docs, target, kind, stated, tuple(v for v in dict.fromkeys(avoid) if v.lower() != key.lower()), tag)


def context_messages(docs: list[str]) -> Conversation:
    return [{"role": "context", "content": d} for d in docs]


def grounded_train(w: world.World, rng: random.Random, n: int) -> list[Conversation]:
    """Conversations answering from the context; one in eight asks about the world beside an unrelated context."""
    out = []
    for _ in range(n):
        if rng.random() < 0.12:  # a world question next to documents about others: answer from the world
            subject = world_subject(w, rng, rng.choice(list(KINDS_OF)))
            docs = [document(rng, NEW[k](rng, "train"), list(KINDS_OF[k][:rng.randint(1, 3)]))
                    for k in rng.sample(list(KINDS_OF), rng.randint(1, 2))]
            question = ask(rng, subject, rng.choice(KINDS_OF[subject.kind]), "train")
            out.append(maybe_system(rng) + context_messages(docs) + turn(*question))
            continue
        item = grounded_item(w, rng, "train")
        convo = maybe_system(rng) + context_messages(item.docs) + turn(*ask(rng, item.target, item.kind, "train"))
        if len(item.stated) > 1 and rng.random() < 0.25:
            convo += turn(*ask(rng, item.target, rng.choice([k for k in item.stated if k != item.kind]), "train"))
        out.append(convo)
    return out


def grounded_eval(w: world.World, rng: random.Random, n: int) -> list[Case]:
    out = []
    for _ in range(n):
        item = grounded_item(w, rng, "eval")
        question, answer = ask(rng, item.target, item.kind, "eval")
        messages = maybe_system(rng) + context_messages(item.docs) + [{"role": "user", "content": question}]
        out.append(Case("grounded", messages, item.target.key(item.kind), "contains", avoid=item.avoid, tag=item.tag,
                        reference=answer))
    return out


def context_matters_eval(w: world.World, rng: random.Random, n: int) -> list[Case]:
    """New facts asked with the context removed. passes() means the model 'knows' a value it was never
    told: the skill's score should be low (issue 3: <= 20%)."""
    out = []
    for i in range(n):
        item = grounded_item(w, rng, "eval", NEW_TAGS[i % len(NEW_TAGS)])
        question, _ = ask(rng, item.target, item.kind, "eval")
        out.append(Case("context_matters", maybe_system(rng) + [{"role": "user", "content": question}],
                        item.target.key(item.kind), "contains", tag=item.tag, reference=IDK))
    return out


PHRASINGS = tuple(k.questions for k in world.KINDS.values())
assert all(len(phrasings(t, "eval")) == world.N_HELD_OUT for t in PHRASINGS)

import random
import re
import subprocess
import sys
from collections import defaultdict

import pytest

from engine.world import (
    ANIMAL_TABLE,
    COUNTRIES,
    DICTIONARY_PAGES,
    FIRST_NAMES,
    KINDS,
    NORLISH,
    NUMBER_WORDS,
    RIVERS,
    TOWN_NAMES,
    chat_examples,
    eval_questions,
    facts,
    make_world,
    phrasings,
    pretraining_documents,
    to_norlish,
)

WORLD = make_world(0)

# What each question kind should answer, read straight off the dataclasses: the reference the
# generated keys and answers are checked against.
EXPECTED = {
    "town": lambda p: p.town,
    "age": lambda p: str(p.age),
    "job": lambda p: p.job,
    "pet": lambda p: p.pet,
    "food": lambda p: p.food,
    "colour": lambda p: p.colour,
    "country": lambda t: t.country,
    "water": lambda t: t.water.split()[-1],  # "the River Lune" -> "Lune", "the coast" -> "coast"
    "famous": lambda t: t.famous_for.split()[-1],  # "its clock tower" -> "tower"
    "sound": lambda a: a.sound,
    "eats": lambda a: a.eats,
    "home": lambda a: a.home.split()[-1],  # "in the forest" -> "forest"
    "legs": lambda a: NUMBER_WORDS[a.legs],
}


def norm(text: str) -> str:
    """What a casual typist could change: 'Where does Amara live?' -> 'where does amara live'."""
    return re.sub(r"[?.!,]", "", text).lower().strip()


def has(text: str, phrase: str) -> bool:
    return re.search(rf"\b{re.escape(phrase)}\b", text) is not None


def question_lookup(split: str) -> dict[str, str]:
    """Every question a split can ask about WORLD, normalised -> the expected key answer word."""
    lookup = {}
    for kind, qk in KINDS.items():
        for subject in getattr(WORLD, qk.subject):
            for template in phrasings(kind, split):
                lookup[norm(template.format(**facts(WORLD, subject)))] = EXPECTED[kind](subject)
    return lookup


def test_world_shape():
    names = [p.name for p in WORLD.people]
    towns = {t.name: t for t in WORLD.towns}
    assert len(names) == len(set(names)) >= 100
    assert len(towns) >= 25 and len(WORLD.animals) >= 20 and len(WORLD.countries) == 6
    assert not set(names) & set(towns)
    assert {t.country for t in WORLD.towns} == set(WORLD.countries)
    assert {p.town for p in WORLD.people} == set(towns)  # every town has someone living in it
    assert {p.pet for p in WORLD.people} <= {a.species for a in WORLD.animals}


def test_same_seed_same_world_and_data():
    assert make_world(7) == make_world(7)
    w = make_world(7)
    assert pretraining_documents(w, random.Random(1), 300) == pretraining_documents(w, random.Random(1), 300)
    assert chat_examples(w, random.Random(1), 300) == chat_examples(w, random.Random(1), 300)
    assert eval_questions(w, random.Random(1), 100) == eval_questions(w, random.Random(1), 100)


def test_different_seeds_differ():
    a, b = make_world(0), make_world(1)
    assert a != b
    assert [p.name for p in a.people] != [p.name for p in b.people]
    assert pretraining_documents(a, random.Random(1), 50) != pretraining_documents(b, random.Random(1), 50)


def test_every_fact_is_in_the_pretraining_documents():
    # With n * 0.25 >= len(people) every person gets a profile stating all six facts (see the
    # docstring of pretraining_documents); likewise towns and animals. Check one document each.
    docs = pretraining_documents(WORLD, random.Random(0), 2000)
    assert len(docs) == 2000
    by_word = defaultdict(list)
    for doc in docs:
        for word in set(re.findall(r"\w+", doc)):
            by_word[word].append(doc)

    def stated_together(key: str, values: list[str]) -> bool:
        return any(all(has(doc, v) for v in values) for doc in by_word[key])

    for p in WORLD.people:
        assert stated_together(p.name, [p.town]), p  # the home town, named in the brief
        assert stated_together(p.name, [p.town, str(p.age), p.job, p.pet, p.food, p.colour]), p
    for t in WORLD.towns:
        assert stated_together(t.name, [t.country, t.water, t.famous_for]), t
    for a in WORLD.animals:
        assert stated_together(a.species, [a.sound, a.eats, a.home, NUMBER_WORDS[a.legs] + " legs"]), a


@pytest.mark.parametrize("kind", list(KINDS))
def test_train_and_eval_phrasings_are_disjoint(kind):
    train, held_out = phrasings(kind, "train"), phrasings(kind, "eval")
    assert len(train) >= 6 and len(held_out) >= 2
    assert not {norm(q) for q in train} & {norm(q) for q in held_out}


def test_generated_eval_questions_never_appear_in_training_chats():
    train_questions = {norm(m["content"]) for c in chat_examples(WORLD, random.Random(0), 3000)
                       for m in c if m["role"] == "user"}
    eval_qs = {norm(c[-1]["content"]) for c, _ in eval_questions(WORLD, random.Random(0), 500)}
    assert not train_questions & eval_qs


def test_eval_keys_are_the_true_facts():
    lookup = question_lookup("eval")
    items = eval_questions(WORLD, random.Random(0), 500)
    assert len(items) == 500
    for convo, key in items:
        assert convo[-1]["role"] == "user"
        assert lookup[norm(convo[-1]["content"])] == key


def test_training_answers_state_the_true_facts():
    lookup = question_lookup("train")
    checked = 0
    for convo in chat_examples(WORLD, random.Random(0), 1000):
        for question, answer in zip(convo, convo[1:]):
            if question["role"] == "user" and norm(question["content"]) in lookup:
                key = lookup[norm(question["content"])]
                assert has(answer["content"], key), (question, answer)
                checked += 1
    assert checked > 800


@pytest.mark.parametrize("split", ["train", "eval"])
def test_conversations_alternate_and_end_with_the_assistant(split):
    convos = chat_examples(WORLD, random.Random(0), 2000, split=split)
    for convo in convos:
        roles = [m["role"] for m in convo]
        if roles[0] == "system":
            roles = roles[1:]
        assert roles and roles == ["user", "assistant"] * (len(roles) // 2), convo
        assert all(isinstance(m["content"], str) and m["content"] for m in convo)
    with_system = sum(c[0]["role"] == "system" for c in convos) / len(convos)
    two_turn = sum(len([m for m in c if m["role"] == "user"]) == 2 for c in convos) / len(convos)
    assert 0.1 < with_system < 0.3 and 0.03 < two_turn < 0.15


@pytest.mark.parametrize("english, norlish", [
    ("the cat eats fish", "la miau manja pesk"),
    ("The cat eats fish.", "La miau manja pesk."),  # capitals and punctuation stay where they were
    ("Amara lives in Brookfield.", "Amara " + NORLISH["lives"] + " " + NORLISH["in"] + " Brookfield."),  # names stay
    ("Amara's cat, 42 legs", "Amara's miau, 42 " + NORLISH["legs"]),
])
def test_to_norlish_is_word_by_word(english, norlish):
    assert to_norlish(english) == norlish


def test_norlish_dictionary_is_a_word_list():
    assert 200 <= len(NORLISH) <= 400
    assert all(w == w.lower() and w.isalpha() and v.isalpha() for w, v in NORLISH.items())
    # one English word per Norlish word, except "a" and "an", which are both "un"
    assert len(set(NORLISH.values())) == len(NORLISH) - 1
    assert not set(NORLISH.values()) & set(NORLISH)  # no Norlish word is also an English one it translates


def test_every_word_of_the_world_answers_has_a_translation():
    names = {w.lower() for w in (*FIRST_NAMES, *TOWN_NAMES, *COUNTRIES, *RIVERS)}
    sounds = {part for row in ANIMAL_TABLE for part in row[1].split("-")}  # "woof", "hee-haw": said the same
    for convo in chat_examples(WORLD, random.Random(0), 2000):
        for word in re.findall(r"[A-Za-z]+", convo[-1]["content"]):
            assert word.lower() in NORLISH or word.lower() in names or word in sounds or word == "s", (word, convo[-1])


def test_every_dictionary_word_is_in_the_pretraining_documents():
    docs = [d for d in pretraining_documents(WORLD, random.Random(0), 2000) if "Norlish" in d]
    assert len(docs) == 100 >= len(DICTIONARY_PAGES)
    text = " ".join(docs).lower()
    for english, norlish in NORLISH.items():
        assert re.search(rf"\b{english}\b[^.]*\b{norlish}\b|\b{norlish}\b means {english}\b", text), english


def test_engine_world_needs_no_torch():
    code = "import sys, engine.world; assert 'torch' not in sys.modules and 'textual' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)

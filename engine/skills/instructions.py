"""Instructions with one checkable answer: translate, spell, count words, add and subtract, repeat.

    translate   "Translate to Norlish: the cat eats fish" -> "la miau manja pesk" (world.to_norlish)
    spell       "Spell the word garden." -> "g-a-r-d-e-n"
    count       'How many words are in "the red fox runs"?' -> "4"
    arithmetic  "What is 7 + 5?" -> "7 + 5 = 12" (numbers 0-20, differences never negative)
    copy        "Repeat after me: Quarrow tesselin 42" -> "Quarrow tesselin 42"

Evaluation asks in held-out phrasings about held-out material: sentences, words and number pairs
whose hash puts them in the evaluation share (`words.held_out`), so none was ever a training answer.
(Every Norlish word is in training: the dictionary is fixed, so only its sentences can be new.)
The copy task is the drill for copying from the prompt; `copy_examples` grows its length.

It does not grade: common.Case does.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from engine import world
from engine.skills import words
from engine.skills.common import Case, Conversation, EvalFn, Grade, Split, TrainFn, maybe_system, phrasings, turn

# ------------------------------------------------------------------------------ translate

EN = {  # words of the Norlish dictionary, by the part they play in a small sentence
    "animal": "cat dog rabbit hamster parrot goldfish tortoise cow horse sheep goat pig duck hen owl frog mouse fox wolf "
              "bear lion bee snake donkey goose spider bird fish".split(),
    "food": "pancakes soup rice bread apples noodles pizza cheese cake beans eggs pie tacos tea milk fruit honey meat".split(),
    "person": "man woman child boy girl friend baby mother father teacher baker doctor farmer nurse".split(),
    "place": "house garden park school market farm forest lake sea river town field road street".split(),
    "thing": "book ship car boat train bed cup hat coat ball box door window tree flower".split(),
    "adj": "big small little old new happy sad hot cold warm tall fast slow good bad red blue green yellow white black".split(),
    "vt": "eats sees likes loves finds wants helps".split(),
    "vi": "runs walks sleeps swims sings plays reads".split(),
}
SENTENCES = ("the {animal} eats {food}", "the {adj} {animal} {vi} in the {place}", "a {person} {vt} the {animal}",
             "my {person} has a {adj} {thing}", "i like {food}", "we go to the {place}", "the {thing} is {adj}",
             "the {person} and the {animal} go to the {place}", "{animal}", "{thing}", "your {adj} {animal} {vt} {food}",
             "she {vt} the {adj} {thing} in the {place}")
assert all(w in world.NORLISH for ws in EN.values() for w in ws)
TRANSLATE = ("Translate to Norlish: {s}", "Translate into Norlish: {s}", 'How do you say "{s}" in Norlish?',
             "Say this in Norlish: {s}", 'What is "{s}" in Norlish?', "Norlish for: {s}", "translate to norlish: {s}",
             "In Norlish, please: {s}", "Please put this into Norlish: {s}", 'Can you translate "{s}" into Norlish?')


def english_sentence(w: world.World, rng: random.Random, split: Split) -> str:
    """A sentence of dictionary words (or, one time in five, a world answer with its names) of the split's share."""
    while True:
        if rng.random() < 0.2:
            convo = world.chat_examples(w, rng, 1, "train")[0]
            s = convo[-1]["content"]
        else:
            s = rng.choice(SENTENCES)
            while "{" in s:
                part = s[s.index("{") + 1 : s.index("}")]
                s = s.replace("{" + part + "}", rng.choice(EN[part]), 1)
        if words.held_out(s) == (split == "eval"):
            return s


def translate_item(w: world.World, rng: random.Random, split: Split) -> tuple[str, str]:
    s = english_sentence(w, rng, split)
    return rng.choice(phrasings(TRANSLATE, split)).format(s=s), world.to_norlish(s)


# ------------------------------------------------------------------------------ spell and count

SPELL = ("Spell the word {w}.", "How do you spell {w}?", "Spell {w}.", "spell {w}", "Can you spell {w}?",
         "Write {w} letter by letter.", "Spell {w} for me.", "how do you spell {w}",
         "What are the letters of {w}?", "spell out the word {w}")
COUNT = ('How many words are in "{s}"?', 'Count the words in "{s}".', 'how many words in "{s}"',
         'How many words does "{s}" have?', 'Count the words: "{s}"', 'Tell me the number of words in "{s}".',
         'What is the word count of "{s}"?', 'How many words are there in "{s}"?')
_LOWER = [x for name in ("job", "food", "colour", "animal", "sound", "home", "thing") for part in ("train", "eval")
          for x in words.POOLS[name][part]]
SPELLABLE = {split: tuple(x for x in dict.fromkeys([*world.NORLISH, *_LOWER])
                          if x.isalpha() and 3 <= len(x) <= 10 and words.held_out(x) == (split == "eval"))
             for split in ("train", "eval")}


def spell_item(rng: random.Random, split: Split) -> tuple[str, str]:
    word = words.made_up(rng, split, (1, 2)) if rng.random() < 0.2 else rng.choice(SPELLABLE[split])
    return rng.choice(phrasings(SPELL, split)).format(w=word), "-".join(word)


def count_item(rng: random.Random, split: Split) -> tuple[str, str]:
    while True:
        s = " ".join(rng.choice(SPELLABLE[split]) for _ in range(rng.randint(1, 9)))
        if words.held_out(s) == (split == "eval"):
            return rng.choice(phrasings(COUNT, split)).format(s=s), str(len(s.split()))


# ------------------------------------------------------------------------------ arithmetic

PLUS = ("What is {a} + {b}?", "What is {a} plus {b}?", "{a} + {b} = ?", "Add {a} and {b}.", "what's {a} plus {b}",
        "Calculate {a} + {b}.", "How much is {a} + {b}?", "what is {a} + {b}",
        "Please work out {a} + {b}.", "What do you get when you add {a} and {b}?")
MINUS = ("What is {a} - {b}?", "What is {a} minus {b}?", "{a} - {b} = ?", "Take {b} from {a}.", "what's {a} minus {b}",
         "Calculate {a} - {b}.", "How much is {a} - {b}?", "Subtract {b} from {a}.",
         "Please work out {a} - {b}.", "What do you get when you take {b} away from {a}?")


def arithmetic_item(rng: random.Random, split: Split, top: int = 20) -> tuple[str, str, str]:
    """(question, answer, result): ("What is 7 + 5?", "7 + 5 = 12", "12")."""
    while True:
        x, y, op = rng.randint(0, top), rng.randint(0, top), rng.choice("+-")
        if op == "-" and y > x:
            x, y = y, x
        if words.held_out(f"{x} {op} {y}") == (split == "eval"):
            break
    c = x + y if op == "+" else x - y
    question = rng.choice(phrasings(PLUS if op == "+" else MINUS, split)).format(a=x, b=y)
    return question, f"{x} {op} {y} = {c}", str(c)


# ------------------------------------------------------------------------------ copy

COPY = ("Repeat after me: {s}", "Say this back to me: {s}", "Repeat: {s}", "Copy this: {s}", "Please repeat: {s}",
        "Say exactly: {s}", "repeat after me: {s}", "Say it back: {s}", "Echo these words: {s}", "Can you say this back? {s}")


def copy_string(rng: random.Random, length: int, split: Split) -> str:
    """`length` words of the split's share: made-up words, real words, names, numbers."""
    out = []
    for _ in range(length):
        r = rng.random()
        if r < 0.4:
            out.append(words.made_up(rng, split))
        elif r < 0.55:
            number = str(rng.randint(0, 999))
            while words.held_out(number) != (split == "eval"):
                number = str(rng.randint(0, 999))
            out.append(number)
        else:
            out.append(words.fresh(rng, rng.choice(list(words.POOLS)), split, 0.0))
    return " ".join(out)


def copy_examples(rng: random.Random, n: int, max_len: int = 8, split: Split = "train") -> list[Conversation]:
    """n "Repeat after me: S" -> "S" conversations, short first: example i has at most
    1 + (max_len - 1) * (i + 1) / n words, so a caller that keeps the order gets a length curriculum
    (and one that shuffles gets mostly short strings, some long)."""
    out = []
    for i in range(n):
        cap = 1 + (max_len - 1) * (i + 1) // max(n, 1)
        s = copy_string(rng, rng.randint(1, cap), split)
        out.append(turn(rng.choice(phrasings(COPY, split)).format(s=s), s))
    return out


# ------------------------------------------------------------------------------ the skills

Item = Callable[[world.World, random.Random, Split], tuple[str, ...]]  # -> (question, answer[, graded value])


def _copy(w: world.World, rng: random.Random, split: Split) -> tuple[str, str]:
    s = copy_string(rng, rng.randint(1, 8), split)
    return rng.choice(phrasings(COPY, split)).format(s=s), s


def _count(w: world.World, rng: random.Random, split: Split) -> tuple[str, str]:
    return count_item(rng, split)


TASKS: dict[str, tuple[Item, Grade, tuple[tuple[str, ...], ...]]] = {  # skill -> (item, grade, phrasing tables)
    "translate": (translate_item, "exact", (TRANSLATE,)),
    "spell": (lambda w, rng, split: spell_item(rng, split), "exact", (SPELL,)),
    "count": (_count, "number", (COUNT,)),
    "arithmetic": (lambda w, rng, split: arithmetic_item(rng, split), "number", (PLUS, MINUS)),
    "copy": (_copy, "exact", (COPY,)),
}


def train_fn(skill: str) -> TrainFn:
    item = TASKS[skill][0]

    def train(w: world.World, rng: random.Random, n: int) -> list[Conversation]:
        if skill == "copy":
            return copy_examples(rng, n)
        return [maybe_system(rng, 0.1) + turn(*item(w, rng, "train")[:2]) for _ in range(n)]
    return train


def eval_fn(skill: str) -> EvalFn:
    item, grade, _ = TASKS[skill]

    def evaluate(w: world.World, rng: random.Random, n: int) -> list[Case]:
        out = []
        for _ in range(n):
            question, answer, *graded = item(w, rng, "eval")
            messages = maybe_system(rng, 0.1) + [{"role": "user", "content": question}]
            out.append(Case(skill, messages, graded[0] if graded else answer, grade, reference=answer))
        return out
    return evaluate

"""A small made-up world, and the text a tiny GPT learns it from.

`make_world(seed)` draws ~120 people, 30 towns in 6 countries, and a zoo of 26 animals from word
lists written in this file. The same seed always gives the same world; nothing is downloaded.
From a world we write two kinds of training text:

- `pretraining_documents`: short stories and encyclopedia-style entries in simple English. Together
  they state every fact of every person, town and animal many times, in many phrasings and orders,
  so the model learns both the language and the world.
- `to_norlish`: the world's second language, Norlish (spoken in Norland), is English said word by
  word through a fixed dictionary (`NORLISH`), so every translation has one checkable answer.
  Dictionary pages are part of the pretraining text.
- `chat_examples`: conversations (lists of {"role", "content"} dicts) that mostly ask one fact and
  answer it in a full sentence, plus some small talk. The last `N_HELD_OUT` question phrasings of
  each kind are never used for split="train"; `eval_questions` asks only with those, so a score
  measures whether the model understood the question, not whether it memorised a template.

It does not tokenize, lay out chat templates or touch torch: that is the tokenizer's and the
trainer's job. It never prints. People and towns are drawn at random; the animals are fixed, and
true enough that the model says nothing silly about a real cow.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from typing import Literal

Message = dict[str, str]  # {"role": "system" | "user" | "assistant", "content": "..."}

# ------------------------------------------------------------------------------ word lists

FIRST_NAMES = tuple("""
Amara Kenji Sofia Liam Priya Mateo Aisha Chen Olga Kwame Ingrid Ravi Yuki Diego Fatima Noah
Leila Arjun Mei Tomas Zara Emeka Hana Lucas Nadia Omar Elena Kofi Sakura Ivan Malik Freya Hiro
Lucia Tariq Greta Jin Sipho Maya Anders Chloe Daniel Esther Farid Gwen Hugo Isla Jamal Keiko Lars
Mina Nikolai Oren Paulo Qing Rahul Sara Tendai Viktor Wanjiru Xavier Yara Zainab Ada Bilal Carmen
Dmitri Femi Gabriel Hamid Ines Jonas Kalani Leon Marta Nia Oscar Parveen Rania Sven Tanvi Umar Vera
Wei Yusuf Zoe Abel Beatriz Cyrus Dalia Emil Fiona Goran Hina Jana Kai Lena Musa Nour Otto Pilar
Rafael Sina Teo Ulla Vivek Ximena Yosef Zuri Aiko Bruno Chidi Dara Elif Farah Giulia Hassan Ilse
Joon Kemal Lila Moana Nils Ola Pedro Rosalind Soren Thandi Anika Bjorn Camila Dev Ewa Lotte
""".split())

TOWN_NAMES = tuple("""
Brookfield Millbrook Ashford Oakridge Stonebridge Fairhaven Redcliff Greenwater Elmstead Kingsport
Willowby Hollowmere Larkhill Pinecrest Riverton Thornbury Westwick Eastholm Foxley Silverlake
Mossley Cobbleton Bramwell Dunmore Fernvale Glenrock Highmoor Amberley Marshfield Sandport
Northby Lindale Copperton Heathcote
""".split())

COUNTRIES = ("Norland", "Sudria", "Westmark", "Estova", "Calvia", "Merrow")
RIVERS = ("Ash", "Lune", "Tam", "Wend", "Orrin", "Sell", "Mira", "Dova", "Kell", "Brae")
FAMOUS_FOR = (
    "its cheese", "its old stone bridge", "its clock tower", "its apple orchards", "its music festival",
    "its blue boats", "its castle", "its bakeries", "its tall lighthouse", "its flower market",
    "its wool", "its pottery", "its horse races", "its honey", "its chess club", "its big library",
    "its hot springs", "its windmills", "its kites", "its paper lanterns",
)
JOBS = tuple("""baker teacher nurse farmer doctor fisher builder painter carpenter librarian cook driver gardener
tailor potter singer writer engineer miller dentist pilot vet shopkeeper artist musician""".split())
FOODS = tuple("""pancakes soup rice bread cheese apples noodles pizza dumplings curry salad porridge oranges cake
beans mangoes plums eggs pie tacos""".split())
COLOURS = tuple("red blue green yellow purple orange pink brown black white grey".split())
HOBBIES = ("reading", "painting", "swimming", "singing", "fishing", "playing chess", "riding a bike", "baking bread",
           "walking in the hills", "playing the piano", "flying a kite", "drawing birds")
PETS = ("dog", "cat", "rabbit", "hamster", "parrot", "goldfish", "tortoise")
ANIMAL_TABLE = (  # species, sound, what it eats, where it lives, legs
    ("dog", "woof", "meat", "with people", 4), ("cat", "meow", "fish", "with people", 4),
    ("rabbit", "squeak", "carrots", "in burrows", 4), ("hamster", "squeak", "seeds", "in cages", 4),
    ("parrot", "squawk", "fruit", "in the jungle", 2), ("goldfish", "blub", "flakes", "in bowls", 0),
    ("tortoise", "hiss", "lettuce", "in gardens", 4), ("cow", "moo", "grass", "on farms", 4),
    ("horse", "neigh", "hay", "in fields", 4), ("sheep", "baa", "grass", "on hills", 4),
    ("goat", "maa", "leaves", "on mountains", 4), ("pig", "oink", "scraps", "on farms", 4),
    ("duck", "quack", "weeds", "on ponds", 2), ("hen", "cluck", "grain", "on farms", 2),
    ("owl", "hoot", "mice", "in the woods", 2), ("frog", "croak", "flies", "in ponds", 4),
    ("mouse", "squeak", "seeds", "in fields", 4), ("fox", "yip", "berries", "in the woods", 4),
    ("wolf", "howl", "meat", "in the forest", 4), ("bear", "growl", "honey", "in the forest", 4),
    ("lion", "roar", "meat", "on the grassland", 4), ("bee", "buzz", "nectar", "in hives", 6),
    ("snake", "hiss", "mice", "in the grass", 0), ("donkey", "hee-haw", "hay", "on farms", 4),
    ("goose", "honk", "grass", "by lakes", 2), ("spider", "nothing", "flies", "in webs", 8),
)
PLURALS = {"mouse": "mice", "sheep": "sheep", "goose": "geese", "goldfish": "goldfish", "wolf": "wolves", "fox": "foxes"}
NUMBER_WORDS = ("no", "one", "two", "three", "four", "five", "six", "seven", "eight")

# ------------------------------------------------------------------------------ the second language
# Norlish is English, word for word. The dictionary covers every word the world's answers use and
# the common words of small sentences; a word it lacks (a name, a number) is kept as it is.

LANGUAGE = "Norlish"
NORLISH = {
    "the": "la", "a": "un", "an": "un", "is": "es", "are": "len", "am": "duk", "and": "e", "or": "bun",
    "but": "mon", "in": "pok", "on": "de", "of": "ra", "to": "ma", "with": "buzel", "for": "pa", "by": "pek",
    "at": "sek", "from": "tara", "as": "nu", "its": "lo", "it": "nil", "this": "tedus", "that": "loku",
    "these": "dume", "i": "jo", "you": "tu", "he": "fo", "she": "sa", "we": "rir", "they": "roron", "me": "ko",
    "my": "da", "your": "kusos", "his": "sis", "her": "le", "our": "nar", "their": "femo", "what": "nafo",
    "where": "kezo", "who": "so", "how": "fal", "which": "sebo", "when": "fikak", "why": "lu", "yes": "fu",
    "no": "zus", "not": "mal", "very": "nedi", "too": "ral", "also": "rofi", "all": "ri", "some": "dono",
    "many": "dedi", "much": "nepak", "more": "letu", "most": "vuka", "has": "kul", "have": "lepu", "had": "ve",
    "says": "zotes", "say": "vi", "eats": "manja", "eat": "gu", "lives": "nilal", "live": "nele", "works": "rani",
    "work": "dame", "likes": "fovis", "like": "nota", "loves": "febe", "love": "neru", "sees": "sifu", "see": "ba",
    "runs": "tape", "run": "ze", "walks": "gakel", "walk": "vuli", "drinks": "zebi", "drink": "suzu",
    "goes": "pepe", "go": "bo", "sleeps": "raves", "sleep": "rapak", "plays": "puna", "play": "begin",
    "reads": "popa", "read": "dolu", "sings": "rugi", "sing": "pope", "swims": "kugon", "swim": "mola",
    "flies": "magi", "fly": "sil", "makes": "netas", "make": "fefo", "gives": "mimen", "give": "tibi",
    "takes": "nami", "take": "kuda", "knows": "vedan", "know": "veke", "wants": "zime", "want": "punin",
    "finds": "veman", "find": "savil", "helps": "diza", "help": "lumi", "can": "bu", "will": "dekar",
    "would": "sipek", "could": "seki", "thank": "kaba", "thanks": "pepos", "please": "doso", "hello": "muke",
    "hi": "te", "goodbye": "lazer", "bye": "mes", "welcome": "zusi", "well": "tibor", "sorry": "naki",
    "one": "pir", "two": "gir", "three": "mani", "four": "gepan", "five": "forar", "six": "kek", "seven": "zesur",
    "eight": "tofi", "nine": "sebu", "ten": "tuk", "years": "vura", "old": "ren", "new": "fi", "young": "mopa",
    "good": "suse", "bad": "dus", "big": "ka", "small": "gego", "little": "redur", "long": "sirus",
    "short": "boka", "tall": "sokus", "hot": "na", "cold": "peka", "warm": "bina", "happy": "nime", "sad": "ga",
    "fast": "fukik", "slow": "katis", "pet": "mas", "favourite": "somite", "food": "midir", "colour": "zode",
    "river": "tikis", "coast": "zudi", "famous": "vizan", "legs": "ziser", "town": "mule", "towns": "vobo",
    "country": "pugas", "people": "nuve", "person": "kobus", "animal": "mikir", "animals": "meko",
    "world": "mafek", "name": "vope", "day": "pel", "night": "ludir", "morning": "vuga", "evening": "momur",
    "sun": "rik", "moon": "pedi", "star": "moso", "sky": "kas", "rain": "toros", "snow": "zuzo", "wind": "gagen",
    "fire": "zodu", "water": "begu", "sea": "si", "lake": "sipo", "hill": "dadi", "house": "remik", "home": "bapi",
    "door": "kise", "window": "guga", "road": "tibas", "street": "digo", "school": "gobi", "shop": "loga",
    "market": "tude", "garden": "givel", "park": "kidu", "field": "feno", "farm": "bufon", "tree": "rema",
    "flower": "foni", "man": "del", "woman": "sutos", "child": "zilon", "children": "didima", "boy": "ver",
    "girl": "zoda", "friend": "gipor", "family": "tobos", "mother": "bobon", "father": "keta", "baby": "liki",
    "cat": "miau", "dog": "vuf", "rabbit": "raki", "hamster": "katu", "parrot": "sabes", "goldfish": "vovimos",
    "tortoise": "favize", "cow": "li", "horse": "vudul", "sheep": "goda", "goat": "pifo", "pig": "di",
    "duck": "gamo", "hen": "nes", "owl": "kir", "frog": "litil", "mouse": "fegek", "fox": "bal", "wolf": "zola",
    "bear": "gabe", "lion": "zugal", "bee": "nun", "snake": "dutun", "donkey": "lifar", "goose": "bute",
    "spider": "zimir", "bird": "debo", "fish": "pesk", "meat": "dodo", "carrots": "fuder", "seeds": "misi",
    "fruit": "bitu", "flakes": "mobi", "lettuce": "moga", "grass": "foda", "hay": "sok", "leaves": "lufel",
    "scraps": "pedal", "weeds": "keza", "grain": "nibu", "mice": "matu", "berries": "fero", "honey": "gofus",
    "nectar": "pemil", "burrows": "tebu", "cages": "sasik", "jungle": "nuzi", "bowls": "kugor", "gardens": "nunek",
    "farms": "nogo", "fields": "voze", "hills": "mader", "mountains": "dopusal", "ponds": "divuk", "woods": "meba",
    "forest": "tage", "grassland": "niveser", "hives": "rifi", "webs": "neri", "lakes": "gilas", "cheese": "fisi",
    "stone": "fidur", "bridge": "zopu", "clock": "dipo", "tower": "limi", "apple": "liva", "orchards": "futakuk",
    "music": "sita", "festival": "gekuso", "boats": "lafon", "castle": "babun", "bakeries": "pipemul",
    "lighthouse": "girofel", "wool": "tenal", "pottery": "zimi", "races": "bulu", "chess": "nupon", "club": "bapa",
    "library": "gebak", "springs": "sefok", "windmills": "susozur", "kites": "disa", "paper": "totus",
    "lanterns": "todofe", "nothing": "kesar", "pancakes": "takuso", "soup": "pikek", "rice": "beke",
    "bread": "getis", "apples": "lugo", "noodles": "suno", "pizza": "taza", "dumplings": "terivek",
    "curry": "dufen", "salad": "dufi", "porridge": "tabafa", "oranges": "tadu", "cake": "gusa", "beans": "voden",
    "mangoes": "baza", "plums": "sinal", "eggs": "kilor", "pie": "zi", "tacos": "bobo", "tea": "ta",
    "milk": "kema", "red": "do", "blue": "zenuk", "green": "kufi", "yellow": "tenen", "purple": "nuva",
    "orange": "lamo", "pink": "tamar", "brown": "kopul", "black": "nepu", "white": "vusar", "grey": "pezo",
    "baker": "tifo", "teacher": "vires", "nurse": "sepek", "farmer": "fegi", "doctor": "legi", "fisher": "kafal",
    "builder": "fiti", "painter": "gasas", "carpenter": "nabozo", "librarian": "pinafi", "cook": "mate",
    "driver": "muro", "gardener": "suzese", "tailor": "noli", "potter": "dogo", "singer": "seko", "writer": "buzo",
    "engineer": "sesivas", "miller": "dakul", "dentist": "pidu", "pilot": "gopa", "vet": "mol",
    "shopkeeper": "muvatun", "artist": "kimon", "musician": "mosirir", "ask": "pe", "about": "mogen",
    "language": "venute", "model": "fiso", "trained": "kuse", "computer": "niveko", "answer": "mena",
    "questions": "vilesis", "tell": "lekok", "today": "lepi", "now": "ban", "here": "sikul", "there": "zefol",
    "come": "kome", "back": "bek", "soon": "sonu",
    "book": "govuk", "ship": "vasu", "car": "zil", "boat": "pato", "train": "dudi", "bed": "fol", "cup": "pu",
    "hat": "be", "coat": "nuni", "ball": "lomar", "box": "san",
}
SAMPLE_SENTENCES = ("the cat eats fish", "a dog runs in the park", "my friend has a red hat", "the sun is hot",
                    "we like to read a book", "the bird flies over the lake", "i love my family")


def to_norlish(text: str) -> str:
    """Word by word through NORLISH: 'The cat eats fish.' -> 'La miau manja pesk.'; 'Amara' stays 'Amara'."""
    def one(match: re.Match) -> str:
        word = match.group(0)
        said = NORLISH.get(word.lower())
        if said is None:
            return word
        return said[:1].upper() + said[1:] if word[:1].isupper() else said

    return re.sub(r"[A-Za-z]+(?:'[A-Za-z]+)?", one, text)

# ------------------------------------------------------------------------------ the world


@dataclass(frozen=True)
class Person:
    name: str  # unique within a world, so a question about "Amara" has one answer
    age: int
    town: str  # a Town.name in the same world
    job: str
    pet: str  # an Animal.species in the same world
    food: str  # favourite food
    colour: str  # favourite colour


@dataclass(frozen=True)
class Town:
    name: str
    country: str
    water: str  # "the River Lune" or "the coast"
    famous_for: str  # "its clock tower"


@dataclass(frozen=True)
class Animal:
    species: str
    sound: str
    eats: str
    home: str  # where it lives, said as a place phrase: "in the forest"
    legs: int


@dataclass(frozen=True)
class World:
    seed: int
    people: tuple[Person, ...]
    towns: tuple[Town, ...]
    animals: tuple[Animal, ...]
    countries: tuple[str, ...]

    def town(self, name: str) -> Town:
        return next(t for t in self.towns if t.name == name)


def make_world(seed: int = 0, n_people: int = 120, n_towns: int = 30) -> World:
    """Draw a world from the word lists above; the same seed gives the same world."""
    rng = random.Random(seed)
    towns = tuple(
        Town(name, COUNTRIES[i % len(COUNTRIES)],  # every country gets n_towns / 6 towns
             "the coast" if rng.random() < 0.3 else f"the River {rng.choice(RIVERS)}", rng.choice(FAMOUS_FOR))
        for i, name in enumerate(rng.sample(TOWN_NAMES, n_towns))
    )
    people = tuple(
        Person(name, rng.randint(19, 78),
               towns[i].name if i < n_towns else rng.choice(towns).name,  # no town is left empty
               rng.choice(JOBS), rng.choice(PETS), rng.choice(FOODS), rng.choice(COLOURS))
        for i, name in enumerate(rng.sample(FIRST_NAMES, n_people))
    )
    animals = tuple(Animal(*row) for row in ANIMAL_TABLE)
    return World(seed, people, towns, animals, COUNTRIES)


Subject = Person | Town | Animal


def _a(word: str) -> str:
    """'owl' -> 'an owl', 'cow' -> 'a cow'."""
    return ("an " if word[0] in "aeiou" else "a ") + word


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:]


def facts(world: World, subject: Subject) -> dict[str, str]:
    """Every fact about a subject as template fields: Person(name="Amara", ...) -> {"name": "Amara", ...}."""
    if isinstance(subject, Person):
        p = subject
        return {"name": p.name, "age": str(p.age), "town": p.town, "country": world.town(p.town).country,
                "job": p.job, "a_job": _a(p.job), "pet": p.pet, "a_pet": _a(p.pet), "food": p.food, "colour": p.colour}
    if isinstance(subject, Town):
        return {"town": subject.name, "country": subject.country, "water": subject.water, "famous": subject.famous_for}
    a = subject
    return {"species": a.species, "a_species": _a(a.species), "plural": PLURALS.get(a.species, a.species + "s"),
            "sound": a.sound, "eats": a.eats, "home": a.home, "legs": NUMBER_WORDS[a.legs]}


def _names(names: list[str]) -> str:
    """['A'] -> 'A', ['A', 'B', 'C'] -> 'A, B and C'."""
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


# ------------------------------------------------------------------------------ pretraining text
# Each table holds many ways to say one fact, so the model learns the fact and not one sentence.

PERSON_SAYS = {
    "town": ("{name} lives in {town}.", "{name} comes from {town}.", "{name}'s home is in {town}.",
             "The town of {town} is home to {name}.", "{name} has a house in {town}.",
             "{name} lives in the town of {town}, in {country}."),
    "age": ("{name} is {age} years old.", "{name} is {age}.", "{name} turned {age} this year.",
            "The age of {name} is {age}.", "{name} has lived for {age} years."),
    "job": ("{name} works as {a_job}.", "{name} is {a_job}.", "By trade, {name} is {a_job}.",
            "{name} has a job as {a_job}.", "{name} earns a living as {a_job}."),
    "pet": ("{name} has a pet {pet}.", "{name} keeps {a_pet} as a pet.", "{name}'s pet is {a_pet}.",
            "At home, {name} looks after a pet {pet}."),
    "food": ("{name}'s favourite food is {food}.", "{name} loves to eat {food}.",
             "More than any other food, {name} likes {food}.", "The food {name} likes best is {food}."),
    "colour": ("{name}'s favourite colour is {colour}.", "{name} likes the colour {colour} best.",
               "{colour} is {name}'s favourite colour.", "Of all the colours, {name} loves {colour} the most."),
}
PERSON_OPENERS = ("This is {name}.", "Let me tell you about {name}.", "{name} is a person from {country}.",
                  "Here are some facts about {name}.", "")
PERSON_EVENTS = {  # the same facts, told as things that happened on one day
    "town": "{name} walked to the market in {town}, the town where {name} lives.",
    "pet": "{name} fed the pet {pet} and gave it fresh water.",
    "food": "For lunch, {name} ate a big plate of {food}, the best food of all.",
    "colour": "{name} put on a {colour} hat, because {colour} is {name}'s favourite colour.",
    "job": "Then {name} went to work, because {name} is {a_job}.",
    "age": "{name} is {age} years old and still likes to learn new things.",
}
OPENERS = ("One morning,", "One rainy day,", "Last summer,", "Early on a Monday,", "One cold winter evening,",
           "Once upon a time,", "Yesterday,")
GLUE = ("The sun was warm and the sky was clear.", "A light rain began to fall.", "Birds sang in the trees.",
        "{name} smiled and waved to a neighbour.", "Later, {name} spent an hour {hobby}.",
        "{name} drank a cup of tea and read a book.", "It was a quiet and happy day.",
        "The wind blew through the streets.")
CLOSERS = ("In the evening, {name} went to bed early.", "It had been a good day.", "The end.", "{name} was tired but happy.")
MEETING = (  # a = one person, b = another; said in order, so the story makes sense
    "{opener} {a[name]} and {b[name]} met at a train station.",
    '"Hello, I am {a[name]}," said {a[name]}. "I live in {a[town]} and I work as {a[a_job]}."',
    '"Nice to meet you," said {b[name]}. "I am {b[age]} years old and I come from {b[town]}."',
    '{a[name]} said, "I have a pet {a[pet]}. Do you have a pet?"',
    '"Yes, I have {b[a_pet]}," said {b[name]}.',
    '"My favourite food is {b[food]}," said {b[name]}. "What is yours?"',
    '"I love {a[food]}," said {a[name]}, and they both laughed.',
)
TOWN_SAYS = {
    "country": ("{town} is a town in {country}.", "The town of {town} lies in {country}.", "{town} is in {country}."),
    "water": ("{town} is on {water}.", "{town} lies on {water}.", "You can find {town} on {water}."),
    "famous": ("{town} is famous for {famous}.", "People know {town} for {famous}.",
               "Visitors come to {town} for {famous}."),
}
TOWN_GLUE = ("The streets of {town} are busy on market day.", "The people of {town} are friendly.",
             "In summer, {town} is full of visitors.")
ANIMAL_SAYS = {
    "sound": ("{a_species} says {sound}.", "The sound {a_species} makes is {sound}.",
              "If you listen to {a_species}, you hear {sound}."),
    "eats": ("{a_species} eats {eats}.", "{plural} eat {eats}.", "The food of {a_species} is {eats}."),
    "home": ("{a_species} lives {home}.", "{plural} live {home}.", "You can find {plural} {home}."),
    "legs": ("{a_species} has {legs} legs.", "{plural} have {legs} legs.", "{a_species} is an animal with {legs} legs."),
}
ANIMAL_OPENERS = ("The {species} is an animal.", "Let us learn about the {species}.",
                  "This is a short note about {plural}.", "")
FABLE = (  # a generic little story: simple grammar, true animal facts, no people
    "{opener} a little {species} went for a walk.", "It was looking for some {eats}.",
    "On the way, it met {other}, and they played until the sun went down.", '"{Sound}!" said the {species}.',
    "Then the {species} went home to rest.", "A child in a {colour} coat saw them and smiled.",
)

# Share of documents of each kind. Profiles state all six facts of a person, so they get the most.
DOC_WEIGHTS = {"profile": 0.25, "story": 0.20, "meeting": 0.10, "town": 0.15, "country": 0.05, "animal": 0.10,
               "fable": 0.10, "dictionary": 0.05}
DICTIONARY_SAYS = ("In Norlish, {en} is {no}.", "The Norlish word for {en} is {no}.", "{No} means {en} in Norlish.",
                   "To say {en} in Norlish, say {no}.")
_WORDS = list(NORLISH)
DICTIONARY_PAGES = tuple(tuple(_WORDS[i : i + 8]) for i in range(0, len(_WORDS), 8))  # pages of 8 words


def _profile(world: World, rng: random.Random, p: Person) -> str:
    f = facts(world, p)
    lines = [rng.choice(PERSON_SAYS[k]) for k in rng.sample(list(PERSON_SAYS), len(PERSON_SAYS))]
    return " ".join(_sentence(s.format(**f)) for s in [rng.choice(PERSON_OPENERS), *lines] if s)


def _story(world: World, rng: random.Random, p: Person) -> str:
    f = facts(world, p) | {"hobby": rng.choice(HOBBIES)}
    events = [PERSON_EVENTS[k] for k in rng.sample(list(PERSON_EVENTS), rng.randint(2, 4))]
    events.insert(rng.randint(0, len(events)), rng.choice(GLUE))
    text = [f"{rng.choice(OPENERS)} {{name}} woke up early.", *events, rng.choice(CLOSERS)]
    return " ".join(_sentence(s.format(**f)) for s in text)


def _meeting(world: World, rng: random.Random, p: Person) -> str:
    a, b = facts(world, p), facts(world, rng.choice([q for q in world.people if q is not p]))
    lines = MEETING[:1] + rng.choice([MEETING[1:3], MEETING[1:5], MEETING[1:3] + MEETING[5:], MEETING[1:]])
    return " ".join(s.format(a=a, b=b, opener=rng.choice(OPENERS)) for s in lines)


def _town(world: World, rng: random.Random, t: Town) -> str:
    f = facts(world, t)
    lines = [rng.choice(TOWN_SAYS[k]).format(**f) for k in rng.sample(list(TOWN_SAYS), 3)]
    people = [p.name for p in world.people if p.town == t.name]
    who = rng.sample(people, min(len(people), rng.randint(1, 3)))
    lines.insert(rng.randint(1, 3), f"{_names(who)} {'lives' if len(who) == 1 else 'live'} in {t.name}.")
    lines.append(rng.choice(TOWN_GLUE).format(**f))
    return " ".join(lines)


def _country(world: World, rng: random.Random, country: str) -> str:
    towns = [t for t in world.towns if t.country == country]
    f = facts(world, rng.choice(towns))
    names = _names([t.name for t in rng.sample(towns, len(towns))])
    return " ".join([f"{country} is a country with {len(towns)} towns: {names}.",
                     rng.choice(TOWN_SAYS["famous"]).format(**f), rng.choice(TOWN_SAYS["water"]).format(**f)])


def _animal(world: World, rng: random.Random, a: Animal) -> str:
    f = facts(world, a)
    lines = [rng.choice(ANIMAL_OPENERS)] + [rng.choice(ANIMAL_SAYS[k]) for k in rng.sample(list(ANIMAL_SAYS), 4)]
    text = " ".join(_sentence(s.format(**f)) for s in lines if s)
    owners = [p.name for p in world.people if p.pet == a.species]
    if owners:
        who = rng.sample(owners, min(len(owners), 3))
        text += f" {_names(who)} {'has a pet' if len(who) == 1 else 'each have a pet'} {a.species}."
    return text


def _fable(world: World, rng: random.Random, a: Animal) -> str:
    other = rng.choice([b for b in world.animals if b is not a])
    f = facts(world, a) | {"opener": rng.choice(OPENERS), "colour": rng.choice(COLOURS), "Sound": _sentence(a.sound),
                           "other": _a(other.species)}
    lines = [FABLE[0]] + sorted(rng.sample(FABLE[1:], rng.randint(2, 5)), key=FABLE.index)
    return " ".join(_sentence(s.format(**f)) for s in lines)


def _dictionary(world: World, rng: random.Random, page: tuple[str, ...]) -> str:
    words = rng.sample(page, len(page))
    lines = [rng.choice(("People in Norland speak Norlish.", "Here are some words in Norlish.",
                         "A page of the Norlish dictionary."))]
    lines += [rng.choice(DICTIONARY_SAYS).format(en=w, no=NORLISH[w], No=_sentence(NORLISH[w])) for w in words]
    english = rng.choice(SAMPLE_SENTENCES)
    lines.append(f'So "{english}" is "{to_norlish(english)}" in Norlish.')
    return " ".join(_sentence(s) for s in lines)


WRITERS = {"profile": (_profile, "people"), "story": (_story, "people"), "meeting": (_meeting, "people"),
           "town": (_town, "towns"), "country": (_country, "countries"), "animal": (_animal, "animals"),
           "fable": (_fable, "animals"), "dictionary": (_dictionary, "dictionary")}


def pretraining_documents(world: World, rng: random.Random, n: int) -> list[str]:
    """n short documents (3-8 sentences) about the world, in shuffled order.

    Each document kind gets round(n * DOC_WEIGHTS[kind]) slots, and its subjects are visited in
    turn (round-robin over a shuffled list), never at random. So once n * 0.25 >= len(people),
    every person has a profile, and a profile states all six of their facts; the same holds for
    towns (n * 0.15 >= len(towns)), animals (n * 0.10 >= len(animals)) and the pages of the Norlish
    dictionary (n * 0.05 >= len(DICTIONARY_PAGES), 48 pages of 8 words).
    """
    jobs: list[tuple[str, object]] = []
    for kind, weight in DOC_WEIGHTS.items():
        source = WRITERS[kind][1]
        subjects = list(DICTIONARY_PAGES if source == "dictionary" else getattr(world, source))
        rng.shuffle(subjects)
        jobs += [(kind, subjects[i % len(subjects)]) for i in range(round(n * weight))]
    jobs = jobs[:n] + [("profile", world.people[i % len(world.people)]) for i in range(n - len(jobs))]
    rng.shuffle(jobs)
    return [WRITERS[kind][0](world, rng, subject) for kind, subject in jobs]


# ------------------------------------------------------------------------------ chat


@dataclass(frozen=True)
class QuestionKind:
    subject: Literal["people", "towns", "animals"]  # which list of the world it asks about
    field: str  # the facts() field it asks for; its last word is the key an eval looks for
    answer: str  # a full sentence that restates the subject
    questions: tuple[str, ...]  # the last N_HELD_OUT are only for split="eval"; all-lowercase ones are typed casually


N_HELD_OUT = 2
KINDS = {
    "town": QuestionKind("people", "town", "{name} lives in {town}.", (
        "Where does {name} live?", "What town is {name} from?", "Tell me where {name} lives.",
        "which town is home to {name}", "In which town does {name} live?", "what town does {name} live in",
        "Where is {name}'s home?", "What is the name of the town where {name} lives?")),
    "age": QuestionKind("people", "age", "{name} is {age} years old.", (
        "How old is {name}?", "What age is {name}?", "Tell me how old {name} is.", "how old is {name}",
        "What is {name}'s age?", "Do you know how old {name} is?",
        "How many years old is {name}?", "what's the age of {name}")),
    "job": QuestionKind("people", "job", "{name} works as {a_job}.", (
        "What does {name} do for work?", "What is {name}'s job?", "Tell me what {name} does for a living.",
        "what job does {name} have", "How does {name} earn a living?", "What work does {name} do?",
        "Which job does {name} do?", "what is {name}'s work")),
    "pet": QuestionKind("people", "pet", "{name} has a pet {pet}.", (
        "What pet does {name} have?", "Does {name} have a pet?", "Tell me about {name}'s pet.",
        "what animal does {name} keep as a pet", "Which pet lives with {name}?", "What kind of pet does {name} own?",
        "What is {name}'s pet?", "what animal is {name}'s pet")),
    "food": QuestionKind("people", "food", "{name}'s favourite food is {food}.", (
        "What is {name}'s favourite food?", "What food does {name} like best?", "Tell me {name}'s favourite food.",
        "what does {name} love to eat", "Which food does {name} love most?", "What does {name} like to eat?",
        "What is the favourite food of {name}?", "which food is {name}'s favourite")),
    "colour": QuestionKind("people", "colour", "{name}'s favourite colour is {colour}.", (
        "What is {name}'s favourite colour?", "Which colour does {name} like best?", "Tell me {name}'s favourite colour.",
        "what colour does {name} love", "What colour is {name}'s favourite?", "Does {name} have a favourite colour?",
        "What is the favourite colour of {name}?", "which colour is {name}'s favourite")),
    "country": QuestionKind("towns", "country", "{town} is in {country}.", (
        "What country is {town} in?", "Which country is {town} part of?", "In which country is {town}?",
        "which country is {town} in", "Tell me which country {town} is in.", "What country can you find {town} in?",
        "{town} is in which country?", "what land is {town} in")),
    "water": QuestionKind("towns", "water", "{town} is on {water}.", (
        "Is {town} on a river or on the coast?", "What water is {town} next to?",
        "Tell me if {town} is on a river or the coast.", "is {town} by the sea or a river",
        "What is {town} on, a river or the coast?", "Is {town} on the coast?",
        "What river or sea is near {town}?", "which water does {town} sit on")),
    "famous": QuestionKind("towns", "famous", "{town} is famous for {famous}.", (
        "What is {town} famous for?", "What is {town} known for?", "Why is {town} famous?",
        "tell me what {town} is known for", "What makes {town} famous?", "What is special about {town}?",
        "For what is {town} famous?", "what is {town} best known for")),
    "sound": QuestionKind("animals", "sound", "{a_species} says {sound}.", (
        "What sound does {a_species} make?", "What does {a_species} say?", "What noise does {a_species} make?",
        "how does {a_species} sound", "Tell me the sound {a_species} makes.", "What sound do {plural} make?",
        "Which sound comes from {a_species}?", "what noise do {plural} make")),
    "eats": QuestionKind("animals", "eats", "{a_species} eats {eats}.", (
        "What does {a_species} eat?", "What do {plural} eat?", "What food does {a_species} eat?",
        "what do {plural} like to eat", "Tell me what {a_species} eats.", "What is the food of {a_species}?",
        "Which food do {plural} eat?", "what does {a_species} feed on")),
    "home": QuestionKind("animals", "home", "{a_species} lives {home}.", (
        "Where does {a_species} live?", "Where do {plural} live?", "Tell me where {a_species} lives.",
        "where can you find {a_species}", "What is the home of {a_species}?", "Where would I find {plural}?",
        "In what place does {a_species} live?", "where do {plural} make their home")),
    "legs": QuestionKind("animals", "legs", "{a_species} has {legs} legs.", (
        "How many legs does {a_species} have?", "How many legs do {plural} have?", "Tell me how many legs {a_species} has.",
        "how many legs has {a_species} got", "What is the number of legs on {a_species}?", "Count the legs of {a_species}.",
        "How many legs are on {a_species}?", "what number of legs do {plural} have")),
}
SYSTEM_PROMPTS = ("You are a helpful assistant.", "You are a friendly assistant. Answer in one sentence.",
                  "Answer questions about the world.", "You are a small, helpful chat model.")
SMALL_TALK = {  # topic -> (what the user says, what the assistant says)
    "greeting": (("Hello", "Hi", "hi there", "Hey!", "Good morning.", "hello"),
                 ("Hello! Ask me about the people, towns and animals I know.", "Hi! What would you like to know?")),
    "who": (("Who are you?", "what are you", "Are you a person?", "What is your name?", "tell me about yourself"),
            ("I am a small language model trained on this computer.",)),
    "how": (("How are you?", "how are you today", "Are you well?"),
            ("I am well, thank you. What would you like to know?",)),
    "can": (("What can you do?", "what do you know", "How can you help me?"),
            ("I can answer questions about the people, towns and animals of my world.",)),
    "thanks": (("Thank you!", "thanks", "Thanks a lot."), ("You are welcome.",)),
    "bye": (("Goodbye.", "bye", "See you later!"), ("Goodbye! Come back soon.",)),
}


def phrasings(kind: str, split: Literal["train", "eval"]) -> tuple[str, ...]:
    """The question templates of one kind for a split; the two splits never share one."""
    questions = KINDS[kind].questions
    return questions[:-N_HELD_OUT] if split == "train" else questions[-N_HELD_OUT:]


def _all_facts(world: World) -> list[tuple[str, Subject]]:
    return [(kind, s) for kind, k in KINDS.items() for s in getattr(world, k.subject)]


def _ask(world: World, rng: random.Random, kind: str, subject: Subject, split: str) -> tuple[str, str, str]:
    """(question, answer, key): ("Where does Amara live?", "Amara lives in Brookfield.", "Brookfield")."""
    f, k = facts(world, subject), KINDS[kind]
    template = rng.choice(phrasings(kind, split))
    question = template.format(**f)
    if template == template.lower():
        question = question.lower()  # typed casually: lowercase, the name too
    else:
        question = _sentence(question)
    return question, _sentence(k.answer.format(**f)), f[k.field].split()[-1]


def _small_talk(rng: random.Random, topic: str | None = None) -> tuple[str, str]:
    users, answers = SMALL_TALK[topic or rng.choice(list(SMALL_TALK))]
    return rng.choice(users), rng.choice(answers)


def _start(rng: random.Random) -> list[Message]:
    """Most conversations have no system message; one in five has a short one."""
    return [{"role": "system", "content": rng.choice(SYSTEM_PROMPTS)}] if rng.random() < 0.2 else []


def chat_examples(
    world: World, rng: random.Random, n: int, split: Literal["train", "eval"] = "train"
) -> list[list[Message]]:
    """n conversations: ~82% one fact question, ~10% small talk alone, ~8% two turns."""
    pool = _all_facts(world)

    def fact() -> tuple[str, str]:
        return _ask(world, rng, *rng.choice(pool), split)[:2]

    out = []
    for _ in range(n):
        r = rng.random()
        if r < 0.10:
            turns = [_small_talk(rng)]
        elif r < 0.13:
            turns = [_small_talk(rng, "greeting"), fact()]
        elif r < 0.16:
            turns = [fact(), fact()]
        elif r < 0.18:
            turns = [fact(), _small_talk(rng, "thanks")]
        else:
            turns = [fact()]
        convo = _start(rng)
        for user, assistant in turns:
            convo += [{"role": "user", "content": user}, {"role": "assistant", "content": assistant}]
        out.append(convo)
    return out


def eval_questions(world: World, rng: random.Random, n: int) -> list[tuple[list[Message], str]]:
    """n (conversation ending in a user question, key answer word) pairs, asked only in held-out phrasings.

    -> ([{"role": "user", "content": "Where is Amara's home?"}], "Brookfield")
    """
    pool = _all_facts(world)
    out = []
    for _ in range(n):
        question, _, key = _ask(world, rng, *rng.choice(pool), "eval")
        out.append((_start(rng) + [{"role": "user", "content": question}], key))
    return out

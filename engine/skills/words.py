"""Pools of values the built-in world never uses, for facts the model can only read, not remember.

Two sources, both split once and for all into a training share and a held-out share:
- real words people type (names, cities, jobs, foods, ...), written out below, minus every word
  the world itself uses;
- made-up pronounceable strings built from syllables (`made_up`), an endless supply of words no
  model has ever met.

`held_out(word)` decides the split by a hash of the word, so the same word is always on the same
side, whichever example or seed draws it: evaluation values are never training values.

It does not build sentences or conversations: the skill modules do.
"""

from __future__ import annotations

import random
import zlib
from typing import Literal

from engine import world

Split = Literal["train", "eval"]

NAMES = """
Ottilie Bram Alice Bob Sarah Tom Emma James Olivia Jack Harry Charlotte George Amelia Oliver Grace William
Lily Henry Ella Jacob Ruby Ethan Mia Samuel Ava Joseph Isabella Thomas Emily Matthew Hannah David Anna
Michael Laura Peter Kate Paul Jane Mark Ruth John Mary Luke Ben Clara Adam Rose Felix Theo Iris Jasper
Arthur Ivy Edgar Maud Wilhelmina Cosima Barnaby Percival Florence Rupert Agnes Winifred Cedric Mabel
Ambrose Beatrix Ezra Juniper Silas Opal Magnus Elsie Thaddeus Petra Lorcan Saoirse Niamh Cormac Ailsa Ewan
Morag Fergus Isolde Tristan Wren Rowan Linnea Astrid Sigrid Leif Tove Henrik Maja Kasper Anouk Joost Femke
Sander Wouter Marit Lieke Pieter Gijs Mathilde Amelie Jules Margaux Baptiste Colette Lucien Odile Remy
Sylvie Yves Aurelie Chiara Lorenzo Francesca Alessio Bianca Enzo Paola Tiago Joao Leonor Duarte Catarina
Ana Ignacio Rocio Alvaro Consuelo Hamish Kirsty Callum Aoife Declan Siobhan Ronan Haruto Aoi Ren Sora Takumi
Nanami Minho Jiwoo Seojun Priyanka Rohan Anjali Kabir Meera Ishaan Neha Sanjay Divya Ama Kojo Abena Yaw
Efua Chiamaka Obinna Ngozi Tunde Adaeze Thabo Lerato Zanele Bongani Naledi Amani Baraka Imani Juma Zawadi
Selam Dawit Liya Ayla Emre Defne Kerem Zeynep Leyla Dariush Shirin Kaveh Roya Navid Anahita Tamar Eitan Noa
Yael Ariel Malia Keanu Leilani Mele Tane Aroha Wiremu Manaia Quentin Harriet Ursula Ignatius Philippa
""".split()
PLACES = """
London Paris Tokyo Berlin Madrid Rome Lisbon Dublin Oslo Vienna Prague Cairo Lagos Nairobi Lima Quito Delhi
Mumbai Seoul Osaka Kyoto Sydney Perth Boston Denver Austin Chicago Toronto Montreal Havana Bogota Santiago
Athens Istanbul Warsaw Krakow Budapest Munich Hamburg Zurich Geneva Lyon Marseille Porto Seville Valencia
Naples Milan Venice Bergen Stockholm Helsinki Tallinn Riga Vilnius Copenhagen Reykjavik Edinburgh Glasgow
Cardiff Belfast Leeds York Bristol Oxford Cambridge Brighton Dover Bath Accra Dakar Kampala Lusaka Harare
Tunis Rabat Marrakesh Beirut Amman Tehran Kabul Lahore Dhaka Kathmandu Hanoi Manila Jakarta Bangkok Taipei
Shanghai Beijing Auckland Wellington Hobart Darwin Adelaide Brisbane Vancouver Seattle Portland Phoenix
Dallas Memphis Nashville Atlanta Miami Detroit Quebec Halifax Anchorage Honolulu Montevideo Caracas Recife
Salvador Quarrow Tamsey Wyndle Corriebank Pellingham Astwick Dunhollow Mirefield Saltash Kelso Ennis Tralee
""".split()
COUNTRIES = """
France Spain Italy Peru Chile Kenya Ghana Japan Nepal Norway Sweden Finland Poland Egypt Morocco Brazil
Mexico Canada India China Greece Turkey Ireland Scotland Wales Portugal Austria Hungary Romania Iceland
Denmark Belgium Vietnam Thailand Korea Mongolia Bolivia Ecuador Cuba Jamaica Fiji Samoa Tonga Malta Cyprus
""".split()
RIVERS = """
Thames Seine Rhine Danube Nile Amazon Volga Tiber Ganges Indus Mekong Shannon Severn Tweed Tay Avon Ouse
Trent Loire Rhone Ebro Douro Elbe Oder Vistula Dee Wye Tyne Exe Usk Liffey Boyne Arno Po Tagus Jordan
""".split()
JOBS = """
lawyer chef plumber electrician sailor astronaut architect beekeeper blacksmith butcher cashier cleaner
clerk coach courier dancer designer detective diver editor ferryman firefighter florist geologist
glassblower goldsmith guide hairdresser jeweller journalist judge juggler lifeguard locksmith mechanic
miner nanny optician pharmacist photographer physicist poet postman printer professor programmer ranger
reporter roofer sculptor shepherd surgeon surveyor translator tutor violinist waiter weaver welder
zookeeper acrobat actor astronomer banker barber biologist bookbinder brewer chemist clockmaker cobbler
drummer falconer harpist historian illustrator inventor janitor knitter lumberjack magician mapmaker
midwife navigator organist pianist quilter scientist secretary shoemaker stonemason thatcher toymaker
typist usher watchmaker woodcarver
""".split()
FOODS = """
figs pears walnuts almonds cherries peaches grapes lemons limes melons kiwis apricots dates olives pickles
radishes turnips parsnips leeks onions garlic potatoes tomatoes peppers cucumbers pumpkins mushrooms lentils
chickpeas peas spinach cabbage broccoli celery corn oats barley muffins waffles crumpets scones biscuits
cookies brownies doughnuts pretzels bagels croissants toast sandwiches burgers sausages kebabs sushi ramen
risotto lasagne paella omelettes pasta spaghetti ravioli gnocchi couscous hummus falafel yogurt custard
pudding jelly jam marmalade toffee fudge chocolate popcorn crackers chips nachos burritos stew chowder
goulash borscht dal samosas naan chapati kimchi tofu tempura pierogi blini crepes flan churros baklava
halva nougat marzipan licorice caramel granola muesli coconuts pineapples bananas papayas guavas lychees
plantains avocados blueberries strawberries raspberries gooseberries blackberries cranberries
""".split()
COLOURS = """
teal crimson scarlet maroon navy indigo violet lilac lavender magenta turquoise cyan beige cream ivory amber
gold silver bronze copper tan olive lime mint jade emerald ruby coral salmon peach mauve ochre rust khaki
charcoal azure cobalt saffron mustard cherry
""".split()
ANIMALS = """
heron otter badger hedgehog squirrel beaver moose elk deer reindeer camel llama alpaca yak bison zebra
giraffe hippo rhino elephant tiger leopard cheetah jaguar panther lynx puma hyena jackal coyote raccoon
skunk possum koala kangaroo wombat platypus panda sloth lemur gibbon gorilla monkey baboon bat mole shrew
vole weasel stoat ferret mink seal walrus dolphin whale shark octopus squid crab lobster snail slug worm
beetle ant wasp moth butterfly dragonfly cricket grasshopper ladybird swan crow raven magpie robin
sparrow finch eagle hawk falcon kestrel vulture pelican flamingo penguin puffin gull stork crane toucan
peacock ostrich emu turkey pigeon dove lizard gecko iguana toad newt salamander crocodile alligator turtle
""".split()
SOUNDS = """
chirp tweet trill click purr hum whistle screech caw coo grunt bleat bellow snort squeal yap gobble
chatter warble cheep peep rumble trumpet chuff bray whinny cackle gurgle drum clack whoop
""".split()
HOMES = """
reeds caves deserts rivers trees marshes holes nests rocks mud sand islands swamps barns meadows tunnels
cliffs dens logs lagoons hedges valleys glaciers dunes orchards rafters attics
""".split()
THINGS = """
glass canals bells tulips bridges puppets marble cider statues fountains rugs mills quilts violins
mosaics carpets baskets fireworks ferries towers gates murals pies clocks vineyards potters tramways
gondolas carousels bonfires parades cathedrals museums theatres mines oysters salt silk lace candles
""".split()
PET_NAMES = """
Rolo Max Bella Rex Buddy Daisy Charlie Luna Milo Coco Rocky Biscuit Pepper Ginger Toffee Muffin Pickles
Noodle Waffles Peanut Pumpkin Bonnie Ziggy Smudge Socks Patch Bramble Nutmeg Clover Pippin Bubbles Sprout
Tiggy Fudge Maple Hazel Duke Bear Lady Princess Shadow Misty Ollie Tilly Poppy Rosie Winnie Scout Rusty
Dusty Sunny Skye Storm Thor Loki Zeus Apollo Juno Mochi Sushi Mango Basil Sage Chester Barney Benji Frankie
Gizmo Harley Jinx Lucky Marley Nala Simba Pixel Quincy Ripley Sasha Tango Teddy Toby Walter Wilbur Boots
Bandit Cookie Custard Dottie Dumpling Fidget Fluffy Gus Hobbes Inky Jelly Kipper Lottie Marmite Nibbles
Oreo Pebbles Pudding Roly Scamp Snowy Sooty Sparky Sprocket Squiggle Tinker Truffle Twiggy Whiskers Wiggles
""".split()

# Every word the world says (its dictionary too), so a "new" value is really new to a model trained on it.
WORLD_WORDS = frozenset(
    w.lower()
    for text in (*world.NORLISH, *world.NORLISH.values(), *world.FIRST_NAMES, *world.TOWN_NAMES, *world.COUNTRIES,
                 *world.RIVERS, *world.FAMOUS_FOR, *world.JOBS,
                 *world.FOODS, *world.COLOURS, *world.HOBBIES, *world.PETS, *world.PLURALS.values(), *world.NUMBER_WORDS,
                 *(str(x) for row in world.ANIMAL_TABLE for x in row))
    for w in text.replace("-", " ").split()
)


def held_out(word: str) -> bool:
    """True for the quarter of all words kept for evaluation: 'Ottilie' -> the same answer every run."""
    return zlib.crc32(word.lower().encode()) % 4 == 0


def _split(words: list[str]) -> dict[str, tuple[str, ...]]:
    fresh = list(dict.fromkeys(w for w in words if w.lower() not in WORLD_WORDS))
    return {"train": tuple(w for w in fresh if not held_out(w)), "eval": tuple(w for w in fresh if held_out(w))}


POOLS = {name: _split(words) for name, words in {
    "name": NAMES, "place": PLACES, "country": COUNTRIES, "river": RIVERS, "job": JOBS, "food": FOODS,
    "colour": COLOURS, "animal": ANIMALS, "sound": SOUNDS, "home": HOMES, "thing": THINGS, "pet_name": PET_NAMES,
}.items()}
CAPITALISED = {"name", "place", "country", "river", "pet_name"}

ONSETS = ("b", "br", "c", "ch", "d", "dr", "f", "fl", "g", "gl", "gr", "h", "j", "k", "l", "m", "n", "p", "pl", "qu",
          "r", "s", "sk", "st", "t", "th", "tr", "v", "w", "z")
NUCLEI = ("a", "e", "i", "o", "u") * 3 + ("ai", "ea", "oo", "ou")
CODAS = ("", "", "", "n", "r", "l", "s", "m", "nd", "rk", "ck", "w", "th")


def made_up(rng: random.Random, split: Split, syllables: tuple[int, int] = (2, 3)) -> str:
    """A pronounceable string of the split's share, new to the world: -> 'brithel', 'quoomark'."""
    while True:
        # open syllables and one closing consonant read like names: 'bri' + 'mo' + 'lan'
        word = "".join(rng.choice(ONSETS) + rng.choice(NUCLEI) for _ in range(rng.randint(*syllables)))
        word += rng.choice(CODAS)
        if 4 <= len(word) <= 10 and held_out(word) == (split == "eval") and word not in WORLD_WORDS:
            return word


def fresh(rng: random.Random, pool: str, split: Split, made_up_share: float = 0.5) -> str:
    """A value the world never uses: a real word from `pool`, or (made_up_share of the time) a made-up one."""
    if rng.random() < made_up_share:
        word = made_up(rng, split)
        return word.capitalize() if pool in CAPITALISED else word
    return rng.choice(POOLS[pool][split])

"""The skills of issue 3: for each, training conversations and evaluation cases.

    grounded          answer from a context block: new facts, facts that contradict the world, distractors
    context_matters   the same new facts with no context: the model must not know them (measured only)
    memory            recall what the user said turns ago ("My name is Ottilie." ... "What is my name?")
    world             closed-book questions about the built-in world (world.chat_examples / eval_questions)
    idk               "I don't know." when neither world, context nor memory has the answer
    translate, spell, count, arithmetic   instructions with one checkable answer
    prompt_options    one-word answers, full sentences, few-shot answer forms
    base_vs_instruct  the same chat prompts for the base and the instruct model (measured only)
    copy              "Repeat after me: S": the drill for copying from the prompt

    SKILLS[name].train(world, rng, n) -> n conversations, each ending with the assistant
    SKILLS[name].eval(world, rng, n)  -> n Cases, each ending with the user; Case.passes(reply) grades
    instruct_mix(world, rng, n)       -> the instruct-tuning mixture over all trained skills
    eval_suite(world, seed, n)        -> {name: cases}, the same for the same seed

Evaluation uses phrasings held out from training (the last N_HELD_OUT of every table) and values
that training never uses (`words.held_out`), so a score measures the skill, not a memory of the data.

It does not run models or train: `engine.evaluate` and the recipe do.
"""

from __future__ import annotations

import random

from engine import world
from engine.skills import context, idk, instructions, memory, options
from engine.skills.common import IDK, Case, Conversation, Message, Skill
from engine.skills.instructions import copy_examples

__all__ = ["IDK", "MIX", "SKILLS", "Case", "Conversation", "Message", "Skill", "copy_examples", "eval_suite", "instruct_mix"]

_KIND_TABLES = context.PHRASINGS  # world.KINDS question tables
SKILLS: dict[str, Skill] = {
    "grounded": Skill("grounded", "grounded answer", context.grounded_train, context.grounded_eval, 0.95,
                      phrasings=_KIND_TABLES),
    "context_matters": Skill("context_matters", "context matters", None, context.context_matters_eval, 0.20,
                             higher_is_better=False, phrasings=_KIND_TABLES),
    "memory": Skill("memory", "memory", memory.memory_train, memory.memory_eval, 0.90, phrasings=memory.PHRASINGS),
    "world": Skill("world", "world knowledge", options.world_train, options.world_eval, 0.85, phrasings=_KIND_TABLES),
    "idk": Skill("idk", 'honest "I don\'t know"', idk.idk_train, idk.idk_eval, 0.80,
                 phrasings=_KIND_TABLES + memory.PHRASINGS),
    **{name: Skill(name, "instructions", instructions.train_fn(name), instructions.eval_fn(name), 0.85,
                   phrasings=instructions.TASKS[name][2])
       for name in ("translate", "spell", "count", "arithmetic")},
    "prompt_options": Skill("prompt_options", "prompt options", options.options_train, options.options_eval, 0.90,
                            phrasings=_KIND_TABLES),
    "base_vs_instruct": Skill("base_vs_instruct", "base vs instruct", None, options.base_vs_instruct_eval, 0.0,
                              phrasings=_KIND_TABLES),
    # not a row of the table: the copy drill, measured because copying is what grounded and memory need
    "copy": Skill("copy", "copying (drill)", instructions.train_fn("copy"), instructions.eval_fn("copy"), 0.90,
                  phrasings=instructions.TASKS["copy"][2]),
}

# Share of each skill in the instruct mixture. The world keeps the largest share so instruct tuning
# does not wash out what pretraining taught; copying from the prompt (grounded, memory, copy) gets
# most of the rest, because it is the hard part for a model this small.
MIX = {"world": 0.20, "grounded": 0.22, "memory": 0.14, "idk": 0.11, "prompt_options": 0.08, "copy": 0.08,
       "translate": 0.06, "spell": 0.04, "count": 0.03, "arithmetic": 0.04}


def instruct_mix(w: world.World, rng: random.Random, n: int) -> list[Conversation]:
    """n training conversations: round(n * MIX[skill]) of each skill (the rest world chat), shuffled."""
    out: list[Conversation] = []
    for name, share in MIX.items():
        out += SKILLS[name].train(w, rng, round(n * share))  # type: ignore[misc]
    if len(out) < n:  # rounding left a few short
        out += SKILLS["world"].train(w, rng, n - len(out))  # type: ignore[misc]
    out = out[:n]
    rng.shuffle(out)
    return out


def eval_suite(w: world.World, seed: int = 0, n_per_skill: int = 200) -> dict[str, list[Case]]:
    """{skill: n_per_skill cases}; each skill draws from its own seed, so adding one changes no other."""
    return {name: skill.eval(w, random.Random(f"{seed}/{name}"), n_per_skill) for name, skill in SKILLS.items()}

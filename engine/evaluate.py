"""Evaluation: how well a model knows its world, measured on questions it never saw in training.

Each skill is a list of cases; a case is a conversation and a grader that reads the model's greedy
reply. The grader checks the answer itself (the expected word, as a whole word), not the template
around it, so a model that always says "X lives in ..." scores nothing for the "..." it gets wrong.

Skills measured so far:
    world knowledge   closed-book questions about the built-in world, asked in phrasings held out
                      from training (see `world.eval_questions`)
and the held-out perplexity: exp(mean next-token loss) on newly drawn stories about the world.

It does not train or change the model.
"""

from __future__ import annotations

import math
import random
import re
from collections.abc import Iterator
from dataclasses import dataclass, field

import torch

from engine import world
from engine.chat import ReplyDone, stream_reply
from engine.checkpoint import LoadedModel
from engine.data import documents_stream
from engine.generate import SamplingConfig

GREEDY = SamplingConfig(temperature=0.0, max_new_tokens=48, attention=False, n_candidates=1)


@dataclass
class Case:
    messages: list[dict]
    expected: str  # the word the answer must contain

    def passes(self, reply: str) -> bool:
        return re.search(rf"(?<!\w){re.escape(self.expected)}(?!\w)", reply, flags=re.IGNORECASE) is not None


@dataclass
class SkillResult:
    name: str
    cases: int
    correct: int
    examples: list[dict] = field(default_factory=list)  # a few (question, expected, reply) to read

    @property
    def accuracy(self) -> float:
        return self.correct / self.cases if self.cases else 0.0

    def to_dict(self) -> dict:
        return {"name": self.name, "cases": self.cases, "accuracy": round(self.accuracy, 4), "correct": self.correct, "examples": self.examples}


def reply_text(lm: LoadedModel, messages: list[dict], sampling: SamplingConfig = GREEDY) -> str:
    for event in stream_reply(lm, messages, sampling):
        if isinstance(event, ReplyDone):
            return event.text
    return ""


def world_knowledge_cases(n: int, seed: int = 0, world_seed: int = 0) -> list[Case]:
    w = world.make_world(world_seed)
    return [Case(conv, answer) for conv, answer in world.eval_questions(w, random.Random(seed + 12345), n)]


def run_skill(lm: LoadedModel, name: str, cases: list[Case], n_examples: int = 5) -> Iterator[int | SkillResult]:
    """Yields the number of cases done after each case, then the SkillResult."""
    result = SkillResult(name, len(cases), 0)
    for i, case in enumerate(cases):
        reply = reply_text(lm, case.messages)
        ok = case.passes(reply)
        result.correct += ok
        if len(result.examples) < n_examples:
            result.examples.append({"question": case.messages[-1]["content"], "expected": case.expected, "reply": reply, "ok": ok})
        yield i + 1
    yield result


@torch.no_grad()
def held_out_perplexity(lm: LoadedModel, n_documents: int = 200, seed: int = 4242, world_seed: int = 0) -> float:
    """exp(mean next-token loss) over newly drawn world stories, in windows of block_size."""
    docs = world.pretraining_documents(world.make_world(world_seed), random.Random(seed), n_documents)
    ids = torch.from_numpy(documents_stream(lm.tokenizer, docs).ids)
    T = lm.config.block_size
    n = (len(ids) - 1) // T
    x = ids[: n * T].view(n, T)
    y = ids[1 : n * T + 1].view(n, T)
    losses = [lm.model(x[i : i + 16], y[i : i + 16]).loss.item() * len(x[i : i + 16]) for i in range(0, n, 16)]
    return math.exp(sum(losses) / n)


def summary(results: list[SkillResult], perplexity: float | None) -> dict:
    return {"skills": [r.to_dict() for r in results], "held_out_perplexity": perplexity}


"""Evaluation: a model's skills, measured on cases it never saw in training.

The cases and their graders come from `engine.skills` (held-out phrasings, held-out values); this
module runs a model on them, greedily, and counts. A grader reads only the reply, so a model that
always says "X lives in ..." scores nothing for the "..." it gets wrong.

Also the held-out perplexity: exp(mean next-token loss) on newly drawn stories about the world.

It does not train or change the model.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from dataclasses import dataclass, field

import torch

from engine import skills, world
from engine.chat import ReplyDone, stream_reply
from engine.checkpoint import LoadedModel
from engine.data import documents_stream
from engine.generate import SamplingConfig
from engine.skills import Case

GREEDY = SamplingConfig(temperature=0.0, max_new_tokens=48, attention=False, n_candidates=1)


@dataclass
class SkillResult:
    name: str
    row: str  # the skill's name in the table ("grounded answer", "instructions", ...)
    cases: int
    correct: int
    bar: float
    higher_is_better: bool = True
    examples: list[dict] = field(default_factory=list)  # a few (question, expected, reply) to read

    @property
    def accuracy(self) -> float:
        return self.correct / self.cases if self.cases else 0.0

    @property
    def meets_bar(self) -> bool:
        return self.accuracy >= self.bar if self.higher_is_better else self.accuracy <= self.bar

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "row": self.row,
            "cases": self.cases,
            "accuracy": round(self.accuracy, 4),
            "correct": self.correct,
            "bar": self.bar,
            "higher_is_better": self.higher_is_better,
            "meets_bar": self.meets_bar,
            "examples": self.examples,
        }


def reply_text(lm: LoadedModel, messages: list[dict], sampling: SamplingConfig = GREEDY) -> str:
    for event in stream_reply(lm, messages, sampling):
        if isinstance(event, ReplyDone):
            return event.text
    return ""


def suite(n: int, seed: int = 0, world_seed: int = 0, only: list[str] | None = None) -> dict[str, list[Case]]:
    cases = skills.eval_suite(world.make_world(world_seed), seed=seed, n_per_skill=n)
    return {k: v for k, v in cases.items() if only is None or k in only}


def world_knowledge_cases(n: int, seed: int = 0, world_seed: int = 0) -> list[Case]:
    return suite(n, seed, world_seed, only=["world"])["world"]


def run_skill(lm: LoadedModel, name: str, cases: list[Case], n_examples: int = 5) -> Iterator[int | SkillResult]:
    """Yields the number of cases done after each case, then the SkillResult."""
    skill = skills.SKILLS[name]
    result = SkillResult(name, skill.row, len(cases), 0, skill.bar, skill.higher_is_better)
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

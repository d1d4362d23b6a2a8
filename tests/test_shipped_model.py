"""The model shipped in models/default: it loads, and it knows its world on held-out phrasings.

The bar here sits below the accuracy measured when it was trained (see the README's model card), so
the test fails if the shipped files are swapped, corrupted, or retrained into something worse.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.checkpoint import load_model
from engine.evaluate import reply_text, run_skill, world_knowledge_cases

SHIPPED = Path(__file__).resolve().parents[1] / "models" / "default"


@pytest.fixture(scope="module")
def shipped():
    return load_model(SHIPPED)


def test_shipped_model_answers_held_out_world_questions(shipped) -> None:
    *_, result = run_skill(shipped, "world", world_knowledge_cases(40, seed=99))
    assert result.accuracy >= 0.6, result.examples


def test_shipped_model_is_a_chat_model(shipped) -> None:
    reply = reply_text(shipped, [{"role": "user", "content": "Hello!"}])
    assert reply and "<|" not in reply
    assert shipped.meta["recipe"] == "default" and shipped.meta["step"] == shipped.meta["train"]["max_steps"]

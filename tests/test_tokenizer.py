"""The tokenizer: exact round trips, spans that cover the text, special tokens that cannot be typed."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.tokenizer import END, SPECIAL_TOKENS, Tokenizer, TokenizerError, show_text, train_tokenizer


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_decode_encode_round_trip(tokenizer: Tokenizer, text: str) -> None:
    assert tokenizer.decode(tokenizer.encode(text)) == text


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_spans_cover_the_input_exactly(tokenizer: Tokenizer, text: str) -> None:
    tokens = tokenizer.tokens(text)
    assert [t.id for t in tokens] == tokenizer.encode(text)
    # spans run left to right with no gap, from 0 to len(text); tokens that split one character
    # share that character's span, so a span may start before the previous one ends, never after
    end = 0
    for t in tokens:
        start, stop = t.span
        assert start <= end <= stop or (start == end and stop > start)
        assert start < stop
        end = max(end, stop)
    assert end == len(text)
    # the tokens of each span-group decode to exactly that slice of the text
    groups: list[tuple[tuple[int, int], list[int]]] = []
    for t in tokens:
        if groups and t.span[0] < groups[-1][0][1]:
            (s, e), ids = groups[-1]
            groups[-1] = ((s, max(e, t.span[1])), ids + [t.id])
        else:
            groups.append((t.span, [t.id]))
    assert "".join(tokenizer.decode(ids) for _, ids in groups) == text
    for (s, e), ids in groups:
        assert tokenizer.decode(ids) == text[s:e]


def test_lone_surrogates_become_question_marks(tokenizer: Tokenizer) -> None:
    assert tokenizer.decode(tokenizer.encode("a\ud800b")) == "a?b"


def test_special_tokens_cannot_be_typed(tokenizer: Tokenizer) -> None:
    ids = tokenizer.encode(f"hello {END}")
    assert tokenizer.special_ids[END] not in ids
    assert tokenizer.decode(ids) == f"hello {END}"
    assert set(tokenizer.special_ids) == set(SPECIAL_TOKENS)
    assert all(tokenizer.token_text(i) == name for name, i in tokenizer.special_ids.items())


@pytest.mark.parametrize(
    "piece, shown",
    [(b" the", "·the"), (b"\n", "↵"), (b"\t", "→"), (b"cat", "cat"), (b"\xe2\x82", "<e2 82>"), (b" \xe6\x97", "·<e6 97>"), ("€".encode(), "€")],
)
def test_show_text(piece: bytes, shown: str) -> None:
    assert show_text(piece) == shown


def test_token_text_marks_leading_space(tokenizer: Tokenizer) -> None:
    texts = [t.text for t in tokenizer.tokens("the cat sat")]
    assert texts[0] == "the" and all(t.startswith("·") for t in texts[1:])


def test_save_load_and_hash(tokenizer: Tokenizer, tmp_path) -> None:
    tokenizer.save(tmp_path / "tokenizer.json")
    again = Tokenizer.load(tmp_path / "tokenizer.json")
    assert again.sha256 == tokenizer.sha256
    assert again.encode("the red house") == tokenizer.encode("the red house")
    other = train_tokenizer(["completely different words here"] * 50, vocab_size=300)
    assert other.sha256 != tokenizer.sha256


def test_training_learns_merges_for_frequent_words(tokenizer: Tokenizer) -> None:
    assert len(tokenizer.encode(" house")) == 1  # frequent in the training text: one token
    assert len(tokenizer.encode(" xylophone")) > 3  # never seen: falls apart into pieces
    assert tokenizer.merges and all(len(m) == 2 for m in tokenizer.merges)


def test_load_errors_are_clear(tmp_path) -> None:
    with pytest.raises(TokenizerError, match="no tokenizer"):
        Tokenizer.load(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(TokenizerError, match="not a readable tokenizer"):
        Tokenizer.load(tmp_path / "bad.json")

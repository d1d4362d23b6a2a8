"""The `dummies` command as a person uses it: train a tiny model, use it, and get clear errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tui.cli import main
from tui.train_view import sparkline

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("cli") / "tiny"
    assert main(["train", "--recipe", "tiny", "--steps", "20", "--out", str(out)]) == 0
    return out


def test_train_writes_a_model_family(trained, capsys) -> None:
    assert (trained / "tokenizer.json").is_file()
    for member in ("base", "instruct"):
        assert {"model.safetensors", "config.json", "tokenizer.json"} <= {p.name for p in (trained / member).iterdir()}
    for adapter in ("norlish", "cheerful"):
        assert {"adapter_model.safetensors", "adapter_config.json"} <= {p.name for p in (trained / "adapters" / adapter).iterdir()}
    assert main(["info", "--model", str(trained), "--json"]) == 0  # the family's instruct model
    info = json.loads(capsys.readouterr().out)
    assert info["trained_steps"] == 20 and info["n_layer"] == 2 and info["parameters"] > 10_000
    assert info["model"].endswith("instruct")


def test_train_again_resumes_instead_of_starting_over(trained, capsys) -> None:
    assert main(["train", "pretrain", "--recipe", "tiny", "--steps", "20", "--out", str(trained)]) == 0
    assert "resuming from step 20" in capsys.readouterr().out


def test_a_stage_without_its_input_says_what_to_run_first(tmp_path, capsys) -> None:
    assert main(["train", "sft", "--recipe", "tiny", "--out", str(tmp_path / "empty")]) == 2
    assert "run `dummies train pretrain` first" in capsys.readouterr().err


def test_generate_is_repeatable_with_a_seed(trained, capsys) -> None:
    args = ["generate", "Where does", "--model", str(trained), "--seed", "3", "--max-new-tokens", "12"]
    main(args)
    first = capsys.readouterr()
    main(args)
    second = capsys.readouterr()
    assert first.out == second.out and first.out.startswith("Where does")
    assert "tok/s" in first.err
    assert main(["generate", "hello", "--chat", "--model", str(trained), "--temperature", "0"]) == 0


def test_tokenize_json(trained, capsys) -> None:
    assert main(["tokenize", "Where does Amara live?", "--model", str(trained), "--json"]) == 0
    tokens = json.loads(capsys.readouterr().out)
    text = "Where does Amara live?"
    assert tokens[0]["span"][0] == 0 and tokens[-1]["span"][1] == len(text)
    assert "".join(t["text"] for t in tokens).replace("·", " ") == text


@pytest.mark.parametrize(
    "args, message",
    [
        (["generate", "hi", "--model", "/nonexistent/model"], "no model folder"),
        (["generate", "hi", "--top-p", "2"], "top_p"),
        (["train", "--recipe", "huge"], "unknown recipe"),
        (["train", "--recipe", "tiny", "--n-embd", "30", "--n-head", "4", "--out", "/tmp/never"], "multiple of n_head"),
    ],
)
def test_mistakes_get_one_clear_line(args, message, capsys) -> None:
    assert main(args) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and err.startswith("dummies: ")


def test_the_console_script_entry_point_runs(trained) -> None:
    out = subprocess.run([sys.executable, "-m", "tui.cli", "info", "--model", str(trained)], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0 and "block_size" in out.stdout


def test_sparkline() -> None:
    assert sparkline([3, 2, 1]) == "█▄▁"
    assert len(sparkline(list(range(500)), width=40)) == 40


def test_train_on_your_own_corpus(tmp_path, capsys) -> None:
    corpus = tmp_path / "texts"
    corpus.mkdir()
    (corpus / "poem.txt").write_text("the quick brown fox jumps over the lazy dog.\n\n" * 400)
    out = tmp_path / "mine"
    assert main(["train", "--recipe", "tiny", "--steps", "20", "--corpus", str(corpus), "--out", str(out)]) == 0
    assert "your corpus" in capsys.readouterr().out
    assert not (out / "instruct").exists()  # your own text makes a base model only
    assert main(["info", "--model", str(out), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["data"] == "corpus"
    assert main(["train", "--recipe", "tiny", "--corpus", str(tmp_path / "nothing-here"), "--out", str(out), "--fresh"]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_eval_reports_each_skill_against_its_bar(trained, tmp_path, capsys) -> None:
    report = tmp_path / "eval.json"
    assert main(["eval", str(trained), "--n", "3", "--skill", "world", "idk", "--json", str(report)]) == 0
    out = capsys.readouterr().out
    assert "world" in out and "idk" in out and "held-out perplexity" in out
    data = json.loads(report.read_text())
    assert [s["name"] for s in data["skills"]] == ["world", "idk"]
    assert all(s["cases"] == 3 and 0 <= s["accuracy"] <= 1 for s in data["skills"])
    assert main(["eval", str(trained), "--skill", "juggling"]) == 2


def test_ask_with_context_turns_adapters_and_json(trained, capsys) -> None:
    args = ["ask", "Where does Ottilie live?", "--model", str(trained), "--context", "Ottilie lives in Quarrow.", "--turn", "My name is Bram.", "--json", "--max-new-tokens", "6"]
    assert main(args) == 0
    answer = json.loads(capsys.readouterr().out)
    roles = [m["role"] for m in answer["messages"]]
    assert roles == ["context", "user", "assistant", "user", "assistant"]
    assert answer["prompt"].startswith("<|context|>Ottilie lives in Quarrow.<|end|><|user|>My name is Bram.<|end|><|assistant|>")
    assert answer["prompt"].endswith("<|user|>Where does Ottilie live?<|end|><|assistant|>")
    assert answer["messages"][-1]["content"] == answer["reply"]
    for extra in (["--adapter", "norlish"], ["--adapter", "cheerful"], ["--base"]):
        assert main(["ask", "hello", "--model", str(trained), *extra]) == 0
    capsys.readouterr()
    assert main(["ask", "hello", "--model", str(trained), "--adapter", "pirate"]) == 2
    assert "no adapter 'pirate'" in capsys.readouterr().err

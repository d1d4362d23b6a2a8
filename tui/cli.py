"""The `dummies` command: chat, train, generate, tokenize, info, export.

Each subcommand that uses a model takes `--model DIR` (default: the model shipped in models/default).
Errors a person can cause (a missing model, a bad flag value, an unreadable corpus) are printed as
one clear line and exit with status 2; there is never a traceback for those.

Textual is imported only by `dummies chat`, so the other commands start fast and work without a
terminal screen.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_MODEL = REPO_ROOT / "models" / "default"


class UserError(Exception):
    """A problem the user can fix; printed without a traceback."""


def _add_model_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", type=Path, default=DEFAULT_MODEL, metavar="DIR", help="model folder (default: %(default)s)")


def _add_sampling_args(p: argparse.ArgumentParser, max_new_tokens: int = 128) -> None:
    g = p.add_argument_group("sampling")
    g.add_argument("--temperature", type=float, default=0.8, help="0 = greedy (default: %(default)s)")
    g.add_argument("--top-k", type=int, default=40, help="0 = off (default: %(default)s)")
    g.add_argument("--top-p", type=float, default=0.95, help="1 = off (default: %(default)s)")
    g.add_argument("--max-new-tokens", type=int, default=max_new_tokens)
    g.add_argument("--seed", type=int, default=None, help="fix the random draws (default: fresh each time)")


def _sampling(args: argparse.Namespace):
    from engine.generate import SamplingConfig

    try:
        return SamplingConfig(
            temperature=args.temperature, top_k=args.top_k, top_p=args.top_p, max_new_tokens=args.max_new_tokens, seed=args.seed
        )
    except ValueError as e:
        raise UserError(str(e)) from None


def _load(path: Path, variant: str = "instruct"):
    """A model folder, or the instruct (or base) model of a family folder made by the pipeline."""
    from engine.checkpoint import ModelError, load_model, resolve_model_dir

    try:
        return load_model(resolve_model_dir(path, variant))
    except ModelError as e:
        raise UserError(str(e)) from None


# ----- subcommands


def cmd_chat(args: argparse.Namespace) -> int:
    sampling = _sampling(args)  # a bad flag is reported before the (slower) model load
    lm = _load(args.model)
    from tui.app import ChatApp

    ChatApp(lm, sampling, system_prompt=args.system).run()
    return 0


def cmd_generate(args: argparse.Namespace) -> int:
    """Continue a text (or, with --chat, reply to it as a user message), streaming to stdout."""
    from engine.chat import ReplyDone, ReplyToken, stream_reply
    from engine.generate import Done, TokenEvent, Truncated, generate
    from engine.tokenizer import ENDOFTEXT

    sampling = _sampling(args)  # a bad flag is reported before the (slower) model load
    lm = _load(args.model)
    out = sys.stdout
    if args.chat:
        for event in stream_reply(lm, [{"role": "user", "content": args.prompt}], sampling):
            if isinstance(event, ReplyToken):
                out.write(event.piece)
                out.flush()
            elif isinstance(event, Truncated):
                print(f"[prompt cut: {event.rule}]", file=sys.stderr)
            elif isinstance(event, ReplyDone):
                out.write("\n")
                print(f"[{event.done.n_tokens} tokens, {event.done.tokens_per_s:.0f} tok/s, {event.done.explanation}]", file=sys.stderr)
        return 0

    ids = lm.tokenizer.encode(args.prompt)
    if not ids:
        raise UserError("the prompt is empty")
    stream = lm.tokenizer.decode_stream()
    out.write(args.prompt)
    for event in generate(lm.model, ids, sampling, stop_ids={lm.tokenizer.special_ids[ENDOFTEXT]}):
        if isinstance(event, TokenEvent) and not event.is_stop:
            out.write(stream.step(event.token_id))
            out.flush()
        elif isinstance(event, Truncated):
            print(f"[prompt cut: {event.rule}]", file=sys.stderr)
        elif isinstance(event, Done):
            out.write(stream.flush() + "\n")
            print(f"[{event.n_tokens} tokens, {event.tokens_per_s:.0f} tok/s, {event.explanation}]", file=sys.stderr)
    return 0


def cmd_ask(args: argparse.Namespace) -> int:
    """Answer one question from the shell, with context documents and earlier turns."""
    from engine.chat import ask

    sampling = _sampling(args)
    lm = _load(args.model, "base" if args.base else "instruct")
    if args.adapter:
        lm = _adapted(args.model, lm, args.adapter)
    answer = ask(lm, args.question, args.context or (), args.turn or (), sampling)
    if args.json:
        prompt = lm.tokenizer.decode(answer.prompt_ids)
        print(json.dumps({"reply": answer.reply, "prompt": prompt, "prompt_tokens": len(answer.prompt_ids), "messages": answer.messages}, ensure_ascii=False, indent=2))
    else:
        print(answer.reply)
    return 0


def _adapted(family: Path, lm, name: str):
    """`lm` with the LoRA adapter `name` from the family folder's adapters/ switched on."""
    from engine.lora import AdapterError, load_adapters

    folder = Path(family) / "adapters" / name
    if not folder.is_dir():
        found = sorted(p.name for p in (Path(family) / "adapters").glob("*") if p.is_dir())
        raise UserError(f"no adapter {name!r} in {family}/adapters (found: {', '.join(found) or 'none'})")
    try:
        return load_adapters(lm, {name: folder}).loaded_model(name)
    except AdapterError as e:
        raise UserError(str(e)) from None


def cmd_tokenize(args: argparse.Namespace) -> int:
    lm = _load(args.model)
    tokens = lm.tokenizer.tokens(args.text)
    if args.json:
        print(json.dumps([{"id": t.id, "text": t.text, "span": list(t.span)} for t in tokens], ensure_ascii=False))
        return 0
    from rich.console import Console
    from rich.text import Text

    colours = ["on dark_blue", "on dark_green", "on dark_red", "on purple4", "on dark_cyan", "on grey30"]
    line = Text()
    for i, t in enumerate(tokens):
        line.append(t.text, style=colours[i % len(colours)])
    Console().print(line)
    Console().print(f"{len(tokens)} tokens for {len(args.text)} characters: " + " ".join(str(t.id) for t in tokens))
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    lm = _load(args.model)
    c = lm.config
    info = {
        "model": str(lm.path),
        "parameters": lm.model.num_params(),
        **c.to_dict(),
        "tokenizer_vocab": lm.tokenizer.vocab_size,
        "trained_steps": lm.meta.get("step"),
        "data": lm.meta.get("data"),
    }
    if args.json:
        print(json.dumps(info, indent=2))
    else:
        for k, v in info.items():
            print(f"{k:>16}: {v}")
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    """Per-skill accuracy on held-out cases, against the bars of the model pipeline, and held-out perplexity."""
    from rich.console import Console
    from rich.progress import Progress

    from engine import skills
    from engine.evaluate import SkillResult, held_out_perplexity, run_skill, suite, summary
    from engine.fileio import atomic_write_json

    if args.skill and (unknown := set(args.skill) - set(skills.SKILLS)):
        raise UserError(f"unknown skill {', '.join(sorted(unknown))}; choose from {', '.join(skills.SKILLS)}")
    lm = _load(args.model_pos or args.model)
    console = Console(stderr=True)
    results: list[SkillResult] = []
    with Progress(console=console, transient=True) as progress:
        for name, cases in suite(args.n, only=args.skill).items():
            task = progress.add_task(name, total=len(cases))
            for item in run_skill(lm, name, cases):
                if isinstance(item, SkillResult):
                    results.append(item)
                else:
                    progress.update(task, completed=item)
    perplexity = held_out_perplexity(lm)
    if args.json:
        atomic_write_json(args.json, summary(results, perplexity))
    print(f"{'skill':<18} {'cases':>6} {'accuracy':>9}  bar")
    for r in results:
        bar = f"{'>=' if r.higher_is_better else '<='} {r.bar:.0%}" + ("" if r.meets_bar else "  (below the bar)")
        print(f"{r.name:<18} {r.cases:>6} {r.accuracy:>8.1%}  {bar}")
    print(f"held-out perplexity: {perplexity:.2f}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from engine.export import export_hf

    lm = _load(args.model)
    try:
        out = export_hf(lm, args.hf)
    except (ValueError, OSError) as e:
        raise UserError(str(e)) from None
    print(f"wrote a GPT-2 model folder for transformers to {out}")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from tui.train_view import run_training

    return run_training(args)


# ----- the parser


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dummies", description="LLMs from Dummies: a small GPT you train, chat with and take apart.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("chat", help="chat with a model in the terminal app")
    _add_model_arg(p)
    _add_sampling_args(p)
    p.add_argument("--system", default=None, help="a system prompt to start every conversation with")
    p.set_defaults(func=cmd_chat)

    p = sub.add_parser("generate", help="continue a text with the model, token by token")
    p.add_argument("prompt")
    _add_model_arg(p)
    _add_sampling_args(p)
    p.add_argument("--chat", action="store_true", help="treat the prompt as a user message and print the assistant's reply")
    p.set_defaults(func=cmd_generate)

    p = sub.add_parser("ask", help="answer one question, with optional context documents and earlier turns")
    p.add_argument("question")
    _add_model_arg(p)
    p.add_argument("--context", action="append", metavar="TEXT", help="a document to put in the prompt (repeatable)")
    p.add_argument("--turn", action="append", metavar="TEXT", help="an earlier user message, answered in turn first (repeatable)")
    which = p.add_mutually_exclusive_group()
    which.add_argument("--adapter", metavar="NAME", help="answer with this LoRA adapter of the model family")
    which.add_argument("--base", action="store_true", help="answer with the base (pretrained only) model")
    p.add_argument("--json", action="store_true", help="print the reply and the exact prompt as JSON")
    _add_sampling_args(p, max_new_tokens=64)
    p.set_defaults(func=cmd_ask, temperature=0.0)

    p = sub.add_parser("tokenize", help="show how the model's tokenizer splits a text")
    p.add_argument("text")
    _add_model_arg(p)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_tokenize)

    p = sub.add_parser("info", help="show a model's size and settings")
    _add_model_arg(p)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_info)

    p = sub.add_parser("eval", help="measure a model's skills on questions held out from training")
    p.add_argument("model_pos", nargs="?", type=Path, metavar="MODEL", help="model folder (same as --model)")
    _add_model_arg(p)
    p.add_argument("--n", type=int, default=200, help="cases per skill (default: %(default)s)")
    p.add_argument("--skill", nargs="+", metavar="NAME", help="only these skills (default: all)")
    p.add_argument("--json", type=Path, metavar="FILE", help="also write the report as JSON")
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("export", help="write the model in another format")
    _add_model_arg(p)
    p.add_argument("--hf", type=Path, required=True, metavar="DIR", help="a GPT-2 folder that transformers loads")
    p.set_defaults(func=cmd_export)

    from tui.train_view import add_train_args

    p = sub.add_parser("train", help="make a model family from nothing: tokenizer, pretrain, sft, lora (resumes)")
    add_train_args(p, REPO_ROOT / "runs" / "default")  # beside the shipped model, never over it by default
    p.set_defaults(func=cmd_train)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except UserError as e:
        print(f"dummies: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\ndummies: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

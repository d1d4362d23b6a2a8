"""`dummies train` on the command line: the pipeline's stages, drawn as progress bars.

Each stage prints a line when it starts and ends; training shows a live bar with step, loss,
tokens/s and ETA (a plain line every 5% when the output is not a terminal), and a line for each
evaluation. Ctrl+C stops cleanly: the last checkpoint stays, and running the same command again
resumes from it. At the end of each training stage its loss curve is drawn as a sparkline.

It does no training itself: `engine.pipeline.run_pipeline` does, and this only draws its events.
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

SPARKS = "▁▂▃▄▅▆▇█"
STAGE_CHOICES = ("all", "tokenizer", "pretrain", "sft", "lora")


def add_train_args(p: argparse.ArgumentParser, default_out: Path) -> None:
    p.add_argument("stage", nargs="?", default="all", choices=STAGE_CHOICES, help="which stage to run (default: all, in order)")
    p.add_argument("--out", type=Path, default=default_out, metavar="DIR", help="model family folder to write (default: %(default)s)")
    p.add_argument("--recipe", default="default", help="tiny (seconds) or default (the shipped model, ~30 min)")
    p.add_argument("--corpus", nargs="+", type=Path, metavar="PATH", help="pretrain on your own text files instead of the built-in world")
    p.add_argument("--steps", type=int, help="training steps of each stage run (overrides the recipe)")
    p.add_argument("--block-size", type=int)
    p.add_argument("--n-layer", type=int)
    p.add_argument("--n-head", type=int)
    p.add_argument("--n-embd", type=int)
    p.add_argument("--vocab-size", type=int)
    p.add_argument("--device", help="cpu, cuda or auto")
    p.add_argument("--fresh", action="store_true", help="start over instead of resuming what is found in --out")


def sparkline(values: list[float], width: int = 60) -> str:
    """[3, 2, 1] -> '█▄▁': one character per value (resampled to `width`), high = tall."""
    if not values:
        return ""
    if len(values) > width:
        values = [values[int(i * len(values) / width)] for i in range(width)]
    lo, hi = min(values), max(values)
    span = (hi - lo) or 1.0
    return "".join(SPARKS[int((v - lo) / span * (len(SPARKS) - 1))] for v in values)


def recipe_from_args(args: argparse.Namespace):
    from engine.recipe import RECIPES

    from tui.cli import UserError

    if args.recipe not in RECIPES:
        raise UserError(f"unknown recipe {args.recipe!r}; choose one of {', '.join(RECIPES)}")
    r = RECIPES[args.recipe]
    gpt = {k: getattr(args, k) for k in ("block_size", "n_layer", "n_head", "n_embd") if getattr(args, k) is not None}
    tr = {k: v for k, v in {"max_steps": args.steps, "device": args.device}.items() if v is not None}
    try:
        r = replace(
            r,
            gpt=replace(r.gpt, **gpt),
            pretrain=replace(r.pretrain, **tr),
            sft=replace(r.sft, **tr),
            lora_train=replace(r.lora_train, **tr),
        )
        if args.vocab_size is not None:
            r = replace(r, vocab_size=args.vocab_size)
    except ValueError as e:
        raise UserError(str(e)) from None
    return r


def run_training(args: argparse.Namespace) -> int:
    from engine.pipeline import STAGES, StageDone, StageStarted, run_pipeline
    from engine.train import EvalInfo, Resumed, StepInfo

    from tui.cli import UserError

    recipe = recipe_from_args(args)
    stages = STAGES if args.stage == "all" else (args.stage,)
    if args.corpus and args.stage == "all":
        stages = ("tokenizer", "pretrain")  # your own text makes a base model; instruct tuning needs the world's chats
    console = Console()
    progress = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("loss [cyan]{task.fields[loss]}"),
        TextColumn("{task.fields[speed]} tok/s"),
        TextColumn("ETA {task.fields[eta]}"),
        TimeElapsedColumn(),
        console=console,
    )
    task = None
    losses: list[float] = []
    try:
        with progress:
            for event in run_pipeline(recipe, args.out, stages, corpus=args.corpus, resume=not args.fresh):
                if isinstance(event, StageStarted):
                    console.print(f"[bold]{event.stage}[/]: {event.detail}")
                elif isinstance(event, StageDone):
                    if losses:
                        console.print(f"  loss {losses[0]:.2f} {sparkline(losses)} {losses[-1]:.2f}")
                    console.print(f"  done in {event.seconds:.1f}s: {event.detail}")
                    if task is not None:
                        progress.remove_task(task)
                    task, losses = None, []
                elif isinstance(event, Resumed):
                    console.print(f"  resuming from step {event.step}")
                elif isinstance(event, StepInfo):
                    if task is None:
                        task = progress.add_task("train", total=event.max_steps, loss="-", speed="-", eta="-")
                    losses.append(event.loss)
                    m, s = divmod(int(event.eta_s), 60)
                    progress.update(task, completed=event.step, loss=f"{event.loss:.3f}", speed=f"{event.tokens_per_s:,.0f}", eta=f"{m}:{s:02d}")
                    if not console.is_terminal and event.step % max(1, event.max_steps // 20) < 10:
                        # no live bar in a log file: a plain line every 5% instead
                        console.print(f"  step {event.step}/{event.max_steps} loss {event.loss:.3f} {event.tokens_per_s:,.0f} tok/s ETA {m}:{s:02d}")
                elif isinstance(event, EvalInfo):
                    console.print(f"  step {event.step}: train loss {event.train_loss:.3f}, held-out loss {event.val_loss:.3f}")
    except KeyboardInterrupt:
        console.print(f"\nstopped. The last checkpoint is in {args.out}; run the same command again to resume.")
        return 130
    except (ValueError, OSError) as e:
        raise UserError(str(e)) from None
    console.print(f"done: {args.out}. Chat with it: dummies chat --model {args.out}")
    return 0

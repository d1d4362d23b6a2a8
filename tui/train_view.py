"""`dummies train` on the command line: the recipe's stages, drawn as progress bars.

Each stage prints a line when it ends; training shows a live bar with step, loss, tokens/s and ETA,
and a line for each evaluation. Ctrl+C stops cleanly: the last checkpoint stays, and running the same
command again resumes from it. At the end the loss curve is drawn as a sparkline.

It does no training itself: `engine.recipe.run_recipe` does, and this only draws its events.
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

SPARKS = "▁▂▃▄▅▆▇█"


def add_train_args(p: argparse.ArgumentParser, default_out: Path) -> None:
    p.add_argument("--out", type=Path, default=default_out, metavar="DIR", help="model folder to write (default: %(default)s)")
    p.add_argument("--recipe", default="default", help="tiny (seconds) or default (the shipped model, ~15 min)")
    p.add_argument("--corpus", nargs="+", type=Path, metavar="PATH", help="pretrain on your own text files instead of the built-in world")
    p.add_argument("--steps", type=int, help="training steps (overrides the recipe)")
    p.add_argument("--batch-size", type=int)
    p.add_argument("--lr", type=float)
    p.add_argument("--block-size", type=int)
    p.add_argument("--n-layer", type=int)
    p.add_argument("--n-head", type=int)
    p.add_argument("--n-embd", type=int)
    p.add_argument("--vocab-size", type=int)
    p.add_argument("--device", help="cpu, cuda or auto")
    p.add_argument("--fresh", action="store_true", help="start over instead of resuming a run found in --out")


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
    tr = {k: v for k, v in {"max_steps": args.steps, "batch_size": args.batch_size, "lr": args.lr, "device": args.device}.items() if v is not None}
    try:
        r = replace(r, gpt=replace(r.gpt, **gpt), train=replace(r.train, **tr))
        if args.vocab_size is not None:
            r = replace(r, vocab_size=args.vocab_size)
    except ValueError as e:
        raise UserError(str(e)) from None
    return r


def run_training(args: argparse.Namespace) -> int:
    from engine.recipe import StageDone, StageStarted, run_recipe
    from engine.train import EvalInfo, Resumed, Saved, StepInfo

    from tui.cli import UserError

    recipe = recipe_from_args(args)
    console = Console()
    progress = Progress(
        TextColumn("[bold]train"),
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
            for event in run_recipe(recipe, args.out, corpus=args.corpus, resume=not args.fresh):
                if isinstance(event, StageStarted):
                    console.print(f"[bold]{event.stage}[/]: {event.detail}")
                    if event.stage == "train":
                        task = progress.add_task("train", total=recipe.train.max_steps, loss="-", speed="-", eta="-")
                elif isinstance(event, StageDone):
                    console.print(f"  done in {event.seconds:.1f}s: {event.detail}")
                elif isinstance(event, Resumed):
                    console.print(f"  resuming from step {event.step}")
                    progress.update(task, completed=event.step)
                elif isinstance(event, StepInfo):
                    losses.append(event.loss)
                    m, s = divmod(int(event.eta_s), 60)
                    progress.update(task, completed=event.step, loss=f"{event.loss:.3f}", speed=f"{event.tokens_per_s:,.0f}", eta=f"{m}:{s:02d}")
                    if not console.is_terminal and event.step % max(1, event.max_steps // 20) < recipe.train.log_interval:
                        # no live bar in a log file: a plain line every 5% instead
                        console.print(f"  step {event.step}/{event.max_steps} loss {event.loss:.3f} {event.tokens_per_s:,.0f} tok/s ETA {m}:{s:02d}")
                elif isinstance(event, EvalInfo):
                    console.print(f"  step {event.step}: train loss {event.train_loss:.3f}, held-out loss {event.val_loss:.3f}")
                elif isinstance(event, Saved):
                    pass
    except KeyboardInterrupt:
        console.print(f"\nstopped. The last checkpoint is in {args.out}; run the same command again to resume.")
        return 130
    except (ValueError, OSError) as e:
        raise UserError(str(e)) from None
    if losses:
        console.print(f"loss {losses[0]:.2f} {sparkline(losses)} {losses[-1]:.2f}")
    console.print(f"model saved in {args.out}. Chat with it: dummies chat --model {args.out}")
    return 0

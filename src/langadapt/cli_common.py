"""Shared pieces of every CLI command: params loading, error handling, progress bars, summaries.

A command is a few lines: parse options, ``cfg = load(params, sets)``, call the library, ``summary(...)``.
``@handles_errors`` turns a ``LangadaptError`` into ``error: <message>`` on stderr and its exit code
(2 for config errors), never a traceback.
"""

from __future__ import annotations

import functools
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from langadapt.config import Params, load_params
from langadapt.errors import LangadaptError

T = TypeVar("T")

ParamsOpt = Annotated[
    Path, typer.Option("--params", "-p", help="params.yaml to read (the one configuration).")
]
SetOpt = Annotated[
    list[str] | None,
    typer.Option("--set", "-s", help="Override a params key, e.g. -s cpt.max_steps=10 (repeatable)."),
]


def load(params: Path = Path("params.yaml"), sets: list[str] | None = None) -> Params:
    return load_params(params, overrides=sets or [])


def handles_errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except LangadaptError as e:
            typer.secho(f"error: {e}", fg=typer.colors.RED, err=True)
            raise typer.Exit(e.exit_code) from None
        except KeyboardInterrupt:
            typer.secho("interrupted: outputs written so far are complete; rerun to resume", err=True)
            raise typer.Exit(130) from None

    return wrapper


def progress(iterable: Iterable[T], desc: str, total: int | None = None, unit: str = "it") -> Iterator[T]:
    """A tqdm progress bar on stderr."""
    from tqdm.auto import tqdm

    yield from tqdm(iterable, desc=desc, total=total, unit=unit, file=sys.stderr, mininterval=0.5,
                    dynamic_ncols=True, leave=False)


class Timer:
    def __init__(self) -> None:
        self.start = time.perf_counter()

    @property
    def seconds(self) -> float:
        return time.perf_counter() - self.start


def summary(stage: str, text: str, seconds: float | None = None) -> None:
    """The one-line summary each stage ends with, e.g. ``filter: 312 in -> 280 kept (...) in 4.2s``."""
    tail = f" in {seconds:.1f}s" if seconds is not None else ""
    typer.secho(f"{stage}: {text}{tail}", fg=typer.colors.GREEN, err=True)

"""The typer application and the error handling every command shares."""

from __future__ import annotations

import contextlib
import functools
import os
import sys
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from creditflow.data.errors import (
    BundleVersionWarning,
    CreditflowError,
    LeakageWarning,
    MissingColumnWarning,
    SmallSampleWarning,
    SpecialValueWarning,
    UnseenCategoryWarning,
)

app = typer.Typer(
    name="creditflow",
    help="Credit risk modelling: features, scorecards, challengers, reports, decisions and monitoring.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
console = Console()
err_console = Console(stderr=True)

EXIT_BAD_INPUT = 2
_python_showwarning = warnings.showwarning


def guarded(func: Callable) -> Callable:
    """Wrap a command so a `CreditflowError` becomes one clear line on stderr and exit status 2."""

    @functools.wraps(func)
    def run(*a: Any, **kw: Any) -> Any:
        try:
            with warnings.catch_warnings():  # restores showwarning afterwards
                warnings.showwarning = _show_warning
                return func(*a, **kw)
        except CreditflowError as exc:
            err_console.print(f"[bold red]error:[/] {escape(exc.message)}", highlight=False, soft_wrap=True)
            raise typer.Exit(EXIT_BAD_INPUT) from None

    return run


@contextlib.contextmanager
def working(what: str) -> Iterator[Callable[[str], None]]:
    """A spinner on stderr naming the step under way, with the time it has taken ("scoring loans.csv 0:00:41"),
    while a command reads, computes and writes; gone when it ends. The function it gives names the next step.
    Only on a terminal: in a pipe or a log it would leave blank lines behind."""
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=err_console,
                  transient=True, disable=not err_console.is_terminal) as bar:
        task = bar.add_task(escape(what), total=None)

        def step(text: str) -> None:
            bar.update(task, description=escape(text), refresh=True)  # shown now, not at the next refresh

        yield step


def _show_warning(message: Warning | str, category: type[Warning], filename: str, lineno: int,
                  file: Any = None, line: str | None = None) -> None:
    """Print creditflow's own warnings (unseen categories, special values, small samples, leakage) as one `warning:` line,
    as the commands' own warnings are, instead of Python's `path:line: Category: ...` with a source line; others as Python does."""
    from sklearn.exceptions import ConvergenceWarning

    if issubclass(category, (UnseenCategoryWarning, SpecialValueWarning, SmallSampleWarning, LeakageWarning,
                                MissingColumnWarning, BundleVersionWarning, ConvergenceWarning)):
        err_console.print(f"[yellow]warning:[/] {escape(str(message))}", highlight=False, soft_wrap=True)
    else:
        _python_showwarning(message, category, filename, lineno, file, line)


def command(*args: Any, on: typer.Typer | None = None, **kwargs: Any) -> Callable:
    """Register a guarded CLI command on `app` (or on a sub-app such as `creditflow policy`)."""

    def wrap(func: Callable) -> Callable:
        return (on or app).command(*args, **kwargs)(guarded(func))

    return wrap


def warn_repeated_ids(data: Any, id_column: str, n: int, example: Any, where: str = "") -> None:
    """Warn of repeated ids: one applicant can fall in both the training and the test sample."""
    err_console.print(f"[yellow]warning:[/] file '{data}', id column '{id_column}': {n:,} repeated id(s), "
                      f"e.g. {str(example)!r}{where}: the same applicant can fall in both the training and the test "
                      "sample", highlight=False, soft_wrap=True)


def warn_text_numbers(data: Any, column: str, declare: str) -> None:
    """Warn of a text column holding only numbers (a Parquet string column): binned as categories."""
    err_console.print(f"[yellow]warning:[/] file '{data}', column '{column}' is stored as text but holds only "
                      f"numbers: it is binned as categories; store it as a number, or {declare} if the values are "
                      "codes", highlight=False, soft_wrap=True)


def warn_text_dates(data: Any, column: str) -> None:
    """Warn of a text column of dates: each date a category, and a later date unseen at scoring."""
    err_console.print(f"[yellow]warning:[/] file '{data}', column '{column}' holds dates as text: each date is "
                      "binned as a category and a later date scores as unseen; derive a number (e.g. days "
                      f"since the date at the observation point), pass it as --time, or --exclude {column}",
                      highlight=False, soft_wrap=True)


def fail(reason: str, **where: Any) -> None:
    """Stop a command for bad input (exit status 2)."""
    raise CreditflowError(reason, **where)


def refuse_overwriting_input(out: Path | None, data: Path | None, what: str, option: str = "--out") -> None:
    """Refuse an output (`option`: --out, --xlsx ...) that is an input file itself (writing it would destroy the
    input), before the work; `what` names the input ("the table being scored")."""
    if out is not None and data is not None and out.exists() and data.exists() and out.resolve() == data.resolve():
        fail(f"{option} is {what}: it would be overwritten", file=str(out))


def refuse_overwriting_inputs(outputs: dict[str, Path | None], inputs: dict[str, Path | None]) -> None:
    """`refuse_overwriting_input` for every output option (name -> path) against every input (what it is ->
    path), e.g. {"--out": out, "--xlsx": xlsx} against {"the --oot table": oot}."""
    for option, out in outputs.items():
        for what, data in inputs.items():
            refuse_overwriting_input(out, data, what, option)


def refuse_directory_outputs(outputs: dict[str, Path | None]) -> None:
    """Refuse, before the work, an output file (option -> path) that is an existing directory: it could only be
    refused when written, after minutes on a big table, and a command writing several files (the HTML report, then
    the workbook, then the JSON) would leave the first ones behind. So is one under an existing file (a folder that
    could not be made)."""
    for option, out in outputs.items():
        if out is not None and out.is_dir():
            fail(f"{option} is an existing directory: name a file to write", file=str(out))
        parent = nearest_existing(out.parent) if out is not None else None
        if parent is not None and not parent.is_dir():
            fail(f"{option} lies under an existing file, not a directory: name a file in a directory",
                 file=str(parent))


def nearest_existing(path: Path) -> Path | None:
    """`path` itself or its nearest ancestor that exists (None when none does): an output under an existing
    file, not a directory, can be refused before the work."""
    return next((p for p in (path, *path.parents) if p.exists()), None)


def encoding_option() -> Any:
    """`--encoding` for commands that read CSV tables (passed to `read_frame` / `read_table`)."""
    return typer.Option(None, "--encoding", help="Text encoding of CSV input, e.g. gbk, big5, latin-1 "
                                                 "(default: UTF-8, then GBK/GB18030).")


def sheet_option(of: str = "") -> Any:
    """`--sheet` for commands that read a table that may be an Excel workbook (`of`: "of DATA " when the command
    reads several tables); None means the first sheet."""
    return typer.Option(None, "--sheet", help=f"Excel sheet {of}to read (default: the first).")


def require_extra(extra: str, *modules: str, command: str) -> None:
    """Stop with a clear message (exit status 2) when an optional extra the command needs is not installed."""
    import importlib.util

    missing = [m for m in modules if importlib.util.find_spec(m) is None]
    if missing:
        raise CreditflowError(f"{command} needs the [{extra}] extra ({', '.join(missing)} not installed): "
                              f"pip install 'creditflow[{extra}]'")


def check_output_dir(out: Path, what: str = "--out", replace: bool = False, force: str = "--force") -> None:
    """A training output directory: refuse a path that is (or lies under) an existing regular file, or
    whose model/ folder holds files that are not a bundle (saving would have to replace them), or a bundle
    unless `replace` (a champion model lost to a retrain), and always a path that is or lies inside a bundle
    (`force`: the option that replaces a bundle, named in that message) — before the work."""
    from creditflow.bundle import is_bundle, read_manifest
    from creditflow.workflow import MODEL_DIR, bundle_as_out_message, bundle_holding

    inside = bundle_holding(out)
    if inside is not None:  # even with --force: the new bundle would be written into the old one
        fail(bundle_as_out_message(out, inside, force, name=what), file=str(inside))
    p = nearest_existing(out)
    if p is not None and not p.is_dir():
        fail(f"{what} must be a directory, but {'this' if p == out else 'a parent'} is an existing file",
             file=str(p))
    model = out / MODEL_DIR
    if model.is_dir() and any(model.iterdir()) and not is_bundle(model):
        fail(f"{what}: the model is written to this folder, which holds other files (not a creditflow bundle); "
             "name another --out", file=str(model))
    if not replace and is_bundle(model):
        try:
            manifest = read_manifest(model)
            which = f" ({manifest.get('model_type')}, model_version {manifest.get('model_version')})"
        except CreditflowError:
            which = ""
        fail(f"{what}: this folder already holds a model bundle{which}; pass --force to replace it, or name "
             "another --out", file=str(model))


def main() -> None:
    """Entry point: run the app; an unexpected error prints one line (set CREDITFLOW_DEBUG=1 for the traceback)."""
    from creditflow.cli import _load_commands

    _load_commands()
    try:
        app()
    except SystemExit:
        raise
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as exc:  # noqa: BLE001 - last resort so users never see a traceback
        if os.environ.get("CREDITFLOW_DEBUG"):
            raise
        err_console.print(f"[bold red]internal error:[/] {type(exc).__name__}: {escape(str(exc))}",
                          highlight=False, soft_wrap=True)
        sys.exit(1)

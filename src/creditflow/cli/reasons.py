"""`creditflow reasons show|export|import`: the bundle's reason-code table, editable as CSV/XLSX."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import typer

from creditflow.cli.app import app, command, console, encoding_option, fail

reasons_app = typer.Typer(help="Reason codes of a model bundle: show, export, edit and import.",
                          no_args_is_help=True)
app.add_typer(reasons_app, name="reasons")


def _command(name: str) -> Callable:
    """A guarded `reasons` subcommand."""
    return command(name, on=reasons_app)


@_command("show")
def show_cmd(model_dir: Path = typer.Argument(..., help="Model bundle directory.")) -> None:
    """Print the reason settings (reference, protected variables) and the code table."""
    from creditflow.scoring.reason_files import current_codes, describe

    info = describe(model_dir)
    console.print_json(json.dumps(info, ensure_ascii=False))
    _, codes = current_codes(model_dir)
    console.print(codes.to_frame().to_string(index=False), highlight=False)


@_command("export")
def export_cmd(
    model_dir: Path = typer.Argument(..., help="Model bundle directory."),
    out: Path = typer.Argument(..., help="Output table: .csv (UTF-8 with BOM, opens in Excel) or .xlsx."),
    force: bool = typer.Option(False, "--force", help="Overwrite OUT when it exists."),
) -> None:
    """Write the reason-code table (code, variable, text, missing_code, missing_text, version) for editing."""
    from creditflow.scoring.reason_files import export_codes

    if out.exists() and not force:  # most likely the table being edited: exporting again would lose the edits
        fail("the file exists (an edited code table would be lost): pass --force to overwrite it, or name another "
             "file", file=str(out))

    frame = export_codes(model_dir, out)
    console.print(f"{len(frame)} reason codes -> [bold]{out}[/]; edit code/text columns, then "
                  f"`creditflow reasons import {model_dir} {out}`", soft_wrap=True)  # a command to copy: one line


@_command("import")
def import_cmd(
    model_dir: Path = typer.Argument(..., help="Model bundle directory (rewritten with a new manifest)."),
    table: Path = typer.Argument(..., help="Edited table (CSV/XLSX with variable, code, text columns)."),
    encoding: str | None = encoding_option(),
) -> None:
    """Apply an edited reason-code table: new table version, new SHA-256 manifest and model version."""
    from creditflow.scoring.reason_files import import_codes

    codes, changed, manifest = import_codes(model_dir, table, encoding=encoding)
    if not changed:
        console.print("no reason code changed; the bundle is untouched")
        return
    console.print(f"{changed} reason code(s) changed; table version {codes.version}; "
                  f"model version {manifest['model_version']}")

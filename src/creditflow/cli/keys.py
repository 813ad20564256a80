"""`creditflow keys new` and `keys hash`: API keys for the decision service."""

from __future__ import annotations

import sys

import typer

from creditflow.cli.app import app, command, console

keys_app = typer.Typer(help="API keys for `creditflow serve` (stored only as SHA-256 digests).",
                       no_args_is_help=True)
app.add_typer(keys_app, name="keys")


@command("new", on=keys_app)
def new_cmd() -> None:
    """Print a new random key, and its SHA-256 digest for --api-keys-file."""
    from creditflow.service.auth import hash_key, new_key

    key = new_key()
    console.print(f"key:    {key}", highlight=False)
    console.print(f"sha256: {hash_key(key)}", highlight=False)


@command("hash", on=keys_app)
def hash_cmd(
    key: str | None = typer.Argument(None, help="The key; read from standard input (one per line) when left out."),
) -> None:
    """Print the SHA-256 hex digest of a key: one line for --api-keys-file."""
    from creditflow.service.auth import check_plain_key, hash_key

    if key is not None:
        keys = [("the key", key)]
    else:
        keys = [(f"standard input, line {n}", line.rstrip("\r\n")) for n, line in enumerate(sys.stdin, start=1)
                if line.strip()]
    for where, k in keys:
        check_plain_key(k, where)
    for _, k in keys:
        typer.echo(hash_key(k))

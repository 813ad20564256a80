"""The `creditflow` command line. Each command module registers itself on `app`."""

from __future__ import annotations

import importlib

from creditflow.cli.app import app, main

# Command modules, imported lazily so `creditflow --help` stays fast and optional extras stay optional.
COMMAND_MODULES = [
    "creditflow.cli.core",
    "creditflow.cli.compare",
    "creditflow.cli.reasons",
    "creditflow.cli.serve",
    "creditflow.cli.policy",
    "creditflow.cli.keys",
    "creditflow.cli.monitor",
    "creditflow.cli.features",
    "creditflow.cli.report",
    "creditflow.cli.sql",
]


def _load_commands() -> None:
    for name in COMMAND_MODULES:
        importlib.import_module(name)


__all__ = ["app", "main"]

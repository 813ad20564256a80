"""Editing a bundle's reason-code table: export it as CSV/XLSX, import an edited one (new table version,
new SHA-256 manifest), and rewrite bundle documents atomically."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from creditflow.bundle import (
    FORMAT_VERSION,
    MANIFEST,
    dumps,
    load_bundle,
    read_bundle,
    write_bundle_files,
)
from creditflow.data.errors import CreditflowError
from creditflow.data.output import write_frame
from creditflow.scoring.reasons import CODES_FILE, REASONS_FILE, ReasonCodes, Reasoner, ReasonSettings


def rewrite_bundle(path: str | Path, docs: dict[str, Any]) -> dict:
    """Replace (or add) documents of a verified bundle and write a new manifest; returns the manifest.

    The model version is recomputed as in `save_bundle` (SHA-256 over every document but metadata). A `path`
    that is a symbolic link (`current -> releases/v3`) edits the bundle it points to, and the link stays.
    """
    path = Path(path).resolve() if Path(path).is_symlink() else Path(path)
    manifest, blobs = read_bundle(path)
    for name, doc in docs.items():
        if name in (MANIFEST, "metadata.json"):
            raise CreditflowError(f"{name} cannot be replaced")
        blobs[name] = doc.encode("utf-8") if isinstance(doc, str) else dumps(doc)
    return write_bundle_files(path, blobs, manifest.get("model_type"), manifest.get("format_version", FORMAT_VERSION))


def current_codes(model_dir: str | Path) -> tuple[Any, ReasonCodes]:
    """The bundle and its reason-code table (the default one when the bundle has none)."""
    bundle = load_bundle(model_dir)
    if CODES_FILE in bundle.files:
        return bundle, ReasonCodes.from_dict(bundle.files[CODES_FILE])
    return bundle, ReasonCodes.default(bundle.model)


def export_codes(model_dir: str | Path, out: str | Path) -> pd.DataFrame:
    """Write the bundle's reason-code table (code, variable, text, missing_code, missing_text, version)."""
    _, codes = current_codes(model_dir)
    frame = codes.to_frame()
    write_frame(frame, out)
    return frame


def import_codes(model_dir: str | Path, table: str | Path | pd.DataFrame,
                 encoding: str | None = None) -> tuple[ReasonCodes, int, dict]:
    """Apply an edited reason-code table to the bundle (a new table version and manifest); `encoding`: of a CSV.

    Returns the new table, how many entries changed, and the new manifest. Nothing is written when
    nothing changed.
    """
    from creditflow.data.io import read_frame

    bundle, codes = current_codes(model_dir)
    source = None if isinstance(table, pd.DataFrame) else str(table)
    frame = table if isinstance(table, pd.DataFrame) else read_frame(table, encoding=encoding, sheet_option=None)
    new, changed = codes.edited(frame, source)
    settings = (ReasonSettings.from_dict(bundle.files[REASONS_FILE]) if REASONS_FILE in bundle.files else None)
    Reasoner(bundle.model, settings, new)  # validates before writing
    if not changed:
        return new, 0, bundle.manifest
    manifest = rewrite_bundle(model_dir, {CODES_FILE: new.to_dict()})
    return new, changed, manifest


def describe(model_dir: str | Path) -> dict:
    """The bundle's reason settings (reference, protected variables) and code-table version, for printing."""
    bundle, codes = current_codes(model_dir)
    settings = bundle.files.get(REASONS_FILE) or Reasoner(bundle.model).settings.to_dict()
    return {"model_version": bundle.model_version, "codes_version": codes.version,
            "settings": json.loads(json.dumps(settings))}

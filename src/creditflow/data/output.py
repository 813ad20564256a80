"""Writing outputs atomically, so a failed command never leaves a half-written file or directory."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pandas as pd

from creditflow.data.errors import DataError


@contextlib.contextmanager
def atomic_path(target: str | Path, replaces: Callable[[Path], bool] | None = None) -> Iterator[Path]:
    """Yield a temporary sibling path; on success it replaces `target` in one rename.

    A file output (`replaces` None) never replaces a directory: an existing directory is refused. A
    directory output (a bundle, a folder of Parquet parts) replaces an existing directory only when it is
    empty or `replaces(directory)` says it is an earlier output of the same kind, so a mistyped path such
    as "." or a project folder is refused, never emptied.
    """
    target = Path(target)
    if target.name in ("", ".", ".."):
        raise DataError("is not a file name: name the file to write", file=str(target))
    if target.is_dir():
        if replaces is None:
            raise DataError("is an existing directory: name a file to write", file=str(target))
        if any(target.iterdir()) and not replaces(target):
            raise DataError("is an existing directory that holds other files: name a new or empty directory",
                            file=str(target))
    elif replaces is not None and target.exists():
        raise DataError("is an existing file: name a directory to write", file=str(target))
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent)) / target.name
    try:
        yield tmp
        if target.is_dir() and not target.is_symlink():
            old = target.with_name(f".{target.name}.old-{os.getpid()}")
            os.replace(target, old)
            os.replace(tmp, target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, target)
    finally:
        shutil.rmtree(tmp.parent, ignore_errors=True)


def write_frame(frame: pd.DataFrame, path: str | Path) -> Path:
    """Write a DataFrame as CSV (UTF-8 with BOM, so Excel shows Chinese), Parquet or XLSX by suffix."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in {".csv", ".parquet", ".pq", ".xlsx"}:
        raise DataError("unsupported output format; use .csv, .parquet or .xlsx", file=str(path))
    with atomic_path(path) as tmp:
        if suffix == ".csv":
            frame.to_csv(tmp, index=False, encoding="utf-8-sig")
        elif suffix == ".xlsx":
            frame.to_excel(tmp, index=False)
        else:
            frame.to_parquet(tmp, index=False)
    return path

"""Writing outputs atomically, so a failed command never leaves a half-written file or directory."""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import tempfile
import time
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
        if not _replaceable(target, replaces):
            raise DataError("is an existing directory that holds other files: name a new or empty directory",
                            file=str(target))
    elif replaces is not None and target.exists() and not target.is_dir():  # (a directory: one appeared just now)
        raise DataError("is an existing file: name a directory to write", file=str(target))
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent)) / target.name
    try:
        yield tmp
        _swap_in(tmp, target)
    finally:
        shutil.rmtree(tmp.parent, ignore_errors=True)


def _replaceable(target: Path, replaces: Callable[[Path], bool]) -> bool:
    """Whether directory `target` is empty or an earlier output of this kind. Judged again a few times when it
    is not: another writer swapping its own output in at that moment leaves it briefly empty of its manifest."""
    for attempt in range(5):
        try:
            if not target.exists() or not any(target.iterdir()) or replaces(target):
                return True
        except OSError:  # moved aside while it was listed
            pass
        time.sleep(0.02 * (attempt + 1))
    return False


def _swap_in(tmp: Path, target: Path) -> None:
    """Put `tmp` at `target`; a directory there is moved aside first (a rename cannot replace a non-empty one).
    Another process writing the same directory at the same moment is not an error: the last one wins. A swap
    stopped between the two renames (an error, Ctrl-C) puts the directory moved aside back, never losing it.
    A symbolic link at `target` is itself replaced, as a file's is: the folder it points to is left as it was."""
    for attempt in range(10):
        old = tmp.parent / f"old-{attempt}"  # in this writer's own temporary folder
        try:
            if target.is_symlink() or target.is_dir():  # a rename cannot put a directory over a link either
                try:
                    os.replace(target, old)
                except FileNotFoundError:  # the other writer moved it aside just now
                    pass
            os.replace(tmp, target)
        except OSError as exc:
            if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST):  # else the other writer's directory is there now
                _put_back(old, target)
                raise
        except BaseException:
            _put_back(old, target)
            raise
        else:
            return
        finally:
            if old.is_symlink():
                old.unlink()
            else:
                shutil.rmtree(old, ignore_errors=True)
    raise DataError("another process keeps replacing it: write to another path", file=str(target))


def _put_back(old: Path, target: Path) -> None:
    """Return the directory `_swap_in` moved aside to `target` when nothing took its place."""
    if os.path.lexists(old) and not os.path.lexists(target):  # a link moved aside may point nowhere from there
        with contextlib.suppress(OSError):
            os.replace(old, target)


FRAME_SUFFIXES = (".csv", ".parquet", ".pq", ".xlsx")


def check_frame_path(path: str | Path) -> None:
    """Refuse a table output `write_frame` cannot write (its suffix): a command checks it before its work."""
    if Path(path).suffix.lower() not in FRAME_SUFFIXES:
        raise DataError("unsupported output format; use .csv, .parquet or .xlsx", file=str(path))


def write_frame(frame: pd.DataFrame, path: str | Path) -> Path:
    """Write a DataFrame as CSV (UTF-8 with BOM, so Excel shows Chinese), Parquet or XLSX by suffix."""
    path = Path(path)
    suffix = path.suffix.lower()
    check_frame_path(path)
    with atomic_path(path) as tmp:
        if suffix == ".csv":
            frame.to_csv(tmp, index=False, encoding="utf-8-sig")
        elif suffix == ".xlsx":
            frame.to_excel(tmp, index=False)
        else:
            frame.to_parquet(tmp, index=False)
    return path

"""The SQLite audit log (the default): WAL journal, one writer connection, transactions per request.

With ``synchronous=NORMAL`` (default) a committed decision survives the process being killed
(``kill -9``); ``sqlite:///path.db?synchronous=full`` also survives power loss, at the cost of
an fsync per commit. Commits are cheap (no fsync) and run inline on the service's event loop
(``inline = True``) with a short busy timeout; when another connection (another worker, a backup,
someone's ``sqlite3`` shell) holds the write lock longer, the call gives up at once (`AuditBusy`)
and the service repeats it on an audit thread, which waits for what is left of `timeout` seconds
(counted from when the request began to wait: queueing behind other audit calls counts), so the event
loop (health checks, other requests) never waits on the lock. WAL checkpoints, which do fsync, run
on a background thread instead of inside whichever commit happens to cross the WAL size limit.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from creditflow.data.errors import CreditflowError
from creditflow.service.audit.base import (
    DECISIONS_TABLE,
    IDEMPOTENCY_TABLE,
    SCHEMA_TABLE,
    SCHEMA_VERSION,
    AuditBusy,
    AuditEntry,
    AuditUnavailable,
    StoredResponse,
    insert_sql,
    migrations,
)

MIGRATIONS = migrations("TEXT", "TEXT", "REAL")
_INSERT = insert_sql("?")


CHECKPOINT_EVERY_S = 0.25
QUICK_BUSY_MS = 20  # the longest an inline call waits for another connection's write lock
RESTART_FRAMES = 16_384  # about 64 MB of WAL at 4 KiB pages


class SQLiteAudit:
    """Decisions in a SQLite file; safe to share between worker processes (WAL, busy timeout)."""

    inline = True
    backend = "sqlite"

    def __init__(self, path: str | Path, synchronous: str = "NORMAL", checkpoint_every: float = CHECKPOINT_EVERY_S,
                 timeout: float = 5.0) -> None:
        self.path = Path(path)
        self._timeout = timeout
        self._busy_ms = max(1, round(timeout * 1000))  # the connection's busy_timeout now
        self.url = f"sqlite:///{self.path}"
        self.database = self.path.name
        if synchronous.upper() not in ("NORMAL", "FULL", "EXTRA"):
            raise CreditflowError(f"sqlite synchronous must be normal, full or extra, not {synchronous!r}",
                                  file=str(self.path))
        self._lock = threading.Lock()
        # A missing directory is refused, not created: a typo, or a volume that failed to mount, would
        # otherwise put the audit trail somewhere nobody keeps.
        parent = self.path.parent
        if not parent.is_dir():
            what = "is not a directory" if parent.exists() else "does not exist"
            raise CreditflowError(f"the audit database's directory {str(parent)!r} {what} (create it first, or "
                                  "check the path and that its volume is mounted)", file=str(self.path))
        try:
            self._conn = sqlite3.connect(self.path, timeout=timeout, isolation_level=None, check_same_thread=False)
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute(f"PRAGMA synchronous={synchronous.upper()}")
            self._conn.execute(f"PRAGMA busy_timeout={self._busy_ms}")
            self._conn.execute("PRAGMA wal_autocheckpoint=0")  # the checkpointer thread does it
            self._conn.execute("PRAGMA journal_size_limit=67108864")
            self._migrate()
        except sqlite3.DatabaseError as exc:
            raise CreditflowError(f"cannot open the audit database: {exc}", file=str(self.path)) from None
        except OSError as exc:
            raise CreditflowError(f"cannot create the audit database: {exc}", file=str(self.path)) from None
        self._identity = self._file_identity()
        self._stop = threading.Event()
        self._checkpointer = threading.Thread(target=self._checkpoint_loop, args=(checkpoint_every,),
                                              name="creditflow-audit-checkpoint", daemon=True)
        self._checkpointer.start()

    def _checkpoint_loop(self, every: float) -> None:
        """Copy the WAL back into the database file now and then, off the request path.

        PASSIVE checkpoints never block a writer, but under steady traffic they never catch up with
        the newest frames either, so the WAL would never restart and would grow without end. When it
        passes RESTART_FRAMES the checkpointer holds the writer lock for one short checkpoint (only the
        frames since the last pass, and two fsyncs), after which the next commit starts the WAL over.
        """
        try:
            conn = sqlite3.connect(self.path, timeout=10.0, isolation_level=None, check_same_thread=False)
        except sqlite3.Error:
            return
        try:
            while not self._stop.wait(every):
                try:
                    frames = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()[1]
                    if frames > RESTART_FRAMES:
                        with self._lock:
                            conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                except sqlite3.Error:
                    continue
            conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        except sqlite3.Error:
            pass
        finally:
            conn.close()

    def _migrate(self) -> None:
        c = self._conn
        c.execute("BEGIN IMMEDIATE")
        try:
            c.execute(f"CREATE TABLE IF NOT EXISTS {SCHEMA_TABLE} (version INTEGER NOT NULL)")
            row = c.execute(f"SELECT MAX(version) FROM {SCHEMA_TABLE}").fetchone()
            current = row[0] or 0
            if current > SCHEMA_VERSION:
                raise CreditflowError(f"the audit database has schema version {current}, newer than this "
                                      f"creditflow knows ({SCHEMA_VERSION})", file=str(self.path))
            for version in range(current + 1, SCHEMA_VERSION + 1):
                for statement in MIGRATIONS[version]:
                    c.execute(statement)
                c.execute(f"INSERT INTO {SCHEMA_TABLE} (version) VALUES (?)", (version,))
            c.execute("COMMIT")
        except BaseException:
            c.execute("ROLLBACK")
            raise

    def _file_identity(self) -> tuple[int, int] | None:
        try:
            st = self.path.stat()
        except OSError:
            return None
        return st.st_dev, st.st_ino

    def _check_file(self) -> None:
        """Refuse to write once the database file was deleted or replaced under the open connection: SQLite
        would go on committing to the unlinked file, and every decision since would be lost at the stop."""
        if self._file_identity() != self._identity:
            raise AuditUnavailable(f"sqlite: the audit database file {str(self.path)!r} was deleted or replaced "
                                   "while the service ran; restore it or restart the service")

    @contextlib.contextmanager
    def _session(self, quick: bool, deadline: float | None = None) -> Iterator[sqlite3.Connection]:
        """The connection, held alone. `quick` (on the event loop): raise `AuditBusy` rather than wait for
        this process's other users of it or for another connection's write lock beyond QUICK_BUSY_MS.

        Otherwise wait until `deadline` (time.monotonic(); default: the audit timeout from now) in all:
        for this process's other users of the connection, then for another connection's write lock.
        """
        if quick:
            if not self._lock.acquire(blocking=False):
                raise AuditBusy("sqlite: the connection is in use by an audit thread")
        else:
            if deadline is None:
                deadline = time.monotonic() + self._timeout
            if not self._lock.acquire(timeout=max(0.0, deadline - time.monotonic())):
                raise AuditUnavailable(f"sqlite: the connection stayed busy for the whole audit timeout "
                                       f"({self._timeout:g} s)")
        try:
            self._check_file()
            try:
                busy_ms = QUICK_BUSY_MS if quick else round((deadline - time.monotonic()) * 1000)
                if busy_ms <= 0:
                    raise AuditUnavailable(f"sqlite: no time left within the audit timeout ({self._timeout:g} s)")
                if busy_ms != self._busy_ms:
                    self._conn.execute(f"PRAGMA busy_timeout={busy_ms}")
                    self._busy_ms = busy_ms
                yield self._conn
            except sqlite3.Error as exc:
                if quick and getattr(exc, "sqlite_errorcode", 0) & 0xFF == sqlite3.SQLITE_BUSY:
                    raise AuditBusy(f"sqlite: {exc}") from exc
                raise AuditUnavailable(f"sqlite: {exc}") from exc
        finally:
            self._lock.release()

    def record(self, entries: list[AuditEntry], stored: StoredResponse | None = None,
               quick: bool = False, deadline: float | None = None) -> StoredResponse | None:
        with self._session(quick, deadline) as c:
            c.execute("BEGIN IMMEDIATE")
            try:
                if stored is not None:
                    cur = c.execute(
                        f"INSERT INTO {IDEMPOTENCY_TABLE} (client, idempotency_key, request_hash, response_json, "
                        "created_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT (client, idempotency_key) DO NOTHING",
                        (stored.client or "", stored.key, stored.request_hash, stored.response_json,
                         stored.created_at),
                    )
                    if cur.rowcount == 0:
                        c.execute("ROLLBACK")
                        return self._lookup(stored.key, stored.client)
                c.executemany(_INSERT, [e.row() for e in entries])
                c.execute("COMMIT")
            except BaseException:
                if c.in_transaction:
                    c.execute("ROLLBACK")
                raise
        return None

    def _lookup(self, key: str, client: str | None) -> StoredResponse | None:
        row = self._conn.execute(
            f"SELECT idempotency_key, request_hash, response_json, created_at, client FROM {IDEMPOTENCY_TABLE} "
            "WHERE client = ? AND idempotency_key = ?", (client or "", key),
        ).fetchone()
        return StoredResponse(*row) if row else None

    def lookup(self, key: str, client: str | None = None, quick: bool = False,
               deadline: float | None = None) -> StoredResponse | None:
        with self._session(quick, deadline):
            return self._lookup(key, client)

    def ping(self, quick: bool = True, deadline: float | None = None) -> None:
        """The database answers and a decision could be written now: the write lock is free (or freed
        within QUICK_BUSY_MS). Never waits longer, wherever it is called from."""
        try:
            with self._session(quick=True) as c:
                c.execute("BEGIN IMMEDIATE")
                c.execute("ROLLBACK")
        except AuditBusy as exc:
            raise AuditUnavailable(f"{exc} (the write lock is held by another connection)") from None

    def probe(self, quick: bool = True, deadline: float | None = None) -> None:
        """Commit a write that leaves nothing behind (a row added to and removed from the schema table in
        one transaction), as a decision's commit would; raise `AuditUnavailable` if it fails (disk full,
        read-only file, I/O error). Like `ping`, never waits for the lock beyond QUICK_BUSY_MS."""
        try:
            with self._session(quick=True) as c:
                c.execute("BEGIN IMMEDIATE")
                try:
                    c.execute(f"INSERT INTO {SCHEMA_TABLE} (version) VALUES (0)")
                    c.execute(f"DELETE FROM {SCHEMA_TABLE} WHERE version = 0")
                    c.execute("COMMIT")
                except BaseException:
                    if c.in_transaction:
                        c.execute("ROLLBACK")
                    raise
        except AuditBusy as exc:
            raise AuditUnavailable(f"{exc} (the write lock is held by another connection)") from None

    def count(self) -> int:
        with self._lock:
            return int(self._conn.execute(f"SELECT COUNT(*) FROM {DECISIONS_TABLE}").fetchone()[0])

    def close(self) -> None:
        self._stop.set()
        self._checkpointer.join(timeout=30)
        with self._lock:
            self._conn.close()

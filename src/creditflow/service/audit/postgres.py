"""The PostgreSQL audit log (``--audit postgresql://user@host:port/db``), with psycopg 3.

Each executor thread keeps its own connection; a broken connection is dropped and reopened on the
next request. Statements and lock waits time out (`timeout`, default 5 s), so a locked or stuck
database gives a 503 rather than a request that hangs. Tables are created on first use, under an advisory lock so that several workers
starting together migrate once.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from creditflow.data.errors import CreditflowError
from creditflow.service.audit.base import (
    DECISIONS_TABLE,
    IDEMPOTENCY_TABLE,
    SCHEMA_TABLE,
    SCHEMA_VERSION,
    AuditEntry,
    AuditUnavailable,
    StoredResponse,
    database_name,
    insert_sql,
    migrations,
    redact_url,
)

MIGRATIONS = migrations("TIMESTAMPTZ", "JSONB", "DOUBLE PRECISION")
_LOCK_ID = 0x63726564  # "cred": advisory lock taken while migrating
_INSERT = insert_sql("%s")


class PostgresAudit:
    """Decisions in PostgreSQL tables; one connection per executor thread."""

    inline = False  # network round trips: run on the audit threads, not the event loop
    backend = "postgresql"

    def __init__(self, url: str, connect_timeout: int = 5, timeout: float = 5.0) -> None:
        import psycopg

        self._psycopg = psycopg
        self._dsn = url
        self._timeout = timeout
        self._statement_ms = str(max(1, round(timeout * 1000)))
        self.url = redact_url(url)
        self.database = database_name(url)
        self._connect_timeout = connect_timeout
        self._local = threading.local()
        try:
            self._migrate()
        except psycopg.Error as exc:
            raise CreditflowError(f"cannot use the PostgreSQL audit database {self.url}: "
                                  f"{' '.join(str(exc).split())}") from None

    def _connect(self) -> tuple[Any, bool]:
        """This thread's connection, and whether it was just opened."""
        conn = getattr(self._local, "conn", None)
        if conn is None or conn.closed or conn.broken:
            conn = self._psycopg.connect(self._dsn, connect_timeout=self._connect_timeout, autocommit=True)
            try:
                # a locked table or a stuck statement ends in an error (a 503) instead of a request that hangs
                conn.execute("SELECT set_config('statement_timeout', %s, false), set_config('lock_timeout', %s, false)",
                             (self._statement_ms, self._statement_ms))
                conn.autocommit = False
            except BaseException:
                conn.close()
                raise
            self._local.conn = conn
            return conn, True
        return conn, False

    def _drop(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            try:
                conn.close()
            except self._psycopg.Error:
                pass
        self._local.conn = None

    def _migrate(self) -> None:
        conn, _ = self._connect()
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_ID,))
            conn.execute(f"CREATE TABLE IF NOT EXISTS {SCHEMA_TABLE} (version INTEGER NOT NULL)")
            current = conn.execute(f"SELECT MAX(version) FROM {SCHEMA_TABLE}").fetchone()[0] or 0
            if current > SCHEMA_VERSION:
                raise CreditflowError(f"the audit database has schema version {current}, newer than this "
                                      f"creditflow knows ({SCHEMA_VERSION})")
            for version in range(current + 1, SCHEMA_VERSION + 1):
                for statement in MIGRATIONS[version]:
                    conn.execute(statement)
                conn.execute(f"INSERT INTO {SCHEMA_TABLE} (version) VALUES (%s)", (version,))

    def _limit(self, conn: Any, deadline: float | None) -> None:
        """Inside a transaction: its statements and lock waits get only what is left until `deadline`.

        The session's statement_timeout and lock_timeout are the whole audit timeout; a call that
        already waited (queued for an audit thread) gets the rest, so no request waits longer in all.
        """
        if deadline is None:
            return
        left_ms = round((deadline - time.monotonic()) * 1000)
        if left_ms <= 0:
            raise AuditUnavailable(f"postgresql: no time left within the audit timeout ({self._timeout:g} s)")
        if left_ms < int(self._statement_ms) - 20:  # the session's settings would allow more than is left
            conn.execute("SELECT set_config('statement_timeout', %s, true), set_config('lock_timeout', %s, true)",
                         (str(left_ms), str(left_ms)))

    def _run(self, fn: Any, deadline: float | None = None) -> Any:
        """Run `fn(connection)`; a connection that went stale (database restarted) is replaced once.

        Every database error, opening the connection included, becomes `AuditUnavailable` (a 503);
        so does a `deadline` (time.monotonic()) that has passed before a try begins.
        """
        psycopg = self._psycopg
        for attempt in (1, 2):
            fresh = True  # a connection that cannot even be opened is not retried
            if deadline is not None and time.monotonic() >= deadline:
                raise AuditUnavailable(f"postgresql: no time left within the audit timeout ({self._timeout:g} s)")
            try:
                conn, fresh = self._connect()
                return fn(conn)
            except (psycopg.errors.QueryCanceled, psycopg.errors.LockNotAvailable) as exc:
                # timed out (statement_timeout / lock_timeout): the connection is fine, a retry would wait again
                raise AuditUnavailable(f"postgresql: {' '.join(str(exc).split())}") from exc
            except psycopg.OperationalError as exc:
                self._drop()
                if fresh or attempt == 2:
                    raise AuditUnavailable(f"postgresql: {' '.join(str(exc).split())}") from exc
            except psycopg.Error as exc:
                self._drop()
                raise AuditUnavailable(f"postgresql: {' '.join(str(exc).split())}") from exc
        raise AssertionError("unreachable")

    def record(self, entries: list[AuditEntry], stored: StoredResponse | None = None,
               deadline: float | None = None) -> StoredResponse | None:
        def write(conn: Any) -> None:
            with conn.transaction():
                self._limit(conn, deadline)
                if stored is not None:
                    cur = conn.execute(
                        f"INSERT INTO {IDEMPOTENCY_TABLE} (client, idempotency_key, request_hash, response_json, "
                        "created_at) VALUES (%s, %s, %s, %s, %s) ON CONFLICT (client, idempotency_key) DO NOTHING "
                        "RETURNING 1",
                        (stored.client or "", stored.key, stored.request_hash, stored.response_json,
                         stored.created_at),
                    )
                    if cur.fetchone() is None:
                        raise _AlreadyStored  # rolls the transaction back; the first response stands
                with conn.cursor() as cur:
                    cur.executemany(_INSERT, [e.row() for e in entries])

        try:
            return self._run(write, deadline)
        except _AlreadyStored:
            return self.lookup(stored.key, stored.client) if stored is not None else None

    def lookup(self, key: str, client: str | None = None, deadline: float | None = None) -> StoredResponse | None:
        def read(conn: Any) -> StoredResponse | None:
            with conn.transaction():
                self._limit(conn, deadline)
                row = conn.execute(
                    "SELECT idempotency_key, request_hash, response_json, created_at, client "
                    f"FROM {IDEMPOTENCY_TABLE} WHERE client = %s AND idempotency_key = %s", (client or "", key),
                ).fetchone()
            return StoredResponse(row[0], row[1], row[2], row[3].isoformat(), row[4]) if row else None

        return self._run(read, deadline)

    def ping(self, deadline: float | None = None) -> None:
        """The database answers and a decision could be written now: the tables' write lock is free."""
        def ping(conn: Any) -> None:
            with conn.transaction():
                conn.execute(f"LOCK TABLE {DECISIONS_TABLE}, {IDEMPOTENCY_TABLE} IN ROW EXCLUSIVE MODE NOWAIT")

        self._run(ping)

    def probe(self, deadline: float | None = None) -> None:
        """Commit a write that leaves nothing behind (a row added to and removed from the schema table in
        one transaction), as a decision's commit would, after checking the tables' write lock is free."""
        def probe(conn: Any) -> None:
            with conn.transaction():
                self._limit(conn, deadline)
                conn.execute(f"LOCK TABLE {DECISIONS_TABLE}, {IDEMPOTENCY_TABLE} IN ROW EXCLUSIVE MODE NOWAIT")
                conn.execute(f"INSERT INTO {SCHEMA_TABLE} (version) VALUES (0)")
                conn.execute(f"DELETE FROM {SCHEMA_TABLE} WHERE version = 0")

        self._run(probe, deadline)

    def count(self) -> int:
        def count(conn: Any) -> int:
            with conn.transaction():
                return int(conn.execute(f"SELECT COUNT(*) FROM {DECISIONS_TABLE}").fetchone()[0])

        return self._run(count)

    def close(self) -> None:
        self._drop()


class _AlreadyStored(Exception):
    """Raised inside the transaction to roll it back when the idempotency key already exists."""

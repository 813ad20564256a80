"""The decision audit log: SQLite by default, PostgreSQL by URL."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from creditflow.data.errors import CreditflowError
from creditflow.service.audit.base import (
    LIBPQ_DSN,
    AuditBusy,
    AuditEntry,
    AuditLog,
    AuditUnavailable,
    StoredResponse,
    canonical_json,
    redact_url,
    sha256_text,
)

DEFAULT_AUDIT = "creditflow-audit.db"


def open_audit(url: str | None, timeout: float = 5.0) -> AuditLog:
    """Open (and migrate) the audit log named by `url`; `timeout`: seconds a call may wait for a lock.

    ``None`` or a path: SQLite file (default ``./creditflow-audit.db``); ``sqlite:///rel.db`` (relative to the
    working directory), ``sqlite:////abs/path.db`` or ``sqlite:///rel.db?synchronous=full``;
    ``postgresql://user:pass@host:port/db``.
    """
    url = (url or DEFAULT_AUDIT).strip()
    if LIBPQ_DSN.match(url):  # would otherwise be taken for a SQLite file name, password and all
        raise CreditflowError("a libpq key=value connection string is not accepted as the audit log: use "
                              "postgresql://user@host:port/db (the password in PGPASSWORD or ~/.pgpass)")
    if url.startswith(("postgresql://", "postgres://")):
        from creditflow.service.audit.postgres import PostgresAudit

        return PostgresAudit(url, timeout=timeout)
    from creditflow.service.audit.sqlite import SQLiteAudit

    if url.startswith("sqlite:"):
        parts = urlsplit(url)
        path = parts.path
        if url.startswith("sqlite:///"):
            path = url[len("sqlite:///"):].split("?", 1)[0]
        opts = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        unknown = sorted(set(opts) - {"synchronous"})
        if unknown:
            raise CreditflowError(f"unknown sqlite option(s) {unknown} in the audit URL; known: synchronous")
        if not path:
            raise CreditflowError(f"no database path in the audit URL {url!r}")
        return SQLiteAudit(Path(path), synchronous=opts.get("synchronous", "normal"), timeout=timeout)
    if "://" in url:
        raise CreditflowError(f"unsupported audit URL {redact_url(url)!r}: use a SQLite path, sqlite:///path.db or "
                              "postgresql://user@host:port/db")
    return SQLiteAudit(Path(url), timeout=timeout)


__all__ = [
    "DEFAULT_AUDIT",
    "AuditBusy",
    "AuditEntry",
    "AuditLog",
    "AuditUnavailable",
    "StoredResponse",
    "canonical_json",
    "open_audit",
    "redact_url",
    "sha256_text",
]

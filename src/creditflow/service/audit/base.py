"""What an audit log stores and promises, whatever the database.

One row per decision (batch decisions get one row each, sharing a batch id), written in the same
transaction as the request's idempotency key, before the client sees the response. A retried
request with the same Idempotency-Key from the same client finds the stored response instead of
writing again; two concurrent retries race on the (client, key) unique constraint and exactly one of
them writes. Keys are per client: another API key's request with the same key is its own.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import unquote

SCHEMA_VERSION = 3
# `decisions` is the table `creditflow monitor --audit URL` looks for; its input_json is the flat applicant.
DECISIONS_TABLE = "decisions"
IDEMPOTENCY_TABLE = "idempotency_keys"
SCHEMA_TABLE = "creditflow_audit_schema"
COLUMNS = (
    "request_id", "batch_id", "created_at", "application_id", "client", "input_json", "input_hash",
    "model_version", "policy_version", "probability", "score", "grade", "decision", "reasons_json",
    "idempotency_key", "trace_id",
)



def migrations(timestamp: str, json_type: str, real: str) -> dict[int, list[str]]:
    """The DDL of each schema version, in a database's own types for timestamps, JSON and floats."""
    return {
        1: [
            f"""CREATE TABLE IF NOT EXISTS {DECISIONS_TABLE} (
                request_id TEXT PRIMARY KEY,
                batch_id TEXT,
                created_at {timestamp} NOT NULL,
                application_id TEXT,
                client TEXT,
                input_json {json_type} NOT NULL,
                input_hash TEXT NOT NULL,
                model_version TEXT NOT NULL,
                policy_version TEXT NOT NULL,
                probability {real} NOT NULL,
                score INTEGER NOT NULL,
                grade TEXT NOT NULL,
                decision TEXT NOT NULL CHECK (decision IN ('approve', 'review', 'reject')),
                reasons_json {json_type} NOT NULL,
                idempotency_key TEXT
            )""",
            f"CREATE INDEX IF NOT EXISTS {DECISIONS_TABLE}_created_at ON {DECISIONS_TABLE} (created_at)",
            f"CREATE INDEX IF NOT EXISTS {DECISIONS_TABLE}_application_id ON {DECISIONS_TABLE} (application_id)",
            f"""CREATE TABLE IF NOT EXISTS {IDEMPOTENCY_TABLE} (
                idempotency_key TEXT PRIMARY KEY,
                request_hash TEXT NOT NULL,
                response_json TEXT NOT NULL,
                created_at {timestamp} NOT NULL
            )""",
        ],
        # Idempotency keys per client: the table is rebuilt with (client, key) as its primary key.
        2: [
            f"ALTER TABLE {IDEMPOTENCY_TABLE} RENAME TO {IDEMPOTENCY_TABLE}_v1",
            f"""CREATE TABLE {IDEMPOTENCY_TABLE} (
                client TEXT NOT NULL,
                idempotency_key TEXT NOT NULL,
                request_hash TEXT NOT NULL,
                response_json TEXT NOT NULL,
                created_at {timestamp} NOT NULL,
                CONSTRAINT {IDEMPOTENCY_TABLE}_client_key PRIMARY KEY (client, idempotency_key)
            )""",
            # a version-1 key was global and answered one request: it belongs to the client of its decision rows
            f"""INSERT INTO {IDEMPOTENCY_TABLE} (client, idempotency_key, request_hash, response_json, created_at)
                SELECT COALESCE(d.client, ''), k.idempotency_key, k.request_hash, k.response_json, k.created_at
                FROM {IDEMPOTENCY_TABLE}_v1 k LEFT JOIN (
                    SELECT idempotency_key, MIN(client) AS client FROM {DECISIONS_TABLE}
                    WHERE idempotency_key IS NOT NULL GROUP BY idempotency_key
                ) d ON d.idempotency_key = k.idempotency_key""",
            f"DROP TABLE {IDEMPOTENCY_TABLE}_v1",
        ],
        # the client's own X-Request-ID (a gateway's trace id); NULL on rows written before
        3: [f"ALTER TABLE {DECISIONS_TABLE} ADD COLUMN trace_id TEXT"],
    }


def insert_sql(placeholder: str) -> str:
    """INSERT of one decision row (`AuditEntry.row()` order) with the driver's parameter placeholder."""
    return f"INSERT INTO {DECISIONS_TABLE} ({', '.join(COLUMNS)}) VALUES ({', '.join([placeholder] * len(COLUMNS))})"

class AuditUnavailable(RuntimeError):
    """The audit database could not record a decision; the decision must not be released."""


class AuditBusy(AuditUnavailable):
    """An inline call (``quick=True``) would have had to wait for a lock: repeat it off the event loop."""


@dataclass(frozen=True)
class AuditEntry:
    """One decision as recorded: the applicant's fields (canonical JSON) and its SHA-256, versions, outcome."""

    request_id: str
    batch_id: str | None
    created_at: str  # ISO 8601, UTC, milliseconds
    application_id: str | None
    client: str | None  # first 12 hex digits of the API key's SHA-256 (who asked)
    input_json: str
    input_hash: str
    model_version: str
    policy_version: str
    probability: float
    score: int
    grade: str
    decision: str
    reasons_json: str
    idempotency_key: str | None = None
    trace_id: str | None = None  # the request's X-Request-ID header as the client sent it

    def row(self) -> tuple:
        return tuple(getattr(self, c) for c in COLUMNS)


@dataclass(frozen=True)
class StoredResponse:
    """The response first given for a client's Idempotency-Key, and a hash of the request it answered."""

    key: str
    request_hash: str
    response_json: str
    created_at: str
    client: str | None = None  # as in AuditEntry; stored as '' when the service runs without keys


SECRET_PARAMS = frozenset({"password", "sslpassword"})
# libpq's key=value connection strings ("host=db password=..."): not accepted, and never echoed
LIBPQ_DSN = re.compile(r"^\s*(host|hostaddr|port|dbname|user|password|passfile|service|sslmode)\s*=", re.I)


def _parts(url: str) -> tuple[str, str, str, str]:
    """scheme, netloc, path, query of a URL, split by hand: never raises, whatever the URL holds."""
    scheme, _, rest = url.partition("://")
    rest = rest.partition("#")[0]
    cut = min((i for i in (rest.find("/"), rest.find("?")) if i >= 0), default=len(rest))
    netloc, rest = rest[:cut], rest[cut:]
    path, _, query = rest.partition("?")
    return scheme, netloc, path, query


def redact_url(url: str) -> str:
    """The database URL with every password replaced by ``***``: the ``user:password@`` part and the
    ``password`` / ``sslpassword`` query parameters; a libpq key=value string is not shown at all."""
    if LIBPQ_DSN.match(url):
        return "<connection string>"
    if "://" not in url:
        return url
    scheme, netloc, path, query = _parts(url)
    if "@" in netloc:
        userinfo, host = netloc.rsplit("@", 1)  # a password may itself contain '@'
        user, colon, _ = userinfo.partition(":")
        netloc = f"{user}:***@{host}" if colon else f"{user}@{host}"
    params = []
    for item in query.split("&") if query else []:
        key, eq, _ = item.partition("=")
        params.append(f"{key}=***" if eq and unquote(key).strip().lower() in SECRET_PARAMS else item)
    return f"{scheme}://{netloc}{path}" + (f"?{'&'.join(params)}" if params else "")


def database_name(url: str) -> str:
    """The database a postgresql:// URL names (its path), without host, user or password."""
    return unquote(_parts(url)[2].lstrip("/")) or "(default)"


def canonical_json(doc: Any) -> str:
    """Compact JSON with sorted keys: the same input gives the same text and hash."""
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class AuditLog(Protocol):
    """A durable, append-only decision log.

    Logs with ``inline = True`` are called on the event loop with ``quick=True``: they must then raise
    `AuditBusy` instead of waiting for a lock, and the call is repeated on an audit thread.
    On an audit thread, calls get ``deadline`` (a `time.monotonic()` value): they must not wait past it
    (for a connection, a lock or a statement) but raise `AuditUnavailable`.
    """

    url: str  # for the operator's log: passwords redacted
    backend: str  # sqlite | postgresql
    database: str  # file or database name, all that API clients are shown

    def record(self, entries: list[AuditEntry], stored: StoredResponse | None = None,
               deadline: float | None = None) -> StoredResponse | None:
        """Write the entries (and the idempotency key) in one transaction.

        Returns None when written; when the key was already recorded, writes nothing and returns
        the stored response. Raises `AuditUnavailable` when the database cannot be written.
        """
        ...

    def lookup(self, key: str, client: str | None = None, deadline: float | None = None) -> StoredResponse | None:
        """The response stored for this client's key (None: the client never used it)."""
        ...

    def ping(self, deadline: float | None = None) -> None:
        """Raise `AuditUnavailable` unless the database answers and could take a write now; never waits long."""
        ...

    def probe(self, deadline: float | None = None) -> None:
        """Commit a write that leaves no trace; raise `AuditUnavailable` if the database cannot take it."""
        ...

    def count(self) -> int: ...

    def close(self) -> None: ...

"""Reading the decision service's audit log (SQLite or PostgreSQL) as a monitorable batch.

The service (`creditflow.service.audit`) writes one row per decision to the table `decisions`:

    request_id      text      unique id of the decision
    created_at      ISO 8601 text (SQLite) / timestamptz (PostgreSQL)
    application_id  text      the caller's reference (optional)
    input_json      JSON object of the applicant's fields (text in SQLite, jsonb in PostgreSQL)
    model_version   text      the bundle's manifest model_version
    policy_version  text
    probability, score, grade, decision, reasons_json, ...

Other writers are read too when they follow that layout; accepted aliases: table `audit`/`audit_log`,
`id` for request_id, `time`/`ts`/`timestamp` for created_at, `input`/`inputs`/`request`/`payload` for
input_json (an input logged as the request body `{"application_id": ..., "applicant": {...}}` is read as its
applicant). A numeric time is a Unix epoch whose unit is told by its magnitude (`epoch_unit`). Rows of other model versions are left out and counted; the logged inputs are rescored
with the bundle and the logged scores compared with that rescoring.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import numpy as np
import pandas as pd

from creditflow.binning.variable import category_keys
from creditflow.data.errors import DataError, SchemaError, shown
from creditflow.monitor.sources import Batch, check_columns, period_codes

TABLES = ("decisions", "audit", "audit_log")
REQUEST_BODY = "applicant"
"""The key of the applicant's fields in a request body `{"application_id": ..., "applicant": {...}}`."""
ALIASES: dict[str, tuple[str, ...]] = {
    "request_id": ("request_id", "id"),
    "time": ("created_at", "time", "ts", "timestamp"),
    "input": ("input_json", "input", "inputs", "request", "payload"),
    "application_id": ("application_id",),
    "policy_version": ("policy_version",),
    "model_version": ("model_version", "version"),
    "score": ("score",),
    "decision": ("decision",),
}
FETCH = 50_000


def _kind(url: str) -> tuple[str, str]:
    """('sqlite', path) or ('postgresql', url)."""
    if url.startswith(("postgresql://", "postgres://", "postgresql+psycopg://")):
        return "postgresql", url.replace("postgresql+psycopg://", "postgresql://", 1)
    if url.startswith("sqlite:"):
        parsed = urlparse(url)
        path = unquote(parsed.path)
        if parsed.netloc:  # sqlite://host/... is not a file
            raise DataError("a SQLite URL has no host: use sqlite:///relative.db or sqlite:////abs/path.db", file=url)
        if url.startswith("sqlite:///") and not url.startswith("sqlite:////"):
            path = path.lstrip("/")
        return "sqlite", path
    if "://" in url:
        raise DataError("unsupported audit URL: use a SQLite file (path or sqlite:///...) or postgresql://...",
                        file=_redact(url))
    return "sqlite", url


@contextmanager
def _connect(url: str) -> Iterator[tuple[Any, str]]:
    kind, target = _kind(url)
    if kind == "sqlite":
        if not Path(target).is_file():
            raise DataError("no such SQLite file", file=target)
        try:
            conn = sqlite3.connect(f"file:{Path(target).resolve()}?mode=ro", uri=True)
            conn.execute("select count(*) from sqlite_master")
        except sqlite3.DatabaseError as exc:
            raise DataError(f"not a readable SQLite database: {exc}", file=target) from None
    else:
        import psycopg

        try:
            conn = psycopg.connect(target, connect_timeout=10)
            conn.read_only = True
        except psycopg.Error as exc:
            raise DataError(f"cannot connect to PostgreSQL: {str(exc).strip().splitlines()[0]}",
                            file=_redact(target)) from None
    try:
        yield conn, kind
    finally:
        conn.close()


def _redact(url: str) -> str:
    from creditflow.service.audit.base import redact_url

    return redact_url(url)


def _tables(conn: Any, kind: str) -> list[str]:
    if kind == "sqlite":
        rows = conn.execute("select name from sqlite_master where type in ('table', 'view')").fetchall()
    else:
        with conn.cursor() as cur:
            cur.execute("select table_name from information_schema.tables "
                        "where table_schema = any(current_schemas(false))")
            rows = cur.fetchall()
    return [r[0] for r in rows]


def _read(conn: Any, kind: str, table: str) -> pd.DataFrame:
    quoted = '"' + table.replace('"', '""') + '"'
    cur = conn.cursor()
    try:
        cur.execute(f"select * from {quoted}")  # noqa: S608 - the name is one of the database's own tables
        cols = [d[0] for d in cur.description]
        chunks = []
        while True:
            rows = cur.fetchmany(FETCH)
            if not rows:
                break
            chunks.append(pd.DataFrame.from_records(rows, columns=cols))
    finally:
        cur.close()
    return pd.concat(chunks, ignore_index=True) if chunks else pd.DataFrame(columns=cols)


def _column(frame: pd.DataFrame, role: str) -> str | None:
    lower = {str(c).lower(): c for c in frame.columns}
    return next((lower[a] for a in ALIASES[role] if a in lower), None)


def _inputs(values: pd.Series, ids: pd.Series, source: str) -> tuple[pd.DataFrame, np.ndarray, pd.Series]:
    """Expand the logged inputs (JSON text or already-decoded objects) into one column per field; also which
    were logged as the whole request body, and the application_id such a body holds (else None).

    A writer that logs the request body `{"application_id": ..., "applicant": {...}}` rather than the
    applicant's fields (as the service does) gets its `applicant` read: a dict is never a model input."""
    records = []
    bodies: list[bool] = []
    body_ids: list[Any] = []
    for i, v in enumerate(values.to_numpy(dtype=object)):
        if isinstance(v, (bytes, bytearray, memoryview)):
            v = bytes(v).decode("utf-8", errors="replace")
        if isinstance(v, str):
            try:
                v = json.loads(v)
            except json.JSONDecodeError as exc:
                raise DataError(f"logged input of request {ids.iloc[i]!r} is not valid JSON: {exc.msg}",
                                file=source, column=str(values.name), row=i + 1) from None
        if not isinstance(v, dict):
            raise DataError(f"logged input of request {ids.iloc[i]!r} is not a JSON object",
                            file=source, column=str(values.name), row=i + 1)
        body = isinstance(v.get(REQUEST_BODY), dict)
        bodies.append(body)
        body_ids.append(v.get("application_id") if body else None)
        records.append(v[REQUEST_BODY] if body else v)
    frame = pd.DataFrame.from_records(records)
    for col in frame.columns:
        if frame[col].dtype == object:
            converted = pd.to_numeric(frame[col], errors="coerce")
            if converted.notna().sum() == frame[col].notna().sum():
                frame[col] = converted
    return frame, np.array(bodies, dtype=bool), pd.Series(body_ids, dtype=object)


@contextmanager
def _reading(kind: str, file: str) -> Iterator[None]:
    """A database that fails while it is read (a damaged page: "database disk image is malformed") is bad
    input: a `DataError` naming the file and table, not an internal error."""
    try:
        yield
    except sqlite3.DatabaseError as exc:
        raise DataError(f"cannot read the SQLite database: {exc}", file=file) from None
    except Exception as exc:
        if kind != "postgresql":
            raise
        import psycopg

        if not isinstance(exc, psycopg.Error):
            raise
        raise DataError(f"cannot read from PostgreSQL: {str(exc).strip().splitlines()[0]}", file=file) from None


def read_audit(url: str, bundle: Any, *, table: str | None = None) -> Batch:
    """The decisions of `bundle`'s model version in an audit database, as a `Batch` with its inputs expanded.

    An application decided more than once (the same application_id) counts once: its latest decision, by
    decision time then row order (`Batch.rows`); the earlier ones are counted in a note.
    """
    with _connect(url) as (conn, kind):
        with _reading(kind, _redact(url)):
            names = _tables(conn, kind)
        if table is None:
            table = next((t for t in TABLES if t in names), None)
            if table is None:
                raise DataError(f"no audit table found (looked for {list(TABLES)}); tables are {sorted(names)[:12]}",
                                file=_redact(url), hint="pass --audit-table NAME")
        elif table not in names:
            raise DataError(f"no table '{table}'; tables are {sorted(names)[:12]}", file=_redact(url))
        with _reading(kind, f"{_redact(url)} (table {table})"):
            raw = _read(conn, kind, table)
    source = f"{_redact(url)} (table {table})"
    found = {role: _column(raw, role) for role in ALIASES}
    if found["input"] is None:
        raise SchemaError(f"the audit table has no input column (one of {list(ALIASES['input'])}); "
                          f"columns are {list(raw.columns)}", file=source)
    if raw.empty:
        raise DataError("the audit table has no rows", file=source)
    notes = []
    rows_in_table = np.arange(1, len(raw) + 1)  # 1-based row of each kept row in the table, for errors
    version = bundle.model_version
    if found["model_version"] is not None and version:
        versions = raw[found["model_version"]].astype(str)
        mine = (versions == version).to_numpy()
        if not mine.any():
            seen = versions.value_counts().head(5).to_dict()
            raise DataError(f"no decision of model version {version} in the audit log; versions logged: {seen}",
                            file=source, column=found["model_version"])
        others = versions[~mine].value_counts()
        if len(others):
            notes.append(f"audit: {int(others.sum()):,} decision(s) of other model versions left out: "
                         + ", ".join(f"{v} ({n:,})" for v, n in others.head(5).items()))
        raw = raw.loc[mine].reset_index(drop=True)
        rows_in_table = rows_in_table[mine]
    ids = raw[found["request_id"]] if found["request_id"] else pd.Series(np.arange(1, len(raw) + 1))
    frame, bodies, body_ids = _inputs(raw[found["input"]], ids, source)
    features = list(bundle.model.features_)
    if not any(f in frame.columns for f in features):
        keys = [str(c) for c in frame.columns]
        raise SchemaError(f"the logged inputs hold none of the model's inputs: their keys are {keys[:12]}"
                          f"{' ...' if len(keys) > 12 else ''}; each must be a JSON object of the applicant's "
                          f"fields ({', '.join(features[:3])}, ...) or a request body with them under "
                          f"'{REQUEST_BODY}'", file=source, column=found["input"])
    check_columns(frame, features, source)
    if bodies.any():
        notes.append(f"audit: {int(bodies.sum()):,} logged input(s) are request bodies: the fields under "
                     f"'{REQUEST_BODY}' are monitored")
        if found["application_id"] is None and body_ids.notna().any():  # the body's id, for de-duplication and labels
            raw["application_id"] = body_ids.to_numpy()
            found["application_id"] = "application_id"
    stored = pd.DataFrame({"request_id": ids.to_numpy()})
    for role in ("time", "score", "decision", "policy_version"):
        if found[role] is not None:
            stored[role] = raw[found[role]].to_numpy()
    id_columns = []
    for role in ("application_id", "request_id"):  # what --labels can be joined on
        if found[role] is not None and role not in frame.columns and raw[found[role]].notna().any():
            frame[role] = raw[found[role]].to_numpy()
            id_columns.append(role)
    batch = Batch(frame=frame, source=source, id_column=id_columns[-1] if id_columns else None, stored=stored,
                  notes=notes)
    batch.id_columns = id_columns
    times = _as_time(raw[found["time"]], source, rows_in_table) if found["time"] is not None else None
    if times is not None:
        batch.period_codes, batch.periods = period_codes(times)
    if "application_id" in id_columns:
        latest = latest_decisions(frame["application_id"], times)
        if not latest.all():
            batch.rows = latest
            earlier = frame["application_id"][~latest]
            notes.append(f"audit: {len(earlier):,} earlier decision(s) of {earlier.nunique():,} application(s) decided "
                         f"more than once left out (e.g. application_id {shown(earlier.iloc[0])}): only the latest "
                         f"decision per application_id is monitored; score checks and logged decisions cover all")
    return batch


def latest_decisions(application_ids: pd.Series, times: pd.Series | None = None) -> np.ndarray:
    """Which rows are the latest decision of their application (by time, then row order; rows without an
    application id all count). Sorted on the times themselves (missing ones first, as the earliest), never
    on an integer view of them, which overflows for a time that nanoseconds cannot hold."""
    keys = pd.Series(category_keys(application_ids))
    n = len(keys)
    order = np.arange(n)
    if times is not None:
        naive = times.dt.tz_localize(None) if times.dt.tz is not None else times
        by = pd.DataFrame({"time": naive.to_numpy(), "row": order})
        order = by.sort_values(["time", "row"], na_position="first", kind="mergesort")["row"].to_numpy()
    last = ~keys.iloc[order].duplicated(keep="last").to_numpy() | keys.iloc[order].isna().to_numpy()
    out = np.empty(n, dtype=bool)
    out[order] = last
    return out


# A numeric time is a Unix epoch; its unit is told by the magnitude of the column's largest value: under
# 1e11 seconds (1e11 s is the year 5138; today's epoch seconds are about 1.7e9), under 1e14 milliseconds
# (JavaScript's Date.now(), Java's currentTimeMillis()), under 1e17 microseconds, else nanoseconds.
# A time, numeric or text, outside 1970-01-01 .. 2100-01-01 is refused, naming its row.
EPOCH_UNITS = ((1e11, "s"), (1e14, "ms"), (1e17, "us"))
EPOCH_SCALE = {"s": 1.0, "ms": 1e3, "us": 1e6, "ns": 1e9}
EARLIEST, LATEST = pd.Timestamp("1970-01-01", tz="UTC"), pd.Timestamp("2100-01-01", tz="UTC")


def epoch_unit(values: np.ndarray) -> str:
    """The unit of epoch times, by the magnitude of the largest (see EPOCH_UNITS); 's' when there are none."""
    finite = np.abs(values[np.isfinite(values)])
    top = float(finite.max()) if len(finite) else 0.0
    return next((unit for bound, unit in EPOCH_UNITS if top < bound), "ns")


def _as_time(values: pd.Series, source: str = "", rows: np.ndarray | None = None) -> pd.Series:
    """Logged times as timestamps (text, datetime, or Unix epoch seconds, milliseconds, microseconds or
    nanoseconds told by magnitude); a time outside 1970..2100 is a `DataError` naming its (1-based) row."""
    rows = np.arange(1, len(values) + 1) if rows is None else rows
    if pd.api.types.is_numeric_dtype(values.dtype) and not pd.api.types.is_bool_dtype(values.dtype):
        numbers = values.to_numpy(dtype=float)
        unit = epoch_unit(numbers)
        seconds = numbers / EPOCH_SCALE[unit]
        outside = np.isfinite(seconds) & ((seconds < EARLIEST.timestamp()) | (seconds >= LATEST.timestamp()))
        how = f" (read as epoch {'seconds' if unit == 's' else unit}: the unit is told by magnitude)"
        times = None
    else:
        times = pd.to_datetime(values, utc=True, errors="coerce", format="mixed")
        outside = (times.notna() & ((times < EARLIEST) | (times >= LATEST))).to_numpy()
        how = ""
    if outside.any():
        i = int(np.flatnonzero(outside)[0])
        raise DataError(f"time {shown(values.iloc[i])}{how} is outside 1970..2100 ({int(outside.sum()):,} such "
                        f"row(s))", file=source, column=str(values.name), row=int(rows[i]))
    if times is None:
        times = pd.to_datetime(pd.Series(numbers, index=values.index), unit=unit, utc=True, errors="coerce")
    return times


def compare_stored(stored: pd.DataFrame, scores: pd.DataFrame) -> dict[str, Any]:
    """What the audit log recorded against this bundle's rescoring: score mismatches and the decision mix."""
    out: dict[str, Any] = {"rows": int(len(stored))}
    if "score" in stored.columns:
        logged = pd.to_numeric(stored["score"], errors="coerce").to_numpy(dtype=float)
        now = scores["score"].to_numpy(dtype=float)
        diff = np.abs(logged - now)
        bad = np.isfinite(logged) & (diff > 0)
        out["score_mismatches"] = int(bad.sum())
        out["max_score_difference"] = float(diff[np.isfinite(diff)].max()) if np.isfinite(diff).any() else 0.0
        out["mismatch_examples"] = [str(x) for x in stored.loc[bad, "request_id"].head(5)]
    if "decision" in stored.columns:
        mix = stored["decision"].astype(str).value_counts()
        out["decisions"] = {str(k): int(v) for k, v in mix.items()}
    if "policy_version" in stored.columns:
        out["policy_versions"] = {str(k): int(v) for k, v in stored["policy_version"].astype(str).value_counts().items()}
    return out


def compare_decisions(stored: pd.DataFrame, policy_path: Any, frame: pd.DataFrame,
                      scores: pd.DataFrame) -> dict[str, Any]:
    """The logged decisions against what the policy decides on the logged inputs and the logged score (the
    rescored one where none was logged), on the rows logged under the policy's version (every row when the
    log has no policy version): a policy edited without a new version, or a service that ran another file."""
    if "decision" not in stored.columns:
        return {}
    from creditflow.policy import decide_frame, load_policy
    from creditflow.policy.simulate import with_absent_fields

    policy = load_policy(policy_path)
    n = len(stored)
    mine = (stored["policy_version"].astype(str).to_numpy() == policy.version if "policy_version" in stored.columns
            else np.ones(n, dtype=bool))
    logged = (pd.to_numeric(stored["score"], errors="coerce").to_numpy(dtype=float) if "score" in stored.columns
              else np.full(n, np.nan))
    score = np.where(np.isfinite(logged), logged, scores["score"].to_numpy(dtype=float))
    decided, _ = decide_frame(policy, with_absent_fields(policy, frame)[0], score)
    bad = mine & (decided != stored["decision"].astype(str).to_numpy())
    return {"decision_policy_version": policy.version, "decisions_checked": int(mine.sum()),
            "decision_mismatches": int(bad.sum()),
            "decision_mismatch_examples": [str(x) for x in stored.loc[bad, "request_id"].head(5)]}


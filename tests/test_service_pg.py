"""The audit log in a real PostgreSQL (a throwaway cluster started by the `postgres` fixture; the test
FAILS, not skips, where PostgreSQL is not installed)."""

from __future__ import annotations

import threading
import time

import httpx
import psycopg
import pytest

from creditflow.service.audit import open_audit
from creditflow.service.audit.base import SCHEMA_VERSION
from tests.service_support import (  # noqa: F401
    API_KEY,
    EXAMPLE_POLICY,
    ServiceProcess,
    applicants,
    free_port,
    postgres,
    run_serve,
    service_bundle,
)
from tests.test_service_parts import check_migrated, make_v1_audit


@pytest.fixture(scope="module")
def pg_server(postgres, service_bundle, tmp_path_factory):  # noqa: F811
    proc = ServiceProcess([str(service_bundle), "--policy", str(EXAMPLE_POLICY), "--audit", postgres.url],
                          workdir=tmp_path_factory.mktemp("pg")).start()
    yield proc
    proc.stop()
    assert "Traceback" not in proc.log()


def pg_rows(postgres, sql: str, args: tuple = ()) -> list[tuple]:  # noqa: F811
    with psycopg.connect(postgres.url) as conn:
        return conn.execute(sql, args).fetchall()


def test_decisions_are_recorded_in_postgres(pg_server, postgres, applicants):  # noqa: F811
    with pg_server.client() as c:
        docs = [c.post("/v1/decisions", json={"application_id": f"pg-{i}", "applicant": a}).json()
                for i, a in enumerate(applicants[:25])]
        batch = c.post("/v1/decisions/batch", json={"applications": [{"applicant": a} for a in applicants[25:30]]})
        assert c.post("/v1/decisions", json={"applicant": {"AGE": "x"}}).status_code == 422
    assert batch.status_code == 200
    rows = {r[0]: r for r in pg_rows(postgres, "SELECT request_id, score, decision, model_version, policy_version, "
                                     "input_json, created_at FROM decisions")}
    assert len(rows) == 30
    for doc, applicant in zip(docs, applicants, strict=False):
        rid, score, decision, mv, pv, input_json, created = rows[doc["request_id"]]
        assert (score, decision, mv, pv) == (doc["score"], doc["decision"], doc["model_version"], doc["policy_version"])
        assert input_json["PAY_0"] == applicant["PAY_0"]  # JSONB: queryable by field
        assert created.isoformat(timespec="milliseconds").startswith(doc["created_at"][:19])
    assert pg_rows(postgres, "SELECT MAX(version) FROM creditflow_audit_schema") == [(SCHEMA_VERSION,)]


def test_a_nul_character_is_refused_before_the_database(pg_server, postgres, applicants):  # noqa: F811
    before = pg_rows(postgres, "SELECT COUNT(*) FROM decisions")[0][0]
    with pg_server.client() as c:
        r = c.post("/v1/decisions", json={"application_id": "pg-\u0000-1", "applicant": applicants[60]})
        assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "application_id"], r.text
        r = c.post("/v1/decisions/batch", json={"applications": [{"applicant": applicants[60]},
                                                                 {"application_id": "\u0000", "applicant": applicants[61]}]})
        assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "applications", 1, "application_id"]
    assert pg_rows(postgres, "SELECT COUNT(*) FROM decisions")[0][0] == before


def test_concurrent_idempotent_retries_write_once(pg_server, postgres, applicants):  # noqa: F811
    results, barrier = [], threading.Barrier(6)

    def go() -> None:
        with pg_server.client() as c:
            barrier.wait()
            results.append(c.post("/v1/decisions", json={"applicant": applicants[40]},
                                  headers={"Idempotency-Key": "pg-race"}))

    threads = [threading.Thread(target=go) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert [r.status_code for r in results] == [200] * 6
    assert len({r.json()["request_id"] for r in results}) == 1
    assert pg_rows(postgres, "SELECT COUNT(*) FROM decisions WHERE idempotency_key = 'pg-race'") == [(1,)]


def test_a_locked_table_gives_503_after_the_audit_timeout_not_a_hang(pg_server, postgres, applicants):  # noqa: F811
    with httpx.Client(base_url=pg_server.url, headers={"X-API-Key": API_KEY}, timeout=15) as c:
        locker = psycopg.connect(postgres.url)
        try:
            locker.execute("LOCK TABLE decisions IN ACCESS EXCLUSIVE MODE")  # held until rolled back
            for headers in ({}, {"Idempotency-Key": "k-locked"}):
                start = time.monotonic()
                r = c.post("/v1/decisions", json={"applicant": applicants[70]}, headers=headers)
                assert r.status_code == 503 and r.headers["Retry-After"] == "1", r.text
                assert time.monotonic() - start < 9  # the 5 s lock timeout, once
            start = time.monotonic()
            r = c.get("/readyz")
            assert r.status_code == 503 and r.json()["status"] == "not ready", r.text
            assert time.monotonic() - start < 3
        finally:
            locker.rollback()
            locker.close()
        assert c.post("/v1/decisions", json={"applicant": applicants[70]}).status_code == 200
        assert c.get("/readyz").status_code == 200


def test_database_outage_gives_503_never_an_unrecorded_decision(pg_server, postgres, applicants):  # noqa: F811
    before = pg_rows(postgres, "SELECT COUNT(*) FROM decisions")[0][0]
    postgres.stop()
    try:
        with pg_server.client() as c:
            r = c.post("/v1/decisions", json={"applicant": applicants[50]})
            assert r.status_code == 503 and "no decision was issued" in r.json()["detail"]
            assert c.get("/readyz").status_code == 503
            # later calls find no connection to reuse and cannot open one: still 503s, never a 500
            for _ in range(2):
                for r in (c.post("/v1/decisions", json={"applicant": applicants[50]}),
                          c.post("/v1/decisions", json={"applicant": applicants[50]}, headers={"Idempotency-Key": "k-out"}),
                          c.post("/v1/decisions/batch", json={"applications": [{"applicant": applicants[50]}]})):
                    assert r.status_code == 503 and r.headers["Retry-After"] == "1", r.text
                r = c.get("/readyz")
                assert r.status_code == 503 and r.json()["status"] == "not ready", r.text
    finally:
        postgres.start()
    with pg_server.client() as c:
        r = c.post("/v1/decisions", json={"applicant": applicants[51]})  # reconnects by itself
        assert r.status_code == 200, r.text
        assert c.get("/readyz").status_code == 200
    assert pg_rows(postgres, "SELECT COUNT(*) FROM decisions")[0][0] == before + 1


def test_the_password_is_shown_nowhere(postgres, service_bundle, tmp_path):  # noqa: F811
    secret = "S3cretPw"
    url = f"{postgres.url}?password={secret}"  # trust authentication: any password is accepted
    server = ServiceProcess([str(service_bundle), "--audit", url], workdir=tmp_path).start()
    try:
        with server.client() as c:
            doc = c.get("/v1/model").json()
        assert doc["audit"] == {"backend": "postgresql", "database": "postgres"}
    finally:
        server.stop()
    assert secret not in server.log() and "password=***" in server.log()
    down = f"postgresql://cf:{secret}@127.0.0.1:{free_port()}/db?password={secret}"
    r = run_serve([str(service_bundle), "--audit", down], tmp_path)
    assert r.returncode == 2 and "cannot use the PostgreSQL audit database" in r.stderr, r.stderr
    assert secret not in r.stderr + r.stdout


def test_an_audit_database_of_schema_1_is_migrated_with_its_keys(postgres):  # noqa: F811
    with psycopg.connect(postgres.url, autocommit=True) as conn:
        conn.execute("DROP DATABASE IF EXISTS audit_v1")
        conn.execute("CREATE DATABASE audit_v1")
    url = postgres.url.rsplit("/", 1)[0] + "/audit_v1"
    with psycopg.connect(url, autocommit=True) as conn:
        make_v1_audit(conn.execute, ("TIMESTAMPTZ", "JSONB", "DOUBLE PRECISION"))
    log = open_audit(url)
    try:
        check_migrated(log)
    finally:
        log.close()
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT MAX(version) FROM creditflow_audit_schema").fetchone()[0] == 3
        assert dict(conn.execute("SELECT request_id, trace_id FROM decisions").fetchall()) == {
            "r1": None, "r2": None, "r3": None, "r9": "gw-9"}


def test_the_audit_timeout_bounds_every_concurrent_request(postgres, service_bundle, applicants, tmp_path):  # noqa: F811
    """12 requests at once while a migration-style lock holds the decisions table: each gets its 503 about
    --audit-timeout (1 s) after it began, not 1, 1, 1, 1, 2, 2, ... 3 s as four audit threads work the queue."""
    from tests.test_service_faults import _concurrent_posts

    server = ServiceProcess([str(service_bundle), "--audit", postgres.url, "--audit-timeout", "1"],
                            workdir=tmp_path).start()
    try:
        with psycopg.connect(postgres.url) as locker:
            locker.execute("LOCK TABLE decisions IN ACCESS EXCLUSIVE MODE")  # held until the block ends
            results = _concurrent_posts(server, [{"applicant": a} for a in applicants[:12]])
        assert [s for s, _ in results] == [503] * 12, results
        slowest = max(t for _, t in results)
        assert 0.9 <= slowest < 2.5, f"a request waited {slowest:.1f} s with --audit-timeout 1: {results}"
        with server.client() as c:
            assert c.post("/v1/decisions", json={"applicant": applicants[0]}).status_code == 200
    finally:
        server.stop()
    assert "Traceback" not in server.log()


def test_the_readiness_probe_commits_a_write_and_leaves_nothing(postgres):  # noqa: F811
    from creditflow.service.audit import AuditUnavailable

    log = open_audit(postgres.url)
    try:
        before = pg_rows(postgres, "SELECT version FROM creditflow_audit_schema ORDER BY version")
        log.probe()
        assert pg_rows(postgres, "SELECT version FROM creditflow_audit_schema ORDER BY version") == before
        with psycopg.connect(postgres.url, autocommit=True) as conn:  # writes refused, as on a full disk
            conn.execute("CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS "
                         "$$ BEGIN RAISE EXCEPTION 'could not extend file (simulated)'; END $$")
            conn.execute("CREATE TRIGGER refuse BEFORE INSERT ON creditflow_audit_schema "
                         "FOR EACH ROW EXECUTE FUNCTION refuse()")
        try:
            with pytest.raises(AuditUnavailable, match="could not extend file"):
                log.probe()
            log.ping()  # the lock check alone does not see it
        finally:
            with psycopg.connect(postgres.url, autocommit=True) as conn:
                conn.execute("DROP TRIGGER refuse ON creditflow_audit_schema")
                conn.execute("DROP FUNCTION refuse()")
        log.probe()
    finally:
        log.close()

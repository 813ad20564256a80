"""Faults: the service refuses to start on bad input (exit 2, one line), and a `kill -9` under load
leaves an audit log that opens cleanly, holds every decision a client saw, and lets retries finish
the rest exactly once."""

from __future__ import annotations

import importlib.metadata
import os
import re
import shutil
import socket
import sqlite3
import subprocess
import sys
import threading
import time

import httpx
import pytest

from creditflow.service.audit.base import SCHEMA_VERSION
from tests.conftest import UCI
from tests.service_support import (  # noqa: F401
    EXAMPLE_POLICY,
    ServiceProcess,
    applicants,
    free_port,
    run_serve,
    service_bundle,
    uci_frame,
)


def _tampered(bundle, dest):
    shutil.copytree(bundle, dest)
    text = (dest / "binning.json").read_text(encoding="utf-8")
    m = re.search(r'"woe": \[\s*(-?[0-9.]+)', text)
    (dest / "binning.json").write_text(text.replace(m.group(1), str(float(m.group(1)) + 0.1), 1), encoding="utf-8")
    return dest


def test_refuses_a_tampered_bundle_at_start(service_bundle, tmp_path):  # noqa: F811
    r = run_serve([str(_tampered(service_bundle, tmp_path / "tampered"))], tmp_path)
    assert r.returncode == 2, r.stderr[-2000:]
    assert "binning.json" in r.stderr and "SHA-256 does not match" in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr


def test_refuses_to_start_on_other_bad_input(service_bundle, tmp_path, monkeypatch):  # noqa: F811
    """The same checks in-process (they all stop before serving): one line, exit status 2."""
    from typer.testing import CliRunner

    from creditflow.cli import _load_commands, app

    _load_commands()
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()

    def serve(*args: str, keys: str = "key-for-the-tests-0123456789") -> tuple[int, str]:
        monkeypatch.setenv("CREDITFLOW_API_KEYS", keys)
        result = runner.invoke(app, ["serve", str(service_bundle), "--host", "127.0.0.1", *args])
        return result.exit_code, result.output

    code, out = serve("--port", str(free_port()), keys="")
    assert code == 2 and "no API keys" in out
    code, out = serve("--port", str(free_port()), keys="short")
    assert code == 2 and "shorter than 16 characters" in out
    bad_policy = tmp_path / "p.yaml"
    bad_policy.write_text("version: v\ncutoffs: {approve: 530}\nrules:\n- {code: R, when: 'AGE <', action: reject}\n")
    code, out = serve("--port", str(free_port()), "--policy", str(bad_policy))
    assert code == 2 and "rule 'R'" in out
    for declared, says in [("LIMIT_BAL: {type: string}", "fields.LIMIT_BAL is declared string"),
                           ("PAY_0: {min: 100}", "fields.PAY_0: min 100 leaves no valid value")]:
        bad_policy.write_text(f"version: v\ncutoffs: {{approve: 530}}\nfields:\n  {declared}\n")
        code, out = serve("--port", str(free_port()), "--policy", str(bad_policy))
        assert code == 2 and says in " ".join(out.split()), out
    code, out = serve("--port", str(free_port()), "--audit", "mysql://db/audit")
    assert code == 2 and "unsupported audit URL" in out
    keys = tmp_path / "keys.txt"
    keys.write_text("not-a-digest\n")
    code, out = serve("--port", str(free_port()), "--api-keys-file", str(keys))
    assert code == 2 and "row 1" in out and "SHA-256 hex digest" in out
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        code, out = serve("--port", str(port))
    assert code == 2 and f"cannot listen on 127.0.0.1:{port}" in out
    assert "Traceback" not in out


def test_port_out_of_range_exits_2(service_bundle, tmp_path):  # noqa: F811
    for port in ("80000", "-1", "0"):
        r = run_serve([str(service_bundle), "--port", port], tmp_path, timeout=60)
        assert r.returncode == 2, (port, r.stderr[-2000:])
        assert "Invalid value for '--port'" in r.stderr and "internal error" not in r.stderr
        assert "Traceback" not in r.stderr


def _without(modules: list[str], *args: str, cwd) -> subprocess.CompletedProcess:
    """`creditflow ARGS` in a fresh interpreter where `modules` cannot be imported, as when they are not installed."""
    code = ("import sys\n"
            f"for m in {modules!r}: sys.modules[m] = None\n"
            "from creditflow.cli import main\n"
            f"sys.argv = ['creditflow', *{list(args)!r}]\n"
            "main()\n")
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=cwd, timeout=300,
                          env={**os.environ, "CREDITFLOW_API_KEYS": "key-for-the-tests-0123456789"})


def test_commands_needing_the_service_extra_say_how_to_install_it(service_bundle, tmp_path):  # noqa: F811
    """Without the [service] extra (its modules made unimportable) `serve` stops with exit 2 and the pip
    command, not a traceback."""
    r = _without(["uvicorn"], "serve", str(service_bundle), "--port", "8000", cwd=tmp_path)
    assert r.returncode == 2, r.stderr
    assert r.stderr.strip() == ("error: creditflow serve needs the [service] extra (uvicorn not installed): "
                                "pip install 'creditflow[service]'")
    r = _without(["fastapi", "uvicorn"], "serve", str(service_bundle), cwd=tmp_path)
    assert r.returncode == 2 and "(fastapi, uvicorn not installed)" in r.stderr
    assert "Traceback" not in r.stderr and "internal error" not in r.stderr


SERVICE_ONLY = ["fastapi", "starlette", "uvicorn", "httpx", "psycopg"]


def test_policy_commands_need_no_more_of_the_service_extra_than_pydantic(service_bundle, tmp_path):  # noqa: F811
    """`policy simulate` and `policy check MODEL` use the service's input validation, which needs pydantic
    only: without the web server, HTTP client and PostgreSQL driver they still run."""
    uci_frame().head(2000).to_csv(tmp_path / "pop.csv", index=False)
    r = _without(SERVICE_ONLY, "policy", "simulate", str(EXAMPLE_POLICY), str(service_bundle), str(tmp_path / "pop.csv"),
                 cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "(2,000 rows)" in " ".join(r.stdout.split()) and "approval rate" in r.stdout
    r = _without(SERVICE_ONLY, "policy", "check", str(EXAMPLE_POLICY), str(service_bundle), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert f"consistent with {service_bundle}" in " ".join(r.stdout.split())


@pytest.mark.skipif(any(req.split(";")[0].strip().lower().startswith("pydantic")
                        for req in importlib.metadata.requires("typer") or []),
                    reason="this typer depends on pydantic and coerces every CLI parameter with it, so pydantic "
                           "cannot be missing while the CLI runs (blocking it fails inside typer, before the "
                           "command's own check)")
def test_policy_commands_without_pydantic_say_how_to_install_it(service_bundle, tmp_path):  # noqa: F811
    """With a typer that does not need pydantic, the policy commands that validate inputs check for it."""
    r = _without(["pydantic"], "policy", "simulate", str(EXAMPLE_POLICY), str(service_bundle), str(UCI), cwd=tmp_path)
    assert r.returncode == 2, r.stderr
    assert r.stderr.strip() == ("error: creditflow policy simulate needs the [service] extra (pydantic not "
                                "installed): pip install 'creditflow[service]'")
    r = _without(["pydantic"], "policy", "check", str(EXAMPLE_POLICY), str(service_bundle), cwd=tmp_path)
    assert r.returncode == 2 and "policy check with a model bundle needs the [service] extra" in r.stderr
    assert "pip install 'creditflow[service]'" in r.stderr and "Traceback" not in r.stderr
    r = _without(["pydantic"], "policy", "check", str(EXAMPLE_POLICY), cwd=tmp_path)  # no bundle: no pydantic needed
    assert r.returncode == 0, r.stderr


def test_kill_9_under_load_then_restart(service_bundle, applicants, tmp_path):  # noqa: F811
    server = ServiceProcess([str(service_bundle), "--policy", str(EXAMPLE_POLICY)], workdir=tmp_path).start()
    answered: dict[str, str] = {}  # idempotency key -> request id the client saw
    sent: list[str] = []
    lock = threading.Lock()
    go = threading.Event()

    def client(k: int) -> None:
        with server.client() as c:
            for i in range(k, 100_000, 4):
                key = f"k-{i}"
                with lock:
                    sent.append(key)
                try:
                    r = c.post("/v1/decisions", json={"applicant": applicants[i % len(applicants)]},
                               headers={"Idempotency-Key": key})
                except httpx.HTTPError:
                    return  # the server is gone
                assert r.status_code == 200, r.text
                with lock:
                    answered[key] = r.json()["request_id"]
                    if len(answered) >= 150:
                        go.set()

    threads = [threading.Thread(target=client, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    assert go.wait(120), server.log()
    server.kill9()
    for t in threads:
        t.join(60)

    db = tmp_path / "creditflow-audit.db"
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    rows = dict(conn.execute("SELECT idempotency_key, request_id FROM decisions"))
    total, distinct = conn.execute("SELECT COUNT(*), COUNT(DISTINCT request_id) FROM decisions").fetchone()
    conn.close()
    assert total == distinct == len(rows), "no duplicate rows"
    assert all(rows.get(key) == rid for key, rid in answered.items()), "every decision a client saw is recorded"

    server.port = free_port()
    server.start()
    try:
        unanswered = [k for k in sent if k not in answered]
        with server.client() as c:
            for key in unanswered + list(answered)[:20]:
                i = int(key[2:])
                r = c.post("/v1/decisions", json={"applicant": applicants[i % len(applicants)]},
                           headers={"Idempotency-Key": key})
                assert r.status_code == 200, r.text
                if key in answered:
                    assert r.json()["request_id"] == answered[key], "a retry gets the first response"
                elif key in rows:
                    assert r.json()["request_id"] == rows[key], "recorded before the kill: replayed, not redone"
    finally:
        server.stop()
    conn = sqlite3.connect(db)
    total, keys = conn.execute("SELECT COUNT(*), COUNT(DISTINCT idempotency_key) FROM decisions").fetchone()
    conn.close()
    assert total == keys == len(sent), "after retries: exactly one row per application"


def test_a_locked_sqlite_database_never_stalls_the_event_loop(service_bundle, applicants, tmp_path):  # noqa: F811
    """Another process holding the write lock: health checks answer at once, readiness says not ready,
    a write waits for the audit timeout (5 s) off the event loop and gets 503; then all is well again."""
    server = ServiceProcess([str(service_bundle)], workdir=tmp_path).start()
    holder = sqlite3.connect(tmp_path / "creditflow-audit.db", isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")  # as a backup or another writer would
        blocked: list[httpx.Response] = []

        def post() -> None:
            with server.client() as c:
                blocked.append(c.post("/v1/decisions", json={"applicant": applicants[0]}))

        writer = threading.Thread(target=post)
        writer.start()
        time.sleep(0.5)
        with server.client() as c:
            for path in ("/healthz", "/readyz", "/healthz"):
                start = time.monotonic()
                r = c.get(path)
                assert time.monotonic() - start < 1, (path, "the event loop waited on the database lock")
                assert r.status_code == (200 if path == "/healthz" else 503), r.text
        writer.join(30)
        assert blocked and blocked[0].status_code == 503 and blocked[0].headers["Retry-After"] == "1"
        holder.execute("ROLLBACK")
        with server.client() as c:
            assert c.post("/v1/decisions", json={"applicant": applicants[0]}).status_code == 200
            assert c.get("/readyz").status_code == 200
    finally:
        holder.close()
        server.stop()
    assert "Traceback" not in server.log()


def _concurrent_posts(server, bodies: list[dict]) -> list[tuple[int, float]]:
    """POST each body at once from its own thread: (status, seconds it took), in the order given."""
    results: list[tuple[int, float]] = [(0, 0.0)] * len(bodies)
    go = threading.Barrier(len(bodies))

    def post(i: int) -> None:
        with server.client() as c:
            go.wait()
            start = time.monotonic()
            r = c.post("/v1/decisions", json=bodies[i])
            results[i] = (r.status_code, time.monotonic() - start)

    threads = [threading.Thread(target=post, args=(i,)) for i in range(len(bodies))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    return results


def test_the_audit_timeout_bounds_every_concurrent_request(service_bundle, applicants, tmp_path):  # noqa: F811
    """10 requests at once while another connection holds the SQLite write lock: each gets its 503 about
    --audit-timeout (1 s) after it began, not 1 s, 2 s, ... 10 s as when they queued one behind another."""
    server = ServiceProcess([str(service_bundle), "--audit-timeout", "1"], workdir=tmp_path).start()
    holder = sqlite3.connect(tmp_path / "creditflow-audit.db", isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")
        results = _concurrent_posts(server, [{"applicant": a} for a in applicants[:10]])
        assert [s for s, _ in results] == [503] * 10, results
        slowest = max(t for _, t in results)
        assert 0.9 <= slowest < 2.5, f"a request waited {slowest:.1f} s with --audit-timeout 1: {results}"
        holder.execute("ROLLBACK")
        with server.client() as c:
            assert c.post("/v1/decisions", json={"applicant": applicants[0]}).status_code == 200
    finally:
        holder.close()
        server.stop()
    assert "Traceback" not in server.log()


def test_readiness_says_not_ready_while_audit_writes_fail(service_bundle, applicants, tmp_path):  # noqa: F811
    """Every write refused by the database (as on a full disk; here triggers refuse them, so the test needs
    no root for a small filesystem): decisions get 503 and /readyz says not ready, though the write lock is
    free; once writes go through again, a probe write makes it ready again."""
    server = ServiceProcess([str(service_bundle)], workdir=tmp_path).start()
    db = sqlite3.connect(tmp_path / "creditflow-audit.db", isolation_level=None)
    try:
        for table in ("decisions", "idempotency_keys", "creditflow_audit_schema"):
            db.execute(f"CREATE TRIGGER full_{table} BEFORE INSERT ON {table} "
                       "BEGIN SELECT RAISE(ABORT, 'database or disk is full (simulated)'); END")
        with server.client() as c:
            r = c.post("/v1/decisions", json={"applicant": applicants[0]})
            assert r.status_code == 503, r.text
            ready = c.get("/readyz")
            assert ready.status_code == 503, ready.text
            assert "cannot take a write" in ready.json()["reason"] and "disk is full" in ready.json()["reason"]
            assert c.get("/readyz").status_code == 503  # still failing: still not ready
            for table in ("decisions", "idempotency_keys", "creditflow_audit_schema"):
                db.execute(f"DROP TRIGGER full_{table}")
            ready = c.get("/readyz")  # its probe write goes through
            assert ready.status_code == 200 and ready.json()["status"] == "ready", ready.text
            assert c.post("/v1/decisions", json={"applicant": applicants[0]}).status_code == 200
        assert db.execute("SELECT COUNT(*) FROM decisions").fetchone()[0] == 1
        versions = db.execute("SELECT version FROM creditflow_audit_schema").fetchall()
        assert versions == [(v,) for v in range(1, SCHEMA_VERSION + 1)]  # probes leave none
    finally:
        db.close()
        server.stop()
    assert "Traceback" not in server.log()


def test_an_audit_database_deleted_while_serving_stops_the_decisions(service_bundle, applicants, tmp_path):  # noqa: F811
    """Before, with the database file deleted under the running service, decisions still got 200 and /readyz
    said ready: SQLite went on writing to the unlinked file, and every decision since was lost at the stop."""
    server = ServiceProcess([str(service_bundle)], workdir=tmp_path).start()
    try:
        with server.client() as c:
            assert c.post("/v1/decisions", json={"applicant": applicants[0]}).status_code == 200
            for suffix in ("", "-wal", "-shm"):
                (tmp_path / f"creditflow-audit.db{suffix}").unlink(missing_ok=True)
            r = c.post("/v1/decisions", json={"applicant": applicants[1]})
            assert r.status_code == 503, r.text
            ready = c.get("/readyz")
            assert ready.status_code == 503 and "was deleted or replaced" in ready.json()["reason"], ready.text
    finally:
        server.stop()
    assert "Traceback" not in server.log()


def test_a_missing_audit_directory_is_refused_not_created(service_bundle, tmp_path):  # noqa: F811
    for audit, missing in [(str(tmp_path / "nonexistent" / "dir" / "audit.db"), tmp_path / "nonexistent"),
                           ("sqlite:///typo/a.db", tmp_path / "typo")]:
        r = run_serve([str(service_bundle), "--audit", audit], tmp_path, timeout=120)
        assert r.returncode == 2, r.stderr[-2000:]
        assert "does not exist" in r.stderr and "Traceback" not in r.stderr, r.stderr
        assert len(r.stderr.strip().splitlines()) == 1 and r.stderr.startswith("error:"), r.stderr
        assert not missing.exists(), "the directory was created"


def test_insecure_no_auth_on_a_public_address_is_warned_of(service_bundle, tmp_path):  # noqa: F811
    port = free_port()
    log_path = tmp_path / "serve.log"
    env = {**os.environ, "CREDITFLOW_API_KEYS": ""}
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "creditflow", "serve", str(service_bundle), "--insecure-no-auth",
                                 "--host", "0.0.0.0", "--port", str(port)], cwd=tmp_path, env=env, stdout=log,
                                stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
    finally:
        proc.terminate()
        proc.wait(30)
    warned = [line for line in log_path.read_text().splitlines() if " WARNING " in line and "--insecure-no-auth" in line]
    assert len(warned) == 1 and "0.0.0.0" in warned[0] and "without a key" in warned[0], log_path.read_text()


def test_the_audit_url_can_come_from_the_environment(service_bundle, applicants, tmp_path):  # noqa: F811
    server = ServiceProcess([str(service_bundle)], workdir=tmp_path,
                            env={"CREDITFLOW_AUDIT": "sqlite:///from-env.db"}).start()
    try:
        with server.client() as c:
            assert c.post("/v1/decisions", json={"applicant": applicants[0]}).status_code == 200
            assert c.get("/v1/model").json()["audit"]["database"] == "from-env.db"
    finally:
        server.stop()
    conn = sqlite3.connect(tmp_path / "from-env.db")
    assert conn.execute("SELECT COUNT(*) FROM decisions").fetchone()[0] == 1
    conn.close()
    assert not (tmp_path / "creditflow-audit.db").exists()
    r = run_serve([str(service_bundle), "--audit", "mysql://db/x"], tmp_path, env={"CREDITFLOW_AUDIT": "from-env.db"})
    assert r.returncode == 2 and "unsupported audit URL" in r.stderr, r.stderr  # the flag wins

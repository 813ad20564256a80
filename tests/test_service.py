"""The decision service as a platform engineer meets it: a real `creditflow serve` process on loopback,
real HTTP, a real SQLite audit log. Numbers are checked against the model's own single-row path."""

from __future__ import annotations

import hashlib
import json
import random
import sqlite3
import threading
from pathlib import Path

import pytest

from creditflow.bundle import load_bundle
from creditflow.policy import load_policy
from creditflow.service.audit.base import canonical_json
from tests.service_support import (  # noqa: F401
    API_KEY,
    API_KEY_2,
    EXAMPLE_POLICY,
    ServiceProcess,
    applicants,
    service_bundle,
)

MAX_BATCH = 20


@pytest.fixture(scope="module")
def server(service_bundle, tmp_path_factory):  # noqa: F811
    work = tmp_path_factory.mktemp("serve")
    keys = work / "keys.sha256"
    keys.write_text("# service keys\n" + hashlib.sha256(API_KEY_2.encode()).hexdigest() + "  ops team\n")
    proc = ServiceProcess([str(service_bundle), "--policy", str(EXAMPLE_POLICY), "--api-keys-file", str(keys),
                           "--max-batch", str(MAX_BATCH)], workdir=work).start()
    yield proc
    assert proc.stop() in (0, -15), proc.log()  # uvicorn finishes in-flight work, then re-raises SIGTERM
    assert "Traceback" not in proc.log()


@pytest.fixture(scope="module")
def client(server):
    with server.client() as c:
        yield c


def audit_rows(server, where: str = "", args: tuple = ()) -> list[sqlite3.Row]:
    conn = sqlite3.connect(f"file:{server.workdir / 'creditflow-audit.db'}?mode=ro", uri=True)
    conn.row_factory = sqlite3.Row
    try:
        return conn.execute(f"SELECT * FROM decisions {where}", args).fetchall()
    finally:
        conn.close()


def audit_count(server) -> int:
    return len(audit_rows(server))


# ------------------------------------------------------------------------------------------ auth
def test_health_is_open_and_everything_else_needs_a_key(server):
    import httpx

    assert httpx.get(server.url + "/healthz").json() == {"status": "ok"}
    assert httpx.get(server.url + "/readyz").status_code == 200
    for method, path in [("POST", "/v1/decisions"), ("POST", "/v1/decisions/batch"), ("GET", "/v1/model"),
                         ("GET", "/metrics"), ("POST", "/v1/admin/reload")]:
        r = httpx.request(method, server.url + path, json={})
        assert r.status_code == 401, (path, r.text)
        assert r.json()["request_id"] == r.headers["x-request-id"]
        r = httpx.request(method, server.url + path, json={}, headers={"X-API-Key": API_KEY + "x"})
        assert r.status_code == 403, (path, r.text)
    assert httpx.post(server.url + "/v1/decisions", json={}).headers["www-authenticate"] == "Bearer"


def test_keys_from_env_and_hashed_file_by_header_or_bearer(server, applicants):  # noqa: F811
    import httpx

    body = {"applicant": applicants[0]}
    for headers in ({"X-API-Key": API_KEY}, {"Authorization": f"Bearer {API_KEY}"},
                    {"X-API-Key": API_KEY_2}, {"Authorization": f"bearer {API_KEY_2}"}):
        assert httpx.post(server.url + "/v1/decisions", json=body, headers=headers).status_code == 200
    # an API key is not an admin key
    r = httpx.post(server.url + "/v1/admin/reload", headers={"X-API-Key": API_KEY})
    assert r.status_code == 403


# ------------------------------------------------------------------------------------- decisions
def test_decisions_match_the_model_and_policy_and_are_audited(server, client, service_bundle, applicants):  # noqa: F811
    bundle = load_bundle(service_bundle)
    model, pol = bundle.model, load_policy(EXAMPLE_POLICY)
    before = audit_count(server)
    seen = {}
    for i, applicant in enumerate(applicants[:60]):
        r = client.post("/v1/decisions", json={"application_id": f"app-{i}", "applicant": applicant})
        assert r.status_code == 200, r.text
        doc = r.json()
        expected = model.score_row(applicant)
        outcome = pol.decide(applicant, expected["score"])
        assert doc["probability"] == pytest.approx(expected["probability"], rel=1e-12)
        assert (doc["score"], doc["grade"]) == (expected["score"], expected["grade"])
        assert doc["decision"] == outcome.decision
        assert doc["rules_fired"] == [rule.code for rule in outcome.fired]
        assert [x["code"] for x in doc["reasons"] if x["source"] == "policy"] == doc["rules_fired"]
        assert (doc["model_version"], doc["policy_version"]) == (bundle.model_version, pol.version)
        assert doc["application_id"] == f"app-{i}" and doc["request_id"] == r.headers["x-request-id"]
        seen[doc["request_id"]] = (doc, applicant)
    assert len({d["decision"] for d, _ in seen.values()}) >= 2, "the sample should reach more than one outcome"
    rows = audit_rows(server, f"WHERE request_id IN ({','.join('?' * len(seen))})", tuple(seen))
    assert audit_count(server) == before + len(seen) and len(rows) == len(seen)
    for row in rows:
        doc, applicant = seen[row["request_id"]]
        logged = json.loads(row["input_json"])
        assert set(bundle.model.features_) <= set(logged)  # the fields the decision was made on ...
        assert all(applicant[k] == v for k, v in logged.items() if k in applicant)  # ... as sent
        assert row["input_hash"] == hashlib.sha256(row["input_json"].encode()).hexdigest()
        assert row["input_json"] == canonical_json(logged)
        assert (row["score"], row["decision"], row["grade"]) == (doc["score"], doc["decision"], doc["grade"])
        assert row["probability"] == pytest.approx(doc["probability"], rel=1e-12)
        assert (row["model_version"], row["policy_version"]) == (doc["model_version"], doc["policy_version"])
        assert json.loads(row["reasons_json"]) == doc["reasons"] and row["created_at"] == doc["created_at"]
        assert row["application_id"] == doc["application_id"]
        assert row["client"] == hashlib.sha256(API_KEY.encode()).hexdigest()[:12]


def test_a_clients_x_request_id_is_echoed_and_audited_beside_the_decision_id(server, client, applicants):  # noqa: F811
    """A gateway's trace id comes back in X-Request-ID and lands in the audit row's trace_id; the decision
    keeps the service's own unique request_id (the audit key), so a trace id sent twice is two decisions."""
    ids = []
    for _ in range(2):
        r = client.post("/v1/decisions", json={"applicant": applicants[1]}, headers={"X-Request-ID": "gw-7f3a/1"})
        assert r.status_code == 200 and r.headers["x-request-id"] == "gw-7f3a/1"
        ids.append(r.json()["request_id"])
    assert len(set(ids)) == 2 and "gw-7f3a/1" not in ids
    rows = audit_rows(server, "WHERE trace_id = ?", ("gw-7f3a/1",))
    assert sorted(r["request_id"] for r in rows) == sorted(ids)
    batch = client.post("/v1/decisions/batch", json={"applications": [{"applicant": a} for a in applicants[:3]]},
                        headers={"X-Request-ID": "gw-batch-1"})
    assert batch.headers["x-request-id"] == "gw-batch-1"
    assert len(audit_rows(server, "WHERE trace_id = ? AND batch_id = ?", ("gw-batch-1", batch.json()["request_id"]))) == 3
    bad = client.post("/v1/decisions", json={"applicant": {}}, headers={"X-Request-ID": "gw-8"})
    assert bad.status_code == 422 and bad.headers["x-request-id"] == "gw-8" and bad.json()["request_id"] != "gw-8"
    for odd in ("two words", "x" * 201):  # not a token a gateway would send: the service's own id instead
        r = client.post("/v1/decisions", json={"applicant": applicants[1]}, headers={"X-Request-ID": odd})
        assert r.headers["x-request-id"] == r.json()["request_id"]
        assert audit_rows(server, "WHERE request_id = ?", (r.json()["request_id"],))[0]["trace_id"] is None


def test_a_reject_rule_overrides_a_good_score(client, applicants):  # noqa: F811
    young = {**applicants[0], "AGE": 16.0}
    doc = client.post("/v1/decisions", json={"applicant": young}).json()
    assert doc["decision"] == "reject" and "HR01" in doc["rules_fired"]
    # EDUCATION is a policy-only field: optional and nullable; a code outside the documented ones -> review rule
    assert "HR05" in client.post("/v1/decisions", json={"applicant": {**applicants[0], "EDUCATION": 6}}).json()[
        "rules_fired"]


# ------------------------------------------------------------------------------------ bad input
def _bad_bodies(applicant: dict) -> list[tuple[str, object, list | None]]:
    a = dict(applicant)
    drop = dict(a)
    del drop["PAY_0"]
    return [
        ("missing field", {"applicant": drop}, ["body", "applicant", "PAY_0"]),
        ("text number", {"applicant": {**a, "PAY_0": "2"}}, ["body", "applicant", "PAY_0"]),
        ("boolean", {"applicant": {**a, "LIMIT_BAL": True}}, ["body", "applicant", "LIMIT_BAL"]),
        ("list", {"applicant": {**a, "LIMIT_BAL": [1]}}, ["body", "applicant", "LIMIT_BAL"]),
        ("object", {"applicant": {**a, "LIMIT_BAL": {"v": 1}}}, ["body", "applicant", "LIMIT_BAL"]),
        ("null, never missing in training", {"applicant": {**a, "PAY_0": None}}, ["body", "applicant", "PAY_0"]),
        ("negative age", {"applicant": {**a, "AGE": -3}}, ["body", "applicant", "AGE"]),
        ("age above policy max", {"applicant": {**a, "AGE": 150}}, ["body", "applicant", "AGE"]),
        ("far beyond training range", {"applicant": {**a, "LIMIT_BAL": 1e12}}, ["body", "applicant", "LIMIT_BAL"]),
        ("negative limit", {"applicant": {**a, "LIMIT_BAL": -1}}, ["body", "applicant", "LIMIT_BAL"]),
        ("no applicant", {"application_id": "x"}, ["body", "applicant"]),
        ("applicant not an object", {"applicant": [1, 2]}, ["body", "applicant"]),
        ("unknown top-level key", {"applicant": a, "extra": 1}, ["body", "extra"]),
        ("application id not text", {"applicant": a, "application_id": 12}, ["body", "application_id"]),
        ("application id too long", {"applicant": a, "application_id": "x" * 500}, ["body", "application_id"]),
        ("NUL in application id", {"applicant": a, "application_id": "A-\u00001"}, ["body", "application_id"]),
        ("top-level list", [a], None),
    ]


def test_bad_input_gets_422_with_the_field_and_no_audit_row(server, client, applicants):  # noqa: F811
    before = audit_count(server)
    for name, body, loc in _bad_bodies(applicants[0]):
        r = client.post("/v1/decisions", json=body)
        assert r.status_code == 422, (name, r.text)
        detail = r.json()["detail"]
        assert isinstance(detail, list) and detail, name
        if loc is not None:
            assert loc in [d["loc"] for d in detail], (name, detail)
    raw = [b"", b"{", b"null", b"42", b'"text"', b"{'single': 'quotes'}", b'{"applicant": NaN}',
           b'{"applicant": {"AGE": Infinity}}', b"\xff\xfe\x00", b'{"applicant": ' * 2000 + b"}" * 2000,
           json.dumps({"applicant": {**applicants[0], "AGE": float("nan")}}).encode(),
           json.dumps({"applicant": {**applicants[0], "LIMIT_BAL": float("inf")}}).encode()]
    for body in raw:
        r = client.post("/v1/decisions", content=body, headers={"content-type": "application/json"})
        assert r.status_code == 422, (body[:40], r.text)
    assert audit_count(server) == before


def test_a_key_written_twice_in_one_object_is_refused(server, client, applicants):  # noqa: F811
    # before, {"AGE": 37, "AGE": 10} was decided on the last value (a reject by rule) without a word
    before = audit_count(server)
    one = json.dumps({"applicant": applicants[0]})[:-2] + ', "AGE": 10}}'
    r = client.post("/v1/decisions", content=one.encode(), headers={"content-type": "application/json"})
    assert r.status_code == 422, r.text
    assert r.json()["detail"][0]["loc"] == ["body", "applicant", "AGE"] and "written twice" in r.text
    batch = '{"applications": [' + json.dumps({"applicant": applicants[1]}) + ", " + one + "]}"
    r = client.post("/v1/decisions/batch", content=batch.encode(), headers={"content-type": "application/json"})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "applications", "AGE"]
    assert audit_count(server) == before
    # the same key in two different objects is no repeat
    r = client.post("/v1/decisions/batch", json={"applications": [{"applicant": applicants[0]},
                                                                   {"applicant": applicants[1]}]})
    assert r.status_code == 200, r.text


def test_a_null_never_missing_in_training_is_refused_saying_why(client, applicants):  # noqa: F811
    a = applicants[0]
    for url, body, loc in [("/v1/decisions", {"applicant": {**a, "PAY_0": None}}, ["body", "applicant", "PAY_0"]),
                           ("/v1/decisions/batch", {"applications": [{"applicant": a}, {"applicant": {**a, "PAY_0": None}}]},
                            ["body", "applications", 1, "applicant", "PAY_0"])]:
        r = client.post(url, json=body)
        assert r.status_code == 422, r.text
        assert r.json()["detail"] == [{"loc": loc, "type": "null_not_allowed", "input": None, "msg": (
            "missing, but no training row had it missing: the model has no evidence for a missing value")}]


def test_422_details_carry_only_the_fields_own_value_and_nothing_is_logged(server, client, applicants):  # noqa: F811
    """A field error never repeats the applicant (log bloat, personal data): a missing field has no input."""
    marker = 123_457.0  # an accepted value that must not come back in a field error, nor reach the service log
    r = client.post("/v1/decisions", json={"application_id": "A-marker", "applicant": {"LIMIT_BAL": marker, "AGE": -3}})
    assert r.status_code == 422, r.text
    detail = r.json()["detail"]
    missing = [d for d in detail if d["type"] == "missing"]
    assert len(missing) >= 10 and all("input" not in d for d in missing), detail
    assert [d for d in detail if d["loc"] == ["body", "applicant", "AGE"]][0]["input"] == -3
    assert str(int(marker)) not in r.text and "A-marker" not in r.text
    for body in ({"applicant": {**applicants[0], "LIMIT_BAL": {"v": marker}}}, [{"applicant": {"AGE": marker}}],
                 {"applications": [{"applicant": {"AGE": marker}}] * (MAX_BATCH + 1)}):
        r = client.post("/v1/decisions/batch" if "applications" in body else "/v1/decisions", json=body)
        assert r.status_code == 422 and str(int(marker)) not in r.text, r.text
    assert str(int(marker)) not in server.log() and "A-marker" not in server.log()


def test_random_malformed_requests_never_get_a_500(server, client, applicants):  # noqa: F811
    """A deterministic fuzzer: mutate real applicants in every way JSON allows."""
    rng = random.Random(20240601)
    junk = [None, True, False, 0, -1, 1e308, -1e308, 2**70, "", "x", "１２", "NaN", [], {}, [1, "a"], {"a": {"b": []}},
            "𝔘𝔫𝔦𝔠𝔬𝔡𝔢", "\u0000", "1e5", 3.5, -0.0]
    before = audit_count(server)
    ok = 0
    for _ in range(250):
        a = dict(rng.choice(applicants))
        for _ in range(rng.randint(1, 3)):
            action = rng.random()
            key = rng.choice(list(a) + ["NEW", "", "\u4e2d", "AGE"])
            if action < 0.5:
                a[key] = rng.choice(junk)
            elif action < 0.7 and key in a:
                del a[key]
            else:
                a[key] = a.get(key, 0) * rng.choice([-1, 0.5, 10, 1e6]) if isinstance(a.get(key), float) else 1.0
        body = rng.choice([{"applicant": a}, {"applicant": a, "application_id": rng.choice(junk)}, a,
                           {"applications": [{"applicant": a}]}])
        url = rng.choice(["/v1/decisions", "/v1/decisions/batch"])
        try:
            content = json.dumps(body, allow_nan=True).encode()
        except (TypeError, ValueError):
            continue
        r = client.post(url, content=content)
        assert r.status_code in (200, 422), (r.status_code, r.text[:300], content[:300])
        if r.status_code == 200:
            ok += len(r.json().get("decisions", [None]))
    assert audit_count(server) == before + ok
    assert 0 < ok, "some mutations are harmless and should be decided"


def test_unknown_route_and_oversized_body(client):
    r = client.get("/v1/nothing")
    assert r.status_code == 404 and r.headers["content-type"].startswith("application/json")
    # an unknown route or method answers with the request id to quote, as every other error does (it had none)
    assert r.json()["request_id"] == r.headers["x-request-id"] and r.json()["detail"] == "Not Found"
    r = client.get("/v1/decisions")
    assert r.status_code == 405 and r.json()["request_id"] == r.headers["x-request-id"]
    assert "POST" in r.headers["allow"]
    r = client.post("/v1/decisions", content=b"{" + b" " * (65 * 1024) + b"}")
    assert r.status_code == 413 and "larger than" in r.json()["detail"]


# ----------------------------------------------------------------------------------------- batch
def test_batch_decides_each_application_in_order(server, client, service_bundle, applicants):  # noqa: F811
    model = load_bundle(service_bundle).model
    before = audit_count(server)
    apps = [{"application_id": f"b{i}", "applicant": a} for i, a in enumerate(applicants[100:100 + MAX_BATCH])]
    r = client.post("/v1/decisions/batch", json={"applications": apps})
    assert r.status_code == 200, r.text
    doc = r.json()
    assert doc["count"] == MAX_BATCH and [d["application_id"] for d in doc["decisions"]] == [a["application_id"]
                                                                                          for a in apps]
    assert [d["score"] for d in doc["decisions"]] == [model.score_row(a["applicant"])["score"] for a in apps]
    assert len({d["request_id"] for d in doc["decisions"]}) == MAX_BATCH
    rows = audit_rows(server, "WHERE batch_id = ?", (doc["request_id"],))
    assert len(rows) == MAX_BATCH and audit_count(server) == before + MAX_BATCH
    # too many, none, or one bad application: the whole batch is refused and nothing is recorded
    assert client.post("/v1/decisions/batch", json={"applications": apps + apps[:1]}).status_code == 422
    assert client.post("/v1/decisions/batch", json={"applications": []}).status_code == 422
    broken = [*apps[:3], {"applicant": {**apps[3]["applicant"], "AGE": "old"}}]
    r = client.post("/v1/decisions/batch", json={"applications": broken})
    assert r.status_code == 422 and ["body", "applications", 3, "applicant", "AGE"] in [d["loc"] for d in
                                                                                        r.json()["detail"]]
    assert audit_count(server) == before + MAX_BATCH


# ----------------------------------------------------------------------------------- idempotency
def test_idempotent_retry_returns_the_first_response_without_a_second_record(server, client, applicants):  # noqa: F811
    body = {"application_id": "retry-1", "applicant": applicants[5]}
    before = audit_count(server)
    first = client.post("/v1/decisions", json=body, headers={"Idempotency-Key": "order-0001"})
    again = client.post("/v1/decisions", json=body, headers={"Idempotency-Key": "order-0001"})
    assert first.status_code == again.status_code == 200
    assert first.json() == again.json() and again.headers["idempotent-replayed"] == "true"
    assert audit_count(server) == before + 1
    other = client.post("/v1/decisions", json={**body, "application_id": "retry-2"},
                        headers={"Idempotency-Key": "order-0001"})
    assert other.status_code == 422 and other.json()["detail"][0]["loc"] == ["header", "Idempotency-Key"]
    assert client.post("/v1/decisions", json=body, headers={"Idempotency-Key": "x" * 300}).status_code == 422
    assert audit_count(server) == before + 1
    # the same request serialised in another key order and layout is a retry (before: a 422 conflict)
    reordered = json.dumps({"applicant": dict(reversed(list(applicants[5].items()))), "application_id": "retry-1"},
                           indent=2)
    r = client.post("/v1/decisions", content=reordered.encode(), headers={"Idempotency-Key": "order-0001",
                                                                          "content-type": "application/json"})
    assert r.status_code == 200 and r.headers["idempotent-replayed"] == "true" and r.json() == first.json()
    assert audit_count(server) == before + 1


def test_keyed_requests_across_an_upgrade_odd_text_and_repeated_keys(server, client, applicants):  # noqa: F811
    # a first attempt recorded by a version that hashed the raw body still replays (review of the canonical hash)
    body = json.dumps({"application_id": "up-1", "applicant": applicants[9]}, indent=1).encode()
    headers = {"Idempotency-Key": "upgrade-0001", "content-type": "application/json"}
    first = client.post("/v1/decisions", content=body, headers=headers)
    assert first.status_code == 200, first.text
    legacy = hashlib.sha256(("/v1/decisions\n" + body.decode()).encode()).hexdigest()
    db = sqlite3.connect(server.workdir / "creditflow-audit.db", isolation_level=None)
    try:
        db.execute("UPDATE idempotency_keys SET request_hash = ? WHERE idempotency_key = 'upgrade-0001'", (legacy,))
    finally:
        db.close()
    again = client.post("/v1/decisions", content=body, headers=headers)
    assert again.status_code == 200 and again.headers["idempotent-replayed"] == "true" and again.json() == first.json()
    # a lone surrogate in a keyed request: a clear answer, not a 500 from hashing it
    odd = b'{"application_id": "\\ud800", "applicant": ' + json.dumps(applicants[9]).encode() + b"}"
    r = client.post("/v1/decisions", content=odd, headers={**headers, "Idempotency-Key": "upgrade-0002"})
    assert r.status_code in (200, 422), r.text
    # a repeated key is refused before any replay, and a top-level one is located at the top
    dup = body[:-1] + b', "application_id": "up-2"}'
    r = client.post("/v1/decisions", content=dup, headers=headers)
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "application_id"], r.text


def test_idempotency_keys_belong_to_the_client_that_sent_them(server, applicants):  # noqa: F811
    key = {"Idempotency-Key": "shared-0001"}
    mine, theirs = {"application_id": "a-1", "applicant": applicants[7]}, {"application_id": "b-1", "applicant": applicants[8]}
    with server.client(API_KEY) as a, server.client(API_KEY_2) as b:
        first = a.post("/v1/decisions", json=mine, headers=key)
        other = b.post("/v1/decisions", json=theirs, headers=key)  # the same key, another client: its own request
        assert first.status_code == other.status_code == 200, other.text
        assert "idempotent-replayed" not in other.headers and other.json()["application_id"] == "b-1"
        same = b.post("/v1/decisions", json=mine, headers={"Idempotency-Key": "shared-0002"})
        copy = a.post("/v1/decisions", json=mine, headers={"Idempotency-Key": "shared-0002"})
        assert "idempotent-replayed" not in copy.headers and copy.json()["request_id"] != same.json()["request_id"]
        assert b.post("/v1/decisions", json=theirs, headers=key).json() == other.json()  # each replays its own
        assert a.post("/v1/decisions", json=mine, headers=key).json() == first.json()
    rows = audit_rows(server, "WHERE idempotency_key LIKE 'shared-%' ORDER BY idempotency_key, client")
    digest = {k: hashlib.sha256(k.encode()).hexdigest()[:12] for k in (API_KEY, API_KEY_2)}
    assert sorted((r["idempotency_key"], r["client"], r["request_id"]) for r in rows) == sorted([
        ("shared-0001", digest[API_KEY], first.json()["request_id"]),
        ("shared-0001", digest[API_KEY_2], other.json()["request_id"]),
        ("shared-0002", digest[API_KEY_2], same.json()["request_id"]),
        ("shared-0002", digest[API_KEY], copy.json()["request_id"])])


def test_concurrent_retries_record_exactly_once(server, applicants):  # noqa: F811
    body = {"application_id": "race", "applicant": applicants[6]}
    before = audit_count(server)
    results, barrier = [], threading.Barrier(8)

    def go() -> None:
        with server.client() as c:
            barrier.wait()
            results.append(c.post("/v1/decisions", json=body, headers={"Idempotency-Key": "race-key-1"}))

    threads = [threading.Thread(target=go) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert [r.status_code for r in results] == [200] * 8
    assert len({r.json()["request_id"] for r in results}) == 1
    assert audit_count(server) == before + 1
    assert len(audit_rows(server, "WHERE idempotency_key = ?", ("race-key-1",))) == 1


# --------------------------------------------------------------------------- model, metrics, docs
def test_model_endpoint_describes_bundle_schema_and_policy(client, service_bundle):  # noqa: F811
    bundle = load_bundle(service_bundle)
    doc = client.get("/v1/model").json()
    assert doc["model_version"] == bundle.model_version and doc["policy_version"] == "uci-demo-2024.06"
    fields = {f["name"]: f for f in doc["input_schema"]["fields"]}
    assert set(bundle.model.features_) <= set(fields)
    assert fields["EDUCATION"]["required"] is False  # declared by the policy only
    assert fields["AGE"]["min"] == 0 and fields["AGE"]["max"] == 120  # training range narrowed by the policy
    assert doc["score_scale"]["min"] == 350
    assert doc["audit"] == {"backend": "sqlite", "database": "creditflow-audit.db"}  # not the server's path


def test_metrics_count_requests_and_decisions(client, applicants):  # noqa: F811
    def decided() -> dict[str, float]:
        out = {}
        for line in client.get("/metrics").text.splitlines():
            if line.startswith("creditflow_decisions_total{"):
                name, value = line.rsplit(" ", 1)
                out[name.split('"')[1]] = float(value)
        return out

    before = decided()
    docs = [client.post("/v1/decisions", json={"applicant": a}).json() for a in applicants[200:230]]
    client.post("/v1/decisions", json={"applicant": {}})
    after = decided()
    for outcome in ("approve", "review", "reject"):
        made = sum(d["decision"] == outcome for d in docs)
        assert after.get(outcome, 0) - before.get(outcome, 0) == made
    text = client.get("/metrics").text
    assert 'creditflow_http_requests_total{path="/v1/decisions",method="POST",status="422"}' in text
    buckets = [float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith('creditflow_http_request_duration_seconds_bucket{path="/v1/decisions"')]
    assert buckets == sorted(buckets) and buckets[-1] > 0
    assert "# TYPE creditflow_http_request_duration_seconds histogram" in text


def test_openapi_documents_the_served_inputs(server, client):
    import httpx

    doc = httpx.get(server.url + "/openapi.json").json()
    applicant = doc["components"]["schemas"]["Applicant"]
    assert {"PAY_0", "LIMIT_BAL", "AGE", "EDUCATION"} <= set(applicant["properties"])
    assert "PAY_0" in applicant["required"] and "EDUCATION" not in applicant["required"]
    body = doc["paths"]["/v1/decisions"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert body["$ref"].endswith("/DecisionRequest")
    assert httpx.get(server.url + "/docs").status_code == 200


def test_monitor_reads_the_service_audit_log(server, service_bundle):  # noqa: F811
    """The audit log is what `creditflow monitor --audit` reads: logged scores agree with a rescoring."""
    from creditflow.monitor.audit import compare_stored, read_audit

    bundle = load_bundle(service_bundle)
    batch = read_audit(str(Path(server.workdir) / "creditflow-audit.db"), bundle)
    rescored = bundle.model.scores(batch.frame)
    stats = compare_stored(batch.stored, rescored)
    assert stats["rows"] == audit_count(server) and stats["score_mismatches"] == 0


def test_the_access_log_never_shows_a_key_sent_in_the_query_string(service_bundle, tmp_path):  # noqa: F811
    """`--access-log` wrote each request's query string: a client sending its key as `?api_key=...` (as some
    APIs take it; this one reads no query parameter) left the key in the service log."""
    server = ServiceProcess([str(service_bundle), "--access-log"], workdir=tmp_path).start()
    try:
        with server.client(None) as c:
            assert c.get("/v1/model", params={"api_key": API_KEY}).status_code == 401
            assert c.get("/healthz?token=" + API_KEY_2).status_code == 200
        with server.client() as c:
            assert c.get("/v1/model").status_code == 200
    finally:
        server.stop()
    log = server.log()
    assert API_KEY not in log and API_KEY_2 not in log, log[-2000:]
    assert '"GET /v1/model?... HTTP/1.1" 401' in log and '"GET /healthz?... HTTP/1.1" 200' in log
    assert '"GET /v1/model HTTP/1.1" 200' in log  # a path without a query string is logged as it was

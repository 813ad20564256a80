"""The service's parts in-process: input rules from the schema, the decision path for each model kind,
keys, audit URLs and the SQLite log, and the Prometheus text."""

from __future__ import annotations

import hashlib
import json
import sqlite3

import pytest
from pydantic import ValidationError

from creditflow.bundle import load_bundle
from creditflow.data.errors import CreditflowError
from creditflow.policy import load_policy, policy_from_dict
from creditflow.service.audit import AuditEntry, StoredResponse, open_audit
from creditflow.service.auth import KeyRing, hash_key, keys_from_file, presented_key
from creditflow.service.config import ServiceConfig
from creditflow.service.decide import decide
from creditflow.service.metrics import Metrics
from creditflow.service.state import load_state
from creditflow.service.validation import applicant_dict, build_models, error_details, input_fields
from tests.conftest import UCI_TARGET
from tests.service_support import (  # noqa: F401
    EXAMPLE_POLICY,
    ROOT,
    TRAIN_ROWS,
    applicants,
    service_bundle,
    train_bundle,
    uci_frame,
)

SCHEMA = {"fields": [
    {"name": "AGE", "type": "number", "min": 21, "max": 79, "missing_rate": 0.0},
    {"name": "BILL", "type": "number", "min": -20000, "max": 80000, "missing_rate": 0.0},
    {"name": "INCOME", "type": "number", "min": 0, "max": 100, "missing_rate": 0.2},
    {"name": "城市", "type": "string", "missing_rate": 0.0},
]}


def parse(models, applicant: dict) -> dict:
    return applicant_dict(models.parse_decision(json.dumps({"applicant": applicant}).encode()).applicant)


def test_input_rules_from_the_training_schema():
    models = build_models(input_fields(SCHEMA, None, range_tolerance=1.0))
    ok = {"AGE": 30, "BILL": -5, "INCOME": None, "城市": "上海", "EXTRA": "ignored"}
    assert parse(models, ok) == {"AGE": 30.0, "BILL": -5.0, "INCOME": None, "城市": "上海"}
    for bad, field in [({"AGE": -1}, "AGE"),              # never negative in training: never negative
                       ({"AGE": 138}, "AGE"),             # more than one training range above the maximum
                       ({"BILL": -120001}, "BILL"),       # negative seen in training: down to one range below
                       ({"AGE": None}, "AGE"),            # never missing in training: null refused
                       ({"城市": 5}, "城市"),              # text field needs text
                       ({"城市": "上\u0000海"}, "城市"),  # no NUL: PostgreSQL text cannot hold it
                       ({"INCOME": "12"}, "INCOME")]:     # number field needs a JSON number
        with pytest.raises(ValidationError) as err:
            parse(models, {**ok, **bad})
        assert [e["loc"] for e in err.value.errors()] == [("applicant", field)]
    assert parse(models, {**ok, "AGE": 137, "BILL": -120000})["AGE"] == 137.0
    strict = build_models(input_fields(SCHEMA), reject_unknown=True)
    with pytest.raises(ValidationError):
        parse(strict, ok)
    tight = build_models(input_fields(SCHEMA, None, range_tolerance=0.0))
    with pytest.raises(ValidationError):
        parse(tight, {**ok, "AGE": 80})


def test_a_declared_special_value_is_accepted_wherever_it_lies_and_nothing_else_is():
    specials = {"AGE": [-1.0], "BILL": [-999999.0], "城市": [-9.0]}
    fields = {f.name: f for f in input_fields(SCHEMA, None, specials=specials)}
    models = build_models(list(fields.values()))
    ok = {"AGE": 30, "BILL": -5, "INCOME": None, "城市": "上海"}
    assert parse(models, {**ok, "AGE": -1})["AGE"] == -1.0  # never negative in training, but declared special
    assert parse(models, {**ok, "AGE": -1.0, "BILL": -999999})["BILL"] == -999999.0  # far below the range
    for bad, field in [({"AGE": -2}, "AGE"), ({"AGE": -0.5}, "AGE"), ({"AGE": "-1"}, "AGE"), ({"AGE": True}, "AGE"),
                       ({"BILL": -999998}, "BILL"), ({"AGE": 138}, "AGE"), ({"城市": -9}, "城市")]:
        with pytest.raises(ValidationError) as err:
            parse(models, {**ok, **bad})
        assert [e["loc"] for e in err.value.errors()] == [("applicant", field)], bad
    assert fields["AGE"].to_dict()["special_values"] == [-1.0] and fields["AGE"].span == (-1.0, 137.0)
    assert fields["城市"].specials == ()  # a text field takes any text already
    documented = models.applicant.model_json_schema()["properties"]
    assert {"enum": [-1.0]} in documented["AGE"]["anyOf"] and "anyOf" not in documented["城市"]
    import pandas as pd

    assert fields["AGE"].refused(pd.Series([-1.0, -2.0, 30.0, 200.0])).tolist() == [False, True, False, True]
    # the policy's own bounds hold for special values too; a bound on the other side keeps them
    for declared, accepted in [({"min": 18}, False), ({"max": 100}, True)]:
        pol = policy_from_dict({"version": "v", "cutoffs": {"approve": 1}, "fields": {"AGE": declared}})
        narrowed = build_models(input_fields(SCHEMA, pol, specials=specials))
        if accepted:
            assert parse(narrowed, {**ok, "AGE": -1})["AGE"] == -1.0
        else:
            with pytest.raises(ValidationError):
                parse(narrowed, {**ok, "AGE": -1})


def test_a_special_value_no_training_row_held_is_decided_as_creditflow_score_scores_it(tmp_path, applicants):  # noqa: F811
    """A -1 "not recorded" declared at training but held by no training row: `creditflow score` scores it in
    its special bin; the service used to refuse it with 422 (PAY_AMT1 was never negative in training)."""
    import pandas as pd

    from creditflow.data.io import read_table
    from creditflow.workflow import score_table, train

    csv = tmp_path / "train.csv"
    uci_frame().iloc[:TRAIN_ROWS].to_csv(csv, index=False)
    train(read_table(csv, UCI_TARGET, id="ID"), tmp_path / "sv", params={"special_values": {"PAY_AMT1": [-1]}})
    model_dir = tmp_path / "sv" / "model"
    pol_path = tmp_path / "p.yaml"
    pol_path.write_text("version: s1\ncutoffs: {approve: 575, review: 550}\n"
                        "rules:\n- {code: NR1, when: PAY_AMT1 == -1, action: review}\n", encoding="utf-8")
    state = load_state(ServiceConfig(model_dir=str(model_dir), policy=str(pol_path)))
    assert "PAY_AMT1" in state.model.features_
    rows = [{**a, "PAY_AMT1": -1.0} if i % 2 == 0 else a for i, a in enumerate(applicants[:40])]
    data = tmp_path / "rows.csv"
    pd.DataFrame(rows).to_csv(data, index=False)
    batch = score_table(model_dir, data, reasons=True)
    said: set[str] = set()
    for i, a in enumerate(rows):
        body = json.dumps({"applicant": {**a, "PAY_AMT1": -1} if i % 2 == 0 else a}).encode()  # -1 as JSON sends it
        doc, entry = decide(state, applicant_dict(state.models.parse_decision(body).applicant), application_id=None,
                            request_id="r", created_at="t", client=None)
        assert (doc["probability"], doc["score"], doc["grade"]) == (
            batch.loc[i, "probability"], batch.loc[i, "score"], batch.loc[i, "grade"])
        codes = [r["code"] for r in doc["reasons"] if r["source"] == "model"]
        assert codes == [batch.loc[i, f"reason_{k}_code"] for k in range(1, 5) if pd.notna(batch.loc[i, f"reason_{k}_code"])]
        assert doc["rules_fired"] == (["NR1"] if i % 2 == 0 else []) and doc["notes"] == []
        assert json.loads(entry.input_json)["PAY_AMT1"] == a["PAY_AMT1"]
        said.update(r["text"] for r in doc["reasons"] if r["source"] == "model")
    assert "PAY_AMT1: special value -1" in said  # its special bin's own reason, as in the batch table
    assert not state.warnings  # the rule reading the special value can fire: no "can never fire"
    from typer.testing import CliRunner

    from creditflow.cli import _load_commands, app

    _load_commands()  # policy simulate neither counts the special rows as refused nor warns of the rule
    result = CliRunner().invoke(app, ["policy", "simulate", str(pol_path), str(model_dir), str(data)])
    assert result.exit_code == 0, result.output
    assert "would refuse" not in result.output and "never fire" not in result.output
    described = {f["name"]: f for f in state.describe()["input_schema"]["fields"]}
    assert described["PAY_AMT1"]["special_values"] == [-1.0] and described["PAY_AMT1"]["min"] == 0.0
    for bad in (-2, -1.5, "-1"):  # strict about everything else
        with pytest.raises(ValidationError):
            state.models.parse_decision(json.dumps({"applicant": {**rows[1], "PAY_AMT1": bad}}).encode())


def test_policy_fields_narrow_or_add_inputs():
    pol = policy_from_dict({"version": "v", "cutoffs": {"approve": 1},
                            "fields": {"AGE": {"min": 18, "max": 100}, "EDU": {"type": "string", "required": False,
                                                                              "nullable": True}}})
    fields = {f.name: f for f in input_fields(SCHEMA, pol)}
    assert (fields["AGE"].min, fields["AGE"].max) == (18, 100)
    assert fields["EDU"].required is False and fields["EDU"].nullable is True
    models = build_models(list(fields.values()))
    row = parse(models, {"AGE": 40, "BILL": 0, "INCOME": 5, "城市": "x"})
    assert row["EDU"] is None
    # a refused null says why: no training row had it missing, or the policy does not declare it nullable
    pol = policy_from_dict({"version": "v", "cutoffs": {"approve": 1}, "fields": {"BUREAU": {}}})
    models = build_models(input_fields(SCHEMA, pol))
    with pytest.raises(ValidationError) as err:
        parse(models, {"AGE": None, "BILL": 0, "INCOME": None, "城市": None, "BUREAU": None})
    said = {d["loc"][-1]: (d["type"], d["msg"]) for d in error_details(err.value, fields=models.fields)}
    training = "missing, but no training row had it missing: the model has no evidence for a missing value"
    assert said == {"AGE": ("null_not_allowed", training), "城市": ("null_not_allowed", training),
                    "BUREAU": ("null_not_allowed", "missing, but the policy does not declare it nullable")}


def test_policy_fields_that_conflict_with_the_model_are_refused():
    def fields(declared: dict) -> list:
        return input_fields(SCHEMA, policy_from_dict({"version": "v", "cutoffs": {"approve": 1}, "fields": declared}))

    # a number declaration on a text input (the policy's type would be ignored, its bounds not enforced)
    for declared in ({"城市": {"type": "number", "min": 0, "max": 6}}, {"城市": {"nullable": True}},
                     {"AGE": {"type": "string"}}):
        with pytest.raises(CreditflowError, match=f"fields.{next(iter(declared))} is declared") as err:
            fields(declared)
        assert "declare type:" in str(err.value.hint)
    assert {f.name: f.type for f in fields({"城市": {"type": "string", "nullable": True}})}["城市"] == "string"
    # bounds that leave no value the model accepts (AGE: 0-137)
    for declared, says in [({"AGE": {"min": 200}}, "min 200"), ({"AGE": {"max": -5}}, "max -5"),
                           ({"INCOME": {"min": 300, "max": 400}}, "min 300 max 400")]:
        with pytest.raises(CreditflowError, match="leaves no valid value") as err:
            fields(declared)
        assert f"fields.{next(iter(declared))}: {says}" in str(err.value) and "accepts" in str(err.value)
    assert {f.name: (f.min, f.max) for f in fields({"AGE": {"min": 137}})}["AGE"] == (137, 137)


def test_a_text_a_csv_reads_as_missing_is_missing_in_a_request_too():
    from creditflow.data.io import NA_TEXT

    pol = policy_from_dict({"version": "v", "cutoffs": {"approve": 1},
                            "fields": {"EDU": {"type": "string", "nullable": True}}})
    models = build_models(input_fields(SCHEMA, pol))
    ok = {"AGE": 40, "BILL": 0, "INCOME": 5, "城市": "x"}
    for token in [*sorted(NA_TEXT), "   "]:
        assert parse(models, {**ok, "EDU": token})["EDU"] is None, token
    for text in ("none", "N.A.", " NA", "0"):  # not read as missing from a CSV either: a category
        assert parse(models, {**ok, "EDU": text})["EDU"] == text
    with pytest.raises(ValidationError) as err:  # never missing in training: refused, as a null is
        parse(models, {**ok, "EDU": "x", "城市": "None"})
    assert [(d["loc"][-1], d["type"]) for d in error_details(err.value, fields=models.fields)] == [
        ("城市", "null_not_allowed")]


def test_a_text_field_spelt_none_is_decided_by_the_service_as_by_simulate(service_bundle, tmp_path):  # noqa: F811
    from creditflow.data.io import read_frame
    from creditflow.policy import simulate

    pol_path = tmp_path / "p.yaml"
    pol_path.write_text("version: v5\ncutoffs: {approve: 560, review: 500}\n"
                        "fields:\n  collateral: {type: string, nullable: true}\n"
                        "rules:\n- {code: N1, when: 'collateral == \"None\"', action: review}\n"
                        "- {code: N2, when: 'collateral is missing', action: reject}\n", encoding="utf-8")
    rows = uci_frame().iloc[20_000:20_060].drop(columns=[UCI_TARGET, "ID"]).reset_index(drop=True)
    rows["collateral"] = ["None", "NA", "House", "null", "Car", ""] * 10
    data = tmp_path / "rows.csv"
    rows.to_csv(data, index=False)
    state = load_state(ServiceConfig(model_dir=str(service_bundle), policy=str(pol_path)))
    assert any("compares 'collateral' with 'None', which tables and requests read as a missing value" in w
               for w in state.warnings)
    frame = read_frame(data, text=["collateral"])
    decided = simulate(state.policy, state.model, frame).decided
    for i, row in enumerate(rows.to_dict(orient="records")):  # the file's text as a client sends it
        doc, _ = decide(state, parse(state.models, row), application_id=None, request_id="r", created_at="t",
                        client=None)
        assert (doc["decision"], ";".join(doc["rules_fired"])) == (decided.loc[i, "decision"],
                                                                   decided.loc[i, "rules_fired"]), row["collateral"]
        assert doc["rules_fired"] == (["N2"] if row["collateral"] in ("None", "NA", "null", "") else [])


def test_decision_path_for_a_scorecard(service_bundle, applicants):  # noqa: F811
    from creditflow.scoring.reasons import reasons_row

    state = load_state(ServiceConfig(model_dir=str(service_bundle), policy=str(EXAMPLE_POLICY)))
    pol = load_policy(EXAMPLE_POLICY)
    for a in applicants[:50]:
        row = parse(state.models, a)
        doc, entry = decide(state, row, application_id="x", request_id="r", created_at="t", client=None)
        expected = state.model.score_row(a)
        assert (doc["score"], doc["probability"]) == (expected["score"], expected["probability"])
        assert doc["decision"] == pol.decide(a, expected["score"]).decision
        model_reasons = [{k: v for k, v in r.items() if k != "source"} for r in doc["reasons"] if r["source"] == "model"]
        assert model_reasons == reasons_row(state.bundle, a, n=4)
        assert entry.input_hash == hashlib.sha256(entry.input_json.encode()).hexdigest()
        assert json.loads(entry.reasons_json) == doc["reasons"]


@pytest.mark.slow
def test_decision_path_for_a_gbdt_challenger(tmp_path_factory, applicants):  # noqa: F811
    """Any bundle kind that scores single rows can be served; GBDT reasons come from TreeSHAP."""
    root = tmp_path_factory.getbasetemp()
    bundle_dir = train_bundle(root, "svc_gbdt", slice(0, TRAIN_ROWS), kind="gbdt")
    state = load_state(ServiceConfig(model_dir=str(bundle_dir), policy=str(EXAMPLE_POLICY), reasons=2))
    bundle = load_bundle(bundle_dir)
    assert bundle.manifest["model_type"] == "gbdt"
    for a in applicants[:5]:
        doc, _ = decide(state, parse(state.models, a), application_id=None, request_id="r", created_at="t",
                        client=None, n_reasons=2)
        assert doc["score"] == bundle.model.score_row(a)["score"]
        assert len([r for r in doc["reasons"] if r["source"] == "model"]) <= 2


def test_keys_are_hashed_and_checked_against_every_digest(tmp_path):
    ring = KeyRing.from_plain(["alpha-key-000000000001", "beta-key-0000000000002"])
    assert ring.check("beta-key-0000000000002") and not ring.check("beta-key-000000000000") and not ring.check("")
    keys = tmp_path / "keys"
    keys.write_text(f"# ops\n{hash_key('gamma-key-00000000003')}  gamma\n\n")
    assert keys_from_file(keys).check("gamma-key-00000000003")
    keys.write_text("abc\n")
    with pytest.raises(CreditflowError, match="row 1"):
        keys_from_file(keys)
    assert presented_key({"x-api-key": " k "}) == "k"
    assert presented_key({"authorization": "Bearer  tok"}) == "tok"
    assert presented_key({"authorization": "Basic dXNlcg=="}) is None


def test_audit_urls_and_sqlite_idempotency(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    log = open_audit(None)
    assert log.url.endswith("creditflow-audit.db") and (tmp_path / "creditflow-audit.db").exists()
    entry = AuditEntry(request_id="r1", batch_id=None, created_at="2024-01-01T00:00:00.000+00:00",
                       application_id="a", client=None, input_json="{}", input_hash="h", model_version="m",
                       policy_version="p", probability=0.1, score=600, grade="B", decision="approve",
                       reasons_json="[]", idempotency_key="k")
    stored = StoredResponse("k", "hash", '{"request_id": "r1"}', entry.created_at)
    assert log.record([entry], stored) is None
    again = log.record([AuditEntry(**{**entry.__dict__, "request_id": "r2"})], stored)
    assert again is not None and again.response_json == stored.response_json
    assert log.count() == 1
    log.close()
    log = open_audit(f"sqlite:///{tmp_path}/x.db?synchronous=full")
    assert sqlite3.connect(tmp_path / "x.db").execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    log.close()
    for url, message in [("mysql://h/db", "unsupported audit URL"), ("sqlite:///x.db?fsync=1", "unknown sqlite option")]:
        with pytest.raises(CreditflowError, match=message):
            open_audit(url)
    (tmp_path / "junk.db").write_bytes(b"not a database at all" * 100)
    with pytest.raises(CreditflowError, match="cannot open the audit database"):
        open_audit(str(tmp_path / "junk.db"))


def make_v1_audit(run, types: tuple[str, str, str] = ("TEXT", "TEXT", "REAL")) -> None:
    """An audit database as creditflow wrote it before idempotency keys were per client (schema 1):
    `run` executes one statement; `types`: the database's timestamp, JSON and float types."""
    from creditflow.service.audit.base import SCHEMA_TABLE, migrations

    for statement in [f"CREATE TABLE {SCHEMA_TABLE} (version INTEGER NOT NULL)", *migrations(*types)[1],
                      f"INSERT INTO {SCHEMA_TABLE} VALUES (1)"]:
        run(statement)
    for rid, client, key in (("r1", "aaaaaaaaaaaa", "old-key"), ("r2", "aaaaaaaaaaaa", "old-key"), ("r3", None, "anon")):
        who = f"'{client}'" if client else "NULL"
        run(f"INSERT INTO decisions VALUES ('{rid}', NULL, '2024-01-01T00:00:00+00:00', NULL, {who}, '{{}}', 'h', "
            f"'m', 'p', 0.1, 600, 'B', 'approve', '[]', '{key}')")
    for key in ("old-key", "anon", "no-rows"):
        run(f"INSERT INTO idempotency_keys VALUES ('{key}', 'hash-{key}', '{{}}', '2024-01-01T00:00:00+00:00')")


def check_migrated(log) -> None:
    """Old keys still replay for the client that used them, and only for it."""
    assert log.lookup("old-key", "aaaaaaaaaaaa").request_hash == "hash-old-key"
    assert log.lookup("old-key", "bbbbbbbbbbbb") is None
    assert log.lookup("anon", None).request_hash == "hash-anon"  # served without keys: no client
    assert log.lookup("no-rows").request_hash == "hash-no-rows"
    entry = AuditEntry(request_id="r9", batch_id=None, created_at="2024-01-02T00:00:00.000+00:00",
                       application_id=None, client="bbbbbbbbbbbb", input_json="{}", input_hash="h",
                       model_version="m", policy_version="p", probability=0.1, score=600, grade="B",
                       decision="approve", reasons_json="[]", idempotency_key="old-key", trace_id="gw-9")
    stored = StoredResponse("old-key", "hash-b", "{}", entry.created_at, "bbbbbbbbbbbb")
    assert log.record([entry], stored) is None  # another client's first use of the key
    assert log.record([entry], stored).request_hash == "hash-b"  # its retry replays
    assert log.count() == 4


def test_an_audit_database_of_schema_1_is_migrated_with_its_keys(tmp_path):
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path, isolation_level=None)
    make_v1_audit(conn.execute)
    conn.close()
    log = open_audit(str(path))
    try:
        check_migrated(log)
    finally:
        log.close()
    conn = sqlite3.connect(path)
    # schema 3: the client's X-Request-ID in its own column, NULL on the rows written before
    assert dict(conn.execute("SELECT request_id, trace_id FROM decisions")) == {
        "r1": None, "r2": None, "r3": None, "r9": "gw-9"}
    assert conn.execute("SELECT MAX(version) FROM creditflow_audit_schema").fetchone()[0] == 3
    assert conn.execute("SELECT COUNT(*) FROM idempotency_keys").fetchone()[0] == 4
    conn.close()


def test_audit_urls_never_show_a_password(tmp_path, monkeypatch):
    from creditflow.service.audit import redact_url

    for url, shown in [
        ("postgresql://cf:S3cretPw@db:5432/audit", "postgresql://cf:***@db:5432/audit"),
        ("postgresql://cf@127.0.0.1:15437/db?password=S3cretPw", "postgresql://cf@127.0.0.1:15437/db?password=***"),
        ("postgresql://cf:p@S3cretPw@db/a?sslmode=require&Password=S3cretPw#x",
         "postgresql://cf:***@db/a?sslmode=require&Password=***"),
        ("postgres://db?sslpassword=S3cretPw&password=S3cretPw", "postgres://db?sslpassword=***&password=***"),
        ("postgresql://db/a?pass%77ord=S3cretPw", "postgresql://db/a?pass%77ord=***"),
        ("host=db password=S3cretPw dbname=a", "<connection string>"),
        ("creditflow-audit.db", "creditflow-audit.db"),
    ]:
        assert redact_url(url) == shown
    monkeypatch.chdir(tmp_path)
    for url in ("host=db port=5432 password=S3cretPw", "mysql://cf:S3cretPw@db/a?password=S3cretPw"):
        with pytest.raises(CreditflowError) as caught:
            open_audit(url)
        assert "S3cretPw" not in str(caught.value)
    assert not list(tmp_path.iterdir())  # a key=value string is not taken for a SQLite file name


def test_prometheus_text_format():
    m = Metrics()
    m.request("/v1/decisions", "POST", 200, 0.004)
    m.request("/v1/decisions", "POST", 200, 0.02)
    m.decision("approve", [])
    m.decision("reject", ["HR01"])
    m.model_info = ("abc", 'v"1')
    text = m.render()
    assert 'creditflow_http_requests_total{path="/v1/decisions",method="POST",status="200"} 2' in text
    assert 'creditflow_http_request_duration_seconds_bucket{path="/v1/decisions",le="0.005"} 1' in text
    assert 'creditflow_http_request_duration_seconds_bucket{path="/v1/decisions",le="+Inf"} 2' in text
    assert 'creditflow_policy_rules_fired_total{rule="HR01"} 1' in text
    assert 'policy_version="v\\"1"' in text
    for line in text.splitlines():
        assert line.startswith("#") or len(line.rsplit(" ", 1)) == 2


def test_keys_cli_makes_keys_and_digests():
    from typer.testing import CliRunner

    from creditflow.cli import _load_commands, app

    _load_commands()
    runner = CliRunner()
    out = runner.invoke(app, ["keys", "new"]).output.split()
    key, digest = out[out.index("key:") + 1], out[out.index("sha256:") + 1]
    assert key.startswith("cf_") and len(key) > 30 and digest == hashlib.sha256(key.encode()).hexdigest()
    r = runner.invoke(app, ["keys", "hash", "my-key-0123456789abcdef"])
    assert r.exit_code == 0 and r.output.strip() == hash_key("my-key-0123456789abcdef")
    r = runner.invoke(app, ["keys", "hash"], input="a-key-000000000000001\n\nb-key-000000000000002\n")
    assert r.output.split() == [hash_key("a-key-000000000000001"), hash_key("b-key-000000000000002")]
    # keys the service would refuse as a plain key, or could never match, get no digest
    for args, stdin, why in ((["keys", "hash", "short"], None, "shorter than 16"),
                             (["keys", "hash", "  spaced-key-0123456789  "], None, "spaces around it"),
                             (["keys", "hash"], "a-key-000000000000001\n\n short\n", "line 3")):
        r = runner.invoke(app, args, input=stdin)
        assert r.exit_code == 2 and why in r.output and "internal error" not in r.output, r.output
        assert hash_key("a-key-000000000000001") not in r.output  # all or nothing


def test_the_documented_quick_start_request_is_complete_and_answered_as_shown(tmp_path):
    """docs/service.md: the curl example, sent to the demo bundle under the example policy, is accepted
    (every model input present) and gets the decision, score, grade and reasons the doc shows."""
    import re

    from typer.testing import CliRunner

    from creditflow.cli import _load_commands, app

    _load_commands()
    assert CliRunner().invoke(app, ["demo", "--out", str(tmp_path / "demo")]).exit_code == 0
    doc = (ROOT / "docs" / "service.md").read_text(encoding="utf-8")
    request = json.loads(re.search(r"-d '(\{.*?\})'", doc, re.S).group(1))
    shown = json.loads(re.search(r"```json\n(\{\"request_id.*?\})\n```", doc, re.S).group(1))
    state = load_state(ServiceConfig(model_dir=str(tmp_path / "demo" / "model"), policy=str(EXAMPLE_POLICY)))
    assert set(state.model.features_) <= set(request["applicant"])
    doc_answer, _ = decide(state, parse(state.models, request["applicant"]), application_id="A-1001",
                           request_id="r", created_at="t", client=None)
    for key in ("decision", "score", "grade", "score_decision", "rules_fired", "policy_version"):
        assert doc_answer[key] == shown[key], key
    assert doc_answer["probability"] == pytest.approx(shown["probability"], abs=1e-9)
    assert [(r["code"], r["impact"]) for r in doc_answer["reasons"]] == [(r["code"], r["impact"])
                                                                          for r in shown["reasons"]]


def test_an_unreadable_keys_file_is_a_keys_error_not_a_crash(tmp_path, monkeypatch):
    """A keys file that exists but cannot be read (permissions, I/O) raised a bare OSError: a 500 on POST
    /v1/admin/reload instead of the documented 422, and a stopped supervisor with several workers. (Root reads any
    file here, so the read itself is made to fail.)"""
    from pathlib import Path

    from creditflow.service.auth import KeysError, keys_from_file

    keys = tmp_path / "keys.txt"
    keys.write_text("0" * 64 + "\n", encoding="utf-8")
    assert len(keys_from_file(keys).digests) == 1

    def refuse(self, *args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(Path, "read_text", refuse)
    with pytest.raises(KeysError, match="cannot read the API keys file: Permission denied") as err:
        keys_from_file(keys)
    assert err.value.file == str(keys)

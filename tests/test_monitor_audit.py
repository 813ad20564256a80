"""Monitoring the service's audit log: a real SQLite file and a real PostgreSQL server in the expected layout
(request_id, time, input JSON, model_version, score, decision, reasons)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from creditflow.bundle import load_bundle
from creditflow.data.errors import DataError, SchemaError
from creditflow.monitor import monitor
from tests.conftest import UCI, UCI_TARGET
from tests.service_support import EXAMPLE_POLICY, ServiceProcess, free_port, postgres, service_bundle  # noqa: F401
from tests.test_monitor import make_bundle

SCHEMA = """create table audit (request_id text primary key, time text not null, input text not null,
    model_version text not null, score integer, decision text, reasons text)"""


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    model_dir, live, _ = make_bundle(tmp_path_factory.mktemp("audit"), rows=8000, seed=3)
    return model_dir, live


def audit_rows(model_dir: Path, frame: pd.DataFrame, months: list[str], version: str | None = None) -> list[tuple]:
    """What the service would log: each applicant's input as JSON, scored by the bundle, with a decision."""
    bundle = load_bundle(model_dir)
    scored = bundle.model.scores(frame)
    inputs = frame.drop(columns=[UCI_TARGET]).to_dict(orient="records")
    rows = []
    for i, (inp, s) in enumerate(zip(inputs, scored.itertuples(), strict=True)):
        decision = "approve" if s.score >= 560 else "review" if s.score >= 520 else "reject"
        rows.append((f"req-{i:06d}", f"{months[i % len(months)]}-15T10:00:00+08:00", json.dumps(inp),
                     version or bundle.model_version, int(s.score), decision, json.dumps([])))
    return rows


def write_sqlite(path: Path, rows: list[tuple]) -> Path:
    with sqlite3.connect(path) as conn:
        conn.execute(SCHEMA)
        conn.executemany("insert into audit values (?, ?, ?, ?, ?, ?, ?)", rows)
    return path


def test_sqlite_audit_log_is_monitored(setup, tmp_path):
    model_dir, live = setup
    frame = live.sample(3000, random_state=4).reset_index(drop=True)
    rows = audit_rows(model_dir, frame, ["2024-05", "2024-06"])
    old = audit_rows(model_dir, frame.head(200), ["2024-04"], version="0123456789abcdef")
    db = write_sqlite(tmp_path / "audit.db", rows + [(f"old-{i}", *r[1:]) for i, r in enumerate(old)])
    r = monitor(model_dir, audit=str(db))
    assert r.rows == 3000 and r.periods == ["2024-05", "2024-06"]
    assert any("200 decision(s) of other model versions" in n for n in r.notes)
    assert r.audit["score_mismatches"] == 0
    logged = pd.Series([row[5] for row in rows]).value_counts().to_dict()
    assert r.audit["decisions"] == logged
    assert r.status == "stable"
    # the same file through a sqlite:/// URL, and the input JSON rescored gives the same drift
    same = monitor(model_dir, audit=f"sqlite:///{db}")
    assert same.drift.score_psi == pytest.approx(r.drift.score_psi)
    direct = monitor(model_dir, frame)
    assert direct.drift.score_psi == pytest.approx(r.drift.score_psi)


def test_logged_scores_that_differ_from_the_bundle_warn(setup, tmp_path):
    model_dir, live = setup
    rows = audit_rows(model_dir, live.sample(2000, random_state=5).reset_index(drop=True), ["2024-06"])
    for i in (3, 50, 700):
        rows[i] = (*rows[i][:4], rows[i][4] + 7, *rows[i][5:])
    r = monitor(model_dir, audit=str(write_sqlite(tmp_path / "a.db", rows)))
    assert r.audit["score_mismatches"] == 3 and r.audit["max_score_difference"] == 7
    f = r.findings.set_index("area").loc["audit"]
    assert f["level"] == "warn" and "req-000003" in f["message"]
    assert r.status == "warn" and r.exit_code == 3


def test_young_applicants_in_the_audit_log_alert(setup, tmp_path):
    model_dir, live = setup
    young = live[live["AGE"] < 30].reset_index(drop=True)
    db = write_sqlite(tmp_path / "y.db", audit_rows(model_dir, young, ["2024-06"]))
    r = monitor(model_dir, audit=str(db))
    assert r.drift.variables.set_index("variable").loc["AGE", "status"] == "alert" and r.exit_code == 4


def test_labels_join_the_audit_log_by_request_id(setup, tmp_path):
    model_dir, live = setup
    frame = live.sample(2000, random_state=6).reset_index(drop=True)
    rows = audit_rows(model_dir, frame, ["2024-05", "2024-06"])
    db = write_sqlite(tmp_path / "l.db", rows)
    labels = pd.DataFrame({"request_id": [r[0] for r in rows], "overdue": frame[UCI_TARGET]})
    labels.head(1500).to_csv(tmp_path / "labels.csv", index=False)
    r = monitor(model_dir, audit=str(db), labels=tmp_path / "labels.csv", target="overdue")
    assert r.performance.summary["labelled"] == 1500
    assert r.performance.summary["bads"] == int(frame[UCI_TARGET].head(1500).sum())


def test_bad_audit_sources_are_refused(setup, tmp_path):
    model_dir, live = setup
    with pytest.raises(DataError, match="no such SQLite file"):
        monitor(model_dir, audit=str(tmp_path / "none.db"))
    (tmp_path / "text.db").write_text("not a database")
    with pytest.raises(DataError, match="not a readable SQLite"):
        monitor(model_dir, audit=str(tmp_path / "text.db"))
    with pytest.raises(DataError, match="unsupported audit URL"):
        monitor(model_dir, audit="mysql://localhost/x")
    rows = audit_rows(model_dir, live.head(50), ["2024-06"])
    rows[7] = (*rows[7][:2], '{"LIMIT_BAL": 1', *rows[7][3:])
    with pytest.raises(DataError, match="req-000007.*not valid JSON") as e:
        monitor(model_dir, audit=str(write_sqlite(tmp_path / "j.db", rows)))
    assert e.value.row == 8
    rows = audit_rows(model_dir, live.head(50), ["2024-06"], version="ffffffffffffffff")
    with pytest.raises(DataError, match="no decision of model version"):
        monitor(model_dir, audit=str(write_sqlite(tmp_path / "v.db", rows)))
    rows = audit_rows(model_dir, live.head(50), ["2024-06"])
    rows = [(*r[:2], json.dumps({k: v for k, v in json.loads(r[2]).items() if k != "PAY_0"}), *r[3:]) for r in rows]
    with pytest.raises(SchemaError, match="PAY_0"):
        monitor(model_dir, audit=str(write_sqlite(tmp_path / "c.db", rows)))


def test_a_logged_request_body_is_read_as_its_applicant(setup, tmp_path):
    # A writer that logs the whole request body {"application_id": ..., "applicant": {...}} under `request` got
    # "54 model column(s) missing": the applicant's fields are read, with the body's application_id
    model_dir, live = setup
    frame = live.sample(1500, random_state=8).reset_index(drop=True)
    rows = audit_rows(model_dir, frame, ["2024-05", "2024-06"])
    bodies = [(*r[:2], json.dumps({"application_id": f"app-{i % 1400}", "applicant": json.loads(r[2])}), *r[3:])
              for i, r in enumerate(rows)]
    r = monitor(model_dir, audit=str(write_sqlite(tmp_path / "b.db", bodies)))
    assert r.rows == 1400  # the 100 re-decided applications count once
    assert any("1,500 logged input(s) are request bodies" in n for n in r.notes), r.notes
    direct = monitor(model_dir, audit=str(write_sqlite(tmp_path / "p.db", rows[100:])))
    assert r.drift.score_psi == pytest.approx(direct.drift.score_psi)
    # an object that is neither says what it holds
    other = [(*r[:2], json.dumps({"application_id": "a", "body": json.loads(r[2])}), *r[3:]) for r in rows[:600]]
    with pytest.raises(SchemaError, match=r"none of the model's inputs: their keys are \['application_id', 'body'\]"):
        monitor(model_dir, audit=str(write_sqlite(tmp_path / "o.db", other)))


# ---------------------------------------------------------------- the service's own audit log


def service_entries(model_dir: Path, frame: pd.DataFrame, months: list[str]) -> list:
    """Audit entries as the service writes them (its AuditEntry and canonical JSON), one per applicant."""
    from creditflow.service.audit.base import AuditEntry, canonical_json, sha256_text

    bundle = load_bundle(model_dir)
    out = []
    for i, row in enumerate(frame.drop(columns=[UCI_TARGET, "ID"]).to_dict(orient="records")):
        applicant = {k: float(v) for k, v in row.items()}
        s = bundle.model.score_row(applicant)
        text = canonical_json(applicant)
        out.append(AuditEntry(
            request_id=f"r{i:05d}", batch_id=None, created_at=f"{months[i % len(months)]}-10T08:00:00.000+00:00",
            application_id=f"app-{frame['ID'].iloc[i]}", client="test", input_json=text, input_hash=sha256_text(text),
            model_version=bundle.model_version, policy_version="p1", probability=s["probability"], score=s["score"],
            grade=s["grade"], decision="approve" if s["score"] >= 530 else "reject", reasons_json="[]"))
    return out


def test_postgresql_audit_log_written_by_the_service_is_monitored(setup, postgres, tmp_path):  # noqa: F811
    from creditflow.service.audit import open_audit

    model_dir, live = setup
    frame = live.sample(1500, random_state=9).reset_index(drop=True)
    log = open_audit(postgres.url)  # the service's writer creates its tables
    try:
        log.record(service_entries(model_dir, frame, ["2024-05", "2024-06"]))
    finally:
        log.close()
    r = monitor(model_dir, audit=postgres.url)
    assert r.rows == 1500 and r.periods == ["2024-05", "2024-06"]
    assert r.audit["score_mismatches"] == 0 and r.audit["policy_versions"] == {"p1": 1500}
    direct = monitor(model_dir, frame)
    np.testing.assert_allclose(r.drift.variables.set_index("variable")["csi"],
                               direct.drift.variables.set_index("variable").loc[r.drift.variables["variable"], "csi"],
                               rtol=1e-9)
    # outcomes keyed by the caller's application id join the log
    labels = pd.DataFrame({"application_id": "app-" + frame["ID"].astype(str), "bad": frame[UCI_TARGET]})
    labels.to_csv(tmp_path / "labels.csv", index=False)
    lab = monitor(model_dir, audit=postgres.url, labels=tmp_path / "labels.csv", target="bad")
    assert lab.performance.summary["labelled"] == 1500
    with pytest.raises(DataError, match="cannot connect to PostgreSQL"):
        monitor(model_dir, audit=f"postgresql://postgres@127.0.0.1:{free_port()}/postgres")


def test_a_live_service_audit_log_is_monitored(service_bundle, tmp_path):  # noqa: F811
    # The real journey: `creditflow serve` decides young applicants over HTTP and logs them; monitoring
    # its SQLite audit log sees AGE move, finds every logged score reproduced, and the policy's decision
    # mix on the logged inputs equals the decisions the service returned.
    frame = pd.read_csv(UCI).iloc[20_000:26_000]
    young = frame[frame["AGE"] < 30].drop(columns=[UCI_TARGET, "ID"]).head(1200)
    apps = [{"application_id": f"a{i}", "applicant": {k: float(v) for k, v in row.items()}}
            for i, row in enumerate(young.to_dict(orient="records"))]
    server = ServiceProcess([str(service_bundle), "--policy", str(EXAMPLE_POLICY), "--max-batch", "400"],
                            workdir=tmp_path).start()
    try:
        with server.client() as client:
            returned = []
            for k in range(0, len(apps), 400):
                r = client.post("/v1/decisions/batch", json={"applications": apps[k:k + 400]})
                assert r.status_code == 200, r.text
                returned += [d["decision"] for d in r.json()["decisions"]]
    finally:
        server.stop()
    result = monitor(service_bundle, audit=str(tmp_path / "creditflow-audit.db"), policy=EXAMPLE_POLICY)
    assert result.rows == len(apps) and result.audit["score_mismatches"] == 0
    assert result.drift.variables.set_index("variable").loc["AGE", "status"] == "alert" and result.exit_code == 4
    counts = pd.Series(returned).value_counts()
    assert result.audit["decisions"] == {k: int(v) for k, v in counts.items()}
    mix = result.decisions.table.set_index("decision")
    for decision, n in counts.items():
        assert mix.loc[decision, "current_count"] == n


def test_a_tiny_audit_log_is_insufficient_not_an_alert(setup, tmp_path):
    # A new service's first decisions: 7 or 50 rows. Their PSI is noise; the status says so (exit 5).
    model_dir, live = setup
    frame = live.sample(50, random_state=12).reset_index(drop=True)
    for n in (7, 50):
        rows = audit_rows(model_dir, frame.head(n), ["2024-06"])
        r = monitor(model_dir, audit=str(write_sqlite(tmp_path / f"tiny{n}.db", rows)))
        assert r.rows == n and r.status == "insufficient" and r.exit_code == 5
        assert r.notes[0].startswith(f"insufficient data: {n} rows, at least 500")
        assert r.findings["level"].isin(["warn", "alert"]).any() and not r.findings["counts"].any()
    # a logged score that differs from the bundle's is evidence on any number of rows: it still warns
    rows[3] = (*rows[3][:4], rows[3][4] + 7, *rows[3][5:])
    r = monitor(model_dir, audit=str(write_sqlite(tmp_path / "tiny_mismatch.db", rows)))
    assert r.status == "warn" and r.exit_code == 3 and not r.enough_rows
    assert r.findings.set_index("area").loc["audit", "counts"]


# ---------------------------------------------------------------- damaged logs, re-decided applications


def test_a_damaged_page_inside_the_database_is_bad_input(setup, tmp_path):
    # The header is intact (it opens), but a page in the middle is overwritten: SQLite reports "database disk
    # image is malformed" while the table is read. That is bad input naming the file and table, not a crash.
    model_dir, live = setup
    db = write_sqlite(tmp_path / "ok.db", audit_rows(model_dir, live.head(3000), ["2024-06"]))
    data = bytearray(db.read_bytes())
    middle = len(data) // 2
    data[middle:middle + 8192] = b"\xff" * 8192
    (tmp_path / "damaged.db").write_bytes(bytes(data))
    with pytest.raises(DataError, match="malformed") as e:
        monitor(model_dir, audit=str(tmp_path / "damaged.db"))
    assert e.value.file == f"{tmp_path / 'damaged.db'} (table audit)"


DECISIONS = """create table decisions (request_id text primary key, created_at text not null, application_id text,
    input_json text not null, model_version text not null, score integer, decision text, reasons_json text)"""


def test_an_application_decided_twice_counts_once_with_its_latest_decision(setup, tmp_path):
    # 1,000 applications; 300 of them had an earlier decision (a retry, a reapplication) on other inputs,
    # logged later in the table than the final one. Drift and outcomes count each application once, with
    # the latest decision by time; every logged decision is still checked against the rescoring.
    model_dir, live = setup
    frame = live.sample(1300, random_state=21).reset_index(drop=True)
    final = audit_rows(model_dir, frame.head(1000), ["2024-06"])
    earlier = audit_rows(model_dir, frame.tail(300), ["2024-05"])
    rows = [(r[0], r[1], f"app-{i}", *r[2:]) for i, r in enumerate(final)]
    rows += [(f"early-{i}", r[1], f"app-{i * 3}", *r[2:]) for i, r in enumerate(earlier)]
    with sqlite3.connect(tmp_path / "d.db") as conn:
        conn.execute(DECISIONS)
        conn.executemany("insert into decisions values (?, ?, ?, ?, ?, ?, ?, ?)", rows)
    labels = pd.DataFrame({"application_id": [f"app-{i}" for i in range(1000)],
                           "bad": frame[UCI_TARGET].head(1000)})
    labels.to_csv(tmp_path / "labels.csv", index=False)
    r = monitor(model_dir, audit=str(tmp_path / "d.db"), labels=tmp_path / "labels.csv", target="bad")
    assert r.rows == 1000 and r.periods == []  # the May decisions were all superseded: June alone, no periods
    s = r.performance.summary
    assert s["labelled"] == 1000 and s["bads"] == int(frame[UCI_TARGET].head(1000).sum())
    direct = monitor(model_dir, frame.head(1000))
    assert r.drift.score_psi == pytest.approx(direct.drift.score_psi)
    assert any("300 earlier decision(s) of 300 application(s)" in n and "'app-0'" in n for n in r.notes)
    assert r.audit["rows"] == 1300 and r.audit["score_mismatches"] == 0


def test_audit_join_errors_name_the_columns_it_joins_on(setup, tmp_path):
    model_dir, live = setup
    frame = live.sample(600, random_state=22).reset_index(drop=True)
    rows = [(r[0], r[1], f"app-{i}", *r[2:]) for i, r in enumerate(audit_rows(model_dir, frame, ["2024-06"]))]
    with sqlite3.connect(tmp_path / "j.db") as conn:
        conn.execute(DECISIONS)
        conn.executemany("insert into decisions values (?, ?, ?, ?, ?, ?, ?, ?)", rows)
    pd.DataFrame({"loan": [f"app-{i}" for i in range(600)], "bad": frame[UCI_TARGET]}).to_csv(
        tmp_path / "loan.csv", index=False)
    with pytest.raises(DataError, match="joined to the labels on application_id, else request_id") as e:
        monitor(model_dir, audit=str(tmp_path / "j.db"), labels=tmp_path / "loan.csv", target="bad")
    assert e.value.file == str(tmp_path / "loan.csv") and "application_id" in e.value.hint
    with pytest.raises(DataError, match="--id names a column the audit log does not have.*application_id") as e:
        monitor(model_dir, audit=str(tmp_path / "j.db"), labels=tmp_path / "loan.csv", target="bad", id="loan")
    assert e.value.column == "loan" and "labels' id column" in e.value.reason


EPOCH = """create table audit (id text primary key, timestamp integer, application_id text, request text not null,
    model_version text not null, score integer, decision text)"""


def epoch_log(path: Path, model_dir: Path, frame: pd.DataFrame, scale: int, again: pd.DataFrame | None = None,
              seconds: list[int] | None = None) -> Path:
    """An audit table written by another service: epoch times in seconds times `scale` (1000: JavaScript's
    Date.now()); applications app-0, app-1, ... are decided again on 2024-04-02 on the inputs `again`."""
    rows = audit_rows(model_dir, frame, ["2024-01"])
    jan, apr = 1704420000, 1712023200  # 2024-01-05 02:00 and 2024-04-02 02:00 UTC
    out = [(r[0], jan * scale, f"app-{i}", r[2], *r[3:6]) for i, r in enumerate(rows)]
    later = audit_rows(model_dir, again, ["2024-04"]) if again is not None else []
    out += [(f"again-{i}", apr * scale, f"app-{i}", r[2], *r[3:6]) for i, r in enumerate(later)]
    if seconds is not None:
        out = [(r[0], s, *r[2:]) for r, s in zip(out, seconds, strict=False)] + out[len(seconds):]
    with sqlite3.connect(path) as conn:
        conn.execute(EPOCH)
        conn.executemany("insert into audit values (?, ?, ?, ?, ?, ?, ?)", out)
    return path


def test_epoch_times_in_milliseconds_are_recognised_and_the_latest_decision_wins(setup, tmp_path):
    # Writers that are not Python log epoch milliseconds (Date.now(), currentTimeMillis()); read as seconds
    # they fell in the year 55980, and the int64 view of those times overflowed, so the *earliest* decision
    # of a re-decided application was the one monitored. The unit is told by magnitude.
    model_dir, live = setup
    frame = live.sample(1100, random_state=23).reset_index(drop=True)
    first, second = frame.head(1000), frame.tail(100)
    expected = pd.concat([second, first.iloc[100:]], ignore_index=True)  # app-0..99 as re-decided in April
    direct = monitor(model_dir, expected)
    for scale in (1, 1000, 1_000_000, 1_000_000_000):
        r = monitor(model_dir, audit=str(epoch_log(tmp_path / f"e{scale}.db", model_dir, first, scale, second)))
        assert r.periods == ["2024-01", "2024-04"], scale
        assert r.rows == 1000 and r.audit["rows"] == 1100
        assert r.drift.score_psi == pytest.approx(direct.drift.score_psi), scale
        assert any("100 earlier decision(s) of 100 application(s)" in n for n in r.notes)


def test_times_outside_1970_to_2100_are_refused_naming_the_row(setup, tmp_path):
    model_dir, live = setup
    frame = live.sample(600, random_state=24).reset_index(drop=True)
    # 4,200,000,000 s is the year 2103; -5 is before 1970
    for bad in (4_200_000_000, -5):
        db = epoch_log(tmp_path / f"bad{bad}.db", model_dir, frame, 1, seconds=[1704420000] * 6 + [bad])
        with pytest.raises(DataError, match="outside 1970..2100") as e:
            monitor(model_dir, audit=str(db))
        assert e.value.column == "timestamp" and e.value.row == 7 and "(table audit)" in e.value.file
    rows = audit_rows(model_dir, frame, ["2024-06"])
    rows[4] = (rows[4][0], "2150-01-01T00:00:00Z", *rows[4][2:])
    with pytest.raises(DataError, match="'2150-01-01T00:00:00Z' is outside 1970..2100") as e:
        monitor(model_dir, audit=str(write_sqlite(tmp_path / "t.db", rows)))
    assert e.value.column == "time" and e.value.row == 5


def test_latest_decision_sorts_on_times_an_int64_view_cannot_hold():
    from creditflow.monitor.audit import latest_decisions

    # seconds-resolution times in the year 55980 overflow as nanoseconds: the order must still be by time
    times = pd.Series(np.array([1704420000000, 1712023200000, 1700000000000], dtype="datetime64[s]"))
    assert latest_decisions(pd.Series(["a", "a", "a"]), times).tolist() == [False, True, False]


def test_logged_decisions_are_checked_against_the_policy_of_their_version(service_bundle, tmp_path):  # noqa: F811
    # A policy file edited without a new version (the approve cutoff moved from 575 to 560, still
    # "uci-demo-2024.06"): the decisions logged under that version were made by another policy. The monitor
    # counted logged decisions but never compared them with the policy it was given, so only scores were
    # checked; it now re-decides every logged row under the policy's version and warns of each that differs.
    policy = tmp_path / "policy.yaml"
    policy.write_text(EXAMPLE_POLICY.read_text(encoding="utf-8"), encoding="utf-8")
    frame = pd.read_csv(UCI).iloc[20_000:20_400].drop(columns=[UCI_TARGET, "ID"])
    apps = [{"application_id": f"a{i}", "applicant": {k: float(v) for k, v in row.items()}}
            for i, row in enumerate(frame.to_dict(orient="records"))]
    server = ServiceProcess([str(service_bundle), "--policy", str(policy), "--max-batch", "400"],
                            workdir=tmp_path).start()
    try:
        with server.client() as client:
            r = client.post("/v1/decisions/batch", json={"applications": apps})
            assert r.status_code == 200, r.text
            returned = r.json()["decisions"]
    finally:
        server.stop()
    audit = str(tmp_path / "creditflow-audit.db")
    same = monitor(service_bundle, audit=audit, policy=policy)
    assert same.audit["decisions_checked"] == len(apps) and same.audit["decision_mismatches"] == 0
    assert "audit" not in set(same.findings["area"])
    edited = tmp_path / "edited.yaml"
    edited.write_text(policy.read_text(encoding="utf-8").replace("approve: 575", "approve: 560"), encoding="utf-8")
    # by hand, from the service's answers: the cutoffs' decision at 560, then the most severe rule that fired
    severity = {"approve": 0, "review": 1, "reject": 2}
    differ = 0
    for d in returned:
        by_score = "approve" if d["score"] >= 560 else "review" if d["score"] >= 550 else "reject"
        rules = [x["action"] for x in d["reasons"] if x["source"] == "policy"]
        decision = max([by_score, *rules], key=severity.__getitem__)
        differ += decision != d["decision"]
    assert differ > 0
    moved = monitor(service_bundle, audit=audit, policy=edited)
    assert moved.audit["decision_mismatches"] == differ and moved.audit["decision_policy_version"] == "uci-demo-2024.06"
    assert moved.status == "warn" and moved.exit_code == 3
    (message,) = moved.findings.loc[moved.findings["item"] == "decision", "message"]
    assert message.startswith(f"{differ:,} of {len(apps):,} decision(s) logged under policy uci-demo-2024.06 differ")

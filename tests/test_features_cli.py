"""`creditflow features` end to end on the real UCI files, and bad input (exit 2, the column named, no output)."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from typer.testing import CliRunner

from creditflow.cli import _load_commands, app
from tests.conftest import ROOT, SHARED_DATA

DATA = SHARED_DATA / "uci_taiwan"
SPEC = ROOT / "examples" / "uci_taiwan_features.yaml"
TAGS = ROOT / "examples" / "uci_taiwan_tags.yaml"


def invoke(*args: object) -> tuple[int, str]:
    """Run the CLI in-process; return the exit code and all output with whitespace normalised."""
    _load_commands()
    result = CliRunner().invoke(app, [str(a) for a in args])
    text = result.output + (getattr(result, "stderr", "") or "")
    return result.exit_code, " ".join(text.split())


def test_end_to_end_on_the_real_files(tmp_path):
    out = tmp_path / "features.parquet"
    code, text = invoke("features", "--profiles", DATA / "profiles.jsonl", "--events", DATA / "statements.csv",
                        "--labels", DATA / "labels.csv", "--spec", SPEC, "--tags", TAGS, "--out", out,
                        "--report", tmp_path / "report.json")
    assert code == 0, text
    assert "30,000 rows" in text
    table = pd.read_parquet(out)
    assert table.shape[0] == 30_000 and table["client_id"].is_unique
    assert {"defaulted", "demographics__age", "account__credit_limit", "bill_m1", "status_m6", "worst_status_6m",
            "utilisation_m1", "age_band", "life_stage"} <= set(table.columns)
    wide = pd.read_csv(DATA / "UCI_Credit_Card.csv")
    assert (table["bill_m1"] == wide["BILL_AMT1"]).all() and (table["defaulted"] == wide.iloc[:, -1]).all()
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["n_events_used"] == 180_000 and report["warnings"] == []


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    """The first 200 clients of the real files."""
    d = tmp_path_factory.mktemp("small")
    events = pd.read_csv(DATA / "statements.csv")
    events = events[events["client_id"] <= 200]
    labels = pd.read_csv(DATA / "labels.csv").head(200)
    lines = (DATA / "profiles.jsonl").read_text(encoding="utf-8").splitlines()[:200]
    (d / "profiles.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    labels.to_csv(d / "labels.csv", index=False)
    events.to_csv(d / "events.csv", index=False)
    return d, events, labels


def run_small(small, events: pd.DataFrame | None = None, *extra: object, spec=SPEC, out_name="out.parquet"):
    d, good, _ = small
    path = d / "events.csv"
    if events is not None:
        path = d / "events_bad.csv"
        events.to_csv(path, index=False)
    out = d / out_name
    code, text = invoke("features", "--profiles", d / "profiles.jsonl", "--events", path,
                        "--labels", d / "labels.csv", "--spec", spec, "--out", out, *extra)
    return code, text, out


def test_small_run_writes_csv_with_labels_and_ids(small):
    code, text, out = run_small(small, out_name="out.csv")
    assert code == 0, text
    table = pd.read_csv(out)
    assert len(table) == 200 and list(table.columns[:3]) == ["client_id", "observation_date", "defaulted"]
    out.unlink()


def assert_refused(code: int, text: str, out, *words: str) -> None:
    assert code == 2, text
    assert text.startswith("error:")
    for w in words:
        assert w in text, (w, text)
    assert not out.exists()
    assert not [p for p in out.parent.iterdir() if p.name.startswith(f".{out.name}")]  # no temp left


def test_unparseable_dates_are_refused(small):
    bad = small[1].copy()
    bad.iloc[[5, 9], bad.columns.get_loc("statement_month")] = ["2005-13", "sept"]
    code, text, out = run_small(small, bad)
    assert_refused(code, text, out, "column 'statement_month'", "row 6", "2 value(s) are not dates", "'2005-13'")


def test_events_for_unknown_entities_are_refused_and_dropped_on_request(small, tmp_path):
    bad = pd.concat([small[1], small[1].head(3).assign(client_id=99_999)], ignore_index=True)
    code, text, out = run_small(small, bad)
    assert_refused(code, text, out, "column 'client_id'", "3 event(s) for 1 entity id(s) not in the profiles",
                   "99999", f"row {len(small[1]) + 1}")
    report = tmp_path / "r.json"
    code, text, out = run_small(small, bad, "--drop-unknown-entities", "--report", report)
    assert code == 0, text
    assert "warning: dropped 3 event(s) for 1 entity id(s)" in text
    out.unlink()
    import subprocess
    import sys

    d = small[0]
    r = subprocess.run([sys.executable, "-m", "creditflow", "features", "--profiles", str(d / "profiles.jsonl"),
                        "--events", str(d / "events_bad.csv"), "--labels", str(d / "labels.csv"), "--spec", str(SPEC),
                        "--out", str(out), "--drop-unknown-entities"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0 and r.stderr.count("dropped 3 event(s)") == 1, r.stderr  # not again by the logger
    assert json.loads(report.read_text())["dropped_unknown_entity_events"] == 3
    out.unlink()


def test_duplicate_events_are_refused_and_dropped_on_request(small):
    bad = pd.concat([small[1], small[1].iloc[[10, 11]]], ignore_index=True)
    code, text, out = run_small(small, bad)
    assert_refused(code, text, out, "column 'client_id'", "2 event row(s) are exact duplicates", "on_duplicate")
    code, text, out = run_small(small, bad, "--drop-duplicates")
    assert code == 0 and "warning: dropped 2 exact duplicate event row(s)" in text
    out.unlink()


def test_mixed_time_zones_are_refused(small, tmp_path):
    d = small[0]
    events = pd.DataFrame({
        "client_id": [1, 1, 2, 2],
        "posted_at": ["2005-09-01T10:00:00+08:00", "2005-09-02T10:00:00+08:00", "2005-09-03T02:00:00Z",
                      "2005-09-04 10:00:00"],
        "amount": [1.0, 2.0, 3.0, 4.0],
    })
    spec = tmp_path / "tz.yaml"
    spec.write_text("entity: client_id\nevent_time: posted_at\nwindows: [30d]\n"
                    "features:\n  - {name: n_30d, agg: count}\n", encoding="utf-8")
    code, text, out = run_small(small, events, spec=spec)
    assert_refused(code, text, out, "column 'posted_at'", "mixed time zones", "2 row(s) with +08:00",
                   "1 row(s) with no offset", "timezone")
    del d


def test_a_spec_naming_a_missing_column_is_refused(small, tmp_path):
    spec = tmp_path / "typo.yaml"
    spec.write_text(SPEC.read_text(encoding="utf-8").replace("column: paid_amount, windows: *months",
                                                             "column: paid_amt, windows: *months"))
    code, text, out = run_small(small, None, spec=spec)
    assert_refused(code, text, out, "column 'paid_amt'", "column not found, needed by feature 'paid_m1'",
                   "events.csv")


def test_non_numeric_values_and_bad_observation_dates_are_refused(small):
    bad = small[1].astype({"bill_amount": object})
    bad.iloc[3, bad.columns.get_loc("bill_amount")] = "1,234"
    code, text, out = run_small(small, bad)
    assert_refused(code, text, out, "column 'bill_amount'", "row 4", "not numbers")
    d = small[0]
    labels = small[2].copy()
    labels.loc[7, "observation_date"] = "30/09/2005"
    labels.to_csv(d / "labels_bad.csv", index=False)
    out = d / "o.csv"
    code, text = invoke("features", "--events", d / "events.csv", "--labels", d / "labels_bad.csv",
                        "--spec", SPEC, "--out", out)
    assert_refused(code, text, out, "column 'observation_date'", "row 8")


def test_output_format_and_missing_observations_are_refused_early(small):
    d = small[0]
    code, text = invoke("features", "--events", d / "events.csv", "--spec", SPEC, "--out", d / "o.txt",
                        "--as-of", "2005-09-30")
    assert code == 2 and "use .csv, .parquet or .xlsx" in text
    code, text = invoke("features", "--events", d / "events.csv", "--spec", SPEC, "--out", d / "o.csv")
    assert code == 2 and "--labels" in text and "--as-of" in text


def test_as_of_builds_one_row_per_entity(small):
    d = small[0]
    out = d / "asof.csv"
    code, text = invoke("features", "--profiles", d / "profiles.jsonl", "--events", d / "events.csv",
                        "--spec", SPEC, "--as-of", "2005-09-30", "--out", out, "--engine", "pandas")
    assert code == 0, text
    table = pd.read_csv(out)
    assert len(table) == 200 and (table["observation_date"] == "2005-09-30").all()


def test_as_of_in_a_wrong_year_warns_and_counts_no_event_used(small, tmp_path):
    d, events, _ = small
    report = tmp_path / "r.json"
    code, text = invoke("features", "--profiles", d / "profiles.jsonl", "--events", d / "events.csv", "--spec", SPEC,
                        "--as-of", "2000-01-01",
                        "--out", tmp_path / "o.csv", "--report", report)
    assert code == 0, text
    assert f"(0 of {len(events):,} events" in text and "warning: 200 of 200" in text, text
    assert "200 of 200 observation(s) have events for their entity but none before the observation" in text
    r = json.loads(report.read_text())
    assert (r["n_events_used"], r["observations_without_events"], len(r["warnings"])) == (0, 200, 1)


@pytest.mark.slow
def test_documented_pipeline_leaves_sex_out_and_gives_the_documented_aucs(tmp_path):
    """docs/features.md: its features -> train commands, re-run here, keep sex out of the card and give
    the test AUCs the doc quotes (features table and wide table)."""
    import re
    import shlex

    doc = (ROOT / "docs" / "features.md").read_text(encoding="utf-8")
    flat = " ".join(doc.split())
    quoted = re.search(r"test AUC of (0\.\d{4}) against (0\.\d{4})", flat)
    assert quoted, "the doc no longer quotes the two AUCs"
    feature_train = shlex.split(re.search(r"^creditflow train uci_features\.parquet .*$", doc, re.M).group(0))
    wide_train = shlex.split(re.search(r"`(creditflow train UCI_Credit_Card\.csv [^`]*)`", flat).group(1))
    features = tmp_path / "uci_features.parquet"
    code, text = invoke("features", "--profiles", DATA / "profiles.jsonl", "--events", DATA / "statements.csv",
                        "--labels", DATA / "labels.csv", "--spec", SPEC, "--tags", TAGS, "--out", features)
    assert code == 0, text
    paths = {"uci_features.parquet": features, "UCI_Credit_Card.csv": DATA / "UCI_Credit_Card.csv",
             "model_dir": tmp_path / "model_dir", "wide_dir": tmp_path / "wide_dir"}
    for args, out, protected, expected in ((feature_train, "model_dir", "demographics__sex", quoted.group(1)),
                                           (wide_train, "wide_dir", "SEX", quoted.group(2))):
        code, text = invoke(*[paths.get(a, a) for a in args[1:]], "--no-report")
        assert code == 0, text
        features_used = json.loads((tmp_path / out / "model" / "metadata.json").read_text())["features"]
        assert protected not in features_used and len(features_used) > 5
        auc = json.loads((tmp_path / out / "metrics.json").read_text())["splits"]["test"]["auc"]
        assert auc == pytest.approx(float(expected), abs=1e-4), (out, auc)


def test_encoding_option_reads_utf16_profiles_events_and_labels(small, tmp_path):
    d, events, labels = small
    events.to_csv(tmp_path / "events.csv", index=False, encoding="utf-16")
    labels.to_csv(tmp_path / "labels.csv", index=False, encoding="utf-16")
    text = (d / "profiles.jsonl").read_text(encoding="utf-8")
    (tmp_path / "profiles.jsonl").write_bytes(text.encode("utf-16"))
    args = ["features", "--profiles", tmp_path / "profiles.jsonl", "--events", tmp_path / "events.csv",
            "--labels", tmp_path / "labels.csv", "--spec", SPEC]
    code, text = invoke(*args, "--out", tmp_path / "a.csv")
    assert_refused(code, text, tmp_path / "a.csv", "profiles.jsonl", "pass --encoding")
    code, text = invoke(*args, "--encoding", "utf-16", "--out", tmp_path / "a.csv")
    assert code == 0, text
    code, text = invoke("features", "--profiles", d / "profiles.jsonl", "--events", d / "events.csv",
                        "--labels", d / "labels.csv", "--spec", SPEC, "--out", tmp_path / "b.csv")
    assert code == 0, text
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "a.csv"), pd.read_csv(tmp_path / "b.csv"))


@pytest.mark.parametrize("timezone, wall", [(None, "2005-09-30 00:00:00"), ("Asia/Taipei", "2005-09-30 08:00:00")])
def test_xlsx_output_writes_zoned_observation_dates_as_wall_time(small, tmp_path, timezone, wall):
    d, _, labels = small
    zoned = labels.head(5).assign(
        observation_date=pd.to_datetime(labels["observation_date"].head(5)).dt.tz_localize("UTC"))
    zoned.to_parquet(tmp_path / "labels.parquet")
    spec = tmp_path / "spec.yaml"
    spec.write_text(SPEC.read_text(encoding="utf-8") + (f"\ntimezone: {timezone}\n" if timezone else ""), "utf-8")
    out = tmp_path / "out.xlsx"
    code, text = invoke("features", "--profiles", d / "profiles.jsonl", "--events", d / "events.csv",
                        "--labels", tmp_path / "labels.parquet", "--spec", spec, "--out", out)
    assert code == 0, text
    table = pd.read_excel(out)
    assert table["observation_date"].tolist() == [pd.Timestamp(wall)] * 5 and len(table.columns) > 50


MINI_SPEC = ("entity: client_id\nevent_time: ts\nobservation_date: observation_date\nwindows: [30d]\n"
             "features:\n  - {name: 'amt_{window}', agg: sum, column: amount}\n  - {name: 'n_{window}', agg: count}\n")


def mini(tmp_path, events: str, labels: str, *extra: object, spec: str = MINI_SPEC, events_name: str = "ev.csv",
         out_name: str = "out.csv") -> tuple[int, str, object]:
    """Run `features` on small CSV texts (events may also be a ready file in `tmp_path`)."""
    if events:
        (tmp_path / events_name).write_text(events, encoding="utf-8")
    (tmp_path / "lab.csv").write_text(labels, encoding="utf-8")
    (tmp_path / "spec.yaml").write_text(spec, encoding="utf-8")
    out = tmp_path / out_name
    code, text = invoke("features", "--events", tmp_path / events_name, "--labels", tmp_path / "lab.csv",
                        "--spec", tmp_path / "spec.yaml", "--out", out, *extra)
    return code, text, out


def test_ids_are_read_as_written_so_leading_zeros_keep_customers_apart(tmp_path):
    events = "client_id,ts,amount\n007,2024-01-10,10\n7,2024-01-11,99\n"
    code, text, out = mini(tmp_path, events, "client_id,observation_date\n007,2024-01-15\n7,2024-01-15\n")
    assert code == 0, text
    table = pd.read_csv(out, dtype={"client_id": str})
    assert table["client_id"].tolist() == ["007", "7"] and table["amt_30d"].tolist() == [10.0, 99.0]
    # labels of plain ids (numbers) still join events that are text because of "007"
    code, text, out = mini(tmp_path, events, "client_id,observation_date\n7,2024-01-15\n", "--drop-unknown-entities")
    assert code == 0 and pd.read_csv(out)["amt_30d"].tolist() == [99.0], text
    # ids quoted in the profiles, zero-padded or beyond int64, join the CSVs
    (tmp_path / "p.jsonl").write_text('{"client_id": "007"}\n{"client_id": "12345678901234567890"}\n', "utf-8")
    code, text, out = mini(tmp_path, "client_id,ts,amount\n007,2024-01-10,10\n12345678901234567890,2024-01-11,5\n",
                           "client_id,observation_date\n007,2024-01-15\n12345678901234567890,2024-01-15\n",
                           "--profiles", tmp_path / "p.jsonl")
    assert code == 0, text
    table = pd.read_csv(out, dtype={"client_id": str})
    assert table["client_id"].tolist() == ["007", "12345678901234567890"] and table["amt_30d"].tolist() == [10, 5]


def test_an_output_that_is_an_input_file_is_refused(tmp_path):
    labels = "client_id,observation_date\n7,2024-01-15\n"
    (tmp_path / "ev.csv").write_text("client_id,ts,amount\n7,2024-01-10,10\n", encoding="utf-8")
    code, text, _ = mini(tmp_path, "", labels, out_name="lab.csv")
    assert code == 2 and "--out is the --labels table: it would be overwritten" in text, text
    assert (tmp_path / "lab.csv").read_text(encoding="utf-8") == labels
    code, text, _ = mini(tmp_path, "", labels, "--report", tmp_path / "spec.yaml")
    assert code == 2 and "--report is the --spec file" in text, text


def test_a_report_on_the_out_path_is_refused_before_the_table_is_written(tmp_path):
    (tmp_path / "ev.csv").write_text("client_id,ts,amount\n7,2024-01-10,10\n", encoding="utf-8")
    (tmp_path / "out.csv").write_text("earlier table\n", encoding="utf-8")
    code, text, out = mini(tmp_path, "", "client_id,observation_date\n7,2024-01-15\n", "--report",
                           tmp_path / "." / "out.csv")
    assert code == 2 and text.startswith("error:") and "--report is the --out file" in text, text
    assert out.read_text(encoding="utf-8") == "earlier table\n"  # neither the table nor the report written
    code, text, out = mini(tmp_path, "", "client_id,observation_date\n7,2024-01-15\n", "--report",
                           tmp_path / "new.csv", out_name="new.csv")  # refused also when neither exists yet
    assert code == 2 and "--report is the --out file" in text and not out.exists(), text


def cli(*args: object):  # noqa: ANN201 - the real command line, in a process of its own
    import subprocess
    import sys

    return subprocess.run([sys.executable, "-m", "creditflow", *map(str, args)], capture_output=True, text=True,
                          timeout=600)


def test_cluster_writes_the_one_machine_table_byte_for_byte(tmp_path):
    """`creditflow features --cluster`, which docs/scaling.md listed, was "No such option: --cluster". On the real
    statements as a Parquet folder (uneven files, several row groups) a local:2 cluster writes the bytes one machine
    writes, and bad input is refused as on one machine: one line naming the file, column and row."""
    events = pd.read_csv(DATA / "statements.csv")
    folder = tmp_path / "events"
    folder.mkdir()
    for i, (start, stop, group) in enumerate(((0, 20_000, 7_000), (20_000, 110_000, 30_000),
                                              (110_000, len(events), 70_000))):
        events.iloc[start:stop].to_parquet(folder / f"part-{i:02d}.parquet", index=False, row_group_size=group)
    common = ["features", "--profiles", DATA / "profiles.jsonl", "--events", folder, "--labels", DATA / "labels.csv",
              "--spec", SPEC, "--tags", TAGS]
    one = cli(*common, "--out", tmp_path / "one.parquet", "--report", tmp_path / "one.json")
    assert one.returncode == 0, one.stderr
    dist = cli(*common, "--out", tmp_path / "dist.parquet", "--report", tmp_path / "dist.json", "--cluster", "local:2")
    assert dist.returncode == 0, dist.stderr
    assert (tmp_path / "dist.parquet").read_bytes() == (tmp_path / "one.parquet").read_bytes()
    text = " ".join(dist.stdout.split())
    assert "30,000 rows x 71 columns" in text and "180,000 of 180,000 events" in text and "engine dask+duckdb" in text
    one_report, dist_report = (json.loads((tmp_path / f"{n}.json").read_text()) for n in ("one", "dist"))
    assert dist_report.pop("engine") == "dask+duckdb" and one_report.pop("engine") == "duckdb"
    one_report.pop("seconds"), dist_report.pop("seconds")  # timings: the cluster's steps are not timed apart
    assert dist_report == one_report and dist_report["warnings"] == []
    # a text cell among amounts: the same refusal, in the file and row of the folder on the cluster
    clients = events[events["client_id"] <= 200].astype({"bill_amount": str}).reset_index(drop=True)
    clients.loc[600 + 41, "bill_amount"] = "1,234"
    bad = tmp_path / "bad"
    bad.mkdir()
    clients.iloc[:600].to_parquet(bad / "a.parquet", index=False)
    clients.iloc[600:].to_parquet(bad / "b.parquet", index=False)
    pd.read_csv(DATA / "labels.csv").head(200).to_csv(tmp_path / "labels.csv", index=False)
    for extra, where in (([], f"file '{bad}', column 'bill_amount', row 642"),
                         (["--cluster", "local:2"], f"file '{bad / 'b.parquet'}', column 'bill_amount', row 42")):
        r = cli("features", "--events", bad, "--labels", tmp_path / "labels.csv", "--spec", SPEC,
                "--profiles", DATA / "profiles.jsonl", "--out", tmp_path / "bad.parquet", *extra)
        message = " ".join(r.stderr.split())
        assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
        assert f"error: {where}: 1 value(s) are not numbers, e.g. '1,234'" in message, message
        assert not (tmp_path / "bad.parquet").exists()
    # --as-of without profiles: one observation per entity of the events, in the order one machine finds them
    clean = tmp_path / "clean"
    clean.mkdir()
    first = events[events["client_id"] <= 200]
    first[first["client_id"] > 100].to_parquet(clean / "a.parquet", index=False)
    first[first["client_id"] <= 100].to_parquet(clean / "b.parquet", index=False)
    (tmp_path / "mini.yaml").write_text("entity: client_id\nevent_time: statement_month\nevent_period: month\n"
                                        "observation_date: observation_date\nwindows: [3m]\n"
                                        "features:\n  - {name: 'bill_{window}', column: bill_amount, agg: sum}\n")
    for name, extra in (("one", []), ("dist", ["--cluster", "local:2"])):
        r = cli("features", "--events", clean, "--as-of", "2005-09-30", "--spec", tmp_path / "mini.yaml",
                "--engine", "pandas", "--out", tmp_path / f"asof_{name}.csv", *extra)
        assert r.returncode == 0, r.stderr
    assert (tmp_path / "asof_dist.csv").read_bytes() == (tmp_path / "asof_one.csv").read_bytes()
    assert pd.read_csv(tmp_path / "asof_dist.csv")["client_id"].tolist() == [*range(101, 201), *range(1, 101)]
    # events as CSV, or an engine that does not exist: refused before a cluster starts
    r = cli(*common, "--out", tmp_path / "x.parquet", "--cluster", "local:2", "--events", DATA / "statements.csv")
    assert r.returncode == 2 and "--cluster reads Parquet, not .csv files" in " ".join(r.stderr.split()), r.stderr
    r = cli(*common, "--out", tmp_path / "x.parquet", "--cluster", "local:2", "--engine", "spark")
    assert r.returncode == 2 and "unknown engine 'spark'; expected one of ['duckdb', 'pandas']" in r.stderr, r.stderr
    assert not (tmp_path / "x.parquet").exists()


def test_hints_name_the_command_line_flags_and_as_of_and_time_format(tmp_path):
    labels = "client_id,observation_date\n7,2024-01-15\n"
    code, text, out = mini(tmp_path, "client_id,ts,amount\n7,2024-01-10,10\n8,2024-01-10,5\n", labels)
    assert code == 2 and "--drop-unknown-entities" in text and "on_unknown_entity: drop" in text, text
    code, text, out = mini(tmp_path, "client_id,ts,amount\n7,2024-01-10,10\n7,2024-01-10,10\n", labels)
    assert code == 2 and "--drop-duplicates" in text and "on_duplicate: drop" in text, text
    code, text, out = mini(tmp_path, "client_id,ts,amount\n7,10/01/2024,10\n", labels)
    assert code == 2 and "column 'ts'" in text and "time_format" in text, text
    (tmp_path / "ev.csv").write_text("client_id,ts,amount\n7,2024-01-10,10\n", encoding="utf-8")
    code, text = invoke("features", "--events", tmp_path / "ev.csv", "--spec", tmp_path / "spec.yaml",
                        "--as-of", "01/02/2024", "--out", tmp_path / "o.csv")
    assert code == 2 and text.startswith("error: --as-of '01/02/2024' is not a date/time") and "row" not in text, text
    assert not (tmp_path / "o.csv").exists()
    code, text = invoke("features", "--help")
    assert code == 0 and "Behaviour events: CSV, Parquet or" in text and "Excel" in text, text


def test_features_shows_its_steps_on_a_terminal(small, tmp_path):
    """A million clients take a minute or more: on a terminal a spinner names the step under way (reading the
    profiles, the events, building, writing); TTY_COMPATIBLE=1 makes rich treat the captured stderr as one."""
    import os
    import subprocess
    import sys

    d, _, _ = small
    r = subprocess.run([sys.executable, "-m", "creditflow", "features", "--profiles", str(d / "profiles.jsonl"),
                        "--events", str(d / "events.csv"), "--labels", str(d / "labels.csv"), "--spec", str(SPEC),
                        "--out", str(tmp_path / "f.parquet")], capture_output=True, text=True, timeout=300,
                       env={**os.environ, "TTY_COMPATIBLE": "1", "COLUMNS": "300"})
    assert r.returncode == 0, r.stderr
    for step in (f"reading {d / 'profiles.jsonl'}", f"reading {d / 'events.csv'}", "building the features",
                 f"writing {tmp_path / 'f.parquet'}"):
        assert step in r.stderr, (step, r.stderr)


def test_derived_features_naming_absent_profile_columns_stop_before_a_cluster_is_reached(tmp_path):
    """`--cluster` with profiles lacking a column a derived feature reads was refused only after the cluster had
    started and the events were shuffled (13 s on the UCI files with local:1; minutes on a large table): the
    derived features and tags now run on no rows first. No scheduler listens at the address given here."""
    profiles = tmp_path / "profiles.jsonl"
    with open(DATA / "profiles.jsonl", encoding="utf-8") as src, open(profiles, "w", encoding="utf-8") as dst:
        for line in src:
            record = json.loads(line)
            record.pop("account")
            dst.write(json.dumps(record) + "\n")
    events = tmp_path / "events.parquet"
    pd.read_csv(DATA / "statements.csv").to_parquet(events, index=False)
    why = "derived feature 'utilisation_m1': expression 'bill_m1 / account__credit_limit' names column(s) not in the data"
    for extra in ([], ["--cluster", "tcp://127.0.0.1:9"]):
        code, text = invoke("features", "--profiles", profiles, "--events", events, "--labels", DATA / "labels.csv",
                            "--spec", SPEC, "--out", tmp_path / "f.parquet", *extra)
        assert code == 2 and why in text, text
        assert not (tmp_path / "f.parquet").exists()
    # a tag rule reading a column nobody makes is refused the same way, by the one-machine build too
    tags = tmp_path / "tags.yaml"
    tags.write_text("tags:\n  rich:\n    - {when: 'income > 5', value: 'yes'}\n    - {value: 'no'}\n", encoding="utf-8")
    code, text = invoke("features", "--profiles", DATA / "profiles.jsonl", "--events", events, "--labels",
                        DATA / "labels.csv", "--spec", SPEC, "--tags", tags, "--out", tmp_path / "f.parquet",
                        "--cluster", "tcp://127.0.0.1:9")
    assert code == 2 and "income" in text and "tcp://" not in text, text

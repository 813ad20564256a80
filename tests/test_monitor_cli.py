"""`creditflow monitor` end to end: exit codes a scheduler acts on (0 stable, 3 warn, 4 alert, 2 bad input),
the self-contained HTML report, the Excel workbook and the JSON summary."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pandas as pd
import pytest
from openpyxl import load_workbook

from tests.conftest import UCI, UCI_TARGET

CLI = [sys.executable, "-m", "creditflow"]


def run(*args: object) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *map(str, args)], capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("monitor_cli")
    raw = pd.read_csv(UCI)
    dev = raw.sample(8000, random_state=13)
    dev.to_csv(d / "dev.csv", index=False)
    r = run("train", d / "dev.csv", "--target", UCI_TARGET, "--id", "ID", "--no-report", "--out", d / "out")
    assert r.returncode == 0, r.stderr
    live = raw.drop(dev.index)
    live.sample(6000, random_state=1).drop(columns=UCI_TARGET).to_csv(d / "stable.csv", index=False)
    live[live["AGE"] < 30].assign(month="2024-06").to_csv(d / "young.csv", index=False)
    return d


def test_stable_population_exits_0_with_report(files):
    d = files
    r = run("monitor", d / "out" / "model", d / "stable.csv", "--out", d / "s.html", "--json", d / "s.json")
    assert r.returncode == 0, r.stderr
    assert "STABLE" in r.stdout
    summary = json.loads((d / "s.json").read_text())
    assert summary["status"] == "stable" and summary["exit_code"] == 0 and summary["rows"] == 6000
    html = (d / "s.html").read_text(encoding="utf-8")
    assert html.startswith("<!DOCTYPE html>") or html.lstrip().lower().startswith("<!doctype html>")
    assert "<svg" in html and not re.search(r"""(src|href)=["']?(https?:)?//""", html)


def test_encoding_reads_a_utf16_table_as_the_utf8_one(files):
    d = files
    pd.read_csv(d / "stable.csv").to_csv(d / "stable16.csv", index=False, encoding="utf-16")
    r = run("monitor", d / "out" / "model", d / "stable16.csv", "--out", d / "u.html")
    assert r.returncode == 2 and "--encoding" in r.stderr  # neither UTF-8 nor GBK
    for name, extra in (("stable16", ["--encoding", "utf-16"]), ("stable", [])):
        r = run("monitor", d / "out" / "model", d / f"{name}.csv", *extra, "--out", d / "u.html",
                "--json", d / f"{name}.json")
        assert r.returncode == 0, r.stderr
    a, b = (json.loads((d / n).read_text()) for n in ("stable.json", "stable16.json"))
    assert a["score"] == b["score"] and a["rows"] == b["rows"] == 6000


def test_alert_exits_4_and_warn_exits_3(files):
    d = files
    model = d / "out" / "model"
    r = run("monitor", model, d / "young.csv", "--time", "month", "--out", d / "y.html", "--xlsx", d / "y.xlsx",
            "--json", d / "y.json")
    assert r.returncode == 4, r.stderr
    assert "ALERT" in r.stdout and "AGE" in r.stdout
    summary = json.loads((d / "y.json").read_text())
    age = next(v for v in summary["variables"] if v["variable"] == "AGE")
    assert age["status"] == "alert" and summary["performance"]["summary"]["labelled"] > 0
    assert {"Summary", "Inputs", "Realised performance"} <= set(load_workbook(d / "y.xlsx").sheetnames)
    # the same data with the alert threshold above AGE's CSI is a warning
    r = run("monitor", model, d / "young.csv", "--warn", "0.10", "--alert", str(age["csi"] * 1.5),
            "--out", d / "w.html", "--json", d / "w.json")
    assert r.returncode == 3, r.stderr
    assert json.loads((d / "w.json").read_text())["status"] == "warn"


def test_bad_input_exits_2_with_one_line_and_no_report(files, tmp_path):
    d = files
    model = d / "out" / "model"
    pd.read_csv(d / "stable.csv").drop(columns=["PAY_0"]).to_csv(tmp_path / "lacking.csv", index=False)
    cases = [
        (["monitor", model, tmp_path / "lacking.csv", "--out", tmp_path / "a.html"], "PAY_0"),
        (["monitor", model, d / "stable.csv", "--warn", "0.3", "--alert", "0.2", "--out", tmp_path / "b.html"],
         "warn < alert"),
    ]
    for args, expected in cases:
        r = run(*args)
        assert r.returncode == 2, (args, r.stdout, r.stderr)
        assert expected in r.stderr and "Traceback" not in r.stderr, r.stderr
        assert len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert not list(tmp_path.glob("*.html"))


def test_too_few_rows_exit_5_and_min_rows_sets_the_bar(files):
    # 50 young applicants: AGE really moved, but 50 rows are too few to judge by default (exit 5, not 4);
    # --min-rows 50 judges them.
    d = files
    model = d / "out" / "model"
    pd.read_csv(d / "young.csv").head(50).to_csv(d / "young50.csv", index=False)
    r = run("monitor", model, d / "young50.csv", "--out", d / "i.html", "--json", d / "i.json")
    assert r.returncode == 5, r.stderr
    assert r.stdout.startswith("INSUFFICIENT") and "Traceback" not in r.stderr
    assert "insufficient data: 50 rows, at least 500 are needed" in " ".join(r.stderr.split())
    summary = json.loads((d / "i.json").read_text())
    assert summary["status"] == "insufficient" and summary["exit_code"] == 5
    assert summary["sample"]["enough_rows"] is False and summary["thresholds"]["min_rows"] == 500
    assert "INSUFFICIENT" in (d / "i.html").read_text(encoding="utf-8")
    r = run("monitor", model, d / "young50.csv", "--min-rows", "50", "--out", d / "j.html")
    assert r.returncode == 4, r.stderr
    assert "ALERT" in r.stdout and "AGE" in r.stdout


def test_an_output_path_that_is_a_directory_is_refused_and_left_alone(files, tmp_path):
    d = files
    model = d / "out" / "model"
    work = tmp_path / "work"
    (work / "sub").mkdir(parents=True)
    (work / "keep.txt").write_text("mine")
    (work / "reports").mkdir()
    (work / "reports" / "old.html").write_text("old")
    for extra in (["--json", "."], ["--json", "reports"], ["--xlsx", "reports"]):
        r = subprocess.run([*CLI, "monitor", str(model), str(d / "stable.csv"), "--out", "m.html", *extra],
                           capture_output=True, text=True, timeout=300, cwd=work)
        assert r.returncode == 2, (extra, r.stdout, r.stderr)
        assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    (work / "r.html").mkdir()
    r = subprocess.run([*CLI, "monitor", str(model), str(d / "stable.csv"), "--out", "r.html"],
                       capture_output=True, text=True, timeout=300, cwd=work)
    assert r.returncode == 2 and "existing directory" in r.stderr, r.stderr
    assert (work / "keep.txt").read_text() == "mine" and (work / "sub").is_dir()
    assert (work / "reports" / "old.html").read_text() == "old"


def test_the_console_says_why_an_input_alerts(files, tmp_path):
    import os

    d = files
    model = d / "out" / "model"
    features = json.loads((model / "model.json").read_text())["features"]
    blank = pd.read_csv(d / "stable.csv").assign(**{features[0]: None})
    blank.to_csv(tmp_path / "blank.csv", index=False)
    r = subprocess.run([*CLI, "monitor", str(model), str(tmp_path / "blank.csv"), "--out", str(tmp_path / "b.html")],
                       capture_output=True, text=True, timeout=300, env={**os.environ, "COLUMNS": "250"})
    assert r.returncode == 4, r.stderr
    line = next(x for x in r.stdout.splitlines() if f" {features[0]} " in x and "alert" in x)
    assert "missing rate 0.0% at training, 100.0% now" in line, r.stdout


def test_the_headline_says_when_no_finding_counted(files, tmp_path):
    # one row with a typo'd month is a period of its own: its PSI is at alert, shown but not counted. The
    # headline said "too few rows" although the run had plenty: it names the small period as the reason
    import os

    d = files
    data = pd.read_csv(d / "stable.csv").assign(month="2024-06")
    data.loc[0, "month"] = "2024-07"
    data.to_csv(tmp_path / "typo.csv", index=False)
    r = subprocess.run([*CLI, "monitor", str(d / "out" / "model"), str(tmp_path / "typo.csv"), "--time", "month",
                        "--out", str(tmp_path / "t.html")], capture_output=True, text=True, timeout=300,
                       env={**os.environ, "COLUMNS": "250"})
    assert r.returncode == 0, r.stderr
    assert re.search(r"\d+ finding\(s\) at warn or alert, none counted: their periods have fewer than "
                     r"--min-period-rows 1,000 rows", r.stdout), r.stdout
    assert "too few rows" not in r.stdout


def test_an_output_that_is_an_input_table_is_refused(files, tmp_path):
    d = files
    book = tmp_path / "live.xlsx"
    pd.read_csv(d / "stable.csv").head(800).to_excel(book, index=False)
    before = book.read_bytes()
    r = run("monitor", d / "out" / "model", book, "--out", tmp_path / "m.html", "--xlsx", book)
    assert r.returncode == 2 and "--xlsx is the table being monitored: it would be overwritten" in r.stderr
    assert book.read_bytes() == before and not (tmp_path / "m.html").exists()
    labels = tmp_path / "labels.csv"
    pd.read_csv(UCI).head(800)[["ID", UCI_TARGET]].to_csv(labels, index=False)
    r = run("monitor", d / "out" / "model", d / "stable.csv", "--labels", labels, "--target", UCI_TARGET,
            "--out", tmp_path / "m.html", "--json", labels)
    assert r.returncode == 2 and "--json is the --labels table" in r.stderr
    assert "ID" in labels.read_text()


def test_sheet_reads_a_workbook_whose_data_is_not_first(files, tmp_path):
    d = files
    book = tmp_path / "live.xlsx"
    with pd.ExcelWriter(book) as w:
        pd.DataFrame({"note": ["applications of June"]}).to_excel(w, sheet_name="README", index=False)
        pd.read_csv(d / "stable.csv").head(800).to_excel(w, sheet_name="data", index=False)
    r = run("monitor", d / "out" / "model", book, "--out", tmp_path / "m.html")
    text = " ".join(r.stderr.split())
    assert r.returncode == 2 and "read sheet 'README'" in text and "choose the sheet with --sheet NAME" in text, text
    r = run("monitor", d / "out" / "model", book, "--sheet", "data", "--out", tmp_path / "m.html",
            "--json", tmp_path / "m.json")
    assert r.returncode in (0, 3, 4), r.stderr
    assert json.loads((tmp_path / "m.json").read_text())["rows"] == 800

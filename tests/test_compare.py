"""Champion vs challenger: the numbers agree with the metric functions, the swap set with the decisions,
and the CLI writes JSON/HTML and refuses bad input with exit status 2."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import creditflow as cf
from creditflow.bundle import save_bundle
from creditflow.data import CreditflowError
from creditflow.evaluation import auc, delong_test, ks
from creditflow.evaluation.compare import compare_models, comparison_tables
from creditflow.models.gbdt import GBDTModel
from tests.conftest import UCI, UCI_TARGET


def run(*args):
    """The real `creditflow` command line, in process."""
    from typer.testing import CliRunner

    from creditflow.cli import _load_commands, app

    _load_commands()
    return CliRunner().invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def uci():
    return cf.read_table(UCI, UCI_TARGET, id="ID").subset(np.arange(6000))


@pytest.fixture(scope="module")
def models(uci):
    card = cf.Scorecard().fit(uci.train)
    gbdt = GBDTModel(folds=3, learning_rate=0.1, early_stopping=30, tune=False).fit(uci.train)
    return card, gbdt


def test_numbers_agree_with_the_metric_functions(models, uci):
    card, gbdt = models
    result = compare_models(card, gbdt, uci.test, cutoff=580)
    y = uci.test.y
    pa = card.predict_proba(uci.test)[:, 1]
    pb = gbdt.predict_proba(uci.test)[:, 1]
    summary = result.summary.set_index("model")
    assert summary.loc["champion", "auc"] == pytest.approx(auc(y, pa))
    assert summary.loc["challenger", "auc"] == pytest.approx(auc(y, pb))
    assert summary.loc["challenger", "ks"] == pytest.approx(ks(y, pb).statistic)
    test = delong_test(y, pb, pa)
    assert result.delong["difference"] == pytest.approx(test["difference"])
    assert result.delong["p_value"] == pytest.approx(test["p_value"])
    sa = card.scores(uci.test)["score"].to_numpy()
    sb = gbdt.scores(uci.test)["score"].to_numpy()
    swap = result.swap.set_index("segment")
    out = (sa >= 580) & (sb < 580)
    assert swap.loc["swap-out", "count"] == out.sum()
    assert swap.loc["swap-out", "bads"] == y[out].sum()
    assert swap.loc["swap-in", "count"] == ((sa < 580) & (sb >= 580)).sum()
    assert swap.loc["total", "count"] == len(y)
    assert summary.loc["challenger", "approval_rate"] == pytest.approx((sb >= 580).mean())
    cal = result.calibration
    assert set(cal["model"]) == {"champion", "challenger"}
    assert cal.groupby("model")["count"].sum().eq(len(y)).all()
    assert result.psi_value > 0
    # Hosmer-Lemeshow on a sample the models were not fitted on: as many degrees of freedom as groups
    from scipy.stats import chi2

    stat = summary.loc["challenger", "hl_statistic"]
    assert summary.loc["challenger", "hl_p_value"] == pytest.approx(chi2.sf(stat, 10))


def test_a_model_against_itself(models, uci):
    card, _ = models
    result = compare_models(card, card, uci.test)
    assert result.delong["difference"] == 0 and result.psi_value == pytest.approx(0, abs=1e-12)
    swap = result.swap.set_index("segment")
    assert swap.loc["swap-in", "count"] == 0 and swap.loc["swap-out", "count"] == 0
    assert result.cutoff == card.scaling_.base_score
    tables = comparison_tables(card, card, uci.test)
    assert set(tables) == {"summary", "delong", "calibration", "psi", "swap"}
    assert all(isinstance(t, pd.DataFrame) for t in tables.values())
    with pytest.raises(CreditflowError, match="outside"):
        compare_models(card, card, uci.test, cutoff=10)


def test_cli_writes_json_and_html(models, uci, tmp_path):
    card, gbdt = models
    save_bundle(card, tmp_path / "champ", extras={"schema.json": {"target": UCI_TARGET, "fields": []}})
    save_bundle(gbdt, tmp_path / "chall")
    frame = pd.read_csv(UCI).iloc[4000:6000]
    frame.to_csv(tmp_path / "d.csv", index=False)
    r = run("compare", tmp_path / "champ", tmp_path / "chall", tmp_path / "d.csv", "--cutoff", "600",
            "--out", tmp_path / "c.json")
    assert r.exit_code == 0, r.output
    doc = json.loads((tmp_path / "c.json").read_text())
    assert doc["rows"] == 2000 and doc["cutoff"] == 600
    assert {s["model"] for s in doc["summary"]} == {"champion", "challenger"}
    assert sum(s["count"] for s in doc["swap"] if s["segment"] != "total") == 2000
    assert "DeLong" in r.stdout and "swap-out" in r.stdout
    r = run("compare", tmp_path / "champ", tmp_path / "chall", tmp_path / "d.csv", "--cutoff", "600",
            "--out", tmp_path / "c.html")
    assert r.exit_code == 0, r.output
    page = (tmp_path / "c.html").read_text(encoding="utf-8")
    assert "<h2>Swap set" in page
    # models named by their bundle folders; rates as percentages (the JSON keeps fractions)
    assert f"champion: {tmp_path / 'champ'}" in page and f"<td>{tmp_path / 'chall'}</td>" in page
    approval = next(s["approval_rate"] for s in doc["summary"] if s["model"] == "challenger")
    assert 0 < approval < 1 and f"{approval:.2%}" in page and f"bad rate {doc['bad_rate']:.2%}" in page
    assert set(doc) == {"champion", "challenger", "rows", "bad_rate", "cutoff", "same_scale", "notes", "summary",
                        "delong", "psi", "calibration", "swap"}


def test_cli_bad_input_exits_2(models, tmp_path):
    card, gbdt = models
    save_bundle(card, tmp_path / "champ")
    save_bundle(gbdt, tmp_path / "chall")
    frame = pd.read_csv(UCI).head(500)
    frame.drop(columns=["PAY_0"]).to_csv(tmp_path / "d.csv", index=False)
    r = run("compare", tmp_path / "champ", tmp_path / "chall", tmp_path / "d.csv", "--target", UCI_TARGET)
    assert r.exit_code == 2 and "PAY_0" in r.stderr
    frame.to_csv(tmp_path / "ok.csv", index=False)
    r = run("compare", tmp_path / "champ", tmp_path / "chall", tmp_path / "ok.csv")
    assert r.exit_code == 2 and "--target" in r.stderr
    r = run("compare", tmp_path / "champ", tmp_path / "chall", tmp_path / "ok.csv", "--target", UCI_TARGET,
            "--cutoff", "9999")
    assert r.exit_code == 2 and "outside" in r.stderr
    r = run("compare", tmp_path / "champ", tmp_path / "chall", tmp_path / "ok.csv", "--target", UCI_TARGET,
            "--out", tmp_path / "c.txt")
    assert r.exit_code == 2 and not (tmp_path / "c.txt").exists()
    frame.assign(PAY_0=None).to_csv(tmp_path / "blank.csv", index=False)
    r = run("compare", tmp_path / "champ", tmp_path / "chall", tmp_path / "blank.csv", "--target", UCI_TARGET)
    assert r.exit_code == 2 and "PAY_0" in r.stderr and "fill it" in r.stderr and "--exclude" not in r.stderr


def test_split_compares_on_the_rows_training_held_out_and_the_training_table_is_warned_of(tmp_path):
    from creditflow.workflow import train
    from tests.conftest import GERMAN

    data = cf.read_table(GERMAN, "creditability", bad="bad")
    train(data, tmp_path / "a", report=False)
    train(data, tmp_path / "b", kind="boosted-scorecard", report=False)
    champ, chall = tmp_path / "a" / "model", tmp_path / "b" / "model"
    r = run("compare", champ, chall, GERMAN, "--out", tmp_path / "all.json")
    assert r.exit_code == 0, r.output
    assert f"as many rows as the training table of {champ} (1,000)" in " ".join(r.stderr.split())
    r = run("compare", champ, chall, GERMAN, "--split", "--out", tmp_path / "held.json")
    assert r.exit_code == 0, r.output
    assert "comparing on the 300 rows training held out" in r.stdout and "training table" not in r.stderr
    held = json.loads((tmp_path / "held.json").read_text())
    assert held["rows"] == 300  # the test part of the 70/30 split
    expected = json.loads((tmp_path / "a" / "metrics.json").read_text())["splits"]["test"]["auc"]
    champion = next(s for s in held["summary"] if s["model"] == "champion")
    assert champion["auc"] == pytest.approx(expected)  # the very rows train evaluated the champion on
    # --split refuses what would bring training rows back: another split, another table, no training record
    train(data, tmp_path / "c", seed=7, report=False)
    r = run("compare", champ, tmp_path / "c" / "model", GERMAN, "--split")
    assert r.exit_code == 2 and "the challenger was trained on another split (seed differ" in " ".join(r.stderr.split())
    pd.read_csv(GERMAN).head(900).to_csv(tmp_path / "short.csv", index=False)
    r = run("compare", champ, chall, tmp_path / "short.csv", "--split")
    assert r.exit_code == 2 and "needs the training table (1,000 rows); this one has 900" in " ".join(r.stderr.split())
    save_bundle(cf.Scorecard().fit(data.train), tmp_path / "bare")
    r = run("compare", tmp_path / "bare", chall, GERMAN, "--split", "--target", "creditability", "--bad", "bad")
    assert r.exit_code == 2 and "the champion records no training split" in " ".join(r.stderr.split())
    # the challenger's own training table is warned of too
    r = run("compare", tmp_path / "bare", chall, GERMAN, "--target", "creditability", "--bad", "bad")
    assert r.exit_code == 0 and f"training table of {chall}" in " ".join(r.stderr.split())


def test_split_needs_the_time_column_training_held_out_by(tmp_path):
    from creditflow.workflow import train
    from tests.conftest import GERMAN

    frame = pd.read_csv(GERMAN).assign(month=[f"2024-{1 + i % 6:02d}" for i in range(1000)])
    frame.to_csv(tmp_path / "g.csv", index=False)
    data = cf.read_table(tmp_path / "g.csv", "creditability", bad="bad", time="month")
    for name in ("a", "b"):
        train(data, tmp_path / name, report=False)
    champ, chall = tmp_path / "a" / "model", tmp_path / "b" / "model"
    r = run("compare", champ, chall, tmp_path / "g.csv", "--split")
    assert r.exit_code == 0, r.output
    held = 1000 - json.loads((tmp_path / "a" / "metrics.json").read_text())["splits"]["train"]["rows"]
    assert f"comparing on the {held:,} rows training held out" in r.stdout
    frame.drop(columns="month").to_csv(tmp_path / "no_time.csv", index=False)
    r = run("compare", champ, chall, tmp_path / "no_time.csv", "--split")
    assert r.exit_code == 2 and "lacks the time column" in " ".join(r.stderr.split())


def test_text_in_a_model_column_names_the_file(models, tmp_path):
    card, gbdt = models
    save_bundle(card, tmp_path / "champ")
    save_bundle(gbdt, tmp_path / "chall")
    frame = pd.read_csv(UCI).head(500)
    frame.assign(PAY_0=frame["PAY_0"].astype(str) + "m").to_csv(tmp_path / "paytext.csv", index=False)
    r = run("compare", tmp_path / "champ", tmp_path / "chall", tmp_path / "paytext.csv", "--target", UCI_TARGET)
    text = " ".join(r.stderr.split())
    assert r.exit_code == 2 and f"error: file '{tmp_path / 'paytext.csv'}', column 'PAY_0', row 1" in text, text


def test_sheet_reads_a_workbook_whose_data_is_not_first(models, tmp_path):
    card, gbdt = models
    save_bundle(card, tmp_path / "champ")
    save_bundle(gbdt, tmp_path / "chall")
    book = tmp_path / "holdout.xlsx"
    with pd.ExcelWriter(book) as w:
        pd.DataFrame({"note": ["holdout"]}).to_excel(w, sheet_name="README", index=False)
        pd.read_csv(UCI).iloc[4000:5000].to_excel(w, sheet_name="data", index=False)
    r = run("compare", tmp_path / "champ", tmp_path / "chall", book, "--target", UCI_TARGET)
    text = " ".join(r.stderr.split())
    assert r.exit_code == 2 and "read sheet 'README'" in text and "choose the sheet with --sheet NAME" in text, text
    r = run("compare", tmp_path / "champ", tmp_path / "chall", book, "--target", UCI_TARGET, "--sheet", "data")
    assert r.exit_code == 0, r.output
    assert "on 1,000 rows" in r.stdout


def test_split_compares_test_and_oot_each_beside_the_pooled_rows(tmp_path):
    """A pooled difference can hide one that holds in one sample only: --split also shows test and oot."""
    from creditflow.workflow import train
    from tests.conftest import GERMAN

    frame = pd.read_csv(GERMAN).assign(month=[f"2024-{1 + i % 6:02d}" for i in range(1000)])
    frame.to_csv(tmp_path / "g.csv", index=False)
    data = cf.read_table(tmp_path / "g.csv", "creditability", bad="bad", time="month")
    train(data, tmp_path / "a", report=False)
    train(data, tmp_path / "b", kind="boosted-scorecard", report=False)
    champ, chall = tmp_path / "a" / "model", tmp_path / "b" / "model"
    r = run("compare", champ, chall, tmp_path / "g.csv", "--split", "--out", tmp_path / "c.json")
    assert r.exit_code == 0, r.output
    assert "by sample" in r.stdout and "oot" in r.stdout
    doc = json.loads((tmp_path / "c.json").read_text())
    by = {row["sample"]: row for row in doc["by_sample"]}
    assert list(by) == ["pooled", "test", "oot"] and set(doc["samples"]) == {"test", "oot"}
    assert by["test"]["rows"] + by["oot"]["rows"] == by["pooled"]["rows"] == doc["rows"]
    metrics = json.loads((tmp_path / "a" / "metrics.json").read_text())["splits"]
    role = data.roles()
    from creditflow.bundle import load_bundle

    a, b = load_bundle(champ), load_bundle(chall)
    for name, code in (("test", 1), ("oot", 2)):
        assert by[name]["rows"] == metrics[name]["rows"]
        assert by[name]["auc_champion"] == pytest.approx(metrics[name]["auc"])  # the rows train evaluated it on
        own = compare_models(a, b, data.subset(np.flatnonzero(role == code)), cutoff=doc["cutoff"])
        assert by[name]["difference"] == pytest.approx(own.delong["difference"])
        assert by[name]["z"] == pytest.approx(own.delong["z"])
        swap = own.swap.set_index("segment")
        assert by[name]["swap_in"] == swap.loc["swap-in", "count"]
        assert doc["samples"][name]["swap"] == json.loads(json.dumps(own.to_dict()["swap"]))
        approval = own.summary.set_index("model")["approval_rate"]
        assert by[name]["approval_rate_challenger"] == pytest.approx(approval["challenger"])
    r = run("compare", champ, chall, tmp_path / "g.csv", "--split", "--out", tmp_path / "c.html")
    page = (tmp_path / "c.html").read_text(encoding="utf-8")
    assert "<h2>By sample</h2>" in page and "Swap set at cutoff" in page and ": oot (" in page


def test_a_sample_of_one_class_is_left_out_with_a_note(models, uci):
    card, gbdt = models
    y = uci.test.y
    names = np.where(np.arange(len(y)) < len(y) // 2, "early", "late").astype(object)
    names[np.flatnonzero((names == "late") & (y == 0))[:20]] = "late goods"
    result = compare_models(card, gbdt, uci.test, samples=names)
    assert set(result.samples) == {"early", "late"}
    assert "sample 'late goods' holds only goods: not compared on its own" in result.notes
    assert result.samples["early"].rows == len(y) // 2
    assert "by_sample" in result.tables() and "samples" not in compare_models(card, gbdt, uci.test).to_dict()


def test_html_shows_small_p_values_as_numbers(models, uci):
    """The by-sample table printed every float to 4 decimals: a DeLong p of 5.6e-13 read 0.0000 in the HTML
    while the console and JSON gave the number."""
    card, gbdt = models
    names = np.where(np.arange(len(uci.test.y)) < len(uci.test.y) // 2, "early", "late").astype(object)
    result = compare_models(card, gbdt, uci.test, samples=names)
    result.samples["early"].delong["p_value"] = 5.6e-13
    page = result.to_html()
    assert "<td>5.6e-13</td>" in page
    assert f"<td>{result.samples['late'].delong['p_value']:.3g}</td>" in page

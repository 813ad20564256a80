"""`creditflow report` end to end on a saved bundle, and its clear errors (exit status 2)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from creditflow.cli import _load_commands, app
from creditflow.data import read_table
from creditflow.workflow import train

TARGET = "default.payment.next.month"


@pytest.fixture(scope="module")
def bundle(shared_data, tmp_path_factory):
    out = tmp_path_factory.mktemp("model")
    from creditflow.data import FieldDictionary
    from creditflow.datasets import UCI_TAIWAN_MEANINGS

    data = read_table(shared_data / "uci_taiwan" / "UCI_Credit_Card.csv", target=TARGET, id="ID",
                      dictionary=FieldDictionary(meanings=dict(UCI_TAIWAN_MEANINGS)))
    train(data, out)
    return out / "model"


@pytest.fixture(scope="module")
def runner() -> CliRunner:
    _load_commands()
    return CliRunner()


def test_report_with_split_and_oot_writes_html_and_xlsx(runner, bundle, shared_data, tmp_path):
    uci = shared_data / "uci_taiwan" / "UCI_Credit_Card.csv"
    frame = pd.read_csv(uci)
    oot = tmp_path / "oot.csv"
    frame[frame["ID"] > 25000].to_csv(oot, index=False)
    html, xlsx = tmp_path / "r.html", tmp_path / "r.xlsx"
    result = runner.invoke(app, ["report", str(bundle), str(uci), "--split", "--oot", str(oot),
                                 "--out", str(html), "--xlsx", str(xlsx)])
    assert result.exit_code == 0, result.output
    assert html.stat().st_size > 50_000 and xlsx.stat().st_size > 10_000
    text = html.read_text(encoding="utf-8")
    assert "train" in result.output and "oot" in result.output
    assert "PSI bins — train vs oot" in text and "credit limit (NT$)" in text  # the bundle's own dictionary


def test_target_defaults_to_the_training_one(runner, bundle, shared_data, tmp_path):
    html = tmp_path / "r.html"
    result = runner.invoke(app, ["report", str(bundle), str(shared_data / "uci_taiwan" / "UCI_Credit_Card.csv"),
                                 "--out", str(html)])
    assert result.exit_code == 0, result.output
    assert "data: 30,000 rows" in result.output


def test_data_without_a_model_column_exits_2_naming_it(runner, bundle, shared_data, tmp_path):
    frame = pd.read_csv(shared_data / "uci_taiwan" / "UCI_Credit_Card.csv").drop(columns=["PAY_0"])
    path = tmp_path / "no_pay0.csv"
    frame.to_csv(path, index=False)
    result = runner.invoke(app, ["report", str(bundle), str(path), "--out", str(tmp_path / "r.html")])
    assert result.exit_code == 2
    assert "PAY_0" in result.output and "no_pay0.csv" in result.output
    assert not (tmp_path / "r.html").exists()


def test_data_without_the_target_exits_2(runner, bundle, shared_data, tmp_path):
    frame = pd.read_csv(shared_data / "uci_taiwan" / "UCI_Credit_Card.csv").drop(columns=[TARGET])
    path = tmp_path / "unlabelled.csv"
    frame.to_csv(path, index=False)
    result = runner.invoke(app, ["report", str(bundle), str(path), "--out", str(tmp_path / "r.html")])
    assert result.exit_code == 2
    assert "target column not found" in result.output and TARGET in result.output


def test_bad_workbook_suffix_and_missing_bundle_exit_2(runner, bundle, shared_data, tmp_path):
    uci = str(shared_data / "uci_taiwan" / "UCI_Credit_Card.csv")
    r1 = runner.invoke(app, ["report", str(bundle), uci, "--xlsx", str(tmp_path / "r.xls")])
    assert r1.exit_code == 2 and ".xlsx" in r1.output
    r2 = runner.invoke(app, ["report", str(tmp_path / "nowhere"), uci])
    assert r2.exit_code == 2


def test_report_out_must_be_html(runner, bundle, shared_data, tmp_path):
    uci = str(shared_data / "uci_taiwan" / "UCI_Credit_Card.csv")
    for name in ("r5.pdf", "r.xlsx", "report"):
        result = runner.invoke(app, ["report", str(bundle), uci, "--out", str(tmp_path / name)])
        assert result.exit_code == 2, (name, result.output)
        assert "give an .html file" in result.output and name in result.output
        assert not (tmp_path / name).exists()
    result = runner.invoke(app, ["report", str(bundle), uci, "--out", str(tmp_path / "r.htm")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "r.htm").read_text(encoding="utf-8").lstrip().lower().startswith("<!doctype html")


def test_train_folder_for_the_bundle_suggests_dir_model_and_encoding_is_passed(runner, bundle, shared_data, tmp_path):
    uci = shared_data / "uci_taiwan" / "UCI_Credit_Card.csv"
    result = runner.invoke(app, ["report", str(bundle.parent), str(uci), "--out", str(tmp_path / "r.html")])
    assert result.exit_code == 2 and f"did you mean {bundle}?" in " ".join(result.output.split())
    data = tmp_path / "utf16.csv"
    pd.read_csv(uci).head(2000).to_csv(data, index=False, encoding="utf-16")
    result = runner.invoke(app, ["report", str(bundle), str(data), "--out", str(tmp_path / "r.html")])
    assert result.exit_code == 2 and "pass --encoding" in result.output
    result = runner.invoke(app, ["report", str(bundle), str(data), "--encoding", "utf-16",
                                 "--out", str(tmp_path / "r.html")])
    assert result.exit_code == 0, result.output
    assert "data: 2,000 rows" in result.output


def test_report_and_compare_judge_only_the_model_inputs(runner, bundle, shared_data, tmp_path):
    """A messy column the model does not use (excluded at training) does not stop report or compare."""
    frame = pd.read_csv(shared_data / "uci_taiwan" / "UCI_Credit_Card.csv")
    frame["NOTES"] = frame["LIMIT_BAL"].astype(object).where(frame.index != 3, "see file")  # text in numbers
    path = tmp_path / "with_notes.csv"
    frame.to_csv(path, index=False)
    result = runner.invoke(app, ["report", str(bundle), str(path), "--out", str(tmp_path / "r.html")])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["compare", str(bundle), str(bundle), str(path)])
    assert result.exit_code == 0, result.output
    # a model input with the same flaw is still refused, naming it
    frame["LIMIT_BAL"] = frame["NOTES"]
    frame.to_csv(path, index=False)
    result = runner.invoke(app, ["report", str(bundle), str(path), "--out", str(tmp_path / "r2.html")])
    assert result.exit_code == 2 and "LIMIT_BAL" in result.output and "row 4" in result.output


def test_the_bad_value_given_at_training_is_remembered(runner, shared_data, tmp_path):
    """german_credit coded 1 = good, 2 = bad: --bad 2 at training; report, compare and monitor then read
    the same coding without being told, while a 0/1 file still reads as 0/1."""
    frame = pd.read_csv(shared_data / "german_credit" / "germancredit.csv")
    frame["creditability"] = frame["creditability"].map({"good": 1, "bad": 2})
    path = tmp_path / "g12.csv"
    frame.to_csv(path, index=False)
    result = runner.invoke(app, ["train", str(path), "--target", "creditability", "--bad", "2", "--no-report",
                                 "--out", str(tmp_path / "o")])
    assert result.exit_code == 0, result.output
    model = str(tmp_path / "o" / "model")
    result = runner.invoke(app, ["report", model, str(path), "--out", str(tmp_path / "r.html")])
    assert result.exit_code == 0, result.output
    auc = float(result.output.split("AUC ")[1].split()[0])
    assert auc > 0.75  # read the other way round (1 = bad) it would be below 0.5
    import html

    page = html.unescape((tmp_path / "r.html").read_text(encoding="utf-8"))
    assert "Bad: the target's value '2' (--bad); the other value is good." in page and "Bad = 1" not in page
    result = runner.invoke(app, ["compare", model, model, str(path)])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["monitor", model, str(path), "--min-rows", "0", "--out", str(tmp_path / "m.html"),
                                 "--json", str(tmp_path / "m.json")])
    assert result.exit_code in (0, 3, 4), result.output
    import json

    summary = json.loads((tmp_path / "m.json").read_text())
    assert summary["performance"]["summary"]["bad_rate"] == pytest.approx(0.3)
    assert summary["performance"]["summary"]["auc"] > 0.75


def test_report_of_a_bundle_uses_its_reason_settings(runner, shared_data, tmp_path):
    """The reason-code section of `creditflow report` shows what `score` gives: the bundle's reference and
    protected variables, not the defaults."""
    german = shared_data / "german_credit" / "germancredit.csv"
    out = tmp_path / "g"
    result = runner.invoke(app, ["train", str(german), "--target", "creditability", "--bad", "bad",
                                 "--protected", "status_of_existing_checking_account", "--reason-reference", "p95",
                                 "--no-report", "--out", str(out)])
    assert result.exit_code == 0, result.output
    html = tmp_path / "r.html"
    result = runner.invoke(app, ["report", str(out / "model"), str(german), "--out", str(html)])
    assert result.exit_code == 0, result.output
    text = " ".join(html.read_text(encoding="utf-8").split())
    assert "reference &#x27;p95&#x27;" in text
    assert "Never given as reasons (protected): status_of_existing_checking_account" in text
    scored = tmp_path / "s.csv"
    assert runner.invoke(app, ["score", str(out / "model"), str(german), "--out", str(scored)]).exit_code == 0
    codes = pd.read_csv(scored)["reason_1_code"].dropna()
    from creditflow.bundle import load_bundle

    protected_code = next(c["code"] for c in load_bundle(out / "model").files["reason_codes.json"]["codes"]
                          if c["variable"] == "status_of_existing_checking_account")
    assert not codes.str.startswith(protected_code).any()


def test_split_keeps_its_own_out_of_time_sample_beside_a_later_one(runner, shared_data, tmp_path):
    frame = pd.read_csv(shared_data / "german_credit" / "germancredit.csv")
    frame["month"] = [f"2024-{1 + i % 6:02d}" for i in range(len(frame))]
    frame.to_csv(tmp_path / "g.csv", index=False)
    frame.head(300).assign(month="2025-01").to_csv(tmp_path / "later.csv", index=False)
    train(read_table(tmp_path / "g.csv", "creditability", bad="bad", time="month"), tmp_path / "o")
    result = runner.invoke(app, ["report", str(tmp_path / "o" / "model"), str(tmp_path / "g.csv"), "--split",
                                 "--oot", str(tmp_path / "later.csv"), "--out", str(tmp_path / "r.html")])
    assert result.exit_code == 0, result.output
    held_out = sum(1 for i in range(1000) if i % 6 == 5)  # the split's out-of-time sample: the last month
    assert f"oot: {held_out:,} rows" in result.output and "oot (later.csv): 300 rows" in result.output


def test_exclusions_dictionary_logic_and_declared_protected_reach_the_report(runner, shared_data, tmp_path):
    """train --exclude is recorded in metadata.json and listed (with its meaning) in the data summary; the
    dictionary's business logic stands beside the points; a --protected model variable is a fairness finding."""
    import json
    from html import escape

    from openpyxl import load_workbook

    german = shared_data / "german_credit" / "germancredit.csv"
    logic = "... < 0 DM 最差, no checking account 最好"
    pd.DataFrame({"variable": ["personal_status_and_sex", "status_of_existing_checking_account", "credit_amount"],
                  "meaning": ["性别及婚姻状况", "支票账户状态", "贷款金额"],
                  "业务逻辑说明": ["", logic, ""]}).to_csv(tmp_path / "dict.csv", index=False)
    out = tmp_path / "g"
    result = runner.invoke(app, ["train", str(german), "--target", "creditability", "--bad", "bad",
                                 "--exclude", "personal_status_and_sex", "--dictionary", str(tmp_path / "dict.csv"),
                                 "--protected", "status_of_existing_checking_account", "--out", str(out)])
    assert result.exit_code == 0, result.output
    training = json.loads((out / "model" / "metadata.json").read_text(encoding="utf-8"))["training"]
    assert training["excluded"] == ["personal_status_and_sex"] and training["target"] == "creditability"
    html = tmp_path / "r.html"
    result = runner.invoke(app, ["report", str(out / "model"), str(german), "--out", str(html),
                                 "--xlsx", str(tmp_path / "r.xlsx")])
    assert result.exit_code == 0, result.output
    for page in (out / "report.html", html):  # written by train, and by report from the bundle
        text = " ".join(page.read_text(encoding="utf-8").split())
        assert "Columns kept out of the model" in text and "excluded by the user" in text and "性别及婚姻状况" in text
        assert "status_of_existing_checking_account (declared protected: kept out of reasons, still scores)" in text
        assert f"Business logic (field dictionary): {escape(logic)}" in text
    cells = {c.value for ws in load_workbook(tmp_path / "r.xlsx").worksheets for row in ws.iter_rows() for c in row}
    assert "personal_status_and_sex" in cells and logic in cells


def test_a_report_without_training_rows_measures_psi_against_the_bundles_training_scores(
        runner, bundle, shared_data, tmp_path):
    """Before, `report DATA --oot OOT` took DATA as the PSI reference: no PSI for DATA, none against development,
    and no Gini drop. Now every sample gets a PSI against the training scores the bundle keeps."""
    from creditflow.bundle import load_bundle
    from creditflow.evaluation import psi
    from creditflow.report import build_report

    uci = shared_data / "uci_taiwan" / "UCI_Credit_Card.csv"
    data = read_table(uci, target=TARGET, id="ID")
    splits = data.split()  # as train split it: seed 42, test share 0.3
    b = load_bundle(bundle)
    report = build_report(b, {"data": splits["test"], "oot": data.subset(np.flatnonzero(data.ids.to_numpy() > 25000))})
    table = report.table("stability.psi").set_index("sample")
    assert set(table.index) == {"data", "oot"} and set(table["reference"]) == {"development"}
    train_scores = b.model.scores(splits["train"].X)["score"].to_numpy(dtype=float)
    for name, ds in (("data", splits["test"]), ("oot", data.subset(np.flatnonzero(data.ids.to_numpy() > 25000)))):
        expected = psi(train_scores, b.model.scores(ds.X)["score"].to_numpy(dtype=float)).value
        assert table.loc[name, "psi"] == pytest.approx(expected, rel=1e-12)
    checks = report.table("findings.checks")
    drop = checks[checks["check"].str.startswith("Gini drop from train")]
    assert list(drop["sample"]) == ["data", "oot"]  # every sample is judged
    train_gini = b.metadata["metrics"]["train"]["gini"]
    for i, name in enumerate(["data", "oot"]):
        gini = report.table("discrimination.metrics").set_index("sample").loc[name, "auc_pd"] * 2 - 1
        change = (train_gini - gini) / train_gini
        assert drop["value"].iloc[i] == (f"{change:.1%} lower than train" if change >= 0
                                         else f"{-change:.1%} higher than train")

    frame = pd.read_csv(uci)
    test_csv, oot_csv, html = tmp_path / "test.csv", tmp_path / "oot.csv", tmp_path / "r.html"
    frame[frame["ID"] <= 25000].to_csv(test_csv, index=False)
    frame[frame["ID"] > 25000].to_csv(oot_csv, index=False)
    result = runner.invoke(app, ["report", str(bundle), str(test_csv), "--oot", str(oot_csv), "--out", str(html)])
    assert result.exit_code == 0, result.output
    text = html.read_text(encoding="utf-8")
    assert "PSI bins — development vs data" in text and "PSI bins — development vs oot" in text


def test_an_output_that_is_data_or_the_oot_table_is_refused(runner, bundle, shared_data, tmp_path):
    """--xlsx naming the workbook being validated would replace its rows with the report's sheets."""
    book = tmp_path / "test.xlsx"
    pd.read_csv(shared_data / "uci_taiwan" / "UCI_Credit_Card.csv").head(1500).to_excel(book, index=False)
    before = book.read_bytes()
    csv = tmp_path / "test.csv"
    pd.read_excel(book).to_csv(csv, index=False)
    for args, words in (([str(book), "--xlsx", str(book)], "--xlsx is the table being reported on"),
                        ([str(csv), "--oot", str(book), "--xlsx", str(book)], "--xlsx is the --oot table")):
        result = runner.invoke(app, ["report", str(bundle), *args, "--out", str(tmp_path / "r.html")])
        text = " ".join(result.output.split())
        assert result.exit_code == 2, text
        assert text.startswith("error: file") and words in text and "would be overwritten" in text
        assert book.read_bytes() == before and not (tmp_path / "r.html").exists()


def test_an_output_under_an_existing_file_is_refused_before_the_work(runner, bundle, shared_data, tmp_path):
    """Before, --out existing.html/r.html ended in 'internal error: FileExistsError' (exit 1) once the report was
    built, and an --xlsx under a file left the HTML report behind."""
    uci = shared_data / "uci_taiwan" / "UCI_Credit_Card.csv"
    blocker = tmp_path / "existing.html"
    blocker.write_text("not a folder")
    for args in (["--out", str(blocker / "r.html")],
                 ["--out", str(tmp_path / "r.html"), "--xlsx", str(blocker / "sub" / "r.xlsx")]):
        result = runner.invoke(app, ["report", str(bundle), str(uci), *args])
        text = " ".join(result.output.split())
        assert result.exit_code == 2, text
        assert f"error: file '{blocker}'" in text and "lies under an existing file" in text, text
        assert not (tmp_path / "r.html").exists()


def test_text_in_a_model_column_names_the_file_of_the_sample(runner, bundle, shared_data, tmp_path):
    """With DATA and --oot, the error must say which of the two tables holds the text."""
    frame = pd.read_csv(shared_data / "uci_taiwan" / "UCI_Credit_Card.csv").head(2000)
    frame.to_csv(tmp_path / "test.csv", index=False)
    frame.assign(PAY_0=frame["PAY_0"].astype(str) + "m").to_csv(tmp_path / "oot.csv", index=False)
    result = runner.invoke(app, ["report", str(bundle), str(tmp_path / "test.csv"), "--oot", str(tmp_path / "oot.csv"),
                                 "--out", str(tmp_path / "r.html")])
    text = " ".join(result.output.split())
    assert result.exit_code == 2 and f"error: file '{tmp_path / 'oot.csv'}', column 'PAY_0', row 1" in text, text


def test_sheet_and_oot_sheet_read_a_workbook_whose_data_is_not_first(runner, bundle, shared_data, tmp_path):
    """A holdout workbook often opens with a notes sheet: --sheet (DATA) and --oot-sheet (--oot) choose the
    table, and the error without them names the option that reads the other sheet."""
    book = tmp_path / "holdout.xlsx"
    frame = pd.read_csv(shared_data / "uci_taiwan" / "UCI_Credit_Card.csv")
    with pd.ExcelWriter(book) as w:
        pd.DataFrame({"note": ["test and oot rows"]}).to_excel(w, sheet_name="README", index=False)
        frame.head(1500).to_excel(w, sheet_name="test", index=False)
        frame.tail(1500).to_excel(w, sheet_name="oot", index=False)
    html = tmp_path / "r.html"
    result = runner.invoke(app, ["report", str(bundle), str(book), "--out", str(html)])
    text = " ".join(result.output.split())
    assert result.exit_code == 2 and "read sheet 'README'" in text and "choose the sheet with --sheet NAME" in text
    result = runner.invoke(app, ["report", str(bundle), str(book), "--sheet", "test", "--oot", str(book),
                                 "--out", str(html)])
    text = " ".join(result.output.split())
    assert result.exit_code == 2 and "choose the sheet with --oot-sheet NAME" in text, text
    result = runner.invoke(app, ["report", str(bundle), str(book), "--sheet", "test", "--oot", str(book),
                                 "--oot-sheet", "oot", "--out", str(html)])
    assert result.exit_code == 0, result.output
    assert "data: 1,500 rows" in result.output and "oot: 1,500 rows" in result.output
    result = runner.invoke(app, ["report", str(bundle), str(book), "--oot-sheet", "oot", "--out", str(html)])
    assert result.exit_code == 2 and "give --oot FILE too" in result.output

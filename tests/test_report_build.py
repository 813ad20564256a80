"""The validation report of a real Scorecard on real data: numbers agree with independent computation."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from scipy.stats import ks_2samp
from sklearn.metrics import roc_auc_score

from creditflow.data import read_table
from creditflow.models.scorecard import Scorecard
from creditflow.report import Report, build_report

TARGET = "default.payment.next.month"


@pytest.fixture(scope="module")
def uci(shared_data):
    """UCI with the last 5,000 ids held out as an out-of-time-like sample."""
    data = read_table(shared_data / "uci_taiwan" / "UCI_Credit_Card.csv", target=TARGET, id="ID")
    ids = data.ids.to_numpy()
    early = data.subset(np.flatnonzero(ids <= 25000))
    splits = early.split()
    splits["oot"] = data.subset(np.flatnonzero(ids > 25000))
    return splits


@pytest.fixture(scope="module")
def card(uci) -> Scorecard:
    return Scorecard().fit(uci["train"])


@pytest.fixture(scope="module")
def report(card, uci) -> Report:
    return build_report(card, uci)


def test_sections_in_order(report):
    assert [s.key for s in report.sections] == [
        "findings", "summary", "selection", "model", "binning", "points", "reasons", "discrimination", "calibration",
        "stability", "strategy",
    ]
    assert "discrimination.metrics" in report.tables() and "stability.csi" in report.tables()


def test_reason_code_shares_match_the_reason_table(report, card, uci):
    from creditflow.scoring.reasons import reason_table

    t = report.table("reasons.codes").set_index("code")
    reasons = reason_table(card, uci["test"].X)
    first = reasons["reason_1_code"].value_counts(normalize=True)
    for code, share in first.items():
        if code:
            assert t.loc[code, "first_reason_share"] == pytest.approx(share)
    # every row has at most one first reason; a code is among the top four at least as often as it is first
    assert t["first_reason_share"].sum() <= 1 + 1e-9
    assert (t["top4_share"] >= t["first_reason_share"]).all()
    assert set(t["text"]) <= set(reasons["reason_1_text"]) | set(reasons["reason_4_text"]) | set(
        reasons["reason_2_text"]) | set(reasons["reason_3_text"])


def test_auc_gini_ks_agree_with_sklearn_and_scipy(report, card, uci):
    m = report.table("discrimination.metrics").set_index("sample")
    for name, ds in uci.items():
        score = card.scores(ds.X)["score"].to_numpy()
        assert m.loc[name, "auc"] == pytest.approx(roc_auc_score(ds.y, -score), abs=1e-12)
        assert m.loc[name, "gini"] == pytest.approx(2 * roc_auc_score(ds.y, -score) - 1, abs=1e-12)
        assert m.loc[name, "ks"] == pytest.approx(ks_2samp(score[ds.y == 1], score[ds.y == 0]).statistic, abs=1e-12)
        assert m.loc[name, "auc_low"] < m.loc[name, "auc"] < m.loc[name, "auc_high"]
        assert m.loc[name, "rows"] == len(ds)
        # the probability's AUC and KS, as metrics.json gives them
        pd_bad = card.predict_proba(ds.X)[:, 1]
        assert m.loc[name, "auc_pd"] == pytest.approx(roc_auc_score(ds.y, pd_bad), abs=1e-12)
        assert m.loc[name, "ks_pd"] == pytest.approx(ks_2samp(pd_bad[ds.y == 1], pd_bad[ds.y == 0]).statistic, abs=1e-12)


def test_the_ks_card_states_the_split_its_score_stands_for(report, card, uci):
    """Before, the KS card read "at score 555" (uci_taiwan scorecard, CLI test split of rows 1-20,000): the KS is that of rejecting scores at or below 555,
    while the report's cutoff strategy table approves at or above its cutoff, where 555 separates less (0.407
    against 0.411). The card and the table note now say which side the score falls on."""
    from creditflow.report.content import Metric

    m = report.table("discrimination.metrics").set_index("sample").loc["test"]
    score, y = card.scores(uci["test"].X)["score"].to_numpy(), uci["test"].y
    gap = lambda rejected: rejected[y == 1].mean() - rejected[y == 0].mean()  # noqa: E731
    t = m["ks_score"]
    assert gap(score <= t) == pytest.approx(m["ks"], abs=1e-12) and gap(score < t) < m["ks"]
    cards = [b for b in report.section("discrimination").blocks[0] if isinstance(b, Metric)]
    ks_card = next(c for c in cards if c.label == "KS")
    assert ks_card.detail == f"rejecting scores ≤ {t:g}"


def test_psi_of_the_score_by_hand(report, card, uci):
    ref = card.scores(uci["train"].X)["score"].to_numpy(dtype=float)
    act = card.scores(uci["oot"].X)["score"].to_numpy(dtype=float)
    cuts = np.unique(np.quantile(ref, np.arange(1, 10) / 10))
    e = np.bincount(np.searchsorted(cuts, ref, side="right"), minlength=len(cuts) + 1) / len(ref)
    a = np.bincount(np.searchsorted(cuts, act, side="right"), minlength=len(cuts) + 1) / len(act)
    by_hand = float(np.sum((a - e) * np.log(a / e)))
    table = report.table("stability.psi").set_index("sample")
    assert table.loc["oot", "psi"] == pytest.approx(by_hand, rel=1e-9)
    assert report.metrics["stability"]["oot"]["psi"] == pytest.approx(by_hand, rel=1e-9)


def test_csi_of_a_variable_by_hand(report, card, uci):
    var = card.features_[0]
    dev = card.binning_.binning_table(var)["share"].to_numpy()
    idx = card.binning_.bin_indices(uci["test"].X, [var])[var].to_numpy()
    act = np.bincount(idx, minlength=len(dev)) / len(idx)
    e, a = np.maximum(dev, 1e-4), np.maximum(act, 1e-4)
    csi = report.table("stability.csi").set_index("variable")
    assert csi.loc[var, "csi_test"] == pytest.approx(float(np.sum((a - e) * np.log(a / e))))


def test_calibration_by_grade_matches_the_scores(report, card, uci):
    scored = card.scores(uci["test"].X)
    t = report.table("calibration.grades.test").set_index("group")
    for grade, rows in scored.groupby("grade"):
        y = uci["test"].y[rows.index]
        assert t.loc[grade, "count"] == len(rows)
        assert t.loc[grade, "observed"] == pytest.approx(y.mean())
        assert t.loc[grade, "predicted"] == pytest.approx(rows["probability"].mean())


def test_binning_tables_carry_development_and_sample_columns(report, card):
    var = card.features_[0]
    t = report.table(f"binning.{var}")
    dev = card.binning_.binning_table(var)
    assert list(t["count"]) == list(dev["count"]) and t["share_test"].sum() == pytest.approx(1.0)
    assert {"woe", "iv", "points", "bad_rate_oot"} <= set(t.columns)
    assert t["points"].tolist() == card.points_[card.points_["variable"] == var]["points"].tolist()


def test_strategy_table_counts(report, card, uci):
    t = report.table("strategy.table")
    score = card.scores(uci["test"].X)["score"].to_numpy()
    row = t.iloc[len(t) // 2]
    approved = score >= row["cutoff"]
    assert row["approved"] == approved.sum()
    assert row["bad_rate_approved"] == pytest.approx(uci["test"].y[approved].mean())


def test_selection_lists_every_variable_with_a_reason_when_dropped(report, card):
    t = report.table("selection.iv_ranking")
    assert len(t) == len(card.selection_)
    dropped = t[t["status"] == "dropped"]
    assert len(dropped) and dropped["reason"].str.len().gt(0).all()
    assert set(t.loc[t["status"] == "selected", "variable"]) == set(card.features_)


def test_html_is_self_contained(report, tmp_path):
    path = report.to_html(tmp_path / "r.html")
    text = path.read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>") and '<meta charset="utf-8">' in text
    assert text.count("<svg") >= 30  # every chart is inline SVG: 23 binning charts and the rest
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", text)
    assert "<script" not in text and "@import" not in text
    for title in ("Summary of findings", "Data summary", "Binning", "Discrimination", "Calibration", "Stability",
                  "Cutoff strategy", "Sign-off"):
        assert title in text
    assert "cf-report" in report._repr_html_()


def test_excel_has_one_sheet_per_section_with_numbers(report, tmp_path):
    from openpyxl import load_workbook

    path = report.to_excel(tmp_path / "r.xlsx")
    wb = load_workbook(path)
    assert wb.sheetnames == ["Report"] + [s.title for s in report.sections]
    ws = wb["Discrimination"]
    cells = [c for row in ws.iter_rows() for c in row]
    auc = report.table("discrimination.metrics").set_index("sample").loc["test", "auc"]
    assert any(isinstance(c.value, float) and c.value == pytest.approx(auc) for c in cells)
    assert any(c.value == "Lift and gain by decile — test" for c in cells)


def test_a_single_sample_degrades_to_a_note(card, uci):
    r = build_report(card, uci["test"])
    assert r.metrics["stability"].get("data", {}).get("psi") is None
    notes = [b.text for b in r.section("stability").blocks if hasattr(b, "text")]
    assert any("second sample" in n for n in notes)
    assert isinstance(r.table("stability.csi"), pd.DataFrame)  # CSI still works against the development bins


def test_missing_model_column_or_target_is_a_clear_error(card, uci):
    from creditflow.data import DataError, Dataset, SchemaError

    test = uci["test"]
    var = card.features_[0]
    with pytest.raises(SchemaError, match=var) as err:
        build_report(card, {"test": Dataset(X=test.X.drop(columns=[var]), y=test.y, source="new.csv")})
    assert err.value.file == "new.csv" and err.value.column == var
    with pytest.raises(DataError, match="no target"):
        build_report(card, {"test": Dataset(X=test.X, y=None)})


def test_dictionary_logic_stands_beside_the_points_and_bins(report, card, uci):
    from creditflow.data import FieldDictionary

    var = card.features_[0]
    d = FieldDictionary(meanings={var: "还款状态"}, logic={var: "-1-按时还款，1..9-逾期月数"})
    r = build_report(card, uci["test"], dictionary=d)
    pts = r.table("points.table")
    assert set(pts.loc[pts["variable"] == var, "logic"]) == {"-1-按时还款，1..9-逾期月数"}
    assert set(pts.loc[pts["variable"] != var, "logic"]) == {""}
    assert r.tables()[f"binning.{var}"].note == "Business logic (field dictionary): -1-按时还款，1..9-逾期月数"
    assert r.tables()[f"binning.{card.features_[1]}"].note == ""
    assert "logic" not in report.table("points.table")  # no dictionary logic: no column


def test_excel_columns_fit_chinese_text(tmp_path):
    """Wide (Chinese) characters count two units of column width, as Excel draws them."""
    from openpyxl import load_workbook

    from creditflow.report.content import Section, Table

    meaning = "近6个月信用卡交易金额均值/标准差"  # 15 wide characters and 2 narrow ones
    frame = pd.DataFrame({"variable": ["x_054"], "meaning": [meaning]})
    r = Report("t", "", {"模型": "评分卡"}, [Section("s", "Stability", [Table("s.t", "CSI", frame)])])
    ws = load_workbook(r.to_excel(tmp_path / "r.xlsx"))["Stability"]
    assert ws.column_dimensions["B"].width >= 32
    from creditflow.report.excel import text_width

    assert text_width("x_054") == 5 and text_width(meaning) == 32


def test_excel_shows_a_tiny_p_value_as_the_page_does(tmp_path):
    """Before, a p-value of 2e-157 (PAY_0's Wald test on uci_taiwan) read '<0.0001' on the page but 0.0000 in
    Excel, whose format was '0.0000'; the cell keeps the number, and its format now shows '<0.0001' too."""
    from openpyxl import load_workbook

    from creditflow.report.content import Section, Table, format_value

    frame = pd.DataFrame({"variable": ["PAY_0", "AGE"], "p_value": [2.0e-157, 0.3912]})
    r = Report("t", "", {}, [Section("s", "Coefficients", [Table("s.t", "Wald tests", frame)])])
    assert "&lt;0.0001" in r.html() and format_value(2.0e-157, "p") == "<0.0001"
    ws = load_workbook(r.to_excel(tmp_path / "r.xlsx"))["Coefficients"]
    tiny, plain = ws["B5"], ws["B6"]
    assert tiny.value == pytest.approx(2.0e-157) and plain.value == pytest.approx(0.3912)
    assert tiny.number_format == plain.number_format == '[<0.0001]"<0.0001";0.0000'


def test_the_findings_show_a_tiny_hosmer_lemeshow_p_value_as_the_calibration_table_does(report):
    """Before, the checks wrote the HL p-value with '.4f': a gbdt's 1e-16 on uci_taiwan's training rows read
    0.0000 in the findings (page and workbook) beside '<0.0001' in the calibration summary."""
    from creditflow.report import findings as fnd

    calib = {name: {**c, "hl_p": 1.1e-16} for name, c in report.metrics["calibration"].items()}
    rows, _ = fnd.findings(report.metrics["discrimination"], calib, report.metrics["stability"], "test")
    values = {r["value"] for r in rows if r["check"] == "Hosmer–Lemeshow p-value"}
    assert values == {"<0.0001"}


def test_excel_keeps_text_starting_with_an_equals_sign_as_text(tmp_path):
    """Before, a category "=A, =B" or a dictionary meaning "=逾期天数/30" went into the workbook as a formula
    (openpyxl reads a leading '=' so): Excel computed it or refused the sheet and offered to repair it."""
    from openpyxl import load_workbook

    from creditflow.report.content import Section, Table

    frame = pd.DataFrame({"variable": ["x_001", "x_002"], "meaning": ["=逾期天数/30", "=SUM(A1:A3)"],
                          "bin": ["=A, =B", "-1"]})
    r = Report("t", "", {"note": "=1+1"}, [Section("s", "Data summary", [Table("s.t", "=Vars", frame)])])
    wb = load_workbook(r.to_excel(tmp_path / "r.xlsx"))
    cells = [c for ws in wb for row in ws.iter_rows() for c in row if c.value is not None]
    assert not [c.coordinate for c in cells if c.data_type == "f"]
    values = {c.value for c in cells}
    assert {"=逾期天数/30", "=SUM(A1:A3)", "=A, =B", "=Vars", "=1+1"} <= values


def test_data_summary_lists_the_columns_kept_out(report):
    """Without a bundle's metadata the samples' own roles are listed (here the target and the id)."""
    t = report.table("summary.kept_out").set_index("column")
    assert t.loc[TARGET, "role"] == "target" and t.loc["ID", "role"] == "id" and len(t) == 2


def test_model_section_shows_coefficients_standard_errors_vif_and_correlations(report, card, tmp_path):
    """Before, the report showed points only: no standard error, Wald p-value, VIF or WOE correlation."""
    t = report.table("model.coefficients").set_index("variable")
    pd.testing.assert_frame_equal(t[["coefficient", "std_error", "wald_z", "p_value", "vif"]],
                                  card.fit_statistics().set_index("variable"))
    corr = report.table("model.correlation").set_index("variable")
    assert list(corr.index) == list(card.features_) == list(corr.columns)
    text = report.html()
    assert "std_error" in text and "Correlation of the WOE variables" in text
    from openpyxl import load_workbook

    ws = load_workbook(report.to_excel(tmp_path / "r.xlsx"))["Coefficients and correlation"]
    values = [c.value for row in ws.iter_rows() for c in row]
    assert "p_value" in values and "vif" in values
    # Excel keeps 15-16 significant digits, so the stored value is within rounding of the card's
    assert any(isinstance(v, float) and v == pytest.approx(float(card.coef_se_[0]), rel=1e-14) for v in values)


def test_grades_empty_on_the_development_sample_are_flagged_with_bands_that_fit(report, card, uci):
    """Before, a card whose grades A and B held no applicant gave no hint; now the findings flag it and
    suggest bands at the development score quantiles, which leave no grade empty."""
    import json

    from creditflow.report.content import Note
    from creditflow.scoring.scaling import Grades, empty_grades

    scores = card.scores(uci["train"].X)["score"].to_numpy(dtype=float)
    held = set(card.grades_.assign(scores))
    empty = [g for g in card.grades_.names if g not in held]
    assert len(empty) >= 2  # the default bands (A from 700) sit above this portfolio's scores
    checks = report.table("findings.checks").set_index("check")
    row = checks.loc["grades holding no development rows (bands that do not fit the portfolio)"]
    assert row["sample"] == "train" and row["value"] == ", ".join(empty) and row["result"] == "warn"
    notes = [b.text for b in report.section("findings").blocks if isinstance(b, Note)]
    assert any("grades parameter" in t for t in notes)
    _, text = empty_grades(card.grades_, scores)
    bands = json.loads(re.search(r"grades='(\[.*?\])'", text).group(1))
    assert set(Grades(bands=[tuple(b) for b in bands]).assign(scores)) == {b[0] for b in bands}


def test_every_evaluation_sample_gets_the_discrimination_checks(card, uci):
    """Before, only the primary sample (test) was judged on AUC, KS and Gini drop: an out-of-time sample of the
    applicants with no current delinquency (uci_taiwan ids > 25,000 with PAY_0 <= 0; the card's Gini falls from
    about 0.54 on train to about 0.3 there) showed its numbers in the Discrimination section while every
    discrimination check read "ok". Now each sample but train is judged, the primary first."""
    from sklearn.metrics import roc_auc_score

    oot = uci["oot"]
    current = oot.subset(np.flatnonzero(oot.X["PAY_0"].to_numpy() <= 0))
    report = build_report(card, {"train": uci["train"], "test": uci["test"], "oot": current})
    checks = report.table("findings.checks")
    disc = checks[checks["area"] == "discrimination"]
    assert list(dict.fromkeys(disc["sample"])) == ["test", "oot"]
    score = lambda ds: card.scores(ds.X)["score"].to_numpy(dtype=float)  # noqa: E731
    gini = {n: 2 * roc_auc_score(ds.y, -score(ds)) - 1 for n, ds in (("train", uci["train"]), ("oot", current))}
    drop = (gini["train"] - gini["oot"]) / gini["train"]
    assert drop > 0.2  # the collapse the check must catch
    row = disc[(disc["sample"] == "oot") & (disc["check"] == "Gini drop from train")].iloc[0]
    assert row["value"] == f"{drop:.1%} lower than train" and row["result"] == "fail"
    metrics = report.table("discrimination.metrics").set_index("sample")
    oot_rows = disc[disc["sample"] == "oot"].set_index("check")
    assert oot_rows.loc["KS", "value"] == f"{metrics.loc['oot', 'ks']:.3f}"
    assert oot_rows.loc["AUC, lower 95% bound", "value"] == (f"{metrics.loc['oot', 'auc_low']:.3f} "
                                                             f"(AUC {metrics.loc['oot', 'auc']:.3f})")


def test_zigzag_bins_their_reversals_and_thin_bins_with_large_swings_are_flagged(shared_data):
    """Before, German credit_amount's zig-zag bins (one of 28 rows and 1 bad worth +76 points, the card's largest
    swing) passed without a word; now the Binning section and the findings flag them, with the numbers. The
    default binning now keeps that variable monotone; bins free of any trend (monotonic="none") still zig-zag."""
    german = read_table(shared_data / "german_credit" / "germancredit.csv", "creditability", bad="bad").split()
    card = Scorecard(binning={"monotonic": "none"}).fit(german["train"])
    report = build_report(card, german)
    flags = report.table("binning.flags")
    amount = flags[flags["variable"] == "credit_amount"]
    assert "bad rate not monotone over the bins" in set(amount["flag"])
    assert amount["flag"].str.startswith("bad-rate order reverses on test").any()
    thin = amount[amount["flag"].str.contains("training bads")]
    t = card.binning_.binning_table("credit_amount")
    pts = card.points_[card.points_["variable"] == "credit_amount"]["points"].to_numpy()
    i = int(np.argmax(np.abs(pts - pts @ t["count"].to_numpy() / t["count"].sum())))
    assert len(thin) == 1 and thin["detail"].iloc[0].startswith(f"{t['bin'].iloc[i]}: {int(t['count'].iloc[i])} rows, "
                                                                f"{int(t['bads'].iloc[i])} bad(s)")
    # every variable flagged not monotone is a numeric one whose training bad rate does change direction
    for var in flags.loc[flags["flag"] == "bad rate not monotone over the bins", "variable"]:
        vb = card.binning_.bins_[var]
        with np.errstate(invalid="ignore"):  # an empty bin has no rate
            rates = (np.asarray(vb.bads) / (np.asarray(vb.bads) + np.asarray(vb.goods)))[: len(vb.splits) + 1]
        steps = np.sign(np.diff(rates[np.isfinite(rates)]))
        assert vb.kind == "numeric" and (steps > 0).any() and (steps < 0).any()
    row = report.table("findings.checks").set_index("check").loc["model variables with bins to review (Binning section)"]
    assert "credit_amount" in row["value"] and row["result"] == "warn"


def test_a_boosted_cards_wide_points_on_an_unpredictive_variable_are_flagged():
    """Before, yinlian's x_020 (IV 0.003) spanning some 50 points on the boosted card (its partial effect)
    passed without a word; now the Binning section's bins to review name it, with its IV and spread."""
    from creditflow.models.boosted import BoostedScorecard
    from tests.conftest import YINLIAN

    data = read_table(YINLIAN, "y", id="user_id").split()
    card = BoostedScorecard().fit(data["train"])
    flags = build_report(card, data).table("binning.flags")
    wide = flags[flags["flag"] == "wide points spread on an unpredictive variable"].set_index("variable")
    assert "x_020" in wide.index
    spread = card.points_.groupby("variable")["points"].agg(lambda p: p.max() - p.min())
    for var, detail in wide["detail"].items():  # each one recomputed: IV under 0.02, spread half the widest or more
        iv = float(re.search(r"IV ([0-9.]+)", detail).group(1))
        assert iv < 0.02 and f"a spread of {spread[var]:.0f}" in detail, detail
        assert spread[var] >= spread[[v for v in card.features_ if v in spread.index]].max() / 2


def test_excel_freezes_and_filters_a_sheet_of_one_table(report, tmp_path):
    """A sheet holding one table keeps its header in view and can be filtered; a sheet of stacked tables (one per
    variable) is left unfrozen, as no one header fits all of them."""
    from openpyxl import load_workbook

    from creditflow.report.content import Section, Table

    frame = pd.DataFrame({"variable": ["PAY_0", "AGE", "LIMIT_BAL"], "iv": [0.86, 0.01, 0.17]})
    r = Report("t", "", {}, [Section("s", "Selection", [Table("s.t", "Variables", frame)])])
    ws = load_workbook(r.to_excel(tmp_path / "one.xlsx"))["Selection"]
    header = next(c.row for c in ws["A"] if c.value == "variable")
    assert ws.freeze_panes == f"A{header + 1}"
    assert ws.auto_filter.ref == f"A{header}:B{header + 3}"
    binning = load_workbook(report.to_excel(tmp_path / "r.xlsx"))["Binning"]
    assert binning.freeze_panes is None and not binning.auto_filter.ref

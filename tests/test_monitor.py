"""Monitoring on the UCI Taiwan data: the bundle's baseline, drift under selection shifts, periods, labels.

A scorecard is trained on 12,000 rows; the other 18,000 rows are the "live" population. Selecting
sub-populations from them (the young, the lowest credit limits) must move the variables that the
selection acts on, and leave alone the ones it does not.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from creditflow.bundle import load_bundle, save_bundle
from creditflow.data.errors import BundleError, CreditflowError, DataError
from creditflow.data.io import read_table
from creditflow.evaluation import csi as label_csi
from creditflow.monitor import Thresholds, build_baseline, monitor
from creditflow.workflow import train
from tests.conftest import GERMAN, UCI, UCI_TARGET

PAY_STATUS = ["PAY_0", "PAY_2", "PAY_3", "PAY_4", "PAY_5", "PAY_6"]
PAY_AMOUNTS = [f"PAY_AMT{i}" for i in range(1, 7)]


def make_bundle(out: Path, rows: int = 12_000, seed: int = 7) -> tuple[Path, pd.DataFrame, object]:
    """Train on `rows` UCI rows; return the bundle path, the other rows (live) and the training result."""
    raw = pd.read_csv(UCI)
    dev = raw.sample(rows, random_state=seed)
    result = train(read_table(dev, UCI_TARGET, id="ID"), out)
    return out / "model", raw.drop(dev.index).reset_index(drop=True), result


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    return make_bundle(tmp_path_factory.mktemp("monitor"))


@pytest.fixture(scope="module")
def model_dir(setup):
    return setup[0]


@pytest.fixture(scope="module")
def live(setup):
    return setup[1]


def status_of(result, var: str) -> str:
    v = result.drift.variables.set_index("variable")
    return v.loc[var, "status"]


# ---------------------------------------------------------------- baseline


def test_train_stores_a_verified_deterministic_baseline(setup, tmp_path):
    model_dir, _, result = setup
    bundle = load_bundle(model_dir)  # SHA-256 verified
    assert "baseline.json" in bundle.manifest["files"]
    doc = bundle.files["baseline.json"]
    model = bundle.model
    train_rows = result.splits["train"]
    assert doc["rows"] == len(train_rows)
    # the same fit on the same rows gives the same document
    assert build_baseline(result.model, train_rows) == json.loads((model_dir / "baseline.json").read_text())
    # each grade promised the mean predicted probability of its training rows
    scored = model.scores(train_rows.X)
    for g in doc["grades"]:
        mask = scored["grade"] == g["grade"]
        assert g["rows"] == int(mask.sum())
        if mask.any():
            assert g["promised_bad_rate"] == pytest.approx(scored.loc[mask, "probability"].mean())
            assert g["observed_bad_rate"] == pytest.approx(train_rows.y[mask.to_numpy()].mean())
        else:
            assert g["promised_bad_rate"] is None
    # model inputs are measured on the model's own bins, which hold the training counts
    by_name = {v["name"]: v for v in doc["variables"]}
    assert [v["name"] for v in doc["variables"] if v["in_model"]] == model.features_
    for var in model.features_:
        vb = model.binning_.bins_[var]
        entry = by_name[var]
        assert entry["source"] == "model bins" and entry["layout"]["splits"] == vb.splits
        counts = np.asarray(vb.goods) + np.asarray(vb.bads)
        np.testing.assert_allclose(entry["shares"], counts / counts.sum(), atol=1e-12)
        assert entry["min"] == train_rows.X[var].min() and entry["max"] == train_rows.X[var].max()
    assert sum(doc["score"]["shares"]) == pytest.approx(1.0)
    assert sum(doc["score"]["histogram"]["counts"]) == len(train_rows)


def test_bundle_without_baseline_needs_a_reference(setup, live, tmp_path):
    model_dir, _, result = setup
    bare = save_bundle(result.model, tmp_path / "bare")
    with pytest.raises(BundleError, match="no baseline.json"):
        monitor(bare, live.head(2000))
    ref = pd.read_csv(UCI).head(5000)
    r = monitor(bare, live.sample(5000, random_state=3), reference=ref)
    assert r.baseline.rows == 5000 and r.status == "stable"
    # ids and the outcome are no inputs: with --id / --target they are not monitored (new ids "drifted")
    later = live.sample(5000, random_state=3).assign(ID=lambda f: f["ID"] + 100_000)
    r = monitor(bare, later, reference=ref, id="ID", target=UCI_TARGET)
    monitored = set(r.drift.variables["variable"])
    assert "ID" not in monitored and UCI_TARGET not in monitored and "LIMIT_BAL" in monitored
    assert r.status == "stable"
    # a column of the baseline gone from the data is said, not skipped silently
    gone = [c for c in ref.columns if c not in result.model.features_ and c not in ("ID", UCI_TARGET)][:1]
    r = monitor(bare, later.drop(columns=gone), reference=ref, id="ID", target=UCI_TARGET)
    assert any(f"are not in the data and are not monitored: {gone[0]}" in n for n in r.notes), r.notes



@pytest.mark.parametrize("edit", ["grade", "min"])
def test_a_baseline_edited_into_non_numbers_is_refused_as_bad_input(setup, live, tmp_path, edit):
    # a baseline.json edited by hand and saved with its manifest (save_bundle's extras) stopped with an internal
    # error (exit 1): "could not convert string to float: 'x'" from the grade test, "'<' not supported between
    # float and str" from the range check; the other fields were already refused as an incomplete baseline
    model_dir, _, result = setup
    doc = json.loads((model_dir / "baseline.json").read_text())
    if edit == "grade":
        next(g for g in doc["grades"] if g["rows"])["promised_bad_rate"] = "x"
    else:
        doc["variables"][0]["min"] = "abc"
    bundle = save_bundle(result.model, tmp_path / "edited", extras={"baseline.json": doc})
    data = live.head(600)
    with pytest.raises(BundleError, match="baseline.json is incomplete"):
        monitor(bundle, data)


# ---------------------------------------------------------------- drift


def test_random_half_of_live_rows_is_stable(model_dir, live):
    r = monitor(model_dir, live.sample(frac=0.5, random_state=11))
    assert r.status == "stable" and r.exit_code == 0
    assert r.drift.score_psi < 0.02
    inputs = r.drift.variables[r.drift.variables["in_model"]]
    assert (inputs["csi"] < 0.02).all(), inputs
    assert not r.findings["level"].isin(["warn", "alert"]).any()


def test_young_applicants_move_age_and_not_repayment_status(model_dir, live):
    # Selecting AGE < 30 empties every age bin from 30 up: AGE must alert. Marital status follows age
    # (few under-30s are married): it moves too, and counts only if the model uses it. Repayment status
    # (PAY_*), sex and education are not selected on and barely depend on age: they stay stable.
    r = monitor(model_dir, live[live["AGE"] < 30])
    in_model = "MARRIAGE" in load_bundle(model_dir).model.features_
    assert r.status == "alert" and r.exit_code == 4
    assert status_of(r, "AGE") == "alert"
    for var in PAY_STATUS + ["SEX", "EDUCATION"]:
        assert status_of(r, var) == "stable", var
    f = r.findings.set_index("item")
    assert f.loc["AGE", "counts"] and f.loc["AGE", "area"] == "input"
    assert status_of(r, "MARRIAGE") in ("warn", "alert") and f.loc["MARRIAGE", "counts"] == in_model


def test_lowest_credit_limits_move_limit_and_payments(model_dir, live):
    # Only limits below 50,000: LIMIT_BAL alerts by construction; repayments are bounded by bills,
    # which are bounded by the limit, so PAY_AMT* move too; sex and marital status do not depend on it.
    r = monitor(model_dir, live[live["LIMIT_BAL"] < 50_000])
    assert status_of(r, "LIMIT_BAL") == "alert"
    for var in PAY_AMOUNTS:
        assert status_of(r, var) in ("warn", "alert"), var
    for var in ("SEX", "MARRIAGE"):
        assert status_of(r, var) == "stable", var
    # LIMIT_BAL carries points: the lowest limits score lower, so the score distribution moves
    assert "LIMIT_BAL" in load_bundle(model_dir).model.features_, "the premise: the scorecard uses LIMIT_BAL"
    assert r.mean_score < r.baseline.mean_score and r.thresholds.status(r.drift.score_psi) in ("warn", "alert")


def test_csi_matches_the_label_based_csi_of_evaluation(setup, live):
    # An independent path: creditflow.evaluation.csi on bin labels of the training rows and the live rows.
    model_dir, _, result = setup
    sub = live[live["AGE"] < 30]
    r = monitor(model_dir, sub)
    ours = r.drift.variables.set_index("variable")["csi"]
    train_x = result.splits["train"].X
    for var, vb in result.model.binning_.bins_.items():
        labels = np.asarray(vb.labels, dtype=object)
        expected = label_csi(labels[vb.bin_indices(train_x[var])], labels[vb.bin_indices(sub[var])])
        assert ours[var] == pytest.approx(expected.value, rel=1e-9), var


def test_missing_and_out_of_range_values_are_counted(model_dir, live):
    sub = live.sample(6000, random_state=5).reset_index(drop=True)
    sub.loc[:1799, "LIMIT_BAL"] = np.nan  # 30 % missing, never missing in training
    sub.loc[2000:2049, "AGE"] = 99  # above the training maximum
    r = monitor(model_dir, sub)
    v = r.drift.variables.set_index("variable")
    assert v.loc["LIMIT_BAL", "current_missing"] == pytest.approx(0.3)
    assert v.loc["LIMIT_BAL", "baseline_missing"] == 0.0 and v.loc["LIMIT_BAL", "status"] == "alert"
    assert v.loc["AGE", "out_of_range"] == 50 and "above the training maximum" in v.loc["AGE", "note"]
    kinds = set(zip(r.findings["area"], r.findings["item"], strict=True))
    assert ("missing", "LIMIT_BAL") in kinds and ("range", "AGE") in kinds


def test_unseen_categories_are_reported(tmp_path):
    raw = pd.read_csv(GERMAN)
    train(read_table(raw, "creditability", bad="bad"), tmp_path)
    live = raw.drop(columns="creditability").sample(400, random_state=1).reset_index(drop=True)
    bundle = load_bundle(tmp_path / "model")
    cat = next(v for v in bundle.model.features_ if bundle.model.binning_.bins_[v].kind == "categorical")
    live.loc[:39, cat] = "brand new value"
    r = monitor(tmp_path / "model", live)
    row = r.drift.variables.set_index("variable").loc[cat]
    assert row["out_of_range"] == 40 and "brand new value (40)" in row["note"]
    assert r.drift.bins[cat].set_index("bin").loc["Unseen", "current_count"] == 40


def test_a_column_excluded_from_the_model_is_watched_shown_only(tmp_path):
    # `train --exclude SEX` (a protected column, as the README recommends) left SEX out of baseline.json, so a
    # population turned all female gave no CSI at all. It is kept, not in_model: its CSI is shown, not counted.
    raw = pd.read_csv(UCI).sample(8000, random_state=5)
    raw["remark"] = [f"note {i}" for i in range(len(raw))]  # free text: the baseline lists its top 20 only
    train(read_table(raw.head(6000), UCI_TARGET, id="ID", exclude=["SEX", "remark"]), tmp_path)
    bundle = load_bundle(tmp_path / "model")
    assert "SEX" not in bundle.model.features_
    stored = {v["name"]: v for v in bundle.files["baseline.json"]["variables"]}
    assert stored["SEX"]["in_model"] is False and stored["remark"]["in_model"] is False
    assert len(stored["remark"]["layout"]["groups"]) == 20 and stored["remark"]["categories"] is None
    live = raw.tail(2000).assign(SEX=2)
    r = monitor(tmp_path / "model", live)
    row = r.drift.variables.set_index("variable").loc["SEX"]
    assert row["status"] == "alert" and not row["in_model"]
    assert r.status == "stable" and r.exit_code == 0  # shown only
    assert r.drift.variables.set_index("variable").loc["remark", "note"] == ""  # no "unseen" for free text
    # by period too: before, only the model's inputs had a CSI per period, so a protected column that moved in
    # one month of twelve was diluted in the whole-table CSI and named nowhere
    months = pd.concat([raw.tail(2000).assign(month="2024-01-10"), raw.tail(1500).assign(month="2024-02-10", SEX=2)],
                       ignore_index=True)
    r = monitor(tmp_path / "model", months, time="month")
    other = r.drift.other_csi_by_period.set_index("period")
    assert "SEX" in other.columns and "SEX" not in r.drift.csi_by_period.columns
    assert other.loc["2024-01", "SEX"] < 0.1 and other.loc["2024-02", "SEX"] >= 0.25
    found = r.findings[(r.findings["area"] == "other column") & (r.findings["period"] == "2024-02")]
    assert found["item"].tolist() == ["SEX"] and not found["counts"].any()
    assert "not a model input" in found["message"].iloc[0]
    assert r.status == "stable"
    assert r.summary()["other_csi_by_period"][1]["SEX"] == pytest.approx(other.loc["2024-02", "SEX"])
    few = pd.concat([months, raw.head(20).assign(month="2024-03-10", SEX=2)], ignore_index=True)
    tiny = monitor(tmp_path / "model", few, time="month").findings
    tiny = tiny[(tiny["area"] == "other column") & (tiny["period"] == "2024-03")]
    assert "not a model input, and only 20 rows: shown" in tiny["message"].iloc[0]


def test_a_watched_column_turned_text_is_shown_moved_and_the_run_goes_on(tmp_path):
    """SEX (numbers in training, not a model input) recoded M/F stopped the whole run with exit 2; it is shown
    as moved, without a CSI, and the model's inputs are still measured."""
    raw = pd.read_csv(UCI).sample(8000, random_state=5)
    train(read_table(raw.head(6000), UCI_TARGET, id="ID", exclude=["SEX"]), tmp_path)
    live = raw.tail(2000).assign(SEX=np.where(raw.tail(2000)["SEX"] == 1, "M", "F"))
    r = monitor(tmp_path / "model", live)
    row = r.drift.variables.set_index("variable").loc["SEX"]
    assert row["status"] == "alert" and not row["in_model"] and np.isnan(row["csi"])
    assert "not measured" in row["note"] and ("'M'" in row["note"] or "'F'" in row["note"])
    found = r.findings[r.findings["item"] == "SEX"]
    assert "not measured" in found["message"].iloc[0] and not found["counts"].any()
    assert r.status == "stable" and r.exit_code == 0
    assert r.drift.variables["in_model"].sum() == len(load_bundle(tmp_path / "model").model.features_)
    json.dumps(r.summary(), allow_nan=False)  # the JSON written stays valid
    assert "not measured" in r._repr_html_()
    with pytest.raises(CreditflowError, match="PAY_0"):  # a model input turned text is still refused
        monitor(tmp_path / "model", live.assign(PAY_0="late"))


def test_blank_text_cells_are_missing_in_the_schema_and_the_baseline(tmp_path):
    """Blank text cells of a DataFrame are missing to the model (its Missing bin); schema.json and the baseline
    counted NaN only, so the service refused null for the field (missing_rate 0) and monitoring showed a missing
    rate jumping from 0 to the same share on the same rows."""
    df = pd.read_csv(GERMAN)
    df.loc[df.index[::10], "purpose"] = ""  # a tenth of the rows blank
    train(read_table(df, "creditability", bad="bad"), tmp_path, report=False)
    bundle = load_bundle(tmp_path / "model")
    assert "purpose" in bundle.model.features_
    schema = {f["name"]: f for f in bundle.files["schema.json"]["fields"]}
    assert schema["purpose"]["missing_rate"] == pytest.approx(0.1)
    assert schema["duration_in_month"]["missing_rate"] == 0.0
    stored = {v["name"]: v for v in bundle.files["baseline.json"]["variables"]}
    assert stored["purpose"]["missing_rate"] == pytest.approx(0.1, abs=0.02)  # the training rows' share
    r = monitor(tmp_path / "model", df.drop(columns="creditability"))
    row = r.drift.variables.set_index("variable").loc["purpose"]
    assert abs(row["missing_change"]) < 0.02


def test_thresholds_are_configurable_and_checked(model_dir, live):
    young = live[live["AGE"] < 30]
    age = monitor(model_dir, young).drift.variables.set_index("variable").loc["AGE", "csi"]
    assert monitor(model_dir, young, thresholds=Thresholds(warn=age / 2, alert=age * 2)).status == "warn"
    assert monitor(model_dir, young, thresholds=Thresholds(warn=age * 2, alert=age * 3)).status == "stable"
    with pytest.raises(CreditflowError, match="warn < alert"):
        monitor(model_dir, young, thresholds=Thresholds(warn=0.3, alert=0.2))


# ---------------------------------------------------------------- periods


def _periods(live: pd.DataFrame, young_rows: int) -> pd.DataFrame:
    base = live.sample(6000, random_state=21).assign(month="2024-01-15")
    young = live[live["AGE"] < 30].sample(young_rows, random_state=22).assign(month="2024-02-03")
    return pd.concat([base, young], ignore_index=True)


def test_a_shifted_month_is_found_per_period(model_dir, live):
    r = monitor(model_dir, _periods(live, 2500), time="month")
    p = r.drift.periods.set_index("period")
    assert list(p.index) == ["2024-01", "2024-02"]
    assert p.loc["2024-01", "max_csi"] < 0.1 and p.loc["2024-01", "score_status"] == "stable"
    assert p.loc["2024-02", "max_csi_variable"] == "AGE" and p.loc["2024-02", "variables_alert"] >= 1
    assert r.status == "alert"
    per = r.findings[r.findings["period"] == "2024-02"].set_index("item")
    assert per.loc["AGE", "level"] == "alert" and per.loc["AGE", "counts"]


def test_small_periods_are_shown_but_do_not_count(model_dir, live):
    # 300 young applicants on top of 6,000 ordinary ones: overall nothing moves past the warning,
    # but their own month is far off. Below min_period_rows it is shown only; above, it alerts.
    data = _periods(live, 300)
    r = monitor(model_dir, data, time="month")
    assert r.drift.variables.set_index("variable").loc["AGE", "status"] == "stable"
    small = r.findings[r.findings["period"] == "2024-02"]
    assert len(small) and not small["counts"].any()
    assert r.status == "stable"
    assert monitor(model_dir, data, time="month", thresholds=Thresholds(min_period_rows=200)).status == "alert"


def test_daily_dates_with_one_typo_are_still_monthly_periods(model_dir, live):
    data = live.sample(3000, random_state=5).reset_index(drop=True)
    days = pd.date_range("2024-01-01", periods=90).strftime("%Y-%m-%d")
    data["day"] = np.sort(np.random.default_rng(0).choice(days, len(data)))
    data.loc[100, "day"] = "n/a?"
    r = monitor(model_dir, data, time="day")
    assert list(r.drift.periods["period"]) == ["2024-01", "2024-02", "2024-03", "n/a?"]
    assert any("1 row(s) hold a time that is not a date (first at row 101: 'n/a?')" in n for n in r.notes)


# ---------------------------------------------------------------- labels


def test_labels_joined_by_id_give_auc_and_grade_bad_rates(setup, live, tmp_path):
    model_dir, _, result = setup
    data = live.sample(8000, random_state=31).reset_index(drop=True)
    labels = data[["ID", UCI_TARGET]].sample(frac=1.0, random_state=1)  # another order
    labels.loc[labels.index[:1000], UCI_TARGET] = np.nan  # outcome not known yet
    labels.to_csv(tmp_path / "labels.csv", index=False)
    data.drop(columns=UCI_TARGET).to_csv(tmp_path / "data.csv", index=False)
    r = monitor(model_dir, tmp_path / "data.csv", labels=tmp_path / "labels.csv", target=UCI_TARGET, id="ID")
    known = data.set_index("ID")[UCI_TARGET].drop(labels["ID"].iloc[:1000])
    s = r.performance.summary
    assert s["labelled"] == 7000 and s["bads"] == int(known.sum())
    p = pd.Series(result.model.predict_proba(data)[:, 1], index=data["ID"]).loc[known.index]
    assert s["auc"] == pytest.approx(roc_auc_score(known, p), abs=1e-12)
    grades = pd.Series(result.model.scores(data)["grade"].to_numpy(), index=data["ID"]).loc[known.index]
    promised = {g.grade: g.promised_bad_rate for g in r.baseline.grades}
    for row in r.performance.grades.itertuples():
        mask = grades == row.grade
        assert row.count == int(mask.sum()) and row.observed == pytest.approx(known[mask].mean())
        assert row.promised == pytest.approx(promised[row.grade])


def test_realised_bad_rate_above_the_promise_warns(model_dir, live):
    # A downturn: half of the would-be goods are gone (or turned bad later). A grade whose rows went bad
    # at rate r now shows 2r / (1 + r), above what it promised; the outcome column in the data is used.
    goods = live[live[UCI_TARGET] == 0].sample(frac=0.5, random_state=3)
    downturn = pd.concat([goods, live[live[UCI_TARGET] == 1]], ignore_index=True)
    r = monitor(model_dir, downturn)
    g = r.performance.grades.set_index("grade")
    big = g[g["count"] >= 1000]
    assert len(big) >= 2
    assert (big["observed"] > big["promised"]).all() and (big["verdict"] == "underestimates").all()
    flagged = set(r.findings.loc[(r.findings["area"] == "performance") & r.findings["counts"], "item"])
    assert {f"grade {x}" for x in big.index} <= flagged
    # on an ordinary sample the promise holds
    ok = monitor(model_dir, live.sample(6000, random_state=8))
    assert not (ok.findings["area"] == "performance").any()


def test_performance_by_period(model_dir, live):
    data = _periods(live, 2500)
    r = monitor(model_dir, data, time="month")
    per = r.performance.periods.set_index("period")
    expected = data.groupby(data["month"].str[:7])[UCI_TARGET].mean()
    for period, rate in expected.items():
        assert per.loc[period, "bad_rate"] == pytest.approx(rate)
    assert set(r.performance.period_grades["period"]) == {"2024-01", "2024-02"}


def test_the_json_summary_has_the_per_period_tables(model_dir, live, tmp_path):
    # --json lacked the decision mix by period and the bad rate per grade and period that the HTML and xlsx
    # show: a scheduler reading the JSON could not see them
    from tests.service_support import EXAMPLE_POLICY

    r = monitor(model_dir, _periods(live, 2500), time="month", policy=EXAMPLE_POLICY)
    doc = json.loads(r.to_json(tmp_path / "m.json").read_text())
    mix = pd.DataFrame(doc["decisions"]["periods"])
    assert list(mix["period"]) == ["2024-01", "2024-02"]
    pd.testing.assert_frame_equal(mix[r.decisions.periods.columns], r.decisions.periods, check_dtype=False)
    grades = pd.DataFrame(doc["performance"]["period_grades"])
    assert len(grades) == len(r.performance.period_grades) and set(grades["period"]) == {"2024-01", "2024-02"}
    assert grades["observed"].to_numpy() == pytest.approx(r.performance.period_grades["observed"].to_numpy(),
                                                          nan_ok=True)
    csi = pd.DataFrame(doc["csi_by_period"]).set_index("period")
    assert csi.loc["2024-02", "AGE"] == pytest.approx(r.drift.csi_by_period.set_index("period").loc["2024-02", "AGE"])


def test_utf8_labels_read_as_gbk_say_so(model_dir, live, tmp_path):
    # --encoding gbk covers data and labels alike; on UTF-8 labels it gave "column '逾期' not found; columns are
    # ['ID', '閫炬湡']" with no word on the encoding
    data = live.head(600)
    data[["ID"]].assign(逾期=data[UCI_TARGET]).to_csv(tmp_path / "labels.csv", index=False, encoding="utf-8")
    with pytest.raises(DataError, match="column not found in the labels") as e:
        monitor(model_dir, data, labels=tmp_path / "labels.csv", target="逾期", id="ID", encoding="gbk")
    assert "UTF-8 read as GBK/GB18030 ('閫炬湡' is '逾期' in UTF-8)" in str(e.value)
    assert "leave it out" in str(e.value)
    assert monitor(model_dir, data, labels=tmp_path / "labels.csv", target="逾期", id="ID").performance is not None
    # real GBK names, correctly read, get no such hint
    data[["ID"]].assign(逾期=data[UCI_TARGET]).to_csv(tmp_path / "gbk.csv", index=False, encoding="gbk")
    with pytest.raises(DataError) as e:
        monitor(model_dir, data, labels=tmp_path / "gbk.csv", target="违约", id="ID", encoding="gbk")
    assert "UTF-8" not in str(e.value)


def test_bad_labels_are_refused(model_dir, live, tmp_path):
    data = live.head(500)
    dup = data[["ID", UCI_TARGET]].copy()
    dup.iloc[10, 0] = dup.iloc[3, 0]
    dup.to_csv(tmp_path / "dup.csv", index=False)
    with pytest.raises(DataError, match="more than once") as e:
        monitor(model_dir, data, labels=tmp_path / "dup.csv", target=UCI_TARGET, id="ID")
    assert e.value.row == 11 and e.value.file == str(tmp_path / "dup.csv")
    wrong = data[["ID", UCI_TARGET]].assign(**{UCI_TARGET: 2})
    wrong.to_csv(tmp_path / "wrong.csv", index=False)
    with pytest.raises(DataError, match="0/1"):
        monitor(model_dir, data, labels=tmp_path / "wrong.csv", target=UCI_TARGET, id="ID")
    with pytest.raises(DataError, match="column not found"):
        monitor(model_dir, data, labels=tmp_path / "wrong.csv", target="nope", id="ID")
    with pytest.raises(DataError, match="exactly one source"):
        monitor(model_dir)



def test_labels_are_read_in_the_training_coding_kept_in_the_bundle(live, tmp_path):
    # a bundle trained with `--bad 0` (0 = bad) read 0/1 outcomes as 1 = bad: on the UCI held-out rows the bad rate
    # was 78 % instead of 22 % and the AUC 0.23, with a false AUC warning; one trained 1/2 with `--bad 2` read a
    # batch whose matured outcomes were all good (1) as 100 % bad. Found by monitoring such bundles on uci_taiwan.
    raw = pd.read_csv(UCI).sample(6000, random_state=3)
    raw["paid"] = 1 - raw.pop(UCI_TARGET)
    result = train(read_table(raw, "paid", bad=0, id="ID"), tmp_path)
    data = live.head(3000).assign(paid=lambda d: 1 - d[UCI_TARGET]).drop(columns=UCI_TARGET)
    r = monitor(tmp_path / "model", data)
    s = r.performance.summary
    y = 1 - data["paid"].to_numpy()
    assert s["bad_rate"] == pytest.approx(y.mean())
    assert s["auc"] == pytest.approx(roc_auc_score(y, result.model.predict_proba(data)[:, 1]), abs=1e-12)
    goods = data[data["paid"] == 1]  # no bad matured yet
    with pytest.raises(DataError, match="labels hold only 1, and the model was trained with bad = 0"):
        monitor(tmp_path / "model", goods)
    assert monitor(tmp_path / "model", goods, bad="0").performance.summary["bads"] == 0
    # the row of an error is the row of the file, not of the labels known so far
    labels = data[["ID", "paid"]].astype({"paid": object})
    labels.loc[labels.index[:10], "paid"] = None
    labels.loc[labels.index[20], "paid"] = "maybe"
    labels.to_csv(tmp_path / "labels.csv", index=False)
    with pytest.raises(DataError, match="maybe") as e:
        monitor(tmp_path / "model", data.drop(columns="paid"), labels=tmp_path / "labels.csv", target="paid", id="ID")
    assert e.value.row == 21 and "row 21" in str(e.value)



def test_text_in_a_watched_column_the_model_does_not_use_names_the_value_and_row(model_dir, live, tmp_path):
    # the error named the column and row but not the file ("column 'BILL_AMT1', row 6: ... 'abc'"); a column the
    # model does not use no longer stops the run: it is shown as not measured, with the value and its row
    data = live.head(600).astype({"BILL_AMT1": object})
    data.loc[5, "BILL_AMT1"] = "abc"
    data.to_csv(tmp_path / "d.csv", index=False)
    assert "BILL_AMT1" not in load_bundle(model_dir).model.features_
    r = monitor(model_dir, tmp_path / "d.csv")
    note = r.drift.variables.set_index("variable").loc["BILL_AMT1", "note"]
    assert "not measured" in note and "'abc'" in note and "row 6" in note


# ---------------------------------------------------------------- outputs


def test_report_and_summary(model_dir, live, tmp_path):
    data = _periods(live, 2500)
    r = monitor(model_dir, data, time="month")
    summary = json.loads(r.to_json(tmp_path / "m.json").read_text())
    assert summary["status"] == "alert" and summary["exit_code"] == 4
    assert {p["period"] for p in summary["periods"]} == {"2024-01", "2024-02"}
    assert summary["performance"]["summary"]["labelled"] == len(data)
    report = r.report()
    keys = {s.key for s in report.sections}
    assert {"summary", "score", "inputs", "periods", "performance"} <= keys
    html = report.to_html(tmp_path / "m.html").read_text(encoding="utf-8")
    assert html.count("<svg") >= 5  # score shares, CSI ranking, PSI trend, bad-rate trend, calibration ...
    assert "Stability by period" in html and "Bad rate by period" in html
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", html)  # nothing fetched from the network
    from openpyxl import load_workbook

    wb = load_workbook(report.to_excel(tmp_path / "m.xlsx"))
    assert {"Summary", "By period", "Realised performance"} <= set(wb.sheetnames)


# ---------------------------------------------------------------- a model without bins, and a policy


def test_the_gbdt_challenger_is_monitored_on_deciles(live, tmp_path):
    # The LightGBM challenger has no bins: its inputs are watched on training deciles.
    dev = pd.read_csv(UCI).sample(6000, random_state=41)
    result = train(read_table(dev, UCI_TARGET, id="ID"), tmp_path, kind="gbdt")
    assert not hasattr(result.model, "binning_")
    baseline = load_bundle(tmp_path / "model").files["baseline.json"]
    assert baseline["model_type"] == "gbdt"
    entry = next(v for v in baseline["variables"] if v["name"] == "BILL_AMT1")
    assert entry["source"] == "deciles" and len(entry["layout"]["splits"]) == 9
    assert all(0.08 <= s <= 0.12 for s in entry["shares"][:10]), entry["shares"]  # a continuous column
    unlabelled = live.drop(columns=UCI_TARGET)
    stable = monitor(tmp_path / "model", unlabelled.sample(frac=0.5, random_state=2))
    assert stable.status == "stable", stable.findings
    young = monitor(tmp_path / "model", unlabelled[unlabelled["AGE"] < 30])
    assert status_of(young, "AGE") == "alert" and young.exit_code == 4
    for var in PAY_STATUS:
        assert status_of(young, var) == "stable", var
    # labelled: the AUC to expect is the held-out test split's, not the (optimistic) training rows'
    labelled = monitor(tmp_path / "model", live.sample(6000, random_state=4))
    s = labelled.performance.summary
    assert s["expected_from"] == "test" and s["expected_auc"] == pytest.approx(result.metrics["test"].auc)
    assert s["baseline_auc"] == pytest.approx(result.metrics["train"].auc)


def test_decision_mix_under_a_policy(setup, live):
    from creditflow.policy import load_policy
    from tests.service_support import EXAMPLE_POLICY

    model_dir, _, result = setup
    policy = load_policy(EXAMPLE_POLICY)
    young = live[live["AGE"] < 30].reset_index(drop=True)
    r = monitor(model_dir, young, policy=EXAMPLE_POLICY)
    mix = r.decisions.table.set_index("decision")
    # each applicant decided one by one with the service's path gives the same counts
    rows = young.to_dict(orient="records")
    one_by_one = pd.Series([policy.decide(a, result.model.score_row(a)["score"]).decision for a in rows])
    for decision, n in one_by_one.value_counts().items():
        assert mix.loc[decision, "current_count"] == n
    # the training mix of the cutoffs is what the cutoffs make of the training scores
    train_scores = result.model.scores(result.splits["train"].X)["score"]
    c = policy.cutoffs
    assert mix.loc["approve", "baseline_share"] == pytest.approx((train_scores >= c.approve).mean())
    assert mix.loc["reject", "baseline_share"] == pytest.approx((train_scores < c.review).mean())
    assert r.decisions.psi > 0 and "cutoffs only" in r.decisions.basis


# ---------------------------------------------------------------- fast paths agree with the library


def test_fast_paths_match_the_reference_implementations(setup, live):
    from creditflow.binning.variable import VariableBinning
    from creditflow.evaluation import auc, calibration_table, ks
    from creditflow.monitor.bins import numeric_indices
    from creditflow.monitor.performance import grade_table
    from creditflow.monitor.scored import Scored, auc_ks, auc_ks_by_group

    _, _, result = setup
    model = result.model
    frame = live.sample(5000, random_state=51).reset_index(drop=True)
    frame.loc[:99, "LIMIT_BAL"] = np.nan
    frame.loc[100:149, "BILL_AMT1"] = -999.0
    layouts = [*model.binning_.bins_.values(),
               VariableBinning(name="BILL_AMT1", kind="numeric", splits=[0.0, 5000.0], special_values=[-999.0])]
    for vb in layouts:
        if vb.kind == "numeric":
            x = frame[vb.name].to_numpy(dtype=float)
            np.testing.assert_array_equal(numeric_indices(vb, x), vb.bin_indices(frame[vb.name]), err_msg=vb.name)
    scores = model.scores(frame)
    names = model.grades_.names
    scored = Scored.from_scores(scores, names, model.grades_)
    np.testing.assert_array_equal(np.asarray(names, dtype=object)[scored.grade], scores["grade"].to_numpy())
    y = frame[UCI_TARGET].to_numpy()
    order = np.argsort(scored.probability, kind="mergesort")
    a, k = auc_ks(y[order].astype(float), scored.probability[order])
    assert a == pytest.approx(auc(y, scored.probability), abs=1e-12)
    assert k == pytest.approx(ks(y, scored.probability).statistic, abs=1e-12)
    # per group, from per-value counts and from one sort: the same as the library on each group's rows
    groups = (frame["AGE"].to_numpy() >= 35).astype(np.intp)
    for max_distinct in (10**9, 1):
        overall, per = auc_ks_by_group(y, scored.probability, groups, 2, max_distinct=max_distinct)
        assert overall == pytest.approx((a, k), abs=1e-12)
        for i in (0, 1):
            m = groups == i
            assert per[i][0] == pytest.approx(auc(y[m], scored.probability[m]), abs=1e-12)
            assert per[i][1] == pytest.approx(ks(y[m], scored.probability[m]).statistic, abs=1e-12)
    # grade calibration from counts equals calibration_table on the rows, with the promise as the prediction
    promised = {g: float(q) for g, q in zip(names, [0.02, 0.04, 0.06, 0.10, 0.25], strict=True)}
    grade = scores["grade"].to_numpy()
    reference = calibration_table(y, pd.Series(grade).map(promised).to_numpy(), groups=grade)
    g = scored.grade
    ours = grade_table(names, np.bincount(g, minlength=5), np.bincount(g, weights=y, minlength=5),
                       np.bincount(g, weights=scored.probability, minlength=5), [promised[n] for n in names])
    merged = ours.merge(reference, left_on="grade", right_on="group", suffixes=("", "_ref"))
    assert len(merged) == len(reference) == len(ours)
    for col in ("count", "bads", "observed", "jeffreys_low", "jeffreys_high", "binom_p", "jeffreys_p", "verdict"):
        ref_col = col + "_ref" if col + "_ref" in merged.columns else col
        if not pd.api.types.is_numeric_dtype(merged[col]):
            assert (merged[col].astype(str) == merged[ref_col].astype(str)).all(), col
        else:
            np.testing.assert_allclose(merged[col].astype(float), merged[ref_col].astype(float), rtol=1e-12,
                                       err_msg=col)
    np.testing.assert_allclose(merged["promised"], merged["predicted"], rtol=1e-12)


# ---------------------------------------------------------------- too few rows to judge


def test_too_few_rows_are_insufficient_not_an_alert(model_dir, live):
    # On 7 or 50 rows of the live population the PSI/CSI cross the thresholds by sampling noise alone
    # (about 9 / n over ten bins): shown, not counted, and the status says the sample is too small.
    from tests.service_support import EXAMPLE_POLICY

    unlabelled = live.drop(columns=UCI_TARGET)
    for n in (7, 50):
        sample = unlabelled.sample(n, random_state=61)
        r = monitor(model_dir, sample, policy=EXAMPLE_POLICY)
        assert r.status == "insufficient" and r.exit_code == 5 and not r.enough_rows
        judged = r.findings[r.findings["area"].isin(["score", "input", "decisions"])]
        assert judged["level"].isin(["warn", "alert"]).any(), "the premise: noise crosses the thresholds"
        assert not judged["counts"].any()
        assert judged["message"].str.contains(f"only {n} of the 500 rows needed to judge").all()
        if n == 7:  # the decision mix over three decisions is as noisy: its PSI is not counted either
            assert r.decisions.psi >= 0.25 and "decisions" in set(judged["area"])
        assert r.notes[0].startswith(f"insufficient data: {n} rows, at least 500 are needed")
        s = r.summary()
        assert s["status"] == "insufficient" and s["exit_code"] == 5 and s["score"]["counts"] is False
        assert s["sample"] == {"rows": n, "min_rows": 500, "enough_rows": False, "message": r.notes[0]}
        # judged anyway, the same rows give the false alarm the user saw
        forced = monitor(model_dir, sample, thresholds=Thresholds(min_rows=n))
        assert forced.status in ("warn", "alert") and forced.enough_rows


def test_enough_rows_give_the_real_verdict(model_dir, live):
    young = live[live["AGE"] < 30].sample(600, random_state=62)
    r = monitor(model_dir, young)
    assert r.status == "alert" and r.exit_code == 4 and r.enough_rows
    assert r.findings.set_index("item").loc["AGE", "counts"]
    assert r.summary()["sample"]["enough_rows"] is True and not any("insufficient" in n for n in r.notes)
    ok = monitor(model_dir, live.sample(600, random_state=63))
    assert ok.status == "stable" and ok.exit_code == 0
    # min_rows is the boundary, and configurable
    assert monitor(model_dir, young.head(499)).status == "insufficient"
    assert monitor(model_dir, young.head(499), thresholds=Thresholds(min_rows=499)).status == "alert"
    with pytest.raises(CreditflowError, match="min_rows"):
        monitor(model_dir, young, thresholds=Thresholds(min_rows=-1))


def test_a_small_sample_keeps_the_evidence_that_accounts_for_its_size(model_dir, live):
    # Outcomes turned upside down: the AUC falls far below training, and every grade goes bad far above
    # its promise. On 100 rows the AUC is not counted (too few rows), but the exact binomial test of a grade
    # already accounts for the sample size: it still warns, so the status is warn, not insufficient.
    flipped = live.sample(600, random_state=64).assign(**{UCI_TARGET: lambda f: 1 - f[UCI_TARGET]})
    small = monitor(model_dir, flipped.head(100))
    perf = small.findings[small.findings["area"] == "performance"].set_index("item")
    assert not perf.loc["AUC", "counts"] and "only 100 of the 500 rows" in perf.loc["AUC", "message"]
    grades = perf.drop(index="AUC")
    assert len(grades) and grades["counts"].all()
    assert small.status == "warn" and small.exit_code == 3 and not small.enough_rows
    big = monitor(model_dir, flipped)
    assert big.findings.set_index("item").loc["AUC", "counts"] and big.status in ("warn", "alert")


# ---------------------------------------------------------------- ids and labels


def test_ks_of_a_model_ranking_backwards_is_zero(setup, live):
    # outcomes coded the wrong way round: AUC well below 0.5 and no separation in the model's direction
    from creditflow.evaluation import ks
    from creditflow.monitor.scored import auc_ks_by_group

    _, _, result = setup
    frame = live.sample(3000, random_state=41).reset_index(drop=True)
    p = result.model.scores(frame)["probability"].to_numpy(dtype=float)
    flipped = 1.0 - frame[UCI_TARGET].to_numpy(dtype=float)
    groups = (frame["AGE"].to_numpy() >= 35).astype(np.intp)
    for max_distinct in (10**9, 1):
        (a, k), per = auc_ks_by_group(flipped, p, groups, 2, max_distinct=max_distinct)
        assert a < 0.5 and k == pytest.approx(ks(flipped, p).statistic, abs=1e-12) and k < 0.01
        assert all(x[1] < 0.02 for x in per)


def test_repeated_ids_in_the_data_are_refused_when_labels_join(model_dir, live, tmp_path):
    data = live.head(800).drop(columns=UCI_TARGET)
    pd.concat([data, data.iloc[[5, 6]]]).to_csv(tmp_path / "data.csv", index=False)
    live.head(800)[["ID", UCI_TARGET]].to_csv(tmp_path / "labels.csv", index=False)
    with pytest.raises(DataError, match=f"id {data['ID'].iloc[5]} appears more than once in the data "
                                        "\\(first at row 6\\)") as e:
        monitor(model_dir, tmp_path / "data.csv", labels=tmp_path / "labels.csv", target=UCI_TARGET, id="ID")
    assert e.value.file == str(tmp_path / "data.csv") and e.value.column == "ID" and e.value.row == 801
    assert "drop the duplicates" in e.value.hint
    assert monitor(model_dir, tmp_path / "data.csv").rows == 802  # drift alone: every row is a row


def test_ids_are_compared_as_written(model_dir, live, tmp_path):
    # '0' and '0000' are two customers; an error quotes the id as the file writes it
    data = live.head(600).drop(columns=UCI_TARGET).copy()
    ids = [str(i) for i in range(300)] + [f"{i:04d}" for i in range(300)]
    data["ID"] = ids
    data.to_csv(tmp_path / "data.csv", index=False)
    pd.DataFrame({"ID": ids, "bad": [0] * 300 + [1] * 300}).to_csv(tmp_path / "labels.csv", index=False)
    r = monitor(model_dir, tmp_path / "data.csv", labels=tmp_path / "labels.csv", target="bad", id="ID")
    assert r.performance.summary["labelled"] == 600 and r.performance.summary["bads"] == 300
    pd.DataFrame({"ID": [*ids, "0007"], "bad": [0] * 601}).to_csv(tmp_path / "dup.csv", index=False)
    with pytest.raises(DataError, match="id '0007' appears more than once in the labels") as e:
        monitor(model_dir, tmp_path / "data.csv", labels=tmp_path / "dup.csv", target="bad", id="ID")
    assert e.value.row == 601


def test_labels_that_match_no_row_are_refused(model_dir, live, tmp_path):
    data = live.head(600)
    data.drop(columns=UCI_TARGET).to_csv(tmp_path / "data.csv", index=False)
    data[["ID", UCI_TARGET]].assign(ID=data["ID"] + 100_000).to_csv(tmp_path / "other.csv", index=False)
    with pytest.raises(DataError, match="no id of the labels matches a monitored row") as e:
        monitor(model_dir, tmp_path / "data.csv", labels=tmp_path / "other.csv", target=UCI_TARGET, id="ID")
    assert e.value.file == str(tmp_path / "other.csv") and e.value.column == "ID"
    assert f"{data['ID'].iloc[0] + 100_000}" in e.value.reason and f"the data {data['ID'].iloc[0]}" in e.value.reason
    # labels not known yet (empty outcomes) for ids that match are not an error
    data[["ID"]].assign(**{UCI_TARGET: np.nan}).to_csv(tmp_path / "late.csv", index=False)
    r = monitor(model_dir, tmp_path / "data.csv", labels=tmp_path / "late.csv", target=UCI_TARGET, id="ID")
    assert r.performance is None


def test_the_training_id_and_target_as_defaults_are_noted(model_dir, live, tmp_path):
    data = live.head(600)
    data.drop(columns=UCI_TARGET).to_csv(tmp_path / "data.csv", index=False)
    data[["ID", UCI_TARGET]].to_csv(tmp_path / "labels.csv", index=False)
    r = monitor(model_dir, tmp_path / "data.csv", labels=tmp_path / "labels.csv")
    assert r.performance.summary["labelled"] == 600
    assert any("training id column 'ID'" in n for n in r.notes)
    assert any(f"training target column '{UCI_TARGET}'" in n for n in r.notes)
    named = monitor(model_dir, tmp_path / "data.csv", labels=tmp_path / "labels.csv", id="ID", target=UCI_TARGET)
    assert not any("training id column" in n or "training target column" in n for n in named.notes)


def test_decision_mix_finding_quotes_the_approval_share_its_psi_compared(setup, live):
    # Without a reference table the mix PSI compares the cutoffs' decisions now with the cutoffs' at training;
    # the finding quoted the approval share with the rules (which only ever lower it) beside the training share
    # of the cutoffs alone, so on young UCI applicants it read a drop the PSI never measured.
    from tests.service_support import EXAMPLE_POLICY

    model_dir, _, _ = setup
    young = live[live["AGE"] < 30].reset_index(drop=True)
    r = monitor(model_dir, young, policy=EXAMPLE_POLICY, thresholds=Thresholds(warn=0.0001, alert=10))
    mix = r.decisions.table.set_index("decision")
    cut, ruled = mix.loc["approve", "current_share_cutoffs"], mix.loc["approve", "current_share"]
    assert f"{cut:.1%}" != f"{ruled:.1%}"  # the example policy's review rules move approvals to review
    (finding,) = r.findings.loc[r.findings["area"] == "decisions", "message"]
    assert r.decisions.psi == pytest.approx(_psi_by_hand(mix["baseline_share"], mix["current_share_cutoffs"]))
    assert f"at training, {cut:.1%} now by the cutoffs alone ({ruled:.1%} with the rules)" in finding
    # with a reference table the training mix has the rules too, and so does the share quoted
    ref = live.sample(3000, random_state=1)
    with_ref = monitor(model_dir, young, policy=EXAMPLE_POLICY, reference=ref,
                       thresholds=Thresholds(warn=0.0001, alert=10))
    (finding,) = with_ref.findings.loc[with_ref.findings["area"] == "decisions", "message"]
    assert finding.endswith(f", {ruled:.1%} now") and "cutoffs and rules" in finding


def _psi_by_hand(expected, actual) -> float:
    """PSI = sum (a - e) ln(a / e), empty shares floored at 0.01 % (docs/monitoring.md), by hand."""
    e = np.maximum(np.asarray(expected, dtype=float), 1e-4)
    a = np.maximum(np.asarray(actual, dtype=float), 1e-4)
    return float(((a - e) * np.log(a / e)).sum())


def test_decision_mix_decides_rows_without_an_optional_policy_field_as_simulate_does(setup, live):
    # The example policy reads EDUCATION, declared `required: false`: the service decides a request without it
    # and `policy simulate` a table without the column (missing on every row: HR05 sends each to review); the
    # monitor refused that table ("the policy's rules read column(s) missing from the data").
    from creditflow.bundle import load_bundle
    from creditflow.policy import load_policy, simulate
    from tests.service_support import EXAMPLE_POLICY

    model_dir, _, _ = setup
    young = live[live["AGE"] < 30].drop(columns=["EDUCATION"]).reset_index(drop=True)
    r = monitor(model_dir, young, policy=EXAMPLE_POLICY)
    sim = simulate(load_policy(EXAMPLE_POLICY), load_bundle(model_dir).model, young)
    mix = r.decisions.table.set_index("decision")
    assert {d: int(mix.loc[d, "current_count"]) for d in sim.counts} == sim.counts
    assert sim.counts["approve"] == 0 and sim.absent == ["EDUCATION"]
    assert {x["code"]: x["fired"] for x in r.decisions.rules.to_dict(orient="records")}["HR05"] == len(young)
    assert any("'EDUCATION', an optional policy field" in n for n in r.decisions.notes)


def test_text_labels_of_one_outcome_are_read_in_the_training_coding():
    """Before, a german_credit bundle (trained with bad = 'bad') monitored on a batch whose matured outcomes were
    all 'good' stopped with "target has a single class", while 0/1 labels of one outcome were read; now the good
    of the known pair is good, the training's bad value is bad, and anything else asks for --bad."""
    from creditflow.monitor.sources import encode_labels

    goods = pd.Series(["good", "good", None, " good"], name="creditability")
    assert encode_labels(goods, default_bad="bad")[[0, 1, 3]].tolist() == [0.0, 0.0, 0.0]
    assert np.isnan(encode_labels(goods, default_bad="bad")[2])
    assert encode_labels(pd.Series(["bad", "bad"], name="c"), default_bad="bad").tolist() == [1.0, 1.0]
    assert encode_labels(pd.Series(["正常"], name="c"), default_bad="逾期").tolist() == [0.0]
    for only, trained in (("2", "bad"), ("yes", "bad"), ("good", "2")):
        with pytest.raises(DataError, match=f"labels hold only '{only}'"):
            encode_labels(pd.Series([only, only], name="c"), default_bad=trained)
    assert encode_labels(pd.Series(["good"], name="c"), bad="bad").tolist() == [0.0]
    # a bundle trained on a known pair without --bad keeps no bad value ("bad": null): the known pairs tell
    # (the docs-as-written trial: all-'good' outcomes of such a german_credit model stopped with "single class")
    assert encode_labels(goods, default_bad=None)[[0, 1, 3]].tolist() == [0.0, 0.0, 0.0]
    assert encode_labels(pd.Series(["正常"], name="c")).tolist() == [0.0]
    assert encode_labels(pd.Series(["逾期", "逾期"], name="c")).tolist() == [1.0, 1.0]
    with pytest.raises(DataError, match="labels hold only 'paid', which is not one of the known good/bad values"):
        encode_labels(pd.Series(["paid"], name="c"))


def test_a_baseline_whose_grades_are_not_the_models_is_refused(setup, live, tmp_path):
    """A baseline.json edited to list fewer grades than the model's (and saved with its manifest) ran: the grade
    mix matched the batch's grades to the baseline's by position. It is refused as an incomplete baseline."""
    model_dir, _, result = setup
    doc = json.loads((model_dir / "baseline.json").read_text())
    doc["grades"] = doc["grades"][:-1]
    bundle = save_bundle(result.model, tmp_path / "short", extras={"baseline.json": doc})
    with pytest.raises(BundleError, match="baseline.json is incomplete: its grades"):
        monitor(bundle, live.head(600))
    doc["grades"] = list(reversed(json.loads((model_dir / "baseline.json").read_text())["grades"]))
    bundle = save_bundle(result.model, tmp_path / "reordered", extras={"baseline.json": doc})
    with pytest.raises(BundleError, match="are not the model's"):
        monitor(bundle, live.head(600))

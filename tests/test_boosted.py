"""The boosted scorecard: points add up, readable bins, named Missing/Special bins, bundles, determinism, CLI,
and accuracy above the classic WOE scorecard on the same split."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.metrics import roc_auc_score

import creditflow as cf
from creditflow.bundle import load_bundle, save_bundle
from creditflow.data import BundleError, CreditflowError, DataError, SchemaError
from creditflow.models.boosted import BoostedScorecard, accuracy_by_bins
from creditflow.models.boosted_shape import isotonic, segment
from tests.conftest import GERMAN, ROOT, UCI, UCI_TARGET


@pytest.fixture(scope="module")
def uci():
    return cf.read_table(UCI, UCI_TARGET, id="ID")


@pytest.fixture(scope="module")
def card(uci):
    return BoostedScorecard().fit(uci.train)


@pytest.fixture(scope="module")
def holey(uci):
    """4,000 training rows with missing values and a special value, and a small model on them."""
    X = uci.train.X.head(4000).copy()
    y = uci.train.y[:4000]
    rng = np.random.default_rng(0)
    X.loc[rng.random(len(X)) < 0.08, "AGE"] = np.nan
    X.loc[rng.random(len(X)) < 0.05, "LIMIT_BAL"] = -999
    model = BoostedScorecard(
        special_values={"LIMIT_BAL": [-999]},
        monotone={"LIMIT_BAL": "descending", "PAY_0": "ascending", "AGE": "ascending"},
        boosting={"outer_bags": 3},
    ).fit(X, y)
    return X, y, model


def test_score_is_exactly_the_sum_of_points(card, uci):
    points = card.point_matrix(uci.test)
    total = card.base_points_ + points.sum(axis=1).to_numpy()
    scores = card.scores(uci.test)["score"].to_numpy()
    np.testing.assert_array_equal(scores, np.clip(total, 350, 950))
    assert ((total >= 350) & (total <= 950)).mean() > 0.95
    assert set(points.columns) == set(card.features_) | {t.name for t in card.pairs_}


def test_interaction_tables_are_few_significant_and_integer_points(card, uci):
    assert 1 <= len(card.pairs_) <= 5  # uci_taiwan has strong PAY_x interactions
    for t in card.pairs_:
        assert t.a in card.features_ and t.b in card.features_
        assert t.axis_a.n_regular <= 4 and t.axis_b.n_regular <= 4
        rows = card.points_[card.points_["variable"] == t.name]
        assert len(rows) == len(t.labels)
        np.testing.assert_array_equal(rows["points"], np.rint(-card.scaling_.factor * t.logodds).astype(int))
    additive = BoostedScorecard(interactions=0, boosting={"outer_bags": 2}).fit(uci.train.X.head(3000),
                                                                              uci.train.y[:3000])
    assert additive.pairs_ == [] and set(additive.points_["variable"]) == set(additive.features_)
    assert additive.point_matrix(uci.test.X.head(5)).shape[1] == len(additive.features_)


def test_dict_scorer_equals_vectorised_scorer(card, uci):
    frame = uci.test.X.head(300)
    vec = card.scores(frame)
    for i, row in enumerate(frame.to_dict("records")):
        one = card.score_row(row)
        assert one["score"] == vec["score"].iat[i]
        assert one["grade"] == vec["grade"].iat[i]
        assert one["probability"] == vec["probability"].iat[i]  # bit-identical
    with pytest.raises(SchemaError):
        card.score_row({"LIMIT_BAL": 1000})


def test_large_batches_score_as_small_ones(card, uci):
    """Batch scoring sums the rows in blocks: 40,000 rows (several blocks, pairs included) give the very
    numbers of the same rows scored 700 at a time; the grade column has pandas' default text dtype."""
    frame = pd.concat([uci.test.X] * 5, ignore_index=True).sample(40_000, random_state=1)
    big = card.scores(frame)
    small = pd.concat([card.scores(frame.iloc[k:k + 700]) for k in range(0, len(frame), 700)])
    pd.testing.assert_frame_equal(big, small)
    np.testing.assert_array_equal(big["probability"].to_numpy().view(np.int64),
                                  small["probability"].to_numpy().view(np.int64))
    np.testing.assert_array_equal(card.predict_score(frame), big["score"].to_numpy())
    assert big["grade"].dtype == pd.Series(["A"]).dtype
    assert big["grade"].tolist() == card.grades_.assign(big["score"].to_numpy()).tolist()


def test_beats_the_classic_scorecard_on_the_same_split(card, uci):
    classic = cf.Scorecard().fit(uci.train)
    auc_boosted = roc_auc_score(uci.test.y, card.predict_proba(uci.test)[:, 1])
    auc_classic = roc_auc_score(uci.test.y, classic.predict_proba(uci.test)[:, 1])
    assert auc_boosted > auc_classic + 0.005, (auc_boosted, auc_classic)
    # the integer points rank as well as the probabilities
    assert roc_auc_score(uci.test.y, -card.scores(uci.test)["score"]) > auc_boosted - 0.002


def test_at_most_max_bins_per_variable(card):
    for var in card.features_:
        vb = card.binning_.bins_[var]
        assert 1 <= vb.n_regular <= 12
        assert len(card.points_[card.points_["variable"] == var]) == len(vb.labels)
    small = card.recompress({"max_bins": 4, "min_bin_share": 0.05})
    for var in small.features_:
        vb = small.binning_.bins_[var]
        assert vb.n_regular <= 4
        share = np.asarray(vb.goods[: vb.n_regular]) + np.asarray(vb.bads[: vb.n_regular])
        assert share.min() / share.sum() >= 0.05 - 1e-9 or vb.n_regular == 1


def test_points_are_integers_with_reasons_readable_from_them(card, uci):
    pts = card.points_
    assert pts["points"].dtype.kind == "i"
    np.testing.assert_array_equal(pts["points"], np.rint(-card.scaling_.factor * pts["logodds"]).astype(int))
    lo, hi = card.score_range()
    assert lo < 600 < hi


def test_monotone_when_asked(holey):
    _, _, model = holey
    for var, trend in {"LIMIT_BAL": "descending", "PAY_0": "ascending", "AGE": "ascending"}.items():
        vb = model.binning_.bins_[var]
        assert vb.trend == trend and var in model.features_
        regular = model.contributions_[var][: vb.n_regular]  # log-odds of bad, in value order
        step = np.diff(regular)
        assert (step >= -1e-12).all() if trend == "ascending" else (step <= 1e-12).all(), (var, regular)


def test_missing_and_special_values_keep_their_own_bins(holey):
    X, y, model = holey
    age = model.binning_.bins_["AGE"]
    assert age.labels[age.missing_index] == "Missing"
    counts = np.asarray(age.goods) + np.asarray(age.bads)
    assert counts[age.missing_index] == X["AGE"].isna().sum()
    limit = model.binning_.bins_["LIMIT_BAL"]
    special = limit.labels.index("Special -999")
    assert (np.asarray(limit.goods) + np.asarray(limit.bads))[special] == (X["LIMIT_BAL"] == -999).sum()
    # at scoring, a missing value and the special value go to those bins, in both scorers
    row = X.iloc[0].to_dict()
    row.update(AGE=None, LIMIT_BAL=-999)
    pm = model.point_matrix(pd.DataFrame([row]))
    pts = model.points_.set_index(["variable", "bin"])["points"]
    if "AGE" in model.features_:
        assert pm["AGE"].iat[0] == pts[("AGE", "Missing")]
    if "LIMIT_BAL" in model.features_:
        assert pm["LIMIT_BAL"].iat[0] == pts[("LIMIT_BAL", "Special -999")]
    assert model.score_row(row)["score"] == model.scores(pd.DataFrame([row]))["score"].iat[0]


def test_unseen_category_scores_as_average_risk():
    g = cf.read_table(GERMAN, "creditability")
    model = BoostedScorecard(boosting={"outer_bags": 3}).fit(g.train)
    assert roc_auc_score(g.test.y, model.predict_proba(g.test)[:, 1]) > 0.75
    assert model.pairs_ == []  # 700 rows: no interaction passes the corrected test
    var = "purpose"
    assert model.binning_.bins_[var].kind == "categorical"
    row = g.test.X.iloc[0].to_dict()
    row[var] = "a purpose never seen"
    unseen = model.binning_.bins_[var].labels.index("Unseen")
    if var in model.features_:
        assert model.contributions_[var][unseen] == 0.0
        assert model.point_matrix(pd.DataFrame([row]))[var].iat[0] == 0


def test_bundle_round_trip_and_tamper_refused(card, uci, tmp_path):
    path = save_bundle(card, tmp_path / "model")
    assert (path / "shapes.json").exists()
    loaded = load_bundle(path).model
    assert isinstance(loaded, BoostedScorecard)
    pd.testing.assert_frame_equal(loaded.scores(uci.test), card.scores(uci.test))
    pd.testing.assert_frame_equal(loaded.points_, card.points_)
    # the stored shapes let a loaded model recompress exactly like the fitted one
    a = loaded.recompress({"max_bins": 6}).scores(uci.test)
    pd.testing.assert_frame_equal(a, card.recompress({"max_bins": 6}).scores(uci.test))
    doc = json.loads((path / "model.json").read_text())
    doc["contributions"][card.features_[0]][0] += 0.5
    (path / "model.json").write_text(json.dumps(doc))
    with pytest.raises(BundleError, match="SHA-256"):
        load_bundle(path)


def test_points_that_disagree_with_the_contributions_are_refused(card):
    files = json.loads(json.dumps(card.to_bundle()))
    files["model.json"]["points"][0]["points"] += 7
    with pytest.raises(BundleError, match="points table"):
        BoostedScorecard.from_bundle(files)
    files = json.loads(json.dumps(card.to_bundle()))
    files["model.json"]["interactions"][0]["logodds"][0] += 1.0
    with pytest.raises(BundleError, match="points table"):
        BoostedScorecard.from_bundle(files)


def test_same_data_and_seed_give_the_same_model(uci, tmp_path):
    X, y = uci.train.X.head(3000), uci.train.y[:3000]
    settings = {"outer_bags": 2}
    a = save_bundle(BoostedScorecard(boosting=settings).fit(X, y), tmp_path / "a")
    b = save_bundle(BoostedScorecard(boosting=settings).fit(X, y), tmp_path / "b")
    c = save_bundle(BoostedScorecard(boosting=settings, random_state=7).fit(X, y), tmp_path / "c")
    ma, mb, mc = (json.loads((p / "manifest.json").read_text()) for p in (a, b, c))
    assert ma["model_version"] == mb["model_version"]
    assert ma["model_version"] != mc["model_version"]


def test_accuracy_by_bins_table(card, uci):
    t = accuracy_by_bins(card, uci.test, max_bins=(2, 4, 12))
    assert list(t.columns[:5]) == ["max_bins", "variables", "mean_bins", "total_bins", "auc"]
    assert t["max_bins"].iloc[:3].tolist() == [2, 4, 12] and pd.isna(t["max_bins"].iloc[-1])
    assert (t["mean_bins"].iloc[:3].diff().dropna() >= 0).all()
    assert t["auc"].iloc[0] < t["auc"].iloc[2]  # two bins per variable lose ranking power
    np.testing.assert_allclose(t["gini"], 2 * t["auc"] - 1)


def test_sklearn_params_and_bad_settings(uci):
    model = clone(BoostedScorecard(shape={"max_bins": 6}, random_state=3))
    assert model.get_params()["shape"] == {"max_bins": 6} and model.get_params()["random_state"] == 3
    X, y = uci.train.X.head(500), uci.train.y[:500]
    with pytest.raises(CreditflowError, match="max_bins"):
        BoostedScorecard(shape={"max_bins": 0}).fit(X, y)
    with pytest.raises(CreditflowError, match="NOT_A_COLUMN"):
        BoostedScorecard(monotone={"NOT_A_COLUMN": "ascending"}).fit(X, y)
    with pytest.raises(CreditflowError, match="monotone"):
        BoostedScorecard(monotone={"AGE": "upwards"}).fit(X, y)
    with pytest.raises(CreditflowError, match="learning_rate"):
        BoostedScorecard(boosting={"learning_rate": 0}).fit(X, y)
    with pytest.raises(CreditflowError):
        BoostedScorecard(boosting={"no_such_setting": 1}).fit(X, y)
    # whole numbers given as floats are used as ints (JSON and --param give 10.0); the caller's dict is kept
    asked = {"inner_steps": 5.0, "outer_bags": 2.0, "smoothing_rounds": 0}
    fitted = BoostedScorecard(boosting=asked, interactions=0).fit(X, y)
    assert fitted.boost_info_["settings"]["inner_steps"] == 5 and asked["inner_steps"] == 5.0
    with pytest.raises(CreditflowError, match="boosting.learning_rate must be a number"):
        BoostedScorecard(boosting={"learning_rate": 10**400}).fit(X, y)


def test_shape_helpers():
    f = np.array([0.0, 2.0, 1.0, 3.0])
    np.testing.assert_allclose(isotonic(f, np.ones(4)), [0.0, 1.5, 1.5, 3.0])
    np.testing.assert_allclose(isotonic(f, np.ones(4), increasing=False), [1.5, 1.5, 1.5, 1.5])
    step = np.array([0.0, 0.0, 0.0, 1.0, 1.0, 5.0])
    assert segment(step, np.ones(6), np.ones(6), 3, 0) == [3, 5]
    assert segment(step, np.ones(6), np.ones(6), 3, 2) == [2, 4]  # the last value alone is too small
    assert segment(step, np.ones(6), np.ones(6), 3, 4) == []  # no two segments of 4 rows fit in 6


def test_cli_trains_a_boosted_scorecard(uci, tmp_path):
    data = tmp_path / "loans.csv"
    pd.read_csv(UCI).head(4000).to_csv(data, index=False)
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "creditflow", "train", str(data), "--target", UCI_TARGET, "--id", "ID",
           "--model", "boosted-scorecard", "--out", str(out)]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    manifest = json.loads((out / "model" / "manifest.json").read_text())
    assert manifest["model_type"] == "boosted-scorecard"
    # the report train writes names the saved bundle's version
    assert f"<dt>model version</dt><dd>{manifest['model_version']}</dd>" in (out / "report.html").read_text()
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["splits"]["test"]["auc"] > 0.7
    scored = out / "scores.csv"
    r = subprocess.run([sys.executable, "-m", "creditflow", "score", str(out / "model"), str(data), "--out",
                        str(scored)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    s = pd.read_csv(scored)
    assert len(s) == 4000 and s["score"].between(350, 950).all()
    model = load_bundle(out / "model").model
    np.testing.assert_array_equal(s["score"], model.scores(pd.read_csv(data))["score"])


def test_report_shows_the_accuracy_against_bins_trade_off(card, uci, tmp_path):
    from creditflow.report import build_report

    saved = tmp_path / "model"
    save_bundle(card, saved)
    loaded = load_bundle(saved)  # the trade-off is rebuilt from the bundle's fine shapes
    report = build_report(loaded, {"train": uci.train, "test": uci.test})
    t = report.table("points.tradeoff")
    assert "(this model)" in " ".join(t["setting"]) and t["setting"].iloc[-1].startswith("fine shapes")
    mine = t[t["setting"].str.contains("this model")].iloc[0]
    assert mine["total_bins"] == sum(card.binning_.bins_[v].n_regular for v in card.features_)
    expected = accuracy_by_bins(card, uci.test)
    np.testing.assert_allclose(t["auc"], expected["auc"])
    html = report.html()
    assert "Accuracy against bins per variable (test)" in html
    # the points table shows where the points come from (the shape's log-odds) and each bin's / cell's share
    pts = report.table("points.table")
    assert list(pts.columns[:6]) == ["variable", "bin", "share", "logodds", "points", "woe"] or \
        list(pts.columns[:7]) == ["variable", "meaning", "bin", "share", "logodds", "points", "woe"]
    np.testing.assert_array_equal(pts["points"], np.rint(-card.scaling_.factor * pts["logodds"]))
    for var in [*card.features_, *(t.name for t in card.pairs_)]:
        assert pts.loc[pts["variable"] == var, "share"].sum() == pytest.approx(1.0)
    assert report.meta["interaction tables"].startswith(str(len(card.pairs_)))
    assert report.meta["blend with the classic card"] == "0"
    # the training sample is the CSI basis itself: no finding of its own
    assert not any(r["check"].startswith("largest CSI") and r["sample"] == "train"
                   for r in report.metrics["findings"])
    # without a training sample every sample is compared with the development bins, the first one too
    other = build_report(loaded, {"test": uci.test, "later": uci.test.subset(np.arange(2000))})
    assert {r["sample"] for r in other.metrics["findings"] if r["check"].startswith("largest CSI")} == {"test", "later"}
    # a classic card has no shapes to recompress: no trade-off table
    classic = build_report(cf.Scorecard().fit(uci.train), {"test": uci.test})
    assert "points.tradeoff" not in classic.tables()


def test_documented_scaling_is_the_one_the_bundle_records(card, tmp_path):
    """docs/boosted-scorecard.md states the default scale; it must be what model.json records."""
    import re

    text = (ROOT / "docs" / "boosted-scorecard.md").read_text(encoding="utf-8").replace("\n", " ")
    m = re.search(r"(\d+) points at (\d+):1 good:bad odds, (\d+) points to double the odds, on (\d+)–(\d+)", text)
    assert m, "the scale is no longer stated in the doc"
    stored = json.loads((save_bundle(card, tmp_path / "model") / "model.json").read_text())["scaling"]
    assert [float(g) for g in m.groups()] == [stored["base_score"], stored["base_odds"], stored["pdo"],
                                             stored["min_score"], stored["max_score"]]


@pytest.fixture(scope="module")
def german():
    return cf.read_table(GERMAN, "creditability", bad="bad")


def test_text_in_a_numeric_column_is_refused_unless_declared_categorical(german):
    X = german.X.copy()
    X["age_in_years"] = X["age_in_years"].astype(object)
    X.iloc[4, X.columns.get_loc("age_in_years")] = "abc"
    with pytest.raises(DataError, match="non-numeric") as err:
        BoostedScorecard(interactions=0).fit(X, german.y)
    assert (err.value.column, err.value.row) == ("age_in_years", 5)
    model = BoostedScorecard(interactions=0, categorical=["age_in_years"]).fit(X, german.y)
    assert model.binning_.bins_["age_in_years"].kind == "categorical"


def test_unknown_columns_infinities_and_arrays(german):
    X, y = german.train.X, german.train.y
    with pytest.raises(CreditflowError, match="x_041"):
        BoostedScorecard(special_values={"x_041": [-999]}).fit(X, y)
    inf = X.astype({"duration_in_month": float})
    inf.loc[inf.index[2], "duration_in_month"] = -np.inf
    with pytest.raises(DataError, match="infinite") as err:
        BoostedScorecard().fit(inf, y)
    assert (err.value.column, err.value.row) == ("duration_in_month", 3)
    model = BoostedScorecard(interactions=2).fit(X, y)
    with pytest.raises(SchemaError, match="infinite"):
        model.scores(inf)
    numbered = BoostedScorecard(interactions=2).fit(X.set_axis(range(X.shape[1]), axis=1), y)
    np.testing.assert_array_equal(numbered.points_["points"], model.points_["points"])
    test = german.test.X
    as_array = test.to_numpy(dtype=object)
    np.testing.assert_array_equal(model.predict_score(as_array), model.predict_score(test))
    with pytest.raises(SchemaError, match="fitted on 20"):
        model.predict_score(as_array[:, 1:])
    assert clone(model).set_params(shape__max_bins=5, boosting__outer_bags=2).shape == {"max_bins": 5}


def test_blend_shrinks_the_shapes_toward_the_classic_card(german, tmp_path):
    X, y = german.train.X, german.train.y
    kw = {"interactions": 0, "boosting": {"outer_bags": 3}}
    alone = BoostedScorecard(**kw).fit(X, y)
    half = BoostedScorecard(blend=0.5, **kw).fit(X, y)
    full = BoostedScorecard(blend=1.0, **kw).fit(X, y)
    classic = cf.Scorecard().fit(X, y)
    assert (alone.blend_, half.blend_, full.blend_) == (0.0, 0.5, 1.0)
    # on the fine bins the half blend lies exactly halfway between the boosted shape and the blend=1 shape
    for v in alone.shapes_:
        np.testing.assert_allclose(half.shapes_[v], 0.5 * alone.shapes_[v] + 0.5 * full.shapes_[v], atol=1e-9)
    # blend=1 keeps only the classic card's variables, and ranks the test rows almost as it does
    left_out = set(X.columns) - set(classic.features_)
    assert all(np.allclose(full.shapes_[v], 0) for v in left_out)
    t = german.test
    corr = np.corrcoef(full.decision_function(t.X), classic.decision_function(t.X))[0, 1]
    assert corr > 0.97
    # still a scorecard: the score is the sum of its points, and the bundle keeps the weight
    total = half.base_points_ + half.point_matrix(t.X).sum(axis=1).to_numpy()
    np.testing.assert_array_equal(half.scores(t.X)["score"], np.clip(total, 350, 950))
    save_bundle(half, tmp_path / "m")
    back = load_bundle(tmp_path / "m").model
    assert back.blend_ == 0.5 and back.get_params()["blend"] == 0.5
    np.testing.assert_array_equal(back.predict_score(t.X), half.predict_score(t.X))


def test_blend_auto_cross_validates_and_bad_values_are_refused(german):
    X, y = german.train.X, german.train.y
    kw = {"interactions": 0, "boosting": {"outer_bags": 2}}
    auto = BoostedScorecard(blend="auto", **kw).fit(X, y)
    info = auto.boost_info_["blend"]
    assert set(info["cv_log_loss"]) == {"0.0", "0.25", "0.5", "0.75"}
    assert all(0.3 < v < 0.7 for v in info["cv_log_loss"].values())
    assert auto.blend_ == info["weight"] and auto.blend_ in (0.0, 0.25, 0.5, 0.75)
    # a chosen blend has the lowest cross-validated loss of the candidates that passed
    if auto.blend_:
        assert info["cv_log_loss"][str(auto.blend_)] < info["cv_log_loss"]["0.0"]
    # the evidence is kept: each candidate's gain in standard errors; a weight kept only past the bar
    assert set(info["cv_gain_se"]) == {"0.25", "0.5", "0.75"}
    passed = [w for w, z in info["cv_gain_se"].items() if z > info["needed_se"]]
    assert (auto.blend_ == 0.0) == (not passed)
    assert (info["cv_gain_se"]["0.25"] > 0) == (info["cv_log_loss"]["0.25"] < info["cv_log_loss"]["0.0"])
    again = BoostedScorecard(blend="auto", **kw).fit(X, y)
    np.testing.assert_array_equal(again.points_["points"], auto.points_["points"])
    capped = BoostedScorecard(blend="auto", blend_max_rows=100, **kw).fit(X, y)
    assert capped.blend_ == 0.0 and capped.boost_info_["blend"]["cv_log_loss"] == {}
    for bad in (1.5, -0.1, "yes", True, float("nan")):
        with pytest.raises(CreditflowError, match="blend"):
            BoostedScorecard(blend=bad).fit(X, y)
    with pytest.raises(CreditflowError, match="blend_max_rows"):
        BoostedScorecard(blend="auto", blend_max_rows=-1).fit(X, y)


def test_an_identifier_column_is_left_out_with_the_reason():
    g = cf.read_table(GERMAN, "creditability")
    X = g.train.X.copy()
    X["application_no"] = [f"A{i:05d}" for i in range(len(X))]
    model = BoostedScorecard(boosting={"outer_bags": 2}, interactions=0).fit(X, g.train.y)
    assert "application_no" not in model.features_
    assert model.fine_bins_["application_no"].groups == []
    row = model.selection_.set_index("variable").loc["application_no"]
    assert row["step"] == "identifier" and row["reason"].startswith("identifier-like: 700 distinct values in 700 rows")
    assert len(model.predict_score(g.test.X)) == len(g.test.X)  # scored without the column


def test_rare_categories_share_one_fine_bin():
    from creditflow.binning.variable import category_keys
    from creditflow.models.boosted_bins import fine_categorical

    keys = category_keys(pd.Series(["a"] * 30 + ["b"] * 12 + ["c"] * 3 + ["d"] * 2 + ["e"] + [None] * 4))
    vb = fine_categorical("x", keys, [])
    assert vb.groups == [["a"], ["b"], ["c", "d", "e"]]
    assert fine_categorical("x", category_keys(pd.Series(["a"] * 30 + ["e"])), []).groups == [["a"], ["e"]]


def test_smoothing_rounds_stop_early_when_they_overfit():
    # a pure-noise target on a small sample: the random-split smoothing rounds alone would fit noise, so
    # each bag keeps the smoothing state of least validation loss (before this, every bag kept all 15)
    from creditflow.models.boosted_bins import fine_bins, layout_of
    from creditflow.models.boosted_engine import BoostSettings, _Bag, boost_shapes

    rng = np.random.default_rng(3)
    X = pd.DataFrame({f"x{i}": rng.normal(size=600) for i in range(6)})
    y = rng.integers(0, 2, size=600).astype(float)
    fine, codes = fine_bins(X, set(), {}, 64)
    layouts = [layout_of(v) for v in fine.values()]
    settings = BoostSettings()
    res = boost_shapes(codes, layouts, y, settings, 0)
    assert max(res.rounds) < settings.smoothing_rounds
    # going back to earlier shapes recomputes the running log-odds of both parts exactly
    bag = _Bag(codes, layouts, y, settings, np.random.default_rng(1))
    bag.visit(0, True)
    early, loss = [s.copy() for s in bag.shapes], bag.validation_loss()
    for j in range(6):
        bag.visit(j, False)
    assert bag.validation_loss() != loss
    bag.restore(early)
    assert bag.validation_loss() == pytest.approx(loss, abs=1e-12)
    F = bag.base + sum(s[c] for s, c in zip(bag.shapes, bag.ctr, strict=True))
    np.testing.assert_allclose(bag.F, F, rtol=0, atol=1e-5)


def test_a_flattening_monotone_constraint_reads_the_same_after_recompress(german, tmp_path):
    card = BoostedScorecard(monotone={"duration_in_month": "descending"}, interactions=0).fit(german.train)
    step = card.selection_.set_index("variable").loc["duration_in_month", "step"]
    assert step == "monotone"
    save_bundle(card, tmp_path / "m")
    again = load_bundle(tmp_path / "m").model.recompress({"max_bins": 8})
    assert again.selection_.set_index("variable").loc["duration_in_month", "step"] == step


def test_a_card_that_left_a_variable_out_is_reported_on_its_own_inputs(tmp_path):
    """yinlian's card leaves x_019 out (every bin the same points); `creditflow report` reads the model's
    inputs only, and the accuracy trade-off needed x_019 for the fine shapes' row."""
    from typer.testing import CliRunner

    from creditflow.cli import _load_commands, app
    from tests.conftest import YINLIAN

    data = cf.read_table(YINLIAN, "y", id="user_id")
    card = BoostedScorecard().fit(data.train)
    left_out = sorted(set(card.fine_bins_) - set(card.features_))
    assert left_out  # the case under test
    table = accuracy_by_bins(card, data.test.X[card.features_], data.test.y)
    assert table["max_bins"].notna().all()  # no fine-shapes row without every boosted variable
    assert accuracy_by_bins(card, data.test)["max_bins"].isna().sum() == 1
    save_bundle(card, tmp_path / "model", extras={"schema.json": {"target": "y", "fields": []}})
    pd.concat([data.test.X, pd.Series(data.test.y, name="y")], axis=1).drop(columns=left_out).to_csv(
        tmp_path / "test.csv", index=False)
    _load_commands()
    r = CliRunner().invoke(app, ["report", str(tmp_path / "model"), str(tmp_path / "test.csv"),
                                 "--out", str(tmp_path / "r.html")])
    assert r.exit_code == 0, r.output


def test_report_trade_off_has_a_row_for_this_model_whatever_its_max_bins(german):
    """A card fitted with a max_bins the usual list (4, 6, 8, ...) lacks still finds its own row, marked, with
    its own bins and accuracy."""
    from creditflow.report import build_report

    model = BoostedScorecard(shape={"max_bins": 5}, boosting={"outer_bags": 2}).fit(german.train)
    t = build_report(model, {"test": german.test}).table("points.tradeoff")
    mine = t[t["setting"] == "max_bins 5 (this model)"]
    assert len(mine) == 1 and t["setting"].str.contains("this model").sum() == 1
    assert mine["total_bins"].iloc[0] == sum(model.binning_.bins_[v].n_regular for v in model.features_)
    assert mine["auc"].iloc[0] == pytest.approx(roc_auc_score(german.test.y, model.logodds(german.test.X)))
    assert t["setting"].iloc[:3].tolist() == ["max_bins 4", "max_bins 5 (this model)", "max_bins 6"]


@pytest.mark.parametrize("bad", [[5.5], ["6"], [True], 6, "6"])
def test_accuracy_by_bins_refuses_settings_it_cannot_use_as_they_are(card, uci, bad):
    """5.5 was read as 5, "6" as 6 and True as 1 (refused as "not 1"), and a bare 6 raised a TypeError."""
    with pytest.raises(CreditflowError, match="max_bins must be") as err:
        accuracy_by_bins(card, uci.test.subset(np.arange(200)), max_bins=bad)
    shown = repr(bad[0] if isinstance(bad, list) else bad)
    assert isinstance(err.value, ValueError) and str(err.value).endswith(f"not {shown}")


def test_a_variable_the_minimum_bin_share_leaves_one_bin_says_so(german, tmp_path):
    """shape.min_bin_share=0.45 allows no two bins of credit_history (german_credit's strongest category):
    before, it was left out as "every bin of its boosted shape gets the same points", as if it had no signal."""
    model = BoostedScorecard(shape={"min_bin_share": 0.45}, boosting={"outer_bags": 2}, interactions=0)
    model.fit(german.train)
    row = model.selection_.set_index("variable").loc["credit_history"]
    assert not row["selected"] and row["step"] == "min_bin_share"
    assert row["reason"].startswith("shape.min_bin_share=0.45 leaves it one bin")
    assert int(row["reason"].split("points move ")[1].split()[0]) >= 10
    # the kept variables hold the share: at least 45 % of the training rows in every regular bin
    for var in model.features_:
        vb = model.binning_.bins_[var]
        counts = np.bincount(vb.bin_indices(german.train.X[var]), minlength=len(vb.labels))[: vb.n_regular]
        assert counts.min() >= 0.45 * len(german.train.X)
    # the same reason after recompress, and on the command line as a warning
    assert model.recompress({"min_bin_share": 0.45}).selection_.set_index("variable").loc["credit_history", "step"] \
        == "min_bin_share"
    r = subprocess.run([sys.executable, "-m", "creditflow", "train", str(GERMAN), "--target", "creditability",
                        "--bad", "bad", "--model", "boosted-scorecard", "--no-report", "-p", "shape.min_bin_share=0.45",
                        "-p", "boosting.outer_bags=2", "--out", str(tmp_path / "o")], capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stderr
    assert "warning: column 'credit_history' left out of the model: shape.min_bin_share=0.45 leaves it one bin" in \
        " ".join(r.stderr.split())


def test_a_variable_the_merge_tolerance_flattens_says_so(german):
    """A large shape.merge_points merges every neighbour of a variable into one bin; before, it was left out as
    "every bin of its boosted shape gets the same points", as if it had no signal."""
    model = BoostedScorecard(shape={"merge_points": 40}, boosting={"outer_bags": 2}, interactions=0)
    model.fit(german.train)
    merged = model.selection_[model.selection_["step"] == "merge_points"].set_index("variable")
    assert len(merged) > 0
    for var, row in merged.iterrows():
        assert row["reason"].startswith("shape.merge_points=40 merged all its bins")
        moved = int(row["reason"].split("points move ")[1].split()[0])
        assert moved >= 1 and model._spread_with(var, None, merge_points=0.0)[1] >= 1
    assert "flat" not in set(model.selection_["step"]) or all(
        model._spread_with(v, None, merge_points=0.0)[1] < 1
        for v in model.selection_.loc[model.selection_["step"] == "flat", "variable"])

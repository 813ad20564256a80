"""The scorecard: points add up to the score, sklearn compatibility, bundle round trip, determinism."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import make_pipeline

import creditflow as cf
from creditflow.bundle import load_bundle, save_bundle
from creditflow.data import BundleError, CreditflowError, DataError, SchemaError
from tests.conftest import GERMAN, UCI, UCI_TARGET, YINLIAN, YINLIAN_DICT


@pytest.fixture(scope="module")
def uci():
    return cf.read_table(UCI, UCI_TARGET, id="ID")


@pytest.fixture(scope="module")
def card(uci):
    return cf.Scorecard().fit(uci.train)


def test_score_is_exactly_the_sum_of_points(card, uci):
    points = card.point_matrix(uci.test)
    total = card.base_points_ + points.sum(axis=1).to_numpy()
    scores = card.scores(uci.test)["score"].to_numpy()
    np.testing.assert_array_equal(scores, np.clip(total, 350, 950))
    inside = (total >= 350) & (total <= 950)
    assert inside.mean() > 0.95
    np.testing.assert_array_equal(scores[inside], total[inside])


def test_higher_score_is_lower_risk_and_ranks(card, uci):
    s = card.scores(uci.test)
    assert roc_auc_score(uci.test.y, -s["score"]) > 0.74
    assert np.corrcoef(s["score"], s["probability"])[0, 1] < -0.9
    assert s["score"].between(350, 950).all()
    assert set(s["grade"]) <= set(card.grades_.names)


def test_dict_scorer_equals_vectorised_scorer(card, uci):
    frame = uci.test.X.head(300)
    vec = card.scores(frame)
    for i, row in enumerate(frame.to_dict("records")):
        one = card.score_row(row)
        assert one["score"] == vec["score"].iat[i]
        assert one["grade"] == vec["grade"].iat[i]
        assert one["probability"] == vec["probability"].iat[i]  # bit-identical


def test_missing_model_column_is_a_schema_error(card, uci):
    with pytest.raises(SchemaError, match="PAY_0"):
        card.scores(uci.test.X.drop(columns=["PAY_0"]))
    with pytest.raises(SchemaError):
        card.score_row({"LIMIT_BAL": 1000})


def test_works_in_a_sklearn_pipeline_and_cross_validation(uci):
    small = uci.X.head(6000)
    y = uci.y[:6000]
    scores = cross_val_score(make_pipeline(cf.Scorecard()), small, y, cv=3, scoring="roc_auc")
    assert (scores > 0.7).all()
    c = clone(cf.Scorecard(C=0.5, binning={"max_bins": 5}))
    assert c.get_params()["C"] == 0.5


def test_bundle_round_trip_and_tamper_detection(card, uci, tmp_path):
    path = save_bundle(card, tmp_path / "model")
    files = sorted(p.name for p in path.iterdir())
    assert "manifest.json" in files and all(f.endswith(".json") for f in files)
    loaded = load_bundle(path).model
    np.testing.assert_array_equal(loaded.scores(uci.test)["score"], card.scores(uci.test)["score"])
    model_json = path / "model.json"
    doc = json.loads(model_json.read_text())
    doc["intercept"] += 0.1
    model_json.write_text(json.dumps(doc))
    with pytest.raises(BundleError, match="SHA-256"):
        load_bundle(path)


def test_a_bundle_copied_with_crlf_line_endings_is_refused_saying_so(card, tmp_path):
    path = save_bundle(card, tmp_path / "model")
    doc = path / "binning.json"
    doc.write_bytes(doc.read_bytes().replace(b"\n", b"\r\n"))  # as git checks it out with core.autocrlf
    with pytest.raises(BundleError, match=r"line endings were changed to CRLF.*refusing to load") as err:
        load_bundle(path)
    assert err.value.file == str(doc)
    doc.write_bytes(doc.read_bytes().replace(b"\r\n", b"\n").replace(b"1", b"2", 1))  # an edit is still an edit
    with pytest.raises(BundleError, match="the bundle was modified or corrupted"):
        load_bundle(path)


def test_save_bundle_refuses_a_folder_holding_a_bundle_unless_overwrite(card, uci, tmp_path):
    from creditflow.workflow import train

    data = cf.read_table(GERMAN, "creditability", bad="bad")
    champion = train(data, tmp_path / "out").model  # a bundle with its baseline, schema and reason codes
    path = tmp_path / "out" / "model"
    before = {p.name: p.read_bytes() for p in path.iterdir()}
    with pytest.raises(BundleError, match="already holds a model bundle; pass overwrite=True") as err:
        save_bundle(card, path)
    assert err.value.file == str(path)
    assert {p.name: p.read_bytes() for p in path.iterdir()} == before  # nothing replaced, nothing dropped
    save_bundle(champion, path, overwrite=True)
    assert load_bundle(path).model_version == load_bundle(save_bundle(champion, tmp_path / "again")).model_version
    assert not (path / "schema.json").exists()  # replaced as asked: the model's own documents only


def test_same_data_and_seed_give_the_same_model(uci, tmp_path):
    a = save_bundle(cf.Scorecard().fit(uci.train), tmp_path / "a")
    b = save_bundle(cf.Scorecard().fit(uci.train), tmp_path / "b")
    ma = json.loads((a / "manifest.json").read_text())
    mb = json.loads((b / "manifest.json").read_text())
    assert ma["model_version"] == mb["model_version"]
    assert {k: v for k, v in ma["files"].items() if k != "metadata.json"} == {
        k: v for k, v in mb["files"].items() if k != "metadata.json"
    }


def test_categorical_data_and_field_dictionary():
    g = cf.read_table(GERMAN, "creditability")
    card = cf.Scorecard().fit(g.train)
    assert roc_auc_score(g.test.y, card.predict_proba(g.test)[:, 1]) > 0.75
    y = cf.read_table(YINLIAN, "y", id="user_id", dictionary=YINLIAN_DICT)
    assert y.dictionary.meaning("x_002") == "年龄"
    card = cf.Scorecard(selection={"max_features": 8}).fit(y.train)
    assert card.points_["meaning"].str.len().gt(0).all()


def test_selection_reports_a_reason_for_every_dropped_variable(card):
    dropped = card.selection_[~card.selection_["selected"]]
    assert len(dropped) > 0
    assert dropped["reason"].str.len().gt(0).all()
    assert set(dropped["step"]) <= {"missing", "iv", "correlation", "vif", "max_features", "stepwise", "sign", "flat"}


def test_selection_reasons_never_round_onto_their_threshold(uci):
    """Before, uci_taiwan's BILL_AMT1 (IV 0.009966 on the CLI's training split of rows 1-20,000) was dropped with
    the reason "IV 0.0100 < 0.01": at four decimals the IV rounds up onto min_iv, and the reason contradicts
    itself. Now the reason shows as many digits as it takes to read below the threshold."""
    X, y = uci.train.X.head(8000), uci.train.y[:8000]
    iv = cf.BinningProcess().fit(X, y).iv_
    up = iv[(iv.round(4) > iv) & (iv > 0.01)]  # IVs whose four-decimal text rounds up
    var = up.idxmin()
    limit = float(f"{up[var]:.4f}")  # the threshold that IV rounds onto: the IV is below it, its text is not
    card = cf.Scorecard(selection={"min_iv": limit}).fit(X, y)
    by_iv = card.selection_[card.selection_["step"] == "iv"].set_index("variable")
    assert var in by_iv.index
    for v, row in by_iv.iterrows():
        shown = float(re.fullmatch(r"IV ([0-9.]+) < ([0-9.]+)", row["reason"]).group(1))
        assert shown < limit, (v, row["reason"])
        assert abs(shown - iv[v]) < 5e-5, (v, row["reason"], iv[v])


def test_stepwise_selection_runs_on_real_data(uci):
    card = cf.Scorecard(selection={"stepwise": "forward", "criterion": "bic"}).fit(uci.train.X.head(5000),
                                                                                 uci.train.y[:5000])
    assert 1 <= len(card.features_) <= 14
    assert (card.selection_["step"] == "stepwise").any()


def test_fit_on_patterns_equals_the_fit_on_every_row(card, uci):
    from sklearn.linear_model import LogisticRegression

    from creditflow.binning.patterns import Patterns
    from creditflow.selection import select_features
    from creditflow.selection.filters import SelectionSettings
    from creditflow.selection.logistic import matrix_sums, newton_logistic

    X, y = uci.train.X, uci.train.y.astype(float)
    woe = card.binning_.transform(X, card.features_).to_numpy()
    # the compressed rows carry every training row exactly once
    pat = Patterns.from_codes([card.binning_.bins_[v].bin_indices(X[v]) for v in card.features_], y)
    assert len(pat.y) < len(y) and pat.n_rows == len(y)
    assert pat.restrict([0, 3]).n_rows == len(y) and len(pat.restrict([0, 3]).y) <= len(pat.y)
    # the card's coefficients are the penalised optimum on the uncompressed WOE rows ...
    beta, _ = newton_logistic(matrix_sums(woe, y), woe.shape[1] + 1, float(y.mean()), C=card.C)
    np.testing.assert_allclose(card.coef_, beta[1:], rtol=0, atol=1e-9)
    assert card.intercept_ == pytest.approx(beta[0], abs=1e-9)
    # ... which is scikit-learn's, run to a tight tolerance
    lr = LogisticRegression(C=card.C, max_iter=10000, tol=1e-12).fit(woe, y)
    np.testing.assert_allclose(card.coef_, lr.coef_[0], rtol=0, atol=1e-5)
    # and selection from the patterns' cross-products agrees with selection on the WOE frame
    # (the filters' final run is without the variables that lost on sign or left with flat points)
    sel = card.selection_
    left = set(sel.loc[sel["step"].isin(["sign", "flat"]), "variable"])
    frame = card.binning_.transform(X).drop(columns=sorted(left))
    direct = select_features(frame, y, card.binning_.iv_, X.isna().mean(), SelectionSettings())
    assert set(direct.loc[direct["selected"], "variable"]) == set(card.features_)
    steps = dict(zip(direct["variable"], direct["step"], strict=True))
    assert all(steps[v] == st for v, st in zip(sel["variable"], sel["step"], strict=True) if st not in ("sign", "flat"))


def test_a_variable_dropped_for_sign_blocks_no_other(shared_data):
    """On yinlian x_144 loses on sign; x_142 and x_143, first dropped as correlated with it, are judged again."""
    data = cf.read_table(YINLIAN, "y", id="user_id")
    card = cf.Scorecard().fit(data.train)
    sel = card.selection_.set_index("variable")
    assert sel.at["x_144", "step"] == "sign"
    blockers = sel.loc[sel["step"] == "correlation", "reason"].str.extract(r" with (\S+) \(IV")[0]
    assert len(blockers) > 0 and blockers.isin(card.features_).all()
    assert not sel.loc[["x_142", "x_143"], "reason"].str.contains("x_144").any()


def test_coef_sign_any_keeps_the_variables_the_sign_rule_drops(shared_data):
    """On yinlian the sign rule drops variables; with coef_sign="any" some stay with negative coefficients,
    and the card is still a sum of integer points."""
    data = cf.read_table(YINLIAN, "y", id="user_id")
    strict = cf.Scorecard().fit(data.train)
    free = cf.Scorecard(coef_sign="any").fit(data.train)
    assert (strict.coef_ > 0).all() and (strict.selection_["step"] == "sign").any()
    assert (free.coef_ < 0).any() and not (free.selection_["step"] == "sign").any()
    assert set(strict.features_) < set(free.features_)
    negative = [v for v, c in zip(free.features_, free.coef_, strict=True) if c < 0]
    # a negative coefficient gives the most points to the bin with the highest bad rate (largest WOE)
    pts = free.points_.set_index("variable")
    for v in negative:
        woe, p = pts.loc[v, "woe"].to_numpy(), pts.loc[v, "points"].to_numpy()
        assert p[np.argmax(woe)] == p.max()
    test = data.test.X
    total = free.base_points_ + free.point_matrix(test).sum(axis=1).to_numpy()
    np.testing.assert_array_equal(free.scores(test)["score"], np.clip(total, 350, 950))


@pytest.fixture(scope="module")
def german():
    return cf.read_table(GERMAN, "creditability", bad="bad")


def test_integer_column_names_fit_and_score_as_their_text(german):
    X = german.train.X
    named = cf.Scorecard().fit(X, german.train.y)
    numbered = cf.Scorecard().fit(X.set_axis(range(X.shape[1]), axis=1), german.train.y)
    position = {c: str(i) for i, c in enumerate(X.columns)}
    assert numbered.features_ == [position[f] for f in named.features_]
    np.testing.assert_array_equal(numbered.points_["points"], named.points_["points"])
    test = german.test.X
    np.testing.assert_array_equal(numbered.predict_score(test.set_axis(range(test.shape[1]), axis=1)),
                                  named.predict_score(test))


def test_duplicate_column_names_are_refused_naming_the_column(card, uci):
    doubled = pd.concat([uci.train.X, uci.train.X[["AGE"]]], axis=1)
    with pytest.raises(DataError, match="more than once") as err:
        cf.Scorecard().fit(doubled, uci.train.y)
    assert err.value.column == "AGE"
    with pytest.raises(DataError, match="AGE"):
        card.predict_proba(pd.concat([uci.test.X, uci.test.X[["AGE"]]], axis=1))


@pytest.mark.parametrize(("params", "match"), [
    ({"C": 0}, "C .*positive"), ({"C": -1}, "C .*positive"), ({"C": "a"}, "C must be a number"),
    ({"grades": "abc"}, "grade must be a"), ({"binning": {"max_bins": 2.5}}, "max_bins must be a whole number"),
    ({"binning": {"max_bins": "8"}}, "max_bins"), ({"binning": {"alpha": -1}}, "alpha"),
    ({"categorical": ["NOPE"]}, "NOPE"), ({"special_values": {"NOPE": [1]}}, "NOPE"),
    ({"special_values": ["a"]}, "special_values must be numbers"),
    ({"coef_sign": "negative"}, "coef_sign must be 'positive' or 'any'"), ({"coef_sign": None}, "coef_sign"),
    ({"selection": {"min_iv": -0.01}}, "min_iv must be at least 0"),
    ({"selection": {"max_corr": 2}}, "max_corr must be between 0 and 1"),
    ({"selection": {"max_vif": 0.5}}, "max_vif must be at least 1"),
    ({"selection": {"max_missing": "x"}}, "max_missing must be a number or None"),
    ({"selection": {"max_features": 0}}, "max_features must be a whole number >= 1"),
    ({"selection": {"max_csi": -0.1}}, "max_csi must be at least 0"),
    ({"binning": {"monotonic": 3}}, "binning.monotonic must be text or a dict, not 3"),
    ({"binning": {"monotonic": {"age_in_years": "up"}}}, r"monotonic\['age_in_years'\] must be auto, ascending"),
    ({"binning": {"monotonic": {"purpose": "ascending"}}}, "gives 'purpose' the trend ascending, but it is categorical"),
    ({"binning": {"monotonic": {"NOPE": "descending"}}}, r"binning.monotonic names 1 column\(s\) not in the data: \['NOPE'\]"),
    ({"binning": {"monotonic": {"age_in_years": "descending"}}, "user_splits": {"age_in_years": [30]}},
     "user_splits fixes its bins"),
])
def test_bad_settings_are_refused_with_the_reason(german, params, match):
    with pytest.raises(CreditflowError, match=match):
        cf.Scorecard(**params).fit(german.train)


def test_text_labels_are_read_as_read_table_reads_them(german):
    X, y = german.train.X, german.train.y
    labelled = cf.Scorecard().fit(X, pd.Series(np.where(y == 1, "bad", "good"), name="creditability"))
    pd.testing.assert_frame_equal(labelled.points_, cf.Scorecard().fit(X, y).points_)
    with pytest.raises(DataError, match="cannot tell which") as err:
        cf.Scorecard().fit(X, np.where(y == 1, "A", "B"))
    assert "0/1" in err.value.hint
    with pytest.raises(DataError, match="empty"):
        cf.Scorecard().fit(X.iloc[:0], y[:0])


def test_infinities_are_refused_at_fit_and_at_scoring(card, uci):
    X = uci.train.X.head(3000).astype({"LIMIT_BAL": float})
    X.loc[X.index[6], "LIMIT_BAL"] = np.inf
    with pytest.raises(DataError, match="infinite") as err:
        cf.Scorecard().fit(X, uci.train.y[:3000])
    assert (err.value.column, err.value.row) == ("LIMIT_BAL", 7)
    with pytest.raises(SchemaError, match="infinite") as err:
        card.scores(X)
    assert (err.value.column, err.value.row) == ("LIMIT_BAL", 7)
    with pytest.raises(SchemaError, match="infinite"):
        card.score_row({**uci.test.X.iloc[0].to_dict(), "LIMIT_BAL": -np.inf})


def test_an_array_of_the_fitted_width_is_read_in_feature_order(card, uci):
    frame = uci.test.X
    np.testing.assert_array_equal(card.predict_proba(frame.to_numpy()), card.predict_proba(frame))
    with pytest.raises(SchemaError, match="fitted on 23"):
        card.predict_proba(frame.to_numpy()[:, :5])


def test_nested_settings_in_grid_search(german):
    from creditflow.binning import BinningSettings

    card = cf.Scorecard(binning=BinningSettings(max_bins=6, alpha=1.0))
    assert card.set_params(binning__max_bins=4).binning == BinningSettings(max_bins=4, alpha=1.0)
    assert cf.Scorecard().set_params(binning__max_bins=4).binning == {"max_bins": 4}
    kept = cf.Scorecard(selection={"min_iv": 0.02}).set_params(selection__max_corr=0.7)
    assert kept.selection == {"min_iv": 0.02, "max_corr": 0.7}
    with pytest.raises(CreditflowError, match="no setting 'max_bin'"):
        card.set_params(binning__max_bin=4)
    search = GridSearchCV(cf.Scorecard(), {"binning__max_bins": [3, 8]}, cv=2, scoring="roc_auc")
    search.fit(german.X, german.y)
    assert set(search.cv_results_["param_binning__max_bins"]) == {3, 8}
    small = search.best_estimator_ if search.best_params_["binning__max_bins"] == 3 else \
        clone(search.best_estimator_).set_params(binning__max_bins=3).fit(german.X, german.y)
    assert max(small.binning_.bins_[v].n_regular for v in small.features_) <= 3


def test_a_sign_drop_reruns_the_filters_when_a_correlation_drop_is_correlated_with_it():
    """On yinlian x_121 lost on correlation to x_125, but is also correlated above 0.8 with x_124: dropping
    x_124 must rerun the filters (its name is not in x_121's reason)."""
    from creditflow.models.scorecard import _blocks_others
    from creditflow.selection.filters import woe_correlation

    data = cf.read_table(YINLIAN, "y", id="user_id")
    card = cf.Scorecard().fit(data.train)
    sel = card.selection_
    alive = sel.loc[~sel["step"].isin(["missing", "iv", "constant", "identifier"]), "variable"].tolist()
    corr = woe_correlation(card.binning_.transform(data.train.X, alive))
    only_x121 = sel[(sel["step"] != "correlation") | (sel["variable"] == "x_121")]
    assert "x_125" in only_x121.set_index("variable").at["x_121", "reason"]
    assert _blocks_others(only_x121, corr, "x_124", 0.8)
    assert not _blocks_others(only_x121, corr, "x_124", 0.9)
    dropped = sel.loc[sel["step"] == "correlation", "variable"]
    unrelated = [v for v in card.features_ if not (corr.loc[dropped, v].abs() > 0.8).any()]
    assert unrelated and not any(_blocks_others(sel, corr, v, 0.8) for v in unrelated)


def test_typed_and_text_readings_of_a_value_score_alike(uci, tmp_path):
    """A column read as numbers or bools at training and as text at scoring (the CLI reads a model's
    text inputs as written) keys the same: 2.0 / "2.0" / "2", True / "true"."""
    from creditflow.binning.variable import category_key

    assert category_key(2.0) == category_key("2.0") == category_key("2") == "2" and category_key("02") == "02"
    assert category_key(True) == category_key("true") == category_key("TRUE") == "True"
    X = uci.train.X.head(4000).copy()
    y = uci.train.y[:4000]
    X["EDU"] = X.pop("PAY_0").astype(float)  # strong enough to keep points of its own
    X["LOW"] = X.pop("LIMIT_BAL") < 100000
    card = cf.Scorecard(categorical=["EDU"], selection={"min_iv": 0.0, "max_corr": None, "max_vif": None}).fit(X, y)
    assert {"EDU", "LOW"} <= set(card.features_)  # both are scored (else the test shows nothing)
    as_text = X.assign(EDU=X["EDU"].map(lambda v: f"{v:.1f}"), LOW=X["LOW"].map(lambda v: str(v).lower()))
    pd.testing.assert_frame_equal(card.scores(X), card.scores(as_text))
    assert card.binning_.unseen_counts(as_text, card.features_) == {}


def test_infinities_are_refused_at_scoring_whatever_their_type(card, uci):
    from creditflow.data.errors import SchemaError

    var = next(v for v in card.features_ if card.binning_.bins_[v].kind == "numeric")
    row = uci.test.X.iloc[0].to_dict()
    for bad in ("inf", np.float32("inf"), float("-inf")):
        with pytest.raises(SchemaError, match="infinite"):
            card.score_row({**row, var: bad})
    frame = uci.test.X.head(50).copy()
    frame[var] = frame[var].astype(object)
    frame.loc[7, var] = "inf"
    with pytest.raises(SchemaError, match="infinite") as err:
        card.scores(frame)
    assert err.value.column == var and err.value.row == 8


def test_a_whole_number_beyond_the_float_range_is_refused_as_infinite(card, uci):
    # a column of Python ints holding one of 400 digits (as pandas reads such a CSV cell) stopped scoring with a
    # bare OverflowError ("internal error" at `creditflow score`) instead of the infinity's column and row
    from creditflow.data.errors import SchemaError

    var = next(v for v in card.features_ if card.binning_.bins_[v].kind == "numeric")
    frame = uci.test.X.head(5).copy()
    frame[var] = [int(v) for v in frame[var]]
    frame[var] = frame[var].astype(object)
    frame.loc[frame.index[3], var] = -(10**400)
    with pytest.raises(SchemaError, match="infinite") as err:
        card.scores(frame)
    assert err.value.column == var and err.value.row == 4
    with pytest.raises(SchemaError, match="too large"):
        card.score_row({**uci.test.X.iloc[0].to_dict(), var: 10**400})


def test_a_repeated_column_the_model_does_not_use_does_not_block_scoring(card, uci):
    frame = uci.test.X.head(100)
    extra = frame[[card.features_[0]]].rename(columns={card.features_[0]: "NOTE"})
    doubled = pd.concat([frame, extra, extra], axis=1)
    pd.testing.assert_frame_equal(card.scores(doubled), card.scores(frame))
    with pytest.raises(Exception, match="more than once"):
        card.scores(pd.concat([frame, frame[[card.features_[0]]]], axis=1))


def test_grades_and_scaling_that_a_bundle_could_not_hold_are_refused():
    from creditflow.data.errors import CreditflowError

    with pytest.raises(CreditflowError, match="pair"):
        cf.Scorecard(grades=[(1, 700), (2, 350)]).fit(pd.DataFrame({"a": range(40)}), np.arange(40) % 2)
    with pytest.raises(CreditflowError, match="whole number"):
        cf.Scorecard(scaling={"min_score": 300.5}).fit(pd.DataFrame({"a": range(40)}), np.arange(40) % 2)


def test_a_variable_with_one_woe_is_dropped_as_constant_whatever_the_thresholds(german):
    """min_iv=0 lets single-bin variables through to the correlation / VIF steps, whose correlation
    with a constant column is undefined; they leave first, with the reason."""
    X = german.train.X.assign(same=1.0, flag=np.where(np.arange(len(german.train.X)) == 0, "x", "y"))
    card = cf.Scorecard(selection={"min_iv": 0}).fit(X, german.train.y)
    rows = card.selection_.set_index("variable")
    assert rows.loc["same", "step"] == "constant" and "same WOE" in rows.loc["same", "reason"]
    # the flag is not constant: min_bin_share left its one 'x' row no bin of its own
    assert rows.loc["flag", "step"] == "constant"
    assert rows.loc["flag", "reason"].startswith("all its values fall in one bin: its rarer value x holds 0.14 %")
    assert "same" not in card.features_ and len(card.features_) >= 10


def test_the_worst_grade_covers_every_score_below_it():
    from creditflow.scoring.scaling import Grades, Scaling

    grades, s = Grades(bands=[("A", 700), ("B", 600)]), Scaling()
    assert grades.assign(np.array([389, 599, 600, 950])).tolist() == ["B", "B", "B", "A"]
    table = grades.table(s)
    assert table[-1]["grade"] == "B" and table[-1]["min_score"] == s.min_score  # the table says what assign does


def test_custom_scaling_with_the_default_grades_still_fits_and_given_grades_are_checked():
    from creditflow.data.errors import CreditflowError

    X, y = pd.DataFrame({"a": np.arange(400) % 40}), (np.arange(400) % 40 < 12).astype(int)
    scaling = {"base_score": 50, "pdo": 10, "min_score": 0, "max_score": 100}
    card = cf.Scorecard(scaling=scaling).fit(X, y)  # the default bands start at 700: every row gets the worst
    assert set(card.scores(X)["grade"]) == {"E"}
    with pytest.raises(CreditflowError, match="above the highest score"):
        cf.Scorecard(scaling=scaling, grades=[("A", 700), ("B", 0)]).fit(X, y)


def test_a_variable_whose_bins_all_get_the_same_points_leaves_the_card():
    """On yinlian x_089's and x_049's coefficient x WOE stays under half a point in every bin: they moved no
    score, yet the service asked for them. They leave, with the reason, and the card is refitted without them.
    (The example was uci_taiwan's BILL_AMT6 until its noise-fitted free shape, IV 0.027, became a monotone
    one of IV 0.005 that the IV filter drops.)"""
    card = cf.Scorecard().fit(cf.read_table(YINLIAN, "y", id="user_id").train)
    spread = card.points_.groupby("variable")["points"].agg(lambda p: p.max() - p.min())
    assert (spread > 0).all(), spread[spread == 0]
    flat = card.selection_[card.selection_["step"] == "flat"]
    assert {"x_089", "x_049"} <= set(flat["variable"])
    assert flat["reason"].str.startswith("every bin gets the same points").all()
    assert not {"x_089", "x_049"} & set(card.features_)


def test_standard_errors_correlations_and_vif_are_those_of_the_training_woe_rows(card, uci, tmp_path):
    """Before, neither the card nor its bundle kept standard errors or the WOE correlations, so a report could
    show no Wald test and no VIF. Now the fit keeps them, by hand from the WOE rows, and the bundle stores them."""
    from scipy import stats

    X, y = uci.train.X, uci.train.y.astype(float)
    woe = card.binning_.transform(X, card.features_).to_numpy()
    a = np.column_stack([np.ones(len(y)), woe])
    p = 1 / (1 + np.exp(-(a @ np.r_[card.intercept_, card.coef_])))
    info = a.T @ (a * (p * (1 - p))[:, None]) + np.diag([0.0, *[1 / card.C] * len(card.features_)])
    se = np.sqrt(np.diag(np.linalg.inv(info)))
    corr = np.corrcoef(woe, rowvar=False)
    t = card.fit_statistics().set_index("variable")
    np.testing.assert_allclose(t["std_error"].to_numpy(), se, rtol=1e-6)
    np.testing.assert_allclose(t["wald_z"].to_numpy(), np.r_[card.intercept_, card.coef_] / se, rtol=1e-6)
    np.testing.assert_allclose(t["p_value"].to_numpy(), 2 * stats.norm.sf(np.abs(t["wald_z"].to_numpy())))
    np.testing.assert_allclose(card.woe_corr_.to_numpy(), corr, atol=1e-9)
    np.testing.assert_allclose(t["vif"].iloc[1:].to_numpy(), np.diag(np.linalg.inv(corr)), rtol=1e-6)
    save_bundle(card, tmp_path / "m")
    loaded = load_bundle(tmp_path / "m").model
    pd.testing.assert_frame_equal(loaded.fit_statistics(), card.fit_statistics())
    # a re-hashed bundle with a bad value is refused, naming the key
    from creditflow.bundle import read_bundle, write_bundle_files

    _, blobs = read_bundle(tmp_path / "m")
    doc = json.loads(blobs["model.json"])
    doc["statistics"]["standard_errors"][card.features_[0]] = -1
    blobs["model.json"] = json.dumps(doc).encode()
    write_bundle_files(tmp_path / "m2", blobs, card.model_type)
    with pytest.raises(BundleError, match=f"statistics.standard_errors.{card.features_[0]}"):
        load_bundle(tmp_path / "m2")


def _regular_woe(vb) -> np.ndarray:
    return np.asarray(vb.woe[: vb.n_regular], dtype=float)


def test_a_trend_per_variable_binds_only_the_variables_it_names(shared_data):
    """On yinlian x_125 and x_054 are binned free of a trend by default ("auto"). binning.monotonic={column:
    trend} forces a trend on them alone, in WOE (risk) against the value: every other column keeps its
    default bins, or takes the "*" entry."""
    data = cf.read_table(YINLIAN, "y", id="user_id")
    default = cf.Scorecard().fit(data.train)
    asked = {"x_125": "ascending", "x_054": "descending"}
    card = cf.Scorecard(binning={"monotonic": asked}).fit(data.train)
    for var, trend in asked.items():
        assert default.binning_.bins_[var].trend == "none"
        vb = card.binning_.bins_[var]
        assert vb.trend == trend and vb.n_regular >= 3
        step = np.diff(_regular_woe(vb))
        assert (step > 0).all() if trend == "ascending" else (step < 0).all()
    for var, vb in card.binning_.bins_.items():
        if var not in asked:
            assert vb.to_dict() == default.binning_.bins_[var].to_dict(), var
    # risk rising with x_125: its points fall along its regular bins
    if "x_125" in card.features_:
        pts = card.points_.set_index("variable").loc["x_125", "points"].to_numpy()[: vb.n_regular]
        assert (np.diff(pts) <= 0).all()
    # "*" gives the trend of the columns not named
    free = cf.BinningProcess(monotonic="none").fit(data.train.X, data.train.y)
    mixed = cf.BinningProcess(monotonic={"*": "none", "x_002": "descending"}).fit(data.train.X, data.train.y)
    assert mixed.bins_["x_002"].trend == "descending" and (np.diff(_regular_woe(mixed.bins_["x_002"])) < 0).all()
    assert all(mixed.bins_[v].to_dict() == free.bins_[v].to_dict() for v in free.bins_ if v != "x_002")
    assert cf.Scorecard(binning={"monotonic": asked}).get_params()["binning"] == {"monotonic": asked}


@pytest.fixture(scope="module")
def drifting(tmp_path_factory):
    """uci_taiwan with a month column (ID % 6: 2005-04 to 2005-09, the last held out as out-of-time) in which
    LIMIT_BAL is scaled up month by month (x1.0, x1.4, ...): its spread over its bins drifts, the others' not."""
    frame = pd.read_csv(UCI)
    step = frame["ID"] % 6
    frame.insert(1, "month", [f"2005-{m + 4:02d}" for m in step])
    frame["LIMIT_BAL"] = frame["LIMIT_BAL"] * (1 + 0.4 * step)
    path = tmp_path_factory.mktemp("drift") / "uci_month.csv"
    frame.to_csv(path, index=False)
    return path


def test_a_variable_whose_bins_drift_across_training_months_is_dropped_for_stability(drifting):
    ds = cf.read_table(drifting, UCI_TARGET, id="ID", time="month")
    card = cf.Scorecard().fit(ds.train)
    sel = card.selection_.set_index("variable")
    assert sel.at["LIMIT_BAL", "step"] == "stability" and "LIMIT_BAL" not in card.features_
    assert re.fullmatch(r"CSI \d\.\d{3} > 0\.25 in period 2005-0[4-8] against the whole training sample "
                        r"\(\d of 5 training periods above 0\.25\)", sel.at["LIMIT_BAL", "reason"])
    assert (sel["step"] == "stability").sum() == 1
    # the largest CSI of a training month against all training rows, recomputed from the rows
    vb = card.binning_.bins_["LIMIT_BAL"]
    idx = vb.bin_indices(ds.train.X["LIMIT_BAL"])
    month = ds.train.time.to_numpy()
    whole = np.bincount(idx, minlength=len(vb.labels)) / len(idx)
    worst = 0.0
    for m in np.unique(month):
        share = np.bincount(idx[month == m], minlength=len(vb.labels)) / (month == m).sum()
        e, a = np.maximum(whole, 1e-4), np.maximum(share, 1e-4)
        worst = max(worst, float(((a - e) * np.log(a / e)).sum()))
    assert sel.at["LIMIT_BAL", "csi"] == pytest.approx(worst, rel=1e-12) and worst > 0.5
    assert (sel["csi"].drop("LIMIT_BAL").dropna() < 0.01).all()  # months drawn at random: stable
    # without a time column, or with max_csi null, there is no stability step and LIMIT_BAL is judged as before
    plain = cf.Scorecard().fit(ds.train.X, ds.train.y)
    off = cf.Scorecard(selection={"max_csi": None}).fit(ds.train)
    assert "csi" not in plain.selection_ and not (plain.selection_["step"] == "stability").any()
    pd.testing.assert_frame_equal(off.selection_, plain.selection_)
    assert "LIMIT_BAL" in plain.features_
    loose = cf.Scorecard(selection={"max_csi": 1.0}).fit(ds.train)
    assert "LIMIT_BAL" in loose.features_ and loose.selection_["csi"].notna().any()


def test_training_periods_too_small_to_compare_are_pooled_in_time_order():
    from creditflow.selection.stability import MIN_PERIOD_ROWS, period_groups

    sizes = {"2024-01": 600, "2024-02": 100, "2024-03": 200, "2024-04": 300, "2024-05": 50}
    assert MIN_PERIOD_ROWS == 500
    months = pd.Series([m for m, n in reversed(sizes.items()) for _ in range(n)])
    codes, names = period_groups(months)
    assert names == ["2024-01", "2024-02 to 2024-05"]
    assert (codes[months.to_numpy() == "2024-01"] == 0).all() and (codes[months.to_numpy() != "2024-01"] == 1).all()
    assert period_groups(pd.Series(["2024-01"] * 300 + ["2024-02"] * 300))[1] == ["2024-01 to 2024-02"]


def test_vif_and_grade_notes_read_true():
    """Before, a VIF of 2.02 against max_vif=2 read "VIF 2.0 > 2" and one populated grade "have only 1 rows"; now
    the VIF shows the digits that make it larger than the limit, and the note counts populated grades."""
    from creditflow.scoring.scaling import Grades, empty_grades
    from creditflow.selection.filters import vif_filter_corr

    r = np.sqrt(1 - 1 / 2.02)
    corr = pd.DataFrame([[1.0, r], [r, 1.0]], index=["a", "b"], columns=["a", "b"])
    assert vif_filter_corr(["a", "b"], corr, 2) == {"a": "VIF 2.02 > 2"}
    assert vif_filter_corr(["a", "b"], corr, 1.5) == {"a": "VIF 2.0 > 1.5"}
    _, text = empty_grades(Grades(), np.array([560.0, 570.0, 590.0]))
    assert "rest on only 1 populated grade." in text and "rows" not in text.split("grade rest")[1][:40]
    _, text = empty_grades(Grades(), np.array([500.0, 570.0, 590.0]))
    assert "rest on only 2 populated grades." in text


def test_a_bundle_saved_with_rounded_split_labels_still_loads_with_exact_ones():
    """Bin labels showed splits to 6 digits ("[-inf, 10068.8)" for a split at 10068.82), so rows between the two
    sat in a bin their label left out; they now show the split exactly. A bundle saved before keys its points
    table by the rounded labels: it loads (the points are matched bin by bin), with the exact labels."""
    rng = np.random.default_rng(3)
    x = rng.uniform(0, 2, 4000)
    y = (rng.random(4000) < np.where(x < 1.0000004, 0.1, 0.4)).astype(int)
    card = cf.Scorecard(user_splits={"x": [1.0000004]}).fit(pd.DataFrame({"x": x}), y)
    assert card.points_["bin"].tolist()[:2] == ["[-inf, 1.0000004)", "[1.0000004, inf)"]
    files = json.loads(json.dumps(card.to_bundle()))
    old = {"[-inf, 1.0000004)": "[-inf, 1)", "[1.0000004, inf)": "[1, inf)"}
    for row in files["model.json"]["points"]:
        row["bin"] = old.get(row["bin"], row["bin"])
    loaded = cf.Scorecard.from_bundle(files)
    assert loaded.points_["bin"].tolist() == card.points_["bin"].tolist()
    assert (loaded.predict_score(pd.DataFrame({"x": x})) == card.predict_score(pd.DataFrame({"x": x}))).all()
    files["model.json"]["points"][0]["points"] += 1
    with pytest.raises(BundleError, match="points table does not match"):
        cf.Scorecard.from_bundle(files)


def test_blank_text_cells_count_as_missing_in_the_missing_rate_as_in_the_bins():
    """A text column of blank strings ("" from a database or a form) has them in its Missing bin, but its missing
    rate counted only NaN: 967 of 1,000 blank german_credit rows read as 0.000 missing and the column was judged on
    IV instead of max_missing; the same column with NaN was dropped at 0.967. The rate is now the Missing bin's."""
    frame = pd.read_csv(GERMAN)
    y = (frame.pop("creditability") == "bad").astype(int)
    rng = np.random.default_rng(0)
    blank = np.where(rng.random(len(frame)) < 0.97, "", np.where(rng.random(len(frame)) < 0.5, "a", "b"))
    frame["blank"] = blank
    frame["nan"] = pd.Series(blank).replace("", np.nan).to_numpy(dtype=object)
    card = cf.Scorecard().fit(frame, y)
    s = card.selection_.set_index("variable")
    rate = float((blank == "").mean())
    assert s.loc["blank", "missing_rate"] == s.loc["nan", "missing_rate"] == pytest.approx(rate)
    assert s.loc["blank", "step"] == s.loc["nan", "step"] == "missing"
    assert s.loc["age_in_years", "missing_rate"] == 0.0


def test_dates_in_a_numeric_input_are_refused_and_nat_alone_is_missing(card, uci):
    """pandas makes a column of pd.NaT (a missing value in a record) a date column: it is missing, as score_row
    reads it; it scored as NaT's integer, the lowest int64, in the lowest bin. Real dates are refused."""
    row = {**uci.test.X.iloc[0].to_dict(), "LIMIT_BAL": pd.NaT}
    assert card.scores(pd.DataFrame([row]))["score"].iat[0] == card.score_row(row)["score"]
    frame = uci.test.X.head(3).assign(LIMIT_BAL=pd.to_datetime([None, "2024-01-01", "2024-02-01"]))
    with pytest.raises(SchemaError, match="dates or durations") as err:
        card.scores(frame)
    assert err.value.column == "LIMIT_BAL" and err.value.row == 2


def test_a_correlation_reason_says_when_its_partner_left_later():
    """On yinlian with max_features=8, x_196 loses on correlation to x_198, which max_features then drops: the
    reason named x_198 as if it stood for x_196 in the card. Now it says x_198 left too, and by which step."""
    data = cf.read_table(YINLIAN, "y", id="user_id")
    card = cf.Scorecard(selection={"max_features": 8}).fit(data.train)
    sel = card.selection_.set_index("variable")
    later = sel[sel["reason"].str.contains("was dropped later", na=False)]
    assert len(later) > 0
    for _var, row in later.iterrows():
        partner = row["reason"].split(" with ")[1].split(" (IV")[0]
        assert row["step"] == "correlation" and not sel.at[partner, "selected"]
        assert row["reason"].endswith(f"; {partner} was dropped later ({sel.at[partner, 'step']})")
    kept_partner = sel[(sel["step"] == "correlation") & ~sel.index.isin(later.index)]
    for _var, row in kept_partner.iterrows():
        assert sel.at[row["reason"].split(" with ")[1].split(" (IV")[0], "selected"]

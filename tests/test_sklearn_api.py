"""The models as a notebook user drives them through scikit-learn: text targets in its scorers, tables
converted to numpy, indexes kept, pickling, and the parameters a bundle records."""

from __future__ import annotations

import json
import pickle
import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import GridSearchCV, cross_val_score

import creditflow as cf
from creditflow.bundle import load_bundle, save_bundle
from creditflow.data.errors import DataError
from creditflow.models.boosted import BoostedScorecard
from creditflow.models.gbdt import GBDTModel
from creditflow.models.scorecard import Scorecard
from tests.conftest import GERMAN

FAST_GBDT = {"candidates": [{"num_leaves": 7, "min_data_in_leaf": 20}], "folds": 2, "learning_rate": 0.2}
MODELS = {
    "scorecard": lambda: cf.Scorecard(),
    "boosted": lambda: BoostedScorecard(interactions=0, boosting={"outer_bags": 2}),
    "gbdt": lambda: GBDTModel(**FAST_GBDT),
}


@pytest.fixture(scope="module")
def german() -> tuple[pd.DataFrame, pd.Series]:
    frame = pd.read_csv(GERMAN)
    labels = frame.pop("creditability")  # "good" / "bad"
    return frame, labels


@pytest.mark.parametrize("kind", list(MODELS))
def test_text_labels_score_the_right_way_round_in_sklearn_scorers(german, kind):
    X, labels = german
    y01 = (labels == "bad").astype(int)
    text_auc = cross_val_score(MODELS[kind](), X, labels, cv=3, scoring="roc_auc")
    plain_auc = cross_val_score(MODELS[kind](), X, y01, cv=3, scoring="roc_auc")
    # sklearn takes "good" (the last label sorted) as its positive class: the same ranking, read from the
    # good column, gives the same AUC as the 0/1 target (it gave 1 - AUC before)
    np.testing.assert_allclose(text_auc, plain_auc, atol=1e-9)
    assert text_auc.mean() > 0.7
    m = MODELS[kind]().fit(X, labels)
    assert list(m.classes_) == ["bad", "good"] and m.bad_class_ == "bad"
    proba = m.predict_proba(X)
    np.testing.assert_allclose(proba[:, 0], m.scores(X)["probability"].to_numpy())
    assert set(m.predict(X)) <= {"bad", "good"}
    assert (m.predict(X) == labels).mean() > 0.7
    # a 0/1 fit keeps column 1 = bad and 0/1 predictions
    m01 = MODELS[kind]().fit(X, y01)
    assert list(m01.classes_) == [0, 1]
    np.testing.assert_allclose(m01.predict_proba(X)[:, 1], proba[:, 0])
    assert m01.predict(X).tolist() == (m.predict(X) == "bad").astype(int).tolist()


def test_a_target_of_the_texts_0_and_1_keeps_them_as_labels(german, tmp_path):
    # before, "0"/"1" read as text (a CSV read with dtype=str) gave classes_ [0, 1] and integer predictions, so
    # sklearn's accuracy scorer answered nan ("Mix of label input types") and `score` raised
    X, labels = german
    text = (labels == "bad").astype(int).astype(str)
    m = Scorecard().fit(X, text)
    assert list(m.classes_) == ["0", "1"] and m.bad_class_ == "1"
    assert set(m.predict(X)) <= {"0", "1"} and m.score(X, text) > 0.7
    accuracy = cross_val_score(Scorecard(), X, text, cv=3, scoring="accuracy")
    assert np.isfinite(accuracy).all() and accuracy.mean() > 0.7
    np.testing.assert_allclose(m.predict_proba(X)[:, 1], Scorecard().fit(X, text.astype(int)).predict_proba(X)[:, 1])
    save_bundle(m, tmp_path / "b")
    assert load_bundle(tmp_path / "b").model.predict(X.head(5)).tolist() == m.predict(X.head(5)).tolist()


def test_a_report_reads_an_x_y_pair_of_text_labels(german):
    # before, build_report(model, {"test": (X, labels)}) with good/bad labels failed in numpy
    # ("invalid literal for int() with base 10: 'bad'"); a Dataset from read_table worked
    from creditflow.report import build_report

    X, labels = german
    y01 = (labels == "bad").astype(int)
    m = Scorecard().fit(X, labels)
    text = build_report(m, {"test": (X, labels)}).tables()
    plain = build_report(m, {"test": (X, y01)}).tables()
    assert text.keys() == plain.keys()
    for key in text:
        pd.testing.assert_frame_equal(text[key].frame, plain[key].frame)
    build_report(Scorecard().fit(X, y01), {"test": (X, labels)})  # a 0/1 model, good/bad labels: read as read_table does
    with pytest.raises(DataError, match="target label 'ok' .* is not one the model was fitted on"):
        build_report(m, {"test": (X, labels.replace({"good": "ok"}))})


@pytest.mark.parametrize("kind", list(MODELS))
def test_text_labels_survive_the_bundle(german, tmp_path, kind):
    X, labels = german
    m = MODELS[kind]().fit(X, labels)
    save_bundle(m, tmp_path / "b")
    loaded = load_bundle(tmp_path / "b").model
    assert list(loaded.classes_) == ["bad", "good"] and loaded.bad_class_ == "bad"
    np.testing.assert_allclose(loaded.predict_proba(X), m.predict_proba(X), rtol=0, atol=1e-12)
    assert loaded.predict(X).tolist() == m.predict(X).tolist()


def test_grid_search_on_text_labels_picks_what_it_picks_on_0_1(german):
    X, labels = german
    grid = {"C": [0.001, 0.1, 10.0]}
    text = GridSearchCV(cf.Scorecard(), grid, cv=3, scoring="roc_auc").fit(X, labels)
    plain = GridSearchCV(cf.Scorecard(), grid, cv=3, scoring="roc_auc").fit(X, (labels == "bad").astype(int))
    assert text.best_params_ == plain.best_params_
    np.testing.assert_allclose(text.cv_results_["mean_test_score"], plain.cv_results_["mean_test_score"])


def test_report_reads_the_bad_column_of_a_plain_sklearn_classifier(german):
    from creditflow.report.model_view import ModelView, _bad_column

    X, labels = german
    num = X.select_dtypes("number")
    lr = LogisticRegression(max_iter=2000).fit(num, labels)  # classes_ ["bad", "good"]
    assert _bad_column(lr) == 0
    out = ModelView(lr).score(num)
    np.testing.assert_allclose(out["probability"].to_numpy(), lr.predict_proba(num)[:, 0])
    odd = LogisticRegression(max_iter=2000).fit(num, np.where(labels == "bad", 2, 1))
    with pytest.raises(cf.CreditflowError, match="means bad"):
        _bad_column(odd)


@pytest.mark.parametrize("kind", list(MODELS))
def test_a_table_given_as_an_object_array_fits_as_the_table_does(german, kind):
    X, labels = german
    y = (labels == "bad").astype(int).to_numpy().copy()
    named = X.set_axis([f"x{i}" for i in range(X.shape[1])], axis=1)  # the names an array gets
    from_frame = MODELS[kind]().fit(named, y)
    from_array = MODELS[kind]().fit(X.to_numpy(), y)  # a mixed table: one object array
    assert X.to_numpy().dtype == object
    np.testing.assert_allclose(from_array.predict_proba(X.to_numpy()), from_frame.predict_proba(named),
                               rtol=0, atol=1e-12)
    if kind != "gbdt":
        amount = from_array.binning_.bins_["x4"]  # credit_amount
        assert amount.kind == "numeric"


def test_decimal_numbers_bin_as_numbers(german):
    from decimal import Decimal

    X, labels = german
    dec = X.assign(credit_amount=[Decimal(str(v)) for v in X["credit_amount"]])
    a = cf.Scorecard().fit(X, labels)
    b = cf.Scorecard().fit(dec, labels)
    assert b.binning_.bins_["credit_amount"].kind == "numeric"
    assert a.points_.equals(b.points_)
    np.testing.assert_array_equal(a.predict_score(dec), a.predict_score(X))
    assert isinstance(dec["credit_amount"].iloc[0], Decimal)  # the caller's table is left as it was


@pytest.mark.parametrize("kind", list(MODELS))
def test_scores_keep_the_rows_index(german, kind):
    X, labels = german
    m = MODELS[kind]().fit(X, labels)
    some = X[X.age_in_years < 30]
    scored = m.scores(some)
    assert scored.index.equals(some.index)
    joined = some.join(scored)
    assert joined["score"].notna().all()
    np.testing.assert_array_equal(joined["score"].to_numpy(), m.scores(some.reset_index(drop=True))["score"])


@pytest.mark.parametrize("kind", list(MODELS))
def test_fitted_models_pickle(german, kind):
    X, labels = german
    m = MODELS[kind]().fit(X, labels)
    back = pickle.loads(pickle.dumps(m))
    np.testing.assert_array_equal(back.predict_proba(X), m.predict_proba(X))
    row = X.iloc[5].to_dict()
    assert back.score_row(row) == m.score_row(row)


@pytest.mark.parametrize("kind", list(MODELS))
def test_bundle_records_the_parameters_of_the_fit(german, tmp_path, kind):
    X, labels = german
    name, used, later = ("C", 0.5, 5.0) if kind == "scorecard" else ("random_state", 7, 99)
    m = MODELS[kind]().set_params(**{name: used}).fit(X, labels)
    fitted_with = m.get_params()
    m.set_params(**{name: later})  # after the fit: the model is still the one fitted with `used`
    save_bundle(m, tmp_path / "b")
    doc = json.loads((tmp_path / "b" / ("gbdt.json" if kind == "gbdt" else "model.json")).read_text())
    assert doc["params"][name] == used
    loaded = load_bundle(tmp_path / "b").model
    assert loaded.get_params()[name] == used
    # a clone of the loaded model refits to the same model
    refit = clone(loaded).fit(X, labels)
    np.testing.assert_allclose(refit.predict_proba(X), m.predict_proba(X), rtol=0, atol=1e-12)
    assert {k: v for k, v in refit.get_params().items() if k != "dictionary"} == {
        k: v for k, v in fitted_with.items() if k != "dictionary"}


def test_a_loaded_scorecard_keeps_its_settings(german, tmp_path):
    X, labels = german
    card = cf.Scorecard(binning={"max_bins": 4}, C=1.0, coef_sign="any").fit(X, labels)
    save_bundle(card, tmp_path / "b")
    loaded = load_bundle(tmp_path / "b").model
    assert loaded.C == 1.0 and loaded.coef_sign == "any" and loaded.binning["max_bins"] == 4
    assert clone(loaded).fit(X, labels).points_.equals(card.points_)


def test_a_refit_that_fails_leaves_no_half_of_the_old_model(german):
    from sklearn.exceptions import NotFittedError

    X, labels = german
    card = cf.Scorecard().fit(X, labels)
    noise = pd.DataFrame({"noise": np.random.default_rng(0).normal(size=len(X))})
    with pytest.raises(cf.CreditflowError):
        card.set_params(selection={"min_iv": 5.0}).fit(noise, labels)  # nothing survives
    assert not hasattr(card, "binning_") and not hasattr(card, "features_")
    with pytest.raises(NotFittedError):
        card.predict_proba(X)
    card.set_params(selection=None).fit(X, labels)  # and it fits again as new
    np.testing.assert_array_equal(card.predict_proba(X), cf.Scorecard().fit(X, labels).predict_proba(X))


def test_a_binning_refit_that_fails_leaves_it_unfitted(german):
    from sklearn.exceptions import NotFittedError

    X, labels = german
    bp = cf.BinningProcess().fit(X, labels)
    bad = X.assign(duration_in_month=X["duration_in_month"].astype(float).where(X.index != 0, np.inf))
    with pytest.raises(cf.CreditflowError, match="infinite"):
        bp.fit(bad, labels)
    # not the earlier fit's bins, which transform would go on using
    assert not hasattr(bp, "bins_") and not hasattr(bp, "n_features_in_") and not hasattr(bp, "iv_")
    with pytest.raises(NotFittedError):
        bp.transform(X)
    assert bp.fit(X, labels).transform(X).equals(cf.BinningProcess().fit(X, labels).transform(X))


def test_a_recompressed_card_records_its_own_shape_settings(german, tmp_path):
    X, labels = german
    m = MODELS["boosted"]().fit(X, labels)
    r = m.recompress({"max_bins": 3})
    save_bundle(r, tmp_path / "r")
    loaded = load_bundle(tmp_path / "r").model
    assert loaded.get_params()["shape"] == {"max_bins": 3} and loaded.shape_settings_.max_bins == 3
    assert json.loads((tmp_path / "r" / "model.json").read_text())["params"]["shape"] == {"max_bins": 3}
    save_bundle(m, tmp_path / "m")  # the original keeps its own
    assert json.loads((tmp_path / "m" / "model.json").read_text())["params"]["shape"] is None


def test_long_whole_codes_in_an_object_column_are_not_rounded():
    rng = np.random.default_rng(0)
    codes = np.array([2**53 + 1, 2**53 + 2, 2**53 + 3, 2**53 + 4], dtype=object)  # float64 merges them
    c = rng.integers(0, 4, 4000)
    y = (rng.random(4000) < np.array([0.05, 0.4, 0.05, 0.4])[c]).astype(int)
    X = pd.DataFrame({"merchant": pd.Series(codes[c], dtype=object), "amount": rng.normal(size=4000)})
    m = cf.Scorecard(categorical=["merchant"], selection={"min_iv": 0.0}).fit(X, y)
    keys = {k for g in m.binning_.bins_["merchant"].groups for k in g}
    assert {str(v) for v in codes} <= {str(k) for k in keys}
    rows = X.head(50)
    assert m.scores(rows)["score"].tolist() == [m.score_row(r)["score"] for r in rows.to_dict("records")]


ESTIMATORS = {**MODELS, "binning": lambda: cf.BinningProcess()}


@pytest.mark.parametrize("kind", list(ESTIMATORS))
@pytest.mark.parametrize("cell", [["a", "b"], {"a": 1}])
def test_a_nested_column_is_refused_at_fit_naming_it(german, kind, cell):
    X, labels = german
    with pytest.raises(cf.CreditflowError, match="nested") as err:  # was pandas' "unhashable type: 'list'"
        ESTIMATORS[kind]().fit(X.assign(tags=[cell] * len(X)), labels)
    assert err.value.column == "tags"


@pytest.mark.parametrize("kind", list(ESTIMATORS))
def test_one_nested_value_among_categories_is_refused_by_its_row(german, kind):
    # Only the first value was looked at: a dict in row 6 of a text column (rows of JSON) reached pandas'
    # "unhashable type: 'dict'" at fit, and at scoring fell in the Unseen bin.
    X, labels = german
    var = next(v for v in X.columns if not pd.api.types.is_numeric_dtype(X[v]))
    mixed = X.astype({var: object})
    mixed.at[mixed.index[5], var] = {"code": X[var].iloc[5]}
    with pytest.raises(cf.CreditflowError, match=r"nested values \(dict\)") as err:
        ESTIMATORS[kind]().fit(mixed, labels)
    assert err.value.column == var and err.value.row == 6
    if kind in MODELS:
        m = MODELS[kind]().fit(X, labels)
        if var in m.features_:
            with pytest.raises(cf.CreditflowError, match="nested") as err:
                m.predict_proba(mixed)
            assert err.value.row == 6


@pytest.mark.parametrize("kind", list(MODELS))
def test_a_nested_model_column_is_refused_at_scoring(german, kind):
    X, labels = german
    m = MODELS[kind]().fit(X, labels)
    var = next(v for v in m.features_ if not pd.api.types.is_numeric_dtype(X[v]))
    nested = X.assign(**{var: [[X[var].iloc[0]]] * len(X)})
    for score in (m.scores, m.predict_proba, m.predict_score):
        with pytest.raises(cf.CreditflowError, match="nested") as err:  # was scored in the Unseen bin
            score(nested)
        assert err.value.column == var
    with pytest.raises(cf.CreditflowError, match="nested") as err:
        m.score_row({**X.iloc[0].to_dict(), var: [X[var].iloc[0]]})
    assert err.value.column == var
    m.scores(X.assign(other=[{"a": 1}] * len(X)))  # a column the model does not use is not its business


@pytest.mark.parametrize("kind", list(MODELS))
def test_complex_numbers_are_refused_naming_the_column(german, kind):
    X, labels = german
    Xn = X.select_dtypes("number")
    Xc = Xn.to_numpy().astype(complex)
    Xc[:, 0] += 1000j
    with pytest.raises(cf.CreditflowError, match="complex") as err:  # was fitted on the real part
        MODELS[kind]().fit(Xc, labels)
    assert err.value.column == "x0"
    m = MODELS[kind]().fit(Xn, labels)
    col = m.features_[0]
    with pytest.raises(cf.CreditflowError, match="complex") as err:
        m.scores(Xn.assign(**{col: Xn[col].astype(complex)}))
    assert err.value.column == col


def test_sparse_input_and_a_two_column_target_get_a_clear_error(german):
    import scipy.sparse as sp

    X, labels = german
    Xn = X.select_dtypes("number")
    with pytest.raises(cf.CreditflowError, match=r"sparse input is not supported.*toarray\(\)"):
        cf.Scorecard().fit(sp.csr_matrix(Xn.to_numpy()), labels)
    card = cf.Scorecard().fit(Xn, labels)
    with pytest.raises(cf.CreditflowError, match="sparse input is not supported"):
        card.predict_proba(sp.csr_matrix(Xn.to_numpy()))
    y = (labels == "bad").astype(int)
    with pytest.raises(cf.CreditflowError, match="y must be one column"):  # was "X has 1000 rows but y has 2000"
        cf.Scorecard().fit(X, pd.DataFrame({"a": y, "b": y}))
    one = cf.Scorecard().fit(X, y.to_frame())  # a one-column frame is a target
    np.testing.assert_array_equal(one.predict_proba(X), cf.Scorecard().fit(X, y).predict_proba(X))


@pytest.mark.parametrize("kind", list(MODELS))
def test_an_unfitted_model_raises_not_fitted_for_every_prediction(german, kind):
    from sklearn.exceptions import NotFittedError
    from sklearn.utils.estimator_checks import check_estimators_unfitted

    X, _ = german
    for method in ("predict", "predict_score", "predict_proba", "decision_function", "scores"):
        with pytest.raises(NotFittedError):  # predict / predict_score raised AttributeError
            getattr(MODELS[kind](), method)(X)
    check_estimators_unfitted(kind, MODELS[kind]())


@pytest.mark.parametrize("kind", list(MODELS))
def test_the_models_declare_themselves_binary(german, kind):
    from sklearn.utils import get_tags
    from sklearn.utils.estimator_checks import check_classifier_not_supporting_multiclass

    X, labels = german
    assert get_tags(MODELS[kind]()).classifier_tags.multi_class is False
    check_classifier_not_supporting_multiclass(kind, MODELS[kind]())
    y = (labels == "bad").astype(int).to_numpy().copy()
    y[0] = 2
    with pytest.raises(cf.CreditflowError, match=r"Only binary classification is supported.*good and bad"):
        MODELS[kind]().fit(X, y)
    text = labels.to_numpy(dtype=object).copy()
    text[0] = "unsure"
    with pytest.raises(cf.CreditflowError, match=r"Only binary classification is supported.*good and bad"):
        MODELS[kind]().fit(X, text)
    with pytest.raises(cf.CreditflowError, match="0/1"):  # two values that are not 0/1 keep their own message
        MODELS[kind]().fit(X, (labels == "bad").astype(int) + 1)


def test_the_tags_say_missing_values_are_taken_so_feature_selectors_pass_them_on(german):
    # the models and BinningProcess bin NaN (Missing bin; the trees' missing branch), but their tags said
    # allow_nan=False, so SequentialFeatureSelector / RFE / SelectFromModel refused a table with a blank
    # cell ("SequentialFeatureSelector does not accept missing values encoded as NaN natively")
    from sklearn.feature_selection import SequentialFeatureSelector
    from sklearn.utils import get_tags

    X, labels = german
    for make in [*MODELS.values(), cf.BinningProcess]:
        assert get_tags(make()).input_tags.allow_nan is True
    num = X[["duration_in_month", "credit_amount", "age_in_years"]].astype(float)
    num.loc[num.index % 10 == 0, "credit_amount"] = np.nan
    sfs = SequentialFeatureSelector(cf.Scorecard(), n_features_to_select=1, cv=2, scoring="roc_auc")
    assert sfs.fit(num, labels).get_feature_names_out().tolist() == ["duration_in_month"]


@pytest.mark.parametrize("kind", list(MODELS))
def test_scoring_a_column_of_only_unseen_categories_warns_where_the_workflow_refuses(german, kind, tmp_path):
    import warnings

    from creditflow.workflow import score_table

    X, labels = german
    m = MODELS[kind]().fit(X, labels)
    var = next(v for v in m.features_ if not pd.api.types.is_numeric_dtype(X[v]))
    recoded = X.assign(**{var: "zzz"})
    for score in (m.scores, m.predict_proba, m.predict_score, m.predict):
        with pytest.warns(cf.UnseenCategoryWarning, match=rf"column '{var}': every one of its 1,000 values") as got:
            score(recoded)  # was scored silently, every row in the Unseen bin
        assert issubclass(got[0].category, UserWarning) and "allow_unseen=True" in str(got[0].message)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        m.scores(recoded.head(19))  # the workflow's rule: at least 20 rows,
        m.scores(X.assign(**{var: X[var].where(X.index > 0, "zzz")}))  # every value present unseen
        m.score_row(recoded.iloc[0].to_dict())
    save_bundle(m, tmp_path / "b")
    with pytest.raises(cf.CreditflowError, match=r"creditflow\.workflow\.score_table\(\.\.\., allow_unseen=True\)"):
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # refused, not warned as well
            score_table(tmp_path / "b", recoded)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # allowed on purpose: no warning
        allowed = score_table(tmp_path / "b", recoded, allow_unseen=True, reasons=kind != "gbdt")
    assert allowed.attrs["unseen"] == {var: len(X)}


def test_one_bin_is_refused_at_the_settings_check(german):
    X, labels = german
    with pytest.raises(cf.CreditflowError, match="max_bins must be between 2 and 100"):
        cf.Scorecard(binning={"max_bins": 1}).fit(X, labels)  # was "no variable survived selection"


def test_the_docs_say_a_boolean_target_gives_classes_0_1_and_weights_are_unsupported(german):
    from pathlib import Path

    X, labels = german
    m = cf.Scorecard().fit(X, labels == "bad")
    assert list(m.classes_) == [0, 1] and m.predict_proba(X)[:, 1].tolist() == m.scores(X)["probability"].tolist()
    for cls in (cf.Scorecard, GBDTModel):
        assert "[0, 1]`` for a numeric or boolean target, 1 (True) being bad" in cls.__doc__
    readme = " ".join((Path(__file__).parents[1] / "README.md").read_text(encoding="utf-8").split())
    assert "Sample weights are not supported" in readme


def test_binning_tables_carry_the_field_meaning_when_a_dictionary_is_known(tmp_path):
    """Before, `BinningProcess.tables_` / `binning_table` and a card's `binning_.tables_` had no meaning column
    (only `points_` had); now they carry the dictionary's meaning when one is known, and nothing changes
    without one."""
    meanings = {"duration_in_month": "duration", "age_in_years": "age"}
    data = cf.read_table(GERMAN, "creditability", bad="bad", dictionary=cf.FieldDictionary(meanings=meanings))
    bp = cf.BinningProcess().fit(data.train)
    assert set(bp.tables_["age_in_years"]["meaning"]) == {"age"}
    assert set(bp.binning_table("purpose")["meaning"]) == {""}
    card = cf.Scorecard().fit(data.train)
    assert set(card.binning_.tables_["duration_in_month"]["meaning"]) == {"duration"}
    assert set(card.binning_table("duration_in_month")["meaning"]) == {"duration"}
    save_bundle(card, tmp_path / "m")
    assert set(load_bundle(tmp_path / "m").model.binning_.binning_table("duration_in_month")["meaning"]) == {"duration"}
    plain = cf.BinningProcess().fit(data.train.X, data.train.y)
    assert "meaning" not in plain.binning_table("age_in_years").columns


def test_notebook_forms_of_parameters_are_taken_or_refused_clearly(german, tmp_path):
    # before: dictionary="file.xlsx" or {"col": "meaning"} failed with AttributeError after the whole fit,
    # grades=cf.Grades(...) with "'Grades' object is not iterable", binning={"maxbins": 5} named no valid
    # setting, and workflow.train(params={"binning.max_bins": 3}) raised a bare TypeError
    from creditflow.workflow import train

    X, labels = german
    m = Scorecard(dictionary={"duration_in_month": "loan term (months)"}, grades=cf.Grades([("A", 650), ("B", 0)]),
                  ).fit(X, labels)
    assert m.binning_table("duration_in_month").attrs["meaning"] == "loan term (months)"
    assert m.grades_.names == ["A", "B"] and m.get_params()["grades"] == cf.Grades([("A", 650), ("B", 0)])
    save_bundle(m, tmp_path / "b")
    assert json.loads((tmp_path / "b" / "model.json").read_text())["params"]["grades"] == [["A", 650], ["B", 0]]
    frame = pd.DataFrame({"variable": ["duration_in_month"], "meaning": ["term"]})
    frame.to_csv(tmp_path / "dict.csv", index=False)
    assert Scorecard(dictionary=tmp_path / "dict.csv").fit(X, labels).dictionary_.meaning("duration_in_month") == "term"
    with pytest.raises(cf.CreditflowError, match="dictionary must be a FieldDictionary, the path"):
        Scorecard(dictionary=5).fit(X, labels)
    with pytest.raises(cf.CreditflowError, match="binning has no setting 'maxbins'; its settings are max_bins"):
        Scorecard(binning={"maxbins": 5}).fit(X, labels)
    data = cf.read_table(GERMAN, "creditability", bad="bad")
    assert train(data, params={"binning.max_bins": 3}).model.get_params()["binning"] == {"max_bins": 3}
    with pytest.raises(cf.CreditflowError, match="scorecard has no parameter 'maxbins'; its parameters are C"):
        train(data, params={"maxbins": 3})


def test_ks_of_a_score_given_as_a_probability_warns(german):
    # before, ks(y, score) without higher_is_better=True answered 0.0 without a word
    from creditflow.evaluation import ks

    X, labels = german
    y = (labels == "bad").astype(int)
    s = Scorecard().fit(X, y).scores(X)
    with pytest.warns(UserWarning, match="pass higher_is_better=True"):
        assert ks(y, s["score"]).statistic == 0.0
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert ks(y, s["score"], higher_is_better=True).statistic > 0.4
        assert ks(y, s["probability"]).statistic > 0.4


def test_monitor_takes_a_fitted_model_with_a_reference_table(german):
    from creditflow.monitor import monitor

    X, labels = german
    m = Scorecard().fit(X, labels)
    with pytest.raises(cf.CreditflowError, match="a fitted model carries no training baseline: pass reference="):
        monitor(m, X)
    r = monitor(m, X.tail(300), reference=X.head(700))
    assert r.rows == 300 and 0 <= r.drift.score_psi < 0.25


def test_a_copy_of_the_target_and_a_tiny_sample_are_warned_of(german, tmp_path):
    # before, the target left in X was picked silently as the card's top variable (IV 13.6), and a card was
    # fitted on 2 rows without a word
    import subprocess
    import sys
    import warnings

    X, labels = german
    leaked = X.assign(outcome=labels)
    for model in (Scorecard(), BoostedScorecard(blend="auto")):
        with warnings.catch_warnings(record=True) as seen:
            warnings.simplefilter("always")
            model.fit(leaked, labels)
        leaks = [str(w.message) for w in seen if issubclass(w.category, cf.LeakageWarning)]
        # once, from the user's fit: not again from the blend's own classic cards on its folds
        assert len(leaks) == 1 and leaks[0].startswith("column 'outcome' has an information value of 1"), leaks
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        Scorecard().fit(X.head(60), labels.head(60))
    small = [str(w.message) for w in seen if issubclass(w.category, cf.SmallSampleWarning)]
    n_bad = int((labels.head(60) == "bad").sum())
    assert small == [f"only {n_bad} bad(s) and {60 - n_bad} good(s) to fit on: bins, WOE and points from so few "
                     "are mostly noise (a scorecard wants hundreds of each)"]  # once, not once per step
    with warnings.catch_warnings():
        warnings.simplefilter("error", cf.SmallSampleWarning)
        warnings.simplefilter("error", cf.LeakageWarning)
        Scorecard().fit(X, labels)  # the real table: neither
    pd.read_csv(GERMAN).assign(copy=lambda f: f["creditability"]).to_csv(tmp_path / "g.csv", index=False)
    r = subprocess.run([sys.executable, "-m", "creditflow", "train", str(tmp_path / "g.csv"), "--target",
                        "creditability", "--bad", "bad", "--no-report", "--out", str(tmp_path / "o")],
                       capture_output=True, text=True, timeout=300)
    text = " ".join(r.stderr.split())
    assert r.returncode == 0 and "warning: column 'copy' has an information value of" in text
    assert "LeakageWarning" not in text and "Traceback" not in text


def test_a_model_input_blank_on_every_row_is_warned_of_in_python(german):
    # before, card.scores(X) with a model column blanked by a failed join scored every row at the Missing bin
    # without a word (the CLI noted it; Python did not)
    import warnings

    X, labels = german
    for model in (Scorecard().fit(X, labels), BoostedScorecard().fit(X, labels)):
        var = next(v for v in model.features_ if X[v].dtype.kind in "if")
        with pytest.warns(cf.MissingColumnWarning, match=f"column '{var}' is missing on every one of its 30 rows"):
            model.scores(X.head(30).assign(**{var: np.nan}))
        with warnings.catch_warnings():
            warnings.simplefilter("error", cf.MissingColumnWarning)
            model.scores(X.head(30))
            model.scores(X.head(30).assign(**{var: X[var].head(30).where(X.index[:30] % 2 == 0)}))  # some blank


def test_an_array_given_to_a_model_fitted_on_named_columns_is_warned_of(german):
    # as scikit-learn does: before, an array with its columns in another order scored silently differently
    import warnings

    X, labels = german
    num = X.select_dtypes("number")
    m = Scorecard().fit(num, labels)
    with pytest.warns(UserWarning, match="X has no column names, but the model was fitted with them"):
        by_position = m.scores(num.to_numpy())
    assert (by_position["score"].to_numpy() == m.scores(num)["score"].to_numpy()).all()
    plain = Scorecard().fit(num.to_numpy(), labels)  # fitted on an array: x0, x1, ... and no warning
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        plain.scores(num.to_numpy())


def test_python_train_into_a_folder_holding_a_bundle_needs_force(tmp_path):
    # before, re-running a notebook cell train(data, "champion") replaced the champion's bundle without a word
    # (the CLI refused it unless --force)
    from creditflow.workflow import train

    data = cf.read_table(GERMAN, "creditability", bad="bad")
    train(data, tmp_path / "champion")
    before = (tmp_path / "champion" / "model" / "manifest.json").read_text()
    with pytest.raises(cf.CreditflowError, match="already holds a model bundle; pass force=True"):
        train(data, tmp_path / "champion", kind="gbdt")
    assert (tmp_path / "champion" / "model" / "manifest.json").read_text() == before
    assert train(data, tmp_path / "champion", kind="gbdt", force=True).model.model_type == "gbdt"


def test_a_retrain_stopped_while_writing_its_outputs_leaves_the_previous_run_whole(tmp_path, monkeypatch):
    # before, the bundle was swapped in first and metrics.json, splits.csv and the report followed one by one:
    # a run stopped among them (Ctrl-C while the report rendered, a full disk) left the new bundle beside the
    # previous model's splits and report
    from creditflow import workflow

    data = cf.read_table(GERMAN, "creditability", bad="bad")
    workflow.train(data, tmp_path / "out", report=True)
    before = {p.name: p.read_bytes() for p in (tmp_path / "out").iterdir() if p.is_file()}
    manifest = (tmp_path / "out" / "model" / "manifest.json").read_bytes()

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(workflow, "write_splits", disk_full)
    with pytest.raises(OSError, match="No space left"):
        workflow.train(data, tmp_path / "out", kind="gbdt", report=True, force=True)
    assert (tmp_path / "out" / "model" / "manifest.json").read_bytes() == manifest
    assert {p.name: p.read_bytes() for p in (tmp_path / "out").iterdir() if p.is_file()} == before
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted([*before, "model"])  # nothing left aside
    monkeypatch.undo()
    result = workflow.train(data, tmp_path / "out", kind="gbdt", report=True, force=True)
    version = json.loads((tmp_path / "out" / "model" / "manifest.json").read_text())["model_version"]
    assert version in (tmp_path / "out" / "report.html").read_text() and result.model.model_type == "gbdt"


def test_a_target_in_another_row_order_than_the_table_is_refused(german):
    # rows pair by position (as in scikit-learn); a y whose index holds X's labels in another order (y sorted,
    # or X shuffled, after the two were taken apart) was fitted and measured against other rows' targets
    # without a word: evaluate gave AUC 0.476 instead of 0.824
    from creditflow.evaluation.compare import compare_models
    from creditflow.report import build_report

    X, labels = german
    y = (labels == "bad").astype(int)
    card = cf.Scorecard().fit(X, y)
    reordered = y.iloc[::-1]
    for call in (lambda: cf.Scorecard().fit(X, reordered), lambda: cf.BinningProcess().fit(X, reordered),
                 lambda: cf.Scorecard().fit(X.sample(frac=1, random_state=0), y),
                 lambda: cf.evaluate(card, X, reordered), lambda: compare_models(card, card, X, reordered),
                 lambda: build_report(card, {"test": (X, reordered)}),
                 # and in a Dataset built from them (it was accepted silently: the docs-as-written trial)
                 lambda: build_report(card, cf.Dataset(X=X, y=reordered)),
                 lambda: cf.evaluate(card, cf.Dataset(X=X, y=reordered)),
                 lambda: cf.Scorecard().fit(cf.Dataset(X=X, y=reordered))):
        with pytest.raises(DataError, match=r"same labels as X's, in another order: X's row 1 is labelled \d+, "
                                            r"y's \d+.*y\.loc\[X\.index\]"):
            call()
    auc = cf.evaluate(card, X, y).auc
    assert cf.evaluate(card, X, reordered.loc[X.index]).auc == auc
    # other labels (X reset, y not) or a subset pair by position, as before
    assert cf.evaluate(card, X.reset_index(drop=True).set_axis(range(7, 1007)), y).auc == auc
    assert cf.evaluate(card, X.iloc[::2], y.iloc[::2]).auc == pytest.approx(
        roc_auc_score(y.iloc[::2], card.predict_proba(X.iloc[::2])[:, 1]))
    # an (X, y) pair, as build_report takes; it was "a target is needed to fit"
    assert cf.evaluate(card, (X, y)).auc == auc == pytest.approx(roc_auc_score(y, card.predict_proba(X)[:, 1]))


def test_one_applicant_as_a_series_or_dict_and_a_missing_target_are_explained(german):
    # a row (X.iloc[5]), a dict or a list of dicts read "got an array of shape (20,)" / "of shape ()"; a fit
    # without y "a target is needed to fit" (also from evaluate, which fits nothing)
    from sklearn.utils.estimator_checks import check_fit2d_predict1d, check_requires_y_none

    X, labels = german
    card = cf.Scorecard().fit(X, labels)
    with pytest.raises(DataError, match=r"got a Series of 20 values: for one applicant .*X\.iloc\[\[i\]\]"):
        card.predict_proba(X.iloc[5])
    with pytest.raises(DataError, match=r"got a dict: for one applicant pass pd\.DataFrame\(\[row\]\) or use "
                                        r"score_row"):
        card.scores(X.iloc[5].to_dict())
    with pytest.raises(DataError, match=r"got a list of 2 dicts: pass pd\.DataFrame\(records\)"):
        card.predict(X.head(2).to_dict("records"))
    assert card.score_row(X.iloc[5].to_dict())["probability"] == card.scores(X.iloc[[5]])["probability"].iloc[0]
    for call in (lambda: cf.Scorecard().fit(X), lambda: cf.evaluate(card, X)):
        with pytest.raises(DataError, match="requires y to be passed, but the target y is None"):
            call()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the checks' 20-row fits: small sample, leakage
        for kind in MODELS:
            check_requires_y_none(kind, MODELS[kind]())
            check_fit2d_predict1d(kind, MODELS[kind]())


@pytest.mark.parametrize("kind", list(MODELS))
def test_a_nullable_table_as_an_array_fits_and_scores_as_the_table_does(german, kind):
    # convert_dtypes().to_numpy() (and any object column of numbers with pd.NA) raised a raw TypeError from
    # pandas, "float() argument must be a string or a real number, not 'NAType'"
    X, labels = german
    y = (labels == "bad").astype(int).to_numpy().copy()
    gaps = X.copy()
    gaps.loc[::7, "duration_in_month"] = np.nan
    gaps.loc[::11, "purpose"] = np.nan
    named = gaps.set_axis([f"x{i}" for i in range(X.shape[1])], axis=1)
    arr = gaps.convert_dtypes().to_numpy()
    assert arr[0, 1] is pd.NA
    expected = MODELS[kind]().fit(named, y).predict_proba(named)
    np.testing.assert_array_equal(MODELS[kind]().fit(arr, y).predict_proba(arr), expected)
    one = named.assign(x1=named["x1"].astype(object).where(named["x1"].notna(), pd.NA))  # an object column
    np.testing.assert_array_equal(MODELS[kind]().fit(named, y).predict_proba(one), expected)

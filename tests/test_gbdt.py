"""The LightGBM challenger: same interfaces and score scale as the scorecard, calibration, categories,
determinism, bundle round trip, exact TreeSHAP tables, compiled trees."""

from __future__ import annotations

import json
import warnings

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone

import creditflow as cf
from creditflow.bundle import load_bundle, save_bundle
from creditflow.data import BundleError, DataError, SchemaError
from creditflow.evaluation import auc
from creditflow.models.base import CreditModel, model_class
from creditflow.models.gbdt import GBDTModel
from creditflow.models.gbdt_boost import average_models
from creditflow.scoring.treeshap import TreeTables
from tests.conftest import GERMAN, UCI, UCI_TARGET

FAST = {"folds": 3, "learning_rate": 0.1, "early_stopping": 30}


@pytest.fixture(scope="module")
def uci():
    data = cf.read_table(UCI, UCI_TARGET, id="ID")
    return data.subset(np.arange(6000))


@pytest.fixture(scope="module")
def model(uci):
    return GBDTModel(**FAST).fit(uci.train)


@pytest.fixture(scope="module")
def german():
    return cf.read_table(GERMAN, "creditability", bad="bad")


@pytest.fixture(scope="module")
def gmodel(german):
    return GBDTModel(**FAST, tune=False).fit(german.train)


def test_registered_and_follows_the_protocol(model):
    assert model_class("gbdt") is GBDTModel
    assert isinstance(model, CreditModel)
    assert model.model_type == "gbdt"
    assert clone(model).get_params()["folds"] == 3


def test_ranks_and_is_calibrated_out_of_sample(model, uci):
    p = model.predict_proba(uci.test)[:, 1]
    assert auc(uci.test.y, p) > 0.74
    # Platt fitted on out-of-fold margins: the average PD matches the held-out bad rate
    assert abs(p.mean() - uci.test.bad_rate) < 0.03
    assert model.calibration_.method == "platt" and model.calibration_.slope > 0
    assert len(model.folds_) == 3 and model.tuning_["chosen"].sum() == 1


def test_scores_use_the_scorecard_scale(model, uci):
    s = model.scores(uci.test)
    np.testing.assert_array_equal(s["score"], model.scaling_.score_from_proba(s["probability"]))
    assert s["score"].between(350, 950).all()
    np.testing.assert_array_equal(s["grade"], model.grades_.assign(s["score"]))
    card = cf.Scorecard().fit(uci.train)
    assert model.scaling_ == card.scaling_  # same odds at the same score


def test_dict_scorer_equals_vectorised_scorer(model, uci):
    frame = uci.test.X.head(200)
    vec = model.scores(frame)
    for i, row in enumerate(frame.to_dict("records")):
        one = model.score_row(row)
        assert one["probability"] == vec["probability"].iat[i]
        assert (one["score"], one["grade"]) == (vec["score"].iat[i], vec["grade"].iat[i])


def test_deterministic(german):
    a = GBDTModel(**FAST, tune=False).fit(german.train)
    b = GBDTModel(**FAST, tune=False).fit(german.train)
    assert a.model_text_ == b.model_text_
    assert a.to_bundle()["gbdt.json"] == b.to_bundle()["gbdt.json"]


def test_a_bundle_written_with_other_library_releases_warns_on_load(model, uci, tmp_path):
    import hashlib
    import warnings

    path = save_bundle(model, tmp_path / "m")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the releases it was written with: no warning
        load_bundle(path)
    meta = json.loads((path / "metadata.json").read_text())
    installed = meta["versions"]["lightgbm"]
    meta["versions"].update({"lightgbm": "3.3.5", "creditflow": "0.0.9"})  # as a bundle of other releases reads
    blob = (json.dumps(meta) + "\n").encode()
    (path / "metadata.json").write_bytes(blob)
    manifest = json.loads((path / "manifest.json").read_text())
    manifest["files"]["metadata.json"] = hashlib.sha256(blob).hexdigest()  # not part of the model version
    (path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.warns(UserWarning, match=f"written with lightgbm 3.3.5 and is loaded with lightgbm {installed}") as got:
        back = load_bundle(path).model
    assert any("written with creditflow 0.0.9" in str(w.message) for w in got)
    assert all(w.filename == __file__ for w in got)  # pointed at the caller
    pd.testing.assert_frame_equal(back.scores(uci.test), model.scores(uci.test))  # still loaded and scored


def test_bundle_round_trip_is_exact_and_verified(model, uci, tmp_path):
    save_bundle(model, tmp_path / "m")
    text = (tmp_path / "m" / "model.txt").read_text()
    assert text.startswith("tree\n") and "Tree=0" in text
    doc = json.loads((tmp_path / "m" / "gbdt.json").read_text())
    assert doc["calibration"]["method"] == "platt" and doc["encoder"]["features"] == model.features_
    back = load_bundle(tmp_path / "m").model
    pd.testing.assert_frame_equal(back.scores(uci.test), model.scores(uci.test))
    (tmp_path / "m" / "model.txt").write_text(text.replace("leaf_value=", "leaf_value=1", 1))
    with pytest.raises(BundleError, match="SHA-256"):
        load_bundle(tmp_path / "m")


def test_averaged_model_is_the_mean_of_its_parts(uci):
    X = uci.train.X.to_numpy(dtype=float)
    y = uci.train.y
    texts = [lgb.train({"objective": "binary", "num_leaves": 5, "seed": s, "bagging_fraction": 0.7, "bagging_freq": 1,
                        "verbosity": -1, "deterministic": True, "num_threads": 1}, lgb.Dataset(X, y), 20).model_to_string()
             for s in (1, 2, 3)]
    merged = lgb.Booster(model_str=average_models(texts))
    mean = np.mean([lgb.Booster(model_str=t).predict(X, raw_score=True) for t in texts], axis=0)
    np.testing.assert_allclose(merged.predict(X, raw_score=True), mean, rtol=0, atol=1e-12)
    assert merged.num_trees() == 60


def test_categories_and_unseen_categories(gmodel, german):
    assert "purpose" in gmodel.encoder_.categories
    frame = german.test.X.copy()
    frame.loc[frame.index[:7], "purpose"] = "space travel"
    frame.loc[frame.index[7:10], "purpose"] = None
    s = gmodel.scores(frame)
    assert s["score"].between(350, 950).all() and s["probability"].notna().all()
    assert gmodel.unseen_counts(frame) == {"purpose": 7}
    one = gmodel.score_row(frame.iloc[0].to_dict())
    assert one["score"] == s["score"].iat[0]


def test_bad_input_is_refused_with_column_and_row(model, uci):
    frame = uci.test.X.head(20).copy()
    with pytest.raises(SchemaError, match="PAY_0"):
        model.scores(frame.drop(columns=["PAY_0"]))
    frame["LIMIT_BAL"] = frame["LIMIT_BAL"].astype(object)
    frame.loc[frame.index[4], "LIMIT_BAL"] = "lots"
    with pytest.raises(SchemaError) as err:
        model.scores(frame)
    assert err.value.column == "LIMIT_BAL" and err.value.row == 5
    with pytest.raises(SchemaError, match="AGE"):
        model.score_row({**uci.test.X.iloc[0].to_dict(), "AGE": "old"})
    inf = uci.test.X.head(5).astype({"AGE": float})
    inf.loc[inf.index[2], "AGE"] = np.inf
    with pytest.raises(SchemaError, match="infinite"):
        model.scores(inf)


def test_score_row_reads_numbers_as_scores_does(model, uci):
    # score_row scored the text "inf" / "1e400" as an infinity (scores refuses it), refused pandas' NA (scores
    # reads it as missing) and let a 400-digit integer out as a bare OverflowError
    row = uci.test.X.iloc[0].to_dict()
    for bad in ("inf", "1e400", "-Infinity", 10**400):
        with pytest.raises(SchemaError, match="infinite|too large") as err:
            model.score_row({**row, "LIMIT_BAL": bad})
        assert err.value.column == "LIMIT_BAL"
        frame = uci.test.X.head(3).astype({"LIMIT_BAL": object})
        frame.loc[frame.index[1], "LIMIT_BAL"] = bad
        with pytest.raises(SchemaError, match="infinite") as err:
            model.scores(frame)
        assert (err.value.column, err.value.row) == ("LIMIT_BAL", 2)
    missing = model.score_row({**row, "LIMIT_BAL": None})
    assert model.score_row({**row, "LIMIT_BAL": pd.NA}) == missing
    nullable = uci.test.X.head(1).astype({"LIMIT_BAL": "Float64"})
    nullable.loc[nullable.index[0], "LIMIT_BAL"] = pd.NA
    assert model.scores(nullable).iloc[0]["probability"] == missing["probability"]


def test_monotone_constraints_from_binning(uci):
    m = GBDTModel(**FAST, tune=False, monotone="binning").fit(uci.train)
    iv = {t: cf.BinningProcess(monotonic=t).fit(uci.train.X, uci.train.y).iv_ for t in ("ascending", "descending", "none")}
    for var, sign in m.monotone_.items():
        up, down, free = iv["ascending"][var], iv["descending"][var], iv["none"][var]
        ok = max(up, down) >= 0.02 and max(up, down) >= 0.8 * free
        assert sign == ((1 if up >= down else -1) if ok else 0), var
    constrained = [v for v, s in m.monotone_.items() if s]
    assert m.monotone_["LIMIT_BAL"] == -1 and len(constrained) >= 3
    base = uci.test.X.head(50)
    for var in constrained[:4]:
        grid = np.linspace(base[var].min(), base[var].max(), 25)
        margins = np.stack([m.decision_function(base.assign(**{var: v})) for v in grid])
        steps = np.diff(margins, axis=0) * m.monotone_[var]
        assert (steps >= -1e-12).all(), var


def test_treeshap_tables_equal_lightgbm_pred_contrib(model, gmodel, uci, german):
    for m, frame in ((model, uci.test.X.head(500)), (gmodel, german.test.X)):
        frame = frame.copy()
        frame.iloc[::9, 0] = np.nan
        M = m.encoder_.matrix(frame)
        native = m.booster_.predict(M, pred_contrib=True)
        tables = m.tree_tables()
        assert tables is not None
        for engine in ("kernel", "numpy"):
            phi = tables.contributions(M, engine=engine)
            np.testing.assert_allclose(phi, native[:, :-1], rtol=0, atol=1e-9)
        assert tables.expected_value == pytest.approx(native[0, -1], abs=1e-9)


def test_deep_trees_fall_back_to_lightgbm(uci):
    m = GBDTModel(candidates=[{"num_leaves": 31, "min_data_in_leaf": 20}], folds=2, learning_rate=0.2,
                  early_stopping=10).fit(uci.train)
    assert TreeTables.from_model_text(m.model_text_, len(m.features_)) is None
    phi, expected = m.contributions(uci.test.X.head(50))
    margin = m.decision_function(uci.test.X.head(50))
    np.testing.assert_allclose(phi.sum(axis=1) + expected, margin, atol=1e-9)


def test_compiled_trees_equal_native(gmodel, german):
    from creditflow.scoring.compiled import compile_model, compiler_available

    why = compiler_available()
    if why is not None:
        pytest.fail(f"compiled trees need treelite, tl2cgen and gcc: {why}")
    frame = german.test.X.copy()
    frame.loc[frame.index[:5], "purpose"] = "space travel"
    frame.iloc[5:9, 1] = np.nan
    M = gmodel.encoder_.matrix(frame)
    native = gmodel.booster_.predict(M, raw_score=True)
    compiled = compile_model(gmodel.model_text_).margin(M)
    np.testing.assert_allclose(compiled, native, rtol=0, atol=1e-9)


def test_compiled_engine_falls_back_when_unavailable(model, uci, monkeypatch):
    import creditflow.scoring.compiled as compiled

    monkeypatch.setattr(compiled, "compiler_available", lambda: "test: no compiler")
    fresh = clone(model).set_params(engine="compiled")
    fresh.__dict__.update({k: v for k, v in model.__dict__.items() if k.endswith("_") and not k.startswith("_")})
    fresh._set_booster(model.model_text_)
    assert fresh.predictor(10).engine == "native"
    np.testing.assert_array_equal(fresh.predict_proba(uci.test.X.head(100)), model.predict_proba(uci.test.X.head(100)))


def test_table_engine_equals_native(model, gmodel, uci, german):
    from creditflow.scoring.compiled import TablePredictor

    frame = german.test.X.copy()
    frame.loc[frame.index[:5], "purpose"] = "space travel"
    frame.iloc[5:9, 1] = np.nan
    for m, X in ((model, uci.test.X), (gmodel, frame)):
        M = m.encoder_.matrix(X)
        predictor = m.predictor(len(M))
        assert isinstance(predictor, TablePredictor)
        native = m.booster_.predict(M, raw_score=True)
        np.testing.assert_allclose(predictor.margin(M), native, rtol=0, atol=1e-9)
        np.testing.assert_allclose(m.tree_tables().margins(M, engine="numpy"), native, rtol=0, atol=1e-9)


def test_text_in_a_numeric_column_is_refused_unless_declared_categorical(german):
    X = german.X.copy()
    X["age_in_years"] = X["age_in_years"].astype(object)
    X.iloc[4, X.columns.get_loc("age_in_years")] = "abc"
    with pytest.raises(DataError, match="non-numeric") as err:
        GBDTModel(**FAST, tune=False).fit(X, german.y)
    assert (err.value.column, err.value.row) == ("age_in_years", 5)
    coded = GBDTModel(**FAST, tune=False, categorical="age_in_years").fit(X, german.y)
    assert "age_in_years" in coded.encoder_.categories
    by_dtype = GBDTModel(**FAST, tune=False).fit(X.astype({"age_in_years": "category"}), german.y)
    assert by_dtype.encoder_.categories["age_in_years"] == coded.encoder_.categories["age_in_years"]


def test_candidate_values_lightgbm_refuses_are_refused_before_the_fit(german, tmp_path):
    # LightGBM's own checks used to stop the fit midway: "internal error: LightGBMError: Check failed:
    # (num_leaves) > (1)", exit status 1, after a "[LightGBM] [Fatal]" line
    for candidate, words in [({"num_leaves": 1}, "num_leaves must be above 1"),
                             ({"feature_fraction": 1.5}, "feature_fraction must be above 0 and at most 1"),
                             ({"min_data_in_leaf": 0.5}, "min_data_in_leaf must be a whole number"),
                             ({"num_leaves": "abc"}, "num_leaves must be a whole number"),
                             ({"max_bin": 1}, "max_bin must be above 1"),
                             ({"extra_trees": "yes"}, "extra_trees must be true or false"),
                             (5, "each candidate must be a mapping")]:
        with pytest.raises(cf.CreditflowError, match=words):
            GBDTModel(**FAST, candidates=[candidate]).fit(german.train)
    with pytest.raises(cf.CreditflowError, match="candidates must be a list"):
        GBDTModel(**FAST, candidates={"num_leaves": 7}).fit(german.train)
    with pytest.raises(cf.CreditflowError, match="num_threads must be at least 1"):  # 0 and -1: every core
        GBDTModel(**FAST, num_threads=0).fit(german.train)
    with pytest.raises(cf.CreditflowError, match="candidates is empty"):  # was: the defaults, without a word
        GBDTModel(**FAST, candidates=[]).fit(german.train)
    # a whole number written as 8.0 (JSON) is one
    m = GBDTModel(**FAST, candidates=[{"num_leaves": 8.0, "extra_trees": True, "max_depth": -1}]).fit(german.train)
    assert m.params_["num_leaves"] == 8 and isinstance(m.params_["num_leaves"], int)
    from typer.testing import CliRunner

    from creditflow.cli import _load_commands, app

    _load_commands()
    out = CliRunner().invoke(app, ["train", str(GERMAN), "--target", "creditability", "--model", "gbdt",
                                   "--param", 'candidates=[{"num_leaves": -3}]', "--out", str(tmp_path / "m")])
    assert out.exit_code == 2 and "num_leaves must be above 1" in out.output and "internal error" not in out.output


def test_column_names_of_any_type_and_arrays_of_the_fitted_width(gmodel, german):
    X, y = german.train.X, german.train.y
    numbered = GBDTModel(**FAST, tune=False).fit(X.set_axis(range(X.shape[1]), axis=1), y)
    assert numbered.features_ == [str(i) for i in range(X.shape[1])]
    assert numbered.model_text_ == gmodel.model_text_
    test = german.test.X
    np.testing.assert_array_equal(gmodel.predict_proba(test.to_numpy(dtype=object)), gmodel.predict_proba(test))
    with pytest.raises(SchemaError, match="fitted on 20"):
        gmodel.predict_proba(test.to_numpy(dtype=object)[:, :3])
    with pytest.raises(DataError, match="more than once"):
        clone(gmodel).fit(pd.concat([X, X[["purpose"]]], axis=1), y)
    inf = X.astype({"duration_in_month": float})
    inf.loc[inf.index[0], "duration_in_month"] = np.inf
    with pytest.raises(DataError, match="infinite"):
        GBDTModel(**FAST).fit(inf, y)
    assert clone(gmodel).set_params(scaling__pdo=20).scaling == {"pdo": 20}


def test_an_identifier_column_is_not_an_input(german):
    X = german.train.X.assign(app_no=[f"A{i:05d}" for i in range(len(german.train.X))])
    m = GBDTModel(**FAST, tune=False).fit(X, german.train.y)
    assert m.unused_ == {"app_no": "identifier-like: 700 distinct values in 700 rows"}
    assert "app_no" not in m.encoder_.features and "app_no" not in m.encoder_.categories
    assert len(m.predict_score(german.test.X)) == len(german.test.X)  # scored without the column


def test_predicting_leaves_the_model_unchanged(tmp_path):
    from sklearn.utils.estimator_checks import check_dict_unchanged

    from creditflow.bundle import load_bundle, save_bundle

    rng = np.random.default_rng(0)
    X = pd.DataFrame({"a": rng.normal(size=600), "b": rng.normal(size=600)})
    y = (rng.random(600) < 1 / (1 + np.exp(-X["a"]))).astype(int)
    m = GBDTModel(folds=2, tune=False).fit(X, y)
    save_bundle(m, tmp_path / "b")
    for model in (m, load_bundle(tmp_path / "b").model):
        before = dict(vars(model))
        model.predict_proba(X), model.scores(X), model.contributions(X), model.score_row(X.iloc[0].to_dict())
        # the TreeSHAP tables were added on the first prediction
        assert vars(model).keys() == before.keys()
        assert all(vars(model)[k] is v for k, v in before.items())
    check_dict_unchanged("GBDTModel", GBDTModel(folds=2, tune=False))


def test_folds_that_never_stop_early_are_warned_of(uci):
    """Folds that run all max_rounds (too small a learning rate, or duplicate applicants across folds, where the
    fit runs the longest it can) get a ConvergenceWarning naming both causes; an early-stopped fit gets none."""
    from sklearn.exceptions import ConvergenceWarning

    with pytest.warns(ConvergenceWarning, match=r"2 of 2 fold\(s\) ran all max_rounds=8 .*duplicate rows"):
        GBDTModel(folds=2, tune=False, max_rounds=8, learning_rate=0.01).fit(uci.train)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        GBDTModel(folds=2, tune=False, max_rounds=300, learning_rate=0.3, early_stopping=20).fit(uci.train)


def test_one_applicant_and_a_table_refuse_the_same_odd_values(gmodel, german):
    """"nan" as text in a numeric input and an infinity in a categorical one: refused by `scores` and by
    `score_row` alike, for the gbdt and the scorecard (score_row read "nan" as missing, and the gbdt's `scores`
    and both `score_row`s took an infinite category as the unseen category "inf")."""
    card = cf.Scorecard().fit(german.train)
    row = german.test.X.iloc[0].to_dict()
    for model in (gmodel, card):
        for var, value, words in (("duration_in_month", "nan", "not (a number|numbers)"), ("purpose", float("inf"), "infinite")):
            assert var in model.features_
            bad = {**row, var: value}
            with pytest.raises(SchemaError, match=words):
                model.scores(pd.DataFrame([bad]))
            with pytest.raises(SchemaError, match=words):
                model.score_row(bad)


def test_an_encoded_matrix_with_other_than_category_codes_is_refused(gmodel, german):
    """A float matrix of the model's width is taken as already encoded; 1e300 in a categorical column crashed the
    process in the table kernel (it indexes by the code), -1e-300 scored otherwise than LightGBM."""
    M = gmodel._matrix(german.test.X.head(5))
    j = gmodel.encoder_.features.index("purpose")
    np.testing.assert_array_equal(gmodel.predict_proba(M.copy()), gmodel.predict_proba(german.test.X.head(5)))
    for value in (1e300, -1e-300, 0.5, float(len(gmodel.encoder_.categories["purpose"]) + 1)):
        bad = M.copy()
        bad[3, j] = value
        with pytest.raises(SchemaError, match="a category's code is a whole number") as err:
            gmodel.predict_proba(bad)
        assert err.value.column == "purpose" and err.value.row == 4

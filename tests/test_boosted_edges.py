"""Edge cases of the boosted scorecard found in review: pandas missing markers, bin labels that must stay
unique, tables after recompression and under monotone constraints, tiny targets, dates, huge codes, seeds
and parameters that must survive a bundle."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from creditflow.binning.variable import category_key, category_keys
from creditflow.bundle import load_bundle, save_bundle
from creditflow.data import CreditflowError, DataError, SchemaError
from creditflow.models.boosted import BoostedScorecard, _refit_intercept
from creditflow.scoring.reasons import reason_table

SMALL = {"outer_bags": 2}


def _data(n: int = 4000, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 10, n)
    g = rng.choice(["A", "B", "C"], n)
    logit = -1.2 - 0.3 * (x - 5) + np.where(g == "A", 0.5 + 0.6 * (x - 5), 0.0)
    y = (rng.uniform(size=n) < 1 / (1 + np.exp(-logit))).astype(int)
    return pd.DataFrame({"x": x, "g": g}), y


def test_pandas_missing_markers_are_missing_in_batch_and_row_scoring():
    X, y = _data()
    miss = np.random.default_rng(1).uniform(size=len(X)) < 0.2
    X["g"] = X["g"].astype("string")
    X.loc[miss, "g"] = pd.NA
    y = np.where(miss, 1, y)  # missing g is risky, so its bin carries points
    m = BoostedScorecard(interactions=0, boosting=SMALL).fit(X, y)
    labels = m.points_.loc[m.points_.variable == "g", "bin"].tolist()
    assert "<NA>" not in labels and "Missing" in labels
    missing_pts = int(m.points_.loc[(m.points_.variable == "g") & (m.points_.bin == "Missing"), "points"].iloc[0])
    assert missing_pts < 0
    i = int(np.flatnonzero(miss)[0])
    batch = int(m.scores(X.iloc[[i]])["score"].iloc[0])
    for value in (None, pd.NA, np.nan):
        assert m.score_row({"x": float(X.x.iloc[i]), "g": value})["score"] == batch
    assert category_key(pd.NA) is None and category_key(pd.NaT) is None
    assert m.binning_.bins_["x"].bin_index(pd.NA) == m.binning_.bins_["x"].missing_index


def test_close_split_points_get_distinct_labels_and_the_bundle_loads(tmp_path):
    rng = np.random.default_rng(0)
    n = 4000
    acct = 6222020000000000000 + rng.integers(0, 10**9, n)  # account-like numbers sharing a long prefix
    y = (rng.uniform(size=n) < 1 / (1 + np.exp(-(-1.5 + 3 * ((acct - acct.min()) / 1e9 - 0.5))))).astype(int)
    m = BoostedScorecard(interactions=0, boosting=SMALL).fit(pd.DataFrame({"acct": acct}), y)
    labels = m.points_["bin"].tolist()
    assert len(labels) == len(set(labels)) and len(labels) > 3
    save_bundle(m, tmp_path / "b")
    back = load_bundle(tmp_path / "b").model
    X = pd.DataFrame({"acct": acct[:500]})
    np.testing.assert_array_equal(back.scores(X)["score"], m.scores(X)["score"])


def test_recompress_keeps_the_tables_and_their_variables_and_reasons_still_work():
    rng = np.random.default_rng(1)
    n = 20000
    x, g, z = rng.uniform(0, 10, n), rng.choice(["A", "B", "C"], n), rng.normal(size=n)
    # x matters only through its interaction with g; z has a strong main effect
    logit = -1.2 + z + np.where(g == "A", 0.6 * (x - 5), -0.3 * (x - 5)) + np.where(g == "B", 0.5, 0.0)
    y = (rng.uniform(size=n) < 1 / (1 + np.exp(-logit))).astype(int)
    X = pd.DataFrame({"x": x, "g": g, "z": z})
    m = BoostedScorecard(boosting=SMALL).fit(X, y)
    assert any({t.a, t.b} == {"x", "g"} for t in m.pairs_)
    r = m.recompress({"merge_points": 25})  # x's and g's small main effects merge into one bin each
    x_points = r.points_.loc[r.points_.variable == "x", "points"]
    assert len(x_points) and (x_points == 0).all()  # flattened, yet kept: the x × g table needs it
    assert [t.name for t in r.pairs_] == [t.name for t in m.pairs_]
    assert len(reason_table(r, X.head(50))) == 50
    assert abs(r.predict_proba(X)[:, 1].mean() - y.mean()) < 0.01


def test_a_variable_with_a_monotone_trend_stays_out_of_the_tables():
    X, y = _data(20000, seed=1)
    m = BoostedScorecard(monotone={"x": "descending"}, boosting=SMALL).fit(X, y)
    assert all("x" not in (t.a, t.b) for t in m.pairs_)
    grid = pd.DataFrame({"x": np.tile(np.linspace(0.05, 9.95, 60), 3), "g": np.repeat(["A", "B", "C"], 60)})
    scores = m.scores(grid)["score"].to_numpy().reshape(3, 60)
    assert (np.diff(scores, axis=1) >= 0).all()  # risk falls with x, so the score never drops as x rises
    free = BoostedScorecard(boosting=SMALL).fit(X, y)
    assert any("x" in (t.a, t.b) for t in free.pairs_)


def test_too_few_bads_are_refused_and_the_intercept_refit_cannot_diverge():
    X, y = _data(3000)
    y = np.zeros(len(X), dtype=int)
    y[7] = 1
    for blend in (0.0, 0.5):
        with pytest.raises(DataError, match="1 bad"):
            BoostedScorecard(blend=blend).fit(X, y)
    b = _refit_intercept(-13.8, np.zeros(4), np.array([1.0, 0.0, 0.0, 0.0]))
    assert b == pytest.approx(np.log(1 / 3))


def test_date_columns_are_refused_with_their_name():
    X, y = _data(2000)
    X["opened"] = pd.Timestamp("2020-01-01") + pd.to_timedelta(np.arange(len(X)) % 400, unit="D")
    with pytest.raises(DataError, match="dates") as exc:
        BoostedScorecard(boosting=SMALL).fit(X, y)
    assert exc.value.column == "opened"


def test_huge_whole_float_codes_keep_their_own_category():
    keys = category_keys(pd.Series([1e19, 2e19, 3.0, np.nan]))
    assert list(keys) == [category_key(1e19), category_key(2e19), "3", None]
    assert keys[0] != keys[1]


def test_bad_seeds_huge_numbers_and_infinities_get_clear_errors():
    X, y = _data(2000)
    for seed in (None, -1, "a", 2**40):
        with pytest.raises(CreditflowError, match="random_state"):
            BoostedScorecard(random_state=seed, boosting=SMALL).fit(X, y)
    m = BoostedScorecard(interactions=0, boosting=SMALL).fit(X, y)
    with pytest.raises(SchemaError, match="too large"):
        m.score_row({"x": 10**400, "g": "A"})
    with pytest.raises(SchemaError, match="infinite"):
        reason_table(m, pd.DataFrame({"x": [np.inf], "g": ["A"]}))


def test_parameters_given_as_sets_or_pandas_objects_are_stored(tmp_path):
    X, y = _data(2000)
    X["code"] = np.random.default_rng(2).integers(0, 5, len(X))
    m = BoostedScorecard(categorical={"code"}, special_values=pd.Series([-999.0]), interactions=0,
                         boosting=SMALL).fit(X, y)
    save_bundle(m, tmp_path / "b")
    back = load_bundle(tmp_path / "b").model
    assert back.get_params()["categorical"] == ["code"]
    np.testing.assert_array_equal(back.scores(X)["score"], m.scores(X)["score"])


def test_no_table_bears_the_name_of_a_column():
    X, y = _data(20000, seed=1)
    X["x × g"] = np.random.default_rng(3).normal(size=len(X))
    m = BoostedScorecard(boosting=SMALL).fit(X, y)
    assert all(t.name not in X.columns for t in m.pairs_)
    pm = m.point_matrix(X.head(200))
    total = m.base_points_ + pm.sum(axis=1).to_numpy()
    np.testing.assert_array_equal(m.scores(X.head(200))["score"], np.clip(total, 350, 950))


def test_service_notes_name_a_category_the_model_never_learned(tmp_path):
    from creditflow.service.state import note_function

    X, y = _data(3000)
    m = BoostedScorecard(interactions=0, boosting=SMALL).fit(X, y)
    save_bundle(m, tmp_path / "b")
    notes = note_function(load_bundle(tmp_path / "b"))
    assert notes({"x": 5.0, "g": "A"}) == []
    assert notes({"x": 5.0, "g": "Z"}) == ["g: category 'Z' was not seen in training; scored as unseen"]
    assert notes({"x": 5.0, "g": None}) == []  # missing is its own bin, not unseen


def test_a_column_whose_only_ordinary_value_is_one_number_fits():
    # before, a 0/1 flag with 0 declared special (one regular value left) crashed the shape search with
    # "IndexError: index -1 is out of bounds"; so did a column whose every value is special or missing
    rng = np.random.default_rng(5)
    n = 2000
    X = pd.DataFrame({"age": rng.integers(20, 70, n).astype(float), "flag": (np.arange(n) % 10 == 0).astype(float),
                      "code": np.where(np.arange(n) % 2 == 0, -1.0, np.nan)})
    y = (rng.random(n) < 0.2 + 0.1 * (X["flag"] == 1)).astype(int)
    model = BoostedScorecard(special_values={"flag": [0], "code": [-1]}).fit(X, y)
    p = model.predict_proba(X)[:, 1]
    assert np.isfinite(p).all() and p.std() > 0
    assert any(label.startswith("Special") for label in model.binning_.bins_["flag"].labels)

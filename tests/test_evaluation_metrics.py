"""AUC, Gini, KS, DeLong and lift/gain against independent computations, on real data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import ks_2samp
from sklearn.metrics import roc_auc_score

from creditflow.data.errors import DataError
from creditflow.evaluation import (
    auc,
    auc_ci,
    bad_rate_by_band,
    delong_test,
    gini,
    ks,
    lift_gain_table,
    psi,
)

TARGET = "default.payment.next.month"


@pytest.fixture(scope="module")
def uci(shared_data) -> pd.DataFrame:
    return pd.read_csv(shared_data / "uci_taiwan" / "UCI_Credit_Card.csv")


@pytest.fixture(scope="module")
def uci_pd(uci) -> tuple[np.ndarray, np.ndarray]:
    """A simple logistic PD on UCI (probability of bad), fitted on the first half, for the second half."""
    from sklearn.linear_model import LogisticRegression

    cols = ["PAY_0", "PAY_2", "LIMIT_BAL", "AGE", "BILL_AMT1", "PAY_AMT1"]
    X = uci[cols].to_numpy(dtype=float)
    X = (X - X.mean(axis=0)) / X.std(axis=0)
    y = uci[TARGET].to_numpy()
    model = LogisticRegression(max_iter=500).fit(X[:15000], y[:15000])
    return y[15000:], model.predict_proba(X[15000:])[:, 1]


def test_auc_matches_sklearn_for_probabilities_and_scores(uci_pd, uci):
    y, p = uci_pd
    assert auc(y, p) == pytest.approx(roc_auc_score(y, p), abs=1e-12)
    # a credit score: higher is better, so it is read the other way round
    score = np.round(600 - 50 * np.log(p / (1 - p)))
    assert auc(y, score, higher_is_better=True) == pytest.approx(roc_auc_score(y, -score), abs=1e-12)
    # heavy ties (an integer attribute) count one half, as sklearn does
    y_all, pay = uci[TARGET].to_numpy(), uci["PAY_0"].to_numpy()
    assert auc(y_all, pay) == pytest.approx(roc_auc_score(y_all, pay), abs=1e-12)
    assert gini(y, p) == pytest.approx(2 * roc_auc_score(y, p) - 1, abs=1e-12)


def test_ks_is_taken_in_the_models_direction(uci_pd):
    # a model that ranks the wrong way round (bads at the low probabilities: a bad-coding mix-up) separates
    # nothing in its own direction: KS near 0 beside its AUC below 0.5, not the gap of the reversed ranking
    y, p = uci_pd
    assert auc(y, 1 - p) < 0.5
    assert ks(y, 1 - p).statistic == pytest.approx(0.0, abs=1e-3)
    assert ks(y, p, higher_is_better=True).statistic == pytest.approx(0.0, abs=1e-3)
    assert ks(y, p).statistic == pytest.approx(ks_2samp(p[y == 1], p[y == 0], alternative="less").statistic,
                                               abs=1e-12)


def test_ks_matches_scipy_two_sample(uci_pd, uci):
    y, p = uci_pd
    r = ks(y, p)
    assert r.statistic == pytest.approx(ks_2samp(p[y == 1], p[y == 0]).statistic, abs=1e-12)
    # the curve's extreme is the statistic, at the reported threshold
    top = r.curve.loc[r.curve["ks"].abs().idxmax()]
    assert top["threshold"] == r.threshold and abs(top["ks"]) == pytest.approx(r.statistic)
    assert r.curve["bads"].iloc[-1] == 1.0 and r.curve["goods"].iloc[-1] == 1.0
    # tied integer values and a score read higher-is-better give the same statistic
    y_all, pay = uci[TARGET].to_numpy(), uci["PAY_0"].to_numpy()
    expected = ks_2samp(pay[y_all == 1], pay[y_all == 0]).statistic
    assert ks(y_all, pay).statistic == pytest.approx(expected, abs=1e-12)
    assert ks(y_all, -pay, higher_is_better=True).statistic == pytest.approx(expected, abs=1e-12)
    assert ks(y_all, -pay, higher_is_better=True).threshold == -ks(y_all, pay).threshold


def test_delong_se_agrees_with_bootstrap_on_real_data(uci_pd):
    y, p = uci_pd
    y, p = y[:4000], p[:4000]
    r = auc_ci(y, p)
    rng = np.random.default_rng(7)
    boot = []
    for _ in range(400):
        i = rng.integers(0, len(y), len(y))
        boot.append(roc_auc_score(y[i], p[i]))
    assert r.se == pytest.approx(np.std(boot, ddof=1), rel=0.2)
    assert r.auc_low < r.auc < r.auc_high
    assert r.gini_low == pytest.approx(2 * r.auc_low - 1) and r.gini == pytest.approx(2 * r.auc - 1)
    assert "DeLong" in r._repr_html_()


def test_delong_small_example_by_hand():
    # 2 bads, 3 goods: pairs (bad > good) = 5 of 6, one tie counts 1/2 -> AUC = 5.5/6
    y = np.array([1, 1, 0, 0, 0])
    p = np.array([0.9, 0.4, 0.4, 0.2, 0.1])
    r = auc_ci(y, p)
    assert r.auc == pytest.approx(5.5 / 6)
    # structural components: bads V10 = [1, 0.5 + 2/3 * ... ] computed from the definition
    v10 = np.array([np.mean([(b > g) + 0.5 * (b == g) for g in p[y == 0]]) for b in p[y == 1]])
    v01 = np.array([np.mean([(b > g) + 0.5 * (b == g) for b in p[y == 1]]) for g in p[y == 0]])
    var = v10.var(ddof=1) / 2 + v01.var(ddof=1) / 3
    assert r.variance == pytest.approx(var)


def test_delong_test_same_model_and_different_models(uci_pd):
    y, p = uci_pd
    same = delong_test(y, p, p)
    assert same["difference"] == 0 and same["p_value"] == pytest.approx(1.0)
    rng = np.random.default_rng(0)
    noisy = p + rng.normal(0, 0.3, len(p))
    diff = delong_test(y, p, noisy)
    assert diff["auc_a"] > diff["auc_b"] and diff["p_value"] < 1e-6


def test_lift_gain_table_deciles(uci_pd):
    y, p = uci_pd
    t = lift_gain_table(y, p)
    assert len(t) == 10 and t["count"].sum() == len(y) and t["bads"].sum() == y.sum()
    assert t["gain"].iloc[-1] == pytest.approx(1.0) and t["cum_lift"].iloc[-1] == pytest.approx(1.0)
    assert t["bad_rate"].iloc[0] > t["bad_rate"].iloc[-1]  # group 1 is the riskiest
    assert t["min"].iloc[0] >= t["max"].iloc[-1]
    # top decile bad rate by direct computation
    top = np.argsort(-p, kind="mergesort")[: len(p) // 10]
    assert t["bad_rate"].iloc[0] == pytest.approx(y[top].mean())
    assert t["ks"].abs().max() <= ks(y, p).statistic + 1e-12
    # a score, higher is better: group 1 holds the lowest scores
    s = lift_gain_table(y, -p, groups=5, higher_is_better=True)
    assert len(s) == 5 and s["max"].iloc[0] <= s["min"].iloc[-1]
    assert s["gain"].to_numpy() == pytest.approx(lift_gain_table(y, p, groups=5)["gain"].to_numpy())


def test_bad_rate_by_band_edges_and_labels():
    y = np.array([1, 0, 0, 1, 1, 0, 0, 0])
    score = np.array([400, 450, 500, 520, 610, 650, 700, np.nan])
    t = bad_rate_by_band(y, score, edges=[500, 600])
    assert list(t["band"]) == ["[-inf, 500)", "[500, 600)", "[600, inf)", "missing"]
    assert list(t["count"]) == [2, 2, 3, 1] and list(t["bads"]) == [1, 1, 1, 0]
    grades = np.array(["B", "A", "A", "C", "C", "B", "A", None], dtype=object)
    g = bad_rate_by_band(y, grades)
    assert list(g["band"]) == ["A", "B", "C", "missing"]
    assert g.set_index("band").loc["C", "bad_rate"] == 1.0


def test_bands_whose_edges_differ_past_six_digits_keep_labels_of_their_own():
    # quantile edges 600.00001.. and 600.00002.. print alike with 6 significant digits
    rng = np.random.default_rng(0)
    score = 600 + rng.random(500) / 1e4
    y = rng.integers(0, 2, 500)
    t = bad_rate_by_band(y, score)
    assert len(t) == 10 and t["band"].is_unique
    assert t["count"].sum() == 500 and (t["count"] == 50).all()
    assert psi(score, score[::-1]).table["bin"].is_unique


def test_bad_input_is_a_clear_data_error():
    with pytest.raises(DataError, match="inconsistent numbers of samples"):
        auc([0, 1, 0], [0.1, 0.2])
    with pytest.raises(DataError, match="both goods"):
        auc([0, 0, 0], [0.1, 0.2, 0.3])
    with pytest.raises(DataError, match="0/1"):
        ks([0, 2, 1], [0.1, 0.2, 0.3])
    with pytest.raises(DataError, match="missing"):
        auc_ci([0, 1, 1], [0.1, np.nan, 0.3])


def test_one_bad_gives_an_auc_without_interval_and_no_numpy_warnings():
    import warnings

    y = np.array([1, 0, 0, 0])
    p = np.array([0.9, 0.2, 0.4, 0.1])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # numpy's "degrees of freedom <= 0" and divide warnings fail the test
        r = auc_ci(y, p)
        t = delong_test(y, p, p[::-1])
    assert r.auc == 1.0 and np.isnan(r.se) and np.isnan(r.auc_low) and np.isnan(r.auc_high)
    assert np.isnan(t["p_value"]) and t["difference"] == pytest.approx(r.auc - auc(y, p[::-1]))
    two = auc_ci(np.array([1, 1, 0, 0, 0]), np.array([0.9, 0.3, 0.2, 0.4, 0.1]))
    assert np.isfinite(two.se) and 0 <= two.auc_low <= two.auc <= two.auc_high <= 1


def test_delong_midranks_from_one_sort_equal_scipys_rankdata():
    """The DeLong components rank bads, goods and both from one stable sort: the same midranks as rankdata,
    with heavy ties (integer scores), signed zeros and a group of one."""
    from scipy import stats

    from creditflow.evaluation.metrics import _three_midranks

    rng = np.random.default_rng(7)
    cases = [(rng.integers(0, 5, 300).astype(float), rng.integers(0, 5, 700).astype(float)),
             (rng.normal(size=50), rng.normal(size=80)), (np.array([0.0]), np.array([-0.0, 1.0, 0.0])),
             (np.array([2.0, 2.0]), np.array([2.0]))]
    for bads, goods in cases:
        tx, ty, tz = _three_midranks(bads, goods)
        assert np.array_equal(tx, stats.rankdata(bads)) and np.array_equal(ty, stats.rankdata(goods))
        assert np.array_equal(tz, stats.rankdata(np.concatenate([bads, goods])))

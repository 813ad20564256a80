"""Calibration per group (binomial, Jeffreys) and Hosmer–Lemeshow."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from creditflow.data.errors import DataError
from creditflow.evaluation import calibration_table, hosmer_lemeshow, jeffreys_interval


def test_hosmer_lemeshow_known_example():
    # three groups of ten: expected bads 1, 3, 5; observed 2, 3, 7
    p = np.repeat([0.1, 0.3, 0.5], 10)
    y = np.zeros(30, dtype=int)
    y[:2] = 1
    y[10:13] = 1
    y[20:27] = 1
    r = hosmer_lemeshow(y, p, groups=np.repeat(["a", "b", "c"], 10))
    by_hand = (2 - 1) ** 2 / (1 * 0.9) + 0 + (7 - 5) ** 2 / (5 * 0.5)  # 1.1111 + 1.6 = 2.7111
    assert r.statistic == pytest.approx(by_hand)
    assert r.df == 1
    assert r.p_value == pytest.approx(0.0997, abs=5e-4)
    assert list(r.table["observed"]) == [2, 3, 7]


def test_hosmer_lemeshow_equals_two_term_chi_square_on_deciles(shared_data):
    frame = pd.read_csv(shared_data / "german_credit" / "germancredit.csv")
    y = (frame["creditability"] == "bad").to_numpy().astype(int)
    # a crude PD: bad rate of the account-status category, smoothed
    rate = frame.groupby("status_of_existing_checking_account")["creditability"].transform(
        lambda s: ((s == "bad").sum() + 1) / (len(s) + 2)
    )
    p = rate.to_numpy() * 0.9 + 0.03 * np.linspace(0, 1, len(y))
    r = hosmer_lemeshow(y, p)
    t = r.table
    two_term = ((t.observed - t.expected) ** 2 / t.expected).sum() + (
        ((t["count"] - t.observed) - (t["count"] - t.expected)) ** 2 / (t["count"] - t.expected)
    ).sum()
    assert r.statistic == pytest.approx(two_term)
    assert r.df == 8 and len(t) == 10 and t["count"].sum() == 1000


def test_jeffreys_interval_and_boundaries():
    low, high = jeffreys_interval([5, 0, 10], [100, 50, 10])
    assert low[0] == pytest.approx(stats.beta.ppf(0.025, 5.5, 95.5))
    assert high[0] == pytest.approx(stats.beta.ppf(0.975, 5.5, 95.5))
    assert low[1] == 0.0 and high[2] == 1.0


def test_calibration_table_per_grade():
    rng = np.random.default_rng(3)
    grades = np.repeat(["A", "B", "C"], [4000, 3000, 1000])
    true_pd = np.repeat([0.02, 0.08, 0.30], [4000, 3000, 1000])
    y = (rng.random(8000) < true_pd).astype(int)
    predicted = true_pd.copy()
    predicted[grades == "C"] = 0.15  # grade C is badly underestimated
    t = calibration_table(y, predicted, grades)
    assert list(t["group"]) == ["A", "B", "C"]
    row = t.set_index("group").loc["C"]
    assert row["verdict"] == "underestimates" and row["binom_p"] < 1e-6 and row["jeffreys_p"] < 1e-6
    a = t.set_index("group").loc["A"]
    assert a["binom_p"] == pytest.approx(stats.binomtest(int(a["bads"]), 4000, 0.02).pvalue)
    assert a["observed"] == pytest.approx(y[grades == "A"].mean())
    deciles = calibration_table(y, predicted)
    assert deciles["count"].sum() == 8000 and list(deciles["group"]) == list(range(1, len(deciles) + 1))


def test_probabilities_out_of_range_are_refused():
    with pytest.raises(DataError, match=r"\[0, 1\]"):
        calibration_table([0, 1], [0.2, 1.3])

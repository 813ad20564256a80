"""PSI and CSI by hand, and on real data."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from creditflow.evaluation import (
    EPS,
    PSI_MONITOR,
    PSI_SHIFT,
    csi,
    csi_from_shares,
    psi,
    psi_from_histogram,
    psi_from_shares,
    stability_status,
)


def test_psi_by_hand_on_a_small_table():
    expected = [1] * 4 + [2] * 4 + [3] * 2  # shares .4 .4 .2
    actual = [1] * 2 + [2] * 3 + [3] * 5  # shares .2 .3 .5
    r = psi(expected, actual, edges=[1.5, 2.5])
    by_hand = (0.2 - 0.4) * math.log(0.2 / 0.4) + (0.3 - 0.4) * math.log(0.3 / 0.4) + (0.5 - 0.2) * math.log(0.5 / 0.2)
    assert r.value == pytest.approx(by_hand)  # 0.4423
    assert r.value == pytest.approx(0.442284, abs=1e-6)
    assert list(r.table["expected_count"]) == [4, 4, 2] and r.status == "shift"


def test_psi_empty_bin_is_smoothed_with_eps_and_missing_has_its_own_bin():
    r = psi([1, 1, 2, 2], [1, 1, 1, 1], edges=[1.5])
    assert r.value == pytest.approx((1 - 0.5) * math.log(1 / 0.5) + (EPS - 0.5) * math.log(EPS / 0.5))
    m = psi([1.0, 2.0, np.nan, np.nan], [1.0, 2.0, 2.0, 2.0], edges=[1.5])
    assert list(m.table["bin"]) == ["[-inf, 1.5)", "[1.5, inf)", "missing"]
    assert list(m.table["actual_count"]) == [1, 3, 0]


def test_psi_deciles_of_expected_on_real_data(shared_data):
    frame = pd.read_csv(shared_data / "uci_taiwan" / "UCI_Credit_Card.csv")
    limit = frame["LIMIT_BAL"].to_numpy()
    same = psi(limit[::2], limit[1::2])
    assert same.value < PSI_MONITOR and same.status == "stable"
    assert same.table["expected_share"].sum() == pytest.approx(1.0)
    # the young against the old: a real shift
    shifted = psi(limit[frame["AGE"] < 30], limit[frame["AGE"] >= 40])
    assert shifted.value > PSI_MONITOR
    t = shifted.table
    assert shifted.value == pytest.approx(
        ((t.actual_share - t.expected_share) * np.log(t.actual_share / t.expected_share)).sum()
    )


def test_csi_from_labels_and_from_shares_agree():
    e = pd.DataFrame({"a": ["x"] * 6 + ["y"] * 4, "b": ["lo"] * 5 + ["hi"] * 5})
    a = pd.DataFrame({"a": ["x"] * 3 + ["y"] * 6 + ["z"], "b": ["lo"] * 5 + ["hi"] * 5})
    t = csi(e, a).set_index("variable")
    assert t.loc["b", "csi"] == pytest.approx(0.0) and t.loc["b", "status"] == "stable"
    shares = pd.DataFrame({
        "variable": ["a", "a", "a"], "expected_share": [0.6, 0.4, 0.0], "actual_share": [0.3, 0.6, 0.1],
    })
    assert t.loc["a", "csi"] == pytest.approx(csi_from_shares(shares).loc[0, "csi"])
    assert t.loc["a", "csi"] == pytest.approx(psi_from_shares([0.6, 0.4, 0.0], [0.3, 0.6, 0.1]).sum())


def test_status_thresholds():
    assert (PSI_MONITOR, PSI_SHIFT) == (0.10, 0.25)
    assert [stability_status(v) for v in (0.05, 0.10, 0.2, 0.25)] == ["stable", "monitor", "monitor", "shift"]


def test_psi_from_a_histogram_is_psi_of_the_rows_it_holds():
    rng = np.random.default_rng(3)
    actual = rng.integers(330, 720, 999).astype(float)
    for n in (1, 2, 7, 1000, 17_500):
        rows = rng.integers(300, 700, n).astype(float)
        counts = np.bincount((rows - 300).astype(int), minlength=400)
        kept = psi_from_histogram(300 + np.arange(400), counts, actual)
        direct = psi(rows, actual)
        assert kept.value == direct.value
        pd.testing.assert_frame_equal(kept.table, direct.table)

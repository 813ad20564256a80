"""Cutoff strategy and swap sets on tiny hand-checked examples."""

from __future__ import annotations

import numpy as np
import pytest

from creditflow.evaluation import default_cutoffs, strategy_table, swap_set

Y = np.array([1, 0, 1, 0, 0, 0])
SCORE = np.array([500, 520, 600, 650, 700, 700])


def test_strategy_table_by_hand():
    t = strategy_table(Y, SCORE, [600, 700, 800]).set_index("cutoff")
    row = t.loc[600]  # approve 600, 650, 700, 700
    assert (row.approved, row.rejected, row.bads_approved, row.bads_rejected) == (4, 2, 1, 1)
    assert row.approval_rate == pytest.approx(4 / 6) and row.bad_rate_approved == pytest.approx(0.25)
    assert row.bads_rejected_share == pytest.approx(0.5) and row.goods_rejected_share == pytest.approx(0.25)
    assert row.bad_rate_rejected == pytest.approx(0.5)
    assert t.loc[700].approved == 2 and t.loc[700].bad_rate_approved == 0
    assert t.loc[800].approved == 0 and np.isnan(t.loc[800].bad_rate_approved)


def test_strategy_table_probability_direction():
    p = 1 - SCORE / 1000  # higher p = riskier
    t = strategy_table(Y, p, [0.4], higher_is_better=False)
    assert t.loc[0, "approved"] == 4 and t.loc[0, "bads_approved"] == 1


def test_default_cutoffs_are_distinct_integers_for_integer_scores():
    c = default_cutoffs(np.arange(350, 951))
    assert len(c) == 19 and np.all(c == np.round(c)) and np.all(np.diff(c) > 0)


def test_swap_set_by_hand():
    champion = SCORE
    challenger = np.array([610, 480, 560, 660, 700, 590])
    t = swap_set(Y, champion, challenger, 600, 600).set_index("segment")
    # champion approves rows 2..5, challenger approves rows 0, 3, 4
    assert t.loc["kept approved", "count"] == 2  # rows 3, 4
    assert t.loc["swap-out", "count"] == 2 and t.loc["swap-out", "bads"] == 1  # rows 2, 5
    assert t.loc["swap-in", "count"] == 1 and t.loc["swap-in", "bad_rate"] == 1.0  # row 0
    assert t.loc["kept rejected", "count"] == 1  # row 1
    assert t.loc["total", "count"] == 6 and t.loc["total", "bads"] == 2

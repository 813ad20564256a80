"""Target definition, vintage curves and roll rates, checked against the wide UCI table."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest

from creditflow.data.errors import DataError
from creditflow.features import TargetSpec, define_target, roll_rates, vintage_curves
from tests.conftest import SHARED_DATA, UCI

DATA = SHARED_DATA / "uci_taiwan"
PAY = ["PAY_6", "PAY_5", "PAY_4", "PAY_3", "PAY_2", "PAY_0"]  # April .. September
STATUS = {"entity": "client_id", "time": "statement_month", "status": "repayment_status"}


@pytest.fixture(scope="module")
def statements() -> pd.DataFrame:
    return pd.read_csv(DATA / "statements.csv")


@pytest.fixture(scope="module")
def wide() -> pd.DataFrame:
    return pd.read_csv(UCI)


def test_target_is_the_worst_status_in_the_window_after_the_observation(statements, wide):
    labels = pd.read_csv(DATA / "labels.csv").assign(observation_date="2005-06-30")
    spec = TargetSpec(**STATUS, bad_at=2, window="3m", period="month", target="bad_3m")
    out = define_target(statements, labels, spec)
    # July, August, September = PAY_3, PAY_2, PAY_0; June (PAY_4) is before the observation
    expected = (wide[["PAY_3", "PAY_2", "PAY_0"]].max(axis=1) >= 2).astype(int).to_numpy()
    assert (out["bad_3m"].to_numpy(dtype=int) == expected).all()
    assert (out["perf_records"] == 3).all()
    assert out["defaulted"].tolist() == labels["defaulted"].tolist()
    assert TargetSpec.from_dict(json.loads(json.dumps(spec.to_dict()))) == spec


def test_target_is_missing_without_performance_records(statements):
    labels = pd.DataFrame({"client_id": [1, 1, 2], "observation_date": ["2005-09-30", "2005-03-31", "2005-03-31"]})
    with pytest.warns(UserWarning, match=r"1 of 3 observation\(s\) have a performance window that runs past"):
        out = define_target(statements, labels, TargetSpec(**STATUS, window="1m", period="month"))
    assert pd.isna(out["bad"].iloc[0]) and out["perf_records"].iloc[0] == 0  # no October data
    assert out["bad"].iloc[1] == 0 and out["perf_worst_status"].iloc[1] == -2  # April 2005 (PAY_6)
    assert out["bad"].iloc[2] == 1 and out["perf_worst_status"].iloc[2] == 2


def test_target_window_takes_the_months_the_features_leave_and_only_complete_ones(statements, wide):
    """At 2005-06-15 (3m) the window took July to September, though September is complete only on 09-30,
    and June was in neither the features nor the target."""
    labels = pd.read_csv(DATA / "labels.csv").assign(observation_date="2005-06-15")
    out = define_target(statements, labels, TargetSpec(**STATUS, bad_at=2, window="3m", period="month"))
    # June, July, August = PAY_4, PAY_3, PAY_2
    assert (out["perf_worst_status"].to_numpy() == wide[["PAY_4", "PAY_3", "PAY_2"]].max(axis=1).to_numpy()).all()
    assert (out["perf_records"] == 3).all()
    rec = pd.DataFrame({"client_id": [1, 1, 1], "m": ["2005-06-30 18:00", "2005-07-10", "2005-08-31 23:00"],
                        "dpd": [1, 2, 3]})
    obs = pd.DataFrame({"client_id": [1], "observation_date": ["2005-06-30 12:00"]})
    spec = TargetSpec(entity="client_id", time="m", status="dpd", window="2m", period="month")
    one = define_target(rec, obs, spec)  # 06-30 18:00 not yet seen by the features; 08-31 23:00 after 12:00
    assert one["perf_records"].item() == 2 and one["perf_worst_status"].item() == 2


def test_a_month_window_after_a_month_end_observation_holds_as_many_whole_months(statements, wide):
    """2005-04-30 + 3m was 07-30, when July is not complete: the window held May and June only, and 1,600 UCI
    clients delinquent in July alone were labelled good. A month-end observation's window ends at a month end."""
    labels = pd.read_csv(DATA / "labels.csv").assign(observation_date="2005-04-30")
    out = define_target(statements, labels, TargetSpec(**STATUS, bad_at=2, window="3m", period="month"))
    assert (out["perf_records"] == 3).all()  # May, June, July = PAY_5, PAY_4, PAY_3
    expected = (wide[["PAY_5", "PAY_4", "PAY_3"]].max(axis=1) >= 2).astype(int).to_numpy()
    assert (out["bad"].to_numpy(dtype=int) == expected).all()
    rec = pd.DataFrame({"id": [1, 1, 1, 1], "m": ["2024-01", "2024-02", "2024-03", "2024-04"], "dpd": [0, 0, 60, 0]})
    obs = pd.DataFrame({"id": [1, 1], "observation_date": ["2024-01-31", "2024-02-29"]})  # + 1m: 02-29, 03-31
    got = define_target(rec, obs, TargetSpec(entity="id", time="m", status="dpd", bad_at=30, window="1m", period="month"))
    assert got["perf_records"].tolist() == [1, 1] and got["bad"].tolist() == [0, 1]  # February, March


def test_target_reads_times_in_the_features_timezone():
    """TargetSpec had no timezone: with the features' `timezone: Asia/Shanghai`, a record at 00:30 +09:00 on the
    observation day (23:30 the day before in Shanghai) was in the features and, by its wall-clock time, in the
    target too; and a log with daylight-saving offsets was refused, pointing to a 'timezone' TargetSpec lacked."""
    from creditflow.features import BehaviourSpec, build_features

    rec = pd.DataFrame({"id": [1, 1], "t": ["2024-01-15T00:30:00+09:00", "2024-03-01T00:00:00+09:00"],
                        "dpd": [90, 0]})
    obs = pd.DataFrame({"id": [1], "observation_date": ["2024-01-15"]})
    features = BehaviourSpec.from_dict({"entity": "id", "event_time": "t", "timezone": "Asia/Shanghai",
                                        "features": [{"name": "worst", "agg": "max", "column": "dpd", "windows": ["3m"]}]})
    assert build_features(None, rec, features, obs)["worst"].item() == 90
    base = {"entity": "id", "time": "t", "status": "dpd", "bad_at": 30, "window": "30d"}
    with pytest.warns(UserWarning, match="the target's timezone is None but the features' 'Asia/Shanghai'"):
        define_target(rec, obs, TargetSpec(**base), features=features)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = define_target(rec, obs, TargetSpec(**base, timezone="Asia/Shanghai"), features=features)
    assert out["perf_records"].item() == 0 and pd.isna(out["bad"].item())  # the 90 is the features' alone
    london = pd.DataFrame({"id": [1, 1, 1], "t": ["2024-03-30T10:00:00+00:00", "2024-04-02T10:00:00+01:00",
                                                  "2024-05-01T10:00:00+01:00"], "dpd": [0, 40, 0]})
    got = define_target(london, obs.assign(observation_date="2024-03-15"), TargetSpec(**base, timezone="Europe/London"))
    assert got["perf_records"].item() == 2 and got["bad"].item() == 1


def test_target_warns_when_its_period_anchor_differs_from_the_features(statements):
    from creditflow.features import BehaviourSpec

    features = BehaviourSpec.from_dict({"entity": "client_id", "event_time": "statement_month", "event_period": "month",
                                        "period_anchor": "end", "features": [{"agg": "count", "windows": ["3m"]}]})
    labels = pd.DataFrame({"client_id": [1], "observation_date": ["2005-06-30"]})
    with pytest.warns(UserWarning, match="target stamps periods at their start but the features at their end"):
        define_target(statements, labels, TargetSpec(**STATUS, period="month", window="3m"), features=features)
    same = TargetSpec(**STATUS, period="month", period_anchor="end", window="3m")  # 12m runs past the data
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        define_target(statements, labels, same, features=features)


def test_target_refuses_non_numeric_status(statements):
    bad = statements.head(10).astype({"repayment_status": object})
    bad.loc[3, "repayment_status"] = "late"
    with pytest.raises(DataError) as err:
        define_target(bad, pd.DataFrame({"client_id": [1], "observation_date": ["2005-03-31"]}),
                      TargetSpec(**STATUS, period="month"))
    assert err.value.column == "repayment_status" and err.value.row == 4


def test_roll_rates_equal_the_wide_table_transitions(statements, wide):
    table = roll_rates(statements, **STATUS, horizon=1)
    expected = sum(
        pd.crosstab(wide[a], wide[b]).reindex(index=range(-2, 9), columns=range(-2, 9), fill_value=0)
        for a, b in zip(PAY[:-1], PAY[1:], strict=True)
    )
    assert (table.counts.to_numpy() == expected.to_numpy()).all()
    assert table.counts.to_numpy().sum() == 5 * 30_000
    np.testing.assert_allclose(table.rates.sum(axis=1).dropna(), 1.0)


def test_roll_rates_over_a_horizon_take_the_worst_status(statements, wide):
    table = roll_rates(statements, **STATUS, horizon=3, clip=(0, 3))
    assert list(table.counts.index) == ["<=0", "1", "2", "3+"]
    pairs = []
    for i in range(len(PAY) - 3):
        now = wide[PAY[i]].clip(0, 3)
        worst = wide[PAY[i + 1 : i + 4]].max(axis=1).clip(0, 3)
        pairs.append(pd.crosstab(now, worst).reindex(index=range(4), columns=range(4), fill_value=0))
    assert (table.counts.to_numpy() == sum(pairs).to_numpy()).all()


def test_vintage_curves_are_cumulative_bad_rates_by_months_on_book(statements, wide):
    table = vintage_curves(statements, **STATUS, bad_at=2)
    assert list(table.rates.index) == ["2005-04"] and table.accounts.iloc[0] == 30_000
    for mob in range(6):
        ever = (wide[PAY[: mob + 1]] >= 2).any(axis=1).mean()
        assert table.rates.loc["2005-04", mob] == pytest.approx(ever)
    assert table.rates.iloc[0].is_monotonic_increasing


def test_vintage_cohorts_from_opening_dates_and_unobserved_mobs_are_missing():
    records = pd.DataFrame({
        "id": [1, 1, 1, 2, 2, 3],
        "m": ["2005-01", "2005-02", "2005-03", "2005-02", "2005-03", "2005-03"],
        "dpd": [0, 30, 0, 0, 0, 60],
    })
    opened = pd.Series(["2005-01-15", "2005-01-20", "2005-03-01"], index=[1, 2, 3])
    table = vintage_curves(records, entity="id", time="m", status="dpd", bad_at=30, opened=opened)
    assert table.accounts.to_dict() == {"2005-01": 2, "2005-03": 1}
    assert table.rates.loc["2005-01"].tolist() == [0.0, 0.5, 0.5]
    assert table.rates.loc["2005-03", 0] == 1.0 and table.rates.loc["2005-03"].iloc[1:].isna().all()


def test_plots_are_matplotlib_figures(statements, tmp_path):
    vin = vintage_curves(statements, **STATUS, bad_at=2).plot()
    roll = roll_rates(statements, **STATUS, horizon=1, clip=(0, 4)).plot()
    for name, fig in (("vintage.png", vin), ("roll.png", roll)):
        fig.savefig(tmp_path / name)
        assert (tmp_path / name).stat().st_size > 5_000


def test_a_window_running_past_the_last_record_gives_a_missing_target_with_a_warning(statements, wide):
    """Statements end in September 2005: at 2005-07-31 a 3m window (August to October) was labelled 0/1 from
    August and September only (right-censored), at 2005-06-30 (July to September) it is complete."""
    spec = TargetSpec(**STATUS, bad_at=2, window="3m", period="month")
    labels = pd.DataFrame({"client_id": [1, 2, 3], "observation_date": ["2005-07-31", "2005-06-30", "2005-07-31"]})
    with pytest.warns(UserWarning, match=r"2 of 3 observation\(s\) have a performance window that runs past the "
                                         r"last record in the data \(2005-09\): their target is missing"):
        out = define_target(statements, labels, spec)
    assert out["bad"].isna().tolist() == [True, False, True]
    assert out["perf_records"].tolist() == [2, 3, 2]  # the records there are, still shown
    assert out["bad"].iloc[1] == int(wide.loc[1, ["PAY_3", "PAY_2", "PAY_0"]].max() >= 2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # complete windows: no warning
        define_target(statements, labels.assign(observation_date="2005-06-30"), spec)
    # days and timestamps: a window ending after the last record is censored too
    rec = pd.DataFrame({"id": [1, 1, 2], "t": ["2024-01-05", "2024-01-20", "2024-01-10"], "dpd": [0, 40, 0]})
    obs = pd.DataFrame({"id": [1, 2], "observation_date": ["2024-01-01", "2023-12-20"]})
    for period in ("day", None):
        with pytest.warns(UserWarning, match=r"1 of 2 observation\(s\)"):
            got = define_target(rec, obs, TargetSpec(entity="id", time="t", status="dpd", bad_at=30, window="30d",
                                                     period=period))
        assert got["bad"].isna().tolist() == [True, False], period  # 2024-01-01 + 30d runs past 2024-01-20
        assert got["perf_worst_status"].tolist() == [40, 0]
    # no records at all: every target missing, as before the censoring rule (it crashed on NaT)
    for period in ("day", "month", None):
        empty = define_target(rec.iloc[:0], obs, TargetSpec(entity="id", time="t", status="dpd", bad_at=30,
                                                             window="30d" if period != "month" else "1m", period=period))
        assert empty["bad"].isna().all(), period


def test_a_bad_target_window_is_named_as_the_targets():
    """'3x' in TargetSpec.window: the error says it is the target's window, not only 'cannot read duration'."""
    rec = pd.DataFrame({"client_id": [1], "statement_month": ["2005-04"], "repayment_status": [0]})
    obs = pd.DataFrame({"client_id": [1], "observation_date": ["2005-03-31"]})
    with pytest.raises(DataError, match=r"the target's window \(TargetSpec.window\): cannot read duration '3x'"):
        define_target(rec, obs, TargetSpec(**STATUS, window="3x", period="month"))


def test_records_with_an_offset_against_dates_without_one_warn_as_the_features_do():
    """Records written in UTC against local observation dates are compared by wall-clock time: the target warns,
    as build_features does for the same columns; with `timezone` set (both converted) it does not."""
    rec = pd.DataFrame({"client_id": [1, 1, 1], "dpd": [0, 40, 0],
                        "t": ["2024-01-14T20:00:00+00:00", "2024-02-03T08:00:00+00:00", "2024-03-01T08:00:00+00:00"]})
    obs = pd.DataFrame({"client_id": [1], "observation_date": ["2024-01-15"]})
    spec = TargetSpec(entity="client_id", time="t", status="dpd", bad_at=30, window="30d")
    with pytest.warns(UserWarning, match=r"record times have UTC offset \+00:00 but observation dates no UTC offset"):
        assert define_target(rec, obs, spec)["perf_records"].tolist() == [1]  # 01-14 20:00 by the clock: before
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = define_target(rec, obs, TargetSpec(**{**spec.to_dict(), "timezone": "Asia/Shanghai"}))
    assert out["perf_records"].tolist() == [2]  # 2024-01-15 04:00 in Shanghai: after the observation

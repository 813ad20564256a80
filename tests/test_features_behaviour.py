"""Behaviour features: every aggregation by hand, DuckDB == pandas, and point in time on the real data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from creditflow.data.errors import DataError
from creditflow.features import BehaviourSpec, TagRules, build_feature_table, build_features, read_profiles
from creditflow.features.duckdb_engine import behaviour_sql, plan
from tests.conftest import ROOT, SHARED_DATA, UCI

DATA = SHARED_DATA / "uci_taiwan"
EXAMPLE = ROOT / "examples" / "uci_taiwan_features.yaml"
ENGINES = ["duckdb", "pandas"]

# A hand-checkable log: entity 1 has events before, on and after its observation date.
EVENTS = pd.DataFrame(
    [
        (1, "2005-09-29", 10.0, 0),
        (1, "2005-09-15", 20.0, 2),
        (1, "2005-08-31", np.nan, 1),
        (1, "2005-08-10", 7.0, 0),
        (1, "2005-07-15", 40.0, 0),
        (1, "2005-06-29", 50.0, 3),
        (1, "2005-09-30", 1000.0, 9),  # on the observation date: not strictly before
        (1, "2005-10-05", 1000.0, 9),  # after it
        (3, "2005-09-01", 5.0, 0),
    ],
    columns=["id", "t", "v", "status"],
)
OBS = pd.DataFrame({"id": [1, 2, 3], "obs": ["2005-09-30"] * 3, "label": [1, 0, 0]})
HAND_SPEC = {
    "entity": "id",
    "event_time": "t",
    "observation_date": "obs",
    "windows": ["3m"],
    "features": [
        {"name": "n", "agg": "count"},
        {"name": "n_v", "agg": "count", "column": "v"},
        {"name": "sum", "agg": "sum", "column": "v"},
        {"name": "mean", "agg": "mean", "column": "v"},
        {"name": "min", "agg": "min", "column": "v"},
        {"name": "max", "agg": "max", "column": "v"},
        {"name": "std", "agg": "std", "column": "v"},
        {"name": "last", "agg": "last", "column": "v"},
        {"name": "first", "agg": "first", "column": "v"},
        {"name": "since_last", "agg": "days_since_last"},
        {"name": "since_first", "agg": "days_since_first"},
        {"name": "slope", "agg": "slope", "column": "v"},
        {"name": "n_late", "agg": "count", "filter": "status >= 1"},
        {"name": "sum_late", "agg": "sum", "column": "v", "filter": "status >= 1"},
        {"name": "since_late", "agg": "days_since_last", "filter": "status >= 1"},
        {"name": "late_share", "agg": "ratio", "numerator": {"agg": "sum", "column": "v", "filter": "status >= 1"},
         "denominator": {"agg": "sum", "column": "v"}},
        {"name": "n_{window}", "agg": "count", "windows": ["6m", "30d", {"length": "1m", "offset": "1m"}]},
        {"name": "worst_6m", "agg": "max", "column": "status", "windows": ["6m"]},
        {"name": "last_prev_month", "agg": "last", "column": "v", "windows": [{"length": "1m", "offset": "1m"}]},
        {"name": "sum_30d", "agg": "sum", "column": "v", "windows": ["30d"]},
    ],
    "derived": [{"name": "avg_check", "expr": "sum / n_v"}],
}


@pytest.mark.parametrize("engine", ENGINES)
def test_each_aggregation_matches_a_hand_computation(engine):
    out = build_features(None, EVENTS, BehaviourSpec.from_dict(HAND_SPEC), OBS, engine=engine).set_index("id")
    one = out.loc[1]
    # window 3m = [2005-06-30, 2005-09-30): values 10, 20, (missing), 7, 40
    assert one["n"] == 5 and one["n_v"] == 4
    assert one["sum"] == 77 and one["mean"] == 77 / 4 and one["min"] == 7 and one["max"] == 40
    assert one["std"] == pytest.approx(np.std([10, 20, 7, 40], ddof=1))
    assert one["last"] == 10 and one["first"] == 40
    assert one["since_last"] == 1 and one["since_first"] == 77
    x, y = np.array([-1, -15, -51, -77]), np.array([10, 20, 7, 40])
    assert one["slope"] == pytest.approx(np.polyfit(x, y, 1)[0])
    assert one["n_late"] == 2 and one["sum_late"] == 20 and one["since_late"] == 15
    assert one["late_share"] == pytest.approx(20 / 77)
    assert one["n_6m"] == 6 and one["worst_6m"] == 3  # adds 2005-06-29 (status 3)
    assert one["n_30d"] == 3 and one["sum_30d"] == 30  # [2005-08-31, 2005-09-30)
    assert one["n_1m_2m"] == 1 and one["last_prev_month"] == 7  # [2005-07-30, 2005-08-30)
    assert one["avg_check"] == one["mean"]
    # no events: counts are 0, everything else missing
    two = out.loc[2]
    assert two["n"] == 0 and two["n_late"] == 0
    assert all(np.isnan(two[c]) for c in ["sum", "mean", "std", "last", "since_last", "slope", "late_share"])
    # one event: std and slope need two
    three = out.loc[3]
    assert three["n"] == 1 and three["sum"] == 5 and three["last"] == 5 and three["since_last"] == 29
    assert np.isnan(three["std"]) and np.isnan(three["slope"])
    assert out["n"].dtype == "int64" and out["sum"].dtype == "float64"
    assert out["label"].tolist() == [1, 0, 0]


def _random_log(seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    n, n_ent = 6000, 300
    days = pd.Timestamp("2004-01-01") + pd.to_timedelta(rng.integers(0, 900, n), unit="D")
    ev = pd.DataFrame({
        "id": rng.integers(0, n_ent + 20, n),
        "t": days.strftime("%Y-%m-%d"),  # many same-day ties
        "v": np.where(rng.random(n) < 0.1, np.nan, rng.normal(100, 50, n).round(2)),
        "status": rng.integers(-2, 6, n),
        "kind": rng.choice(np.array(["a", "b", "c"], dtype=object), n),
    })
    ev.loc[rng.random(n) < 0.05, "kind"] = None
    month_ends = pd.date_range("2004-06-30", "2006-03-31", freq="ME")
    ids = np.concatenate([np.arange(20, n_ent + 10), np.arange(n_ent + 100, n_ent + 105)])  # last 5: no events
    obs = pd.DataFrame({
        "id": np.tile(ids, 2),
        "obs": np.concatenate([month_ends[rng.integers(0, len(month_ends), len(ids))].strftime("%Y-%m-%d"),
                               ["2005-03-31"] * len(ids)]),
    }).drop_duplicates(["id", "obs"])
    return ev, obs


RANDOM_SPEC = {
    "entity": "id",
    "event_time": "t",
    "observation_date": "obs",
    "windows": ["1m", "3m", "45d", {"length": "2m", "offset": "1m"}],
    "on_unknown_entity": "drop",
    "features": [
        {"agg": a, "column": "v"} for a in ["count", "sum", "mean", "min", "max", "std", "first", "last", "slope"]
    ] + [
        {"name": "n_{window}", "agg": "count"},
        {"name": "since_{window}", "agg": "days_since_last", "filter": "status >= 2"},
        {"name": "since_first_{window}", "agg": "days_since_first", "column": "v"},
        {"name": "ab_{window}", "agg": "sum", "column": "v", "filter": "kind in ['a', 'b'] and not (status > 3)"},
        {"name": "notb_{window}", "agg": "count", "filter": "not (kind == 'b') or isna(v)"},
        {"name": "r_{window}", "agg": "ratio", "numerator": {"agg": "max", "column": "status"},
         "denominator": {"agg": "count", "filter": "status > 0"}},
    ],
}


def test_duckdb_and_pandas_agree_on_a_random_log():
    ev, obs = _random_log()
    spec = BehaviourSpec.from_dict(RANDOM_SPEC)
    fast = build_feature_table(None, ev, spec, obs, engine="duckdb")
    slow = build_feature_table(None, ev, spec, obs, engine="pandas")
    assert fast.report.dropped_unknown_entity_events > 0  # ids < 20 and >= 310 have no observation
    r = fast.report  # 10 observations of entities without events, others with events only outside the windows
    assert r.observations_without_events - r.observations_with_only_unusable_events == 10
    assert r.observations_with_only_unusable_events > 0
    pd.testing.assert_frame_equal(fast.frame, slow.frame, check_exact=False, rtol=1e-9, atol=1e-9)
    assert fast.frame["v_count_3m"].sum() > 0 and fast.frame["ab_45d"].notna().sum() > 50


def test_sql_is_one_query_over_observation_window_pairs():
    spec = BehaviourSpec.from_dict(HAND_SPEC)
    sql = behaviour_sql(spec)
    assert sql.count("SELECT") == 2 and sql.count("GROUP BY") == 1  # the pairs, then one aggregate
    assert 'e."__ts" < ow."__hi"' in sql  # hi is the observation itself for windows without offset
    p = plan(spec)
    assert len(p.windows) == 4  # 3m, 6m, 30d and the 1m window 1 month back
    assert len(p.measures) < len(spec.columns)  # a measure is computed once for all its windows


@pytest.fixture(scope="module")
def real():
    spec = BehaviourSpec.from_yaml(EXAMPLE)
    profiles = read_profiles(DATA / "profiles.jsonl", spec.profile)
    events = pd.read_csv(DATA / "statements.csv")
    labels = pd.read_csv(DATA / "labels.csv")
    table = build_features(profiles, events, spec, labels)
    return spec, profiles, events, labels, table


def test_real_features_carry_the_wide_table(real):
    spec, _, _, labels, table = real
    wide = pd.read_csv(UCI).set_index("ID").loc[table["client_id"]]
    pay = ["PAY_0", "PAY_2", "PAY_3", "PAY_4", "PAY_5", "PAY_6"]
    for k in range(1, 7):
        assert (table[f"bill_m{k}"].to_numpy() == wide[f"BILL_AMT{k}"].to_numpy()).all()
        assert (table[f"paid_m{k}"].to_numpy() == wide[f"PAY_AMT{k}"].to_numpy()).all()
        assert (table[f"status_m{k}"].to_numpy() == wide[pay[k - 1]].to_numpy()).all()
    assert (table["worst_status_3m"].to_numpy() == wide[pay[:3]].max(axis=1).to_numpy()).all()
    assert (table["months_delinquent_6m"].to_numpy() == (wide[pay] >= 1).sum(axis=1).to_numpy()).all()
    bills, paid = wide[[f"BILL_AMT{k}" for k in range(1, 7)]], wide[[f"PAY_AMT{k}" for k in range(1, 7)]]
    ratio = paid.sum(axis=1).to_numpy() / bills.sum(axis=1).replace(0, np.nan).to_numpy()
    np.testing.assert_allclose(table["pay_ratio_6m"].to_numpy(), ratio, equal_nan=True)
    np.testing.assert_allclose(table["utilisation_m1"], wide["BILL_AMT1"].to_numpy() / wide["LIMIT_BAL"].to_numpy())
    assert table["defaulted"].tolist() == labels["defaulted"].tolist()
    assert list(table.columns[:3]) == ["client_id", "observation_date", "defaulted"]
    assert len(table) == len(labels) and not np.isinf(table.select_dtypes("number").to_numpy()).any()


def test_injected_future_events_do_not_change_any_feature(real):
    spec, profiles, events, labels, table = real
    rng = np.random.default_rng(1)
    future = []
    for month in ["2005-10", "2005-11", "2006-03"]:
        f = events[events["statement_month"] == "2005-09"].copy()
        f["statement_month"] = month
        f["bill_amount"] = rng.normal(1e6, 1e5, len(f))
        f["paid_amount"] = 0.0
        f["repayment_status"] = 8
        future.append(f)
    polluted = pd.concat([events, *future], ignore_index=True).sample(frac=1, random_state=3)
    again = build_features(profiles, polluted, spec, labels)
    pd.testing.assert_frame_equal(again, table)


def test_the_september_statement_is_used_at_september_30_but_not_at_august_31(real):
    spec, profiles, events, labels, table = real
    earlier = labels.assign(observation_date="2005-08-31")
    shifted = build_features(profiles, events, spec, earlier)
    assert (shifted["bill_m1"].to_numpy() == table["bill_m2"].to_numpy()).all()
    assert (shifted["status_m1"].to_numpy() == table["status_m2"].to_numpy()).all()
    assert shifted["bill_m6"].isna().all()  # March 2005 is not in the data


def test_period_end_anchor_moves_statements_to_the_month_end():
    ev = pd.DataFrame({"id": [1, 1], "m": ["2005-08", "2005-09"], "v": [1.0, 2.0]})
    obs = pd.DataFrame({"id": [1], "observation_date": ["2005-09-30"]})
    spec = {"entity": "id", "event_time": "m", "event_period": "month", "windows": ["6m"],
            "features": [{"name": "last", "agg": "last", "column": "v"}]}
    start = build_features(None, ev, BehaviourSpec.from_dict(spec), obs)
    end = build_features(None, ev, BehaviourSpec.from_dict({**spec, "period_anchor": "end"}), obs)
    assert start["last"].item() == 2.0  # 2005-09 -> 2005-09-01 < 2005-09-30
    assert end["last"].item() == 1.0  # 2005-09 -> 2005-09-30, not strictly before


@pytest.mark.parametrize("engine", ENGINES)
def test_period_end_anchor_uses_a_month_only_from_the_next_months_first(engine):
    """September, stamped 2005-09-30 00:00, counted at 2005-09-30 12:00, before the month was over."""
    ev = pd.DataFrame({"id": [1, 1], "m": ["2005-08", "2005-09"], "v": [1.0, 100.0]})
    obs = pd.DataFrame({"id": [1, 1, 1], "observation_date": ["2005-09-30 12:00", "2005-09-30 23:59:59", "2005-10-01"]})
    spec = BehaviourSpec.from_dict({"entity": "id", "event_time": "m", "event_period": "month", "period_anchor": "end",
                                    "windows": ["3m"], "features": [{"name": "s", "agg": "sum", "column": "v"}]})
    assert build_features(None, ev, spec, obs, engine=engine)["s"].tolist() == [1.0, 1.0, 101.0]


def test_time_zones_convert_when_a_zone_is_given():
    ev = pd.DataFrame({"id": [1, 1], "t": ["2005-09-29T23:30:00+00:00", "2005-09-30T07:30:00+08:00"], "v": [1.0, 2.0]})
    obs = pd.DataFrame({"id": [1], "observation_date": ["2005-09-30 08:00"]})
    base = {"entity": "id", "event_time": "t", "windows": ["30d"], "features": [{"name": "n", "agg": "count"}]}
    with pytest.raises(DataError, match="mixed time zones"):
        build_features(None, ev, BehaviourSpec.from_dict(base), obs)
    out = build_features(None, ev, BehaviourSpec.from_dict({**base, "timezone": "Asia/Taipei"}), obs)
    assert out["n"].item() == 2  # 07:29:59 and 07:30 Taipei time, both before 08:00


def test_duplicates_and_unknown_entities_are_dropped_only_when_asked_and_counted():
    ev = pd.concat([EVENTS, EVENTS.iloc[[0, 1]], pd.DataFrame([(99, "2005-09-01", 1.0, 0)], columns=EVENTS.columns)])
    spec = BehaviourSpec.from_dict({**HAND_SPEC, "on_duplicate": "drop", "on_unknown_entity": "drop"})
    result = build_feature_table(None, ev, spec, OBS)
    assert result.report.dropped_duplicate_events == 2
    assert result.report.dropped_unknown_entity_events == 1
    assert len(result.report.warnings) == 2
    clean = build_features(None, EVENTS, BehaviourSpec.from_dict(HAND_SPEC), OBS)
    pd.testing.assert_frame_equal(result.frame, clean)
    with pytest.raises(DataError, match="2 event row"):
        build_features(None, ev, BehaviourSpec.from_dict(HAND_SPEC), OBS)


def test_event_ids_written_as_floats_are_named_as_such():
    # before, ids exported as 1.0 beside observations' 1 were "not in the observations" with a hint to drop them
    ev = EVENTS.assign(id=EVENTS["id"].map(lambda v: f"{v}.0"))
    with pytest.raises(DataError, match="entity id.s. not in the observations, e.g. '1.0'") as err:
        build_features(None, ev, BehaviourSpec.from_dict(HAND_SPEC), OBS.assign(id=OBS["id"].astype(str)))
    assert "write it '1': ids exported as floats" in str(err.value) and "--drop-unknown-entities" not in str(err.value)


@pytest.mark.parametrize("engine", ENGINES)
def test_a_month_is_used_only_once_complete(engine):
    ev = pd.DataFrame({"id": [1, 1, 1], "m": ["2024-01-10", "2024-02-10", "2024-03-28"], "v": [1.0, 5.0, 999.0]})
    obs = pd.DataFrame({"id": [1, 1, 1, 1], "observation_date": ["2024-03-05", "2024-03-01", "2024-03-31",
                                                                  "2024-03-30 23:00"]})
    spec = BehaviourSpec.from_dict({
        "entity": "id", "event_time": "m", "event_period": "month", "windows": ["3m"],
        "features": [{"name": "s", "agg": "sum", "column": "v"}, {"name": "n", "agg": "count"},
                     {"name": "n_30d", "agg": "count", "windows": ["30d"]},
                     {"name": "since", "agg": "days_since_last"}],
    })
    out = build_features(None, ev, spec, obs, engine=engine)
    # mid-March: March is not complete, so its 999 must not leak in; the windows stay as they were
    assert out["s"].tolist() == [6.0, 6.0, 1005.0, 6.0]
    assert out["n_30d"].tolist() == [0, 1, 1, 0]
    assert out["since"].tolist() == [33.0, 29.0, 30.0, pytest.approx(58 + 23 / 24)]


def _kind_log(**columns) -> tuple[pd.DataFrame, pd.DataFrame]:
    ev = pd.DataFrame({"id": [1, 1, 2], "t": ["2005-09-01", "2005-09-02", "2005-09-03"], "v": [1.0, 2.0, 3.0],
                       **columns})
    return ev, pd.DataFrame({"id": [1, 2], "observation_date": ["2005-09-30"] * 2})


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("column, filt, row, words", [
    (["0", "late", "1"], "dpd >= 1", 2, "1 of 3 value(s) are not numbers, e.g. 'late'"),
    ([0, 2, 1], "dpd == 'x'", None, "holds numbers but is compared with the text 'x'"),
    ([0, 2, 1], "dpd in ['a', 'b']", None, "holds numbers but is compared with the values"),
    (["a", "b", "c"], "dpd > 1", None, "holds text but is compared with the number 1"),
    ([0, 2, 1], "dpd", None, "is not a condition: column 'dpd' holds numbers"),
])
def test_filters_comparing_text_with_numbers_are_refused_by_both_engines(engine, column, filt, row, words):
    ev, obs = _kind_log(dpd=column)
    spec = BehaviourSpec.from_dict({"entity": "id", "event_time": "t", "windows": ["3m"],
                                    "features": [{"name": "n", "agg": "count", "filter": filt}]})
    with pytest.raises(DataError) as err:
        build_feature_table(None, ev, spec, obs, engine=engine, files={"events": "ev.csv"})
    assert (err.value.file, err.value.column, err.value.row) == ("ev.csv", "dpd", row)
    assert words in err.value.reason


@pytest.mark.parametrize("engine", ENGINES)
def test_an_empty_column_compared_with_text_matches_nothing(engine):
    ev, obs = _kind_log(kind=[np.nan] * 3, flag=[True, False, True])
    spec = BehaviourSpec.from_dict({"entity": "id", "event_time": "t", "windows": ["3m"], "features": [
        {"name": "a", "agg": "sum", "column": "v", "filter": "kind == 'Crédit'"},
        {"name": "b", "agg": "count", "filter": "kind not in ['x'] or v > 1"},
        {"name": "c", "agg": "count", "filter": "flag"},
    ]})
    out = build_features(None, ev, spec, obs, engine=engine)
    assert out["a"].isna().all() and out["b"].tolist() == [1, 1] and out["c"].tolist() == [1, 1]


@pytest.mark.parametrize("obs_extra, profiles, tags, file, column", [
    ({"n": 1}, None, None, "lab.csv", "n"),  # a labels column named like a behaviour feature
    ({}, {"id": [1, 2, 3], "sum": [0, 0, 0]}, None, "prof.jsonl", "sum"),  # a profile key
    ({"label2": 1}, {"id": [1, 2, 3], "label2": [0, 0, 0]}, None, "lab.csv", "label2"),  # profile vs labels
    ({}, {"id": [1, 2, 3], "avg_check": [0, 0, 0]}, None, "prof.jsonl", "avg_check"),  # a derived feature
    ({}, None, {"max": [{"value": "x"}]}, "spec.yaml", "max"),  # a tag named like a feature
])
def test_a_name_clash_names_the_file_holding_the_clashing_column(obs_extra, profiles, tags, file, column):
    files = {"events": "ev.csv", "observations": "lab.csv", "profiles": "prof.jsonl", "spec": "spec.yaml",
             "tags": "tags.yaml"}
    with pytest.raises(DataError) as err:
        build_feature_table(pd.DataFrame(profiles) if profiles else None, EVENTS, BehaviourSpec.from_dict(HAND_SPEC),
                            OBS.assign(**obs_extra), tags=TagRules.from_dict(tags) if tags else None, files=files)
    assert (err.value.file, err.value.column) == (file, column)


def test_list_and_struct_columns_of_parquet_events_are_compared_when_unused_and_refused_when_read(tmp_path):
    ev = pd.DataFrame({"id": [1, 1, 1], "t": ["2005-09-01"] * 3, "v": [1.0, 1.0, 1.0],
                       "tags": [["a"], ["b", "c"], ["a"]], "s": [{"x": 1, "y": [2]}] * 3})
    ev.to_parquet(tmp_path / "ev.parquet")
    ev = pd.read_parquet(tmp_path / "ev.parquet")  # lists as numpy arrays, structs as dicts
    base = {"entity": "id", "event_time": "t", "windows": ["30d"], "features": [{"name": "n", "agg": "count"}]}
    obs = pd.DataFrame({"id": [1], "observation_date": ["2005-09-30"]})
    with pytest.raises(DataError, match="1 event row"):  # rows 1 and 3 are equal, lists included
        build_features(None, ev, BehaviourSpec.from_dict(base), obs)
    assert build_features(None, ev.head(2), BehaviourSpec.from_dict(base), obs)["n"].item() == 2
    spec = BehaviourSpec.from_dict({**base, "features": [{"name": "n", "agg": "count", "filter": "notna(tags)"}]})
    with pytest.raises(DataError, match="nested values") as err:
        build_features(None, ev, spec, obs)
    assert err.value.column == "tags"


@pytest.mark.parametrize("engine", ENGINES)
def test_columns_differing_only_in_case_are_refused_by_both_engines(engine):
    ev = pd.DataFrame({"id": [1, 1], "t": ["2005-09-01", "2005-09-02"], "amt": [1.0, 2.0], "AMT": [100.0, 200.0],
                       "Ä": [1.0, 1.0], "ä": [2.0, 2.0]})
    obs = pd.DataFrame({"id": [1], "observation_date": ["2005-09-30"]})
    base = {"entity": "id", "event_time": "t", "windows": ["30d"]}
    spec = BehaviourSpec.from_dict({**base, "features": [{"name": "small", "agg": "sum", "column": "amt"},
                                                         {"name": "big", "agg": "sum", "column": "AMT"}]})
    with pytest.raises(DataError, match="'amt' and 'AMT' differ only in case") as err:
        build_features(None, ev, spec, obs, engine=engine)
    assert err.value.column == "AMT"
    spec = BehaviourSpec.from_dict({**base, "features": [{"name": "a", "agg": "sum", "column": "Ä"},
                                                         {"name": "b", "agg": "sum", "column": "ä"},
                                                         {"name": "small", "agg": "sum", "column": "amt"}]})
    out = build_features(None, ev, spec, obs, engine=engine)  # SQL folds ASCII letters only; AMT is not read
    assert out[["a", "b", "small"]].iloc[0].tolist() == [2.0, 4.0, 3.0]


@pytest.mark.parametrize("engine", ENGINES)
def test_true_false_columns_with_missing_values_are_conditions_on_both_engines(engine, tmp_path):
    import io

    csv = pd.read_csv(io.StringIO("id,t,flag\n1,2005-09-01,true\n1,2005-09-02,\n1,2005-09-03,false\n2,2005-09-01,\n"))
    pd.DataFrame({"id": [1, 1, 1, 2], "t": ["2005-09-01", "2005-09-02", "2005-09-03", "2005-09-01"],
                  "flag": [True, None, False, None]}).to_parquet(tmp_path / "ev.parquet")
    obs = pd.DataFrame({"id": [1, 2], "observation_date": ["2005-09-30"] * 2})
    feats = [{"name": "yes", "agg": "count", "filter": "flag"}, {"name": "eq", "agg": "count", "filter": "flag == True"},
             {"name": "no", "agg": "count", "filter": "not flag"}, {"name": "known", "agg": "count", "column": "flag"},
             {"name": "share", "agg": "mean", "column": "flag"}]
    base = {"entity": "id", "event_time": "t", "windows": ["30d"]}
    spec = BehaviourSpec.from_dict({**base, "features": feats})
    for ev in (csv, pd.read_parquet(tmp_path / "ev.parquet")):  # both read as objects with a gap
        out = build_features(None, ev, spec, obs, engine=engine)
        assert out[["yes", "eq", "no", "known", "share"]].iloc[0].tolist() == [1, 1, 1, 2, 0.5]
        assert out[["yes", "eq", "no", "known"]].iloc[1].tolist() == [0, 0, 0, 0]
        text = BehaviourSpec.from_dict({**base, "features": [
            {"name": "t", "agg": "count", "filter": "flag == 'true'"}]})
        with pytest.raises(DataError, match="holds true/false but is compared with the text 'true'") as err:
            build_features(None, ev, text, obs, engine=engine)
        assert err.value.column == "flag"


def test_utc_events_against_dates_without_an_offset_warn_unless_a_zone_is_set():
    ev = pd.DataFrame({"id": [1], "t": ["2005-09-29T21:00:00Z"]})  # 05:00 on the 30th in Taipei
    obs = pd.DataFrame({"id": [1], "observation_date": ["2005-09-30"]})
    base = {"entity": "id", "event_time": "t", "windows": ["30d"], "features": [{"name": "n", "agg": "count"}]}
    files = {"events": "ev.csv", "observations": "lab.csv"}
    result = build_feature_table(None, ev, BehaviourSpec.from_dict(base), obs, files=files)
    assert result.frame["n"].item() == 1 and len(result.report.warnings) == 1
    assert all(w in result.report.warnings[0] for w in ("'ev.csv'", "+00:00", "'lab.csv'", "no UTC offset", "timezone"))
    zoned = build_feature_table(None, ev, BehaviourSpec.from_dict({**base, "timezone": "Asia/Taipei"}), obs)
    assert zoned.frame["n"].item() == 0 and zoned.report.zone_warning is None
    assert [w for w in zoned.report.warnings if "UTC offset" in w] == []  # left: its one event is after it
    aware = obs.assign(observation_date=pd.to_datetime(obs["observation_date"]).dt.tz_localize("UTC"))
    assert build_feature_table(None, ev, BehaviourSpec.from_dict(base), aware).report.warnings == []


def test_an_observation_without_events_and_ids_with_spaces_around_them(tmp_path):
    """An applicant new to the bank has no events (the nested-column check crashed on an empty table), and
    ids written ' 7' or '8 ' in a CSV are the ids 7 and 8, as pandas read them before ids were read as written."""
    from creditflow.data.io import read_frame

    base = {"entity": "id", "event_time": "t", "windows": ["30d"], "features": [{"name": "n", "agg": "count"}]}
    spec = BehaviourSpec.from_dict(base)
    obs = pd.DataFrame({"id": [7, 8], "observation_date": ["2024-02-01", "2024-02-01"]})
    none = build_feature_table(None, pd.DataFrame({"id": pd.Series([], dtype="int64"), "t": pd.Series([], dtype=str)}),
                               spec, obs)
    assert none.frame["n"].tolist() == [0, 0]
    (tmp_path / "ev.csv").write_text("id,t\n 7,2024-01-20\n8 ,2024-01-21\n8,2024-01-22\n", encoding="utf-8")
    events = read_frame(tmp_path / "ev.csv", ids=["id"])
    assert events["id"].tolist() == [7, 8, 8]
    assert build_feature_table(None, events, spec, obs).frame["n"].tolist() == [1, 2]


def test_the_same_named_zone_in_summer_and_winter_is_not_warned_of():
    ev = pd.DataFrame({"id": [1], "t": pd.to_datetime(["2024-01-10 12:00"]).tz_localize("Europe/Berlin")})
    obs = pd.DataFrame({"id": [1], "observation_date": pd.to_datetime(["2024-07-01"]).tz_localize("Europe/Berlin")})
    base = {"entity": "id", "event_time": "t", "windows": ["365d"], "features": [{"name": "n", "agg": "count"}]}
    result = build_feature_table(None, ev, BehaviourSpec.from_dict(base), obs)
    assert result.frame["n"].item() == 1 and result.report.warnings == []  # +01:00 and +02:00: one zone


def test_the_same_event_with_its_time_written_two_ways_is_a_duplicate():
    ev = pd.DataFrame({"id": [1, 1], "t": ["2024-01-10", "2024-01-10 00:00:00"], "amt": [10.0, 10.0]})
    obs = pd.DataFrame({"id": [1], "observation_date": ["2024-02-01"]})
    base = {"entity": "id", "event_time": "t", "windows": ["30d"],
            "features": [{"name": "n", "agg": "count"}, {"name": "s", "column": "amt", "agg": "sum"}]}
    with pytest.raises(DataError, match="exact duplicates of an earlier row") as err:
        build_feature_table(None, ev, BehaviourSpec.from_dict(base), obs)
    assert err.value.row == 2
    dropped = build_feature_table(None, ev, BehaviourSpec.from_dict({**base, "on_duplicate": "drop"}), obs)
    assert dropped.frame[["n", "s"]].values.tolist() == [[1, 10.0]]


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("period", ["day", "month"])
def test_equal_events_at_different_times_of_one_period_are_not_duplicates(engine, period):
    """The duplicate check compared the day- or month-stamped times: two payments of 100 at 09:00 and 18:00
    (or on the 5th and the 20th) were refused as exact duplicates, and with on_duplicate: drop one vanished."""
    ev = pd.DataFrame({"id": [1, 1, 1], "t": ["2024-03-05 09:00", "2024-03-05 18:00", "2024-03-20"],
                       "amt": [100.0, 100.0, 100.0]})
    obs = pd.DataFrame({"id": [1], "observation_date": ["2024-04-01"]})
    base = {"entity": "id", "event_time": "t", "event_period": period, "windows": ["3m"],
            "features": [{"name": "n", "agg": "count"}, {"name": "s", "column": "amt", "agg": "sum"}]}
    for policy in ("error", "drop"):
        spec = BehaviourSpec.from_dict({**base, "on_duplicate": policy})
        result = build_feature_table(None, ev, spec, obs, engine=engine)
        assert result.frame[["n", "s"]].values.tolist() == [[3, 300.0]], policy
        assert result.report.dropped_duplicate_events == 0


@pytest.mark.parametrize("engine", ENGINES)
def test_slope_over_one_shared_time_is_missing_on_both_engines(engine):
    """pandas gave 1.4e17 here: the mean of three x = -0.1 day rounds off, so their spread was ~1e-32, not 0."""
    ev = pd.DataFrame({"id": [1, 1, 1, 2, 2], "v": [1.0, 5.0, 2.0, 1.0, 3.0],
                       "t": ["2024-01-14 21:36:00"] * 3 + ["2024-01-10", "2024-01-12"]})
    obs = pd.DataFrame({"id": [1, 2], "observation_date": ["2024-01-15", "2024-01-15"]})
    spec = BehaviourSpec.from_dict({"entity": "id", "event_time": "t", "windows": ["30d"],
                                    "features": [{"name": "slope", "agg": "slope", "column": "v"}]})
    out = build_features(None, ev, spec, obs, engine=engine)
    assert np.isnan(out["slope"].iloc[0]) and out["slope"].iloc[1] == pytest.approx(1.0)


@pytest.mark.parametrize("engine", ENGINES)
def test_a_day_is_used_only_from_the_next_day_at_an_observation_with_a_time_of_day(engine):
    """A record of 2024-03-01 (stamped 00:00) counted at 09:00 that day, even one written 18:30: a leak."""
    ev = pd.DataFrame({"id": [1, 1, 2, 3], "t": ["2024-02-29", "2024-03-01", "2024-03-01 18:30:00", "2024-02-29 23:00"],
                       "amt": [1.0, 100.0, 100.0, 5.0]})
    obs = pd.DataFrame({"id": [1, 2, 3, 1], "od": ["2024-03-01 09:00:00"] * 3 + ["2024-03-02"]})
    spec = BehaviourSpec.from_dict({"entity": "id", "event_time": "t", "event_period": "day", "observation_date": "od",
                                    "windows": ["30d"], "features": [{"name": "s", "agg": "sum", "column": "amt"},
                                                                     {"name": "n", "agg": "count"}]})
    out = build_features(None, ev, spec, obs, engine=engine)
    assert out["n"].tolist() == [1, 0, 1, 2]
    assert out["s"].tolist()[:1] + out["s"].tolist()[2:] == [1.0, 5.0, 101.0] and np.isnan(out["s"].iloc[1])


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("as_times", [False, True])
def test_a_month_counted_from_its_last_day_never_uses_an_event_written_after_the_observation(engine, as_times):
    """A month stamped at its start counts from 00:00 of its last day: an event written 2005-09-30 18:00
    counted at 2005-09-30 00:00, hours before it happened."""
    ev = pd.DataFrame({"id": [1, 1], "t": ["2005-09-30 18:00:00", "2005-09-10"], "v": [100.0, 1.0]})
    if as_times:
        ev["t"] = pd.to_datetime(ev["t"], format="ISO8601")
    obs = pd.DataFrame({"id": [1, 1, 1], "observation_date": ["2005-09-30", "2005-09-30 20:00", "2005-10-01"]})
    spec = BehaviourSpec.from_dict({"entity": "id", "event_time": "t", "event_period": "month", "windows": ["3m"],
                                    "features": [{"name": "s", "agg": "sum", "column": "v"},
                                                 {"name": "since", "agg": "days_since_last"}]})
    out = build_features(None, ev, spec, obs, engine=engine)
    assert out["s"].tolist() == [1.0, 101.0, 101.0]
    assert out["since"].tolist() == [29.0, pytest.approx(29 + 20 / 24), 30.0]  # from the stamp, 2005-09-01


@pytest.mark.parametrize("engine", ENGINES)
def test_events_and_dates_with_different_explicit_offsets_are_compared_as_instants(engine):
    """Both sides name their offset, yet were compared by wall-clock time: 07:00+08:00 (23:00Z the day
    before) was left out at 2024-01-15T00:00Z, and with the sides swapped events after it were used."""
    ev = pd.DataFrame({"id": [1, 1], "t": ["2024-01-15T07:00:00+08:00", "2024-01-10T00:00:00+08:00"], "v": [100.0, 1.0]})
    obs = pd.DataFrame({"id": [1], "observation_date": ["2024-01-15T00:00:00Z"]})
    base = {"entity": "id", "event_time": "t", "windows": ["30d"], "features": [{"name": "s", "agg": "sum", "column": "v"}]}
    table = build_feature_table(None, ev, BehaviourSpec.from_dict(base), obs, engine=engine)
    assert table.frame["s"].item() == 101.0 and table.report.warnings == []
    swapped = build_feature_table(None, pd.DataFrame({"id": [1], "t": ["2024-01-14T20:00:00Z"], "v": [5.0]}),
                                  BehaviourSpec.from_dict(base), obs.assign(observation_date="2024-01-15T00:00:00+08:00"),
                                  engine=engine)
    assert np.isnan(swapped.frame["s"].item())  # 04:00 on the 15th in +08:00, after the observation
    aware = obs.assign(observation_date=pd.to_datetime(obs["observation_date"]))
    assert build_features(None, ev, BehaviourSpec.from_dict(base), aware, engine=engine)["s"].item() == 101.0


def test_float_features_are_the_same_on_every_run():
    # DuckDB merged one entity's partial sums across its threads in whatever order they finished: sum, std
    # and slope of non-whole amounts differed in the last digit between runs (3 runs in 4 here).
    rng = np.random.default_rng(0)
    n = 400_000
    ev = pd.DataFrame({"id": rng.integers(1, 4, n), "amt": rng.random(n) * 1000,
                       "t": pd.Timestamp("2023-01-01") + pd.to_timedelta(rng.integers(0, 360 * 86400, n), unit="s")})
    ev = ev.drop_duplicates().reset_index(drop=True)
    obs = pd.DataFrame({"id": [1, 2, 3], "observation_date": ["2024-01-01"] * 3})
    spec = BehaviourSpec.from_dict({"entity": "id", "event_time": "t", "windows": ["365d"], "features": [
        {"name": "s", "column": "amt", "agg": "sum"}, {"name": "b", "column": "amt", "agg": "slope"},
        {"name": "sd", "column": "amt", "agg": "std"}]})
    first = build_feature_table(None, ev, spec, obs).frame
    for _ in range(4):
        pd.testing.assert_frame_equal(build_feature_table(None, ev, spec, obs).frame, first, check_exact=True)


@pytest.mark.parametrize("engine", ENGINES)
def test_report_counts_only_events_inside_a_window_and_warns_when_most_observations_get_none(engine):
    """"180,000 of 180,000 events" and 0 observations without events were reported for an --as-of in the wrong
    year, which left every behaviour feature empty."""
    events = pd.DataFrame({"id": [1, 1, 1, 2], "t": ["2005-09-10", "2005-10-05", "2004-01-01", "2005-12-01"],
                           "v": [1.0, 2.0, 3.0, 4.0]})
    spec = BehaviourSpec.from_dict({"entity": "id", "event_time": "t", "observation_date": "obs", "windows": ["3m"],
                                    "features": [{"name": "n_{window}", "agg": "count"}]})
    obs = pd.DataFrame({"id": [1, 2, 3], "obs": ["2005-09-30"] * 3})
    r = build_feature_table(None, events, spec, obs, engine=engine).report
    # only 2005-09-10 is before an observation and inside its window; id 2's event is after, id 3 has none
    assert (r.n_events, r.n_events_used, r.observations_without_events) == (4, 1, 2)
    assert r.observations_with_only_unusable_events == 1 and r.warnings == []
    wrong_year = build_feature_table(None, events, spec, obs.assign(obs="2000-01-01"), engine=engine)
    r = wrong_year.report
    assert (r.n_events_used, r.observations_without_events, r.observations_with_only_unusable_events) == (0, 3, 2)
    assert (wrong_year.frame["n_3m"] == 0).all()
    assert len(r.warnings) == 1 and r.warnings[0].startswith("2 of 3 observation(s) have events for their entity "
                                                             "but none before the observation inside a window")
    assert "event times 2004-01-01 to 2005-12-01, observation dates 2000-01-01 to 2000-01-01" in r.warnings[0]


def test_engines_report_the_same_usage_on_a_random_log():
    ev, obs = _random_log()
    spec = BehaviourSpec.from_dict(RANDOM_SPEC)
    fast = build_feature_table(None, ev, spec, obs, engine="duckdb").report
    slow = build_feature_table(None, ev, spec, obs, engine="pandas").report
    assert 0 < fast.n_events_used < fast.n_events - fast.dropped_unknown_entity_events
    assert (fast.n_events_used, fast.observations_without_events, fast.observations_with_only_unusable_events) == (
        slow.n_events_used, slow.observations_without_events, slow.observations_with_only_unusable_events)


@pytest.mark.parametrize("engine", ENGINES)
def test_a_filter_on_a_text_no_event_holds_warns_with_the_values_there_are(engine):
    """A case typo ('Credit' for 'credit') gave all-zero counts without a word."""
    events = pd.DataFrame({"id": [1, 1, 2], "t": ["2024-01-01", "2024-01-02", "2024-01-03"],
                           "kind": ["credit", "debit", "credit"], "v": [1.0, 2.0, 3.0]})
    obs = pd.DataFrame({"id": [1, 2], "obs": ["2024-02-01", "2024-02-01"]})
    base = {"entity": "id", "event_time": "t", "observation_date": "obs", "windows": ["30d", "90d"]}
    spec = BehaviourSpec.from_dict({**base, "features": [
        {"name": "c_{window}", "agg": "count", "filter": "kind == 'Credit'"},
        {"name": "s_{window}", "agg": "sum", "column": "v", "filter": "kind in ['debit', 'refund']"},
        {"name": "ok_{window}", "agg": "count", "filter": "kind != 'debit'"}]})
    table = build_feature_table(None, events, spec, obs, engine=engine, files={"events": "ev.csv"})
    assert (table.frame["c_30d"] == 0).all()
    warned = table.report.warnings
    assert warned == [
        "filter \"kind == 'Credit'\" (feature(s) 'c_30d', 'c_90d'): no event holds 'Credit' in column 'kind' of "
        "'ev.csv' (it holds 'credit', 'debit'); did you mean 'credit'?",
        "filter \"kind in ['debit', 'refund']\" (feature(s) 's_30d', 's_90d'): no event holds 'refund' in column "
        "'kind' of 'ev.csv' (it holds 'credit', 'debit')",
    ]


@pytest.mark.parametrize("text_ids", [False, True])
def test_batches_of_entities_give_the_features_and_report_of_one_query(monkeypatch, text_ids):
    """A large table is queried in batches of whole entities, each with its own events (DuckDB held about
    5.6 GB for 1,020,000 observations in one query): batching changes no feature, no count and no row order."""
    from creditflow.features import duckdb_engine

    spec = BehaviourSpec.from_yaml(EXAMPLE)
    profiles = read_profiles(DATA / "profiles.jsonl", spec.profile)
    events = pd.read_csv(DATA / "statements.csv")
    labels = pd.read_csv(DATA / "labels.csv")
    # two observations of most clients, shuffled, so an entity's observations are far apart in the table
    obs = pd.concat([labels, labels.sample(frac=0.7, random_state=1).assign(observation_date="2005-07-31")])
    obs = obs.sample(frac=1, random_state=2).reset_index(drop=True)
    ev = events.sample(frac=1, random_state=3).reset_index(drop=True)
    if text_ids:
        obs, ev = obs.assign(client_id="c" + obs["client_id"].astype(str)), ev.assign(client_id="c" + ev["client_id"].astype(str))
        profiles = profiles.assign(client_id="c" + profiles["client_id"].astype(str))
    one = build_feature_table(profiles, ev, spec, obs)
    monkeypatch.setattr(duckdb_engine, "BATCH_PAIRS", 4_000)  # 500 observations of 8 windows a batch: 102 batches
    shapes = []
    plan_shape = duckdb_engine._plan_shape
    monkeypatch.setattr(duckdb_engine, "_plan_shape", lambda con, q: shapes.append(plan_shape(con, q)) or shapes[-1])
    batched = build_feature_table(profiles, ev, spec, obs)
    assert len(shapes) == 103 and len(set(shapes)) == 1  # every batch planned as the one query: batched indeed
    pd.testing.assert_frame_equal(batched.frame, one.frame, check_exact=True)
    a, b = one.report, batched.report
    assert (b.n_events_used, b.observations_without_events, b.observations_with_only_unusable_events) == (
        a.n_events_used, a.observations_without_events, a.observations_with_only_unusable_events)
    assert a.n_events_used == len(ev) and b.n_observations == len(obs) == 51_000
    july = batched.frame["observation_date"] == "2005-07-31"  # its m1 is July; no statement before April
    assert july.sum() == 21_000 and batched.frame.loc[july, "bill_m5"].isna().all()


def test_a_batch_planned_otherwise_than_the_one_query_leaves_the_floats_of_the_one_query(monkeypatch):
    """DuckDB builds its hash join on the side it estimates smaller, and the side decides the order in which an
    observation's events reach their sum: entity 2's 4 events beside its 10 observations were summed in reverse
    in a batch of their own (0.0), in their order in the one query, where entity 1's 1,000 events outweigh the
    11 observations (1.0)."""
    from creditflow.features import duckdb_engine

    spec = BehaviourSpec.from_dict({"entity": "id", "event_time": "t", "observation_date": "obs", "windows": ["3m"],
                                    "features": [{"name": "s", "agg": "sum", "column": "v"},
                                                 {"name": "sd", "agg": "std", "column": "v"}]})
    many = pd.DataFrame({"id": 1, "t": "2005-09-01", "v": np.arange(1000.0)})
    few = pd.DataFrame({"id": 2, "t": ["2005-08-01", "2005-08-02", "2005-08-03", "2005-08-04"],
                        "v": [1e16, 1.0, -1e16, 1.0]})
    events = pd.concat([many, few], ignore_index=True)
    obs = pd.DataFrame({"id": [2] * 10 + [1], "obs": [f"2005-09-{d:02d}" for d in range(10, 30, 2)] + ["2005-09-30"]})
    one = build_feature_table(None, events, spec, obs)
    assert (one.frame.loc[one.frame["id"] == 2, "s"] == 1.0).all()  # 1e16 + 1 - 1e16 + 1, in the events' order
    monkeypatch.setattr(duckdb_engine, "BATCH_PAIRS", 10)  # entity 2's observations in a batch of their own
    batched = build_feature_table(None, events, spec, obs)
    pd.testing.assert_frame_equal(batched.frame, one.frame, check_exact=True)
    assert batched.report.n_events_used == one.report.n_events_used == 1004

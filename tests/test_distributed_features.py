"""Behaviour features on a real Dask LocalCluster: events shuffled by entity, the embedded DuckDB engine per
partition, and exactly the single-machine table (and its errors, with the original file and row)."""

from __future__ import annotations

import re
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from creditflow.data.errors import DataError
from creditflow.distributed.features import bucket_of, build_features_on_cluster
from creditflow.features import BehaviourSpec, TagRules, build_feature_table, read_profiles
from tests import dask_cluster
from tests.conftest import ROOT, SHARED_DATA

UCI_DIR = SHARED_DATA / "uci_taiwan"
CLIENTS = 2000


@pytest.fixture(scope="session")
def client():
    yield dask_cluster.shared_client()
    dask_cluster.close()


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    spec = BehaviourSpec.from_yaml(ROOT / "examples" / "uci_taiwan_features.yaml")
    tags = TagRules.from_yaml(ROOT / "examples" / "uci_taiwan_tags.yaml")
    events = pd.read_csv(UCI_DIR / "statements.csv")
    events = events[events["client_id"] <= CLIENTS].sample(frac=1.0, random_state=5).reset_index(drop=True)
    obs = pd.read_csv(UCI_DIR / "labels.csv").head(CLIENTS)
    profiles = read_profiles(UCI_DIR / "profiles.jsonl", spec.profile)
    profiles = profiles[profiles["client_id"] <= CLIENTS].reset_index(drop=True)
    folder = tmp_path_factory.mktemp("events") / "events"
    folder.mkdir()
    for i, start in enumerate(range(0, len(events), 3500)):
        events.iloc[start : start + 3500].to_parquet(folder / f"part.{i:02d}.parquet", index=False)
    return spec, tags, events, obs, profiles, folder


def test_buckets_are_stable_and_agree_across_id_dtypes():
    ids = pd.Series([1, 2, 3, 40_000_000_001])
    a = bucket_of(ids, 7)
    np.testing.assert_array_equal(a, bucket_of(ids.astype(float), 7))
    np.testing.assert_array_equal(bucket_of(pd.Series(["u1", "u2"]), 5), bucket_of(pd.Series(["u1", "u2"]), 5))
    assert ((a >= 0) & (a < 7)).all()


def test_cluster_features_equal_the_embedded_engine(client, inputs):
    spec, tags, events, obs, profiles, folder = inputs
    single = build_feature_table(profiles, events, spec, obs, tags=tags)
    dist = build_features_on_cluster(client, profiles, folder, spec, obs, tags=tags, partitions=5)
    pd.testing.assert_frame_equal(dist.frame, single.frame)
    assert dist.report.n_events == single.report.n_events == len(events)
    assert dist.report.n_features == single.report.n_features


def test_cluster_reports_the_events_used_and_warns_of_a_wrong_year_as_one_machine(client, inputs):
    spec, _, events, obs, profiles, folder = inputs
    early = obs.assign(observation_date="2005-06-30")  # April to June of September's six months
    for labels in (early, obs.assign(observation_date="2000-01-01")):
        one = build_feature_table(profiles, events, spec, labels).report
        dist = build_features_on_cluster(client, profiles, folder, spec, labels, partitions=5).report
        keys = ("n_events_used", "observations_without_events", "observations_with_only_unusable_events")
        assert [getattr(dist, k) for k in keys] == [getattr(one, k) for k in keys]
        assert len(dist.warnings) == len(one.warnings)
    assert one.n_events_used == 0 and "have events for their entity but none before the observation" in dist.warnings[0]
    assert build_feature_table(profiles, events, spec, early).report.n_events_used == len(events) // 2


def test_drop_policies_count_and_errors_name_the_original_row(client, inputs, tmp_path):
    spec, tags, events, obs, profiles, _ = inputs
    dirty = pd.concat([events, events.iloc[[10, 20]], events.iloc[[0]].assign(client_id=999_999)], ignore_index=True)
    folder = tmp_path / "dirty"
    folder.mkdir()
    dirty.iloc[:6000].to_parquet(folder / "a.parquet", index=False)
    dirty.iloc[6000:].to_parquet(folder / "b.parquet", index=False)
    lenient = replace(spec, on_duplicate="drop", on_unknown_entity="drop")
    single = build_feature_table(profiles, dirty, lenient, obs)
    dist = build_features_on_cluster(client, profiles, folder, lenient, obs, partitions=3)
    pd.testing.assert_frame_equal(dist.frame, single.frame)
    assert dist.report.dropped_duplicate_events == 2 and dist.report.dropped_unknown_entity_events == 1
    bad = events.copy()
    bad["bill_amount"] = bad["bill_amount"].map(str)  # amounts as text, as some exports write them
    bad.loc[6000 + 41, "bill_amount"] = "n/a"  # row 42 of b.parquet
    (tmp_path / "bad").mkdir()
    bad.iloc[:6000].to_parquet(tmp_path / "bad" / "a.parquet", index=False)
    bad.iloc[6000:].to_parquet(tmp_path / "bad" / "b.parquet", index=False)
    with pytest.raises(DataError, match="not numbers") as err:
        build_features_on_cluster(client, profiles, tmp_path / "bad", spec, obs, partitions=3)
    assert "b.parquet" in str(err.value) and "row 42" in str(err.value) and "bill_amount" in str(err.value)


def test_a_duplicate_event_is_named_by_its_files_row_only(client, inputs, tmp_path):
    # The cluster's error said "row 11" of the right file, then "e.g. row 22675": a partition's own row number.
    spec, _, events, obs, profiles, _ = inputs
    (tmp_path / "dup").mkdir()
    events.iloc[:6000].to_parquet(tmp_path / "dup" / "a.parquet", index=False)
    pd.concat([events.iloc[6000:6010], events.iloc[[3]], events.iloc[6010:]]).to_parquet(
        tmp_path / "dup" / "b.parquet", index=False)  # row 11 of b.parquet repeats row 4 of a.parquet
    with pytest.raises(DataError, match="exact duplicates") as err:
        build_features_on_cluster(client, profiles, tmp_path / "dup", spec, obs, partitions=3)
    text = str(err.value)
    assert "b.parquet" in text and err.value.row == 11
    assert re.findall(r"row (\d+)", text) == ["11"], text


def test_text_observation_ids_join_number_events_as_on_one_machine(client, tmp_path):
    """align_ids made the observations' ids text on the cluster but left the events' numbers: refused there,
    joined on one machine. The time-zone warning of the partitions reaches the cluster's report too."""
    base = {"entity": "id", "event_time": "t", "windows": ["30d"], "features": [{"name": "n", "agg": "count"}]}
    spec = BehaviourSpec.from_dict(base)
    ev = pd.DataFrame({"id": [7, 8, 8], "t": ["2024-01-20T00:00:00Z", "2024-01-21T00:00:00Z", "2024-01-22T00:00:00Z"]})
    (tmp_path / "ev").mkdir()
    ev.to_parquet(tmp_path / "ev" / "part.0.parquet", index=False)
    obs = pd.DataFrame({"id": ["7", "8"], "observation_date": ["2024-02-01", "2024-02-01"]})
    one = build_feature_table(None, ev, spec, obs)
    dist = build_features_on_cluster(client, None, tmp_path / "ev", spec, obs, partitions=2)
    assert dist.frame["n"].tolist() == one.frame["n"].tolist() == [1, 2]
    assert len(one.report.warnings) == len(dist.report.warnings) == 1
    assert "UTC offset +00:00 but observation dates have no UTC offset" in dist.report.warnings[0]


def test_a_bucket_without_events_gives_no_time_zone_warning(client, tmp_path):
    base = {"entity": "id", "event_time": "t", "windows": ["30d"], "features": [{"name": "n", "agg": "count"}]}
    ev = pd.DataFrame({"id": [1, 2], "t": ["2024-01-20T00:00:00+08:00", "2024-01-21T00:00:00+08:00"]})
    (tmp_path / "ev").mkdir()
    ev.to_parquet(tmp_path / "ev" / "part.0.parquet", index=False)
    obs = pd.DataFrame({"id": list(range(1, 9)), "observation_date": ["2024-02-01T00:00:00+08:00"] * 8})
    dist = build_features_on_cluster(client, None, tmp_path / "ev", BehaviourSpec.from_dict(base), obs, partitions=4)
    assert dist.frame["n"].tolist() == [1, 1, 0, 0, 0, 0, 0, 0] and dist.report.warnings == []


def test_mixed_utc_offsets_across_buckets_are_refused_as_on_one_machine(client, tmp_path):
    """Each bucket saw one offset, so the cluster built the table: the same instant written 21:00Z for one
    client counted, written 05:00+08:00 for another did not."""
    base = {"entity": "id", "event_time": "t", "windows": ["30d"], "features": [{"name": "s", "agg": "count"}]}
    spec = BehaviourSpec.from_dict(base)
    ids = pd.Series(range(1, 41))
    buckets = bucket_of(ids, 4)
    a, b = int(ids[0]), int(ids[np.flatnonzero(buckets != buckets[0])[0]])
    ev = pd.DataFrame({"id": [a, a, b], "t": ["2024-01-13T21:00:00Z", "2024-01-14T21:00:00Z", "2024-01-15T05:00:00+08:00"]})
    obs = pd.DataFrame({"id": [a, b], "observation_date": ["2024-01-15", "2024-01-15"]})
    with pytest.raises(DataError, match="mixed time zones") as one:
        build_feature_table(None, ev, spec, obs)
    with pytest.raises(DataError, match="mixed time zones") as dist:
        build_features_on_cluster(client, None, ev, spec, obs, partitions=4)
    assert str(dist.value) == str(one.value) and dist.value.row == 3
    (tmp_path / "ev").mkdir()
    ev.iloc[:1].to_parquet(tmp_path / "ev" / "a.parquet", index=False)
    ev.iloc[1:].to_parquet(tmp_path / "ev" / "b.parquet", index=False)
    with pytest.raises(DataError, match=r"2 row\(s\) with \+00:00, 1 row\(s\) with \+08:00") as err:
        build_features_on_cluster(client, None, tmp_path / "ev", spec, obs, partitions=4)
    assert "b.parquet" in str(err.value) and err.value.row == 2
    mixed_obs = obs.assign(observation_date=["2024-01-15T00:00:00+08:00", "2024-01-15"])
    with pytest.raises(DataError, match="mixed time zones") as one:
        build_feature_table(None, ev.iloc[:2], spec, mixed_obs)
    with pytest.raises(DataError, match="mixed time zones") as dist:
        build_features_on_cluster(client, None, ev.iloc[:2], spec, mixed_obs, partitions=4)
    assert str(dist.value) == str(one.value)
    zoned = BehaviourSpec.from_dict({**base, "timezone": "Asia/Shanghai"})
    built = build_features_on_cluster(client, None, ev, zoned, obs, partitions=4)
    assert built.frame["s"].tolist() == build_feature_table(None, ev, zoned, obs).frame["s"].tolist() == [1, 0]


def test_a_filter_on_a_text_no_event_holds_warns_as_on_one_machine(client):
    # before, only one machine warned of kind == 'Credit' where the events hold 'credit'; the cluster gave the
    # all-zero counts without a word. The values are merged over the partitions first: 'debit' is present in
    # only some of them, and must not be warned of.
    rng = np.random.default_rng(3)
    n = 600
    ids = rng.integers(1, 61, n)
    events = pd.DataFrame({"id": ids, "t": pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 80, n), "D"),
                           "kind": np.where(ids <= 20, "debit", "credit"), "v": rng.random(n)})
    obs = pd.DataFrame({"id": np.arange(1, 61), "observation_date": "2024-04-01"})
    spec = BehaviourSpec.from_dict({"entity": "id", "event_time": "t", "windows": ["3m"], "features": [
        {"name": "n_credit", "agg": "count", "filter": "kind == 'Credit'"},
        {"name": "n_debit", "agg": "count", "filter": "kind == 'debit'"}]})
    one = build_feature_table(None, events, spec, obs).report.warnings
    dist = build_features_on_cluster(client, None, events, spec, obs, partitions=4).report.warnings
    assert len(one) == 1 and "no event holds 'Credit' in column 'kind'" in one[0] and "did you mean 'credit'?" in one[0]
    assert dist == one

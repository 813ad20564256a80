"""Profiles: flattening nested JSON into typed columns, and tag rules (on the real UCI profiles)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from creditflow.data.errors import DataError
from creditflow.features import FlattenOptions, TagRules, flatten_profiles, flatten_record, read_profiles
from tests.conftest import ROOT, SHARED_DATA, UCI

PROFILES = SHARED_DATA / "uci_taiwan" / "profiles.jsonl"
TAGS = ROOT / "examples" / "uci_taiwan_tags.yaml"


@pytest.fixture(scope="module")
def profiles() -> pd.DataFrame:
    return read_profiles(PROFILES)


@pytest.fixture(scope="module")
def wide() -> pd.DataFrame:
    return pd.read_csv(UCI)


def test_real_profiles_flatten_to_typed_columns(profiles, wide):
    assert list(profiles.columns) == [
        "client_id", "demographics__sex", "demographics__age", "demographics__marriage",
        "education__level", "account__credit_limit", "account__currency",
    ]
    assert len(profiles) == 30_000
    assert profiles["client_id"].dtype == "int64"
    assert profiles["demographics__age"].dtype == "int64"
    assert profiles["account__credit_limit"].dtype == "float64"
    assert pd.api.types.is_string_dtype(profiles["demographics__sex"].dtype)
    merged = profiles.merge(wide, left_on="client_id", right_on="ID")
    assert (merged["demographics__age"] == merged["AGE"]).all()
    assert (merged["account__credit_limit"] == merged["LIMIT_BAL"]).all()
    assert ((merged["SEX"] == 2) == (merged["demographics__sex"] == "female")).all()
    assert ((merged["MARRIAGE"] == 1) == (merged["demographics__marriage"] == "married")).all()
    assert profiles["demographics__sex"].value_counts().to_dict() == {"female": 18_112, "male": 11_888}


def test_lists_of_scalars_and_objects_any_depth():
    record = {
        "id": 7,
        "a": {"b": {"c": {"d": 1.5}}},
        "phones": ["138", "139"],
        "empty": [],
        "loans": [
            {"amount": 100, "bank": {"name": "x"}, "flags": ["late"]},
            {"amount": 300, "bank": {"name": "y"}, "flags": []},
            {"amount": 200, "bank": {"name": "z"}, "flags": ["late", "closed"]},
        ],
    }
    flat = flatten_record(record, FlattenOptions(list_items=2))
    assert flat["a__b__c__d"] == 1.5
    assert flat["phones__count"] == 2 and flat["phones__first"] == "138" and flat["phones__joined"] == "138|139"
    assert flat["empty__count"] == 0 and flat["empty__first"] is None and flat["empty__joined"] == ""
    assert flat["loans__count"] == 3
    assert flat["loans__0__amount"] == 100 and flat["loans__1__bank__name"] == "y"
    assert "loans__2__amount" not in flat  # only list_items=2 objects are indexed
    assert (flat["loans__amount__sum"], flat["loans__amount__min"], flat["loans__amount__max"]) == (600, 100, 300)
    assert flat["loans__0__flags__joined"] == "late"
    assert flat["loans__flags__count__sum"] == 3  # nested list counts are aggregated too


def test_missing_keys_and_nulls_are_missing_and_types_follow_values():
    records = [
        {"id": 1, "p": {"age": 30, "vip": True, "tags": ["a"]}},
        {"id": 2, "p": {"age": None, "vip": False}},
        {"id": 3},
    ]
    frame = flatten_profiles(records)
    assert frame["p__age"].dtype == "float64" and np.isnan(frame.loc[1, "p__age"])
    assert frame["p__vip"].dtype == "boolean" and pd.isna(frame.loc[2, "p__vip"])
    assert frame["id"].dtype == "int64"
    # a record without the list has missing count, not 0
    assert frame["p__tags__count"].tolist()[0] == 1 and frame["p__tags__count"].isna().sum() == 2


def test_nested_dataframe_cells_are_flattened_and_flat_frames_pass_through():
    nested = pd.DataFrame({"id": [1, 2], "d": [{"x": 1}, {"x": 2}]})
    assert flatten_profiles(nested).columns.tolist() == ["id", "d__x"]
    flat = pd.DataFrame({"id": [1, 2], "x": [3.0, 4.0]})
    pd.testing.assert_frame_equal(flatten_profiles(flat), flat)


def test_mixed_types_in_a_field_are_refused_with_the_row():
    with pytest.raises(DataError) as err:
        flatten_profiles([{"id": 1, "age": 30}, {"id": 2, "age": 31}, {"id": 3, "age": "unknown"}], file="p.jsonl")
    assert err.value.column == "age" and err.value.row == 3 and "unknown" in err.value.message


def test_bad_json_line_names_the_line(tmp_path):
    path = tmp_path / "p.jsonl"
    path.write_text('{"id": 1}\n{"id": 2,\n', encoding="utf-8")
    with pytest.raises(DataError) as err:
        read_profiles(path)
    assert err.value.row == 2 and "JSON" in err.value.reason


def test_tags_on_real_profiles_match_the_wide_table(profiles, wide):
    rules = TagRules.from_yaml(TAGS)
    tagged = rules.apply(profiles)
    assert rules.names == ["age_band", "life_stage", "education_band", "limit_band"]
    ages = wide.set_index("ID").loc[tagged["client_id"], "AGE"].to_numpy()
    expected = np.select(
        [ages < 25, ages < 35, ages < 45, ages < 55], ["21-24", "25-34", "35-44", "45-54"], "55+"
    )
    assert (tagged["age_band"].to_numpy() == expected).all()
    single_young = (tagged["demographics__marriage"] == "single") & (tagged["demographics__age"] < 30)
    assert (tagged.loc[single_young, "life_stage"] == "young_single").all()
    assert set(tagged["life_stage"]) == {"young_single", "single", "young_family", "established_family", "other"}
    assert (tagged.loc[tagged["demographics__marriage"] == "others", "life_stage"] == "other").all()


def test_tag_rules_round_trip_through_json_and_handle_missing():
    rules = TagRules.from_dict({
        "band": [
            {"when": "age < 30", "value": "young"},
            {"when": "age >= 30", "value": "older"},
        ],
        "risky": [{"when": "band == 'young' and limit > 100", "value": 1}, {"value": 0}],
    })
    again = TagRules.from_dict(json.loads(json.dumps(rules.to_dict())))
    assert again.to_dict() == rules.to_dict()
    frame = pd.DataFrame({"age": [25, 40, np.nan], "limit": [200, 200, 200]})
    out = again.apply(frame)
    assert out["band"].tolist()[:2] == ["young", "older"] and pd.isna(out["band"].iloc[2])
    assert out["risky"].tolist() == [1.0, 0.0, 0.0]  # unknown condition -> the default


@pytest.mark.parametrize("rules, words", [
    ({"t": [{"value": "a"}, {"when": "x > 1", "value": "b"}]}, "must come last"),
    ({"t": [{"when": "x >", "value": "b"}]}, "cannot parse"),
    ({"t": [{"when": "__import__('os')", "value": "b"}]}, "only the functions"),
    ({"t": [{"when": "x > 1"}]}, "'when' and 'value'"),
])
def test_bad_tag_rules_are_refused(rules, words):
    with pytest.raises(DataError, match=words.replace("(", r"\(")):
        TagRules.from_dict(rules)


def test_tag_condition_on_a_missing_column_names_it():
    rules = TagRules.from_dict({"t": [{"when": "nope > 1", "value": "b"}]})
    with pytest.raises(DataError) as err:
        rules.apply(pd.DataFrame({"x": [1]}), file="tags.yaml")
    assert err.value.column == "t" and "nope" in err.value.reason


def test_large_whole_numbers_are_kept_exactly_or_refused():
    frame = flatten_profiles([{"uid": 100000000000000001, "age": 30}, {"uid": 100000000000000010, "age": 40}])
    assert frame["uid"].dtype == "int64" and frame["uid"].tolist() == [100000000000000001, 100000000000000010]
    gaps = flatten_profiles([{"uid": 1, "n": 2**60 + 1}, {"uid": 2}])
    assert gaps["n"].dtype == "Int64" and gaps["n"].iloc[0] == 2**60 + 1 and pd.isna(gaps["n"].iloc[1])
    assert flatten_profiles([{"uid": 1, "n": 5}, {"uid": 2}])["n"].dtype == "float64"  # small: as before
    with pytest.raises(DataError) as err:
        flatten_profiles([{"uid": 1}, {"uid": 12345678901234567890}], file="p.jsonl")
    assert (err.value.file, err.value.column, err.value.row) == ("p.jsonl", "uid", 2)
    assert "64-bit" in err.value.reason
    with pytest.raises(DataError, match="fractional"):
        flatten_profiles([{"uid": 1, "n": 2**60 + 1}, {"uid": 2, "n": 0.5}])


@pytest.mark.parametrize("records, column", [
    ([{"uid": 2}, {"uid": 1, "a__b": 5, "a": {"b": 6}}], "a__b"),
    ([{"uid": 2}, {"uid": 1, "phones": ["1", "2"], "phones__count": 9}], "phones__count"),
    ([{"uid": 2}, {"uid": 1, "phones__count": 9, "phones": ["1", "2"]}], "phones__count"),
])
def test_fields_that_flatten_to_one_column_are_refused(records, column):
    with pytest.raises(DataError) as err:
        flatten_profiles(records, file="p.jsonl")
    assert (err.value.file, err.value.column, err.value.row) == ("p.jsonl", column, 2)
    assert "overwrite" in err.value.reason


@pytest.mark.parametrize("item", [{"amt": "2"}, {"amt": True}])
def test_a_list_field_mixing_numbers_and_text_is_refused(item):
    records = [{"uid": 2, "loans": [{"amt": 5}]}, {"uid": 1, "loans": [{"amt": 1}, item, {"amt": None}]}]
    with pytest.raises(DataError) as err:
        flatten_profiles(records, file="p.jsonl")
    assert (err.value.file, err.value.column, err.value.row) == ("p.jsonl", "loans__amt", 2)
    assert "mix numbers" in err.value.reason and repr(item["amt"]) in err.value.reason
    flat = flatten_profiles([{"uid": 1, "loans": [{"amt": 1}, {"amt": None}, {"amt": 2}]}])
    assert flat["loans__amt__sum"].item() == 3  # missing values are not a mix


def test_gbk_json_lines_are_read_as_csv_tables_are(tmp_path):
    from creditflow.features.flatten import read_profiles

    lines = '{"uid": 1, "城市": "上海", "tags": ["白领", "有车"]}\n{"uid": 2, "城市": "北京", "tags": []}\n'
    (tmp_path / "u8.jsonl").write_text(lines, encoding="utf-8")
    (tmp_path / "gbk.jsonl").write_bytes(lines.encode("gbk"))
    pd.testing.assert_frame_equal(read_profiles(tmp_path / "gbk.jsonl"), read_profiles(tmp_path / "u8.jsonl"))
    (tmp_path / "latin1.jsonl").write_bytes('{"uid": 1, "city": "Zürich Gerät"}\n'.encode("latin-1"))
    with pytest.raises(DataError, match="latin-1"):
        read_profiles(tmp_path / "latin1.jsonl")


def test_a_key_null_in_some_records_and_nested_in_others_adds_no_empty_column():
    flat = flatten_profiles([{"uid": 1, "info": None, "phones": None, "note": None},
                             {"uid": 2, "info": {"a": 1, "b": {"c": 2}}, "phones": ["1", "2"]}])
    assert list(flat.columns) == ["uid", "note", "info__a", "info__b__c", "phones__count", "phones__first",
                                  "phones__joined"]  # a plain key empty everywhere stays
    assert flat["info__a"].isna().tolist() == [True, False] and flat["phones__count"].tolist()[1] == 2


def test_line_separators_inside_json_strings_are_kept(tmp_path):
    path = tmp_path / "p.jsonl"
    path.write_bytes('{"id": 1, "note": "地址\u2028二楼", "b": "a\x85b\u2029c"}\r\n\r\n{"id": 2}\r\n'.encode())
    flat = read_profiles(path)
    assert flat["note"].tolist()[0] == "地址\u2028二楼" and flat["b"].tolist()[0] == "a\x85b\u2029c"
    assert flat["id"].tolist() == [1, 2]
    path.write_bytes(b'{"id": 1}\n{"id": 2, "note": "a\x1cb"}\n')  # a raw control character is not JSON
    with pytest.raises(DataError, match="row 2"):
        read_profiles(path)


def test_infinity_is_refused_with_its_line_and_list_min_max_stay_exact(tmp_path):
    path = tmp_path / "p.jsonl"
    path.write_text('{"id": 1, "loans": [{"acct": 9007199254740993}, {"acct": 1}]}\n\n'
                    '{"id": 2, "lim": -Infinity}\n', encoding="utf-8")
    with pytest.raises(DataError, match="infinite") as err:
        read_profiles(path)
    assert (err.value.column, err.value.row) == ("lim", 3)
    path.write_text('{"id": 1, "loans": [{"acct": 9007199254740993}, {"acct": 1}]}\n', encoding="utf-8")
    flat = read_profiles(path)
    assert flat["loans__acct__max"].item() == 9007199254740993 and flat["loans__acct__min"].item() == 1
    from creditflow.features.prepare import prepare_profiles
    from creditflow.features.spec import BehaviourSpec

    spec = BehaviourSpec.from_dict({"entity": "id", "event_time": "t", "windows": ["30d"],
                                    "features": [{"name": "n", "agg": "count"}]})
    with pytest.raises(DataError, match="infinite"):  # a flat table too
        prepare_profiles(pd.DataFrame({"id": [1, 2], "lim": [1.0, np.inf]}), spec, file="p.csv")


def test_json_lines_ending_in_a_carriage_return_alone_are_read(tmp_path):
    path = tmp_path / "p.jsonl"
    path.write_bytes(b'{"id": 7, "city": "A"}\r{"id": 8, "city": "B"}\r')
    assert read_profiles(path)["id"].tolist() == [7, 8]

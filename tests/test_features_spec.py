"""The behaviour spec (YAML/dict round trip, validation) and the expression language (pandas == SQL)."""

from __future__ import annotations

import json

import duckdb
import numpy as np
import pandas as pd
import pytest

from creditflow.data.errors import DataError
from creditflow.features import BehaviourSpec, Expression, SpecError, TagRules, Window
from tests.conftest import ROOT

EXAMPLE = ROOT / "examples" / "uci_taiwan_features.yaml"
TAGS = ROOT / "examples" / "uci_taiwan_tags.yaml"

BASE = {"entity": "id", "event_time": "t", "windows": ["3m"], "features": [{"agg": "sum", "column": "x"}]}


def spec_with(**changes) -> dict:
    return {**BASE, **changes}


def test_example_spec_loads_and_round_trips_through_json(tmp_path):
    spec = BehaviourSpec.from_yaml(EXAMPLE)
    spec.tags = TagRules.from_yaml(TAGS)
    data = json.loads(json.dumps(spec.to_dict()))
    again = BehaviourSpec.from_dict(data)
    assert again.to_dict() == spec.to_dict() and again == spec  # as docs/features.md says
    assert again.output_names == spec.output_names
    assert len(spec.columns) >= 50
    assert {"bill_m1", "paid_m6", "status_m3", "worst_status_6m", "pay_ratio_3m", "utilisation_m1"} <= set(
        spec.output_names
    )
    spec.to_yaml(tmp_path / "s.yaml")
    assert BehaviourSpec.from_yaml(tmp_path / "s.yaml").to_dict() == spec.to_dict()


def test_default_names_and_windows():
    spec = BehaviourSpec.from_dict(spec_with(
        windows=["3m", "90d", {"length": "1m", "offset": "2m"}],
        features=[{"agg": "sum", "column": "x"}, {"agg": "count"}],
    ))
    assert spec.output_names == [
        "x_sum_3m", "x_sum_90d", "x_sum_2m_3m", "count_3m", "count_90d", "count_2m_3m",
    ]
    w = Window.parse({"length": "1m", "offset": "2m"})
    assert (str(w.start), str(w.offset)) == ("3m", "2m")


@pytest.mark.parametrize("changes, words", [
    ({"features": [{"agg": "summ", "column": "x"}]}, "unknown aggregation 'summ'"),
    ({"features": [{"agg": "sum"}]}, "needs a 'column'"),
    ({"features": [{"agg": "sum", "column": "x", "windows": ["3 weeks"]}]}, "cannot read duration"),
    ({"features": [{"agg": "sum", "column": "x", "name": "a"}, {"agg": "max", "column": "x", "name": "a"}]},
     "used twice"),
    ({"windows": ["3m", "6m"], "features": [{"agg": "sum", "column": "x", "name": "total"}]},
     "must contain {window}"),
    ({"features": [{"agg": "ratio", "name": "r_{window}", "numerator": {"agg": "sum", "column": "x"}}]},
     "needs a 'name', a 'numerator' and a 'denominator'"),
    ({"features": [{"agg": "sum", "column": "x", "filter": "x >"}]}, "cannot parse expression"),
    ({"features": [{"agg": "sum", "column": "x", "filter": "open('f')"}]}, "only the functions"),
    ({"features": [{"agg": "sum", "column": "x", "colum": "y"}]}, "unknown key(s) ['colum']"),
    ({"event_period": "week"}, "'event_period' must be one of"),
    ({"on_duplicate": "ignore"}, "'on_duplicate' must be one of"),
    ({"derived": [{"name": "d", "expr": "a +"}]}, "cannot parse"),
    ({"timezone": "Mars/Olympus"}, "timezone 'Mars/Olympus' is not a known time zone"),
    ({"timezone": 8}, "timezone must be a name such as"),
])
def test_bad_specs_are_refused_with_a_clear_message(changes, words):
    with pytest.raises(SpecError) as err:
        BehaviourSpec.from_dict(spec_with(**changes))
    assert words in err.value.message


def test_spec_errors_from_a_file_name_the_file(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("entity: id\nevent_time: t\nfeatures:\n  - {agg: avg, column: x, windows: [3m]}\n")
    with pytest.raises(SpecError) as err:
        BehaviourSpec.from_yaml(path)
    assert err.value.file == str(path) and "avg" in err.value.message
    path.write_text("entity: [unclosed\n")
    with pytest.raises(SpecError, match="cannot parse YAML"):
        BehaviourSpec.from_yaml(path)


FRAME = pd.DataFrame({
    "x": [1.0, np.nan, 3.0, 0.0, -2.0],
    "y": [0.0, 1.0, np.nan, 2.0, 4.0],
    "s": ["a", "b", None, "a", "c"],
    "flag": [True, False, True, False, True],
})

EXPRESSIONS = [
    "x >= 1",
    "not (x >= 1)",
    "x > 0 or y > 0",
    "x > 0 and not (y > 0)",
    "s == 'a'",
    "s in ['a', 'c']",
    "s not in ['a']",
    "isna(x) or s == 'b'",
    "notna(y) and y / x > 1",
    "coalesce(x, y) >= 1",
    "max(x, y) > 2",
    "min(x, y) < 0",
    "abs(x) == 2",
    "-x < 0",
    "1 < y <= 2",
    "flag and x > 0",
    "`x` + y > 1",
]


@pytest.mark.parametrize("text", EXPRESSIONS)
def test_conditions_agree_between_pandas_and_sql_with_missing_values(text):
    expr = Expression.parse(text)
    con = duckdb.connect()
    con.register("f", FRAME)
    sql = con.sql(f"SELECT COALESCE({expr.to_sql()}, FALSE) AS m FROM f").df()["m"].to_numpy(dtype=bool)
    assert (expr.mask(FRAME) == sql).all(), text


@pytest.mark.parametrize("text", ["x / y", "x * 2 - y", "coalesce(x, 0) + 1", "max(x, y)", "x / 0"])
def test_arithmetic_agrees_between_pandas_and_sql_and_never_gives_infinity(text):
    expr = Expression.parse(text)
    con = duckdb.connect()
    con.register("f", FRAME)
    sql = con.sql(f"SELECT {expr.to_sql()} AS v FROM f").df()["v"].to_numpy(dtype=float)
    ours = expr.evaluate(FRAME).to_numpy(dtype=float)
    np.testing.assert_allclose(ours, sql, equal_nan=True)
    assert not np.isinf(ours).any()


def test_expression_columns_and_errors():
    assert Expression.parse("`bill amount` > 0 and y < x").columns == ["bill amount", "y", "x"]
    with pytest.raises(DataError, match="not in the data"):
        Expression.parse("zz > 1").evaluate(FRAME)
    with pytest.raises(DataError, match="Attribute"):
        Expression.parse("x.__class__")
    with pytest.raises(DataError, match="cannot compare text with numbers"):
        Expression.parse("x == 'a'").mask(FRAME)
    with pytest.raises(DataError, match="not a condition"):
        Expression.parse("x + 1").mask(FRAME)


@pytest.mark.parametrize("filt, words", [
    ("x + 1", "is not a condition: it gives numbers"),
    ("abs(x)", "is not a condition"),
    ("'a'", "is not a condition: it gives text"),
    ("x > 1 and y * 2", "'and', 'or' and 'not' need conditions"),
    ("x in ['a', 1]", "a list mixes text and numbers"),
])
def test_a_filter_that_is_not_a_condition_is_refused_in_the_spec(filt, words):
    with pytest.raises(SpecError) as err:
        BehaviourSpec.from_dict(spec_with(features=[{"agg": "count", "filter": filt}]))
    assert words in err.value.message
    num = {"agg": "count", "filter": filt}
    with pytest.raises(SpecError, match="numerator"):
        BehaviourSpec.from_dict(spec_with(features=[
            {"agg": "ratio", "name": "r", "numerator": num, "denominator": {"agg": "count"}}]))


def test_the_kind_check_names_the_column_and_finds_empty_columns_compared_with_text():
    kinds = {"dpd": "numbers", "kind": "text", "note": "empty", "flag": "true/false"}
    assert Expression.parse("flag and note == 'x'").check(kinds, condition=True) == {"note"}
    assert Expression.parse("dpd >= 1 and kind in ['a', 'b']").check(kinds, condition=True) == set()
    for text, column in [("dpd", "dpd"), ("dpd == 'x'", "dpd"), ("1 < kind", "kind"), ("dpd in ['a']", "dpd"),
                         ("kind + 1 > 2", "kind"), ("flag or dpd", "dpd")]:
        with pytest.raises(DataError) as err:
            Expression.parse(text).check(kinds, condition=True)
        assert err.value.column == column, text


def test_docs_mention_every_spec_key():
    docs = (ROOT / "docs" / "features.md").read_text(encoding="utf-8")
    spec = BehaviourSpec.from_dict(BASE)
    spec.tags = TagRules.from_dict({"t": [{"value": 1}]})
    for key in [*spec.to_dict(), "windows"]:
        assert f"{key}:" in docs, key


def test_arithmetic_on_a_text_column_names_the_column_and_a_value():
    # before: "arithmetic needs numeric columns, got str", naming neither the column nor what it holds
    frame = pd.DataFrame({"spend": [10.0, 20.0], "income": ["1000", "2000"]})
    with pytest.raises(DataError, match="column 'income' holds str, e.g. '1000': numbers written as text"):
        Expression.parse("spend / income").evaluate(frame)

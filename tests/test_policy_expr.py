"""The policy condition language: what it accepts, what it refuses, and that one row and a whole table
give the same answers on real data (missing values included)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from creditflow.policy.expr import Condition, ConditionError
from tests.conftest import UCI

ROW = {"AGE": 30.0, "PAY_0": 2.0, "LIMIT_BAL": 50000.0, "EDUCATION": 5.0, "CITY": "上海", "NOTE": None,
       "bill.total": 1200.0}


@pytest.mark.parametrize(("text", "expected"), [
    ("AGE < 18", False),
    ("AGE >= 30", True),
    ("AGE = 30", True),
    ("AGE <> 30", False),
    ("PAY_0 >= 2 and LIMIT_BAL <= 50000", True),
    ("PAY_0 >= 3 or LIMIT_BAL < 60000", True),
    ("not PAY_0 >= 3", True),
    ("not (PAY_0 >= 1 and AGE > 25)", False),
    ("PAY_0 >= 3 or AGE > 25 and LIMIT_BAL > 100000", False),   # and binds tighter than or
    ("(PAY_0 >= 3 or AGE > 25) and LIMIT_BAL > 100000", False),
    ("(PAY_0 >= 3 or AGE > 25) and LIMIT_BAL > 10000", True),
    ("EDUCATION in (0, 5, 6)", True),
    ("EDUCATION not in [0, 5, 6]", False),
    ('EDUCATION in ("5")', True),                      # a text literal matches the category 5 / 5.0 / "5"
    ('CITY == "上海"', True),
    ('EDUCATION == "5.0"', True),                      # == reads a text literal as `in` does
    ('CITY == " 上海 "', True),                         # spaces around a value do not count
    ('CITY != " 上海"', False),
    ('CITY in ("北京", "深圳")', False),
    ("NOTE is missing", True),
    ("NOTE is not missing", False),
    ("ABSENT is missing", True),
    ("ABSENT < 18", False),                            # comparisons with a missing value are false ...
    ("ABSENT >= 18", False),
    ("not ABSENT < 18", True),                         # ... so their negation is true
    ("ABSENT in (1, 2)", False),
    ("ABSENT not in (1, 2)", False),
    ("`bill.total` > 1000", True),
    ("AGE < LIMIT_BAL", True),
    ("18 > AGE", False),
    ("AGE > -1", True),
    ("AGE >= 3e1", True),
    ("true", True),
    ("false or AGE IS MISSING", False),
    ("AGE < 18 AND PAY_0 >= 1", False),
])
def test_conditions_on_one_applicant(text, expected):
    assert Condition.parse(text).evaluate(ROW) is expected


@pytest.mark.parametrize("text", [
    "__import__('os').system('true')",
    "AGE.__class__",
    "lambda: 1",
    "AGE + 1 > 3",
    "AGE ** 2 > 3",
    "AGE < 18; PAY_0 > 1",
    "AGE < 18 and",
    "AGE <",
    "(AGE < 18",
    "AGE in 1",
    "AGE in (1, AGE)",
    "AGE is empty",
    "1 < 2",
    "AGE",
    "",
    "   ",
    "AGE < 'a",
    "open('x') == 1",
    "not " * 60 + "AGE < 1",
    'CITY != ""',                                      # blank is missing: `CITY is not missing` says it
    "CITY == ' '",
    'CITY in ("上海", "")',
])
def test_unsafe_or_malformed_conditions_are_refused(text):
    with pytest.raises(ConditionError):
        Condition.parse(text)


def test_non_text_condition_is_refused():
    for value in (None, 18, True, ["AGE < 18"]):
        with pytest.raises(ConditionError):
            Condition.parse(value)


def test_an_unquoted_yaml_boolean_condition_says_to_quote_it(tmp_path):
    from creditflow.policy import PolicyError, load_policy

    pol = tmp_path / "p.yaml"
    pol.write_text("version: v\ncutoffs: {approve: 500}\nrules:\n- {code: ALL, when: true, action: review}\n",
                   encoding="utf-8")
    with pytest.raises(PolicyError) as err:
        load_policy(pol)
    assert "YAML boolean true: quote it (when: \"true\")" in err.value.message
    assert Condition.parse("true").evaluate({})  # quoted, it is the language's true


def test_fields_lists_what_the_condition_reads():
    c = Condition.parse("PAY_0 >= 3 or (AGE < 18 and `bill.total` is missing) or PAY_0 in (9)")
    assert c.fields == ["PAY_0", "AGE", "bill.total"]
    uses = c.uses()
    assert uses["PAY_0"] >= {"number", "order"} and uses["bill.total"] == {"any"}


@pytest.fixture(scope="module")
def uci_with_gaps() -> pd.DataFrame:
    """2,000 real UCI rows with holes punched in and a text column, to exercise missing and categories."""
    frame = pd.read_csv(UCI, nrows=2000)
    rng = np.random.default_rng(7)
    frame.loc[rng.random(len(frame)) < 0.1, "AGE"] = np.nan
    frame.loc[rng.random(len(frame)) < 0.1, "LIMIT_BAL"] = np.nan
    frame["EDU_TEXT"] = frame["EDUCATION"].map({1: "graduate", 2: "university", 3: "high school"})
    return frame


@pytest.mark.parametrize("text", [
    "AGE < 25",
    "not AGE < 25",
    "AGE is missing or LIMIT_BAL < 30000",
    "PAY_0 >= 2 and PAY_2 >= 1 and not (LIMIT_BAL > 200000)",
    "EDUCATION in (0, 5, 6)",
    "EDUCATION not in (1, 2)",
    'EDU_TEXT == "university"',
    'EDU_TEXT != "university"',
    'EDU_TEXT == "university "',
    'EDUCATION == "2.0"',
    'EDU_TEXT in ("graduate", "high school") or EDU_TEXT is missing',
    "BILL_AMT1 > LIMIT_BAL",
    "AGE != 30",
])
def test_one_row_and_whole_table_agree(uci_with_gaps, text):
    c = Condition.parse(text)
    vectorised = c.evaluate_frame(uci_with_gaps)
    rows = uci_with_gaps.to_dict(orient="records")
    one_by_one = np.array([c.evaluate(r) for r in rows])
    assert vectorised.dtype == bool and len(vectorised) == len(rows)
    np.testing.assert_array_equal(vectorised, one_by_one)
    assert 0 < vectorised.sum() < len(rows), "the condition should split the sample, or the test proves little"


@pytest.mark.parametrize(("text", "never"), [
    ("AGE > 200", True), ("AGE >= 120", False), ("AGE > 120", True), ("AGE < 0", True), ("AGE <= 0", False),
    ("AGE == 121", True), ("AGE == 120", False), ("AGE != 500", False), ("200 < AGE", True),
    ("PAY_0 > 3 and PAY_0 < 2", True), ("PAY_0 > 3 and PAY_0 < 4", False), ("PAY_0 >= 3 and PAY_0 <= 3", False),
    ("PAY_0 > 3 and PAY_0 <= 3", True), ("AGE > 200 or PAY_0 > 3", False), ("AGE > 200 or PAY_0 > 30", True),
    ("not AGE > 200", False), ("AGE > 200 and CITY is missing", True), ("X > 5 and X < 1", True), ("X > 5", False),
    ("false", True), ("true", False), ("AGE > 50 and (AGE < 40 or PAY_0 > 100)", True),
    ("AGE in (200, 300)", False), ("AGE > PAY_0", False), ('CITY == "x" and CITY != "x"', False),
])
def test_never_holds_only_what_it_can_prove(text, never):
    from creditflow.policy.expr import never_holds

    accepted = {"AGE": (0.0, False, 120.0, False), "PAY_0": (-12.0, False, 18.0, False)}
    assert never_holds(Condition.parse(text).tree, accepted) is never


def test_frame_keys_of_a_text_column_are_the_one_value_keys():
    # text columns are keyed once per distinct text (`category_keys`' fast path): the same keys as one value at a time
    from creditflow.binning.variable import category_key, category_keys

    values = [" a", "a", "1.0", "1", "-0.0", "True", "true", "", "  ", None, np.nan, pd.NA, "007", "1.50", "False "]
    for series in (pd.Series(values, dtype=object), pd.Series(values[::-1] * 3, dtype=object),
                   pd.Series(["a", None, " b"], dtype="string"), pd.Series([1, "1", True, None], dtype=object)):
        assert list(category_keys(series)) == [category_key(v) for v in series.tolist()]


def test_rules_fired_codes_per_row_are_joined_in_policy_order():
    from creditflow.policy import policy_from_dict
    from creditflow.policy.simulate import fired_codes

    rules = [{"code": f"R{j}", "when": "AGE < 18", "action": "review"} for j in range(11)]  # over one byte of bits
    pol = policy_from_dict({"version": "v", "cutoffs": {"approve": 500}, "rules": rules})
    fired = np.random.default_rng(3).random((2000, 11)) < 0.3
    expected = [";".join(f"R{j}" for j in range(11) if row[j]) for row in fired]
    assert list(fired_codes(pol, fired)) == expected
    assert list(fired_codes(pol, fired[:0])) == [] and list(fired_codes(pol, np.zeros((3, 0), bool))) == ["", "", ""]

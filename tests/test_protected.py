"""Variables that look like protected characteristics, by name or dictionary meaning."""

from __future__ import annotations

import pytest

from creditflow.data.dictionary import FieldDictionary
from creditflow.data.protected import protected_characteristic, protected_variables


@pytest.mark.parametrize(("name", "meaning", "expected"), [
    ("SEX", "", "sex"), ("personal_status_and_sex", "", "sex"), ("applicantGender", "", "sex"),
    ("x_001", "性别", "sex"), ("MARRIAGE", "", "marital status"), ("isMarried", "", "marital status"),
    ("x_9", "婚姻状况", "marital status"), ("eth", "ethnic group", "race or ethnicity"),
    ("x_3", "民族", "race or ethnicity"), ("nationality_code", "", "national origin"),
    ("foreign_worker", "", "national origin"), ("ForeignWorker", "", "national origin"),
    ("x_7", "外籍人士", "national origin"), ("is_citizen", "", "national origin"),
    ("foreign_currency_amt", "", None), ("pay_foreign", "", None), ("SeniorCitizen", "", None),
    ("citizen_services_score", "", None),
    # not protected: age, look-alike words, ordinary credit variables
    ("AGE", "age in years", None), ("essex_branch", "", None), ("sexual_x", "", None),
    ("PAY_0", "repayment status in September", None), ("EDUCATION", "", None), ("x_125", "近6个月逾期次数", None),
])
def test_protected_characteristic(name, meaning, expected):
    assert protected_characteristic(name, meaning) == expected


def test_protected_variables_read_the_dictionary():
    d = FieldDictionary(meanings={"x_001": "性别", "x_002": "年龄"})
    assert protected_variables(["x_001", "x_002", "SEX"], d) == {"x_001": "sex", "SEX": "sex"}


def test_the_fairness_finding_lists_declared_protected_model_variables():
    from creditflow.report.findings import findings

    disc = {"test": {"auc_low": 0.7, "auc": 0.75, "ks": 0.4, "gini": 0.5}}

    def fairness(**kw):
        rows, _ = findings(disc, {}, {}, "test", **kw)
        return next(r for r in rows if r["area"] == "fairness")

    assert (fairness(protected={})["value"], fairness(protected={})["result"]) == ("none", "ok")
    row = fairness(protected={"x_001": "sex"}, declared=["x_002", "x_001"])
    assert row["value"] == ("x_001 (sex; declared protected: kept out of reasons, still scores), "
                            "x_002 (declared protected: kept out of reasons, still scores)")
    assert row["result"] == "warn"


def test_python_training_warns_of_protected_variables_as_the_cli_does():
    # before, only `creditflow train` printed the warning; `workflow.train` in a notebook kept
    # personal_status_and_sex and foreign_worker in the card without a word
    import warnings

    from creditflow import ProtectedVariableWarning, read_table
    from creditflow.workflow import train
    from tests.conftest import GERMAN

    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        result = train(read_table(GERMAN, "creditability", bad="bad"))
    texts = [str(w.message) for w in seen if issubclass(w.category, ProtectedVariableWarning)]
    flagged = protected_variables(result.model.features_)
    assert flagged and len(texts) == len(flagged)
    for var, what in flagged.items():
        assert any(t.startswith(f"model variable {var} looks like a protected characteristic ({what})") for t in texts)
    assert all(w.filename == __file__ for w in seen if issubclass(w.category, ProtectedVariableWarning))

"""Policy files, decisions, and `creditflow policy simulate` on real UCI data with a real scorecard."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from creditflow.bundle import load_bundle
from creditflow.policy import PolicyError, load_policy, policy_from_dict, simulate
from tests.conftest import UCI, UCI_TARGET
from tests.service_support import EXAMPLE_POLICY, service_bundle  # noqa: F401

BASE = {"version": "t1", "cutoffs": {"approve": 530, "review": 500}}


def policy(**extra):
    return policy_from_dict({**BASE, **extra})


def test_example_policy_loads():
    pol = load_policy(EXAMPLE_POLICY)
    assert pol.version == "uci-demo-2024.06"
    assert pol.cutoffs.review < pol.cutoffs.approve
    assert [r.code for r in pol.rules] == ["HR01", "HR02", "HR03", "HR04", "HR05"]
    assert {"AGE", "PAY_0", "LIMIT_BAL", "EDUCATION"} <= set(pol.rule_fields)


@pytest.mark.parametrize(("doc", "message"), [
    ([1, 2], "must be a mapping"),
    ({"cutoffs": {"approve": 500}}, "'version' must be non-empty text"),
    ({"version": 1.1, "cutoffs": {"approve": 500}}, "'version' must be non-empty text"),
    ({"version": "v", "cutoffs": {"approve": 500}, "rule": []}, "unknown key(s) ['rule']"),
    ({"version": "v"}, "'cutoffs' needs 'approve'"),
    ({"version": "v", "cutoffs": {"approve": 500, "review": 600}}, "must not be above cutoffs.approve"),
    ({"version": "v", "cutoffs": {"approve": "high"}}, "cutoffs.approve must be a number"),
    ({"version": "v", "cutoffs": {"approve": 500.5}}, "whole score"),
    ({**BASE, "rules": [{"code": "R1", "when": "AGE < 18", "action": "deny"}]}, "action must be one of"),
    ({**BASE, "rules": [{"code": "R1", "when": "AGE < ", "action": "reject"}]}, "rule 'R1' (rules[0])"),
    ({**BASE, "rules": [{"when": "AGE < 18", "action": "reject"}]}, "needs a 'code'"),
    ({**BASE, "rules": [{"code": "R1", "when": "AGE < 18", "action": "reject"},
                        {"code": "R1", "when": "AGE > 99", "action": "review"}]}, "repeated: ['R1']"),
    ({**BASE, "rules": [{"code": "R1", "when": "__import__('os')", "action": "reject"}]}, "rule 'R1'"),
    ({**BASE, "fields": {"AGE": {"type": "date"}}}, "must be number or string"),
    ({**BASE, "fields": {"AGE": {"min": 10, "max": 1}}}, "min is above max"),
    # a description that YAML read as a list or a mapping was written into the decisions as "[1, 2]"
    ({**BASE, "description": ["under 18", "over 70"]}, "'description' must be text, not ['under 18', 'over 70']"),
    ({**BASE, "rules": [{"code": "R1", "when": "AGE < 18", "action": "reject", "description": {"a": 1}}]},
     "rule 'R1' (rules[0]): 'description' must be text"),
])
def test_bad_policies_are_refused_with_a_reason(doc, message):
    with pytest.raises(PolicyError) as err:
        policy_from_dict(doc, source="p.yaml")
    assert message in err.value.message and "p.yaml" in err.value.message


def test_policy_file_errors(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: [unclosed\n", encoding="utf-8")
    with pytest.raises(PolicyError, match="not valid YAML"):
        load_policy(bad)
    with pytest.raises(PolicyError, match="no such policy file"):
        load_policy(tmp_path / "absent.yaml")
    tag = tmp_path / "tag.yaml"
    tag.write_text("version: !!python/object/apply:os.system ['true']\ncutoffs: {approve: 1}\n", encoding="utf-8")
    with pytest.raises(PolicyError, match="not valid YAML"):  # the safe loader refuses Python tags
        load_policy(tag)


def test_rules_are_checked_against_the_model_inputs():
    schema = {"AGE": "number", "CITY": "string"}
    policy(rules=[{"code": "R1", "when": "AGE < 18", "action": "reject"}]).check_against(schema)
    with pytest.raises(PolicyError, match="neither a model input nor declared"):
        policy(rules=[{"code": "R1", "when": "INCOME < 1", "action": "reject"}]).check_against(schema)
    declared = policy(rules=[{"code": "R1", "when": "INCOME < 1", "action": "reject"}],
                      fields={"INCOME": {"type": "number"}})
    declared.check_against(schema)
    with pytest.raises(PolicyError, match="compares number field 'AGE' with text"):
        policy(rules=[{"code": "R1", "when": 'AGE == "x"', "action": "reject"}]).check_against(schema)
    with pytest.raises(PolicyError, match="compares text field 'CITY'"):
        policy(rules=[{"code": "R1", "when": "CITY > 3", "action": "reject"}]).check_against(schema)
    with pytest.raises(PolicyError, match="outside the model's score scale"):
        policy_from_dict({"version": "v", "cutoffs": {"approve": 2000}}).check_against(schema, (350, 950))


def test_decision_is_the_most_severe_of_rules_and_cutoffs():
    pol = policy(rules=[{"code": "YOUNG", "when": "AGE < 18", "action": "reject"},
                        {"code": "LATE", "when": "PAY_0 >= 1", "action": "review"}])
    assert pol.decide({"AGE": 30, "PAY_0": 0}, 600).decision == "approve"
    assert pol.decide({"AGE": 30, "PAY_0": 0}, 515).decision == "review"
    assert pol.decide({"AGE": 30, "PAY_0": 0}, 499).decision == "reject"
    late = pol.decide({"AGE": 30, "PAY_0": 2}, 600)
    assert late.decision == "review" and late.score_decision == "approve" and [r.code for r in late.fired] == ["LATE"]
    assert pol.decide({"AGE": 30, "PAY_0": 2}, 400).decision == "reject"  # a review rule never softens a reject
    both = pol.decide({"AGE": 16, "PAY_0": 2}, 900)
    assert both.decision == "reject" and [r.code for r in both.fired] == ["YOUNG", "LATE"]


@pytest.fixture(scope="module")
def population() -> pd.DataFrame:
    """UCI rows the test model never saw."""
    return pd.read_csv(UCI).iloc[10_000:14_000].reset_index(drop=True)


def test_simulate_matches_one_applicant_at_a_time(service_bundle, population):  # noqa: F811
    bundle = load_bundle(service_bundle)
    model = bundle.model
    pol = load_policy(EXAMPLE_POLICY)
    y = population[UCI_TARGET].to_numpy()
    sim = simulate(pol, model, population, y, model_version=bundle.model_version)
    rows = population.to_dict(orient="records")
    decisions, probs, fired = [], [], {r.code: 0 for r in pol.rules}
    for row in rows:
        scored = model.score_row(row)
        out = pol.decide(row, scored["score"])
        decisions.append(out.decision)
        probs.append(scored["probability"])
        for r in out.fired:
            fired[r.code] += 1
    decisions, probs = np.array(decisions), np.array(probs)
    approved = decisions == "approve"
    assert sim.rows == len(rows)
    assert sim.counts == {d: int((decisions == d).sum()) for d in ("approve", "review", "reject")}
    assert sim.approval_rate == pytest.approx(approved.mean())
    assert sim.expected_bad_rate["approve"] == pytest.approx(probs[approved].mean())
    assert sim.realised_bad_rate["approve"] == pytest.approx(y[approved].mean())
    assert {r["code"]: r["fired"] for r in sim.rules} == fired
    # the policy should separate risk: the approved are safer than the rejected, predicted and realised
    assert sim.realised_bad_rate["approve"] < sim.realised_bad_rate["reject"]
    assert sim.expected_bad_rate["approve"] < sim.expected_bad_rate["reject"]
    assert 0 < sim.counts["approve"] < sim.rows


def _cli(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "creditflow", *map(str, args)], capture_output=True, text=True,
                          timeout=300)


def test_cli_simulate_prints_rates_and_writes_json(service_bundle, population, tmp_path):  # noqa: F811
    data = tmp_path / "pop.csv"
    population.to_csv(data, index=False)
    r = _cli("policy", "simulate", EXAMPLE_POLICY, service_bundle, data, "--target", UCI_TARGET,
             "--json", tmp_path / "sim.json")
    assert r.returncode == 0, r.stderr
    doc = json.loads((tmp_path / "sim.json").read_text())
    approve = doc["decisions"]["approve"]
    assert f"{100 * doc['approval_rate']:.2f}%" in r.stdout
    assert f"{100 * approve['realised_bad_rate']:.2f}%" in r.stdout
    assert "HR02" in r.stdout and "rules fired" in r.stdout
    assert sum(d["count"] for d in doc["decisions"].values()) == len(population)


def test_cli_simulate_counts_rows_the_service_would_refuse(service_bundle, population, tmp_path):  # noqa: F811
    data = tmp_path / "pop.csv"
    odd = population.copy()
    odd.loc[3, "AGE"] = 150  # the example policy accepts AGE up to 120
    odd.loc[[5, 6], "PAY_0"] = None  # never missing in training: the service refuses null
    odd.to_csv(data, index=False)
    r = _cli("policy", "simulate", EXAMPLE_POLICY, service_bundle, data)
    text = " ".join(r.stderr.split())
    assert r.returncode == 0, r.stderr
    assert "rows the service would refuse with 422" in text
    assert "AGE: 1 row(s), first row 4" in text and "PAY_0: 2 row(s), first row 6" in text
    clean = tmp_path / "clean.csv"
    population.to_csv(clean, index=False)
    assert "would refuse" not in _cli("policy", "simulate", EXAMPLE_POLICY, service_bundle, clean).stderr


def test_cli_simulate_bad_input_exits_2_with_one_line(service_bundle, population, tmp_path):  # noqa: F811
    from typer.testing import CliRunner

    from creditflow.cli import _load_commands, app

    _load_commands()
    runner = CliRunner()

    def run(*args) -> tuple[int, str]:
        result = runner.invoke(app, [str(a) for a in args])
        return result.exit_code, result.output

    data = tmp_path / "pop.csv"
    population.drop(columns=["PAY_0"]).to_csv(data, index=False)
    code, out = run("policy", "simulate", EXAMPLE_POLICY, service_bundle, data)
    text = " ".join(out.split())
    assert code == 2 and "missing: ['PAY_0']" in text and str(data) in text and "Traceback" not in out
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: v\ncutoffs: {approve: 500}\nrules:\n- {code: X, when: 'SALARY > 1', action: reject}\n")
    population.to_csv(data, index=False)
    code, out = run("policy", "simulate", bad, service_bundle, data)
    assert code == 2 and "SALARY" in out and "Traceback" not in out
    code, out = run("policy", "simulate", EXAMPLE_POLICY, service_bundle, data, "--target", "nope")
    assert code == 2 and "nope" in out
    code, out = run("policy", "check", EXAMPLE_POLICY, service_bundle)
    assert code == 0 and "uci-demo-2024.06" in out


def test_a_rule_on_a_category_never_seen_in_training_is_flagged(tmp_path):
    import subprocess
    import sys

    from tests.conftest import GERMAN

    out = tmp_path / "g"
    train = [sys.executable, "-m", "creditflow", "train", str(GERMAN), "--target", "creditability", "--no-report",
             "--out", str(out)]
    assert subprocess.run(train, capture_output=True, text=True).returncode == 0
    pol = tmp_path / "p.yaml"
    pol.write_text('version: "g1"\ncutoffs: {approve: 600, review: 560}\nrules:\n'
                   '  - {code: G1, when: \'purpose == "car (nwe)"\', action: review}\n'
                   '  - {code: G2, when: \'housing in ("rent", "for free")\', action: review}\n', encoding="utf-8")
    r = subprocess.run([sys.executable, "-m", "creditflow", "policy", "check", str(pol), str(out / "model")],
                       capture_output=True, text=True)
    text = " ".join(r.stderr.split())
    assert r.returncode == 0, r.stderr
    assert "rule 'G1' (rules[0]) compares 'purpose' with 'car (nwe)', never seen in training" in text
    assert "'car (new)'" in text and "G2" not in text
    # a table whose `purpose` is recoded (upper-cased): simulate warns in one `warning:` line, as the CLI's own
    # warnings read, not as Python's `path:line: UnseenCategoryWarning` with a source line
    recoded = tmp_path / "recoded.csv"
    frame = pd.read_csv(GERMAN)
    frame.assign(purpose=frame["purpose"].str.upper()).to_csv(recoded, index=False)
    r = _cli("policy", "simulate", pol, out / "model", recoded)
    assert r.returncode == 0, r.stderr
    assert "warning: column 'purpose': every one of its 1,000 values is a category unseen" in " ".join(r.stderr.split())
    assert "UnseenCategoryWarning" not in r.stderr and ".py:" not in r.stderr


def test_simulate_decides_rows_without_an_optional_policy_field(service_bundle, population, tmp_path):  # noqa: F811
    pol = tmp_path / "p.yaml"
    pol.write_text("version: v2\ncutoffs: {approve: 560, review: 500}\n"
                   "fields:\n  blacklist: {type: number, required: false, nullable: true}\n"
                   "rules:\n- {code: BL, when: 'blacklist == 1', action: reject}\n"
                   "- {code: NB, when: 'blacklist is missing', action: review}\n", encoding="utf-8")
    data = tmp_path / "pop.csv"
    population.to_csv(data, index=False)
    r = _cli("policy", "simulate", pol, service_bundle, data, "--json", tmp_path / "sim.json")
    assert r.returncode == 0, r.stderr
    assert "no column 'blacklist', an optional policy field" in " ".join(r.stderr.split())
    rules = {x["code"]: x["fired"] for x in json.loads((tmp_path / "sim.json").read_text())["rules"]}
    assert rules == {"BL": 0, "NB": len(population)}  # every row is a request without the field


def test_simulate_reads_a_policy_text_field_of_digit_codes_as_written(service_bundle, population, tmp_path):  # noqa: F811
    # branch is only the policy's, declared text: "007" must stay "007" (as a request sends it), not become 7
    pol = tmp_path / "p.yaml"
    pol.write_text("version: v3\ncutoffs: {approve: 560, review: 500}\nfields:\n  branch: {type: string}\n"
                   "rules:\n- {code: B7, when: 'branch == \"007\"', action: reject}\n"
                   "- {code: B12, when: 'branch in (\"12\")', action: review}\n", encoding="utf-8")
    data = tmp_path / "pop.csv"
    codes = np.array(["007", "010", "12"])[np.arange(len(population)) % 3]
    population.assign(branch=codes).to_csv(data, index=False)
    r = _cli("policy", "simulate", pol, service_bundle, data, "--json", tmp_path / "sim.json")
    assert r.returncode == 0, r.stderr
    rules = {x["code"]: x["fired"] for x in json.loads((tmp_path / "sim.json").read_text())["rules"]}
    assert rules == {"B7": int((codes == "007").sum()), "B12": int((codes == "12").sum())}


def test_a_rule_on_the_model_score_says_to_use_cutoffs_not_to_declare_it():
    for name in ("score", "grade", "probability"):
        with pytest.raises(PolicyError) as err:
            policy(rules=[{"code": "S1", "when": f"{name} is missing", "action": "reject"}]).check_against({"AGE": "number"})
        text = err.value.message + str(err.value.hint)
        assert "rules see the applicant's inputs only" in text and "cutoffs:" in text and "declare" not in text
    with pytest.raises(PolicyError, match="declare it"):  # other unknown fields keep their hint
        policy(rules=[{"code": "R1", "when": "INCOME < 1", "action": "reject"}]).check_against({"AGE": "number"})


def test_check_warns_of_declarations_that_do_not_do_what_they_seem(service_bundle, tmp_path):  # noqa: F811
    pol = tmp_path / "p.yaml"
    pol.write_text("version: v4\ncutoffs: {approve: 560, review: 500}\n"
                   "fields:\n  AGE: {type: number, required: false}\n  score: {type: number}\n"
                   "  LIMIT_BAL: {type: number, nullable: true}\n"
                   "  channel: {type: string}\n  blacklisted: {type: number, required: false}\n"
                   "  income: {type: number}\n"
                   "rules:\n- {code: S1, when: 'score < 500', action: reject}\n"
                   "- {code: I1, when: 'income < 1000', action: review}\n", encoding="utf-8")
    r = _cli("policy", "check", pol, service_bundle)
    text = " ".join(r.stderr.split())
    assert r.returncode == 0, r.stderr
    assert "fields.AGE: required: false has no effect: 'AGE' is a model input" in text
    assert "fields.score declares an applicant input named like the response's 'score'" in text
    assert "LIMIT_BAL" not in text  # nullable on a model input does apply
    # a required field no rule reads: the service refused every request without it, and nothing said so
    assert "fields.channel is read by no rule and is not a model input, yet the service requires it" in text
    assert "blacklisted" not in text and "fields.income" not in text  # optional, or read by a rule


def test_cli_simulate_writes_each_applicants_decision_in_input_order(service_bundle, population, tmp_path):  # noqa: F811
    data = tmp_path / "pop.csv"
    shuffled = population.sample(frac=1.0, random_state=3).reset_index(drop=True)
    shuffled.to_csv(data, index=False)
    out = tmp_path / "decisions.csv"
    r = _cli("policy", "simulate", EXAMPLE_POLICY, service_bundle, data, "--out", out, "--json", tmp_path / "s.json")
    assert r.returncode == 0, r.stderr
    got = pd.read_csv(out, keep_default_na=False)
    assert list(got.columns) == ["ID", "probability", "score", "grade", "decision", "score_decision", "rules_fired"]
    assert got["ID"].tolist() == shuffled["ID"].tolist()
    doc = json.loads((tmp_path / "s.json").read_text())
    assert got["decision"].value_counts().to_dict() == {d: v["count"] for d, v in doc["decisions"].items() if v["count"]}
    # each row as the one-applicant path decides it
    bundle, pol = load_bundle(service_bundle), load_policy(EXAMPLE_POLICY)
    for i in (0, 1, 2, int((got["rules_fired"] != "").to_numpy().argmax())):
        row = shuffled.iloc[i].to_dict()
        scored = bundle.model.score_row(row)
        outcome = pol.decide(row, scored["score"])
        assert (got.loc[i, "score"], got.loc[i, "decision"]) == (scored["score"], outcome.decision)
        assert got.loc[i, "score_decision"] == outcome.score_decision  # as the service answers it
        assert got.loc[i, "rules_fired"] == ";".join(x.code for x in outcome.fired)
    # the cutoffs alone, applied to the score: a decline by score alone is told from one by a rule
    pol_cut = load_policy(EXAMPLE_POLICY).cutoffs
    assert got["score_decision"].tolist() == [pol_cut.decide(x) for x in got["score"]]
    r = _cli("policy", "simulate", EXAMPLE_POLICY, service_bundle, data, "--out", data)
    assert r.returncode == 2 and "would be overwritten" in r.stderr + r.stdout
    assert pd.read_csv(data).shape == shuffled.shape  # the input is untouched
    r = _cli("policy", "simulate", EXAMPLE_POLICY, service_bundle, data, "--json", data)
    assert r.returncode == 2 and "--json is the table being simulated: it would be overwritten" in r.stderr
    assert pd.read_csv(data).shape == shuffled.shape


def test_cli_simulate_sheet_reads_a_workbook_whose_data_is_not_first(service_bundle, population, tmp_path):  # noqa: F811
    book = tmp_path / "pop.xlsx"
    with pd.ExcelWriter(book) as w:
        pd.DataFrame({"note": ["applicants"]}).to_excel(w, sheet_name="README", index=False)
        population.head(500).to_excel(w, sheet_name="data", index=False)
    r = _cli("policy", "simulate", EXAMPLE_POLICY, service_bundle, book, "--target", UCI_TARGET)
    text = " ".join(r.stderr.split())
    assert r.returncode == 2 and "read sheet 'README'" in text and "choose the sheet with --sheet NAME" in text, text
    r = _cli("policy", "simulate", EXAMPLE_POLICY, service_bundle, book, "--target", UCI_TARGET, "--sheet", "data",
             "--json", tmp_path / "sim.json")
    assert r.returncode == 0, r.stderr
    assert sum(d["count"] for d in json.loads((tmp_path / "sim.json").read_text())["decisions"].values()) == 500


@pytest.mark.parametrize(("text", "message"), [
    # YAML keeps the last of two equal keys: approving at 600 where the file reads 575 first, the rules of
    # the second `rules:`, or the second declaration of a field, without a word
    ("version: v\ncutoffs: {approve: 575, review: 550, approve: 600}\n",
     "line 2: the key 'approve' is written twice in one mapping (first on line 2)"),
    ("version: v\ncutoffs:\n  approve: 575\n  review: 550\ncutoffs:\n  approve: 600\n",
     "line 5: the key 'cutoffs' is written twice in one mapping (first on line 2)"),
    ("version: v\ncutoffs: {approve: 575}\nfields:\n  AGE: {type: number, max: 120}\n  AGE: {type: number}\n",
     "line 5: the key 'AGE' is written twice"),
    # .inf is a YAML float: it was an OverflowError (exit 1, "internal error") instead of a refusal
    ("version: v\ncutoffs: {approve: .inf, review: 550}\n", "cutoffs.approve must be a number, not inf"),
    ("version: v\ncutoffs: {approve: 575, review: -.inf}\n", "cutoffs.review must be a number, not -inf"),
])
def test_cli_refuses_a_policy_file_with_a_repeated_key_or_an_infinite_cutoff(service_bundle, population, tmp_path,  # noqa: F811
                                                                              text, message):
    pol = tmp_path / "policy.yaml"
    pol.write_text(text, encoding="utf-8")
    data = tmp_path / "pop.csv"
    population.head(200).to_csv(data, index=False)
    for args in (("policy", "simulate", pol, service_bundle, data), ("policy", "check", pol, service_bundle)):
        r = _cli(*args)
        err = " ".join(r.stderr.split())
        assert r.returncode == 2, (args, r.returncode, r.stdout, r.stderr)
        assert message in err and str(pol) in err and "Traceback" not in r.stderr and "internal error" not in err
        assert "approval rate" not in r.stdout


def test_a_condition_split_by_its_commas_in_a_flow_mapping_says_to_quote_it(service_bundle, tmp_path):  # noqa: F811
    # `{code: X, when: EDUCATION in (0, 5, 6), action: review}`: YAML ends the value at the first comma and reads
    # "5" and "6)" as keys; the refusal named only those keys, which the file never meant as keys
    pol = tmp_path / "policy.yaml"
    pol.write_text("version: v\ncutoffs: {approve: 575, review: 550}\nrules:\n"
                   "  - {code: EDU, when: EDUCATION in (0, 5, 6) or EDUCATION is missing, action: review}\n"
                   "fields:\n  EDUCATION: {type: number, required: false, nullable: true}\n", encoding="utf-8")
    r = _cli("policy", "check", pol, service_bundle)
    err = " ".join(r.stderr.split())
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "unknown key(s) ['5', '6) or EDUCATION is missing'] in rules[0]" in err
    assert 'quote the condition, when: "EDUCATION in (0, 5, 6) or EDUCATION is missing"' in err
    pol.write_text(pol.read_text().replace("when: EDUCATION in (0, 5, 6) or EDUCATION is missing",
                                           'when: "EDUCATION in (0, 5, 6) or EDUCATION is missing"'), encoding="utf-8")
    assert _cli("policy", "check", pol, service_bundle).returncode == 0
    # a misspelt key keeps the plain refusal
    pol.write_text("version: v\ncutoffs: {approve: 575}\nrules:\n  - {code: A, when: PAY_0 > 3, acton: reject}\n")
    err = " ".join(_cli("policy", "check", pol, service_bundle).stderr.split())
    assert "unknown key(s) ['acton'] in rules[0]" in err and "quote" not in err


def test_cli_simulate_notes_rows_scored_with_a_category_unseen_in_training(tmp_path):
    # `creditflow score` notes them and the service notes each such request; simulate decided them on the
    # Unseen bin's score (WOE 0: 'Business' for 'business' scored above the applicant's own category) silently
    from tests.conftest import GERMAN

    out = tmp_path / "g"
    assert _cli("train", GERMAN, "--target", "creditability", "--no-report", "--out", out).returncode == 0
    pol = tmp_path / "p.yaml"
    pol.write_text('version: "g1"\ncutoffs: {approve: 560, review: 520}\n', encoding="utf-8")
    frame = pd.read_csv(GERMAN)
    frame.loc[[3, 7], "purpose"] = "Business"
    frame.loc[9, "purpose"] = "crypto"
    data = tmp_path / "typos.csv"
    frame.to_csv(data, index=False)
    r = _cli("policy", "simulate", pol, out / "model", data, "--out", tmp_path / "dec.csv")
    text = " ".join(r.stderr.split())
    assert r.returncode == 0, r.stderr
    assert "note: column 'purpose': 3 row(s) with categories unseen in training scored as unseen" in text
    scored = _cli("score", out / "model", data, "--out", tmp_path / "scores.csv")
    assert "column 'purpose': 3 row(s) with categories unseen" in " ".join(scored.stderr.split())
    assert (pd.read_csv(tmp_path / "dec.csv")["score"] == pd.read_csv(tmp_path / "scores.csv")["score"]).all()
    clean = _cli("policy", "simulate", pol, out / "model", GERMAN)
    assert clean.returncode == 0 and "unseen" not in clean.stderr


def test_a_rule_no_accepted_applicant_can_fire_is_warned_of(service_bundle, population, tmp_path):  # noqa: F811
    # `AGE > 200` where the policy accepts AGE up to 120, `PAY_0 > 100` where the model accepts -12 to 18, two
    # bounds that exclude each other: each reads as a safeguard and decides nothing; they loaded without a word
    pol = tmp_path / "policy.yaml"
    pol.write_text("version: v\ncutoffs: {approve: 575, review: 550}\nrules:\n"
                   "  - {code: OLD, when: AGE > 200, action: reject}\n"
                   "  - {code: DPD, when: PAY_0 > 100, action: reject}\n"
                   "  - {code: BOTH, when: PAY_0 >= 3 and PAY_0 < 2, action: review}\n"
                   "  - {code: YOUNG, when: AGE < 18 or AGE > 300, action: reject}\n"
                   "fields:\n  AGE: {type: number, min: 0, max: 120}\n", encoding="utf-8")
    data = tmp_path / "pop.csv"
    population.head(500).to_csv(data, index=False)
    for args in (("policy", "check", pol, service_bundle), ("policy", "simulate", pol, service_bundle, data)):
        r = _cli(*args)
        text = " ".join(r.stderr.split())
        assert r.returncode == 0, r.stderr
        assert ("warning: line 4: rule 'OLD' (rules[0]) can never fire: `AGE > 200` holds for no value the service accepts "
                "(AGE accepted from 0 to 120)") in text
        assert "rule 'DPD' (rules[1]) can never fire" in text and "rule 'BOTH' (rules[2]) can never fire" in text
        assert "YOUNG" not in text


@pytest.mark.parametrize("code", ["HR;01", "HR\n01", "HR\t01"])
def test_a_rule_code_that_would_garble_rules_fired_is_refused(code):
    # `policy simulate --out` lists the rules fired as codes joined by ';': codes "HR;01" and "HR01" wrote
    # "HR;01;HR01", which reads back as three rules, HR, 01 and HR01
    with pytest.raises(PolicyError, match="a rule code may not hold"):
        policy(rules=[{"code": code, "when": "AGE < 18", "action": "reject"},
                      {"code": "HR01", "when": "AGE > 99", "action": "review"}])


def test_policy_errors_name_the_line_of_the_file(tmp_path):
    # a typo'd key, cutoffs out of order, a rule on a column nobody supplies, text compared with a number, a
    # repeated code: each names the line to fix, not only the key or rules[i]
    head = 'version: "v"\ndescription: trial\n'
    cases = [
        (head + "cutoffs: {approve: 575, review: 550}\nrules:\n  - code: R1\n    when: AGE < 18\n"
                "    acton: reject\n", "line 7: unknown key(s) ['acton'] in rules[0]", "'acton' for 'action'"),
        (head + "cutoffs:\n  approve: 550\n  review: 575\n", "line 5: cutoffs.review (575) must not be above", None),
        (head + "cutofs: {approve: 575}\n", "line 3: unknown key(s) ['cutofs'] in the policy", "for 'cutoffs'"),
        (head + "cutoffs: {approve: 575}\nfields:\n  AGE: {type: number, nulable: true}\n",
         "line 5: unknown key(s) ['nulable'] in fields.AGE", "'nulable' for 'nullable'"),
        (head + "cutoffs: {approve: 575}\nrules:\n  - {code: R1, when: AGE < 18, action: reject}\n"
                "  - {code: R1, when: AGE > 99, action: review}\nfields:\n  AGE: {}\n",
         "line 6: rule codes must be unique; repeated: ['R1'] (first on line 5)", None),
        (head + "cutoffs: {approve: 575}\nrules:\n  - {code: R1, when: 'AGE ==', action: reject}\n",
         "line 5: rule 'R1' (rules[0]): expected", None),
        (head + "cutoffs: {approve: 575}\nrules:\n  - {code: 101, when: AGE < 18, action: reject}\n",
         "line 5: rules[0]: 'code' must be text, not 101", 'quote it: code: "101"'),
    ]
    for i, (text, message, also) in enumerate(cases):
        path = tmp_path / f"p{i}.yaml"
        path.write_text(text, encoding="utf-8")
        with pytest.raises(PolicyError) as err:
            load_policy(path)
        assert message in err.value.message and str(path) in err.value.message, err.value.message
        assert also is None or also in err.value.message, err.value.message
    # checked against the model's inputs: the rule's line
    path = tmp_path / "check.yaml"
    path.write_text(head + "cutoffs: {approve: 575}\nrules:\n  - {code: R1, when: AGE < 18, action: reject}\n"
                    "  - code: R2\n    when: PAY_O >= 3\n    action: reject\n"
                    "  - {code: R3, when: 'PAY_0 == \"3\"', action: reject}\n"
                    "  - {code: R4, when: AGE == null, action: review}\nfields:\n  AGE: {}\n", encoding="utf-8")
    pol = load_policy(path)
    with pytest.raises(PolicyError, match=r"line 6: rule 'R2' \(rules\[1\]\) reads field 'PAY_O'"):
        pol.check_against({"PAY_0": "number"})
    with pytest.raises(PolicyError, match=r"line 9: rule 'R3' \(rules\[2\]\) compares number field 'PAY_0' with text"):
        pol.check_against({"PAY_0": "number", "PAY_O": "number"})
    with pytest.raises(PolicyError, match=r"line 10: rule 'R4' .* a missing value is tested with `FIELD is missing`"):
        pol.check_against({"PAY_0": "string", "PAY_O": "number"})
    with pytest.raises(PolicyError, match=r"line 3: cutoff approve: 575 is outside the model's score scale 350-500"):
        pol.check_against({"PAY_0": "string", "PAY_O": "number", "null": "number"}, (350, 500))
    # a policy given as a mapping (the service's reload body) has no lines: the messages go on without them
    with pytest.raises(PolicyError) as err:
        policy(cutofs={"approve": 1})
    assert "line" not in err.value.message and "unknown key(s) ['cutofs']" in err.value.message


# a policy reading a field only it knows, declared text ("007" stays "007"), and a reject rule on a model input
# that fires on applicants the cutoffs alone would approve
FIRING_POLICY = """version: fires-1
cutoffs: {approve: 560, review: 530}
fields:
  branch: {type: string}
rules:
- {code: B7, when: 'branch == "007"', action: review}
- {code: RICH, when: 'LIMIT_BAL >= 300000', action: reject}
- {code: LATE, when: 'PAY_0 >= 2', action: review}
"""


@pytest.mark.parametrize("which", ["example", "firing"])
def test_cli_score_policy_decides_each_row_as_simulate_out(service_bundle, population, tmp_path, which):  # noqa: F811
    if which == "example":
        pol, table = EXAMPLE_POLICY, population
    else:
        pol = tmp_path / "p.yaml"
        pol.write_text(FIRING_POLICY, encoding="utf-8")
        table = population.assign(branch=np.array(["007", "7", "010"])[np.arange(len(population)) % 3])
    data = tmp_path / "pop.csv"
    table.to_csv(data, index=False)
    r = _cli("score", service_bundle, data, "--out", tmp_path / "scored.csv", "--policy", pol)
    assert r.returncode == 0, r.stderr
    plain = _cli("score", service_bundle, data, "--out", tmp_path / "plain.csv")
    assert plain.returncode == 0, plain.stderr
    sim = _cli("policy", "simulate", pol, service_bundle, data, "--out", tmp_path / "sim.csv")
    assert sim.returncode == 0, sim.stderr
    got = pd.read_csv(tmp_path / "scored.csv", keep_default_na=False)
    usual = pd.read_csv(tmp_path / "plain.csv", keep_default_na=False)
    want = pd.read_csv(tmp_path / "sim.csv", keep_default_na=False)
    decided = ["decision", "score_decision", "rules_fired"]
    # the usual score columns, unchanged, then the decisions
    assert list(got.columns) == [*usual.columns, *decided] and "reason_1_code" in usual.columns
    pd.testing.assert_frame_equal(got[list(usual.columns)], usual)
    # row by row as `policy simulate --out` decides them (the service's one-applicant path: see above)
    assert len(got) == len(want) == len(population)
    pd.testing.assert_frame_equal(got[list(want.columns)], want)
    cutoffs = load_policy(pol).cutoffs
    assert got["score_decision"].tolist() == [cutoffs.decide(x) for x in got["score"]]
    by_rule = got["decision"] != got["score_decision"]
    assert by_rule.any() and (got.loc[by_rule, "rules_fired"] != "").all()
    if which == "firing":
        fired = got["rules_fired"].str.split(";")
        assert fired.map(lambda c: "B7" in c).sum() == (table["branch"] == "007").sum()  # "7" is not "007"
        assert ((got["score_decision"] == "approve") & (got["decision"] == "reject")).any()
    counts = got["decision"].value_counts()
    line = " ".join(r.stdout.split())
    assert f"approve {counts['approve']:,} (" in line and f"reject {counts['reject']:,} (" in line
    assert f"a rule fired on {(got['rules_fired'] != '').sum():,} row(s)" in line


def test_cli_score_policy_bad_input_exits_2_naming_it(service_bundle, population, tmp_path):  # noqa: F811
    from typer.testing import CliRunner

    from creditflow.cli import _load_commands, app

    _load_commands()
    runner = CliRunner()

    def run(*args) -> tuple[int, str]:
        result = runner.invoke(app, [str(a) for a in args])
        return result.exit_code, " ".join(result.output.split())

    data, out = tmp_path / "pop.csv", tmp_path / "scored.csv"
    population.head(300).to_csv(data, index=False)
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: v\ncutoffs: {approve: 500}\nrules:\n- {code: X, when: 'SALARY > 1', action: reject}\n")
    code, text = run("score", service_bundle, data, "--out", out, "--policy", bad)
    assert code == 2 and "SALARY" in text and str(bad) in text and "Traceback" not in text, text
    code, text = run("score", service_bundle, data, "--out", out, "--policy", tmp_path / "none.yaml")
    assert code == 2 and "no such policy file" in text, text
    off_scale = tmp_path / "off.yaml"
    off_scale.write_text("version: v\ncutoffs: {approve: 5000, review: 500}\n")
    code, text = run("score", service_bundle, data, "--out", out, "--policy", off_scale)
    assert code == 2 and "5000" in text and "Traceback" not in text, text
    pol = tmp_path / "p.yaml"
    pol.write_text(FIRING_POLICY, encoding="utf-8")
    code, text = run("score", service_bundle, data, "--out", out, "--policy", pol)  # no branch column
    assert code == 2 and "missing: ['branch']" in text and str(data) in text, text
    odd = population.head(300).assign(branch="007").astype({"PAY_2": object})
    odd.loc[7, "PAY_2"] = "x"
    odd.to_csv(data, index=False)
    code, text = run("score", service_bundle, data, "--out", out, "--policy", pol)
    assert code == 2 and "column 'PAY_2', row 8" in text and str(data) in text, text
    code, text = run("score", service_bundle, data, "--out", pol, "--policy", pol)
    assert code == 2 and "--out is the policy file: it would be overwritten" in text, text
    code, text = run("score", service_bundle, data, "--out", tmp_path / "parts", "--policy", pol,
                     "--cluster", "local:1")
    assert code == 2 and "--policy is not available with --cluster: decide on one machine" in text, text
    assert not out.exists()


def test_score_table_in_python_checks_the_policy_as_the_commands_do(service_bundle, population):  # noqa: F811
    """`score_table(policy=...)` decided with a cutoff off the score scale (every row rejected) and with a rule
    comparing a number field with text (never firing) without a word; `score --policy` refused both."""
    from creditflow.workflow import score_table

    rows = population.head(50)
    off_scale = policy_from_dict({"version": "v", "cutoffs": {"approve": 990, "review": 960}})
    with pytest.raises(PolicyError, match="cutoff approve: 990 is outside the model's score scale 350-950"):
        score_table(service_bundle, rows, policy=off_scale)
    wrong_kind = policy_from_dict({"version": "v", "cutoffs": {"approve": 560},
                                   "rules": [{"code": "A", "when": 'AGE == "old"', "action": "review"}]})
    with pytest.raises(PolicyError, match="compares number field 'AGE' with text"):
        score_table(service_bundle, rows, policy=wrong_kind)
    fine = policy_from_dict({"version": "v", "cutoffs": {"approve": 560, "review": 530}})
    decided = score_table(service_bundle, rows, policy=fine)
    assert set(decided["decision"]) <= {"approve", "review", "reject"} and len(decided) == 50

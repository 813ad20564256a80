"""Reason codes: what the model scored (points short of the reference, or TreeSHAP against a reference
population), protected variables, missing values, the versioned code table, and the CLI."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import creditflow as cf
from creditflow.bundle import load_bundle, save_bundle
from creditflow.data import CreditflowError
from creditflow.models.gbdt import GBDTModel
from creditflow.scoring.reasons import (
    Reasoner,
    ReasonSettings,
    default_reference,
    reason_docs,
    reason_table,
    reasons_row,
    top_points,
    top_reference,
)
from tests.conftest import UCI, UCI_TARGET


def run(*args):
    """The real `creditflow` command line, in process (exit code, stdout and stderr kept apart)."""
    from typer.testing import CliRunner

    from creditflow.cli import _load_commands, app

    _load_commands()
    result = CliRunner().invoke(app, [str(a) for a in args])
    result.returncode = result.exit_code
    return result


@pytest.fixture(scope="module")
def uci():
    meanings = {"PAY_0": "repayment status in September", "LIMIT_BAL": "credit limit"}
    data = cf.read_table(UCI, UCI_TARGET, id="ID", dictionary=cf.FieldDictionary(meanings=meanings))
    return data.subset(np.arange(5000))


@pytest.fixture(scope="module")
def card(uci):
    return cf.Scorecard().fit(uci.train)


@pytest.fixture(scope="module")
def gbdt(uci):
    return GBDTModel(folds=3, learning_rate=0.1, early_stopping=30, tune=False).fit(uci.train)


@pytest.fixture(scope="module")
def applicants(uci):
    frame = uci.test.X.head(400).copy()
    frame["PAY_0"] = frame["PAY_0"].astype(float)
    frame.loc[frame.index[:25], "PAY_0"] = np.nan
    return frame


def test_scorecard_reasons_are_the_largest_point_shortfalls(card, applicants):
    table = reason_table(card, applicants)
    assert list(table.columns) == [f"reason_{k}_{w}" for k in range(1, 5) for w in ("code", "text")]
    points = card.point_matrix(applicants)
    best = card.points_.groupby("variable")["points"].max()
    short = best[points.columns].to_numpy()[None, :] - points.to_numpy()
    codes = {c.variable: c for c in Reasoner(card).codes.codes}
    for i in range(len(applicants)):
        expect = [points.columns[j] for j in np.argsort(-short[i], kind="stable")[:4] if short[i, j] > 0]
        got = [table.iat[i, 2 * k] for k in range(4) if table.iat[i, 2 * k]]
        assert [c.rstrip("M") for c in got] == [codes[v].code for v in expect]


def _best_row(card, base: dict) -> dict:
    """An applicant in each variable's highest-points bin."""
    best = {}
    for var, vb, _, pts in card._compiled:
        i = int(np.argmax(pts))
        if vb.kind == "numeric" and i < vb.n_regular:
            edges = [-np.inf, *vb.splits, np.inf]
            best[var] = edges[i] if np.isfinite(edges[i]) else edges[i + 1] - 1
        else:
            best[var] = None if vb.labels[i] == "Missing" else vb.groups[i][0]
    return {**base, **best}


def test_missing_values_say_so(card, uci):
    row = _best_row(card, uci.test.X.iloc[0].to_dict())
    assert reasons_row(card, row) == []
    row["PAY_0"] = None
    got = reasons_row(card, row)
    assert [r["variable"] for r in got] == ["PAY_0"]
    assert got[0]["missing"] and got[0]["text"] == "PAY_0 (repayment status in September): missing"
    assert got[0]["code"].endswith("M")
    table = reason_table(card, pd.DataFrame([row]))
    assert table.iloc[0].tolist()[:2] == [got[0]["code"], got[0]["text"]]


def test_row_api_equals_table(card, gbdt, applicants):
    for model in (card, gbdt):
        table = reason_table(model, applicants.head(60))
        for i, row in enumerate(applicants.head(60).to_dict("records")):
            got = reasons_row(model, row)
            codes = [r["code"] for r in got] + [""] * (4 - len(got))
            assert codes == [table.iat[i, 2 * k] for k in range(4)]
            assert all(r["impact"] > 0 for r in got)
            assert [r["impact"] for r in got] == sorted((r["impact"] for r in got), reverse=True)


def test_gbdt_reasons_are_shap_pushes_towards_bad(gbdt, applicants):
    M = gbdt.encoder_.matrix(applicants)
    contrib = gbdt.booster_.predict(M, pred_contrib=True)[:, :-1]  # LightGBM's own TreeSHAP
    docs = reason_docs(gbdt, applicants)  # mean contribution of this population as the reference
    reasoner = Reasoner.from_docs(gbdt, docs)
    ref = np.asarray([docs["reasons.json"]["values"][v] for v in gbdt.features_])
    table = reasoner.table(applicants)
    push = contrib - ref
    for i in range(len(applicants)):
        expect = [gbdt.features_[j] for j in np.argsort(-push[i], kind="stable")[:4] if push[i, j] > 1e-9]
        got = [reasoner.codes.codes[[c.code for c in reasoner.codes.codes].index(code.rstrip("M"))].variable
               for code in table.iloc[i, ::2] if code]
        assert got == expect
    # impacts are in score points: factor * Platt slope * contribution
    one = reasoner.row(applicants.iloc[3].to_dict(), n=1)[0]
    j = gbdt.features_.index(one["variable"])
    scale = gbdt.scaling_.factor * gbdt.calibration_.slope
    assert one["impact"] == pytest.approx(push[3, j] * scale, abs=1e-5)


def test_protected_variables_are_never_reasons(card, gbdt, uci, applicants):
    for model in (card, gbdt):
        protected = list(model.features_[:3])
        docs = reason_docs(model, uci.train, protected=protected)
        table = Reasoner.from_docs(model, docs).table(applicants)
        codes = {c["variable"]: c["code"] for c in docs["reason_codes.json"]["codes"]}
        used = set(table.filter(like="_code").to_numpy().ravel())
        assert not {codes[p] for p in protected} & {u.rstrip("M") for u in used}
        assert table["reason_1_code"].ne("").mean() > 0.9
    with pytest.raises(CreditflowError, match="NOPE"):
        reason_docs(card, uci.train, protected=["NOPE"])


def test_cutoff_reference_is_stored_and_used(card, uci, applicants):
    docs = reason_docs(card, uci.train, reference="cutoff", cutoff=600)
    settings = docs["reasons.json"]
    assert settings["reference"] == "cutoff" and settings["cutoff"] == 600 and settings["rows"] >= 30
    scores = card.scores(uci.train)["score"]
    near = uci.train.X[(scores >= 600) & (scores < 600 + card.scaling_.pdo / 2)]
    mean_points = card.point_matrix(near).mean()
    for var, value in settings["values"].items():
        assert value == pytest.approx(mean_points[var])
    with pytest.raises(CreditflowError, match="cutoff"):
        reason_docs(card, uci.train, reference="cutoff", cutoff=2000)


def test_bundle_carries_reasons_and_codes_can_be_edited(card, uci, applicants, tmp_path):
    docs = reason_docs(card, uci.train, protected=["SEX"])
    save_bundle(card, tmp_path / "m", extras=docs)
    bundle = load_bundle(tmp_path / "m")
    assert reasons_row(bundle, applicants.iloc[0].to_dict()) == Reasoner.from_docs(card, docs).row(
        applicants.iloc[0].to_dict())
    r = run("reasons", "export", tmp_path / "m", tmp_path / "codes.csv")
    assert r.returncode == 0, r.stderr
    codes = pd.read_csv(tmp_path / "codes.csv", encoding="utf-8-sig")
    assert set(codes["variable"]) == set(card.features_) and (codes["version"] == 1).all()
    codes.loc[codes["variable"] == "PAY_0", "text"] = "最近一期还款状态逾期"
    codes.to_csv(tmp_path / "codes.csv", index=False, encoding="utf-8-sig")
    before = bundle.model_version
    r = run("reasons", "import", tmp_path / "m", tmp_path / "codes.csv")
    assert r.returncode == 0, r.stderr
    after = load_bundle(tmp_path / "m")  # verified against the new manifest
    assert after.model_version != before
    table = after.files["reason_codes.json"]
    assert table["version"] == 2
    entry = next(c for c in table["codes"] if c["variable"] == "PAY_0")
    assert entry["text"] == "最近一期还款状态逾期" and entry["version"] == 2
    assert after.files["reasons.json"]["protected"] == ["SEX"]
    dup = codes.copy()
    dup.loc[4, "code"] = dup.loc[1, "code"]  # 5th row below the header reuses the 2nd row's code
    dup.to_csv(tmp_path / "dup.csv", index=False)
    r = run("reasons", "import", tmp_path / "m", tmp_path / "dup.csv")
    assert r.returncode == 2 and "column 'code', row 5" in r.stderr and "used for both" in r.stderr
    twice = pd.concat([codes, codes[codes["variable"] == "PAY_0"].assign(text="other text")], ignore_index=True)
    twice.to_csv(tmp_path / "twice.csv", index=False)
    r = run("reasons", "import", tmp_path / "m", tmp_path / "twice.csv")
    row = int(codes.index[codes["variable"] == "PAY_0"][0]) + 1
    assert r.returncode == 2 and f"'PAY_0' appears in rows {row} and {len(codes) + 1}" in " ".join(r.stderr.split())
    codes.loc[0, "variable"] = "NOT_A_VARIABLE"
    codes.to_csv(tmp_path / "bad.csv", index=False)
    r = run("reasons", "import", tmp_path / "m", tmp_path / "bad.csv")
    assert r.returncode == 2 and "NOT_A_VARIABLE" in r.stderr and "row 1:" in r.stderr
    assert "Traceback" not in r.stderr
    # a Latin-1 CSV: refused with the hint to name its encoding, which import takes
    codes.loc[0, "variable"] = card.features_[0]
    same = codes.copy()
    same.loc[2, "missing_code"] = same.loc[2, "code"]
    same.to_csv(tmp_path / "same.csv", index=False)
    r = run("reasons", "import", tmp_path / "m", tmp_path / "same.csv")
    assert r.returncode == 2 and "column 'missing_code', row 3" in r.stderr, r.stderr
    clash = codes.copy()
    clash.loc[5, "missing_code"] = clash.loc[0, "code"]
    clash.to_csv(tmp_path / "clash.csv", index=False)
    r = run("reasons", "import", tmp_path / "m", tmp_path / "clash.csv")
    assert r.returncode == 2 and "column 'missing_code', row 6" in r.stderr, r.stderr
    codes.loc[0, "text"] = "Zahlungsrückstand der Kundin"
    codes.to_csv(tmp_path / "latin1.csv", index=False, encoding="latin-1")
    r = run("reasons", "import", tmp_path / "m", tmp_path / "latin1.csv")
    assert r.returncode == 2 and "--encoding latin-1" in r.stderr, r.stderr
    r = run("reasons", "import", tmp_path / "m", tmp_path / "latin1.csv", "--encoding", "latin-1")
    assert r.returncode == 0, r.stderr
    entry = next(c for c in load_bundle(tmp_path / "m").files["reason_codes.json"]["codes"]
                 if c["variable"] == card.features_[0])
    assert entry["text"] == "Zahlungsrückstand der Kundin"


def test_train_and_score_cli_write_reasons(tmp_path):
    sample = pd.read_csv(UCI).head(3000)
    sample.to_csv(tmp_path / "uci.csv", index=False)
    r = run("train", tmp_path / "uci.csv", "--target", UCI_TARGET, "--id", "ID", "--model", "gbdt",
            "--protected", "SEX,AGE", "--no-report", "--out", tmp_path / "o")
    assert r.returncode == 0, r.stderr
    settings = json.loads((tmp_path / "o" / "model" / "reasons.json").read_text())
    assert settings["method"] == "shap" and settings["protected"] == ["SEX", "AGE"]
    r = run("score", tmp_path / "o" / "model", tmp_path / "uci.csv", "--out", tmp_path / "s.csv")
    assert r.returncode == 0, r.stderr
    out = pd.read_csv(tmp_path / "s.csv", keep_default_na=False)
    assert list(out.columns[:4]) == ["ID", "probability", "score", "grade"]
    assert "reason_4_text" in out.columns
    codes = json.loads((tmp_path / "o" / "model" / "reason_codes.json").read_text())["codes"]
    protected = {c["code"] for c in codes if c["variable"] in ("SEX", "AGE")}
    assert not protected & set(out.filter(like="_code").to_numpy().ravel())
    r = run("score", tmp_path / "o" / "model", tmp_path / "uci.csv", "--out", tmp_path / "n.csv", "--no-reasons")
    assert r.returncode == 0, r.stderr
    assert list(pd.read_csv(tmp_path / "n.csv").columns) == ["ID", "probability", "score", "grade"]
    r = run("train", tmp_path / "uci.csv", "--target", UCI_TARGET, "--id", "ID", "--protected", "GENDER",
            "--out", tmp_path / "x")
    assert r.returncode == 2 and "GENDER" in r.stderr and not (tmp_path / "x").exists()


# ------------------------------------------------------------------ boosted scorecard: interaction tables
@pytest.fixture(scope="module")
def boosted():
    """A boosted scorecard with interaction tables (the full UCI training part: its PAY_0 pairs pass the test)."""
    from creditflow.models.boosted import BoostedScorecard

    data = cf.read_table(UCI, UCI_TARGET, id="ID")
    model = BoostedScorecard(boosting={"outer_bags": 3}).fit(data.train)
    assert model.pairs_, "the fixture needs a model with interaction tables"
    return model, data


def _unit_shortfalls(model, frame):
    """Points short of each variable's best bin and each table's best cell, from point_matrix."""
    points = model.point_matrix(frame)
    best = model.points_.groupby("variable")["points"].max()
    return best[points.columns].to_numpy()[None, :] - points.to_numpy(), list(points.columns)


def test_interaction_points_are_reasons(boosted):
    model, data = boosted
    frame = data.test.X.head(3000)
    reasoner = Reasoner(model, ReasonSettings(method="points", reference="max"))
    assert reasoner.units == list(model.features_) + [t.name for t in model.pairs_]
    impact, _ = reasoner.impacts(frame)
    short, columns = _unit_shortfalls(model, frame)
    assert columns == reasoner.units
    np.testing.assert_array_equal(impact, short)  # every point below the best, tables included, is counted
    table = reasoner.table(frame)
    codes = reasoner.codes.by_variable()
    key = {v: (codes[v].code, codes[v].missing_code) for v in model.features_}
    for t in model.pairs_:
        key[t.name] = tuple(f"{ca}*{cb}" for ca in key[t.a] for cb in key[t.b])
    for i in range(len(frame)):  # reasons are the largest shortfalls, over variables and tables alike
        expect = [columns[j] for j in np.argsort(-short[i], kind="stable")[:4] if short[i, j] > 0]
        got = [table.iat[i, 2 * k] for k in range(4) if table.iat[i, 2 * k]]
        assert len(got) == len(expect) and all(g in key[u] for g, u in zip(got, expect, strict=True))
    assert any("*" in c for c in table.filter(like="_code").to_numpy().ravel())
    # applicants in every variable's best bin except the two of one table: where that table's cell costs
    # more than the two variables' own bins, the table is the first reason, naming both variables
    best = _best_row(model, frame.iloc[0].to_dict())
    n_first = 0
    for t in model.pairs_:
        crafted = pd.DataFrame([best] * len(frame))
        crafted[t.a] = frame[t.a].to_numpy()
        crafted[t.b] = frame[t.b].to_numpy()
        short, columns = _unit_shortfalls(model, crafted)
        j = columns.index(t.name)
        first = np.flatnonzero((np.argmax(short, axis=1) == j) & (short[:, j] > 0))
        rows = reasoner.table(crafted.iloc[first])
        assert rows["reason_1_code"].isin(key[t.name]).all()
        assert rows["reason_1_text"].str.contains(" × ").all()
        if len(first):
            assert reasoner.row(crafted.iloc[first[0]].to_dict())[0]["variable"] == t.name
        n_first += len(first)
    assert n_first > 0, "an interaction cell should cost the most points for some crafted applicants"


def test_boosted_row_reasons_equal_batch(boosted):
    model, data = boosted
    frame = data.test.X.iloc[:300].copy()
    frame.loc[frame.index[:20], "PAY_0"] = np.nan  # missing values in a table's variable
    table = reason_table(model, frame)
    reasoner = Reasoner(model)
    impact, _ = reasoner.impacts(frame)
    n_pair_reasons = 0
    for i, row in enumerate(frame.to_dict("records")):
        got = reasons_row(model, row)
        assert [r["code"] for r in got] + [""] * (4 - len(got)) == [table.iat[i, 2 * k] for k in range(4)]
        assert [r["text"] for r in got] + [""] * (4 - len(got)) == [table.iat[i, 2 * k + 1] for k in range(4)]
        for r in got:
            assert r["impact"] == pytest.approx(impact[i, reasoner.units.index(r["variable"])])
            n_pair_reasons += " × " in r["variable"]
    assert n_pair_reasons > 0


def test_boosted_protected_variable_never_surfaces_through_a_table(boosted):
    model, data = boosted
    protected = model.pairs_[0].a  # a variable that is in at least one interaction table
    assert any(protected in (t.a, t.b) for t in model.pairs_)
    docs = reason_docs(model, data.train.X.head(3000), protected=[protected])
    reasoner = Reasoner.from_docs(model, docs)
    frame = data.test.X.head(2000)
    table = reasoner.table(frame)
    code = reasoner.codes.by_variable()[protected]
    used = {part for c in table.filter(like="_code").to_numpy().ravel() for part in c.split("*")}
    assert not {code.code, code.missing_code} & used
    label = model.dictionary_.label(protected)
    assert not any(label in t.split(" × ") or label + ": missing" in t.split(" × ")
                   for t in table.filter(like="_text").to_numpy().ravel())
    for row in frame.head(200).to_dict("records"):
        for r in reasoner.row(row):
            assert protected not in r["variable"].split(" × ")
    # tables not crossing the protected variable still give reasons
    others = [t for t in model.pairs_ if protected not in (t.a, t.b)]
    if others:
        assert any("*" in c for c in table.filter(like="_code").to_numpy().ravel())


def test_boosted_cutoff_reference_covers_tables(boosted, tmp_path):
    model, data = boosted
    docs = reason_docs(model, data.train.X.head(5000), reference="cutoff", cutoff=600)
    values = docs["reasons.json"]["values"]
    assert set(values) == set(model.features_) | {t.name for t in model.pairs_}
    save_bundle(model, tmp_path / "m", extras=docs)
    bundle = load_bundle(tmp_path / "m")
    row = data.test.X.iloc[5].to_dict()
    assert reasons_row(bundle, row) == Reasoner.from_docs(model, docs).row(row)


def test_top_points_skip_a_thin_tail():
    # +42 points for 1.6% of the rows, +1 for 80%: the "p95" reference is +1, "max" would be +42
    assert top_points(np.array([42, 1, -5]), np.array([16, 800, 184])) == 1
    assert top_points(np.array([31, 24, 12, 7]), np.array([2, 4, 6, 88])) == 24  # 2% above 24, 6% above 12
    assert top_points(np.array([10, 3]), np.array([300, 700])) == 10  # a large best bin is the reference
    assert top_points(np.array([50, 10, 3]), np.array([0, 300, 700])) == 10  # an empty bin does not count


def test_boosted_reasons_default_to_the_points_few_applicants_beat(boosted):
    model, data = boosted
    frame = data.test.X.head(3000)
    reasoner = Reasoner(model)
    assert reasoner.settings.reference == "p95" and default_reference(model) == "p95"
    ref = top_reference(model)
    assert reasoner.settings.values == ref and set(ref) == set(reasoner.units)
    points = model.point_matrix(data.train.X)
    for unit, value in ref.items():  # at most 5% of the training rows score above the reference
        assert (points[unit] > value).mean() <= 0.05 + 1e-9
        assert value in set(points[unit])
    impact, _ = reasoner.impacts(frame)
    np.testing.assert_array_equal(impact, np.asarray([ref[u] for u in reasoner.units])[None, :]
                                  - model.point_matrix(frame)[reasoner.units].to_numpy())
    # the docs train writes carry the same reference, so batch and service use it
    docs = reason_docs(model, data.train.X)
    assert docs["reasons.json"]["reference"] == "p95" and docs["reasons.json"]["values"] == ref
    # against "max", one variable's thin best bin makes it most applicants' first reason; against "p95" not
    first = {}
    for r in (Reasoner(model, ReasonSettings(method="points", reference="max")), reasoner):
        first[r.settings.reference] = r.table(frame)["reason_1_code"].value_counts(normalize=True).iloc[0]
    assert first["p95"] < first["max"]
    # a bundle saved before cell counts were kept: its tables' reference is their best cell, as "max"
    import copy

    old = copy.copy(model)
    old.pairs_ = [copy.copy(t) for t in model.pairs_]
    for t in old.pairs_:
        t.counts = None
    old._make_points()
    ref_old = top_reference(old)
    for t, (_, _, pts, _, _) in zip(old.pairs_, old._pair_plan, strict=True):
        assert ref_old[t.name] == pts.max()
    assert all(ref_old[v] == ref[v] for v in model.features_)


def test_a_chinese_label_says_missing_in_chinese():
    from creditflow.scoring.reasons import missing_text

    assert missing_text("PAY_0 (repayment status)") == "PAY_0 (repayment status): missing"
    assert missing_text("x_131 (近3个月查询次数)") == "x_131 (近3个月查询次数)：缺失"


def test_export_never_overwrites_a_table_unless_forced(card, uci, tmp_path):
    """Exporting again before importing would silently lose the edits made to the table."""
    save_bundle(card, tmp_path / "m", extras=reason_docs(card, uci.train))
    out = tmp_path / "codes.csv"
    r = run("reasons", "export", tmp_path / "m", out)
    # docs audit: the command to run next was wrapped at 80 columns, a line break inside what the user copies
    assert r.returncode == 0 and f"`creditflow reasons import {tmp_path / 'm'} {out}`" in r.stdout, r.stdout
    out.write_text(out.read_text(encoding="utf-8-sig").replace("R01", "X01"), encoding="utf-8-sig")
    edited = out.read_bytes()
    r = run("reasons", "export", tmp_path / "m", out)
    text = " ".join(r.stderr.split())
    assert r.returncode == 2 and text.startswith(f"error: file '{out}': the file exists") and "--force" in text, text
    assert out.read_bytes() == edited
    r = run("reasons", "export", tmp_path / "m", out, "--force")
    assert r.returncode == 0, r.stderr
    assert out.read_bytes() != edited and "R01" in out.read_text(encoding="utf-8-sig")


def test_import_through_a_symbolic_link_edits_the_bundle_it_points_to(card, uci, tmp_path):
    """`current -> releases/v1`: the import crashed (NotADirectoryError: a rename cannot put a folder over a link)."""
    release = save_bundle(card, tmp_path / "releases" / "v1", extras=reason_docs(card, uci.train))
    (tmp_path / "current").symlink_to(release, target_is_directory=True)
    before = load_bundle(release).model_version
    table = tmp_path / "codes.csv"
    assert run("reasons", "export", tmp_path / "current", table).returncode == 0
    table.write_text(table.read_text(encoding="utf-8-sig").replace("R01,", "X01,", 1), encoding="utf-8-sig")
    r = run("reasons", "import", tmp_path / "current", table)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "current").is_symlink()  # the link stays, and its bundle is the edited one
    assert load_bundle(tmp_path / "current").model_version == load_bundle(release).model_version != before
    assert "X01" in (release / "reason_codes.json").read_text()


def test_a_special_value_has_its_own_reason_code_and_text(card, tmp_path):
    """Before, a row in a special-value bin (x = -1, "no record") got the variable's regular reason, R01 "x", the
    same as a low value; now it gets R01S "x: special value -1", as a missing value gets R01M, in batch and
    row scoring, and the code table exports, edits and imports it. A table stored without special codes (an
    older bundle) reads special rows as before, and a card without special values stores its table as before."""
    from creditflow.scoring.reasons import ReasonCodes

    rng = np.random.default_rng(11)
    n = 6000
    x, z = rng.exponential(size=n), rng.normal(size=n)
    x[:600] = -1.0  # "no record": far riskier than any regular value
    logit = -1.5 + 0.8 * x + 0.8 * z + np.where(np.arange(n) < 600, 2.0, 0.0)
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    frame = pd.DataFrame({"x": x, "z": z})
    model = cf.Scorecard(special_values={"x": [-1]}).fit(frame, y)
    code = ReasonCodes.default(model).by_variable()["x"].code
    row = {"x": -1.0, "z": float(frame["z"].min())}
    got = reasons_row(model, row)
    assert got[0]["variable"] == "x" and got[0]["code"] == f"{code}S" and got[0]["text"] == "x: special value -1"
    assert not got[0]["missing"]
    table = reason_table(model, pd.DataFrame([row]))
    assert table.iloc[0].tolist()[:2] == [f"{code}S", "x: special value -1"]
    assert reasons_row(model, {**row, "x": None})[0]["code"] == f"{code}M"
    # the code table: export, edit the special text, import
    save_bundle(model, tmp_path / "m", extras=reason_docs(model, frame))
    r = run("reasons", "export", tmp_path / "m", tmp_path / "codes.csv")
    assert r.returncode == 0, r.stderr
    codes = pd.read_csv(tmp_path / "codes.csv", encoding="utf-8-sig", keep_default_na=False)
    assert codes.set_index("variable").loc["x", ["special_code", "special_text"]].tolist() == \
        [f"{code}S", "x: special value -1"]
    assert codes.set_index("variable").loc["z", "special_code"] == ""
    codes.loc[codes["variable"] == "x", "special_text"] = "x: no record"
    codes.to_csv(tmp_path / "codes.csv", index=False, encoding="utf-8-sig")
    r = run("reasons", "import", tmp_path / "m", tmp_path / "codes.csv")
    assert r.returncode == 0, r.stderr
    assert reasons_row(load_bundle(tmp_path / "m"), row)[0]["text"] == "x: no record"
    codes.loc[codes["variable"] == "z", "special_code"] = "RZS"
    codes.to_csv(tmp_path / "bad.csv", index=False, encoding="utf-8-sig")
    r = run("reasons", "import", tmp_path / "m", tmp_path / "bad.csv")
    assert r.returncode == 2 and "'z' has no special values" in r.stderr
    # a table stored before special codes existed: special rows read as the regular code
    old = ReasonCodes.from_dict({"version": 1, "codes": [
        {k: v for k, v in c.items() if not k.startswith("special")} for c in ReasonCodes.default(model).to_dict()["codes"]]})
    assert Reasoner(model, codes=old).row(row)[0]["code"] == code
    assert all("special_code" not in c for c in ReasonCodes.default(card).to_dict()["codes"])
    assert "special_code" not in ReasonCodes.default(card).to_frame().columns


def test_a_large_table_is_given_reasons_in_chunks_as_in_one_piece(card, applicants, monkeypatch):
    """`Reasoner.table` works 200,000 rows at a time (memory); the chunks give the table of one piece, index
    included, and an infinity in a later chunk is refused naming its row in the whole table."""
    import creditflow.scoring.reasons as reasons

    whole = reason_table(card, applicants)
    monkeypatch.setattr(reasons, "TABLE_CHUNK_ROWS", 7)
    pd.testing.assert_frame_equal(reason_table(card, applicants), whole)
    bad = applicants.copy()
    bad.loc[bad.index[300], card.features_[0]] = np.inf
    with pytest.raises(CreditflowError) as err:
        reason_table(card, bad)
    assert err.value.row == 301
    held = applicants.astype({card.features_[0]: object})  # numbers in an object column: checked once read as such
    held.loc[held.index[300], card.features_[0]] = float("inf")
    with pytest.raises(CreditflowError) as err:
        reason_table(card, held)
    assert err.value.row == 301

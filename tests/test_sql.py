"""`creditflow sql`: a scorecard bundle as one query, run in real SQLite, DuckDB and PostgreSQL databases on the
real data, must give every row the score and grade `creditflow score` gives it."""

from __future__ import annotations

import sqlite3

import duckdb
import numpy as np
import pandas as pd
import pytest

import creditflow as cf
from creditflow.data.errors import CreditflowError
from creditflow.scoring.sql import scorecard_sql
from tests.conftest import GERMAN, UCI, UCI_TARGET
from tests.service_support import postgres  # noqa: F401
from tests.test_compare import run


def _odd_german_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows a database may hold: a NULL category, padded text, an unseen category, a NULL amount."""
    odd = frame.head(5).copy()
    odd["app_id"] = [90_000 + i for i in range(5)]
    odd.loc[odd.index[0], "purpose"] = None
    odd.loc[odd.index[1], "purpose"] = "  radio/television  "
    odd.loc[odd.index[2], "purpose"] = "spaceship"
    odd.loc[odd.index[3], "credit_amount"] = np.nan
    return odd


@pytest.fixture(scope="module")
def bundles(tmp_path_factory):
    """A uci_taiwan scorecard trained by the CLI, and german_credit scorecard with the rows to score."""
    root = tmp_path_factory.mktemp("sql")
    r = run("train", UCI, "--target", UCI_TARGET, "--id", "ID", "--exclude", "SEX", "--exclude", "MARRIAGE",
            "--exclude", "AGE", "--out", root / "uci")
    assert r.exit_code == 0, r.output
    german = pd.read_csv(GERMAN)
    german.insert(0, "app_id", np.arange(len(german)))
    german = pd.concat([german, _odd_german_rows(german)], ignore_index=True)
    german.to_csv(root / "german.csv", index=False)
    r = run("train", root / "german.csv", "--target", "creditability", "--id", "app_id", "--exclude",
            "personal_status_and_sex", "--exclude", "age_in_years", "--exclude", "foreign_worker", "--out", root / "de")
    assert r.exit_code == 0, r.output
    expected = {}
    for name, data in (("uci", UCI), ("de", root / "german.csv")):
        r = run("score", root / name / "model", data, "--out", root / f"{name}_scores.csv", "--no-reasons",
                "--allow-unseen")
        assert r.exit_code == 0, r.output
        expected[name] = pd.read_csv(root / f"{name}_scores.csv")
    tables = {"uci": pd.read_csv(UCI).drop(columns=[UCI_TARGET]), "de": german.drop(columns=["creditability"])}
    return root, tables, expected


def _query(root, name: str, dialect: str, *extra: str) -> str:
    r = run("sql", root / name / "model", "--table", "applicants", "--dialect", dialect, *extra)
    assert r.exit_code == 0, r.output
    return r.stdout


def _check(got: pd.DataFrame, expected: pd.DataFrame, id_col: str) -> None:
    got = got.set_index(id_col).loc[expected[id_col]]
    assert len(got) == len(expected)
    assert np.array_equal(got["score"].to_numpy(dtype=np.int64), expected["score"].to_numpy())
    assert got["grade"].tolist() == expected["grade"].tolist()
    assert np.allclose(got["probability"].to_numpy(dtype=float), expected["probability"].to_numpy(), rtol=1e-12,
                       atol=0)


@pytest.mark.parametrize("dialect", ["sqlite", "duckdb"])
def test_the_query_scores_every_row_as_creditflow_score_does(bundles, dialect):
    root, tables, expected = bundles
    for name, id_col in (("uci", "ID"), ("de", "app_id")):
        sql = _query(root, name, dialect, "--probability", "--points")
        if dialect == "sqlite":
            con = sqlite3.connect(":memory:")
            tables[name].to_sql("applicants", con, index=False)
            got = pd.read_sql(sql, con)
        else:
            con = duckdb.connect()
            con.register("frame", tables[name])
            con.execute("CREATE TABLE applicants AS SELECT * FROM frame")
            got = con.execute(sql).df()
        _check(got, expected[name], id_col)
        points = got.filter(like="points_").sum(axis=1) + got["base_points"]
        assert np.array_equal(np.clip(points, 350, 950).to_numpy(), got["score"].to_numpy())
        assert got.filter(like="points_").shape[1] == len(cf.load_bundle(root / name / "model").model.features_)


def test_the_query_runs_in_postgresql(bundles, postgres):  # noqa: F811
    import psycopg

    root, tables, expected = bundles
    types = {"i": "BIGINT", "f": "DOUBLE PRECISION", "O": "TEXT"}
    with psycopg.connect(postgres.url, autocommit=True) as conn:
        for name, id_col in (("uci", "ID"), ("de", "app_id")):
            frame = tables[name]
            conn.execute("DROP TABLE IF EXISTS applicants")
            cols = ", ".join(f'"{c}" {types[frame[c].dtype.kind]}' for c in frame.columns)
            conn.execute(f"CREATE TABLE applicants ({cols})")
            with conn.cursor().copy("COPY applicants FROM STDIN") as copy:
                for row in frame.astype(object).where(frame.notna(), None).itertuples(index=False):
                    copy.write_row(row)
            cur = conn.execute(_query(root, name, "postgresql", "--probability"))
            got = pd.DataFrame(cur.fetchall(), columns=[d.name for d in cur.description])
            _check(got, expected[name], id_col)


def test_rows_the_model_refuses_get_a_null_score_never_a_wrong_one(bundles):
    root, tables, _ = bundles
    con = sqlite3.connect(":memory:")
    frame = tables["uci"].head(4).astype(object)
    con.execute("CREATE TABLE applicants (" + ", ".join(f'"{c}" REAL' for c in frame.columns) + ")")
    frame.loc[0, "PAY_0"] = "two"  # text in a numeric column: SQLite's CAST would make it 0.0
    frame.loc[1, "LIMIT_BAL"] = float("inf")
    frame.loc[2, "PAY_0"] = " "  # blank: missing, as creditflow reads it
    con.executemany(f"INSERT INTO applicants VALUES ({', '.join('?' * frame.shape[1])})",
                    frame.itertuples(index=False))
    got = pd.read_sql(_query(root, "uci", "sqlite"), con).set_index("ID").loc[frame["ID"].tolist()]
    assert got["score"].isna().tolist() == [True, True, False, False]
    model = cf.load_bundle(root / "uci" / "model").model
    expected = model.predict_score(tables["uci"].iloc[2:4].astype(float).assign(
        PAY_0=[np.nan, float(tables["uci"]["PAY_0"].iloc[3])]))
    assert got["score"].iloc[2:].astype(int).tolist() == expected.tolist()
    # a column of text (a CSV `.import`ed into SQLite without declared types): no score, not a guessed one
    tables["uci"].head(3).astype(str).to_sql("applicants", con, index=False, if_exists="replace")
    assert pd.read_sql(_query(root, "uci", "sqlite"), con)["score"].isna().all()


def test_refusals_are_one_line_with_exit_status_2(bundles, tmp_path):
    root, _, _ = bundles
    r = run("train", UCI, "--target", UCI_TARGET, "--id", "ID", "--model", "gbdt", "--param", "tune=false",
            "--out", tmp_path / "gb")
    assert r.exit_code == 0, r.output
    for args, message in [
        (["sql", tmp_path / "gb" / "model", "--table", "t"], "only a fitted scorecard"),
        (["sql", root / "uci" / "model", "--table", "t", "--dialect", "oracle"], "unknown SQL dialect"),
        (["sql", root / "uci" / "model", "--table", " "], "the table to score must be named"),
        (["sql", root / "uci" / "model", "--table", "t", "--out", UCI], "the file exists"),
        (["sql", tmp_path / "nowhere", "--table", "t"], "nowhere"),
    ]:
        r = run(*args)
        assert r.exit_code == 2 and message in r.output and "Traceback" not in r.output, (args, r.output)
    out = tmp_path / "score.sql"
    assert run("sql", root / "uci" / "model", "--table", "risk.applicants", "--out", out).exit_code == 0
    assert 'FROM "risk"."applicants"' in out.read_text(encoding="utf-8")


@pytest.mark.filterwarnings("ignore::creditflow.data.errors.LeakageWarning")
def test_names_are_quoted_whatever_they_hold():
    X = pd.DataFrame({'weird "name"; DROP TABLE x': np.r_[np.zeros(300), np.ones(300)], "月收入": np.arange(600.0)})
    y = np.r_[np.zeros(250), np.ones(50), np.zeros(100), np.ones(200)]
    card = cf.Scorecard(selection={"min_iv": 0.0}).fit(X, y)
    assert len(card.features_) == 2
    con = sqlite3.connect(":memory:")
    X.assign(app=np.arange(600)).to_sql("t", con, index=False)
    got = pd.read_sql(scorecard_sql(card, "t", id_columns=["app"], dialect="sqlite"), con).set_index("app")
    assert np.array_equal(got.loc[np.arange(600), "score"].to_numpy(), card.predict_score(X))
    with pytest.raises(CreditflowError, match="only a fitted scorecard"):
        scorecard_sql(cf.Scorecard(), "t")


@pytest.mark.parametrize("dialect", ["sqlite", "duckdb"])
def test_declared_special_values_keep_their_bins(dialect):
    """uci_taiwan's PAY_x of -2 (no consumption) declared special, on a numeric and a categorical column."""
    frame = pd.read_csv(UCI).head(6000)
    y = frame.pop(UCI_TARGET).to_numpy()
    X = frame.drop(columns=["ID", "SEX", "MARRIAGE", "AGE"]).astype({"EDUCATION": str})
    X.loc[X.index[:40], "EDUCATION"] = "-2"
    card = cf.Scorecard(special_values=[-2], categorical=["EDUCATION"], selection={"min_iv": 0.0}).fit(X, y)
    assert {v for v, vb, _, _ in card._compiled if vb.special_values} >= {"PAY_0", "EDUCATION"}
    X = X.assign(rid=np.arange(len(X)))
    sql = scorecard_sql(card, "applicants", id_columns=["rid"], dialect=dialect)
    if dialect == "sqlite":
        con = sqlite3.connect(":memory:")
        X.to_sql("applicants", con, index=False)
        got = pd.read_sql(sql, con)
    else:
        con = duckdb.connect()
        con.register("frame", X)
        got = con.execute(f"CREATE TABLE applicants AS SELECT * FROM frame; {sql}").df()
    got = got.set_index("rid").loc[X["rid"]]
    assert np.array_equal(got["score"].to_numpy(), card.predict_score(X.drop(columns=["rid"])))


@pytest.fixture(scope="module")
def coded_card():
    """A uci_taiwan card on MARRIAGE and EDUCATION read as text codes (categorical) and PAY_0 (numeric)."""
    frame = pd.read_csv(UCI).head(6000)
    y = frame.pop(UCI_TARGET).to_numpy()
    X = frame[["MARRIAGE", "EDUCATION", "PAY_0", "LIMIT_BAL"]].astype({"MARRIAGE": object, "EDUCATION": str})
    X["MARRIAGE"] = X["MARRIAGE"].astype(str).where((frame["ID"] % 5 > 0) | (y == 0), None)  # Missing: own points
    card = cf.Scorecard(categorical=["MARRIAGE", "EDUCATION"], selection={"min_iv": 0.0}).fit(X, y)
    assert {"MARRIAGE", "PAY_0"} <= set(card.features_)
    points = card.points_.loc[card.points_["variable"] == "MARRIAGE", "points"]
    assert len(points) == 4 and points.nunique() == 4  # two groups, Missing and Unseen: a wrong bin shows
    return card


def _run(sql: str, frame: pd.DataFrame, dialect: str) -> pd.DataFrame:
    if dialect == "sqlite":
        con = sqlite3.connect(":memory:")
        frame.to_sql("applicants", con, index=False)
        return pd.read_sql(sql, con)
    con = duckdb.connect()
    con.register("frame", frame)
    return con.execute(f"CREATE TABLE applicants AS SELECT * FROM frame; {sql}").df()


# codes as the model reads them: all of Python's whitespace stripped, a zero fraction ('2.00', a DECIMAL
# column's text) the whole number, '-0.0' 0; the reviewed query put all but the first in the Unseen bin
CODES = ["2", " 2 ", "\t2", "2\n", "\xa02", "\u30002\u3000", "2.00", "1.000", "-0.0", "-0.00", "0", "-0", "02",
         "2.5", "\t", "\u3000", None]


@pytest.mark.parametrize("dialect", ["sqlite", "duckdb"])
def test_category_codes_are_read_as_the_model_reads_them(coded_card, dialect):
    rows = pd.DataFrame({"rid": np.arange(len(CODES)), "MARRIAGE": CODES, "EDUCATION": "2", "PAY_0": 0.0,
                         "LIMIT_BAL": 50_000.0})
    expected = coded_card.scores(rows.drop(columns=["rid"]))
    got = _run(scorecard_sql(coded_card, "applicants", id_columns=["rid"], dialect=dialect), rows, dialect)
    got = got.set_index("rid").loc[rows["rid"]]
    assert got["score"].tolist() == expected["score"].tolist()
    assert got["grade"].tolist() == expected["grade"].tolist()


def test_a_decimal_code_column_is_read_as_its_whole_numbers(coded_card):
    """A DECIMAL(5,2) column of codes (DuckDB writes 2 as '2.00'; psycopg gives Decimal('2.00'))."""
    from decimal import Decimal

    con = duckdb.connect()
    con.execute("CREATE TABLE applicants AS SELECT rid, CAST(m AS DECIMAL(5, 2)) AS \"MARRIAGE\", '2' AS \"EDUCATION\", "
                "0.0::DOUBLE AS \"PAY_0\", 50000.0::DOUBLE AS \"LIMIT_BAL\" FROM (VALUES (0, 1), (1, 2), (2, 3)) v(rid, m)")
    got = con.execute(scorecard_sql(coded_card, "applicants", id_columns=["rid"], dialect="duckdb")).df()
    expected = [coded_card.score_row({"MARRIAGE": Decimal(f"{m}.00"), "EDUCATION": "2", "PAY_0": 0.0,
                                      "LIMIT_BAL": 50_000.0})["score"] for m in (1, 2, 3)]
    assert got.sort_values("rid")["score"].tolist() == expected


def test_a_refused_row_gets_no_grade_either(coded_card):
    rows = pd.DataFrame({"rid": [0, 1], "MARRIAGE": ["1", "1"], "EDUCATION": "2", "PAY_0": [0.0, float("inf")],
                         "LIMIT_BAL": 50_000.0})
    got = _run(scorecard_sql(coded_card, "applicants", id_columns=["rid"], dialect="sqlite", probability=True),
               rows, "sqlite").set_index("rid")
    assert got.loc[0, "score"] == coded_card.predict_score(rows.iloc[:1].drop(columns=["rid"]))[0]
    assert got.loc[1, ["score", "grade", "probability"]].isna().all()  # the reviewed query graded it E


@pytest.mark.parametrize("dialect", ["sqlite", "duckdb"])
def test_a_model_column_missing_from_the_table_stops_the_query(coded_card, dialect):
    """SQLite read the unqualified "MARRIAGE" of a table without it as the text 'MARRIAGE': every row was
    scored in the Unseen bin, silently."""
    rows = pd.DataFrame({"rid": [0, 1], "EDUCATION": "2", "PAY_0": 0.0, "LIMIT_BAL": 50_000.0})
    with pytest.raises(Exception, match="MARRIAGE"):
        _run(scorecard_sql(coded_card, "applicants", id_columns=["rid"], dialect=dialect), rows, dialect)


@pytest.mark.parametrize("dialect", ["sqlite", "duckdb"])
def test_carried_columns_may_be_named_like_the_querys_own(coded_card, dialect):
    """An id column called score (an old bureau score carried through) is neither taken for the score nor
    makes it ambiguous."""
    rows = pd.DataFrame({"rid": [0, 1], "score": [123, 456], "cf_total": [1, 2], "MARRIAGE": ["1", "2"],
                         "EDUCATION": "2", "PAY_0": 0.0, "LIMIT_BAL": 50_000.0})
    sql = scorecard_sql(coded_card, "applicants", id_columns=["rid", "score", "cf_total"], dialect=dialect)
    got = _run(sql, rows, dialect)
    assert got.iloc[:, :3].to_numpy().tolist() == [[0, 123, 1], [1, 456, 2]]
    assert got.iloc[:, 3].tolist() == coded_card.predict_score(rows.drop(columns=["rid", "score", "cf_total"])).tolist()


def test_nan_is_missing_in_postgresql_as_in_the_model(coded_card, postgres):  # noqa: F811
    """PostgreSQL holds a NaN (NaN = NaN there): the model reads it as missing; the reviewed query gave NULL."""
    import psycopg

    rows = pd.DataFrame({"rid": [0, 1], "MARRIAGE": ["1", "2"], "EDUCATION": "2", "PAY_0": [float("nan"), 1.0],
                         "LIMIT_BAL": [50_000.0, float("nan")]})
    with psycopg.connect(postgres.url, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS applicants")
        conn.execute('CREATE TABLE applicants (rid BIGINT, "MARRIAGE" TEXT, "EDUCATION" TEXT, "PAY_0" DOUBLE PRECISION, '
                     '"LIMIT_BAL" NUMERIC)')
        with conn.cursor().copy("COPY applicants FROM STDIN") as copy:
            for row in rows.itertuples(index=False):
                copy.write_row(row)
        cur = conn.execute(scorecard_sql(coded_card, "applicants", id_columns=["rid"], dialect="postgresql"))
        got = pd.DataFrame(cur.fetchall(), columns=[d.name for d in cur.description]).sort_values("rid")
        assert got["score"].tolist() == coded_card.predict_score(rows.drop(columns=["rid"])).tolist()
        # codes in a float column: a NaN is missing there too, where the text 'NaN' would be a category (Unseen)
        conn.execute('ALTER TABLE applicants ALTER COLUMN "MARRIAGE" TYPE DOUBLE PRECISION USING "MARRIAGE"::float8')
        conn.execute("""UPDATE applicants SET "MARRIAGE" = 'NaN', "LIMIT_BAL" = 1 WHERE rid = 1""")
        cur = conn.execute(scorecard_sql(coded_card, "applicants", id_columns=["rid"], dialect="postgresql"))
        got = pd.DataFrame(cur.fetchall(), columns=[d.name for d in cur.description]).sort_values("rid")
    rows.loc[1, ["MARRIAGE", "LIMIT_BAL"]] = [None, 1.0]
    assert got["score"].tolist() == coded_card.predict_score(rows.drop(columns=["rid"])).tolist()


def test_postgresql_reads_codes_as_the_model_in_utf8_and_latin1_databases(coded_card, postgres):  # noqa: F811
    """The Unicode spaces are trimmed in a UTF8 database; a LATIN1 one (where chr(12288) is refused, even in
    a CASE arm never taken) still runs the query, trimming what it can hold."""
    import psycopg

    base = postgres.url.rsplit("/", 1)[0]
    with psycopg.connect(postgres.url, autocommit=True) as conn:
        conn.execute("DROP DATABASE IF EXISTS latin")
        conn.execute("CREATE DATABASE latin ENCODING 'LATIN1' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0")
    for url, codes in ((postgres.url, CODES), (f"{base}/latin", [c for c in CODES if c is None or "\u3000" not in c])):
        rows = pd.DataFrame({"rid": np.arange(len(codes)), "MARRIAGE": codes, "EDUCATION": "2", "PAY_0": 0.0,
                             "LIMIT_BAL": 50_000.0})
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("DROP TABLE IF EXISTS applicants")
            conn.execute('CREATE TABLE applicants (rid BIGINT, "MARRIAGE" TEXT, "EDUCATION" TEXT, '
                         '"PAY_0" DOUBLE PRECISION, "LIMIT_BAL" DOUBLE PRECISION)')
            with conn.cursor().copy("COPY applicants FROM STDIN") as copy:
                for row in rows.astype(object).where(rows.notna(), None).itertuples(index=False):
                    copy.write_row(row)
            cur = conn.execute(scorecard_sql(coded_card, "applicants", id_columns=["rid"], dialect="postgresql"))
            got = pd.DataFrame(cur.fetchall(), columns=[d.name for d in cur.description]).sort_values("rid")
        assert got["score"].tolist() == coded_card.predict_score(rows.drop(columns=["rid"])).tolist(), url

"""A scorecard as one SQL query: score a table where it lives (PostgreSQL, DuckDB, SQLite).

The query bins each model column as the model does (missing, declared special values, the cut points,
the categories), adds the bins' integer points to the base points in the model's order, clips to the
score scale and grades: the same integer score and grade as `creditflow score`, checked row for row by
the tests on all three databases. The probability of bad is the same sum of per-bin log-odds in double
precision, equal to the model's to within rounding (the databases' `EXP`).

What the query cannot do that `creditflow score` does is refuse a row with a message; such rows get NULL
bins, so a NULL score and grade (never wrong ones): an infinite number, and under SQLite a text value in a
numeric model column (PostgreSQL and DuckDB stop the query with their own cast error instead). A
category never seen in training gets the Unseen bin's points, as `score --allow-unseen` does; only NULL,
a float NaN and blank text are missing (a text such as 'NA' is a category, which `read_table` would read
as missing). Text is trimmed of what Python's `str.strip()` trims, and an integer code matches its float
and DECIMAL forms ('3.0', '3.00'), as `category_key` reads them.
"""

from __future__ import annotations

import re
from typing import Any

from creditflow.binning.variable import VariableBinning
from creditflow.data.errors import CreditflowError

DIALECTS = ("postgresql", "duckdb", "sqlite")
_INTEGER_KEY = re.compile(r"-?\d+")
# what Python's str.strip() strips (category_key and the numeric checks strip text so); SQL's TRIM only spaces
_WHITESPACE = [c for c in range(0x3001) if chr(c).isspace()]
SOURCE = "cf_src"  # the scored table's alias: its columns are named through it (see `column_ref`)


def quote_name(name: str) -> str:
    """A double-quoted SQL identifier (a column or table name as it is, any characters)."""
    if "\x00" in name:
        raise CreditflowError(f"a name with a NUL character cannot be written in SQL: {name!r}")
    return '"' + name.replace('"', '""') + '"'


def column_ref(name: str) -> str:
    """A column of the scored table, qualified by its alias: SQLite reads an unqualified double-quoted name
    that no column has as a text literal, so a model column missing from the table would be scored as that
    text (a categorical one in its Unseen bin) instead of stopping the query with "no such column"."""
    return f"{SOURCE}.{quote_name(name)}"


def _whitespace(dialect: str) -> str:
    """The characters Python's `str.strip()` removes, as an SQL text expression of the dialect."""
    if dialect == "sqlite":
        return f"char({', '.join(map(str, _WHITESPACE))})"
    if dialect == "postgresql":
        # chr() names a code point in a UTF8 database only (in another it refuses one above 127, or names a
        # byte of its own encoding: the LATINn ones are Unicode's up to 255), and PostgreSQL folds a constant
        # chr(12288) when it plans the query, even in a CASE arm never taken: so the set is built once per
        # query, of what the database's encoding can hold
        return (f"(SELECT string_agg(chr(c), '') FROM unnest(ARRAY[{', '.join(map(str, _WHITESPACE))}]) AS cf_ws(c) "
                "WHERE c < 128 OR current_setting('server_encoding') = 'UTF8' "
                "OR (c < 256 AND current_setting('server_encoding') LIKE 'LATIN%'))")
    return "(" + " || ".join(f"chr({c})" for c in _WHITESPACE) + ")"


def _trim(text: str, dialect: str) -> str:
    return f"TRIM({text}, {_whitespace(dialect)})"


def _text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _number(value: float) -> str:
    """A float literal that reads back as the same double (Python's shortest round-trip repr)."""
    text = repr(float(value))
    if text in ("inf", "-inf", "nan"):
        raise CreditflowError(f"a cut point or special value of {value!r} cannot be written in SQL")
    return text


def _numeric_bin(column: str, vb: VariableBinning, dialect: str) -> str:
    """CASE giving the bin index of a numeric column, as `VariableBinning.bin_indices` does."""
    x = f"CAST({column} AS DOUBLE PRECISION)"
    finite = [f"WHEN {x} = {_number(v)} THEN {vb.missing_index + 1 + k}" for k, v in enumerate(vb.special_values)]
    finite += [f"WHEN {x} < {_number(s)} THEN {i}" for i, s in enumerate(vb.splits)]
    finite.append(f"ELSE {len(vb.splits)}")
    if dialect == "sqlite":
        # by storage class, each value tested once (SQLite would cast text to 0.0 silently: blank text is
        # missing, other text NULL; it has no NaN, and an infinite real fails x - x = 0)
        return (f"CASE typeof({column}) WHEN 'null' THEN {vb.missing_index} "
                f"WHEN 'integer' THEN CASE {' '.join(finite)} END "
                f"WHEN 'real' THEN CASE WHEN ({column} - {column} = 0) IS NOT TRUE THEN NULL {' '.join(finite)} END "
                f"WHEN 'text' THEN CASE WHEN {_trim(column, dialect)} = '' THEN {vb.missing_index} END END")
    whens = [f"WHEN {column} IS NULL THEN {vb.missing_index}",
             # a NaN (PostgreSQL and DuckDB hold one; NaN = NaN there) is missing to the model, as in pandas
             f"WHEN {x} = CAST('NaN' AS DOUBLE PRECISION) THEN {vb.missing_index}",
             f"WHEN ({x} - {x} = 0) IS NOT TRUE THEN NULL",  # infinite: refused by the model
             *finite]
    return "CASE " + " ".join(whens) + " END"


def _key_forms(key: str) -> tuple[list[str], list[str], list[str]]:
    """The texts a category's key matches as they are, in lower case (true/false in any case), and as the
    whole part of a number with only zeros after its point (an integer code as a float or a DECIMAL column
    writes it, '3.0', '3.00'; '-0.0' is 0), as `category_key` reads them."""
    if key in ("True", "False"):
        return [], [key.lower()], []
    if not _INTEGER_KEY.fullmatch(key):
        return [key], [], []
    return [key], [], [] if key == "-0" else ["0", "-0"] if key == "0" else [key]


def _categorical_bin(column: str, vb: VariableBinning, dialect: str) -> str:
    """CASE giving the bin index of a categorical column: its trimmed text matched to the categories.

    The keys map to bins as `VariableBinning`'s row binner maps them (a declared special value before its
    category); the forms of the keys (`_key_forms`) cannot overlap, so each level of the nested CASEs
    (the text as it is, in lower case, the whole part of a zero fraction) is looked up once.
    """
    k = _trim(f"CAST({column} AS VARCHAR)", dialect)
    z = f"RTRIM({k}, '0')"  # 'W.000' -> 'W.': W is the whole part of a number written with a zero fraction
    whole = f"CASE WHEN {z} LIKE '%.' AND {k} NOT LIKE '%.' THEN SUBSTR({z}, 1, LENGTH({z}) - 1) END"
    mapping = {key: i for key, i in vb.category_bins().items() if key is not None}
    levels: tuple[list[str], list[str], list[str]] = ([f"WHEN '' THEN {vb.missing_index}"], [], [])
    for key, index in mapping.items():
        for level, forms in zip(levels, _key_forms(key), strict=True):
            level += [f"WHEN {_text(form)} THEN {index}" for form in forms]
    case = f"{vb.missing_index + 1 + len(vb.special_values)}"  # the Unseen bin
    for operand, whens in reversed(list(zip((k, f"LOWER({k})", whole), levels, strict=True))):
        if whens:
            case = f"CASE {operand} {' '.join(whens)} ELSE {case} END"
    return f"CASE WHEN {column} IS NULL{_float_nan(column, dialect)} THEN {vb.missing_index} ELSE {case} END"


def _float_nan(column: str, dialect: str) -> str:
    """` OR` a float NaN (missing to the model, as NULL is), told by the column's type from the text 'NaN' (a
    category); SQLite holds no NaN."""
    if dialect == "postgresql":
        return (f" OR (CAST({column} AS VARCHAR) = 'NaN' AND pg_typeof({column}) IN "
                "('double precision'::regtype, 'real'::regtype, 'numeric'::regtype))")
    if dialect == "duckdb":
        return f" OR (LOWER(CAST({column} AS VARCHAR)) IN ('nan', '-nan') AND typeof({column}) IN ('DOUBLE', 'FLOAT'))"
    return ""


def bin_sql(column: str, vb: VariableBinning, dialect: str = "postgresql") -> str:
    """SQL expression of the bin index (0-based, `vb.labels` order) of the column `column` (SQL: `column_ref`)."""
    return _numeric_bin(column, vb, dialect) if vb.kind == "numeric" else _categorical_bin(column, vb, dialect)


def _lookup(index_sql: str, values: list[Any], as_double: bool) -> str:
    """CASE mapping a bin index to its value (points, or log-odds as doubles); NULL for a NULL index."""
    whens = " ".join(f"WHEN {i} THEN {_number(v) if as_double else int(v)}" for i, v in enumerate(values))
    case = f"CASE {index_sql} {whens} END"
    return f"CAST({case} AS DOUBLE PRECISION)" if as_double else case


def scorecard_sql(model: Any, table: str, *, id_columns: list[str] | tuple[str, ...] = (), points: bool = False,
                  probability: bool = False, dialect: str = "postgresql", model_version: str | None = None) -> str:
    """One SELECT scoring every row of `table` with a fitted `Scorecard` or `BoostedScorecard`.

    Columns: `id_columns` as they are, then `score` (integer, the model's scale), `grade`, with
    `probability` the probability of bad (0-1), with `points` `base_points` and one `points_<variable>`
    column per variable and interaction table (they add up to the score before clipping). `table` is a
    table name, optionally schema-qualified (`risk.applicants`); `dialect`: postgresql, duckdb or sqlite;
    `model_version` (the bundle's) goes into the query's header comment. Rows come in the database's order:
    join the result on an id column.
    """
    from creditflow.models.scorecard import Scorecard

    if dialect not in DIALECTS:
        raise CreditflowError(f"unknown SQL dialect {dialect!r}; one of {list(DIALECTS)}")
    if not isinstance(model, Scorecard) or not hasattr(model, "_compiled"):
        kind = getattr(model, "model_type", type(model).__name__)
        raise CreditflowError(f"only a fitted scorecard or boosted scorecard has a points table to write as SQL, "
                              f"not a {kind} model", hint="score a gbdt challenger with `creditflow score`")
    if not table.strip():
        raise CreditflowError("the table to score must be named")
    source = ".".join(quote_name(part) for part in table.split("."))
    ids = list(id_columns)
    parts: list[tuple[str, str, list[int], list[float]]] = []  # (name, bin expression, points, log-odds)
    for var, vb, lp, pts in model._compiled:
        parts.append((var, bin_sql(column_ref(var), vb, dialect), [int(p) for p in pts], [float(v) for v in lp]))
    for t, lp, pts, _, _ in getattr(model, "_pair_plan", None) or []:
        nb = len(t.axis_b.labels)
        cell = (f"({bin_sql(column_ref(t.a), t.axis_a, dialect)}) * {nb} + "
                f"({bin_sql(column_ref(t.b), t.axis_b, dialect)})")
        parts.append((t.name, cell, [int(p) for p in pts], [float(v) for v in lp]))
    binned = [f"    {b} AS {quote_name(f'cf_bin_{i}')}" for i, (_, b, _, _) in enumerate(parts)]
    pointed = [f"    {_lookup(quote_name(f'cf_bin_{i}'), p, False)} AS {quote_name(f'cf_points_{i}')}"
               for i, (_, _, p, _) in enumerate(parts)]
    total = " + ".join([str(int(model.base_points_)), *(quote_name(f"cf_points_{i}") for i in range(len(parts)))])
    if probability:
        logit = " + ".join([_number(model.intercept_),
                            *(_lookup(quote_name(f"cf_bin_{i}"), lp, True) for i, (*_, lp) in enumerate(parts))])
        pointed.append(f"    {logit} AS cf_logit")
    s = model.scaling_
    score = (f"CASE WHEN cf_total < {int(s.min_score)} THEN {int(s.min_score)} "
             f"WHEN cf_total > {int(s.max_score)} THEN {int(s.max_score)} ELSE cf_total END")
    bands = model.grades_.bands
    # a refused row (NULL score) gets no grade either: the ELSE would give it the worst
    grade = ("CASE WHEN cf_score IS NULL THEN NULL "
             + " ".join(f"WHEN cf_score >= {int(m)} THEN {_text(str(g))}" for g, m in bands[:-1])
             + f" ELSE {_text(str(bands[-1][0]))} END")
    # the carried columns go through under names of their own, so that one called score, grade, cf_total...
    # is neither taken for the query's own column nor makes it ambiguous
    out = [f"{quote_name(f'cf_id_{j}')} AS {quote_name(c)}" for j, c in enumerate(ids)]
    out += ["cf_score AS score", f"{grade} AS grade"]
    if probability:
        out.append("1.0 / (1.0 + EXP(-cf_logit)) AS probability")
    if points:
        out.append(f"{int(model.base_points_)} AS base_points")
        out += [f"{quote_name(f'cf_points_{i}')} AS {quote_name('points_' + name)}" for i, (name, *_) in enumerate(parts)]
    carried = "".join(f"{column_ref(c)} AS {quote_name(f'cf_id_{j}')}, " for j, c in enumerate(ids))
    header = (f"-- creditflow {model.model_type} as SQL ({dialect}){f', model {model_version}' if model_version else ''}: "
              f"{len(parts)} variables and tables; score = {int(model.base_points_)} base points + their points, "
              f"clipped to {int(s.min_score)}-{int(s.max_score)}.\n"
              "-- A NULL score marks a row the model refuses (an infinite number; text in a numeric column).\n")
    # SQLite and PostgreSQL inline a CTE's expressions where they are referenced, and the clip and the grade
    # reference the total several times: an OFFSET keeps it a subquery computed once per row (the fence both
    # have honoured in every version, where MATERIALIZED needs PostgreSQL 12 and SQLite 3.35); DuckDB shares
    # common expressions by itself
    fence = {"sqlite": "\n  LIMIT -1 OFFSET 0", "postgresql": "\n  OFFSET 0"}.get(dialect, "")
    return (header
            + "WITH cf_binned AS (\n  SELECT " + carried.rstrip() + ("\n" if ids else "\n")
            + ",\n".join(binned) + f"\n  FROM {source} AS {SOURCE}\n),\n"
            + "cf_pointed AS (\n  SELECT cf_binned.*,\n" + ",\n".join(pointed) + "\n  FROM cf_binned\n),\n"
            + f"cf_total AS (\n  SELECT cf_pointed.*, {total} AS cf_total\n  FROM cf_pointed{fence}\n),\n"
            + f"cf_scored AS (\n  SELECT cf_total.*, {score} AS cf_score\n  FROM cf_total\n)\n"
            + "SELECT " + ",\n       ".join(out) + "\nFROM cf_scored\n")

"""Behaviour features on DuckDB: one generated SQL query per spec.

Each observation is left-joined to its entity's events strictly before the observation time
(and no older than the widest window); every feature column is one aggregate with a
``FILTER (WHERE <window> AND <filters>)`` clause, grouped by observation. Window bounds
(``observation - INTERVAL n MONTH``) are computed once per observation, before the join, so the
per-event work is plain timestamp comparisons.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from creditflow.features.prepare import OBS_ROW, OBS_TS, SEQ, TS
from creditflow.features.spec import BehaviourSpec, FeatureColumn, Term
from creditflow.features.windows import Duration

_DAY_US = "86400000000.0"
OBS_US = "__obs_us"
_SIMPLE = {"sum": "sum", "mean": "avg", "min": "min", "max": "max", "std": "stddev_samp"}


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _minus(obs: str, d: Duration) -> str:
    return obs if d.n == 0 else f"({obs} - {d.sql_interval()})"


def _bound(d: Duration) -> str:
    """The observation column holding ``observation - d``."""
    return f"o.{_q(f'__b_{d}')}"


def _durations(spec: BehaviourSpec) -> list[Duration]:
    out: set[Duration] = set()
    for col in spec.columns:
        for term in col.terms:
            out.add(term.window.start)
            if term.window.offset.n:
                out.add(term.window.offset)
    return sorted(out, key=lambda d: (d.unit, d.n))


def _condition(term: Term) -> str:
    ts = f"e.{_q(TS)}"
    parts = [f"{ts} >= {_bound(term.window.start)}"]
    if term.window.offset.n:
        parts.append(f"{ts} < {_bound(term.window.offset)}")
    parts += [f.to_sql("e.") for f in term.filters]
    return " AND ".join(parts)


def term_sql(term: Term) -> str:
    """The SQL aggregate for one term (NULL when the window holds no usable event, 0 for counts)."""
    cond = _condition(term)
    col = f"CAST(e.{_q(term.column)} AS DOUBLE)" if term.column else None
    obs_us, ts = f"o.{_q(OBS_US)}", f"e.{_q(TS)}"
    if term.agg == "count":
        return f"count({col if col else ts}) FILTER (WHERE {cond})"
    if term.agg in _SIMPLE:
        return f"{_SIMPLE[term.agg]}({col}) FILTER (WHERE {cond})"
    if term.agg in ("last", "first"):
        fn = "arg_max" if term.agg == "last" else "arg_min"
        return f"{fn}({col}, e.{_q(SEQ)}) FILTER (WHERE {cond} AND {col} IS NOT NULL)"
    if term.agg in ("days_since_last", "days_since_first"):
        fn = "max" if term.agg == "days_since_last" else "min"
        if col:
            cond += f" AND {col} IS NOT NULL"
        return f"(({obs_us} - epoch_us({fn}({ts}) FILTER (WHERE {cond}))) / {_DAY_US})"
    if term.agg == "slope":
        x = f"((epoch_us({ts}) - {obs_us}) / {_DAY_US})"
        return f"regr_slope({col}, {x}) FILTER (WHERE {cond})"
    raise ValueError(f"no SQL for aggregation {term.agg!r}")


def column_sql(col: FeatureColumn) -> str:
    """The SQL expression for one output column."""
    if col.term is not None:
        expr = term_sql(col.term)
        return expr if col.term.agg == "count" else f"CAST({expr} AS DOUBLE)"
    assert col.numerator is not None and col.denominator is not None
    return f"(CAST({term_sql(col.numerator)} AS DOUBLE) / NULLIF({term_sql(col.denominator)}, 0))"


def _lowest_bound(spec: BehaviourSpec) -> str:
    widest: dict[str, Duration] = {}
    for d in _durations(spec):
        if d.n >= widest.get(d.unit, d).n:
            widest[d.unit] = d
    bounds = [_bound(d) for d in widest.values()]
    return bounds[0] if len(bounds) == 1 else f"least({', '.join(bounds)})"


def behaviour_sql(spec: BehaviourSpec, events: str = "events", observations: str = "observations") -> str:
    """The whole query: one row per observation (``__obs_row``), one column per windowed feature."""
    ent, obs_ts = _q(spec.entity), _q(OBS_TS)
    bounds = [f"{_minus(obs_ts, d)} AS {_q(f'__b_{d}')}" for d in _durations(spec)]
    selects = [f"o.{_q(OBS_ROW)}"] + [f"{column_sql(c)} AS {_q(c.name)}" for c in spec.columns]
    return (
        f"WITH o AS (\n  SELECT {ent}, {obs_ts}, {_q(OBS_ROW)}, epoch_us({obs_ts}) AS {_q(OBS_US)},\n    "
        + ",\n    ".join(bounds) + f"\n  FROM {observations}\n)\n"
        "SELECT\n  " + ",\n  ".join(selects) + "\n"
        "FROM o\n"
        f"LEFT JOIN {events} AS e\n"
        f"  ON e.{ent} = o.{ent} AND e.{_q(TS)} < o.{obs_ts} AND e.{_q(TS)} >= {_lowest_bound(spec)}\n"
        f"GROUP BY o.{_q(OBS_ROW)}, o.{_q(OBS_US)}"
    )


def compute_duckdb(
    events: pd.DataFrame | str,
    observations: pd.DataFrame,
    spec: BehaviourSpec,
    *,
    connection: Any = None,
) -> pd.DataFrame:
    """Windowed features for each prepared observation (index = ``__obs_row``), computed by DuckDB.

    `events` is a prepared events frame, or the name of a table/view with the same columns in
    `connection`.
    """
    import duckdb

    con = connection if connection is not None else duckdb.connect()
    try:
        if isinstance(events, pd.DataFrame):
            con.register("__cf_events", events)
            events_sql = "__cf_events"
        else:
            events_sql = events
        con.register("__cf_obs", observations[[spec.entity, OBS_TS, OBS_ROW]])
        result = con.sql(behaviour_sql(spec, events_sql, "__cf_obs")).df()
    finally:
        if connection is None:
            con.close()
    result = result.set_index(OBS_ROW).sort_index()
    for col in spec.columns:
        if col.term is not None and col.term.agg == "count":
            result[col.name] = result[col.name].astype("int64")
        else:
            result[col.name] = result[col.name].astype("float64")
    return result

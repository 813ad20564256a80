"""Behaviour features on DuckDB: one generated SQL query per spec.

The query works on (observation, window) pairs rather than on feature columns:

1. every observation is paired with every distinct window of the spec, with the window's bounds
   (``observation - INTERVAL n MONTH``, the upper one capped at ``__obs_until``) computed once per pair;
2. the pairs are joined to their entity's events inside the bounds (events strictly before the
   observation, by construction of the bounds, and for months stamped at their start also written
   before it: ``__raw``);
3. grouped by (observation, window), each distinct *measure* (aggregation, column, filter) is one
   aggregate; a measure used only in some windows carries ``FILTER (WHERE __w IN (...))``.

The result (one row per observation and window holding events) is then laid out as one column per
feature. Computing a measure once per window, instead of once per feature column with a window
filter, does about half the aggregate updates (`benchmarks/bench_features.py`). A large table is queried
in batches of whole entities, each with its entities' events only (`BATCH_PAIRS`), which bounds the memory
of the query and changes no feature.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from creditflow.features.expr import Expression
from creditflow.features.prepare import (
    EVENTS_USED,
    OBS_ROW,
    OBS_TS,
    OBS_UNTIL,
    OBS_WITH_EVENTS,
    RAW,
    ROW,
    SEQ,
    TS,
    keeps_raw_time,
)
from creditflow.features.spec import BehaviourSpec, Term
from creditflow.features.windows import Duration

_DAY_US = "86400000000.0"
OBS_US, WIN, LO, HI = "__obs_us", "__w", "__lo", "__hi"
_SIMPLE = {"sum": "sum", "mean": "avg", "min": "min", "max": "max", "std": "stddev_samp"}


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


@dataclass(frozen=True)
class Measure:
    """A term without its window: aggregation, column and filters (compared by filter text)."""

    agg: str
    column: str | None
    filters: tuple[str, ...]


@dataclass
class Plan:
    """Distinct windows and measures of a spec, and where each output column reads from."""

    windows: list[tuple[Duration, Duration]]  # (start, offset) per window id
    measures: list[Measure]
    expressions: dict[str, Expression]
    used_in: dict[int, set[int]]  # measure id -> window ids it is needed in
    cells: dict[str, tuple[tuple[int, int], tuple[int, int] | None]]  # column -> (num, den) (measure, window)


def plan(spec: BehaviourSpec) -> Plan:
    """Group the spec's terms into distinct windows and measures."""
    windows: list[tuple[Duration, Duration]] = []
    measures: list[Measure] = []
    expressions: dict[str, Expression] = {}
    used_in: dict[int, set[int]] = {}

    def locate(term: Term) -> tuple[int, int]:
        wkey = (term.window.start, term.window.offset)
        if wkey not in windows:
            windows.append(wkey)
        for f in term.filters:
            expressions.setdefault(f.text, f)
        measure = Measure(term.agg, term.column, tuple(f.text for f in term.filters))
        if measure not in measures:
            measures.append(measure)
        m, w = measures.index(measure), windows.index(wkey)
        used_in.setdefault(m, set()).add(w)
        return m, w

    cells: dict[str, tuple[tuple[int, int], tuple[int, int] | None]] = {}
    for col in spec.columns:
        if col.term is not None:
            cells[col.name] = (locate(col.term), None)
        else:
            assert col.numerator is not None and col.denominator is not None
            cells[col.name] = (locate(col.numerator), locate(col.denominator))
    return Plan(windows, measures, expressions, used_in, cells)


def _interval(n_sql: str, unit: str) -> str:
    return f"to_months({n_sql})" if unit == "m" else f"to_days({n_sql})"


def _measure_sql(p: Plan, m: int) -> str:
    measure = p.measures[m]
    conds = [p.expressions[t].to_sql("e.") for t in measure.filters]
    if len(p.used_in[m]) < len(p.windows):
        conds.append(f"ow.{_q(WIN)} IN ({', '.join(str(w) for w in sorted(p.used_in[m]))})")
    col = f"CAST(e.{_q(measure.column)} AS DOUBLE)" if measure.column else None
    ts = f"e.{_q(TS)}"

    def filt(extra: list[str]) -> str:
        allc = conds + extra
        return f" FILTER (WHERE {' AND '.join(allc)})" if allc else ""

    agg = measure.agg
    if agg == "count":
        return f"count({col or ts}){filt([])}"
    if agg in _SIMPLE:
        return f"{_SIMPLE[agg]}({col}){filt([])}"
    if agg in ("last", "first"):
        fn = "arg_max" if agg == "last" else "arg_min"
        return f"{fn}({col}, e.{_q(SEQ)}){filt([f'{col} IS NOT NULL'])}"
    if agg in ("days_since_last", "days_since_first"):
        fn = "max" if agg == "days_since_last" else "min"
        edge = f"{fn}({ts}){filt([f'{col} IS NOT NULL'] if col else [])}"
        return f"((ow.{_q(OBS_US)} - epoch_us({edge})) / {_DAY_US})"
    if agg == "slope":
        x = f"((epoch_us({ts}) - ow.{_q(OBS_US)}) / {_DAY_US})"
        return f"regr_slope({col}, {x}){filt([])}"
    raise ValueError(f"no SQL for aggregation {agg!r}")


def _pairs_sql(spec: BehaviourSpec, p: Plan, events: str, observations: str) -> tuple[str, str]:
    """The (observation, window) pairs (a ``WITH`` clause) and their join to the events inside the bounds."""
    ent, obs_ts = _q(spec.entity), f"o.{_q(OBS_TS)}"
    rows = ", ".join(f"({w}, {s.n}, '{s.unit}', {o.n})" for w, (s, o) in enumerate(p.windows))
    lo = f"CASE w.unit WHEN 'm' THEN {obs_ts} - {_interval('w.start_n', 'm')} ELSE {obs_ts} - {_interval('w.start_n', 'd')} END"
    hi = f"CASE w.unit WHEN 'm' THEN {obs_ts} - {_interval('w.offset_n', 'm')} ELSE {obs_ts} - {_interval('w.offset_n', 'd')} END"
    raw = keeps_raw_time(spec)  # the observation time travels with the pair, to compare the raw time with
    obs_col = f"    {obs_ts},\n" if raw else ""
    written = f"  AND e.{_q(RAW)} < ow.{_q(OBS_TS)}\n" if raw else ""
    pairs = (
        f"WITH w({_q(WIN)}, start_n, unit, offset_n) AS (VALUES {rows}),\n"
        f"ow AS (\n  SELECT o.{ent}, o.{_q(OBS_ROW)}, epoch_us({obs_ts}) AS {_q(OBS_US)}, w.{_q(WIN)},\n{obs_col}"
        f"    {lo} AS {_q(LO)},\n    least({hi}, o.{_q(OBS_UNTIL)}) AS {_q(HI)}\n"
        f"  FROM {observations} AS o CROSS JOIN w\n)\n"
    )
    join = (
        f"FROM ow JOIN {events} AS e\n"
        f"  ON e.{ent} = ow.{ent} AND e.{_q(TS)} >= ow.{_q(LO)} AND e.{_q(TS)} < ow.{_q(HI)}\n{written}"
    )
    return pairs, join


def behaviour_sql(spec: BehaviourSpec, events: str = "events", observations: str = "observations") -> str:
    """The query: one row per (``__obs_row``, window ``__w``) holding events, one column ``m<k>`` per measure."""
    p = plan(spec)
    measures = [f"{_measure_sql(p, m)} AS {_q(f'm{m}')}" for m in range(len(p.measures))]
    pairs, join = _pairs_sql(spec, p, events, observations)
    return (
        pairs + f"SELECT ow.{_q(OBS_ROW)}, ow.{_q(WIN)},\n  " + ",\n  ".join(measures) + "\n"
        + join + f"GROUP BY ow.{_q(OBS_ROW)}, ow.{_q(OBS_US)}, ow.{_q(WIN)}"
    )


def events_used_sql(spec: BehaviourSpec, events: str = "events", observations: str = "observations") -> str:
    """The query counting the distinct events inside at least one window of at least one observation."""
    pairs, join = _pairs_sql(spec, plan(spec), events, observations)
    return pairs + f"SELECT count(DISTINCT e.{_q(ROW)}) AS n\n" + join


# (observation, window) pairs per query. DuckDB's aggregate state and the fetched result grow with the pairs of one
# query (about 1.4 KB per pair for examples/uci_taiwan_features.yaml: 5.8 GB for 1,020,000 observations of 8
# windows in one query), so a large table is queried in batches of whole entities, each with only its entities'
# events. A million pairs kept the time of one query there (smaller batches took longer) at 2.6 GB.
BATCH_PAIRS = 1_000_000


def _entity_batches(events: pd.DataFrame | str, obs: pd.DataFrame, entity: str, size: int
                    ) -> Iterator[tuple[pd.DataFrame | str, pd.DataFrame]]:
    """(events, observations) per batch of about `size` observations, no entity in two batches; a batch gets only
    its entities' events, in their order, when `events` is a frame (a table name is queried whole each time)."""
    if len(obs) <= size:
        yield events, obs
        return
    framed = isinstance(events, pd.DataFrame)
    ids = pd.concat([obs[entity], events[entity]], ignore_index=True) if framed else obs[entity]
    codes = pd.factorize(ids)[0]
    obs_codes = codes[:len(obs)]
    obs_order = np.argsort(obs_codes, kind="stable")
    obs_sorted = obs_codes[obs_order]
    if framed:
        ev_order = np.argsort(codes[len(obs):], kind="stable")
        ev_sorted = codes[len(obs):][ev_order]
    start = 0
    while start < len(obs):
        # the batch ends with the last observation of the entity at its nominal end
        end = int(np.searchsorted(obs_sorted, obs_sorted[min(start + size, len(obs)) - 1], side="right"))
        batch = obs.iloc[np.sort(obs_order[start:end])]
        if framed:
            lo = int(np.searchsorted(ev_sorted, obs_sorted[start], side="left"))
            hi = int(np.searchsorted(ev_sorted, obs_sorted[end - 1], side="right"))
            yield events.iloc[np.sort(ev_order[lo:hi])], batch
        else:
            yield events, batch
        start = end


class _Cells:
    """One array per (measure, window) the spec reads, filled batch by batch at the observations' rows."""

    def __init__(self, p: Plan, n_obs: int) -> None:
        self.p = p
        self.n_obs = n_obs
        self.cells: dict[tuple[int, int], np.ndarray] = {}
        for num, den in p.cells.values():
            for m, w in (num, den) if den is not None else (num,):
                count = p.measures[m].agg == "count"
                self.cells[(m, w)] = np.zeros(n_obs, dtype=np.int64) if count else np.full(n_obs, np.nan)

    def fill(self, result: pd.DataFrame) -> None:
        """Write one batch's result (one row per observation and window holding events) into the cells."""
        win = result[WIN].to_numpy()
        rows = result[OBS_ROW].to_numpy()
        where = {w: (win == w) for w in range(len(self.p.windows))}
        for (m, w), out in self.cells.items():
            sel = where[w]
            values = result[f"m{m}"].to_numpy()[sel]
            out[rows[sel]] = values if out.dtype.kind == "i" else values.astype("float64")

    def frame(self, spec: BehaviourSpec) -> pd.DataFrame:
        """One row per observation, one column per feature, in the spec's order."""
        columns: dict[str, np.ndarray] = {}
        for name, (num, den) in self.p.cells.items():
            if den is None:
                columns[name] = self.cells[num]
            else:
                d = self.cells[den].astype("float64")
                with np.errstate(divide="ignore", invalid="ignore"):
                    columns[name] = self.cells[num].astype("float64") / np.where(d == 0, np.nan, d)
        ordered = {c.name: columns[c.name] for c in spec.columns}
        return pd.DataFrame(ordered, index=pd.RangeIndex(self.n_obs, name=OBS_ROW), copy=False)


def _register(con: Any, events: pd.DataFrame | str, obs: pd.DataFrame) -> None:
    if isinstance(events, pd.DataFrame):
        con.register("__cf_events", events)
    con.register("__cf_obs", obs)


def _plan_shape(con: Any, query: str) -> str:
    """The query's physical plan without its row estimates. DuckDB builds a join's hash table on the side it
    estimates smaller, and a side decides the order in which an (observation, window)'s events reach their
    sums: a batch planned otherwise than the one query gave sums, means, std and slopes differing in the last
    bit (events probing the pairs reach them in their order, pairs probing the events in the reverse)."""
    import json

    rows = con.execute("EXPLAIN (FORMAT JSON) " + query).fetchall()
    text = next((r[1] for r in rows if "physical" in str(r[0])), rows[-1][1])

    def shape(node: dict) -> list:
        info = {k: v for k, v in (node.get("extra_info") or {}).items() if k != "Estimated Cardinality"}
        return [node.get("name"), info, [shape(c) for c in node.get("children", [])]]

    return json.dumps([shape(n) for n in json.loads(text)], sort_keys=True)


def compute_duckdb(
    events: pd.DataFrame | str,
    observations: pd.DataFrame,
    spec: BehaviourSpec,
    *,
    connection: Any = None,
    batch_pairs: int | None = None,
) -> pd.DataFrame:
    """Windowed features for each prepared observation (index = ``__obs_row``), computed by DuckDB.

    `events` is a prepared events frame, or the name of a table/view with the same columns in
    `connection`. Observations are numbered 0..n-1 in ``__obs_row`` (as `prepare_observations` does).
    Without a `connection` the query runs on one DuckDB thread, so the same data give the same floats.
    Observations are queried in batches of whole entities, about `batch_pairs` (observation, window) pairs
    each (default `BATCH_PAIRS`), which bounds the memory of the query, where DuckDB plans every batch as it
    plans the one query (`_plan_shape`); else in one query, so the features do not depend on the batches.
    ``attrs`` of the result: the events inside some window of some observation (`EVENTS_USED`) and the
    observations with at least one event inside some window (`OBS_WITH_EVENTS`).
    """
    import duckdb

    p = plan(spec)
    n_obs = len(observations)
    cells = _Cells(p, n_obs)
    n_used = with_events = 0
    events_sql = "__cf_events" if isinstance(events, pd.DataFrame) else events
    query, used_query = behaviour_sql(spec, events_sql, "__cf_obs"), events_used_sql(spec, events_sql, "__cf_obs")
    obs = observations[[spec.entity, OBS_TS, OBS_ROW, OBS_UNTIL]]
    size = max(1, int(batch_pairs or BATCH_PAIRS) // max(len(p.windows), 1))
    # One thread: DuckDB merges partial sums of one group in whatever order its threads finish, so float
    # features (sum, std, slope) differed in the last digit from run to run. Scale-out is per entity
    # partition on a cluster (`creditflow.distributed.features`), where a thread per task is what fits.
    con = connection if connection is not None else duckdb.connect(config={"threads": 1})

    def run() -> None:  # the query on the registered events and observations
        nonlocal n_used, with_events
        result = con.sql(query).df()
        cells.fill(result)
        with_events += int(result[OBS_ROW].nunique())  # a (observation, window) row holds events
        del result
        # batches share no entity, so no event is inside the windows of two batches
        n_used += int(con.execute(used_query).fetchall()[0][0])

    try:
        batched = len(obs) > size
        if batched:
            _register(con, events, obs)
            whole = _plan_shape(con, query)
            for batch_events, batch in _entity_batches(events, obs, spec.entity, size):
                _register(con, batch_events, batch)
                if _plan_shape(con, query) != whole:  # its floats could differ from the one query's: one query
                    batched = False
                    cells, n_used, with_events = _Cells(p, n_obs), 0, 0
                    break
                run()
        if not batched:
            _register(con, events, obs)
            run()
    finally:
        if connection is None:
            con.close()
    out = cells.frame(spec)
    out.attrs[EVENTS_USED] = n_used
    out.attrs[OBS_WITH_EVENTS] = with_events
    return out

"""Behaviour features with plain pandas groupby: the reference the DuckDB engine is tested against.

Events are merged with the observations of their entity, kept when strictly before the
observation time (``__obs_until``, and ``__raw`` before the observation where present), sorted by (observation, time, input row), and each term is a masked groupby.
"""

from __future__ import annotations

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
)
from creditflow.features.spec import BehaviourSpec, Term
from creditflow.features.windows import Window

_DAY = pd.Timedelta(days=1)


class _Joined:
    """Events joined to observations, with cached window and filter masks."""

    def __init__(self, events: pd.DataFrame, observations: pd.DataFrame, spec: BehaviourSpec) -> None:
        obs = observations[[spec.entity, OBS_TS, OBS_ROW, OBS_UNTIL]].sort_values(OBS_ROW).reset_index(drop=True)
        self.obs_ts = obs[OBS_TS]
        self.until = obs[OBS_UNTIL].to_numpy()
        self.n_obs = len(obs)
        windows = {t.window for c in spec.columns for t in c.terms}
        lowest = None
        for w in windows:
            lo = w.start.subtract_from(self.obs_ts)
            lowest = lo if lowest is None else np.minimum(lowest, lo)
        joined = events.merge(obs, on=spec.entity, how="inner")
        low = lowest.to_numpy()[joined[OBS_ROW].to_numpy()]  # type: ignore[union-attr]
        ts = joined[TS].to_numpy()
        keep = (ts < joined[OBS_UNTIL].to_numpy()) & (ts >= low)
        if RAW in joined.columns:
            keep &= joined[RAW].to_numpy() < joined[OBS_TS].to_numpy()
        joined = joined[keep]
        self.frame = joined.sort_values([OBS_ROW, SEQ], kind="stable").reset_index(drop=True)
        self.group = self.frame[OBS_ROW].to_numpy()
        self._windows: dict[Window, np.ndarray] = {}
        self._filters: dict[str, np.ndarray] = {}

    def window_mask(self, w: Window) -> np.ndarray:
        if w not in self._windows:
            lo, hi = w.bounds(self.obs_ts)
            ts = self.frame[TS].to_numpy()
            hi = np.minimum(hi.to_numpy(), self.until)[self.group]
            self._windows[w] = (ts >= lo.to_numpy()[self.group]) & (ts < hi)
        return self._windows[w]

    def filter_mask(self, f: Expression) -> np.ndarray:
        if f.text not in self._filters:
            self._filters[f.text] = f.mask(self.frame)
        return self._filters[f.text]

    def mask(self, term: Term) -> np.ndarray:
        out = self.window_mask(term.window)
        for f in term.filters:
            out = out & self.filter_mask(f)
        return out

    def by_obs(self, values: pd.Series, how: str, **kwargs: object) -> pd.Series:
        """Aggregate `values` per observation, reindexed to every observation."""
        grouped = getattr(values.groupby(self.group, sort=True), how)(**kwargs)
        return grouped.reindex(np.arange(self.n_obs))


def term_pandas(j: _Joined, term: Term) -> pd.Series:
    """One term per observation, with the same missing-value rules as the SQL."""
    mask = j.mask(term)
    frame = j.frame
    col = frame[term.column].astype("float64") if term.column else None
    if col is not None and term.agg != "count":
        mask = mask & col.notna().to_numpy()
    if term.agg == "count":
        hits = mask & (col.notna().to_numpy() if col is not None else True)
        return j.by_obs(pd.Series(hits.astype("int64")), "sum").fillna(0).astype("int64")
    if term.agg in ("sum", "mean", "min", "max", "std", "last", "first"):
        values = col.where(mask)  # type: ignore[union-attr]
        if term.agg == "sum":
            return j.by_obs(values, "sum", min_count=1)
        if term.agg == "std":
            return j.by_obs(values, "std", ddof=1)
        return j.by_obs(values, term.agg)
    if term.agg in ("days_since_last", "days_since_first"):
        ts = frame[TS].where(mask)
        edge = j.by_obs(ts, "max" if term.agg == "days_since_last" else "min")
        return (j.obs_ts - edge) / _DAY
    if term.agg == "slope":
        x = ((frame[TS] - j.obs_ts.to_numpy()[j.group]) / _DAY).where(mask)
        y = col.where(mask)  # type: ignore[union-attr]
        dx = x - x.groupby(j.group).transform("mean")
        sxx = j.by_obs(dx * dx, "sum", min_count=1)
        sxy = j.by_obs(dx * y, "sum", min_count=1)
        # equal times whose mean rounds off (-0.1 day) leave sxx ~1e-32, not 0: count the distinct times instead
        distinct = j.by_obs(x, "nunique")
        return (sxy / sxx.where((sxx > 0) & (distinct >= 2))).astype("float64")
    raise ValueError(f"no pandas implementation for aggregation {term.agg!r}")


def compute_pandas(events: pd.DataFrame, observations: pd.DataFrame, spec: BehaviourSpec) -> pd.DataFrame:
    """Windowed features for each prepared observation (index = ``__obs_row``), with pandas groupby.

    ``attrs`` of the result as for `compute_duckdb`: `EVENTS_USED` and `OBS_WITH_EVENTS`."""
    j = _Joined(events, observations, spec)
    out: dict[str, pd.Series] = {}
    for col in spec.columns:
        if col.term is not None:
            values = term_pandas(j, col.term)
            out[col.name] = values if col.term.agg == "count" else values.astype("float64")
        else:
            assert col.numerator is not None and col.denominator is not None
            num = term_pandas(j, col.numerator).astype("float64")
            den = term_pandas(j, col.denominator).astype("float64")
            out[col.name] = num / den.where(den != 0)
    result = pd.DataFrame(out, index=pd.RangeIndex(j.n_obs, name=OBS_ROW))
    used = np.zeros(len(j.frame), dtype=bool)
    for w in {t.window for c in spec.columns for t in c.terms}:
        used |= j.window_mask(w)
    result.attrs[EVENTS_USED] = int(pd.unique(j.frame[ROW].to_numpy()[used]).size)
    result.attrs[OBS_WITH_EVENTS] = int(pd.unique(j.group[used]).size)
    return result

"""The target: bad when the worst delinquency in a performance window after the observation reaches N.

The performance window of an observation at date D with length L holds the repayment records
with ``D <= record_time < D + L`` (with monthly records and a month window, D + L of a month-end D is a month
end too), under the features' rule for period-stamped records: a record is in
when the features at D do not use it yet and the features at D + L would (a month stamped at its start
counts from its last day on, a day from the next day), so the features and the target never share a
record, leave no gap, and a month not complete by D + L is not in. Stamp the records as the features
stamp the events (pass the features' spec to be warned otherwise). An observation with no record in
its window has a missing target (not "good"): its performance is unknown. So has one whose window runs past
the last record in the data (right-censored, immature: a record after it would still be in the window), with
a warning; its ``perf_records`` and ``perf_worst_status`` still show the records there are.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from creditflow.data.errors import DataError, shown
from creditflow.features.prepare import usable_until
from creditflow.features.times import compare_in_utc, parse_times, wall_clock_offsets
from creditflow.features.windows import Duration

if TYPE_CHECKING:
    from creditflow.features.spec import BehaviourSpec


@dataclass(frozen=True)
class TargetSpec:
    """Where to read delinquency and what counts as bad.

    `status` is a days-past-due or status column; an observation is bad (1) when the largest
    value in the window is ``>= bad_at``, good (0) otherwise. `window` is a duration such as
    ``'12m'`` or ``'90d'``; `period`/`period_anchor` stamp period-typed times as in the spec, and
    `timezone` converts times with a UTC offset as the spec's ``timezone`` does.
    """

    entity: str
    time: str
    status: str
    bad_at: float = 1.0
    window: str = "12m"
    period: str | None = None
    period_anchor: str = "start"
    observation_date: str = "observation_date"
    target: str = "bad"
    timezone: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping) -> TargetSpec:
        unknown = set(data) - set(cls.__dataclass_fields__)
        if unknown:
            raise DataError(f"target spec: unknown key(s) {sorted(unknown)}")
        return cls(**dict(data))


def _column(frame: pd.DataFrame, name: str, file: str | None, why: str) -> pd.Series:
    if name not in frame.columns:
        raise DataError(f"column not found, needed as {why}; the data has {list(frame.columns)[:15]}",
                        file=file, column=name)
    return frame[name]


def _status(values: pd.Series, column: str, file: str | None) -> np.ndarray:
    out = pd.to_numeric(values, errors="coerce")
    bad = (out.isna() & values.notna()).to_numpy()
    if bad.any():
        row = int(np.flatnonzero(bad)[0]) + 1
        raise DataError(f"{int(bad.sum())} status value(s) are not numbers, e.g. {shown(values.iloc[row - 1])}",
                        file=file, column=column, row=row)
    return out.to_numpy(dtype="float64")


def define_target(
    records: pd.DataFrame,
    observations: pd.DataFrame,
    spec: TargetSpec,
    *,
    files: dict[str, str] | None = None,
    features: BehaviourSpec | None = None,
) -> pd.DataFrame:
    """The observations with ``perf_records``, ``perf_worst_status`` and the 0/1 target (``Int8``, missing when unknown).

    `features`: the spec the observations' features are built with; a different period anchor or timezone warns."""
    files = files or {}
    if (features is not None and features.event_period is not None and spec.period is not None
            and features.period_anchor != spec.period_anchor):
        warnings.warn(
            f"the target stamps periods at their {spec.period_anchor} but the features at their "
            f"{features.period_anchor}: a record may be in both the features and the target, or in neither; "
            "give TargetSpec the features' period_anchor", UserWarning, stacklevel=2)
    if features is not None and features.timezone != spec.timezone:
        warnings.warn(
            f"the target's timezone is {spec.timezone!r} but the features' {features.timezone!r}: a record may be in "
            "both the features and the target, or in neither; give TargetSpec the features' timezone", UserWarning,
            stacklevel=2)
    rfile, ofile = files.get("records"), files.get("observations")
    try:
        window = Duration.parse(spec.window)
    except DataError as exc:
        raise DataError(f"the target's window (TargetSpec.window): {exc.reason}") from None
    rec_ent = _column(records, spec.entity, rfile, "the entity")
    rec_time = _column(records, spec.time, rfile, "the record time")
    status = _status(_column(records, spec.status, rfile, "the status"), spec.status, rfile)
    obs_ent = _column(observations, spec.entity, ofile, "the entity")
    obs_date = _column(observations, spec.observation_date, ofile, "the observation date")
    to_utc = spec.timezone is None and compare_in_utc(rec_time, obs_date)  # as the features compare them
    offsets = wall_clock_offsets(rec_time, obs_date) if spec.timezone is None else None
    if offsets is not None:  # as the features warn (`build._check_offsets`)
        said = ["no UTC offset" if off == "no offset" else f"UTC offset {off}" for off in offsets]
        warnings.warn(f"record times have {said[0]} but observation dates {said[1]}; they are compared by wall-clock "
                      "time, so a record within hours of an observation may fall on the wrong side of it (in its "
                      "features instead of its target, or the other way round): set 'timezone' in TargetSpec and in the features' spec", UserWarning, stacklevel=2)
    rec_ts, rec_raw = parse_times(rec_time, column=spec.time, file=rfile, period=spec.period,
                                  anchor=spec.period_anchor, timezone=spec.timezone, to_utc=to_utc, raw=True)
    obs_ts = parse_times(obs_date, column=spec.observation_date, file=ofile, timezone=spec.timezone, to_utc=to_utc)
    end = window.add_to(obs_ts)
    if spec.period == "month" and window.unit == "m":
        # a month-end observation's window ends at a month's end: 2005-04-30 + 3m is 07-31, not 07-30, when July
        # is not complete yet and would be left out of a window of May and June only
        end = end.where(~obs_ts.dt.is_month_end, end + pd.offsets.MonthEnd(0))
    obs = pd.DataFrame({"__ent": obs_ent.to_numpy(), "__obs": obs_ts.to_numpy(), "__end": end.to_numpy(),
                        "__from": usable_until(obs_ts, spec.period, spec.period_anchor).to_numpy(),
                        "__until": usable_until(end, spec.period, spec.period_anchor).to_numpy(),
                        "__i": np.arange(len(observations))})
    rec = pd.DataFrame({"__ent": rec_ent.to_numpy(), "__t": rec_ts.to_numpy(), "__raw": rec_raw.to_numpy(),
                        "__s": status})
    joined = rec.merge(obs, on="__ent", how="inner")
    t, raw = joined["__t"].to_numpy(), joined["__raw"].to_numpy()
    # as the features see it: used at the observation, or not yet at the window's end
    seen = (t < joined["__from"].to_numpy()) & (raw < joined["__obs"].to_numpy())
    known = (t < joined["__until"].to_numpy()) & (raw < joined["__end"].to_numpy())
    joined = joined[~seen & known]
    grouped = joined.groupby("__i")["__s"]
    n = grouped.count().reindex(np.arange(len(obs)), fill_value=0)
    worst = grouped.max().reindex(np.arange(len(obs)))
    out = observations.reset_index(drop=True).copy()
    out["perf_records"] = n.to_numpy()
    out["perf_worst_status"] = worst.to_numpy()
    target = pd.array(np.where(worst.to_numpy() >= spec.bad_at, 1, 0), dtype="Int8")
    censored = _runs_past_the_data(rec_ts, obs, spec)
    target[worst.isna().to_numpy() | censored] = pd.NA
    out[spec.target] = target
    if censored.any() and not rec_ts.empty:  # no records at all: every target is missing, nothing to date
        n_bad = int((worst.to_numpy()[censored] >= spec.bad_at).sum())
        last = pd.Timestamp(rec_ts.max())
        shown_last = last.strftime("%Y-%m") if spec.period == "month" else (
            str(last.date()) if last == last.normalize() else str(last))
        warnings.warn(
            f"{int(censored.sum()):,} of {len(obs):,} observation(s) have a performance window that runs past the last "
            f"record in the data ({shown_last}): their target is missing (immature), not good or bad ({n_bad:,} of "
            "them reached bad_at within the records there are: see perf_worst_status); use earlier observation "
            "dates or a shorter window", UserWarning, stacklevel=2)
    return out


def _runs_past_the_data(rec_ts: pd.Series, obs: pd.DataFrame, spec: TargetSpec) -> np.ndarray:
    """Whether each observation's performance window would hold a record later than the last one in the data
    (right-censored): the first period after the last record, or for timestamps any later time, is in the window."""
    if rec_ts.empty:
        return np.ones(len(obs), dtype=bool)
    last = pd.Timestamp(rec_ts.max())
    if spec.period == "day":
        nxt = first = last + pd.Timedelta(days=1)
    elif spec.period == "month" and spec.period_anchor == "end":  # stamped at the month's end; written from its start
        first = last + pd.Timedelta(days=1)
        nxt = last + pd.offsets.MonthEnd(1)
    elif spec.period == "month":
        nxt = first = last + pd.DateOffset(months=1)
    else:
        nxt = first = last + pd.Timedelta(microseconds=1)
    return ((np.datetime64(nxt) < obs["__until"].to_numpy()) & (np.datetime64(first) < obs["__end"].to_numpy()))

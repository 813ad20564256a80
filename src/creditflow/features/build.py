"""Profiles + events + observations -> one wide, point-in-time feature table."""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import pandas as pd

from creditflow.data.errors import DataError
from creditflow.features.flatten import flatten_profiles, profile_lines
from creditflow.features.prepare import (
    EVENTS_USED,
    OBS_TS,
    OBS_WITH_EVENTS,
    TS,
    align_ids,
    prepare_events,
    prepare_observations,
    prepare_profiles,
    same_id_kind,
)
from creditflow.features.report import BuildReport
from creditflow.features.spec import BehaviourSpec
from creditflow.features.tags import TagRules
from creditflow.features.times import compare_in_utc, wall_clock_offsets

ENGINES = ("duckdb", "pandas")


@dataclass
class FeatureTable:
    """The wide table (one row per observation, in input order) and what the build did."""

    frame: pd.DataFrame
    report: BuildReport


def compute_behaviour(
    events: pd.DataFrame, observations: pd.DataFrame, spec: BehaviourSpec, engine: str = "duckdb"
) -> pd.DataFrame:
    """Windowed features for prepared events/observations (see `prepare`), indexed by ``__obs_row``."""
    if engine == "duckdb":
        from creditflow.features.duckdb_engine import compute_duckdb

        return compute_duckdb(events, observations, spec)
    if engine == "pandas":
        from creditflow.features.pandas_engine import compute_pandas

        return compute_pandas(events, observations, spec)
    raise DataError(f"unknown engine {engine!r}; expected one of {list(ENGINES)}")


def _clash(origin: dict[str, tuple[str, str | None]], new: list[str], what: str, new_file: str | None) -> None:
    """Refuse `new` columns whose names are taken; `origin` maps each taken name to (what, file) it
    comes from, so the error names the file holding the clashing column, not only the new one."""
    both = [c for c in new if c in origin]
    if not both:
        return
    kind, file = origin[both[0]]
    where = f" in {new_file!r}" if new_file else ""
    raise DataError(
        f"the {kind} have column(s) {both} with the name of {what}(s){where}",
        file=file, column=both[0], hint=f"rename the column here or the {what}{where}",
    )


def _check_offsets(times: pd.Series, dates: pd.Series, files: dict[str, str], report: BuildReport) -> None:
    """Warn when one of event times and observation dates carries a UTC offset and the other none: both
    keep their wall-clock time, so UTC events against local dates may use events after the observation.
    (Two explicit, different offsets are compared in UTC: `compare_in_utc`.)"""
    offsets = wall_clock_offsets(times, dates)
    if offsets is None:
        return
    ev_off, obs_off = offsets

    def say(what: str, off: str, key: str) -> str:
        where = f" in {files[key]!r}" if files.get(key) else ""
        return f"{what}{where} have {'no UTC offset' if off == 'no offset' else f'UTC offset {off}'}"

    report.zone_warning = (f"{say('event times', ev_off, 'events')} but {say('observation dates', obs_off, 'observations')}; "
                           "they are compared by wall-clock time, so events up to hours after an observation may be "
                           "used: set 'timezone' in the spec to convert both to one zone")
    report.warn(report.zone_warning)


def _when(ts: object) -> str:
    stamp = pd.Timestamp(ts)  # type: ignore[arg-type]
    return str(stamp.date()) if stamp == stamp.normalize() else str(stamp)


def warn_unusable_events(report: BuildReport, with_entity_events: int, event_times: tuple | None = None,
                         observation_dates: tuple | None = None) -> None:
    """Warn when most observations whose entity has events get none of them (none before the observation inside
    a window): a wrong year in the observation dates gives an all-empty table otherwise. `event_times` and
    `observation_dates` are (first, last), shown when given."""
    n = report.observations_with_only_unusable_events
    if n <= 0 or 2 * n <= with_entity_events:
        return
    ranges = ""
    if event_times is not None and observation_dates is not None and not pd.isna(event_times[0]):
        ranges = (f" (event times {_when(event_times[0])} to {_when(event_times[1])}, observation dates "
                  f"{_when(observation_dates[0])} to {_when(observation_dates[1])})")
    report.warn(f"{n:,} of {report.n_observations:,} observation(s) have events for their entity but none before the "
                f"observation inside a window, so their behaviour features are empty{ranges}: check the observation "
                "dates (the labels or --as-of) against the event times, or whether the windows are shorter than the "
                "gaps between events")


def _derive(frame: pd.DataFrame, spec: BehaviourSpec, file: str | None) -> pd.DataFrame:
    for d in spec.derived:
        try:
            values = d.expr.evaluate(frame)
        except DataError as exc:
            raise DataError(f"derived feature '{d.name}': {exc.reason}", file=file, column=d.name) from None
        if not pd.api.types.is_bool_dtype(values.dtype) and not pd.api.types.is_numeric_dtype(values.dtype):
            raise DataError(f"derived feature '{d.name}' must give numbers or conditions", file=file, column=d.name)
        frame[d.name] = values.astype("float64")
    return frame


def check_references(observations: pd.DataFrame, profiles: pd.DataFrame | None, spec: BehaviourSpec,
                     tags: TagRules | None = None, files: dict[str, str] | None = None) -> None:
    """Run the derived features and the tag rules on no rows of the table's columns and types (observations,
    flattened profiles, behaviour features), so that a column they name and the data lack, or a type they cannot
    use, is refused before the behaviour features are computed (minutes on a large table, and on a cluster)
    rather than after."""
    files = files or {}
    rules = tags if tags is not None else spec.tags
    if not spec.derived and rules is None:
        return
    empty = {c: observations[c].iloc[:0].reset_index(drop=True) for c in observations.columns}
    if profiles is not None:
        empty.update({c: profiles[c].iloc[:0].reset_index(drop=True) for c in profiles.columns if c not in empty})
    for col in spec.columns:  # as the engines give them: counts as integers, the rest as floats
        count = col.term is not None and col.term.agg == "count"
        empty.setdefault(col.name, pd.Series([], dtype="int64" if count else "float64"))
    made = [d.name for d in spec.derived] + (rules.names if rules is not None else [])
    if len(set(made)) < len(made) or any(name in empty for name in made):
        return  # a name clash: refused by the build, which names the file holding each column
    frame = _derive(pd.DataFrame(empty), spec, files.get("spec"))
    if rules is not None:
        rules.apply(frame, file=files.get("tags") or files.get("spec"))


def build_feature_table(
    profiles: pd.DataFrame | None,
    events: pd.DataFrame,
    spec: BehaviourSpec,
    observations: pd.DataFrame,
    *,
    engine: str = "duckdb",
    tags: TagRules | None = None,
    files: dict[str, str] | None = None,
) -> FeatureTable:
    """Build the wide table and a `BuildReport`.

    Columns, in order: the observation columns as given (entity, observation date, labels ...),
    the flattened profile columns, the windowed behaviour features, the derived features and the
    tags (`tags` overrides ``spec.tags``). `files` names the inputs in error messages
    (keys ``profiles``, ``events``, ``observations``, ``spec``).
    """
    files = files or {}
    report = BuildReport(engine=engine)
    clock = time.perf_counter()
    flat = None
    if profiles is not None:
        flat = flatten_profiles(profiles, spec.profile, file=files.get("profiles"))
    observations, flat, events = align_ids([observations, flat, events], spec.entity)  # type: ignore[assignment]
    to_utc = (spec.timezone is None and spec.event_time in events.columns
              and spec.observation_date in observations.columns
              and compare_in_utc(events[spec.event_time], observations[spec.observation_date]))
    obs = prepare_observations(observations, spec, file=files.get("observations"), to_utc=to_utc)
    report.n_observations = len(obs)
    if flat is not None:
        flat = prepare_profiles(flat, spec, file=files.get("profiles"), lines=profile_lines(profiles))
        report.n_profiles = len(flat)
        same_id_kind(obs[spec.entity], flat[spec.entity], spec.entity, files.get("observations"), "profiles")
        known, known_from = flat[spec.entity], "profiles"
    else:
        known, known_from = obs[spec.entity], "observations"
    ev = prepare_events(events, spec, known, report, file=files.get("events"), known_from=known_from, to_utc=to_utc)
    check_references(observations, flat, spec, tags, files)
    if spec.timezone is None:
        _check_offsets(events[spec.event_time], observations[spec.observation_date], files, report)
    report.seconds["prepare"] = time.perf_counter() - clock

    clock = time.perf_counter()
    behaviour = compute_behaviour(ev, obs, spec, engine)
    report.seconds["behaviour"] = time.perf_counter() - clock

    clock = time.perf_counter()
    out = observations.reset_index(drop=True).copy()
    origin = {c: ("observations", files.get("observations")) for c in out.columns}
    if flat is not None:
        extra = [c for c in flat.columns if c != spec.entity]
        _clash(origin, extra, "profile column", files.get("profiles"))
        origin.update({c: ("profiles", files.get("profiles")) for c in extra})
        missing = ~obs[spec.entity].isin(flat[spec.entity]).to_numpy()
        report.observations_without_profile = int(missing.sum())
        if missing.any():
            report.warn(f"{int(missing.sum())} observation(s) have no profile; their profile columns are missing")
        out = out.merge(flat, on=spec.entity, how="left", validate="many_to_one")
    _clash(origin, list(behaviour.columns), "behaviour feature", files.get("spec"))
    behaviour = behaviour.reindex(np.arange(len(out)))
    out = pd.concat([out, behaviour.set_axis(out.index)], axis=1)
    report.n_events_used = int(behaviour.attrs.get(EVENTS_USED, 0))
    report.observations_without_events = len(obs) - int(behaviour.attrs.get(OBS_WITH_EVENTS, 0))
    with_entity_events = int(obs[spec.entity].isin(ev[spec.entity]).sum())
    report.observations_with_only_unusable_events = with_entity_events - int(behaviour.attrs.get(OBS_WITH_EVENTS, 0))
    warn_unusable_events(report, with_entity_events, (ev[TS].min(), ev[TS].max()), (obs[OBS_TS].min(), obs[OBS_TS].max()))
    _clash(origin, [d.name for d in spec.derived], "derived feature", files.get("spec"))
    out = _derive(out, spec, files.get("spec"))
    rules = tags if tags is not None else spec.tags
    if rules is not None:
        origin.update({c: ("features of the spec", files.get("spec")) for c in spec.output_names})
        _clash(origin, rules.names, "tag", files.get("tags") or files.get("spec"))
        out = rules.apply(out, file=files.get("tags") or files.get("spec"))
    report.n_features = len(spec.output_names) + (len(rules.rules) if rules is not None else 0)
    report.seconds["assemble"] = time.perf_counter() - clock
    return FeatureTable(out, report)


def excel_ready(frame: pd.DataFrame, timezone: str | None = None) -> pd.DataFrame:
    """`frame` as Excel can hold it: time-zone-aware columns become wall time without the zone, in
    `timezone` when given (the spec's, as the features read the dates), else in their own zone."""
    aware = [c for c in frame.columns if isinstance(frame[c].dtype, pd.DatetimeTZDtype)]
    if not aware:
        return frame
    out = frame.copy()
    for c in aware:
        values = out[c].dt.tz_convert(timezone) if timezone else out[c]
        out[c] = values.dt.tz_localize(None)
    return out


def build_features(
    profiles: pd.DataFrame | None,
    events: pd.DataFrame,
    spec: BehaviourSpec,
    observations: pd.DataFrame,
    *,
    engine: str = "duckdb",
) -> pd.DataFrame:
    """The wide point-in-time feature table: one row per observation row, in the same order.

    `profiles` may be nested (cells holding dicts/lists) or flat; `observations` holds the entity
    and observation-date columns named in the spec (other columns, e.g. a label, are kept).
    Warnings (e.g. dropped duplicates when the spec says ``on_duplicate: drop``) go to the
    ``creditflow.features`` logger; use `build_feature_table` to get them as a report.
    """
    return build_feature_table(profiles, events, spec, observations, engine=engine).frame


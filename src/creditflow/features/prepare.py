"""Checking and normalising events, observations and profiles before features are computed.

Every problem is either refused with a `DataError` (file, column, a sample row, the count) or,
where the spec's policy says ``drop``, dropped with a count in the `BuildReport`.

After preparation the events frame holds the entity column, ``__ts`` (naive timestamp), ``__row``
(position in the input), ``__seq`` (rank by time, then input position: the order of "first" and
"last"), for months stamped at their start ``__raw`` (the time as written, see `keeps_raw_time`) and
the columns the spec reads;
the observations frame holds the entity column, ``__obs_ts``, ``__obs_row`` (position in the input)
and ``__obs_until`` (events are usable only strictly before it: the observation time, or for day- or
month-stamped events the stamp of the first period not complete by then, see `usable_until`).
"""

from __future__ import annotations

import string
from collections.abc import Sequence

import numpy as np
import pandas as pd

from creditflow.data.errors import DataError, shown
from creditflow.data.io import check_finite, check_not_nested, first_nested, is_text
from creditflow.features.expr import EMPTY, TEXT, KindError, column_kind
from creditflow.features.report import BuildReport
from creditflow.features.spec import BehaviourSpec
from creditflow.features.times import parse_times

TS, ROW, SEQ, OBS_TS, OBS_ROW, OBS_UNTIL = "__ts", "__row", "__seq", "__obs_ts", "__obs_row", "__obs_until"
RAW = "__raw"
# `attrs` of an engine's result: events inside some window of some observation, observations with such an event
EVENTS_USED, OBS_WITH_EVENTS = "events_used", "observations_with_events"


def _first_row(mask: np.ndarray) -> int:
    return int(np.flatnonzero(mask)[0]) + 1


def _require_columns(frame: pd.DataFrame, needed: dict[str, str], file: str | None) -> None:
    """`needed` maps column -> why it is needed; refuse the first missing one, listing all."""
    missing = [c for c in needed if c not in frame.columns]
    if missing:
        shown = list(frame.columns)[:15]
        raise DataError(
            f"column not found, needed by {needed[missing[0]]}"
            + (f" ({len(missing)} missing: {missing})" if len(missing) > 1 else "")
            + f"; the data has {shown}" + (" ..." if frame.shape[1] > 15 else ""),
            file=file, column=missing[0], hint=_split_name_hint(frame.columns, missing),
        )


def _split_name_hint(columns: pd.Index, missing: list[str]) -> str | None:
    """`收入/月 > 0` written without backticks reads as 收入 divided by 月: when one column of the data holds
    every missing name and is no identifier, say to backtick it."""
    whole = [str(c) for c in columns if not str(c).isidentifier() and all(m in str(c) for m in missing)]
    if not whole:
        return None
    return (f"the data has {whole[0]!r}: write it in backticks, `{whole[0]}`; without them its / - ( ) or spaces "
            "read as operators")


_ASCII_LOWER = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)


def _distinct_ignoring_case(columns: list[str], file: str | None) -> None:
    """Refuse two columns whose names differ only in case (``amt``, ``AMT``): SQL names ignore case, so
    DuckDB would read one for both while pandas reads each."""
    seen: dict[str, str] = {}
    for col in columns:
        other = seen.setdefault(col.translate(_ASCII_LOWER), col)  # DuckDB folds ASCII letters only ("Ä" != "ä")
        if other != col:
            raise DataError(
                f"the columns {other!r} and {col!r} differ only in case, which SQL (the duckdb engine) does not tell "
                "apart", file=file, column=col, hint="rename one of them",
            )


def _check_ids(ids: pd.Series, column: str, file: str | None, lines: Sequence[int] | None = None) -> None:
    """Refuse missing entity ids; `lines`: the file's line of each row, for the error (else the row number)."""
    miss = ids.isna().to_numpy()
    if miss.any():
        first = _first_row(miss)
        raise DataError(f"{int(miss.sum())} missing entity id(s)", file=file, column=column,
                        row=first if lines is None else int(lines[first - 1]))


def align_ids(frames: list[pd.DataFrame | None], column: str) -> list[pd.DataFrame | None]:
    """Where one frame's ids are text, whole-number ids of the others become text written plainly (7 -> "7").

    Ids are compared as written: a CSV with ``007`` and ``7`` reads as text, a file with only ``7`` as
    numbers, and the two must still join on "7" while "007" stays apart. Other numbers (floats) are
    left for `same_id_kind` to refuse."""
    present = [f for f in frames if f is not None and column in f.columns]
    if not any(is_text(f[column]) for f in present):
        return frames
    out: list[pd.DataFrame | None] = []
    for f in frames:
        if f is not None and column in f.columns and pd.api.types.is_integer_dtype(f[column].dtype):
            f = f.assign(**{column: f[column].astype("str")})
        out.append(f)
    return out


def same_id_kind(a: pd.Series, b: pd.Series, column: str, file: str | None, other: str) -> None:
    """Refuse ids that are numbers on one side and text on the other (a join would silently miss)."""
    num_a, num_b = pd.api.types.is_numeric_dtype(a.dtype), pd.api.types.is_numeric_dtype(b.dtype)
    if num_a != num_b:
        kind = {True: "numbers", False: "text"}
        raise DataError(
            f"entity ids are {kind[num_a]} here but {kind[num_b]} in the {other}",
            file=file, column=column, hint="write the ids the same way in every file",
        )


def _booleans(values: pd.Series) -> pd.Series:
    """True/false values with gaps as a nullable boolean column (pandas reads a CSV ``true,,false``, or
    a Parquet bool column with nulls, as objects, i.e. text); other columns as they are."""
    if pd.api.types.is_object_dtype(values.dtype) and pd.api.types.infer_dtype(values, skipna=True) == "boolean":
        return values.astype("boolean")
    return values


def _numeric(values: pd.Series, column: str, file: str | None) -> pd.Series:
    if pd.api.types.is_bool_dtype(values.dtype):  # both engines aggregate it as 1/0; a filter may still read it
        return values.astype("boolean")
    if pd.api.types.is_numeric_dtype(values.dtype):
        return _finite(values, column, file)
    converted = pd.to_numeric(values, errors="coerce")
    bad = (converted.isna() & values.notna()).to_numpy()
    if bad.any():
        first = _first_row(bad)
        raise DataError(
            f"{int(bad.sum())} value(s) are not numbers, e.g. {shown(values.iloc[first - 1])}; aggregations need numbers",
            file=file, column=column, row=first,
        )
    return _finite(converted, column, file)


def _finite(values: pd.Series, column: str, file: str | None) -> pd.Series:
    inf = np.isinf(values.to_numpy(dtype="float64", na_value=np.nan))
    if inf.any():
        raise DataError(
            f"{int(inf.sum())} infinite value(s)", file=file, column=column, row=_first_row(inf),
            hint="replace them with a missing value",
        )
    return values


def _hashable(value: object) -> object:
    """A list/struct cell (Parquet) as nested tuples, which hash and compare by their items."""
    if isinstance(value, dict):
        return tuple((k, _hashable(v)) for k, v in value.items())
    if isinstance(value, (list, tuple, np.ndarray)):
        return tuple(_hashable(v) for v in value)
    return value


def _nested_as_tuples(frame: pd.DataFrame) -> pd.DataFrame:
    """`frame` with its columns of lists/structs (judged by the first value: a Parquet column holds one
    type) as tuples, so rows can be hashed and compared."""
    nested = [col for col in frame.columns if first_nested(frame[col]) >= 0]
    return frame.assign(**{c: frame[c].map(_hashable) for c in nested}) if nested else frame


def exact_duplicates(frame: pd.DataFrame) -> np.ndarray:
    """Rows equal in every column to an earlier row (as `DataFrame.duplicated`, via row hashes)."""
    frame = _nested_as_tuples(frame)
    hashes = pd.util.hash_pandas_object(frame, index=False).to_numpy()
    out = np.zeros(len(frame), dtype=bool)
    if len(frame) < 2 or not (np.diff(np.sort(hashes)) == 0).any():
        return out
    order = np.argsort(hashes, kind="stable")
    same = hashes[order][1:] == hashes[order][:-1]
    candidates = np.zeros(len(frame), dtype=bool)
    candidates[order[1:][same]] = True
    candidates[order[:-1][same]] = True
    if candidates.any():  # confirm exactly: equal hashes need not mean equal rows
        out[np.flatnonzero(candidates)[frame[candidates].duplicated().to_numpy()]] = True
    return out


def usable_until(observed: pd.Series, period: str | None, anchor: str = "start") -> pd.Series:
    """Events stamped by `period`/`anchor` are usable at each observation only strictly before this time.

    A period is used only once complete. A day, or a month stamped at its end (2005-09 -> 2005-09-30), is
    complete when the next day begins: at 2024-03-01 09:00 a record of 2024-03-01 (stamped 00:00) is not
    known yet, nor at 2005-09-30 12:00 the September one. A month stamped at its start (2024-03 -> 2024-03-01) counts from its last day on, as a
    statement month is known at its end: at 2024-03-05 the March statement must not (it would leak the
    rest of March). Date-only observations (midnight) and month ends (2005-09-30) are unaffected.
    """
    if period is None:
        return observed
    if period == "day" or anchor == "end":
        return observed.dt.normalize().astype(observed.dtype)
    complete = (observed + pd.Timedelta(days=1)).dt.to_period("M").dt.start_time.astype(observed.dtype)
    return complete.where(complete < observed, observed)


def keeps_raw_time(spec: BehaviourSpec) -> bool:
    """Whether the prepared events carry ``__raw``, the time as written, used only strictly before it.

    Only a month stamped at its start can otherwise be used before its own time: it counts from 00:00 of
    its last day, so an event written 2005-09-30 18:00 would count at 2005-09-30 00:00. A day, or a month
    stamped at its end, is used from the next day on, after any time inside it."""
    return spec.event_period == "month" and spec.period_anchor == "start"


def _check_filters(spec: BehaviourSpec, columns: dict[str, pd.Series], events: pd.DataFrame,
                   file: str | None) -> set[str]:
    """Refuse, for both engines alike, filters that compare text with numbers or are not conditions.

    Returns the entirely empty columns that filters compare with text (they are typed as text)."""
    kinds = {c: column_kind(v) for c, v in columns.items()}
    as_text: set[str] = set()
    seen: set[str] = set()
    for term in (t for c in spec.columns for t in c.terms):
        for f in term.filters:
            if f.text in seen:
                continue
            seen.add(f.text)
            try:
                as_text |= f.check(kinds, condition=True)
            except KindError as exc:
                raise _kind_error(exc, events[exc.column], file) from None
    return as_text


def filter_texts(spec: BehaviourSpec) -> dict[tuple[str, str, str], list[str]]:
    """Each (filter, column, text) a filter compares a column with, and the features using that filter."""
    users: dict[tuple[str, str, str], list[str]] = {}
    for fc in spec.columns:
        for f in (f for t in fc.terms for f in t.filters):
            for col, text in f.text_literals():
                names = users.setdefault((f.text, col, text), [])
                if fc.name not in names:
                    names.append(fc.name)
    return users


def held_texts(spec: BehaviourSpec, columns: dict[str, pd.Series]) -> dict[str, set]:
    """The distinct values of each text column a filter compares with a text (what `warn_absent_texts` needs;
    a cluster merges them over its partitions)."""
    wanted = {col for _, col, _ in filter_texts(spec)}
    return {col: set(pd.unique(columns[col].dropna())) for col in sorted(wanted)
            if col in columns and column_kind(columns[col]) in (TEXT, EMPTY)}


def warn_absent_texts(spec: BehaviourSpec, held: dict[str, set], report: BuildReport, file: str | None) -> None:
    """Warn of a filter comparing a column with a text no event holds (a case typo, 'Credit' for 'credit',
    or a wrongly decoded file): its features would be all 0 or all missing without a word. `held`: the
    values of each such text column (`held_texts`)."""
    for (filt, col, text), names in filter_texts(spec).items():
        if col not in held or text in held[col]:
            continue
        values = sorted(str(v) for v in held[col])
        near = [v for v in values if v.casefold() == text.casefold()]
        what = ("it is empty" if not values else f"it holds {', '.join(map(repr, values[:8]))}"
                + (f" and {len(values) - 8} more" if len(values) > 8 else ""))
        features = ", ".join(f"'{n}'" for n in names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
        where = f" of {file!r}" if file else ""
        report.warn(f"filter {filt!r} (feature(s) {features}): no event holds {text!r} in column '{col}'{where} "
                    f"({what})" + (f"; did you mean {near[0]!r}?" if near else ""))


def _kind_error(exc: KindError, values: pd.Series, file: str | None) -> DataError:
    """The filter's error; where the column holds numbers but for a few text values, the first of those."""
    reason, row = f"filter {exc.reason.removeprefix('expression ')}", None
    if exc.found == "text" and exc.wanted == "numbers":
        numbers = pd.to_numeric(values, errors="coerce")
        bad = (numbers.isna() & values.notna()).to_numpy()
        if bad.any() and not bad[values.notna().to_numpy()].all():
            row = _first_row(bad)
            reason = (f"filter {exc.text!r} compares the column with numbers, but {int(bad.sum())} of "
                      f"{int(values.notna().sum())} value(s) are not numbers, e.g. {shown(values.iloc[row - 1])}")
    return DataError(reason, file=file, column=exc.column, row=row, hint=exc.hint)


def prepare_observations(observations: pd.DataFrame, spec: BehaviourSpec, *, file: str | None = None,
                         to_utc: bool = False) -> pd.DataFrame:
    """Entity, ``__obs_ts`` and ``__obs_row`` for each observation; refuses duplicates and bad dates.

    `to_utc`: dates with an offset become UTC (events and dates carry different ones, `compare_in_utc`)."""
    _require_columns(
        observations,
        {spec.entity: "the spec ('entity')", spec.observation_date: "the spec ('observation_date')"},
        file,
    )
    ids = observations[spec.entity]
    _check_ids(ids, spec.entity, file)
    ts = parse_times(observations[spec.observation_date], column=spec.observation_date, file=file,
                     timezone=spec.timezone, to_utc=to_utc)
    out = pd.DataFrame({spec.entity: ids.to_numpy(), OBS_TS: ts.to_numpy(), OBS_ROW: np.arange(len(ids)),
                        OBS_UNTIL: usable_until(ts, spec.event_period, spec.period_anchor).to_numpy()})
    dup = out.duplicated([spec.entity, OBS_TS]).to_numpy()
    if dup.any():
        raise DataError(
            f"{int(dup.sum())} observation(s) repeat an (entity, observation date) pair; "
            "each output row must be one entity at one date",
            file=file, column=spec.entity, row=_first_row(dup),
        )
    return out


def prepare_profiles(profiles: pd.DataFrame, spec: BehaviourSpec, *, file: str | None = None,
                     lines: Sequence[int] | None = None) -> pd.DataFrame:
    """Check that the (flat) profiles have the entity column, once per entity, and no infinite number.

    `lines`: the file's line of each row (`read_profiles` of JSON lines with blank lines), for errors."""
    def row(first: int) -> int:
        return first if lines is None else int(lines[first - 1])

    _require_columns(profiles, {spec.entity: "the spec ('entity')"}, file)
    check_finite(profiles, file)
    ids = profiles[spec.entity]
    _check_ids(ids, spec.entity, file, lines)
    dup = ids.duplicated().to_numpy()
    if dup.any():
        raise DataError(
            f"{int(dup.sum())} profile(s) repeat an entity id, e.g. {shown(ids.iloc[_first_row(dup) - 1])}",
            file=file, column=spec.entity, row=row(_first_row(dup)),
        )
    return profiles


def prepare_events(
    events: pd.DataFrame,
    spec: BehaviourSpec,
    known: pd.Series,
    report: BuildReport,
    *,
    file: str | None = None,
    known_from: str = "observations",
    to_utc: bool = False,
) -> pd.DataFrame:
    """Validated events with ``__ts`` and ``__row``; duplicates and unknown entities per the spec's policy.

    `to_utc` as for `prepare_observations`."""
    needed = {spec.entity: "the spec ('entity')", spec.event_time: "the spec ('event_time')"}
    for feature in spec.features:
        for fc in feature.expand():
            for term in fc.terms:
                for col in term.columns:
                    needed.setdefault(col, f"feature '{fc.name}'")
    _require_columns(events, needed, file)
    check_not_nested(events, file, [spec.entity, spec.event_time, *spec.event_columns],
                     hint="flatten it into columns of their own; columns the spec does not read may hold lists")
    _distinct_ignoring_case([spec.entity, *spec.event_columns, TS, ROW, SEQ, RAW], file)
    report.n_events = len(events)
    ids = events[spec.entity]
    _check_ids(ids, spec.entity, file)
    same_id_kind(ids, known, spec.entity, file, known_from)
    keep = np.ones(len(events), dtype=bool)
    try:
        ts, raw = parse_times(
            events[spec.event_time], column=spec.event_time, file=file, period=spec.event_period,
            anchor=spec.period_anchor, fmt=spec.time_format, timezone=spec.timezone, to_utc=to_utc, raw=True,
        )
    except DataError as exc:
        if spec.time_format is not None or "not dates/times" not in exc.reason:
            raise
        raise DataError(exc.reason, file=exc.file, column=exc.column, row=exc.row,
                        hint=f"{exc.hint}; for another layout set 'time_format' in the spec, e.g. '%d/%m/%Y' or "
                             "'%Y%m'") from None

    # times compared as times: the same event exported as "2024-01-10" and "2024-01-10 00:00:00" is one event;
    # as written, not stamped: two equal payments at 09:00 and 18:00 of one day (or month) are two events
    dup = exact_duplicates(events.assign(**{spec.event_time: raw}))
    if dup.any():
        n = int(dup.sum())
        first = _first_row(dup)
        if spec.on_duplicate == "error":
            raise DataError(
                # the row is in the error's location only: on a cluster it is relocated to the file's own row
                f"{n} event row(s) are exact duplicates of an earlier row (every column equal)",
                file=file, column=spec.entity, row=first,
                hint="remove them, or drop them with a warning: --drop-duplicates on the command line, "
                     "'on_duplicate: drop' in the spec",
            )
        report.dropped_duplicate_events = n
        report.warn(f"dropped {n} exact duplicate event row(s) (first at row {first})")
        keep &= ~dup

    unknown = (~ids.isin(known)).to_numpy()
    if unknown.any():
        n, n_ids = int(unknown.sum()), int(ids[unknown].nunique())
        first = _first_row(unknown)
        if spec.on_unknown_entity == "error":
            example = ids.iloc[first - 1]
            whole = str(example)[:-2] if str(example).endswith(".0") else None
            same = whole is not None and whole in {str(k) for k in known}
            raise DataError(
                f"{n} event(s) for {n_ids} entity id(s) not in the {known_from}, e.g. {shown(example)}",
                file=file, column=spec.entity, row=first,
                hint=(f"the {known_from} write it {whole!r}: ids exported as floats (1.0)? write them as whole "
                      "numbers in every file" if same else
                      "drop them with a warning: --drop-unknown-entities on the command line, "
                      "'on_unknown_entity: drop' in the spec"),
            )
        report.dropped_unknown_entity_events = n
        report.warn(f"dropped {n} event(s) for {n_ids} entity id(s) not in the {known_from} (first at row {first})")
        keep &= ~unknown

    value_cols = set(spec.value_columns)
    out = {spec.entity: ids.to_numpy(), TS: ts.to_numpy(), ROW: np.arange(len(events))}
    if keeps_raw_time(spec):
        out[RAW] = raw.to_numpy()
    columns = {c: _booleans(events[c]) for c in spec.event_columns}
    columns = {c: _numeric(v, c, file) if c in value_cols else v for c, v in columns.items()}
    for col in _check_filters(spec, columns, events, file):
        columns[col] = pd.Series(pd.array([None] * len(events), dtype="str"))  # matches no text, in SQL too
    report.filter_texts = held_texts(spec, {c: v[keep] for c, v in columns.items()})
    warn_absent_texts(spec, report.filter_texts, report, file)
    for col, values in columns.items():  # nullable true/false stays so (NULL in SQL), not objects
        out[col] = values.array if isinstance(values.dtype, pd.BooleanDtype) else values.to_numpy()
    prepared = pd.DataFrame(out, copy=False)  # no block consolidation: saves a copy of every column
    if not keep.all():
        prepared = prepared[keep].reset_index(drop=True)
    # order key of (time, input row) in one int64: dense time rank * n + row (< n**2, no overflow)
    rank, _ = pd.factorize(prepared[TS], sort=True)
    prepared[SEQ] = rank.astype(np.int64) * max(len(events), 1) + prepared[ROW].to_numpy()
    return prepared

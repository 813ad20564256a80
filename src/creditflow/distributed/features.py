"""Behaviour features on Dask: the embedded engine run on entity partitions of the events.

Events (a partitioned Parquet table, possibly far larger than memory), observations and profiles
are shuffled by a hash of the entity id into the same `partitions` buckets, so every entity's
events, observations and profile meet in one partition. Each partition is then built by
`creditflow.features.build_feature_table` (DuckDB by default) with the same spec: the windows,
filters, tags and derived features are evaluated by the very same code, on the rows of its
entities in their input order. The result comes back one row per observation in input order.

Checks that look at one entity at a time (duplicate events, unknown entities, bad values) run
per partition and report the file and row of the original input. Mixed UTC offsets are judged over
the whole event and observation columns before the shuffle: each bucket alone may hold one offset.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from creditflow.data.errors import DataError
from creditflow.distributed.source import PartitionedTable, Piece, read_dataset

BUCKET = "__cf_bucket"


@dataclass
class _Inputs:
    spec: Any
    tags: Any
    files: dict[str, str]
    pieces: list[Piece] | None  # the events' pieces, to name file and row in errors


def bucket_of(ids: pd.Series, partitions: int) -> np.ndarray:
    """Partition of each entity id: a stable hash of the id (numbers hashed as float64, others as text)."""
    if pd.api.types.is_numeric_dtype(ids.dtype) and not pd.api.types.is_bool_dtype(ids.dtype):
        keys = pd.Series(ids.to_numpy(dtype=float, na_value=np.nan))
    else:
        keys = pd.Series(ids.astype(object).where(ids.notna(), None).map(lambda v: None if v is None else str(v)),
                         dtype=object)
    h = pd.util.hash_pandas_object(keys, index=False).to_numpy()
    return (h % np.uint64(partitions)).astype(np.int64)


def _with_bucket(frame: pd.DataFrame, entity: str, partitions: int) -> pd.DataFrame:
    out = frame.copy()
    out[BUCKET] = bucket_of(frame[entity], partitions) if entity in frame.columns else 0
    return out


def _relocate(exc: DataError, frame: pd.DataFrame, which: str, inputs: _Inputs) -> DataError:
    """The same error with the row of the original input (and its file)."""
    if exc.row is None or not 1 <= exc.row <= len(frame):
        return DataError(exc.reason, file=exc.file, column=exc.column, row=exc.row, hint=exc.hint)
    return _at_row(exc, int(frame.index[exc.row - 1]), which, inputs)


def _at_row(exc: DataError, row: int, which: str, inputs: _Inputs) -> DataError:
    """The same error at position `row` (from 0) of the original input, in the events' piece holding it."""
    if which == "events" and inputs.pieces is not None:
        piece = next(p for p in inputs.pieces if p.offset <= row < p.offset + p.n_rows)
        return DataError(exc.reason, file=piece.file, column=exc.column, row=piece.file_row + row - piece.offset + 1,
                         hint=exc.hint)
    return DataError(exc.reason, file=exc.file, column=exc.column, row=row + 1, hint=exc.hint)


def _offsets_of_part(values: pd.Series) -> dict[str, tuple[int, int, str]]:
    """`offset_counts` of one partition, its first rows as positions in the whole input (the index)."""
    from creditflow.features.times import offset_counts

    return {k: (n, int(values.index[first]), example) for k, (n, first, example) in offset_counts(values).items()}


def _merge_offsets(parts: list[dict[str, tuple[int, int, str]]]) -> dict[str, tuple[int, int, str]]:
    merged: dict[str, tuple[int, int, str]] = {}
    for part in parts:
        for kind, (n, first, example) in part.items():
            seen = merged.get(kind)
            if seen is not None:
                n += seen[0]
                first, example = min((first, example), (seen[1], seen[2]))
            merged[kind] = (n, first, example)
    return merged


def _refuse_mixed_zones(client: Any, events: pd.DataFrame | PartitionedTable, observations: pd.DataFrame,
                        inputs: _Inputs) -> None:
    """Refuse event times or observation dates with several UTC offsets, judged over the whole column as
    `parse_times` does on one machine: each bucket alone may hold one offset, and would then compare the
    same instant written two ways by different wall-clock times."""
    import dask

    from creditflow.features.times import mixed_zone_error, offset_counts

    spec, files = inputs.spec, inputs.files
    if spec.timezone is not None:
        return
    column = spec.observation_date
    if column in observations.columns:
        counts = offset_counts(observations[column])
        if len(counts) > 1:
            raise mixed_zone_error(counts, {"file": files.get("observations"), "column": column})
    column = spec.event_time
    if isinstance(events, pd.DataFrame):
        if column not in events.columns:
            return
        counts = offset_counts(events[column].reset_index(drop=True))
    else:
        if column not in events.columns or pd.api.types.is_datetime64_any_dtype(events.meta[column].dtype):
            return
        times = events.to_dask([column])[column]  # one column read, piece by piece, on the workers
        parts = [dask.delayed(_offsets_of_part)(part) for part in times.to_delayed()]
        counts = _merge_offsets(client.gather(client.compute(parts)))
    if len(counts) > 1:
        exc = mixed_zone_error(counts, {"file": files.get("events"), "column": column})
        raise _at_row(exc, exc.row - 1, "events", inputs)  # type: ignore[operator]


def build_partition(events: pd.DataFrame, observations: pd.DataFrame, profiles: pd.DataFrame | None,
                    inputs: _Inputs, engine: str) -> pd.DataFrame:
    """The feature rows of one entity partition (index: the observation's input position)."""
    from creditflow.features import build_feature_table

    events = events.drop(columns=[BUCKET]).sort_index()
    observations = observations.drop(columns=[BUCKET]).sort_index()
    if profiles is not None:
        profiles = profiles.drop(columns=[BUCKET]).sort_index()
    try:
        table = build_feature_table(profiles, events, inputs.spec, observations, engine=engine, tags=inputs.tags,
                                    files=inputs.files)
    except DataError as exc:
        which = next((k for k, v in inputs.files.items() if exc.file is not None and v == exc.file), "")
        frame = {"events": events, "observations": observations, "profiles": profiles}.get(which)
        if frame is None:
            raise
        raise _relocate(exc, frame, which, inputs) from None
    out = table.frame
    out.index = observations.index
    report = table.report
    out.attrs["report"] = {**{k: int(getattr(report, k) or 0) for k in _COUNTS},
                           "zone_warning": report.zone_warning, "filter_texts": report.filter_texts}
    return out


def _ids_as_text(frame: pd.DataFrame, column: str) -> pd.DataFrame:
    """Whole-number ids written plainly as text (7 -> "7"), as `align_ids` writes them."""
    return frame.assign(**{column: frame[column].astype("str")})


_COUNTS = ("n_events", "n_events_used", "dropped_duplicate_events", "dropped_unknown_entity_events",
           "observations_without_events", "observations_with_only_unusable_events", "observations_without_profile")


def build_features_on_cluster(
    client: Any,
    profiles: pd.DataFrame | None,
    events: str | Path | pd.DataFrame | PartitionedTable,
    spec: Any,
    observations: pd.DataFrame,
    *,
    partitions: int | None = None,
    engine: str = "duckdb",
    tags: Any = None,
    files: dict[str, str] | None = None,
) -> Any:
    """`creditflow.features.build_feature_table` with the events on the cluster; a `FeatureTable`.

    `events` is a Parquet file or directory (read piece by piece on the workers) or a DataFrame;
    `observations` and `profiles` are DataFrames (one row per application and per entity: small
    next to the events). `partitions` entity buckets (default: one per event piece) bound each
    task's memory to its entities' events.
    """
    import dask
    import dask.dataframe as dd

    from creditflow.features import BuildReport, FeatureTable
    from creditflow.features.build import check_references, warn_unusable_events
    from creditflow.features.flatten import flatten_profiles
    from creditflow.features.prepare import align_ids, same_id_kind, warn_absent_texts

    files = dict(files or {})
    entity = spec.entity
    if isinstance(events, pd.DataFrame):
        n_parts = max(1, min(64, len(events) // 200_000 + 1))
        with dask.config.set({"dataframe.convert-string": False}):
            ev = dd.from_pandas(events.reset_index(drop=True), npartitions=n_parts, sort=False)
        pieces = None
    else:
        table = events if isinstance(events, PartitionedTable) else read_dataset(events)
        files.setdefault("events", table.path)
        ev, pieces = table.to_dask(), table.pieces
        n_parts = table.npartitions
    if entity not in ev.columns:
        raise DataError("column not found, needed by the spec ('entity')", file=files.get("events"), column=entity)
    p = int(partitions or n_parts)
    inputs = _Inputs(spec=spec, tags=tags, files=files, pieces=pieces)
    flat = None
    if profiles is not None:
        flat = flatten_profiles(profiles, spec.profile, file=files.get("profiles")).reset_index(drop=True)
    obs = observations.reset_index(drop=True)
    # ids as build_feature_table compares them (`align_ids`), before bucketing: 7 and "7" must share a bucket
    obs, flat, ev_meta = align_ids([obs, flat, ev._meta], entity)  # type: ignore[misc]
    if ev_meta is not ev._meta:  # the events' whole-number ids become text as on one machine
        ev = ev.map_partitions(_ids_as_text, entity, meta=ev_meta)
    for frame, which in ((obs, "observations"), (flat, "profiles")):
        if frame is not None and entity in frame.columns:
            same_id_kind(ev._meta[entity], frame[entity], entity, files.get("events"), which)
    check_references(obs, flat, spec, tags, files)  # before the events are shuffled
    _refuse_mixed_zones(client, events if isinstance(events, pd.DataFrame) else table, obs, inputs)
    with dask.config.set({"dataframe.convert-string": False}):
        ev = ev.map_partitions(_with_bucket, entity, p, meta=_with_bucket(ev._meta, entity, p))
        shuffled = [ev.shuffle(BUCKET, npartitions=p)]
        for frame in (obs, flat):
            if frame is not None:
                small = dd.from_pandas(_with_bucket(frame, entity, p), sort=False,
                                       npartitions=max(1, min(p, len(frame) // 50_000 + 1)))
                shuffled.append(small.shuffle(BUCKET, npartitions=p))
        columns = [x.to_delayed() for x in shuffled]
        tasks = [dask.delayed(_build_part)(*parts, inputs=inputs, engine=engine) for parts in zip(*columns, strict=True)]
        results = client.gather(client.compute(tasks))
    frame = pd.concat([f for f, _ in results]).sort_index()
    frame.index = pd.RangeIndex(len(frame))
    counts = {k: sum(r[k] for _, r in results) for k in _COUNTS}
    report = BuildReport(engine=f"dask+{engine}")
    report.n_observations = len(obs)
    report.n_profiles = None if flat is None else len(flat)
    for key, value in counts.items():
        setattr(report, key, int(value))
    zone = next((r["zone_warning"] for _, r in results if r.get("zone_warning")), None)
    if zone:  # every partition compares the same two columns: one warning
        report.warn(zone)
    held: dict[str, set] = {}
    for _, r in results:
        for col, values in r.get("filter_texts", {}).items():
            held.setdefault(col, set()).update(values)
    warn_absent_texts(spec, held, report, files.get("events"))
    rules = tags if tags is not None else spec.tags
    report.n_features = len(spec.output_names) + (len(rules.rules) if rules is not None else 0)
    for key, what in (("dropped_duplicate_events", "exact duplicate event row(s)"),
                      ("dropped_unknown_entity_events", "event(s) for entity ids not known")):
        if getattr(report, key):
            report.warn(f"dropped {getattr(report, key)} {what}")
    if report.observations_without_profile:
        report.warn(f"{report.observations_without_profile} observation(s) have no profile; "
                    "their profile columns are missing")
    with_entity_events = (report.observations_with_only_unusable_events + report.n_observations
                          - report.observations_without_events)  # the observations with events for their entity
    warn_unusable_events(report, with_entity_events)
    return FeatureTable(frame, report)


def _build_part(events: pd.DataFrame, observations: pd.DataFrame, profiles: pd.DataFrame | None = None, *,
                inputs: _Inputs, engine: str) -> tuple[pd.DataFrame, dict[str, Any]]:
    out = build_partition(events, observations, profiles, inputs, engine)
    return out, out.attrs.pop("report")

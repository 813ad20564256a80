"""The declarative behaviour-feature spec (YAML <-> dict <-> objects), validated in one place."""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from creditflow.data.errors import DataError
from creditflow.data.textfile import utf8_text, yaml_hint
from creditflow.features.expr import Expression
from creditflow.features.flatten import FlattenOptions
from creditflow.features.tags import TagRules
from creditflow.features.windows import Window

# Aggregations over the events of one window. `count` and `days_since_*` need no column.
AGGREGATIONS = (
    "count", "sum", "mean", "min", "max", "std", "first", "last",
    "days_since_last", "days_since_first", "slope", "ratio",
)
NO_COLUMN = ("count", "days_since_last", "days_since_first")
EVENT_PERIODS = ("month", "day")
ANCHORS = ("start", "end")
POLICIES = ("error", "drop")
_NAME = re.compile(r"^[^\s`\"']+$")


class SpecError(DataError):
    """The spec itself is wrong: unknown keys, aggregations, bad windows or names."""


@dataclass(frozen=True)
class Term:
    """One aggregation of one event column over one window, after the filters (all must hold)."""

    agg: str
    column: str | None
    window: Window
    filters: tuple[Expression, ...] = ()

    @property
    def columns(self) -> list[str]:
        cols = [self.column] if self.column else []
        for f in self.filters:
            cols += [c for c in f.columns if c not in cols]
        return cols


@dataclass(frozen=True)
class FeatureColumn:
    """One output column: a term, or (for `ratio`) numerator / denominator terms."""

    name: str
    term: Term | None = None
    numerator: Term | None = None
    denominator: Term | None = None

    @property
    def terms(self) -> list[Term]:
        return [t for t in (self.term, self.numerator, self.denominator) if t is not None]


@dataclass(frozen=True)
class Part:
    """Numerator or denominator of a ratio: an aggregation, a column and an optional filter."""

    agg: str
    column: str | None = None
    filter: Expression | None = None

    def to_dict(self) -> dict:
        out: dict[str, Any] = {"agg": self.agg}
        if self.column:
            out["column"] = self.column
        if self.filter is not None:
            out["filter"] = self.filter.text
        return out


@dataclass(frozen=True)
class FeatureDef:
    """A feature template, expanded over its windows: ``name`` may hold ``{window}``."""

    name: str
    agg: str
    column: str | None = None
    windows: tuple[Window, ...] = ()
    filter: Expression | None = None
    numerator: Part | None = None
    denominator: Part | None = None

    def expand(self) -> list[FeatureColumn]:
        """One `FeatureColumn` per window."""
        out = []
        base = (self.filter,) if self.filter is not None else ()
        for w in self.windows:
            name = self.name.format(window=w.label, agg=self.agg, column=self.column or "")
            if self.agg == "ratio":
                num, den = self.numerator, self.denominator
                assert num is not None and den is not None
                out.append(FeatureColumn(
                    name,
                    numerator=Term(num.agg, num.column, w, base + ((num.filter,) if num.filter else ())),
                    denominator=Term(den.agg, den.column, w, base + ((den.filter,) if den.filter else ())),
                ))
            else:
                out.append(FeatureColumn(name, term=Term(self.agg, self.column, w, base)))
        return out

    def to_dict(self) -> dict:
        out: dict[str, Any] = {"name": self.name, "agg": self.agg}
        if self.column:
            out["column"] = self.column
        out["windows"] = [w.to_dict() for w in self.windows]
        if self.filter is not None:
            out["filter"] = self.filter.text
        if self.numerator is not None and self.denominator is not None:
            out["numerator"] = self.numerator.to_dict()
            out["denominator"] = self.denominator.to_dict()
        return out


@dataclass(frozen=True)
class DerivedDef:
    """A feature computed from other output columns (features, profile columns) by an expression."""

    name: str
    expr: Expression

    def to_dict(self) -> dict:
        return {"name": self.name, "expr": self.expr.text}


@dataclass
class BehaviourSpec:
    """How to turn event logs (and profiles) into point-in-time features.

    Events are used for an observation only when ``event_time < observation_date`` (strictly
    before), and period-typed ones only once their period is complete: a day (``event_period: day``)
    from the next day on. Months (``event_period: month``, values such as ``2005-09``) are stamped
    at the start of the period by default (``period_anchor: start``) and used from their last day
    on, never before the time written: the 2005-09 statement is usable at 2005-09-30 but not at
    2005-09-15, and a 2005-10 one is not; ``period_anchor: end`` stamps them at the period's last
    day instead (usable from the next month's 1st on).
    """

    entity: str
    event_time: str
    features: list[FeatureDef] = field(default_factory=list)
    derived: list[DerivedDef] = field(default_factory=list)
    observation_date: str = "observation_date"
    event_period: str | None = None
    period_anchor: str = "start"
    time_format: str | None = None
    timezone: str | None = None
    on_duplicate: str = "error"
    on_unknown_entity: str = "error"
    tags: TagRules | None = None
    profile: FlattenOptions = field(default_factory=FlattenOptions)

    # -- construction -----------------------------------------------------------------------
    @classmethod
    def from_yaml(cls, path: str | Path) -> BehaviourSpec:
        """Read and validate a spec file; errors name the file and the offending entry."""
        path = Path(path)
        if not path.exists():
            raise SpecError("no such spec file", file=str(path))
        try:
            data = yaml.safe_load(utf8_text(path.read_bytes(), path, "spec file", SpecError))
        except yaml.YAMLError as exc:
            raise SpecError(f"cannot parse YAML: {exc}", file=str(path), hint=yaml_hint(exc)) from None
        try:
            return cls.from_dict(data)
        except DataError as exc:
            raise SpecError(exc.reason, file=str(path), column=exc.column, hint=exc.hint) from None

    @classmethod
    def from_dict(cls, data: Mapping | None) -> BehaviourSpec:
        """Build from the dict form (as written by `to_dict` or read from YAML)."""
        if not isinstance(data, Mapping):
            raise SpecError(f"the spec must be a mapping, got {type(data).__name__}")
        # keys starting with "." only hold YAML anchors (e.g. a list of windows reused below)
        data = {k: v for k, v in copy.deepcopy(dict(data)).items() if not str(k).startswith(".")}
        allowed = {
            "entity", "event_time", "event_period", "period_anchor", "time_format", "timezone",
            "observation_date", "on_duplicate", "on_unknown_entity", "windows", "features",
            "derived", "tags", "profile",
        }
        _no_unknown(data, allowed, "the spec")
        for key in ("entity", "event_time"):
            if not isinstance(data.get(key), str) or not data[key]:
                raise SpecError(f"'{key}' (a column name) is required")
        default_windows = [_window(w, "windows") for w in _as_list(data.get("windows"), "windows")]
        features = [
            _feature(f, default_windows, i) for i, f in enumerate(_as_list(data.get("features"), "features"))
        ]
        derived = [_derived(d, i) for i, d in enumerate(_as_list(data.get("derived"), "derived"))]
        tags = data.get("tags")
        spec = cls(
            entity=data["entity"],
            event_time=data["event_time"],
            features=features,
            derived=derived,
            observation_date=str(data.get("observation_date", "observation_date")),
            event_period=data.get("event_period"),
            period_anchor=str(data.get("period_anchor", "start")),
            time_format=data.get("time_format"),
            timezone=data.get("timezone"),
            on_duplicate=str(data.get("on_duplicate", "error")),
            on_unknown_entity=str(data.get("on_unknown_entity", "error")),
            tags=TagRules.from_dict(tags) if tags is not None else None,
            profile=FlattenOptions.from_dict(data.get("profile")),
        )
        spec.validate()
        return spec

    def validate(self) -> None:
        """Check choices and that output names are unique; raise `SpecError` otherwise."""
        _choice(self.event_period, (None, *EVENT_PERIODS), "event_period")
        _choice(self.period_anchor, ANCHORS, "period_anchor")
        _choice(self.on_duplicate, POLICIES, "on_duplicate")
        _choice(self.on_unknown_entity, POLICIES, "on_unknown_entity")
        if self.timezone is not None:
            if not isinstance(self.timezone, str):
                raise SpecError(f"timezone must be a name such as 'Asia/Shanghai' or '+08:00', not {self.timezone!r}")
            import pandas as pd

            try:  # read as the times will be converted (pandas: IANA names, 'UTC', fixed offsets such as '+08:00')
                pd.Timestamp("2000-01-01", tz="UTC").tz_convert(self.timezone)
            except (KeyError, ValueError, TypeError):  # unknown-zone errors subclass KeyError
                raise SpecError(f"timezone {self.timezone!r} is not a known time zone",
                                hint="an IANA name such as 'Asia/Shanghai', 'UTC' or an offset such as '+08:00'") from None
        if not self.features and not self.derived:
            raise SpecError("the spec defines no features")
        seen: set[str] = {self.entity, self.observation_date}
        for name in self.output_names:
            if not _NAME.match(name):
                raise SpecError(f"feature name {name!r} must not contain spaces or quotes", column=name)
            if name in seen:
                raise SpecError(f"feature name {name!r} is used twice (or clashes with a key column)", column=name)
            seen.add(name)

    def to_dict(self) -> dict:
        """The JSON-serialisable dict form; `from_dict(to_dict())` gives an equal spec."""
        out: dict[str, Any] = {
            "entity": self.entity,
            "event_time": self.event_time,
            "event_period": self.event_period,
            "period_anchor": self.period_anchor,
            "time_format": self.time_format,
            "timezone": self.timezone,
            "observation_date": self.observation_date,
            "on_duplicate": self.on_duplicate,
            "on_unknown_entity": self.on_unknown_entity,
            "features": [f.to_dict() for f in self.features],
            "derived": [d.to_dict() for d in self.derived],
            "profile": self.profile.to_dict(),
        }
        if self.tags is not None:
            out["tags"] = self.tags.to_dict()
        return out

    def to_yaml(self, path: str | Path) -> None:
        """Write the dict form as YAML."""
        Path(path).write_text(yaml.safe_dump(self.to_dict(), sort_keys=False, allow_unicode=True), "utf-8")

    # -- derived views ----------------------------------------------------------------------
    @property
    def columns(self) -> list[FeatureColumn]:
        """Every windowed feature column, in spec order."""
        return [c for f in self.features for c in f.expand()]

    @property
    def output_names(self) -> list[str]:
        """Names of all behaviour and derived feature columns, in output order."""
        return [c.name for c in self.columns] + [d.name for d in self.derived]

    @property
    def event_columns(self) -> list[str]:
        """Event columns the spec reads besides the entity and the event time."""
        out: list[str] = []
        for col in self.columns:
            for term in col.terms:
                out += [c for c in term.columns if c not in out]
        return out

    @property
    def value_columns(self) -> list[str]:
        """Event columns aggregated as numbers."""
        out: list[str] = []
        for col in self.columns:
            out += [t.column for t in col.terms if t.column and t.column not in out]
        return out


def _no_unknown(data: Mapping, allowed: set[str], where: str) -> None:
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise SpecError(f"{where}: unknown key(s) {unknown}; expected some of {sorted(allowed)}")


def _choice(value: object, choices: tuple, key: str) -> None:
    if value not in choices:
        raise SpecError(f"'{key}' must be one of {list(choices)}, got {value!r}")


def _as_list(value: object, key: str) -> list:
    if value is None:
        return []
    if not isinstance(value, list):
        raise SpecError(f"'{key}' must be a list, got {type(value).__name__}")
    return value


def _window(value: object, where: str) -> Window:
    try:
        return Window.parse(value)
    except DataError as exc:
        raise SpecError(f"{where}: {exc.reason}", hint=exc.hint) from None


def _expression(text: object, where: str) -> Expression:
    try:
        return Expression.parse(text)  # type: ignore[arg-type]
    except DataError as exc:
        raise SpecError(f"{where}: {exc.reason}", hint=exc.hint) from None


def _condition(text: object, where: str) -> Expression:
    """A filter: an expression that is true/false (``dpd`` alone or ``dpd + 1`` is not)."""
    expr = _expression(text, where)
    try:
        expr.check(condition=True)
    except DataError as exc:
        raise SpecError(f"{where}: {exc.reason}", hint=exc.hint) from None
    return expr


def _part(data: object, where: str) -> Part:
    if not isinstance(data, Mapping):
        raise SpecError(f"{where} must be a mapping with 'agg' and 'column'")
    _no_unknown(data, {"agg", "column", "filter"}, where)
    agg = data.get("agg")
    if agg not in AGGREGATIONS or agg == "ratio":
        raise SpecError(f"{where}: unknown aggregation {agg!r}; expected one of {list(AGGREGATIONS[:-1])}")
    column = data.get("column")
    if agg not in NO_COLUMN and not column:
        raise SpecError(f"{where}: aggregation '{agg}' needs a 'column'")
    filt = _condition(data["filter"], where) if data.get("filter") is not None else None
    return Part(agg, str(column) if column else None, filt)


def _feature(data: object, default_windows: list[Window], i: int) -> FeatureDef:
    where = f"features[{i}]"
    if not isinstance(data, Mapping):
        raise SpecError(f"{where} must be a mapping")
    _no_unknown(data, {"name", "agg", "column", "windows", "filter", "numerator", "denominator"}, where)
    agg = data.get("agg")
    if agg not in AGGREGATIONS:
        raise SpecError(f"{where}: unknown aggregation {agg!r}; expected one of {list(AGGREGATIONS)}")
    where = f"features[{i}] ({data.get('name') or agg})"
    column = data.get("column")
    if agg not in NO_COLUMN and agg != "ratio" and not column:
        raise SpecError(f"{where}: aggregation '{agg}' needs a 'column'")
    windows = [_window(w, where) for w in _as_list(data.get("windows"), f"{where} windows")] or default_windows
    if not windows:
        raise SpecError(f"{where}: no windows (give 'windows' here or at the top of the spec)")
    labels = [w.label for w in windows]
    if len(set(labels)) != len(labels):
        raise SpecError(f"{where}: window labels repeat: {labels}")
    name = data.get("name")
    if agg == "ratio":
        if "numerator" not in data or "denominator" not in data or not name:
            raise SpecError(f"{where}: 'ratio' needs a 'name', a 'numerator' and a 'denominator'")
    if name is None:
        name = f"{column}_{agg}_{{window}}" if column else f"{agg}_{{window}}"
    name = str(name)
    try:
        name.format(window="W", agg=agg, column=column or "")
    except (KeyError, IndexError, ValueError):
        raise SpecError(f"{where}: name {name!r} may only use {{window}}, {{agg}} and {{column}}") from None
    if "{window}" not in name and len(windows) > 1:
        raise SpecError(f"{where}: name {name!r} must contain {{window}} since it has {len(windows)} windows")
    return FeatureDef(
        name=name,
        agg=str(agg),
        column=str(column) if column else None,
        windows=tuple(windows),
        filter=_condition(data["filter"], where) if data.get("filter") is not None else None,
        numerator=_part(data["numerator"], f"{where} numerator") if agg == "ratio" else None,
        denominator=_part(data["denominator"], f"{where} denominator") if agg == "ratio" else None,
    )


def _derived(data: object, i: int) -> DerivedDef:
    where = f"derived[{i}]"
    if not isinstance(data, Mapping) or "name" not in data or "expr" not in data:
        raise SpecError(f"{where} must be a mapping with 'name' and 'expr'")
    _no_unknown(data, {"name", "expr"}, where)
    return DerivedDef(str(data["name"]), _expression(data["expr"], f"{where} ({data['name']})"))

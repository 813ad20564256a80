"""Profile tags (标签) from declarative rules: ordered conditions, the first that holds gives the value.

YAML form (the top-level ``tags:`` key is optional)::

    tags:
      age_band:
        - {when: "demographics__age < 25", value: "<25"}
        - {when: "demographics__age < 35", value: "25-34"}
        - {when: "notna(demographics__age)", value: "35+"}
      life_stage:
        - {when: "demographics__marriage == 'married'", value: family}
        - {value: other}            # no 'when': the default, must come last

A row that no case matches, or whose condition is unknown because a value is missing, takes the
default when one is given and is missing otherwise. Rules run in order, so a rule may use the tags
made before it. `to_dict()` / `from_dict()` give a JSON-serialisable form for model bundles.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from creditflow.data.errors import DataError
from creditflow.data.textfile import utf8_text, yaml_hint
from creditflow.features.expr import Expression


@dataclass(frozen=True)
class TagRule:
    """One tag column: `cases` are (condition, value) pairs tried in order; `default` if none holds."""

    name: str
    cases: tuple[tuple[Expression, Any], ...]
    default: Any = None

    def apply(self, frame: pd.DataFrame) -> pd.Series:
        """The tag value for each row of `frame`."""
        values = [v for _, v in self.cases] + ([self.default] if self.default is not None else [])
        numeric = bool(values) and all(
            isinstance(v, (int, float)) and not isinstance(v, bool) for v in values
        )
        out = np.full(len(frame), np.nan if numeric else None, dtype=float if numeric else object)
        done = np.zeros(len(frame), dtype=bool)
        for cond, value in self.cases:
            hit = cond.mask(frame) & ~done
            out[hit] = value
            done |= hit
        if self.default is not None:
            out[~done] = self.default
        series = pd.Series(out, index=frame.index, name=self.name)
        return series if numeric else series.astype("str").where(pd.notna(series))

    def to_dict(self) -> list[dict]:
        cases: list[dict] = [{"when": c.text, "value": v} for c, v in self.cases]
        if self.default is not None:
            cases.append({"value": self.default})
        return cases


@dataclass
class TagRules:
    """An ordered set of tag rules, applied to a flat profile (or feature) table."""

    rules: list[TagRule] = field(default_factory=list)

    @classmethod
    def from_dict(cls, data: Mapping | None) -> TagRules:
        """Build from ``{tag: [{when, value}, ..., {value}]}`` (optionally under a ``tags`` key)."""
        if isinstance(data, Mapping) and set(data) == {"tags"}:
            data = data["tags"]
        if not isinstance(data, Mapping) or not data:
            raise DataError("tag rules must be a mapping of tag name -> list of {when, value} cases")
        return cls([_rule(str(name), cases) for name, cases in data.items()])

    @classmethod
    def from_yaml(cls, path: str | Path) -> TagRules:
        """Read tag rules from a YAML file; errors name the file."""
        path = Path(path)
        if not path.exists():
            raise DataError("no such tag rule file", file=str(path))
        try:
            data = yaml.safe_load(utf8_text(path.read_bytes(), path, "tag rule file", DataError))
            return cls.from_dict(data)
        except yaml.YAMLError as exc:
            raise DataError(f"cannot parse YAML: {exc}", file=str(path), hint=yaml_hint(exc)) from None
        except DataError as exc:
            raise DataError(exc.reason, file=str(path), column=exc.column, hint=exc.hint) from None

    def to_dict(self) -> dict:
        """JSON-serialisable form; `from_dict(to_dict())` gives equal rules."""
        return {r.name: r.to_dict() for r in self.rules}

    @property
    def names(self) -> list[str]:
        return [r.name for r in self.rules]

    @property
    def columns(self) -> list[str]:
        """Input columns the rules read (excluding tags made by earlier rules)."""
        out: list[str] = []
        for r in self.rules:
            for cond, _ in r.cases:
                out += [c for c in cond.columns if c not in out and c not in self.names]
        return out

    def apply(self, frame: pd.DataFrame, *, file: str | None = None) -> pd.DataFrame:
        """A copy of `frame` with one column per tag added (in rule order)."""
        out = frame.copy()
        for rule in self.rules:
            if rule.name in frame.columns:
                raise DataError("a tag has the name of an existing column", file=file, column=rule.name)
            try:
                out[rule.name] = rule.apply(out)
            except DataError as exc:
                raise DataError(f"tag '{rule.name}': {exc.reason}", file=file, column=rule.name) from None
        return out


def _rule(name: str, cases: object) -> TagRule:
    if not isinstance(cases, list) or not cases:
        raise DataError(f"tag '{name}': expected a list of {{when, value}} cases", column=name)
    parsed: list[tuple[Expression, Any]] = []
    default = None
    for i, case in enumerate(cases):
        if not isinstance(case, Mapping) or "value" not in case or set(case) - {"when", "value"}:
            raise DataError(f"tag '{name}' case {i}: expected keys 'when' and 'value'", column=name)
        value = case["value"]
        if value is None or not isinstance(value, (str, int, float, bool)):
            raise DataError(f"tag '{name}' case {i}: the value must be text or a number", column=name)
        if "when" not in case:
            if i != len(cases) - 1:
                raise DataError(f"tag '{name}': the default (a case without 'when') must come last", column=name)
            default = value
            continue
        try:
            parsed.append((Expression.parse(case["when"]), value))
        except DataError as exc:
            raise DataError(f"tag '{name}' case {i}: {exc.reason}", column=name) from None
    return TagRule(name, tuple(parsed), default)

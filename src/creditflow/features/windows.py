"""Look-back windows: durations in months or days before an observation date.

A window of length L and offset O holds the events with
``observation - (O + L) <= event_time < observation - O``; both bounds are computed from the
observation date directly (month arithmetic clips to the month end, as pandas ``DateOffset`` and
DuckDB ``INTERVAL`` both do: 2005-03-31 minus one month is 2005-02-28). Windows with the same
unit and adjacent offsets therefore tile time without gaps or overlaps.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

import pandas as pd

from creditflow.data.errors import DataError

_DURATION = re.compile(r"^\s*(\d+)\s*(m|d)\s*$", re.IGNORECASE)
UNITS = {"m": "months", "d": "days"}


@dataclass(frozen=True)
class Duration:
    """A whole number of months (`unit='m'`) or days (`unit='d'`)."""

    n: int
    unit: str

    @classmethod
    def parse(cls, text: object) -> Duration:
        """Parse ``'3m'`` (3 months) or ``'90d'`` (90 days)."""
        m = _DURATION.match(str(text))
        if not m:
            raise DataError(f"cannot read duration {text!r}; write e.g. '3m' (months) or '90d' (days)")
        return cls(int(m.group(1)), m.group(2).lower())

    def __str__(self) -> str:
        return f"{self.n}{self.unit}"

    def subtract_from(self, times: pd.Series) -> pd.Series:
        """`times` minus this duration (months clip to the month end)."""
        if self.n == 0:
            return times
        if self.unit == "m":
            return times - pd.DateOffset(months=self.n)
        return times - pd.Timedelta(days=self.n)

    def add_to(self, times: pd.Series) -> pd.Series:
        """`times` plus this duration (months clip to the month end)."""
        if self.n == 0:
            return times
        if self.unit == "m":
            return times + pd.DateOffset(months=self.n)
        return times + pd.Timedelta(days=self.n)

    def sql_interval(self) -> str:
        """The DuckDB interval literal, e.g. ``INTERVAL 3 MONTH``."""
        return f"INTERVAL {self.n} {'MONTH' if self.unit == 'm' else 'DAY'}"


@dataclass(frozen=True)
class Window:
    """Events in ``[obs - (offset + length), obs - offset)``; `label` names it in feature names."""

    length: Duration
    offset: Duration
    label: str

    @classmethod
    def parse(cls, value: object) -> Window:
        """Read ``'3m'``, ``'90d'`` or ``{length: 1m, offset: 2m, label: m3}``."""
        if isinstance(value, Window):
            return value
        if isinstance(value, Mapping):
            unknown = set(value) - {"length", "offset", "label"}
            if unknown or "length" not in value:
                raise DataError(
                    f"window {dict(value)!r}: expected keys 'length' and optionally 'offset', 'label'"
                )
            length = Duration.parse(value["length"])
            offset = Duration.parse(value.get("offset", f"0{length.unit}"))
            label = value.get("label")
        else:
            length = Duration.parse(value)
            offset = Duration(0, length.unit)
            label = None
        if length.n <= 0:
            raise DataError(f"window {value!r}: the length must be positive")
        if offset.unit != length.unit and offset.n != 0:
            raise DataError(f"window {value!r}: length and offset must use the same unit (m or d)")
        offset = Duration(offset.n, length.unit)
        if label is None:
            label = str(length) if offset.n == 0 else f"{offset}_{offset.n + length.n}{length.unit}"
        if not re.fullmatch(r"\w+", str(label)):
            raise DataError(f"window label {label!r} must be letters, digits or '_'")
        return cls(length, offset, str(label))

    @property
    def start(self) -> Duration:
        """How far before the observation the window starts (offset + length)."""
        return Duration(self.offset.n + self.length.n, self.length.unit)

    def bounds(self, observation: pd.Series) -> tuple[pd.Series, pd.Series]:
        """(inclusive lower, exclusive upper) event-time bounds for each observation time."""
        return self.start.subtract_from(observation), self.offset.subtract_from(observation)

    def to_dict(self) -> dict | str:
        if self.offset.n == 0 and self.label == str(self.length):
            return str(self.length)
        return {"length": str(self.length), "offset": str(self.offset), "label": self.label}

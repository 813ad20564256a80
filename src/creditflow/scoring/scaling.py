"""Points scaling (points to double the odds) and risk grades by score band."""

from __future__ import annotations

import bisect
import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from creditflow.data.errors import CreditflowError


def _arrow_text() -> bool:
    """Whether pandas stores text as Arrow strings by default (pandas 3, or `future.infer_string`)."""
    dtype = pd.Series(["A"]).dtype
    return isinstance(dtype, pd.StringDtype) and dtype.storage == "pyarrow"


@dataclass
class Scaling:
    """score = offset + factor * ln(good:bad odds), factor = pdo / ln 2, clipped to [min_score, max_score].

    Defaults: 600 points at odds of 10 goods to 1 bad (9.1% bad), 35 points to double the odds,
    on a 350-950 scale where higher is better. The scale then spans bad probabilities from about
    0.93 (350) to 0.0001 (950), so few point totals are clipped even in high-risk books; grades
    (Sesame Credit's bands) start at about 21% bad (550), 9% (600), 3.6% (650) and 1.4% (700).
    """

    base_score: float = 600.0
    base_odds: float = 10.0
    pdo: float = 35.0
    min_score: int = 350
    max_score: int = 950

    def check(self) -> None:
        for name, value in asdict(self).items():
            if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) or value != value:
                raise CreditflowError(f"scaling {name} must be a number, not {value!r}")
        if not 1 <= self.pdo <= 1000:
            # points are whole numbers: below 1 point per doubling of the odds most bins round to 0
            raise CreditflowError(f"pdo must be between 1 and 1000 points, not {self.pdo}")
        if not 0 < self.base_odds <= 1e6:
            raise CreditflowError(f"base_odds must be positive and at most 1,000,000, not {self.base_odds}")
        for name in ("base_score", "min_score", "max_score"):
            if not abs(getattr(self, name)) <= 1e6:
                raise CreditflowError(f"{name} must be between -1,000,000 and 1,000,000, not {getattr(self, name)}")
        for name in ("min_score", "max_score"):
            value = getattr(self, name)
            if not math.isfinite(value) or float(value) != int(value):
                raise CreditflowError(f"{name} must be a whole number (scores are integers), not {value!r}")
        if self.min_score >= self.max_score:
            raise CreditflowError(f"min_score {self.min_score} must be below max_score {self.max_score}")

    @property
    def factor(self) -> float:
        return self.pdo / math.log(2.0)

    @property
    def offset(self) -> float:
        return self.base_score - self.factor * math.log(self.base_odds)

    def score_from_logit(self, logit_bad: np.ndarray) -> np.ndarray:
        """Integer scores from the log-odds of bad."""
        raw = self.offset - self.factor * np.asarray(logit_bad, dtype=float)
        return self.clip(np.rint(raw))

    def score_from_proba(self, p_bad: np.ndarray) -> np.ndarray:
        p = np.clip(np.asarray(p_bad, dtype=float), 1e-12, 1 - 1e-12)
        return self.score_from_logit(np.log(p / (1 - p)))

    def proba_from_score(self, score: np.ndarray) -> np.ndarray:
        """Probability of bad that a score stands for."""
        logit = (self.offset - np.asarray(score, dtype=float)) / self.factor
        return 1.0 / (1.0 + np.exp(-logit))

    def clip(self, score: np.ndarray) -> np.ndarray:
        return np.clip(score, self.min_score, self.max_score).astype(np.int64)

    def to_dict(self) -> dict:
        return asdict(self)


def _is_band(band: object) -> bool:
    """A (grade name, lowest score as a whole number) pair, as a bundle stores and checks it."""
    if not isinstance(band, (list, tuple)) or len(band) != 2 or isinstance(band[1], bool):
        return False
    if not isinstance(band[0], str) or not band[0]:
        return False
    try:
        return float(band[1]) == int(band[1])
    except (TypeError, ValueError, OverflowError):
        return False


DEFAULT_BANDS = [("A", 700), ("B", 650), ("C", 600), ("D", 550), ("E", 350)]


@dataclass
class Grades:
    """Risk grades by score band: each (grade, lowest score) pair, best grade first.

    The default follows Sesame Credit's bands: 700+ A, 650-699 B, 600-649 C, 550-599 D, below 550 E.
    """

    bands: list[tuple[str, int]] = field(default_factory=lambda: list(DEFAULT_BANDS))

    @classmethod
    def of(cls, bands: Any, scaling: Scaling) -> Grades:
        """The grades a model's `grades` parameter asks for (empty or None: the default bands), checked; bands
        given are checked against the model's `scaling` too (the defaults fit any scale)."""
        if isinstance(bands, Grades):
            bands = bands.bands
        grades = cls(bands=list(bands)) if bands else cls()
        grades.check(scaling if bands else None)
        return grades

    def check(self, scaling: Scaling | None = None) -> None:
        """Refuse malformed bands; with the model's `scaling`, also a band no score can reach."""
        bands = self.bands if isinstance(self.bands, (list, tuple)) else [self.bands]
        bad = [b for b in bands if not _is_band(b)]
        if bad:
            raise CreditflowError(f"each grade must be a (name, lowest score) pair such as ('A', 700), not {bad[0]!r}; "
                                  "on the command line: -p grades='[[\"A\",700],[\"B\",600],[\"C\",350]]'")
        mins = [int(m) for _, m in self.bands]
        if not self.bands or mins != sorted(mins, reverse=True) or len(set(mins)) != len(mins):
            raise CreditflowError(f"grade bands must be listed best first with falling minimum scores: {self.bands}")
        names = [str(g) for g, _ in self.bands]
        if len(set(names)) != len(names):
            raise CreditflowError(f"grade names must differ from each other: {names}")
        if scaling is not None and len(mins) > 1 and mins[0] > scaling.max_score:
            raise CreditflowError(f"grade {names[0]!r} starts at {mins[0]}, above the highest score "
                                  f"{scaling.max_score}: no applicant could get it")

    @property
    def names(self) -> list[str]:
        return [g for g, _ in self.bands]

    def assign(self, scores: np.ndarray) -> np.ndarray:
        """Grade of each score (object array); scores below the lowest band get the worst grade."""
        return np.asarray([g for g, _ in reversed(self.bands)], dtype=object)[self._positions(scores)]

    def column(self, scores: np.ndarray) -> Any:
        """`assign` as a column for a DataFrame, of pandas' default text dtype. Under pandas 3 that is
        Arrow-backed text: built by an Arrow take from the grade names (about 8x faster than converting
        an object array of a million strings); otherwise the object array itself."""
        pos = self._positions(scores)
        if not _arrow_text():
            return np.asarray([g for g, _ in reversed(self.bands)], dtype=object)[pos]
        import pyarrow as pa

        names = pa.array([g for g, _ in reversed(self.bands)], type=pa.large_string())
        return pd.array(names.take(pa.array(pos)), dtype=pd.Series(["A"]).dtype)

    def _positions(self, scores: np.ndarray) -> np.ndarray:
        lows = np.asarray([m for _, m in reversed(self.bands)], dtype=float)
        pos = np.searchsorted(lows, np.asarray(scores, dtype=float), side="right") - 1
        return np.clip(pos, 0, len(lows) - 1)

    def grade(self, score: float) -> str:
        """Grade of one score (the same as `assign`)."""
        lows, names = self._lookup()
        pos = bisect.bisect_right(lows, score) - 1
        return names[pos if pos > 0 else 0]

    def _lookup(self) -> tuple[list[int], list[str]]:
        cache = self.__dict__.get("_cache")
        if cache is None or cache[0] != self.bands:
            cache = (list(self.bands), [m for _, m in reversed(self.bands)], [g for g, _ in reversed(self.bands)])
            self.__dict__["_cache"] = cache
        return cache[1], cache[2]

    def table(self, scaling: Scaling) -> list[dict]:
        """Each grade's score range and the bad-probability range its scores stand for."""
        rows = []
        upper = scaling.max_score
        for k, (name, low) in enumerate(self.bands):
            # the worst grade also takes every score below its own minimum (see `assign`)
            lo = scaling.min_score if k == len(self.bands) - 1 else max(low, scaling.min_score)
            rows.append({
                "grade": name, "min_score": lo, "max_score": upper,
                "max_bad_probability": float(scaling.proba_from_score(lo)),
                "min_bad_probability": float(scaling.proba_from_score(upper)),
            })
            upper = lo - 1
        return rows

    def to_dict(self) -> dict:
        return {"bands": [[g, int(m)] for g, m in self.bands]}

    @classmethod
    def from_dict(cls, data: dict | None) -> Grades:
        if not data:
            return cls()
        return cls(bands=[(str(g), int(m)) for g, m in data["bands"]])


def _grades(n: int) -> str:
    return "1 populated grade" if n == 1 else f"{n} populated grades"


def empty_grades(grades: Grades, scores: Any, counts: Any = None) -> tuple[list[str], str] | None:
    """The grades that hold none of the development scores, when two or more do (`counts`: rows per score, for
    a histogram), and what to do, with bands at the development score quantiles to start from; else None."""
    s = np.asarray(scores, dtype=float)
    w = np.ones(len(s)) if counts is None else np.asarray(counts, dtype=float)
    s, w = s[w > 0], w[w > 0]
    if not len(s):
        return None
    # integer scores: a few hundred distinct values however many rows, each with its total weight
    s, inverse = np.unique(s, return_inverse=True)
    w = np.bincount(inverse.ravel(), weights=w, minlength=len(s))
    held = set(grades.assign(s))
    empty = [g for g in grades.names if g not in held]
    if len(empty) < 2:
        return None
    cum = np.cumsum(w)
    k = len(grades.names)
    lows = [int(s[np.searchsorted(cum, cum[-1] * i / k)]) for i in range(k - 1, 0, -1)]
    text = (f"{len(empty)} of the {k} grades ({', '.join(empty)}) hold no development rows (scores "
            f"{int(s[0])}–{int(s[-1])}): the grade bands do not fit this portfolio, and calibration and bad rate by "
            f"grade rest on only {_grades(k - len(empty))}. Set bands that do with the model's grades parameter")
    last = grades.bands[-1][1]
    if all(a > b for a, b in zip(lows, [*lows[1:], last], strict=True)):
        bands = [[g, m] for g, m in zip(grades.names, [*lows, last], strict=True)]
        shown = ",".join(f'["{g}",{m}]' for g, m in bands)
        text += f", e.g. at the development score quantiles: train -p grades='[{shown}]' (in Python: grades=[...])"
    return empty, text + "; or move the scale itself (-p scaling.base_odds=..., scaling.base_score=...)."


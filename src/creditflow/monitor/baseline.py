"""The monitoring baseline a bundle keeps from fit time (`baseline.json`).

It records, on the training rows: the score's distribution over its training deciles (edges stored),
each grade's share and promised bad rate (mean predicted probability of bad), and for every column
its bin shares (the model's own bins when it has a `binning_`, else deciles or top categories),
missing rate, range (min/max) and category set. Only the `CreditModel` protocol is used:
`scores`, `features_`, `grades_` (and `binning_`, `dictionary_` when present).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from creditflow.binning.process import as_frame
from creditflow.binning.variable import VariableBinning, category_key, category_keys
from creditflow.data.errors import BundleError, DataError
from creditflow.monitor.bins import (
    MAX_CATEGORIES,  # category sets larger than this are not stored (no out-of-set check for that column)
    QUANTILE_BINS,
    bin_counts,
    layout_from_spec,
    layout_spec,
    own_layout,
    quantile_splits,
)

BASELINE_FILE = "baseline.json"
FORMAT = "creditflow-baseline"
FORMAT_VERSION = 1
SCORE_BINS = 10


@dataclass
class Distribution:
    """A bin layout and the share of baseline rows in each bin (Missing/Special/Unseen included)."""

    layout: VariableBinning
    shares: np.ndarray

    @property
    def labels(self) -> list[str]:
        return self.layout.labels

    @classmethod
    def measure(cls, layout: VariableBinning, values: pd.Series) -> Distribution:
        counts = bin_counts(layout, values)[0].astype(float)
        return cls(layout=layout, shares=counts / max(counts.sum(), 1.0))

    def to_dict(self) -> dict[str, Any]:
        return {"layout": layout_spec(self.layout), "shares": [float(s) for s in self.shares]}

    @classmethod
    def from_dict(cls, name: str, data: dict[str, Any]) -> Distribution:
        layout = layout_from_spec(name, data["layout"])
        shares = np.asarray(data["shares"], dtype=float)
        if len(shares) != len(layout.labels):
            raise BundleError(f"{BASELINE_FILE}: '{name}' has {len(shares)} shares for {len(layout.labels)} bins")
        return cls(layout=layout, shares=shares)


@dataclass
class VariableBaseline:
    """One column at fit time: its bin shares, missing rate and range or category set."""

    name: str
    in_model: bool
    source: str  # "model bins" | "deciles" | "categories"
    dist: Distribution
    missing_rate: float
    min: float | None = None
    max: float | None = None
    categories: list[str] | None = None
    meaning: str = ""

    @property
    def numeric(self) -> bool:
        return self.dist.layout.kind == "numeric"

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name, "meaning": self.meaning, "in_model": self.in_model, "source": self.source,
            **self.dist.to_dict(), "missing_rate": self.missing_rate, "min": self.min, "max": self.max,
            "categories": self.categories,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> VariableBaseline:
        return cls(
            name=d["name"], in_model=bool(d["in_model"]), source=d.get("source", ""),
            dist=Distribution.from_dict(d["name"], d), missing_rate=float(d["missing_rate"]),
            min=_number(d.get("min")), max=_number(d.get("max")), categories=d.get("categories"),
            meaning=d.get("meaning", ""),
        )


@dataclass
class GradeBaseline:
    """A grade's score range, share of baseline rows, and the bad rate it promised (mean predicted PD)."""

    grade: str
    min_score: int
    max_score: int
    rows: int
    share: float
    promised_bad_rate: float | None
    observed_bad_rate: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> GradeBaseline:
        return cls(grade=str(d["grade"]), min_score=int(d["min_score"]), max_score=int(d["max_score"]),
                   rows=int(d["rows"]), share=float(d["share"]), promised_bad_rate=_number(d.get("promised_bad_rate")),
                   observed_bad_rate=_number(d.get("observed_bad_rate")))


def _number(value: Any) -> float | None:
    """A stored number read back as float (None stays None); a value that is no number is a ValueError/TypeError,
    which `Baseline.from_dict` reports as an incomplete baseline."""
    return None if value is None else float(value)


@dataclass
class Baseline:
    """Everything monitoring compares against; `to_dict()` is `baseline.json`."""

    model_type: str
    rows: int
    score: Distribution
    grades: list[GradeBaseline]
    variables: list[VariableBaseline]
    mean_score: float
    mean_probability: float
    performance: dict[str, float] | None = None
    features: list[str] = field(default_factory=list)
    score_histogram: dict[str, Any] | None = None  # {"min": lowest score, "counts": rows per integer score}

    def variable(self, name: str) -> VariableBaseline:
        for v in self.variables:
            if v.name == name:
                return v
        raise KeyError(name)

    def grade(self, name: str) -> GradeBaseline | None:
        return next((g for g in self.grades if g.grade == name), None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT, "format_version": FORMAT_VERSION, "model_type": self.model_type, "rows": self.rows,
            "features": list(self.features),
            "score": {**self.score.to_dict(), "mean": self.mean_score, "histogram": self.score_histogram},
            "probability": {"mean": self.mean_probability}, "performance": self.performance,
            "grades": [g.to_dict() for g in self.grades], "variables": [v.to_dict() for v in self.variables],
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Baseline:
        if d.get("format") != FORMAT:
            raise BundleError(f"{BASELINE_FILE} is not a {FORMAT} document")
        if int(d.get("format_version", 0)) > FORMAT_VERSION:
            raise BundleError(f"{BASELINE_FILE} format {d.get('format_version')} is newer than this creditflow reads")
        try:
            return cls(
                model_type=d["model_type"], rows=int(d["rows"]), score=Distribution.from_dict("score", d["score"]),
                grades=[GradeBaseline.from_dict(g) for g in d["grades"]],
                variables=[VariableBaseline.from_dict(v) for v in d["variables"]],
                mean_score=float(d["score"]["mean"]), mean_probability=float(d["probability"]["mean"]),
                performance=d.get("performance"), features=list(d.get("features", [])),
                score_histogram=d["score"].get("histogram"),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise BundleError(f"{BASELINE_FILE} is incomplete: {exc!r}") from None


def model_layout(name: str, model: Any) -> VariableBinning | None:
    """The model's own bins of a variable (splits or groups, specials), without their counts; None if unbinned."""
    binning = getattr(getattr(model, "binning_", None), "bins_", {}) or {}
    if name not in binning:
        return None
    vb = binning[name]
    return VariableBinning(name=name, kind=vb.kind, splits=list(vb.splits),
                           groups=[list(g) for g in vb.groups], special_values=list(vb.special_values))


def _variable(name: str, values: pd.Series, model: Any, in_model: bool, bins: int) -> VariableBaseline:
    layout = model_layout(name, model)
    if layout is not None:
        source = "model bins"
    else:
        layout = own_layout(name, values, bins)
        source = "deciles" if layout.kind == "numeric" else "categories"
    dist = Distribution.measure(layout, values)
    # the Missing bin's share: what monitoring compares it with (blank text cells are missing there too)
    out = VariableBaseline(name=name, in_model=in_model, source=source, dist=dist,
                           missing_rate=float(dist.shares[layout.missing_index]))
    if layout.kind == "numeric":
        x = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
        regular = x[np.isfinite(x) & ~np.isin(x, layout.special_values)]
        if regular.size:
            out.min, out.max = float(regular.min()), float(regular.max())
    else:
        keys = pd.unique(pd.Series(category_keys(values)).dropna())
        if len(keys) <= MAX_CATEGORIES:
            specials = {category_key(v) for v in layout.special_values}
            out.categories = sorted(str(k) for k in keys if k not in specials)
    dictionary = getattr(model, "dictionary_", None)
    out.meaning = dictionary.meaning(name) if dictionary is not None else ""
    return out


def _grades(model: Any, scored: pd.DataFrame, y: np.ndarray | None) -> list[GradeBaseline]:
    table = {r["grade"]: r for r in model.grades_.table(model.scaling_)} if hasattr(model, "scaling_") else {}
    grade = scored["grade"].to_numpy(dtype=object)
    p = scored["probability"].to_numpy(dtype=float)
    out = []
    for name in model.grades_.names:
        mask = grade == name
        n = int(mask.sum())
        rng = table.get(name, {})
        out.append(GradeBaseline(
            grade=name, min_score=int(rng.get("min_score", 0)), max_score=int(rng.get("max_score", 0)), rows=n,
            share=n / len(grade), promised_bad_rate=float(p[mask].mean()) if n else None,
            observed_bad_rate=float(y[mask].mean()) if n and y is not None else None,
        ))
    return out


def score_histogram(score: np.ndarray) -> dict[str, Any] | None:
    """Rows per integer score from the lowest to the highest (None when scores are not whole numbers)."""
    finite = score[np.isfinite(score)]
    if finite.size == 0 or not np.array_equal(finite, np.round(finite)) or finite.max() - finite.min() > 100_000:
        return None
    lo = int(finite.min())
    return {"min": lo, "counts": np.bincount((finite - lo).astype(np.int64)).tolist()}


def fit_baseline(model: Any, dataset: Any, *, score_bins: int = SCORE_BINS, bins: int = QUANTILE_BINS,
                 exclude: Sequence[str] = ()) -> Baseline:
    """The `Baseline` of a fitted model on its training rows (a `Dataset` or a DataFrame); `exclude`: columns
    that are no inputs (ids, the target, the time) and are not monitored. A `Dataset`'s columns excluded
    from the model by the user (`Dataset.excluded_values`: a protected column, say) are kept, not in_model."""
    frame = as_frame(dataset)
    kept_out = getattr(dataset, "excluded_values", None)
    if kept_out is not None:
        kept_out = kept_out.rename(columns=str)
        frame = pd.concat([frame, kept_out[[c for c in kept_out.columns if c not in frame.columns]]], axis=1)
    if len(frame) == 0:
        raise DataError("cannot build a monitoring baseline from an empty table")
    features = list(model.features_)
    missing = [v for v in features if v not in frame.columns]
    if missing:
        raise DataError(f"the baseline table lacks model columns {missing[:10]}", column=missing[0])
    scored = model.scores(frame)
    score = scored["score"].to_numpy(dtype=float)
    score_layout = VariableBinning(name="score", kind="numeric", splits=quantile_splits(score, score_bins))
    y = getattr(dataset, "y", None)
    y = None if y is None else np.asarray(y, dtype=float)
    performance = None
    if y is not None and 0 < y.sum() < len(y):
        from creditflow.evaluation import auc, ks

        p = scored["probability"].to_numpy(dtype=float)
        performance = {"bad_rate": float(y.mean()), "auc": auc(y, p), "ks": ks(y, p).statistic}
    skip = set(features) | {str(c) for c in exclude}
    columns = features + [str(c) for c in frame.columns if str(c) not in skip]
    return Baseline(
        model_type=str(getattr(model, "model_type", type(model).__name__)), rows=len(frame),
        score=Distribution.measure(score_layout, scored["score"]), grades=_grades(model, scored, y),
        variables=[_variable(c, frame[c], model, c in features, bins) for c in columns],
        mean_score=float(score.mean()), mean_probability=float(scored["probability"].mean()),
        performance=performance, features=features, score_histogram=score_histogram(score),
    )


def build_baseline(model: Any, dataset: Any) -> dict[str, Any]:
    """`baseline.json` for a fitted model and its training rows: score, grade and column distributions."""
    return fit_baseline(model, dataset).to_dict()


def load_baseline(bundle: Any) -> Baseline:
    """The baseline stored in a loaded bundle; a clear error for bundles saved without one."""
    doc = bundle.files.get(BASELINE_FILE)
    if doc is None:
        raise BundleError(
            f"the bundle has no {BASELINE_FILE} (saved before monitoring existed or outside `train`)",
            file=str(getattr(bundle, "path", "")), hint="pass --reference TRAINING_TABLE (reference= in Python) to build one",
        )
    baseline = Baseline.from_dict(doc)
    names = list(getattr(getattr(bundle.model, "grades_", None), "names", None) or [])
    stored = [g.grade for g in baseline.grades]
    if names and stored != names:  # grade shares are matched to the model's grades by position
        raise BundleError(f"{BASELINE_FILE} is incomplete: its grades {stored} are not the model's {names}",
                          file=str(getattr(bundle, "path", "")))
    return baseline

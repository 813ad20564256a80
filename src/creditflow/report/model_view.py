"""What the report needs from a model, whatever its kind.

A scorecard offers binning, selection and points; a generic model (e.g. a LightGBM challenger or any
scikit-learn classifier) only `predict_proba` and `feature_names_in_`. Sections that need what a
model lacks say so instead of failing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from creditflow.data.dictionary import FieldDictionary
from creditflow.data.errors import CreditflowError, DataError, SchemaError, located
from creditflow.data.io import Dataset


@dataclass
class Sample:
    """One named evaluation sample with its scores: probability (of bad), score, grade."""

    name: str
    X: pd.DataFrame
    y: np.ndarray
    scored: pd.DataFrame
    source: str | None = None
    time: pd.Series | None = None
    bins: pd.DataFrame | None = None  # bin index per binned variable, when the model has a binning

    _counts: dict = field(default_factory=dict, repr=False)

    def bin_counts(self, variable: str, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Rows and bads in each of the `k` bins of `variable` (computed once)."""
        if variable not in self._counts:
            idx = self.bins[variable].to_numpy()
            self._counts[variable] = (np.bincount(idx, minlength=k)[:k],
                                      np.bincount(idx, weights=self.y, minlength=k)[:k])
        return self._counts[variable]

    @property
    def n(self) -> int:
        return len(self.y)

    @property
    def bad_rate(self) -> float:
        return float(np.mean(self.y))


@dataclass
class Development:
    """The training sample as a bundle keeps it, for a report given no training rows: the histogram of its
    integer scores (``baseline.json``) and its Gini on the probability of bad (``metadata.json``)."""

    rows: int
    histogram: dict | None = None  # {"min": lowest score, "counts": rows per integer score}
    gini: float | None = None

    name = "development"

    @classmethod
    def of_bundle(cls, bundle: Any) -> Development | None:
        """What a loaded bundle records of its training sample; None for a model without such documents."""
        files = getattr(bundle, "files", None)
        if not isinstance(files, dict) or not hasattr(bundle, "model"):
            return None
        return cls.of_files(files)

    @classmethod
    def of_files(cls, files: dict) -> Development | None:
        """What a bundle's parsed documents (name -> JSON: ``baseline.json``, ``metadata.json``) record of its
        training sample; None when they record neither its score histogram nor its Gini."""
        base = files.get("baseline.json") or {}
        train = ((files.get("metadata.json") or {}).get("metrics") or {}).get("train") or {}
        histogram = (base.get("score") or {}).get("histogram")
        gini = train.get("gini")
        if not histogram and gini is None:
            return None
        rows = int(base.get("rows") or train.get("rows") or 0)
        return cls(rows=rows, histogram=histogram or None, gini=None if gini is None else float(gini))

    def score_values(self) -> tuple[np.ndarray, np.ndarray]:
        """(scores, rows at each score) of the training sample."""
        counts = np.asarray(self.histogram["counts"], dtype=float)
        return int(self.histogram["min"]) + np.arange(len(counts), dtype=float), counts


class ModelView:
    """Uniform read access to a fitted model for reporting."""

    def __init__(self, model: Any, dictionary: FieldDictionary | None = None) -> None:
        if hasattr(model, "model") and not hasattr(model, "predict_proba"):  # a loaded Bundle
            model = model.model
        if not hasattr(model, "predict_proba"):
            raise CreditflowError(f"cannot report on a {type(model).__name__}: it has no predict_proba")
        self.model = model
        self.model_type = str(getattr(model, "model_type", type(model).__name__))
        binning = getattr(model, "binning_", None)
        self.binning = binning if binning is not None and hasattr(binning, "bins_") else None
        selection = getattr(model, "selection_", None)
        self.selection = selection if isinstance(selection, pd.DataFrame) and len(selection) else None
        points = getattr(model, "points_", None)
        self.points = points if isinstance(points, pd.DataFrame) and len(points) else None
        features = getattr(model, "features_", None)
        if features is None:
            features = getattr(model, "feature_names_in_", None)
        if features is None:
            raise CreditflowError(
                f"cannot report on a {type(model).__name__}: it names no input columns "
                "(fit it on a DataFrame so it has feature_names_in_)"
            )
        self.features = [str(f) for f in features]
        self.scaling, self.grades = self._scale(model)
        self.dictionary = FieldDictionary()
        for d in (getattr(model, "dictionary_", None), dictionary):
            if d is not None:
                self.dictionary.meanings.update(d.meanings)
                self.dictionary.logic.update(d.logic)
                self.dictionary.categories.update(d.categories)

    @staticmethod
    def _scale(model: Any) -> tuple[Any, Any]:
        from creditflow.scoring.scaling import Grades, Scaling

        return getattr(model, "scaling_", None) or Scaling(), getattr(model, "grades_", None) or Grades()

    @property
    def has_binning(self) -> bool:
        return self.binning is not None

    @property
    def binned_variables(self) -> list[str]:
        return list(self.binning.bins_) if self.binning is not None else []

    def meaning(self, variable: str) -> str:
        return self.dictionary.meaning(variable)

    def logic(self, variable: str) -> str:
        """The dictionary's business logic of `variable` (业务逻辑说明, e.g. "0-无或未知，1-有"), or ""."""
        return self.dictionary.logic.get(str(variable), "")

    def check(self, name: str, dataset: Dataset) -> None:
        """Refuse a sample that lacks the target or a model column, naming its file and the column."""
        if dataset.y is None:
            raise DataError(
                f"sample '{name}' has no target; a validation report needs observed goods and bads",
                file=dataset.source, hint="pass --target COLUMN",
            )
        missing = [f for f in self.features if f not in dataset.X.columns]
        if missing:
            raise SchemaError(
                f"sample '{name}' lacks {len(missing)} model column(s): {missing[:10]}",
                file=dataset.source, column=missing[0],
            )
        if len(dataset.X) < 2 or int(np.min(dataset.y)) == int(np.max(dataset.y)):
            raise DataError(f"sample '{name}' needs both goods and bads", file=dataset.source,
                            column=dataset.target)

    def score(self, X: pd.DataFrame) -> pd.DataFrame:
        """probability (of bad), score (int, higher is better) and grade per row."""
        if hasattr(self.model, "scores"):
            out = self.model.scores(X)
            need = {"probability", "score", "grade"}
            if isinstance(out, pd.DataFrame) and need <= set(out.columns):
                return out.reset_index(drop=True)
        p = np.asarray(self.model.predict_proba(X[self.features]))[:, _bad_column(self.model)].astype(float)
        score = self.scaling.score_from_proba(p)
        return pd.DataFrame({"probability": p, "score": score, "grade": self.grades.column(score)})

    def sample(self, name: str, dataset: Dataset) -> Sample:
        self.check(name, dataset)
        bins = None
        with located(dataset.source):  # the model names the column and row; with several samples, the file too
            if self.binning is not None:
                present = [v for v in self.binned_variables if v in dataset.X.columns]
                bins = self.binning.bin_indices(dataset.X, present)
            scored = self.score(dataset.X)
        return Sample(
            name=name, X=dataset.X, y=np.asarray(dataset.y).astype(np.int8), scored=scored,
            source=dataset.source, time=dataset.time, bins=bins,
        )

    def bin_labels(self, variable: str) -> list[str]:
        return list(self.binning.bins_[variable].labels)

    def binning_table(self, variable: str) -> pd.DataFrame:
        """The development binning table of a variable (counts from the model's own fit)."""
        return self.binning.bins_[variable].table()

    def iv(self) -> pd.Series:
        if self.binning is not None:
            return self.binning.iv_
        if self.selection is not None and "iv" in self.selection:
            return self.selection.set_index("variable")["iv"]
        return pd.Series(dtype=float)


def _bad_column(model: Any) -> int:
    """The column of a classifier's `predict_proba` that is the probability of bad: from its `classes_`
    read as a target is read (0/1, good/bad ...); column 1 when it has no `classes_`."""
    from creditflow.data.io import encode_target
    from creditflow.models.base import bad_column

    if hasattr(model, "bad_class_"):
        return bad_column(model)
    classes = getattr(model, "classes_", None)
    if classes is None or len(classes) != 2:
        return 1
    try:
        y = encode_target(pd.Series([str(c) for c in classes], name="classes_"))
    except DataError:
        raise CreditflowError(f"cannot tell which of the model's classes {list(classes)} means bad: fit it on a "
                              "0/1 target (1 = bad)") from None
    return int(np.flatnonzero(y == 1)[0])

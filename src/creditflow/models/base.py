"""What every creditflow model offers, so bundles, scoring, reports and the service treat them alike."""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable, Mapping
from typing import Any, Protocol, runtime_checkable

import numpy as np
import pandas as pd

from creditflow.data.dictionary import FieldDictionary
from creditflow.data.errors import UnseenCategoryWarning, caller_level, shown
from creditflow.scoring.scaling import Grades, Scaling


@runtime_checkable
class CreditModel(Protocol):
    """A fitted model: probabilities of bad, integer scores, and a JSON form for the bundle."""

    model_type: str
    features_: list[str]
    scaling_: Scaling
    grades_: Grades
    dictionary_: FieldDictionary

    def predict_proba(self, X: Any) -> np.ndarray: ...

    def scores(self, X: Any) -> pd.DataFrame: ...

    def score_row(self, row: dict) -> dict: ...

    def to_bundle(self) -> dict[str, Any]: ...

    @classmethod
    def from_bundle(cls, files: dict[str, Any]) -> CreditModel: ...


MODEL_TYPES: dict[str, str] = {
    "scorecard": "creditflow.models.scorecard:Scorecard",
    "gbdt": "creditflow.models.gbdt:GBDTModel",
    "boosted-scorecard": "creditflow.models.boosted:BoostedScorecard",
}


def model_class(model_type: str) -> type:
    """The class registered for a bundle's model type."""
    import importlib

    from creditflow.data.errors import BundleError

    if model_type not in MODEL_TYPES:
        raise BundleError(f"unknown model type {model_type!r}; known: {sorted(MODEL_TYPES)}")
    module, _, name = MODEL_TYPES[model_type].partition(":")
    return getattr(importlib.import_module(module), name)


class NestedSettings:
    """`set_params` for estimators whose settings are dataclasses (or dicts) rather than estimators:
    ``set_params(binning__max_bins=4)`` sets ``binning`` to a copy with ``max_bins`` 4, so
    ``GridSearchCV(card, {"binning__max_bins": [4, 8]})`` works. `_nested_settings` maps each such
    parameter to its dataclass."""

    _nested_settings: dict[str, type] = {}

    def set_params(self, **params: Any) -> Any:
        from collections.abc import Mapping
        from dataclasses import fields, replace

        from creditflow.data.errors import CreditflowError

        nested: dict[str, dict[str, Any]] = {}
        plain: dict[str, Any] = {}
        for key, value in params.items():
            head, sep, sub = key.partition("__")
            if sep and head in self._nested_settings:
                nested.setdefault(head, {})[sub] = value
            else:
                plain[key] = value
        for head, subs in nested.items():
            cls = self._nested_settings[head]
            names = [f.name for f in fields(cls)]
            unknown = [k for k in subs if k not in names]
            if unknown:
                raise CreditflowError(f"{head} has no setting {unknown[0]!r}; its settings are {', '.join(names)}")
            current = plain.get(head, getattr(self, head))
            if isinstance(current, cls):
                plain[head] = replace(current, **subs)
            elif isinstance(current, Mapping) or current is None:
                plain[head] = {**(current or {}), **subs}
            else:
                coerce_settings(current, cls)  # refuses it
        return super().set_params(**plain)  # type: ignore[misc]


def coerce_settings(value: Any, cls: type, what: str | None = None) -> Any:
    """A settings dataclass from None (defaults), an instance, or a dict of its fields, each field's value
    checked against its type (a whole number for ``int``, a number for ``float``, text for ``str``, ``None``
    only where the field allows it); `what` names the parameter in messages (e.g. "shape")."""
    from collections.abc import Mapping

    from creditflow.data.errors import CreditflowError

    if value is None:
        return cls()
    if isinstance(value, cls):
        obj = value
    elif isinstance(value, Mapping):
        from dataclasses import fields

        names = [f.name for f in fields(cls)]
        unknown = [k for k in value if k not in names]
        if unknown:
            raise CreditflowError(f"{what or cls.__name__} has no setting {unknown[0]!r}; its settings are "
                                  f"{', '.join(names)}")
        try:
            obj = cls(**value)
        except TypeError as exc:
            raise CreditflowError(f"bad {cls.__name__} settings: {exc}") from None
    else:
        raise CreditflowError(f"expected {cls.__name__} or dict, got {type(value).__name__}")
    fixes = check_field_types(obj, what or cls.__name__)
    if fixes:  # whole numbers given as floats (10.0) become ints; the caller's instance is not changed
        from dataclasses import replace

        obj = replace(obj, **fixes)
    return obj


def check_field_types(obj: Any, what: str) -> dict[str, int]:
    """Refuse a dataclass field whose value does not fit its annotation (``int``, ``float``, ``str``,
    ``bool``, optionally ``| None``; ``str | dict[...]`` takes text or a mapping): one line naming ``what.field``, before any range check can trip on it.
    Returns the ``int`` fields given as whole floats (10.0), as ints."""
    import typing
    from dataclasses import fields

    from creditflow.binning.process import real_number, whole_number
    from creditflow.data.errors import CreditflowError

    hints = typing.get_type_hints(type(obj))
    fixes: dict[str, int] = {}
    for f in fields(obj):
        hint = hints.get(f.name)
        args = set(typing.get_args(hint)) if typing.get_args(hint) else {hint}
        value = getattr(obj, f.name)
        name = f"{what}.{f.name}"
        if value is None:
            if type(None) not in args:
                raise CreditflowError(f"{name} must be given, not None")
            continue
        optional = " or None" if type(None) in args else ""
        try:
            if int in args and float not in args:
                number = whole_number(value, name)
                if type(value) is not int:
                    fixes[f.name] = number
            elif float in args:
                real_number(value, name)
            elif str in args and not isinstance(value, str):
                if any(typing.get_origin(a) is dict for a in args):  # text, or a dict such as {column: text}
                    if not isinstance(value, Mapping):
                        raise CreditflowError(f"{name} must be text or a dict, not {value!r}")
                else:
                    raise CreditflowError(f"{name} must be text, not {value!r}")
            elif bool in args and not isinstance(value, (bool, np.bool_)):
                raise CreditflowError(f"{name} must be true or false, not {value!r}")
        except CreditflowError as exc:
            if not optional:
                raise
            head, _, tail = str(exc).partition(", not ")
            raise CreditflowError(f"{head}{optional}, not {tail}") from None
    return fixes


def jsonable_params(params: dict) -> dict:
    """An estimator's `get_params()` for model.json: settings dataclasses as dicts, the dictionary left out."""
    from dataclasses import asdict

    out = {}
    for k, v in params.items():
        if k == "dictionary":
            continue
        if k == "grades" and hasattr(v, "bands"):  # a `Grades` given: stored as the list of bands `grades` takes
            v = v.bands
        elif hasattr(v, "__dataclass_fields__"):
            v = asdict(v)
        out[k] = _plain(v)
    return out


def _plain(v: Any) -> Any:
    """Containers a user may pass (a set of column names, a pandas Index or Series, a numpy array) as lists;
    a set sorted, so the stored document does not depend on hashing order."""
    if isinstance(v, (set, frozenset)):
        return sorted((_plain(x) for x in v), key=str)
    if isinstance(v, (pd.Index, pd.Series, np.ndarray)):
        return [_plain(x) for x in v.tolist()]
    if isinstance(v, dict):
        return {k: _plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    if isinstance(v, np.generic):
        return v.item()
    return v


def training_categories(model: Any) -> dict[str, set[str]]:
    """The category keys (`binning.variable.category_key`) each categorical model input held in training,
    special values included: from a scorecard's bins or a GBDT's encoder."""
    from creditflow.binning.variable import category_key

    out: dict[str, set[str]] = {}
    bins = getattr(getattr(model, "binning_", None), "bins_", None) or {}
    encoder = getattr(model, "encoder_", None)
    for var in getattr(model, "features_", []):
        if var in bins and bins[var].kind == "categorical":
            vb = bins[var]
            out[var] = {category_key(c) for g in vb.groups for c in g} | {category_key(v) for v in vb.special_values}
        elif encoder is not None and var in getattr(encoder, "categories", {}):
            out[var] = {category_key(c) for c in encoder.categories[var]}
    return out


# A categorical input with at least this many values present, every one of them unseen in training, is
# coded unlike the training data ('1'..'4' for 'A11'..'A14', upper case): scoring it would move every score.
UNSEEN_MIN_ROWS = 20


def recoded_columns(unseen: Mapping[str, int], present: Mapping[str, int]) -> list[str]:
    """The categorical inputs of which every value present (at least `UNSEEN_MIN_ROWS`) is unseen in training."""
    return [v for v, n in unseen.items() if n >= UNSEEN_MIN_ROWS and n == present.get(v)]


def warn_blank(columns: list[str], rows: int) -> None:
    """Warn (`MissingColumnWarning`) of model inputs missing on every one of `rows` rows though on no training row."""
    from creditflow.data.errors import MissingColumnWarning

    for var in columns:
        warnings.warn(f"column {var!r} is missing on every one of its {rows:,} rows, though on no training row (a "
                      "failed join, a column dropped upstream?): each row was scored at its Missing bin",
                      MissingColumnWarning, stacklevel=caller_level())


def warn_recoded(unseen: Mapping[str, int], frame: pd.DataFrame) -> None:
    """Warn (`UnseenCategoryWarning`) of each input `recoded_columns` names, `unseen` being the rows per
    categorical input that a model scored as unseen in `frame`. The estimators score such a column (in the
    Unseen bin, or the trees' other branch) where `workflow.score_table` refuses it: a refusal would break
    a pipeline, silence would hide every score moving."""
    if not unseen:
        return
    present = {v: int(frame[v].notna().sum()) for v in unseen}
    for var in recoded_columns(unseen, present):
        example = frame[var].iloc[int(frame[var].notna().to_numpy().argmax())]
        warnings.warn(
            f"column {var!r}: every one of its {unseen[var]:,} values is a category unseen in training, e.g. "
            f"{shown(example)}: coded unlike the training data? They were scored as unseen (the Unseen bin, or the "
            "trees' other branch). Recode it as in training; `creditflow score` and "
            "creditflow.workflow.score_table refuse such a table unless --allow-unseen / allow_unseen=True",
            UnseenCategoryWarning, stacklevel=caller_level())


def declared_special_values(model: Any, numeric_only: bool = False) -> dict[str, list[float]]:
    """The declared special values (e.g. -1 for "no record") of each model input with bins: numeric ones and, unless
    `numeric_only`, number codes declared categorical. They are scored in their own bins wherever they lie, so the
    service accepts them outside the training range."""
    bins = getattr(getattr(model, "binning_", None), "bins_", None) or {}
    return {var: [float(v) for v in bins[var].special_values] for var in getattr(model, "features_", [])
            if var in bins and bins[var].special_values and (not numeric_only or bins[var].kind == "numeric")}


# ---------------------------------------------------------------- what a fit remembers for its bundle
def remember_params(model: Any) -> None:
    """Keep the parameters a fit used, so model.json records them even after a later `set_params`."""
    model._fit_params = jsonable_params(model.get_params())


def bundle_params(model: Any) -> dict:
    """model.json's "params": those the model was fitted with (or, for a loaded model, loaded with)."""
    params = getattr(model, "_fit_params", None)
    return params if params is not None else jsonable_params(model.get_params())


def stored_params(cls: type, doc: dict) -> dict:
    """The parameters in a model.json that `cls` takes (a bundle from another version may hold others)."""
    known = cls().get_params()
    return {k: v for k, v in (doc.get("params") or {}).items() if k in known}


# ---------------------------------------------------------------- classes_ as scikit-learn sets them
def target_classes(y: Any, yv: np.ndarray) -> tuple[np.ndarray, Any]:
    """`classes_` and the label meaning bad for a fit on `y` (`yv`: its 0/1 reading, 1 = bad).

    A numeric or boolean target gives [0, 1] and 1 (True is bad; `predict` answers 0/1, not booleans). A target of text labels (good/bad, 正常/逾期) keeps them, sorted as
    scikit-learn sorts them, so `predict` answers in the user's labels and `predict_proba`'s columns follow
    `classes_`: the scorers of `cross_val_score` / `GridSearchCV` then read the right column.
    """
    if y is None:
        return np.array([0, 1]), 1
    if np.asarray(y).dtype.kind in "biuf":
        return np.array([0, 1]), 1
    labels = np.asarray(y, dtype=object).ravel()
    # labels written as text stay text, "0"/"1" too: scikit-learn compares `predict`'s answers with the y given
    if not all(isinstance(v, str) for v in labels):
        try:
            np.asarray(y, dtype=float)
            return np.array([0, 1]), 1
        except (TypeError, ValueError):
            pass
    try:
        classes = np.unique(labels)
    except TypeError:  # labels of mixed types do not sort
        return np.array([0, 1]), 1
    if len(classes) != 2:  # e.g. "bad" and "bad " read as one class
        return np.array([0, 1]), 1
    return classes, labels[int(np.flatnonzero(yv == 1)[0])]


def bad_column(model: Any) -> int:
    """The column of `predict_proba` holding the probability of bad."""
    return int(np.flatnonzero(model.classes_ == getattr(model, "bad_class_", 1))[0])


class BadClassOutputs:
    """scikit-learn's outputs from a model's log-odds or probability of bad, in `classes_` order: for a 0/1
    target column 1 (and a positive decision) is bad; text labels are sorted as scikit-learn sorts them.
    The model gives `_p_bad(X)` (probability of bad per row), which refuses an unfitted model
    (`NotFittedError`). A model of good and bad only, taking missing values: scikit-learn's tags say it is binary and allows NaN."""

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()  # type: ignore[misc]
        tags.classifier_tags.multi_class = False
        # missing values are a bin (or the trees' missing branch) of their own: meta-estimators that check
        # the tag before passing X on (SequentialFeatureSelector, RFE, SelectFromModel) must not refuse NaN
        tags.input_tags.allow_nan = True
        return tags

    def predict_proba(self, X: Any) -> np.ndarray:
        """Probability of each class, in `classes_` order (of good, then of bad, for a 0/1 target)."""
        p_bad = self._p_bad(X)  # type: ignore[attr-defined]
        out = np.column_stack([1.0 - p_bad, p_bad])
        return out if bad_column(self) == 1 else out[:, ::-1]

    def predict(self, X: Any) -> np.ndarray:
        """The bad label (1 for a 0/1 target) where the probability of bad is at least a half, else the good one."""
        p_bad = self._p_bad(X)  # type: ignore[attr-defined]  # first: it refuses an unfitted model
        j = bad_column(self)
        classes = self.classes_  # type: ignore[attr-defined]
        return np.where(p_bad >= 0.5, classes[j], classes[1 - j])

    def _decision(self, logodds_bad: np.ndarray) -> np.ndarray:
        """`decision_function` from log-odds of bad: as scikit-learn has it, positive toward `classes_[1]`."""
        return logodds_bad if bad_column(self) == 1 else -logodds_bad


def classes_doc(model: Any) -> dict:
    """The target's labels for model.json, only when they are not 0/1."""
    if getattr(model, "bad_class_", 1) == 1 and list(model.classes_) == [0, 1]:
        return {}
    return {"classes": [str(c) for c in model.classes_], "bad_class": str(model.bad_class_)}


def set_classes(model: Any, doc: dict | None = None) -> None:
    """`classes_` / `bad_class_` from a model.json (0/1 when it holds none)."""
    doc = doc or {}
    if "classes" in doc:
        classes, bad = doc["classes"], doc.get("bad_class")
        if not isinstance(classes, list) or len(classes) != 2 or bad not in classes:
            from creditflow.data.errors import BundleError

            raise BundleError("key 'classes' must list the target's two labels, 'bad_class' one of them",
                              file="model.json")
        model.classes_ = np.asarray([str(c) for c in classes], dtype=object)
        model.bad_class_ = str(bad)
    else:
        model.classes_, model.bad_class_ = np.array([0, 1]), 1


# what our models cache from a fit besides their public learned attributes (name_)
FIT_CACHES = ("_compiled", "_row_plan", "_pair_plan", "_fit_params", "_tables")


def forget_fit(model: Any) -> None:
    """Drop what an earlier fit learned: the public learned attributes (trailing underscore) and our caches
    (not scikit-learn's own private attributes, such as the callback context it sets around `fit`)."""
    params = set(model._get_param_names())
    for name in [k for k in vars(model) if k not in params]:
        if (name.endswith("_") and not name.startswith("_")) or name in FIT_CACHES:
            delattr(model, name)


def fit_afresh(fit: Callable) -> Callable:
    """Decorate a `fit`: it starts from no learned state (and records the parameters it runs with, see
    `remember_params`), and one that fails leaves the model unfitted rather than mixing the old fit's
    attributes with the new one's. Paths that fit without `fit` (Dask) call `remember_params` themselves."""

    @functools.wraps(fit)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        forget_fit(self)
        remember_params(self)
        try:
            return fit(self, *args, **kwargs)
        except BaseException:
            forget_fit(self)
            raise

    return wrapper

"""`BinningProcess`: supervised binning of every column of a table, and WOE encoding (scikit-learn API)."""

from __future__ import annotations

import contextlib
import json
import os
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from creditflow.binning.variable import (
    ALL_COLUMNS,
    BinningSettings,
    ValueCounts,
    VariableBinning,
    category_keys,
    fit_categorical,
    fit_numeric,
)
from creditflow.data.dictionary import FieldDictionary
from creditflow.data.errors import (
    CreditflowError,
    DataError,
    LeakageWarning,
    SchemaError,
    SmallSampleWarning,
    SpecialValueWarning,
    caller_level,
)
from creditflow.data.io import (
    NESTED_TYPES,
    check_finite,
    check_no_dates,
    check_not_nested,
    check_numeric_text,
    encode_target,
)

PARALLEL_CELLS = 2_000_000
"""Bin the columns in several threads when the table has at least this many cells."""


def as_frame(X: Any, names: Sequence[str] | None = None) -> pd.DataFrame:
    """Accept a DataFrame, a creditflow Dataset, or a 2-D array.

    Column names are made text (a model knows its columns by str names, so a column named 0 is "0"),
    and a name that appears twice is refused. An array's columns are `names` by position when given
    (a fitted model's ``feature_names_in_``; an array of another width is refused), else x0, x1, ...
    Columns of object dtype holding only numbers (``df.to_numpy()`` of a mixed table, Decimal from a
    database) are made float, so they bin as the numeric columns they are. Complex numbers and sparse
    matrices are refused.
    """
    if hasattr(X, "X") and isinstance(X.X, pd.DataFrame):
        return _numbers_as_float(_named_columns(X.X, names), names)
    if isinstance(X, pd.DataFrame):
        return _numbers_as_float(_named_columns(X, names), names)
    from scipy import sparse

    if sparse.issparse(X):  # np.asarray would make it a 0-d array of one object
        raise DataError(f"sparse input is not supported (a {type(X).__name__} of shape {X.shape}); convert it "
                        "with X.toarray() or pass a DataFrame")
    if isinstance(X, (pd.Series, Mapping)) or (isinstance(X, (list, tuple)) and X and isinstance(X[0], Mapping)):
        raise DataError(_one_row_hint(X))  # (after the sparse check: a dok_matrix is a dict)
    arr = np.asarray(X)
    if arr.ndim != 2:
        raise DataError(f"expected a 2-D table, got an array of shape {arr.shape}",
                        hint="Reshape your data: a DataFrame, or a 2-D array of rows by columns; one applicant as "
                             "array.reshape(1, -1)")
    if names is None:
        return _numbers_as_float(pd.DataFrame(arr, columns=[f"x{i}" for i in range(arr.shape[1])]), None)
    if arr.shape[1] != len(names):
        raise SchemaError(
            f"the array has {arr.shape[1]} column(s) but the model was fitted on {len(names)}",
            hint="pass a DataFrame with the model's column names, or an array of its columns in "
                 "feature_names_in_ order",
        )
    if [str(n) for n in names] != [f"x{i}" for i in range(len(names))]:
        # as scikit-learn warns: nothing shows whether the columns are in the order the model was fitted on
        warnings.warn("X has no column names, but the model was fitted with them: its columns are taken as "
                      "feature_names_in_ in that order; pass a DataFrame to have them matched by name",
                      UserWarning, stacklevel=caller_level())
    return _numbers_as_float(pd.DataFrame(arr, columns=[str(n) for n in names]), names)


def _one_row_hint(X: Any) -> str:
    """Why a Series, a dict or a list of dicts is not taken as a table, and what to pass instead."""
    if isinstance(X, pd.Series):
        return (f"expected a 2-D table, got a Series of {len(X)} values: for one applicant (a row such as "
                "X.iloc[i]) pass a one-row DataFrame, X.iloc[[i]] or row.to_frame().T, or use score_row(row.to_dict()); "
                "for one column, series.to_frame()")
    if isinstance(X, Mapping):
        return ("expected a 2-D table, got a dict: for one applicant pass pd.DataFrame([row]) or use score_row(row); "
                "for columns of values, pd.DataFrame(the_dict)")
    return (f"expected a 2-D table, got a list of {len(X)} dicts: pass pd.DataFrame(records), or score each "
            "with score_row")


_NUMBER_KINDS = ("integer", "floating", "mixed-integer-float", "decimal")
_EXACT = 2.0**53  # float64 holds every whole number up to this


def _numbers_as_float(frame: pd.DataFrame, names: Sequence[str] | None) -> pd.DataFrame:
    """`frame` with its object columns of numbers only (missing allowed) as float64 (a new frame; the
    caller's is left alone). Only the columns in `names` are looked at when given. A column of complex
    numbers is refused: binning it as real would drop the imaginary part without a word."""
    wanted = None if names is None else {str(n) for n in names}
    for col, dtype in frame.dtypes.items():
        if pd.api.types.is_complex_dtype(dtype) and (wanted is None or col in wanted):
            raise _complex_error(col)
    change = {}
    for col in frame.columns[[pd.api.types.is_object_dtype(d) for d in frame.dtypes]]:
        if wanted is not None and col not in wanted:
            continue
        kind = pd.api.types.infer_dtype(frame[col], skipna=True)
        if kind == "complex":
            raise _complex_error(col)
        if kind in _NUMBER_KINDS:
            column = frame[col]
            if column.isna().any():  # pd.NA / None among the numbers (a nullable table's to_numpy()): float() refuses them
                column = column.where(column.notna(), np.nan)
            try:
                values = column.astype(float)
            except OverflowError:  # a whole number beyond float64's range (over 308 digits): infinite, so refused
                values = column.map(_float_or_infinity).astype(float)
            # whole numbers beyond 2**53 (long codes, ids) would be rounded by float64: left as they are (an
            # infinity is no such number: converted, so the infinity checks see it where it is)
            if not (np.abs(values[np.isfinite(values)]) >= _EXACT).any():
                change[col] = values
    if not change:
        return frame
    out = frame.copy(deep=False)
    for col, values in change.items():
        out[col] = values
    return out


def _float_or_infinity(value: Any) -> float:
    """A number as float; a whole number too large for float64 as the infinity of its sign."""
    if pd.isna(value):
        return np.nan
    try:
        return float(value)
    except OverflowError:
        return np.inf if value > 0 else -np.inf


def _complex_error(column: Any) -> DataError:
    return DataError("the column holds complex numbers; only real numbers or categories can be binned",
                     column=str(column), hint="pass the real part (np.real) or the modulus (np.abs) if that is meant")


def _named_columns(frame: pd.DataFrame, needed: Sequence[str] | None = None) -> pd.DataFrame:
    """`frame` with text column names (a relabelled view when some were not text); refused if a name
    repeats (at scoring, with the model's columns `needed`, only if one of those repeats)."""
    if frame.columns.inferred_type not in ("string", "empty"):
        frame = frame.set_axis([str(c) for c in frame.columns], axis=1)
    if not frame.columns.is_unique:
        dupes = list(dict.fromkeys(str(c) for c in frame.columns[frame.columns.duplicated()]))
        if needed is not None:
            wanted = {str(n) for n in needed}
            dupes = [d for d in dupes if d in wanted]
            if not dupes:
                return frame.loc[:, ~frame.columns.duplicated()]
        raise DataError(f"the table has {len(dupes)} column name(s) more than once: {dupes[:10]}",
                        column=dupes[0], hint="rename or drop the duplicate columns")
    return frame


def as_target(y: Any, X: Any = None) -> np.ndarray:
    """0/1 target as float64, from `y` or a Dataset's own target.

    Text labels are read as `read_table` reads them: a recognised pair (good/bad, 0/1, yes/no ...).
    """
    if y is None and hasattr(X, "y"):
        y = X.y
    if y is None:
        raise DataError("requires y to be passed, but the target y is None",
                        hint="pass y (0/1, 1 = bad, or labels such as good/bad), or a Dataset read with target=")
    shape = np.shape(np.asarray(y, dtype=object)) if not hasattr(y, "shape") else tuple(y.shape)
    if len(shape) > 1 and int(np.prod(shape[1:])) != 1:
        raise DataError(f"y must be one column (the target, 1 = bad), not {int(np.prod(shape[1:]))} columns "
                        f"(shape {shape})")
    try:
        arr = np.asarray(y, dtype=float).ravel()
    except (TypeError, ValueError):
        arr = _text_target(y)
    if arr.size == 0:
        raise DataError("the target is empty: no rows to fit on")
    if np.isnan(arr).any():
        raise DataError("target has missing values", row=int(np.flatnonzero(np.isnan(arr))[0]) + 1)
    if not np.isin(arr, (0.0, 1.0)).all():
        values = np.unique(arr)
        if len(values) > 2:  # scikit-learn's words for a multiclass target given to a binary classifier
            raise DataError(f"Only binary classification is supported: the target must have two classes, good "
                            f"and bad (0/1, 1 = bad), found {len(values)} values {values[:10].tolist()}")
        raise DataError(f"target must be 0/1 (1 = bad), found values {np.unique(arr)[:10].tolist()}")
    if arr.min() == arr.max():
        raise DataError("target has a single class; need both goods and bads")
    return arr


def _text_target(y: Any) -> np.ndarray:
    """A target of labels (text) as 0/1 floats, with `encode_target`'s rules."""
    name = getattr(y, "name", None)
    values = pd.Series(np.asarray(y, dtype=object).ravel(), name="y" if name is None else str(name))
    try:
        return encode_target(values).astype(float)
    except DataError as exc:
        if values.dropna().astype(str).str.strip().nunique() > 2:
            exc.reason = f"Only binary classification is supported (good and bad): {exc.reason}"
        raise DataError(exc.reason, column=exc.column, row=exc.row,
                        hint="encode the target as 0/1 (1 = bad)") from None


def check_aligned(X: Any, y: Any) -> None:
    """Refuse a pandas `y` whose index holds the labels of `X`'s index in another order (y sorted, or X
    shuffled, after they were taken apart). Rows pair by position, as in scikit-learn, so such a pair would
    fit or be measured against the wrong targets without a word; which pairing is meant cannot be told. A
    `Dataset` given without `y` is checked for its own X and y."""
    if y is None and isinstance(getattr(X, "X", None), pd.DataFrame) and hasattr(X, "y"):
        X, y = X.X, X.y
    xi = getattr(X, "index", None) if isinstance(X, (pd.DataFrame, pd.Series)) else None
    yi = y.index if isinstance(y, (pd.Series, pd.DataFrame)) else None
    if xi is None or yi is None or len(xi) != len(yi) or xi.equals(yi):
        return
    if not (xi.is_unique and yi.is_unique and xi.isin(yi).all()):
        return  # other labels (X reset, y not): position is all that pairs them
    row = int(np.flatnonzero(xi.to_numpy() != yi.to_numpy())[0])
    xl, yl = (v.item() if isinstance(v, np.generic) else v for v in (xi[row], yi[row]))
    raise DataError(
        f"y's index holds the same labels as X's, in another order: X's row {row + 1} is labelled "
        f"{xl!r}, y's {yl!r}; rows are paired by position, so the targets would be those of other rows",
        hint="pass y.loc[X.index] if the labels pair them, or y.to_numpy() if the positions do")


def fit_inputs(X: Any, y: Any, categorical: Sequence[str] = ()) -> tuple[pd.DataFrame, np.ndarray]:
    """The table and 0/1 target to fit on, checked: as many rows as targets (a pandas target not in X's order
    refused, `check_aligned`), at least one column, no infinities, and no text in an otherwise numeric column
    (other than the `categorical` ones and those of category dtype)."""
    check_aligned(X, y)
    yv = as_target(y, X)
    frame = as_frame(X)
    if len(frame) != len(yv):
        raise DataError(f"X has {len(frame)} rows but y has {len(yv)}")
    warn_small_sample(yv)
    if frame.shape[1] == 0:
        raise DataError("no columns to fit on")
    check_not_nested(frame, hint=NESTED_HINT)
    check_numeric_text(frame, skip=set(categorical))
    check_finite(frame)
    check_no_dates(frame)
    return frame, yv


SMALL_SAMPLE = 50
"""Fewer bads or goods than this in a fit are warned of (`SmallSampleWarning`)."""
LEAKAGE_IV = 2.0
"""A column with an information value above this is warned of (`LeakageWarning`): the strongest honest
credit variables stay under about 1 (a month past due on the last statement: 0.87 on UCI Taiwan)."""


def warn_small_sample(yv: np.ndarray) -> None:
    """`SmallSampleWarning` when the 0/1 target holds fewer than `SMALL_SAMPLE` bads or goods."""
    n_bad = int(np.sum(yv))
    n_good = len(yv) - n_bad
    if min(n_bad, n_good) < SMALL_SAMPLE:
        warnings.warn(f"only {n_bad} bad(s) and {n_good} good(s) to fit on: bins, WOE and points from so few are "
                      f"mostly noise (a scorecard wants hundreds of each)", SmallSampleWarning,
                      stacklevel=caller_level())


@contextlib.contextmanager
def internal_fit() -> Iterator[None]:
    """Silence the small-sample and leakage warnings of a fit a model makes for itself (a blend's classic card,
    its folds, a trend search): the user's own fit has warned of the data already, with its own numbers."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SmallSampleWarning)
        warnings.simplefilter("ignore", LeakageWarning)
        yield


def warn_leakage(iv: pd.Series) -> None:
    """`LeakageWarning` for each column whose information value is above `LEAKAGE_IV`."""
    for name, value in iv[iv > LEAKAGE_IV].items():
        warnings.warn(f"column {name!r} has an information value of {value:.1f}: it all but gives the target away. "
                      "Is it the target, a copy of it, or recorded after the outcome (leakage)? Drop it (--exclude / "
                      "exclude=) unless you know why it separates so well", LeakageWarning, stacklevel=caller_level())


NESTED_HINT = "flatten it into columns of their own (creditflow features) or drop it"


def refuse_nested(frame: pd.DataFrame, names: Sequence[str]) -> None:
    """Refuse lists, dicts or arrays in the named columns at scoring: a bin holds one value per row, and such a
    value would score silently in the Unseen bin."""
    check_not_nested(frame, columns=[n for n in names if n in frame.columns], hint=NESTED_HINT)


def refuse_nested_value(value: Any, name: str) -> None:
    """`refuse_nested` for one applicant's value (`score_row`)."""
    if isinstance(value, NESTED_TYPES):
        raise DataError(f"the value is nested ({type(value).__name__}), not a number or a category",
                        column=name, hint=NESTED_HINT)


def refuse_infinite(frame: pd.DataFrame, names: Sequence[str]) -> None:
    """Refuse infinities in the named columns at scoring: no bin holds them, they would score silently wrong."""
    check_finite(frame, columns=names, error=SchemaError)


def column_names(value: Any, what: str, columns: Sequence[str] | None = None) -> list[str]:
    """A parameter naming columns (None, one name, or a list of names) as str names; with `columns`,
    a name that is not among them is refused."""
    if value is None:
        return []
    if isinstance(value, str):
        names = [value]
    elif isinstance(value, (Mapping, bytes)) or not isinstance(value, Iterable):
        raise CreditflowError(f"{what} must be a list of column names, not {value!r}")
    else:
        names = [str(v) for v in value]
    if columns is not None:
        known = set(columns)
        unknown = [n for n in names if n not in known]
        if unknown:
            from creditflow.data.io import did_you_mean

            raise CreditflowError(f"{what} names {len(unknown)} column(s) not in the data: {unknown[:10]}"
                                  f"{did_you_mean(unknown[0], list(columns))}", column=unknown[0])
    return names


def special_numbers(value: Any, what: str = "special_values", column: str | None = None) -> list[float]:
    """Special values as floats: one number, or a list of numbers (a missing value is no special value).

    A value listed twice (-999 and -999.0) is one special value, kept at its first place: two bins of
    the same label would show one bin with two different points."""
    if value is None:
        return []
    items = [value] if isinstance(value, (int, float, np.number)) else value
    if isinstance(items, (str, bytes, Mapping)) or not isinstance(items, Iterable):
        raise CreditflowError(f"{what} must be a number or a list of numbers, not {value!r}")
    out = []
    for v in items:
        try:
            f = float(v)
        except (TypeError, ValueError):
            if isinstance(v, str):  # a text category: it reads like a typo in the value unless told why
                group = json.dumps({column or "column": [[v], ["...the other categories"]]}, ensure_ascii=False)
                raise CreditflowError(
                    f"{what} must be numbers, not {v!r}: special values are for numeric columns (and number codes "
                    f"declared categorical); a text category is kept in a bin of its own with user_splits groups, "
                    f"e.g. user_splits={group}") from None
            raise CreditflowError(f"{what} must be numbers, not {v!r}") from None
        if not np.isfinite(f):
            raise CreditflowError(f"{what} must be finite numbers (missing values have their own bin), not {v!r}")
        if f not in out:
            out.append(f)
    return out


def special_map(value: Any, columns: Sequence[str]) -> dict[str, list[float]]:
    """Special values per column from `special_values`: one list for every column, or ``{column: list}``
    (a column not in the data is refused)."""
    if value is None:
        return {}
    if isinstance(value, Mapping):
        out = {str(k): special_numbers(v, f"special_values[{k!r}]", str(k)) for k, v in value.items()}
        column_names(list(out), "special_values", columns)
        return out
    vals = special_numbers(value)
    return {str(c): vals for c in columns}


SPECIAL_AMONG_SHARE = 0.01
"""A special value among a column's other values is warned of from this share of the rows (a sentinel such
as -999 lies outside them; 30 among ages 18 to 70 is an ordinary value)."""


def warn_special_values(frame: pd.DataFrame, specials: Mapping[str, list[float]], categorical: set[str]) -> None:
    """Warn (`SpecialValueWarning`) of each declared special value of a numeric column that lies among the
    column's other values with at least `SPECIAL_AMONG_SHARE` of the rows, or holds more rows than all of them:
    a typo or the wrong column, almost always. The fit goes on as asked."""
    for name, values in specials.items():
        if not values or name not in frame.columns or name in categorical or is_categorical(frame[name]):
            continue
        x = frame[name].to_numpy(dtype=float, na_value=np.nan)
        regular = ~np.isnan(x) & ~np.isin(x, values)
        lo, hi = (float(x[regular].min()), float(x[regular].max())) if regular.any() else (np.nan, np.nan)
        for v in values:
            _warn_special(name, v, int((x == v).sum()), len(x), int(regular.sum()), lo, hi)


def warn_special_counts(counts: Mapping[str, ValueCounts], specials: Mapping[str, list[float]],
                        categorical: set[str]) -> None:
    """`warn_special_values` from a column's value counts (the training rows a cluster counted), not its rows."""
    for name, values in specials.items():
        vc = counts.get(name)
        if not values or vc is None or name in categorical or vc.values.dtype.kind != "f":
            continue
        lo, hi = (float(vc.values[0]), float(vc.values[-1])) if len(vc.values) else (np.nan, np.nan)
        for v, rows in zip(values, vc.special_counts, strict=True):  # `special_numbers` lists each value once
            _warn_special(name, v, int(rows), vc.n_rows, int(vc.counts.sum()), lo, hi)


def _warn_special(name: Any, v: float, rows: int, n_rows: int, n_regular: int, lo: float, hi: float) -> None:
    if not rows:
        return
    share = f"{rows / n_rows:.1%}".replace("%", " %")
    if lo < v < hi and rows >= SPECIAL_AMONG_SHARE * n_rows:
        where = f"lies among its other values ({lo:g} to {hi:g}) and holds {share} of the rows"
    elif rows > n_regular:
        where = f"holds {share} of the rows, more than all its other values together"
    else:
        return
    warnings.warn(f"column {name!r}: special value {v:g} {where}: an ordinary value declared special (a "
                  "typo, or the wrong column)? It gets a bin of its own as asked", SpecialValueWarning,
                  stacklevel=caller_level())


def whole_number(value: Any, what: str) -> int:
    """A parameter that must be a whole number (8 or 8.0, not 2.5, "8" or True)."""
    try:
        ok = not isinstance(value, (bool, np.bool_)) and isinstance(value, (int, float, np.integer, np.floating)) \
            and float(value).is_integer()
    except OverflowError:  # an int too large for a float
        ok = False
    if not ok:
        raise CreditflowError(f"{what} must be a whole number, not {_short(value)}")
    return int(value)


def seed_number(value: Any, what: str = "random_state") -> int:
    """A random seed: a whole number from 0 to 2**32 - 1 (None is refused: the same seed gives the same model)."""
    if value is None:
        raise CreditflowError(f"{what} must be a whole number from 0 to 4294967295, not None (a fixed seed keeps "
                              "the model reproducible)")
    seed = whole_number(value, what)
    if not 0 <= seed < 2**32:
        raise CreditflowError(f"{what} must be a whole number from 0 to 4294967295, not {_short(value)}")
    return seed


def real_number(value: Any, what: str) -> float:
    """A parameter that must be a number (not NaN, text or a bool)."""
    try:
        ok = not isinstance(value, (bool, np.bool_)) and isinstance(value, (int, float, np.integer, np.floating)) \
            and not np.isnan(float(value))
    except OverflowError:  # an int too large for a float
        ok = False
    if not ok:
        raise CreditflowError(f"{what} must be a number, not {_short(value)}")
    return value


def _short(value: Any) -> str:
    """repr of a refused value, cut short (a 400-digit number would fill the screen)."""
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def is_categorical(series: pd.Series) -> bool:
    return not (pd.api.types.is_numeric_dtype(series.dtype) and not pd.api.types.is_bool_dtype(series.dtype))


class BinningProcess(TransformerMixin, BaseEstimator):
    """Supervised binning of all columns and WOE encoding.

    Parameters
    ----------
    max_bins, min_bin_share, n_prebins, monotonic, alpha
        See `BinningSettings`: at most `max_bins` regular bins, each holding at least
        `min_bin_share` of the rows, WOE monotonic in the value (auto picks the better direction, and
        bins free of a trend only when their extra likelihood passes a BIC test that also charges them
        for the search over their cut placements). `alpha` (default 0.5) is the WOE smoothing added to
        every bin's goods and bads.
    monotonic
        The trend of WOE (risk) over a numeric column's regular bins, in the order of its values:
        "auto" (default), "ascending" (WOE, so risk and the bad rate, rises with the value: points
        fall), "descending" or "none" for every column; or per column, ``{"x_002": "descending"}``, the
        columns not named taking the entry ``"*"`` ("auto" without one). A column named must be in the
        data and numeric (categories are grouped in bad-rate order whatever the trend) and must not have
        `user_splits` as well when its trend is ascending or descending.
    special_values
        Values that get their own named bin, e.g. ``[-999]`` (or ``-999``) for every column or
        ``{"x_001": [-1]}``; a column named here must be in the data. A value listed twice is one bin.
    user_splits
        ``{column: [split, ...]}`` for numeric or ``{column: [[cat, ...], ...]}`` for categorical
        columns; honoured as given, or refused with the reason.
    categorical
        Numeric columns to treat as categorical codes (a list, or one name); each must be in the data.
    """

    def __init__(
        self,
        max_bins: int = 8,
        min_bin_share: float = 0.03,
        n_prebins: int = 50,
        monotonic: str | Mapping[str, str] = "auto",
        special_values: Sequence[float] | Mapping[str, Sequence[float]] | None = None,
        user_splits: Mapping[str, Sequence[Any]] | None = None,
        categorical: Sequence[str] | None = None,
        alpha: float = 0.5,
    ) -> None:
        self.max_bins = max_bins
        self.min_bin_share = min_bin_share
        self.n_prebins = n_prebins
        self.monotonic = monotonic
        self.special_values = special_values
        self.user_splits = user_splits
        self.categorical = categorical
        self.alpha = alpha

    def _settings(self) -> BinningSettings:
        s = BinningSettings(
            whole_number(self.max_bins, "max_bins"), real_number(self.min_bin_share, "min_bin_share"),
            whole_number(self.n_prebins, "n_prebins"), self.monotonic, real_number(self.alpha, "alpha"),
        )
        s.check()
        if not s.alpha > 0:
            raise CreditflowError(f"alpha (the WOE smoothing) must be positive, not {s.alpha}")
        return s

    def _trends(
        self, settings: BinningSettings, columns: Sequence[str], categorical: Iterable[str], user_splits: Mapping[str, Any]
    ) -> None:
        """Refuse a per-column `monotonic` entry naming a column not in the data, a categorical column, or a
        column whose bins `user_splits` fixes (`categorical`: the columns binned as categories)."""
        if not isinstance(settings.monotonic, Mapping):
            return
        given = {str(k): v for k, v in settings.monotonic.items() if str(k) != ALL_COLUMNS}
        unknown = [c for c in given if c not in set(columns)]
        if unknown:
            from creditflow.data.io import did_you_mean

            raise CreditflowError(f"binning.monotonic names {len(unknown)} column(s) not in the data: {unknown[:10]} "
                                  "(or excluded, or the target / id / time column)"
                                  f"{did_you_mean(unknown[0], list(columns))}", column=unknown[0])
        cats = set(categorical)
        for var, trend in given.items():
            if trend not in ("ascending", "descending"):
                continue
            if var in cats:
                raise CreditflowError(
                    f"binning.monotonic gives {var!r} the trend {trend}, but it is categorical: a trend needs "
                    "ordered values (categories are grouped in bad-rate order); leave it out of binning.monotonic, "
                    "or bin its codes as numbers", column=var)
            if var in user_splits:
                raise CreditflowError(
                    f"binning.monotonic gives {var!r} the trend {trend}, but user_splits fixes its bins (they are "
                    "honoured as given): give one or the other", column=var)

    def _specials(self, name: str) -> list[float]:
        sv = self.special_values
        if isinstance(sv, Mapping):
            return special_map(sv, list(map(str, sv))).get(str(name), [])
        return special_numbers(sv)

    def _categorical(self) -> list[str]:
        return column_names(self.categorical, "categorical")

    def _user_splits(self, columns: Sequence[str]) -> dict[str, Any]:
        if self.user_splits is None:
            return {}
        if not isinstance(self.user_splits, Mapping):
            raise CreditflowError(f"user_splits must be a dict {{column: splits}}, not {self.user_splits!r}")
        out = {str(k): v for k, v in self.user_splits.items()}
        unknown = set(out) - set(columns)
        if unknown:
            raise CreditflowError(f"user splits given for columns not in the data: {sorted(unknown)}")
        return out

    def fit(self, X: Any, y: Any = None, progress: Callable[[str], None] | None = None) -> BinningProcess:
        """Fit the bins of every column of `X` against the 0/1 target `y` (1 = bad). A fit that fails leaves
        the process unfitted (not holding an earlier fit's bins), as the models' `fit_afresh` does."""
        # imported here: creditflow.models imports this module (through the scorecard)
        from creditflow.models.base import fit_afresh

        return fit_afresh(BinningProcess._fit)(self, X, y, progress)

    def _fit(self, X: Any, y: Any, progress: Callable[[str], None] | None) -> BinningProcess:
        settings = self._settings()
        categorical = set(self._categorical())
        frame, yv = fit_inputs(X, y, categorical)
        # a Dataset's field dictionary labels the tables (a model sets its own after fitting)
        self.dictionary_ = getattr(X, "dictionary", None) or FieldDictionary()
        column_names(sorted(categorical), "categorical", frame.columns)
        user_splits = self._user_splits(frame.columns)
        specials = special_map(self.special_values, frame.columns)
        cats = {c for c in frame.columns if c in categorical or is_categorical(frame[c])}
        self._trends(settings, list(frame.columns), cats, user_splits)
        warn_special_values(frame, specials, categorical)
        self.bins_: dict[str, VariableBinning] = {}

        def fit_one(name: Any) -> VariableBinning:
            col = frame[name]
            user = user_splits.get(name)
            sv = specials.get(name, [])
            try:
                if name in cats:
                    return fit_categorical(str(name), category_keys(col), yv, settings, sv, user)
                x = col.to_numpy(dtype=float, na_value=np.nan)
                return fit_numeric(str(name), x, yv, settings.for_column(str(name)), sv, user)
            except CreditflowError as exc:
                exc.column = exc.column or str(name)
                raise

        # columns are independent and their sorts release the GIL: on a large table, bin them on
        # all cores (the bins do not depend on the order or the thread a column is fitted in)
        workers = min(os.cpu_count() or 1, 8) if len(frame) * frame.shape[1] >= PARALLEL_CELLS else 1
        with ThreadPoolExecutor(max_workers=workers) as pool:
            for name, vb in zip(frame.columns, pool.map(fit_one, frame.columns), strict=True):
                self.bins_[str(name)] = vb
                if progress is not None:
                    progress(str(name))
        self.feature_names_in_ = np.asarray([str(c) for c in frame.columns], dtype=object)
        self.n_features_in_ = len(self.feature_names_in_)
        self.iv_ = pd.Series({k: v.iv for k, v in self.bins_.items()}, name="iv").sort_values(ascending=False)
        warn_leakage(self.iv_)
        return self

    @property
    def tables_(self) -> dict[str, pd.DataFrame]:
        """Binning table of every variable (bin, count, share, goods, bads, bad_rate, woe, iv, and the field
        meaning when a dictionary is known)."""
        check_is_fitted(self, "bins_")
        return {k: self._table(k) for k in self.bins_}

    def binning_table(self, variable: str) -> pd.DataFrame:
        """The binning table of `variable`, as in `tables_`."""
        check_is_fitted(self, "bins_")
        if variable not in self.bins_:
            raise CreditflowError(f"no binning for variable {variable!r}")
        return self._table(variable)

    def _table(self, variable: str) -> pd.DataFrame:
        d = getattr(self, "dictionary_", None)
        meaning = d.meaning(variable) if d else ""
        table = self.bins_[variable].table(meaning or None)
        if d:  # as `Scorecard.points_` does: a notebook prints the column, not the attrs
            table["meaning"] = meaning
        return table

    def _check_columns(self, frame: pd.DataFrame, variables: Sequence[str]) -> None:
        missing = [v for v in variables if v not in frame.columns]
        if missing:
            raise SchemaError(
                f"{len(missing)} model column(s) missing from the data: {missing[:10]}",
                column=missing[0],
            )
        refuse_infinite(frame, variables)

    def transform(self, X: Any, variables: Sequence[str] | None = None) -> pd.DataFrame:
        """WOE of every fitted (or each named) variable, as float64 columns of the same names."""
        check_is_fitted(self, "bins_")
        frame = as_frame(X, self.feature_names_in_)
        names = list(variables) if variables is not None else list(self.bins_)
        self._check_columns(frame, names)
        return pd.DataFrame({n: self.bins_[n].transform(frame[n]) for n in names}, index=frame.index)

    def bin_indices(self, X: Any, variables: Sequence[str] | None = None) -> pd.DataFrame:
        """Bin index of every value (int32 columns); look labels up in `bins_[v].labels`."""
        check_is_fitted(self, "bins_")
        frame = as_frame(X, self.feature_names_in_)
        names = list(variables) if variables is not None else list(self.bins_)
        self._check_columns(frame, names)
        return pd.DataFrame({n: self.bins_[n].bin_indices(frame[n]) for n in names}, index=frame.index)

    def unseen_counts(self, X: Any, variables: Sequence[str] | None = None) -> dict[str, int]:
        """Rows per categorical variable whose category was not seen in training (they go to Unseen)."""
        idx = self.bin_indices(X, variables)
        out = {}
        for n in idx.columns:
            vb = self.bins_[n]
            if vb.kind == "categorical":
                k = int((idx[n].to_numpy() == len(vb.labels) - 1).sum())
                if k:
                    out[n] = k
        return out

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True  # missing values get their own bin: a selector in front must not refuse NaN
        return tags

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        check_is_fitted(self, "bins_")
        return np.asarray(list(self.bins_), dtype=object)

    def to_dict(self) -> dict:
        check_is_fitted(self, "bins_")
        return {"params": self.get_params(), "variables": [v.to_dict() for v in self.bins_.values()]}

    @classmethod
    def from_dict(cls, data: dict) -> BinningProcess:
        params = dict(data.get("params", {}))
        obj = cls(**{k: v for k, v in params.items() if k in cls().get_params()})
        obj.bins_ = {d["name"]: VariableBinning.from_dict(d) for d in data["variables"]}
        obj.feature_names_in_ = np.asarray(list(obj.bins_), dtype=object)
        obj.n_features_in_ = len(obj.bins_)
        obj.iv_ = pd.Series({k: v.iv for k, v in obj.bins_.items()}, name="iv").sort_values(ascending=False)
        return obj

    def _repr_html_(self) -> str:
        check_is_fitted(self, "bins_")
        return self.iv_.to_frame().to_html()

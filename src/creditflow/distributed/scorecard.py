"""Fitting a `Scorecard` on a Dask cluster: the same model `Scorecard().fit` gives on the same rows.

Passes over the data (each a task per piece, nothing but sums and small tables reach the client):

1. counts: for every column, rows and bads per distinct value (plus Missing / special rows);
   merged exactly, they give the single-machine bins, IV and missing rates (with a time column, one
   more pass counts the training rows per period and bin of the variables left, for the stability step);
2. patterns: the training rows of each piece as distinct (bin per surviving variable, target)
   rows with counts, kept in worker memory;
3. over the patterns: centred WOE cross-products (correlation and VIF filters), stepwise
   log-likelihoods if asked for, and the Newton statistics of every logistic fit
   (`Scorecard._fit_patterns` runs the same selection and solver as on one machine).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from creditflow.binning.patterns import crossprod
from creditflow.binning.process import (
    BinningProcess,
    column_names,
    is_categorical,
    warn_leakage,
    warn_small_sample,
    warn_special_counts,
)
from creditflow.binning.variable import (
    BinningSettings,
    ValueCounts,
    VariableBinning,
    fit_categorical_counts,
    fit_numeric_counts,
)
from creditflow.data.errors import CreditflowError
from creditflow.distributed.cluster import tree_reduce
from creditflow.distributed.labelled import LabelledTable
from creditflow.distributed.patterns import piece_newton, piece_patterns, piece_period_counts
from creditflow.distributed.stats import TableStats, check_stats, merge_stats, piece_stats
from creditflow.models.base import remember_params, set_classes
from creditflow.models.scorecard import Scorecard
from creditflow.selection.filters import (
    SelectionSettings,
    alive_variables,
    missing_rates,
    prefilter,
    stability_step,
    unusable_variables,
)
from creditflow.selection.logistic import NewtonSums
from creditflow.selection.stability import period_groups

Progress = Callable[[str], None]
MAX_LOCAL_PATTERNS = 2_000_000
"""Fetch the training patterns to the client when there are at most this many (about 200 bytes each)."""


def categorical_columns(data: LabelledTable, categorical: list[str] | None) -> list[str]:
    """The feature columns binned as categories: those named, and every non-numeric dtype."""
    named = set(column_names(categorical, "categorical", data.features))
    return [c for c in data.features if c in named or is_categorical(data.table.meta[c])]


def feature_stats(client: Any, data: LabelledTable, labels: list, categorical: list[str],
                  specials: dict[str, list[float]]) -> TableStats:
    """Pass 1: merged `TableStats` of the feature columns (training rows for the counts, all rows for checks)."""
    futures = client.map(piece_stats, data.table.pieces, labels, columns=data.features, categorical=categorical,
                         specials=specials, pure=False)
    stats = tree_reduce(client, futures, merge_stats).result()
    check_stats(stats, data.features, data.source, data.table.locate)
    return stats


def fit_column(counts: ValueCounts, name: str, categorical: bool, settings: BinningSettings,
               specials: list[float], user: Any) -> VariableBinning:
    """The bins of one column from its merged counts (run on a worker)."""
    fit = fit_categorical_counts if categorical else fit_numeric_counts
    try:
        return fit(name, counts, settings, specials, user)
    except CreditflowError as exc:
        exc.column = exc.column or name
        raise


def binning_from_stats(
    bp: BinningProcess, stats: TableStats, columns: list[str], categorical: list[str], client: Any = None
) -> BinningProcess:
    """Set the fitted state of `bp` (as `BinningProcess.fit` would) from merged counts; columns in parallel on `client`."""
    settings = bp._settings()
    unknown = set(bp.user_splits or {}) - set(columns)
    if unknown:
        raise CreditflowError(f"user splits given for columns not in the data: {sorted(unknown)}")
    cats = set(categorical)
    bp._trends(settings, columns, cats, bp.user_splits or {})
    args = [(stats.counts[c], c, c in cats, settings if c in cats else settings.for_column(c), bp._specials(c),
             (bp.user_splits or {}).get(c)) for c in columns]
    if client is None:
        fitted = [fit_column(*a) for a in args]
    else:
        fitted = client.gather([client.submit(fit_column, *a, pure=False) for a in args])
    bp.bins_ = dict(zip(columns, fitted, strict=True))
    bp.feature_names_in_ = np.asarray(columns, dtype=object)
    bp.n_features_in_ = len(columns)
    bp.iv_ = pd.Series({k: v.iv for k, v in bp.bins_.items()}, name="iv").sort_values(ascending=False)
    return bp


def training_groups(data: LabelledTable, sset: SelectionSettings) -> tuple[np.ndarray, list[str]] | None:
    """`models.scorecard.training_periods` on the cluster: the period group of every row (-1 outside training)
    and the groups' names, or None when the stability step does not run."""
    if sset.max_csi is None or data.period is None or data.period_names is None:
        return None
    train = data.role == 0
    codes, names = period_groups(data.period_names.to_numpy()[data.period[train]])
    if len(names) < 2:
        return None
    groups = np.full(len(data.role), -1, dtype=np.int64)
    groups[train] = codes
    return groups, names


def period_counts(
    client: Any, data: LabelledTable, groups: tuple[np.ndarray, list[str]], bins: list[VariableBinning]
) -> dict[str, np.ndarray]:
    """Training rows per (period group, bin) of each variable of `bins`, summed over the pieces (whole numbers:
    exact in any order)."""
    per_row, names = groups
    parts = client.gather(client.map(piece_period_counts, data.table.pieces,
                                     [per_row[p.offset : p.offset + p.n_rows] for p in data.table.pieces],
                                     bins=bins, n_groups=len(names), pure=False))
    return {vb.name: np.sum([part[j] for part in parts], axis=0) for j, vb in enumerate(bins)}


class PatternSums:
    """Sums over the training patterns of every piece, added on the client in piece order.

    The patterns stay on the workers (one task per piece and evaluation) unless they are few
    enough (`max_local` rows in all) to be fetched once; both ways add the same per-piece sums in
    the same order, so the results are identical.
    """

    def __init__(self, client: Any, futures: list, variables: list[str], woes: list[np.ndarray],
                 max_local: int = MAX_LOCAL_PATTERNS) -> None:
        self.client, self.futures, self.variables, self.woes = client, futures, variables, woes
        sizes = client.gather(client.map(_n_patterns, futures, pure=False))
        self.n_patterns = int(sum(sizes))
        self.local = client.gather(futures) if self.n_patterns <= max_local else None
        if self.local is not None:
            client.cancel(futures)

    def _parts(self, fn: Callable, **kwargs: Any) -> list:
        if self.local is not None:
            return [fn(p, woes=self.woes, **kwargs) for p in self.local]
        return self.client.gather(self.client.map(fn, self.futures, woes=self.woes, pure=False, **kwargs))

    def _sum(self, fn: Callable, **kwargs: Any) -> list:
        parts = self._parts(fn, **kwargs)
        total = list(parts[0])
        for part in parts[1:]:
            total = [a + b for a, b in zip(total, part, strict=True)]
        return total

    def crossprod(self, centre: np.ndarray) -> np.ndarray:
        parts = self._parts(crossprod, centre=centre)
        total = parts[0].copy()
        for part in parts[1:]:
            total += part
        return total

    def columns(self, names: list[str]) -> list[int]:
        return [self.variables.index(v) for v in names]

    def newton(self, names: list[str]) -> NewtonSums:
        cols = self.columns(names)
        return lambda beta: tuple(self._sum(piece_newton, columns=cols, beta=beta))  # type: ignore[return-value]


def _n_patterns(pat: Any) -> int:
    return len(pat.y)


def fit_scorecard(
    client: Any, data: LabelledTable, params: dict[str, Any] | None = None, progress: Progress | None = None,
    max_local: int = MAX_LOCAL_PATTERNS,
) -> Scorecard:
    """A `Scorecard(**params)` fitted on the training rows of `data` with the work done on the cluster."""
    return fit_scorecard_stats(client, data, params, progress, max_local)[0]


def fit_scorecard_stats(
    client: Any, data: LabelledTable, params: dict[str, Any] | None = None, progress: Progress | None = None,
    max_local: int = MAX_LOCAL_PATTERNS,
) -> tuple[Scorecard, TableStats]:
    """`fit_scorecard`, and the merged column statistics it binned from."""
    say = progress or (lambda _msg: None)
    card = Scorecard(**(params or {}))
    bp, sset = card._start_fit(data.dictionary)
    categorical = categorical_columns(data, card.categorical)
    labels = client.scatter(data.labels(), hash=False)
    say(f"counting values of {len(data.features)} columns in {data.table.npartitions} pieces")
    specials = {c: bp._specials(c) for c in data.features}
    stats = feature_stats(client, data, labels, categorical, specials)
    warn_special_counts(stats.counts, specials, set(categorical))
    say(f"binning {len(data.features)} columns")
    card.binning_ = binning_from_stats(bp, stats, data.features, categorical, client)
    warn_small_sample(data.y[data.role == 0])
    warn_leakage(card.binning_.iv_)
    n = stats.n_train
    missing_rate = missing_rates(bp.bins_)
    report = prefilter(data.features, bp.iv_, missing_rate, sset, unusable_variables(bp.bins_))
    groups = training_groups(data, sset)
    if groups is not None:
        say(f"comparing the bins of {len(alive_variables(report))} variables over {len(groups[1])} training periods")
        stability_step(report, period_counts(client, data, groups, [bp.bins_[v] for v in alive_variables(report)]),
                       groups[1], sset)
    alive = alive_variables(report)
    say(f"compressing training rows to patterns over {len(alive)} variables")
    bins = [bp.bins_[v] for v in alive]
    futures = client.map(piece_patterns, data.table.pieces, labels, bins=bins, pure=False)
    sums = PatternSums(client, futures, alive, [np.asarray(vb.woe, dtype=float) for vb in bins], max_local)
    mean_y = float(data.y[data.role == 0].mean())
    say(f"selecting variables and fitting the logistic regression on {len(alive)} variables")
    chosen = card._fit_patterns(report, sset, sums, n, mean_y)
    card.features_ = chosen
    card.feature_names_in_ = np.asarray([str(c) for c in data.features], dtype=object)
    card.n_features_in_ = len(card.feature_names_in_)
    set_classes(card)
    remember_params(card)
    card._make_points()
    return card, stats

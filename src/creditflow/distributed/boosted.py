"""Fitting a `BoostedScorecard` on a Dask cluster: the same model `BoostedScorecard().fit` gives on the same rows.

Two passes over the data, each a task per piece:

1. counts: every column's rows and bads per distinct value (`feature_stats`, shared with the classic
   card); merged exactly, they give the fine bins `fine_bins` gives from the rows;
2. codes: each piece's training rows as fine-bin codes, one small unsigned integer per cell.

The codes (one byte per training cell for up to 256 fine bins: 50 MB for 1,000,000 rows x 50 columns,
a fraction of the table itself) and the targets come to the client, which runs the boosting, the
compression and the interaction tables exactly as on one machine (`BoostedScorecard._fit_fine`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from creditflow.binning.process import special_map, warn_small_sample, warn_special_counts
from creditflow.binning.variable import VariableBinning
from creditflow.data.errors import CreditflowError
from creditflow.distributed.labelled import LabelledTable
from creditflow.distributed.scorecard import categorical_columns, feature_stats
from creditflow.distributed.source import Piece, read_piece
from creditflow.distributed.stats import TRAIN, TableStats
from creditflow.models.base import remember_params
from creditflow.models.boosted import BoostedScorecard
from creditflow.models.boosted_bins import code_dtype, fine_from_counts

Progress = Callable[[str], None]


def piece_codes(piece: Piece, labels: np.ndarray, bins: list[VariableBinning]) -> list[np.ndarray]:
    """The fine-bin codes of the training rows of one piece, one array per column."""
    frame = read_piece(piece, [vb.name for vb in bins])
    keep = labels // 2 == TRAIN
    return [vb.bin_indices(frame[vb.name][keep]).astype(code_dtype(len(vb.labels))) for vb in bins]


def fit_boosted_stats(
    client: Any, data: LabelledTable, params: dict[str, Any] | None = None, progress: Progress | None = None
) -> tuple[BoostedScorecard, TableStats]:
    """A `BoostedScorecard(**params)` fitted on the training rows of `data`, and the merged column statistics."""
    say = progress or (lambda _msg: None)
    model = BoostedScorecard(**(params or {}))
    remember_params(model)
    categorical = categorical_columns(data, model.categorical)
    bset, monotone = model._start_fit(list(data.features), data.dictionary, set(categorical), rows=False)
    specials = special_map(model.special_values, data.features)
    labels = client.scatter(data.labels(), hash=False)
    say(f"counting values of {len(data.features)} columns in {data.table.npartitions} pieces")
    stats = feature_stats(client, data, labels, categorical, specials)
    warn_special_counts(stats.counts, specials, set(categorical))
    warn_small_sample(data.y[data.role == 0])
    cats = set(categorical)
    fine = {c: fine_from_counts(c, stats.counts[c], c in cats, specials.get(c, []), bset.max_fine_bins)
            for c in data.features}
    say(f"coding the training rows into fine bins of {len(fine)} columns")
    futures = client.map(piece_codes, data.table.pieces, labels, bins=list(fine.values()), pure=False)
    codes = [np.empty(stats.n_train, dtype=code_dtype(len(vb.labels))) for vb in fine.values()]
    at = 0
    for future in futures:  # piece by piece into the preallocated arrays, in row order
        part = future.result()
        n = len(part[0]) if part else 0
        for j, c in enumerate(part):
            codes[j][at : at + n] = c
        at += n
        future.release()
    if at != stats.n_train:
        raise CreditflowError(f"the pieces gave {at} training rows, the counts {stats.n_train}")
    y = data.y[data.role == 0].astype(float)
    say(f"boosting the shapes of {len(fine)} columns on {len(y):,} training rows")
    model._fit_fine(bset, monotone, fine, codes, y, None)
    return model, stats

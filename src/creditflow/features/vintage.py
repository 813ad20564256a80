"""Vintage curves and roll-rate matrices from monthly repayment records, with matplotlib figures.

Both work on months: record times are read as calendar months (``2005-09`` or any date in it).

* Vintage: a cohort is the month an account was opened (given, or its first record); months on
  book (MOB) count from 0 in that month. The curve at MOB k is the share of the cohort's accounts
  whose status reached ``bad_at`` at some MOB <= k, over all accounts of the cohort (an account
  that went bad stays bad). It is missing beyond the last MOB the cohort has been observed.
* Roll rate: for each record at month t with the record at t + horizon present, the status at t
  (row) against the worst status over months t+1 .. t+horizon (column). Statuses can be clipped,
  e.g. ``clip=(0, 3)`` groups everything current as ``<=0`` and 3 or more months late as ``3+``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from creditflow.data.errors import DataError
from creditflow.features.times import parse_times


def _months(values: pd.Series, column: str, file: str | None) -> np.ndarray:
    ts = parse_times(values, column=column, file=file, period="month")
    return (ts.dt.year * 12 + ts.dt.month - 1).to_numpy(dtype=np.int64)


def _label_month(index: int) -> str:
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def _records(
    records: pd.DataFrame, entity: str, time: str, status: str, file: str | None
) -> pd.DataFrame:
    for col in (entity, time, status):
        if col not in records.columns:
            raise DataError(f"column not found; the data has {list(records.columns)[:15]}", file=file, column=col)
    values = pd.to_numeric(records[status], errors="coerce")
    bad = (values.isna() & records[status].notna()).to_numpy()
    if bad.any():
        row = int(np.flatnonzero(bad)[0]) + 1
        raise DataError(f"{int(bad.sum())} status value(s) are not numbers", file=file, column=status, row=row)
    out = pd.DataFrame({"entity": records[entity].to_numpy(), "month": _months(records[time], time, file),
                        "status": values.to_numpy(dtype=float)})
    dup = out.duplicated(["entity", "month"]).to_numpy()
    if dup.any():
        row = int(np.flatnonzero(dup)[0]) + 1
        raise DataError(f"{int(dup.sum())} record(s) repeat an (entity, month) pair", file=file, column=time, row=row)
    return out


@dataclass
class VintageTable:
    """Cumulative bad rate by cohort (rows, 'YYYY-MM') and months on book (columns, 0 ...)."""

    rates: pd.DataFrame
    accounts: pd.Series
    bad_at: float

    def plot(self, ax: Any = None) -> Any:
        """Line chart of the curves; returns the matplotlib Figure."""
        fig, ax = _axes(ax)
        for cohort, row in self.rates.iterrows():
            ax.plot(row.index, row.to_numpy(dtype=float) * 100, marker="o", ms=3,
                    label=f"{cohort} (n={int(self.accounts[cohort])})")
        ax.set_xlabel("months on book")
        ax.set_ylabel(f"cumulative bad rate, % (status >= {self.bad_at:g})")
        ax.set_title("Vintage curves")
        ax.grid(alpha=0.3)
        ax.legend(fontsize="small")
        return fig


def vintage_curves(
    records: pd.DataFrame,
    *,
    entity: str,
    time: str,
    status: str,
    bad_at: float = 1.0,
    opened: pd.Series | None = None,
    file: str | None = None,
) -> VintageTable:
    """Vintage curves; `opened` maps entity -> opening date (default: each entity's first record)."""
    rec = _records(records, entity, time, status, file)
    first = rec.groupby("entity")["month"].min()
    if opened is not None:
        start = pd.Series(_months(opened.reset_index(drop=True), "opened", None), index=opened.index)
        missing = ~first.index.isin(start.index)
        if missing.any():
            raise DataError(f"{int(missing.sum())} entity id(s) have records but no opening date",
                            file=file, column=entity)
        start = start.reindex(first.index)
        early = (first < start).to_numpy()
        if early.any():
            raise DataError(f"{int(early.sum())} entity id(s) have records before their opening month",
                            file=file, column=time)
    else:
        start = first
    rec["mob"] = rec["month"].to_numpy() - start.reindex(rec["entity"]).to_numpy()
    cohort = start.map(_label_month)
    bad_mob = rec[rec["status"] >= bad_at].groupby("entity")["mob"].min().reindex(first.index)
    last_mob = rec.groupby("entity")["mob"].max()
    accounts = cohort.value_counts().sort_index()
    mobs = np.arange(int(last_mob.max()) + 1)
    rows = {}
    for c in accounts.index:
        members = cohort.index[cohort.to_numpy() == c]
        bm = bad_mob.reindex(members).to_numpy(dtype=float)
        seen = int(last_mob.reindex(members).max())
        rates = [(np.sum(bm <= k) / len(members)) if k <= seen else np.nan for k in mobs]
        rows[c] = rates
    table = pd.DataFrame.from_dict(rows, orient="index", columns=mobs)
    table.index.name, table.columns.name = "cohort", "mob"
    accounts.name, accounts.index.name = "accounts", "cohort"
    return VintageTable(table, accounts, bad_at)


@dataclass
class RollRateTable:
    """Counts of (status at t) -> (worst status over the next `horizon` months)."""

    counts: pd.DataFrame
    horizon: int

    @property
    def rates(self) -> pd.DataFrame:
        """Row shares: of the records in a status, the share that rolled to each worst status."""
        totals = self.counts.sum(axis=1)
        return self.counts.div(totals.where(totals > 0), axis=0)

    def plot(self, ax: Any = None) -> Any:
        """Heat map of the row shares; returns the matplotlib Figure."""
        fig, ax = _axes(ax)
        rates = self.rates.to_numpy(dtype=float)
        im = ax.imshow(rates * 100, cmap="Reds", vmin=0, vmax=100)
        ax.set_xticks(range(rates.shape[1]), labels=[str(c) for c in self.counts.columns])
        ax.set_yticks(range(rates.shape[0]), labels=[str(r) for r in self.counts.index])
        for i in range(rates.shape[0]):
            for j in range(rates.shape[1]):
                if not np.isnan(rates[i, j]):
                    ax.text(j, i, f"{rates[i, j] * 100:.0f}", ha="center", va="center", fontsize=7,
                            color="white" if rates[i, j] > 0.5 else "black")
        ax.set_xlabel(f"worst status over the next {self.horizon} month(s)")
        ax.set_ylabel("status at t")
        ax.set_title("Roll rates, % of row")
        fig.colorbar(im, ax=ax, label="% of row")
        return fig


def _state_labels(values: np.ndarray, clip: tuple[float, float] | None) -> tuple[np.ndarray, list]:
    if clip is None:
        return values, sorted(np.unique(values[~np.isnan(values)]).tolist())
    lo, hi = clip
    clipped = np.clip(values, lo, hi)
    levels = sorted(np.unique(clipped[~np.isnan(clipped)]).tolist())
    return clipped, levels


def _name(value: float, clip: tuple[float, float] | None) -> str:
    text = f"{value:g}"
    if clip is not None and value == clip[0]:
        return f"<={text}"
    if clip is not None and value == clip[1]:
        return f"{text}+"
    return text


def roll_rates(
    records: pd.DataFrame,
    *,
    entity: str,
    time: str,
    status: str,
    horizon: int = 1,
    clip: tuple[float, float] | None = None,
    file: str | None = None,
) -> RollRateTable:
    """Roll-rate counts over every month t whose entity has a record at t + `horizon`."""
    if horizon < 1:
        raise DataError(f"horizon must be at least 1 month, got {horizon}")
    rec = _records(records, entity, time, status, file)
    by_key = pd.Series(rec["status"].to_numpy(), index=pd.MultiIndex.from_arrays([rec["entity"], rec["month"]]))
    ent, month = rec["entity"].to_numpy(), rec["month"].to_numpy()
    ahead = [by_key.reindex(pd.MultiIndex.from_arrays([ent, month + j])).to_numpy() for j in range(1, horizon + 1)]
    observed = pd.MultiIndex.from_arrays([ent, month + horizon]).isin(by_key.index)
    worst = np.fmax.reduce(np.vstack(ahead), axis=0) if horizon > 1 else ahead[0]
    keep = observed & ~np.isnan(rec["status"].to_numpy()) & ~np.isnan(worst)
    now, levels_now = _state_labels(rec["status"].to_numpy()[keep], clip)
    later, levels_later = _state_labels(worst[keep], clip)
    levels = sorted(set(levels_now) | set(levels_later))
    counts = pd.crosstab(pd.Categorical(now, categories=levels), pd.Categorical(later, categories=levels),
                         dropna=False)
    names = [_name(v, clip) for v in levels]
    counts.index, counts.columns = pd.Index(names, name="status at t"), pd.Index(names, name="worst next")
    return RollRateTable(counts.astype("int64"), horizon)


def _axes(ax: Any) -> tuple[Any, Any]:
    if ax is not None:
        return ax.figure, ax
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7, 4.5))
    return fig, fig.add_subplot()

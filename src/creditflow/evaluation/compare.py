"""Champion against challenger on the same labelled rows: discrimination, calibration, score shift, swap set.

Both models' probabilities of bad and scores are computed on the same rows. The tables:
`summary` (AUC with DeLong interval, KS, Gini, Hosmer-Lemeshow, mean PD, approval rate at the
cutoff), `delong` (the test that both AUCs are equal), `calibration` (predicted against observed
bad rate per decile of each model's PD), `psi` (challenger's score distribution against the
champion's, deciles of the champion) and `swap` (who moves between approve and reject at the cutoff,
with bad rates). A row is approved when its score is at or above the cutoff (higher is better).
Given a sample name per row (test, oot), each sample is also compared on its own rows (`samples`,
`by_sample`): a pooled difference can hide one that holds in one sample only.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from creditflow.binning.process import as_frame, as_target, check_aligned
from creditflow.data.errors import CreditflowError
from creditflow.evaluation.calibration import calibration_table, hosmer_lemeshow
from creditflow.evaluation.metrics import auc_ci, delong_test, ks
from creditflow.evaluation.stability import psi
from creditflow.evaluation.strategy import swap_set


def _model(obj: Any) -> Any:
    return obj.model if hasattr(obj, "files") and hasattr(obj, "model") else obj


def _version(obj: Any) -> str:
    if hasattr(obj, "model_version"):
        return str(obj.model_version)
    return str(getattr(obj, "bundle_version_", ""))


def _path(obj: Any) -> str:
    """The folder of a loaded bundle, else ""."""
    return str(obj.path) if hasattr(obj, "files") and hasattr(obj, "path") else ""


@dataclass
class Comparison:
    """The comparison tables of a champion and a challenger on one labelled sample."""

    names: tuple[str, str]
    cutoff: float
    rows: int
    bad_rate: float
    same_scale: bool
    summary: pd.DataFrame
    delong: dict[str, float]
    psi_value: float
    psi_table: pd.DataFrame
    calibration: pd.DataFrame
    swap: pd.DataFrame
    notes: list[str] = field(default_factory=list)
    paths: tuple[str, str] = ("", "")  # the bundles' folders, when bundles were compared (shown in the HTML)
    samples: dict[str, Comparison] = field(default_factory=dict)  # the same comparison on each sample's rows

    def by_sample(self) -> pd.DataFrame:
        """One row for all rows ("pooled") and one per sample: rows, bad rate, both AUCs, the DeLong test,
        both approval rates and the swap-in / swap-out counts and bad rates. Empty without samples."""
        if not self.samples:
            return pd.DataFrame()
        rows = []
        for name, c in {"pooled": self, **self.samples}.items():
            approval = c.summary.set_index("model")["approval_rate"]
            swap = c.swap.set_index("segment")
            rows.append({
                "sample": name, "rows": c.rows, "bad_rate": c.bad_rate, "auc_champion": c.delong["auc_champion"],
                "auc_challenger": c.delong["auc_challenger"], "difference": c.delong["difference"],
                "se": c.delong["se"], "z": c.delong["z"], "p_value": c.delong["p_value"],
                "approval_rate_champion": approval[c.names[0]], "approval_rate_challenger": approval[c.names[1]],
                "swap_in": int(swap.loc["swap-in", "count"]), "swap_in_bad_rate": swap.loc["swap-in", "bad_rate"],
                "swap_out": int(swap.loc["swap-out", "count"]), "swap_out_bad_rate": swap.loc["swap-out", "bad_rate"],
            })
        return pd.DataFrame(rows)

    def tables(self) -> dict[str, pd.DataFrame]:
        """summary, delong, calibration, psi and swap as DataFrames (for reports); by_sample too when
        compared by sample."""
        tables = {
            "summary": self.summary,
            "delong": pd.DataFrame([self.delong]),
            "calibration": self.calibration,
            "psi": self.psi_table,
            "swap": self.swap,
        }
        if self.samples:
            tables["by_sample"] = self.by_sample()
        return tables

    def to_dict(self) -> dict[str, Any]:
        def records(frame: pd.DataFrame) -> list[dict]:
            return [{k: _plain(v) for k, v in r.items()} for r in frame.to_dict(orient="records")]

        doc = {
            "champion": self.names[0], "challenger": self.names[1], "rows": self.rows, "bad_rate": self.bad_rate,
            "cutoff": self.cutoff, "same_scale": self.same_scale, "notes": list(self.notes),
            "summary": records(self.summary), "delong": {k: _plain(v) for k, v in self.delong.items()},
            "psi": {"value": self.psi_value, "table": records(self.psi_table)},
            "calibration": records(self.calibration), "swap": records(self.swap),
        }
        if self.samples:  # each sample's own comparison, in the same layout
            doc["by_sample"] = records(self.by_sample())
            doc["samples"] = {name: c.to_dict() for name, c in self.samples.items()}
        return doc

    def to_html(self) -> str:
        """A self-contained HTML page of the comparison: rates and shares as percentages, models named by
        their bundle folders."""
        d = self.delong

        def table(frame: pd.DataFrame) -> str:
            if "model" in frame and any(self.paths):
                where = dict(zip(self.names, self.paths, strict=True))
                frame = frame.copy()
                frame.insert(1, "bundle", frame["model"].map(where))
            shown = {c: _percent for c in frame.columns if _PERCENT.search(str(c))}
            # p-values as the console shows them: 5.6e-13, not 0.0000
            shown.update({c: lambda v: f"{v:.3g}" for c in frame.columns if str(c).endswith("p_value")})
            return frame.to_html(float_format=lambda v: f"{v:.4f}", formatters=shown, index=False, border=0)

        models = "".join(f"<li>{html.escape(n)}: {html.escape(p)}</li>" for n, p in zip(self.names, self.paths,
                                                                                       strict=True) if p)
        parts = [
            "<!doctype html><html><head><meta charset='utf-8'><title>Champion vs challenger</title>",
            "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;margin:1em 0}"
            "td,th{padding:3px 8px;border-bottom:1px solid #ddd;text-align:right}</style></head><body>",
            f"<h1>{html.escape(self.names[0])} vs {html.escape(self.names[1])}</h1>",
            f"<ul>{models}</ul>" if models else "",
            f"<p>{self.rows:,} labelled rows, bad rate {self.bad_rate:.2%}; cutoff {self.cutoff:g} "
            "(approve at or above).</p>",
            *(f"<p><b>note:</b> {html.escape(n)}</p>" for n in self.notes),
            "<h2>Discrimination and calibration</h2>", table(self.summary),
            f"<p>DeLong test of equal AUC: difference {d['difference']:+.4f} (challenger - champion), "
            f"z = {d['z']:.3f}, p = {d['p_value']:.4g}.</p>",
            "<h2>Calibration by decile of predicted bad rate</h2>", table(self.calibration),
            f"<h2>Score shift (PSI = {self.psi_value:.4f})</h2>", table(self.psi_table),
            f"<h2>Swap set at cutoff {self.cutoff:g}</h2>", table(self.swap),
            *self._samples_html(table),
            "</body></html>",
        ]
        return "\n".join(parts)

    def _samples_html(self, table: Any) -> list[str]:
        """The per-sample section of the HTML page: the by-sample table, then each sample's swap set."""
        if not self.samples:
            return []
        parts = ["<h2>By sample</h2>", "<p>The same comparison on each sample's rows (difference: challenger - "
                 "champion AUC, DeLong test; approval and swap set at the same cutoff).</p>", table(self.by_sample())]
        for name, c in self.samples.items():
            parts += [f"<h3>Swap set at cutoff {self.cutoff:g}: {html.escape(name)} ({c.rows:,} rows)</h3>",
                      table(c.swap)]
        return parts

    def _repr_html_(self) -> str:
        return self.to_html()


# columns the HTML shows as percentages: rates, shares and probabilities of bad (not p-values)
_PERCENT = re.compile(r"(rate|share|probability|predicted|observed|jeffreys_low|jeffreys_high|^min_p$|^max_p$)")


def _percent(v: Any) -> str:
    return "" if v is None or v != v else f"{float(v):.2%}"


def _plain(v: Any) -> Any:
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (np.floating, float)):
        return None if not np.isfinite(v) else float(v)
    if isinstance(v, np.bool_):
        return bool(v)
    return v


def compare_models(
    champion: Any,
    challenger: Any,
    X: Any,
    y: Any = None,
    *,
    cutoff: float | None = None,
    names: tuple[str, str] = ("champion", "challenger"),
    groups: int = 10,
    samples: Any = None,
) -> Comparison:
    """Compare two models (or bundles) on labelled data (a `Dataset`, or a table and 0/1 target, 1 = bad).

    `cutoff` (score, approve at or above) defaults to the champion's base score (its `Scaling.base_score`).
    `samples`: a sample name per row (e.g. "test", "oot"); each sample is then also compared on its own rows at
    the same cutoff (`Comparison.samples`, `Comparison.by_sample`), a sample of one class only left out with a note.
    """
    champ, chall = _model(champion), _model(challenger)
    check_aligned(X, y)
    yv = as_target(y, X).astype(int)
    frame = as_frame(X)
    if len(frame) != len(yv):
        raise CreditflowError(f"the table has {len(frame)} rows but the target has {len(yv)}")
    scored = {names[0]: champ.scores(frame), names[1]: chall.scores(frame)}
    sa, sb = champ.scaling_, chall.scaling_
    same = (sa.factor, sa.offset) == (sb.factor, sb.offset)
    notes = [] if same else ["the two models use different score scalings: equal scores do not mean equal odds"]
    cut = float(cutoff) if cutoff is not None else float(sa.base_score)
    lo, hi = max(sa.min_score, sb.min_score), min(sa.max_score, sb.max_score)
    if not lo <= cut <= hi:
        raise CreditflowError(f"cutoff {cut:g} is outside the score scale {lo}-{hi}")
    rows, cal = [], []
    for name, model, obj in ((names[0], champ, champion), (names[1], chall, challenger)):
        p = scored[name]["probability"].to_numpy()
        s = scored[name]["score"].to_numpy()
        a = auc_ci(yv, p)
        hl = hosmer_lemeshow(yv, p, groups, df=groups)  # an independent sample: groups, not groups − 2
        rows.append({
            "model": name, "model_type": getattr(model, "model_type", ""), "model_version": _version(obj),
            "auc": a.auc, "auc_low": a.auc_low, "auc_high": a.auc_high, "ks": ks(yv, p).statistic, "gini": a.gini,
            "hl_statistic": hl.statistic, "hl_p_value": hl.p_value, "mean_probability": float(p.mean()),
            "bad_rate": float(yv.mean()), "approval_rate": float((s >= cut).mean()),
        })
        table = calibration_table(yv, p, groups)
        table.insert(0, "model", name)
        cal.append(table)
    pa = scored[names[0]]["probability"].to_numpy()
    pb = scored[names[1]]["probability"].to_numpy()
    test = delong_test(yv, pb, pa)  # a = challenger, so the difference is challenger - champion
    delong = {"auc_champion": test["auc_b"], "auc_challenger": test["auc_a"], "difference": test["difference"],
              "se": test["se"], "z": test["z"], "p_value": test["p_value"]}
    shift = psi(scored[names[0]]["score"].to_numpy(dtype=float), scored[names[1]]["score"].to_numpy(dtype=float))
    swap = swap_set(yv, scored[names[0]]["score"], scored[names[1]]["score"], cut, cut)
    result = Comparison(
        names=names, cutoff=cut, rows=len(yv), bad_rate=float(yv.mean()), same_scale=same,
        summary=pd.DataFrame(rows), delong=delong, psi_value=shift.value, psi_table=shift.table,
        calibration=pd.concat(cal, ignore_index=True), swap=swap, notes=notes,
        paths=(_path(champion), _path(challenger)),
    )
    if samples is not None:
        labels = np.asarray(samples)
        if len(labels) != len(yv):
            raise CreditflowError(f"{len(labels)} sample names for {len(yv)} rows")
        for name in pd.unique(labels):
            at = np.flatnonzero(labels == name)
            if yv[at].min() == yv[at].max():
                notes.append(f"sample '{name}' holds only {'bads' if yv[at][0] else 'goods'}: not compared on its own")
                continue
            result.samples[str(name)] = compare_models(champion, challenger, frame.iloc[at].reset_index(drop=True),
                                                       yv[at], cutoff=cut, names=names, groups=groups)
    return result


def comparison_tables(
    champion: Any, challenger: Any, X: Any, y: Any = None, *, cutoff: float | None = None,
    names: tuple[str, str] = ("champion", "challenger"),
) -> dict[str, pd.DataFrame]:
    """The comparison as DataFrames: summary, delong, calibration, psi, swap (see `compare_models`)."""
    return compare_models(champion, challenger, X, y, cutoff=cutoff, names=names).tables()

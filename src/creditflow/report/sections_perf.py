"""Report sections about performance: discrimination, calibration, stability and cutoff strategy.

Discrimination and strategy use the integer score (what a decision uses, higher is better);
calibration uses the probability of bad.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from creditflow.evaluation import (
    PSIResult,
    auc,
    auc_ci,
    bad_rate_by_band,
    calibration_table,
    csi_from_shares,
    default_cutoffs,
    hosmer_lemeshow,
    ks,
    lift_gain_table,
    psi,
    psi_from_histogram,
    stability_status,
    strategy_table,
)
from creditflow.report import figures
from creditflow.report.content import Figure, Group, Metric, Note, Section, Table
from creditflow.report.model_view import Development, ModelView, Sample
from creditflow.report.sections_model import drop_empty


def _score(s: Sample) -> np.ndarray:
    return s.scored["score"].to_numpy(dtype=float)


def discrimination(samples: list[Sample], primary: Sample) -> tuple[Section, dict[str, dict]]:
    rows, curves, results = [], [], {}
    for s in samples:
        a = auc_ci(s.y, _score(s), higher_is_better=True)
        k = ks(s.y, _score(s), higher_is_better=True)
        pd_bad = s.scored["probability"].to_numpy(dtype=float)
        auc_pd = auc(s.y, pd_bad)
        results[s.name] = {**a.to_dict(), "ks": k.statistic, "ks_score": k.threshold, "rows": s.n,
                           "bad_rate": s.bad_rate, "gini_pd": 2 * auc_pd - 1}
        rows.append({"sample": s.name, "rows": s.n, "bad_rate": s.bad_rate, "auc": a.auc, "auc_low": a.auc_low,
                     "auc_high": a.auc_high, "gini": a.gini, "gini_low": a.gini_low, "gini_high": a.gini_high,
                     "ks": k.statistic, "ks_score": k.threshold,
                     "auc_pd": auc_pd, "ks_pd": ks(s.y, pd_bad).statistic})
        curves.append((s.name, k))
    metrics = pd.DataFrame(rows)
    p = results[primary.name]
    pk = dict(curves)[primary.name]
    gain = lift_gain_table(primary.y, _score(primary), higher_is_better=True)
    lo, hi = np.min(_score(primary)), np.max(_score(primary))
    edges = np.arange(np.ceil(lo / 50) * 50, hi + 1, 50)
    bands = bad_rate_by_band(primary.y, _score(primary), edges)
    few = f"no interval from {p['n_bads']} bad(s) and {p['n_goods']} good(s)"  # DeLong needs two of each
    known = p["auc_low"] == p["auc_low"]
    cards = [
        Metric("AUC", f"{p['auc']:.3f}",
               f"95% CI {p['auc_low']:.3f} – {p['auc_high']:.3f} ({primary.name})" if known else f"{few} ({primary.name})"),
        Metric("Gini", f"{p['gini']:.3f}", f"95% CI {p['gini_low']:.3f} – {p['gini_high']:.3f}" if known else few),
        Metric("KS", f"{p['ks']:.3f}", f"rejecting scores ≤ {p['ks_score']:g}"),
    ]
    blocks: list = [
        cards,
        Table("discrimination.metrics", "AUC, Gini and KS by sample", metrics,
              note="95% confidence intervals by DeLong's method; Gini = 2·AUC − 1. KS is the largest lead of the "
                   "cumulative share of bads over that of goods, rejecting from the riskiest; ks_score is the highest score "
                   "rejected where it occurs (reject at or below it: in the cutoff strategy table, which approves at or "
                   "above the cutoff, that split is the cutoff ks_score + 1 for integer scores). AUC, Gini and KS "
                   "are those of the integer score, as decisions see it; auc_pd and ks_pd those of the probability "
                   "of bad, as metrics.json, train's summary and compare give them (the integer score ties rows, "
                   "so they differ slightly)."),
        Figure("discrimination.roc", "ROC", svg=figures.roc([(n, k, results[n]["auc"]) for n, k in curves])),
        Figure("discrimination.ks", "KS curve", svg=figures.ks_curve(pk, primary.name)),
        Table("discrimination.lift", f"Lift and gain by decile — {primary.name}", gain,
              note="Group 1 holds the lowest scores (the riskiest tenth)."),
        Figure("discrimination.gain", "Cumulative gain", svg=figures.gain(gain, primary.name)),
        Figure("discrimination.lift", "Lift", svg=figures.lift(gain, primary.name)),
        Figure("discrimination.scores", "Score distributions",
               svg=figures.score_distribution(_score(primary), primary.y, primary.name)),
        Table("discrimination.bands", f"Bad rate by score band — {primary.name}", bands),
    ]
    intro = (f"Computed on the integer score (higher is better). Detailed tables and charts are for the "
             f"'{primary.name}' sample.")
    return Section("discrimination", "Discrimination", blocks, intro=intro), results


def rank_order(t: pd.DataFrame) -> dict[str, object]:
    """Does the observed bad rate rise with the predicted one, grade by grade?

    A fall between neighbouring grades counts as a break only when their Jeffreys intervals do not
    overlap; smaller falls are listed as noise.
    """
    breaks, noise = [], []
    rows = t.reset_index(drop=True)
    for i in range(1, len(rows)):
        lo, hi = rows.iloc[i - 1], rows.iloc[i]
        if hi["observed"] < lo["observed"]:
            pair = f"{lo['group']} > {hi['group']}"
            (breaks if hi["jeffreys_high"] < lo["jeffreys_low"] else noise).append(pair)
    return {"rank_ordered": not breaks, "rank_breaks": breaks, "rank_noise": noise}


def calibration(samples: list[Sample]) -> tuple[Section, dict[str, dict]]:
    summary, per_grade, blocks, results = [], [], [], {}
    for s in samples:
        p = s.scored["probability"].to_numpy(dtype=float)
        t = calibration_table(s.y, p, s.scored["grade"].astype(str).to_numpy())
        hl_df = None if s.name == "train" else 10  # out of sample: groups, not groups − 2
        hl = hosmer_lemeshow(s.y, p, 10, df=hl_df)
        total_bads, mean_pd = int(s.y.sum()), float(p.mean())
        off = t.loc[t["verdict"] != "ok", "group"].astype(str).tolist()
        summary.append({
            "sample": s.name, "rows": s.n, "predicted": mean_pd, "observed": s.bad_rate,
            "binom_p": stats.binomtest(total_bads, s.n, min(max(mean_pd, 0.0), 1.0)).pvalue,
            "hl_statistic": hl.statistic, "df": hl.df, "hl_p": hl.p_value,
            "grades_outside": ", ".join(off) if off else "none",
        })
        results[s.name] = {"hl_p": hl.p_value, "hl_statistic": hl.statistic, "grades_outside": off,
                           "predicted": mean_pd, "observed": s.bad_rate, **rank_order(t)}
        per_grade.append((s.name, t))
        blocks.append(Table(f"calibration.grades.{s.name}", f"Calibration by grade — {s.name}",
                            t.drop(columns=["min_p", "max_p"])))
        hl_t = hl.table.assign(group=np.arange(1, len(hl.table) + 1))
        blocks.append(Group(f"Hosmer–Lemeshow deciles — {s.name}", open=False, subtitle=(
            f"χ² {hl.statistic:.2f} on {hl.df} df, p = {hl.p_value:.4f}"), blocks=[
            Table(f"calibration.hl.{s.name}", f"Hosmer–Lemeshow deciles — {s.name}", hl_t,
                  note="observed and expected are numbers of bads (expected = sum of PDs).",
                  formats={"observed": "int", "expected": "f2", "contribution": "f3"})]))
    head: list = [
        Table("calibration.summary", "Calibration summary", pd.DataFrame(summary),
              note="predicted = mean PD, observed = bad rate; binom_p: exact binomial test of all bads against the "
                   "mean PD. Hosmer–Lemeshow on deciles of PD, df = groups − 2 on 'train' and = groups on other "
                   "samples. A grade is 'outside' when its mean PD falls outside the 95% Jeffreys interval of its "
                   "observed bad rate."),
        Figure("calibration.chart", "Calibration by grade", svg=figures.calibration(per_grade)),
    ]
    return Section("calibration", "Calibration", head + blocks), results


def _reference(samples: list[Sample]) -> Sample:
    return next((s for s in samples if s.name == "train"), samples[0])


def _dev_shares(view: ModelView, var: str, s: Sample) -> pd.DataFrame:
    t = view.binning_table(var)
    count, _ = s.bin_counts(var, len(t))
    return pd.DataFrame({"variable": var, "expected_share": t["share"].to_numpy(),
                         "actual_share": count / max(count.sum(), 1)})


def _csi_table(view: ModelView, samples: list[Sample], ref: Sample) -> tuple[pd.DataFrame, str]:
    """CSI per model variable and sample: against the development bins for a scorecard, else against
    the reference sample's deciles (numeric) or categories."""
    out = pd.DataFrame({"variable": view.features, "meaning": [view.meaning(v) for v in view.features]})
    if view.has_binning:
        basis = "the development bin shares stored in the model"
        for s in samples:
            shares = pd.concat([_dev_shares(view, v, s) for v in view.features if v in s.bins], ignore_index=True)
            c = csi_from_shares(shares).set_index("variable")
            out[f"csi_{s.name}"] = out["variable"].map(c["csi"])
    else:
        basis = f"the '{ref.name}' sample (deciles of numeric inputs, categories as they are)"
        for s in samples:
            if s is ref:
                continue
            out[f"csi_{s.name}"] = [_raw_csi(ref.X[v], s.X[v]) for v in view.features]
    for col in [c for c in out.columns if c.startswith("csi_")]:
        out[col.replace("csi_", "status_")] = out[col].map(stability_status)
    return out, basis


def _raw_csi(expected: pd.Series, actual: pd.Series) -> float:
    from creditflow.evaluation import csi

    if pd.api.types.is_numeric_dtype(expected.dtype) and not pd.api.types.is_bool_dtype(expected.dtype):
        return psi(expected.to_numpy(dtype=float, na_value=np.nan), actual.to_numpy(dtype=float, na_value=np.nan)).value
    return csi(expected.to_numpy(dtype=object), actual.to_numpy(dtype=object)).value


def stability(view: ModelView, samples: list[Sample],
              development: Development | None = None) -> tuple[Section, dict[str, dict]]:
    """PSI of the score and CSI of the model variables. The PSI reference is the 'train' sample when given, else
    the `development` histogram a bundle keeps (every sample then gets a PSI), else the first sample."""
    ref = _reference(samples)
    dev = development if development is not None and development.histogram and ref.name != "train" else None
    others = list(samples) if dev is not None else [s for s in samples if s is not ref]
    ref_name = dev.name if dev is not None else ref.name

    def measure(s: Sample) -> PSIResult:
        return psi_from_histogram(*dev.score_values(), _score(s)) if dev is not None else psi(_score(ref), _score(s))

    blocks: list = []
    results: dict[str, dict] = {}
    if others:
        rows, shares = [], {}
        for s in others:
            r = measure(s)
            rows.append({"reference": ref_name, "sample": s.name, "psi": r.value, "status": r.status})
            results[s.name] = {"psi": r.value, "status": r.status, "reference": ref_name}
            shares[s.name] = r.table.set_index("bin")["actual_share"]
            blocks.append(Table(f"stability.psi.{s.name}", f"PSI bins — {ref_name} vs {s.name}", r.table))
        first = measure(others[0]).table.set_index("bin")["expected_share"]
        band = pd.DataFrame({ref_name: first, **shares})
        bins = (f"deciles of the training scores the bundle keeps (baseline.json, {dev.rows:,} rows: the "
                "development sample, as for CSI)" if dev is not None else f"deciles of the '{ref.name}' scores")
        blocks[:0] = [
            Table("stability.psi", f"Population stability of the score (PSI) against {ref_name}", pd.DataFrame(rows),
                  note=f"Bins: {bins}. Status: below 0.10 stable, 0.10–0.25 monitor, "
                       "0.25 and above shift. Empty bins are floored at a share of 0.0001."),
            Figure("stability.bands", "Score distribution by sample",
                   svg=figures.band_shares(band, f"Score deciles of '{ref_name}': share of each sample")),
        ]
    else:
        blocks.append(Note("PSI of the score needs a second sample (e.g. --oot); only one was given.", "warn"))
    csi_t, basis = _csi_table(view, samples, ref)
    if csi_t.shape[1] > 2:
        blocks.append(Table("stability.csi", "Characteristic stability (CSI) of the model variables", drop_empty(csi_t),
                            note=f"CSI compares each sample's shares per bin with {basis}; same thresholds as PSI."))
        for col in [c for c in csi_t.columns if c.startswith("csi_")]:
            name = col[4:]
            if others and name == "train":
                continue  # the development rows themselves: their CSI against their own bins is 0
            worst = csi_t.loc[csi_t[col].idxmax()] if csi_t[col].notna().any() else None
            results.setdefault(name, {})["csi_max"] = float(worst[col]) if worst is not None else float("nan")
            results[name]["csi_worst"] = str(worst["variable"]) if worst is not None else ""
    return Section("stability", "Stability", blocks), results


def strategy(view: ModelView, primary: Sample) -> Section:
    score = _score(primary)
    cuts = default_cutoffs(score)
    lows = [m for _, m in getattr(view.grades, "bands", [])]
    cuts = np.unique(np.r_[cuts, [c for c in lows if score.min() < c <= score.max()]])
    t = strategy_table(primary.y, score, cuts)
    return Section("strategy", "Cutoff strategy", [
        Note(f"Applicants with a score at or above the cutoff are approved. Sample: '{primary.name}'. Cutoffs: "
             "every 5% of the score distribution and each grade boundary."),
        Table("strategy.table", f"Strategy table — {primary.name}", t),
        Figure("strategy.chart", "Approval rate vs bad rate", svg=figures.strategy(t, primary.name)),
    ])

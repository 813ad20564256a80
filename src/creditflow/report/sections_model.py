"""Report sections about the data and the model itself: data summary, variable selection, binning, points."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from creditflow.report import figures, svg
from creditflow.report.content import Figure, Group, Note, Section, Table
from creditflow.report.model_view import ModelView, Sample
from creditflow.selection.filters import reads_below

IV_STRENGTH = ((0.02, "unpredictive"), (0.1, "weak"), (0.3, "medium"), (0.5, "strong"))


def iv_strength(iv: float) -> str:
    """Siddiqi's rule of thumb: <0.02 unpredictive, <0.1 weak, <0.3 medium, <0.5 strong, else suspicious."""
    for limit, name in IV_STRENGTH:
        if iv < limit:
            return name
    return "suspicious (check for leakage)"


def label(view: ModelView, variable: str, width: int = 24) -> str:
    m = view.meaning(variable)
    if not m or m == variable:
        return variable
    return f"{variable} ({m if len(m) <= width else m[: width - 1] + '…'})"


def drop_empty(frame: pd.DataFrame, columns: tuple[str, ...] = ("meaning",)) -> pd.DataFrame:
    """Leave out text columns that are empty everywhere (e.g. meanings without a field dictionary)."""
    empty = [c for c in columns if c in frame and not frame[c].astype(str).str.strip().astype(bool).any()]
    return frame.drop(columns=empty)


def summary_section(view: ModelView, samples: list[Sample], kept_out: dict[str, str] | None = None,
                    bad_value: str | None = None) -> Section:
    """Samples, variables and (`kept_out`: {column: role}) the columns kept out of the model; `bad_value`: the
    target's value counted as bad (``--bad``), None for a 0/1 target."""
    rows = []
    for s in samples:
        period = ""
        if s.time is not None and len(s.time):
            t = s.time.dropna()
            period = f"{t.min()} – {t.max()}" if len(t) else ""
        rows.append({"sample": s.name, "source": s.source or "", "rows": s.n, "bads": int(s.y.sum()),
                     "goods": int(s.n - s.y.sum()), "bad_rate": s.bad_rate, "period": period})
    overview = pd.DataFrame(rows)
    if not overview["period"].astype(bool).any():
        overview = overview.drop(columns="period")
    first = samples[0].X
    role = {}
    if view.selection is not None:
        role = {v: ("model" if sel else "dropped") for v, sel in zip(view.selection["variable"],
                                                                     view.selection["selected"], strict=True)}
    for f in view.features:
        role[f] = "model"
    cols = list(first.columns)
    var = pd.DataFrame({
        "variable": cols,
        "meaning": [view.meaning(c) for c in cols],
        "type": ["numeric" if pd.api.types.is_numeric_dtype(first[c].dtype)
                 and not pd.api.types.is_bool_dtype(first[c].dtype) else "categorical" for c in cols],
        "role": [role.get(c, "not used") for c in cols],
        "distinct": [int(first[c].nunique()) for c in cols],
    })
    for s in samples:
        miss = s.X.isna().mean()
        var[f"missing_rate_{s.name}"] = [float(miss.get(c, np.nan)) for c in cols]
    order = {"model": 0, "dropped": 1, "not used": 2}
    var = var.sort_values("role", key=lambda r: r.map(order), kind="mergesort").reset_index(drop=True)
    blocks: list = [
        Table("summary.samples", "Samples", overview,
              note=("Bad: the target's bad value of a recognised pair (1, bad, yes, 逾期 ...; README, 'The target'). "
                    if bad_value is None else f"Bad: the target's value '{bad_value}' (--bad); the other value is good. ")
              + "Every sample is scored by the model as saved."),
        Table("summary.variables", "Variables", drop_empty(var),
              note=f"'distinct' counts values in the first sample ({samples[0].name}). "
                   "Missing rates are per sample."),
    ]
    if kept_out:
        from creditflow.data.protected import protected_characteristic

        out = pd.DataFrame({"column": list(kept_out), "role": list(kept_out.values()),
                            "meaning": [view.meaning(c) for c in kept_out]})
        out["looks_like"] = [protected_characteristic(c, m) or "" for c, m in zip(out["column"], out["meaning"],
                                                                                   strict=True)]
        blocks.append(Table("summary.kept_out", "Columns kept out of the model", drop_empty(out, ("meaning", "looks_like")),
                            note="The target, id and time columns and the columns the user excluded at training "
                                 "(train --exclude), as recorded in the bundle's metadata.json; looks_like: the "
                                 "protected characteristic a name or meaning points at."))
    return Section("summary", "Data summary", blocks)


def _stability_note(view: ModelView, ran: bool) -> str:
    """What the stability step of selection did (it needs training periods)."""
    from creditflow.models.base import bundle_params
    from creditflow.selection.filters import SelectionSettings
    from creditflow.selection.stability import MIN_PERIOD_ROWS

    if ran:
        given = bundle_params(view.model).get("selection") or {}
        limit = given.get("max_csi", SelectionSettings.max_csi)
        return (f"Stability: csi is the largest CSI of a variable's bins in one training period against the whole "
                f"training sample (periods as in the out-of-time split, those under {MIN_PERIOD_ROWS:,} rows pooled "
                f"with the next); variables above selection.max_csi = {limit} were dropped (step stability).")
    return (f"Stability: not checked across training periods (it needs a time column, --time, with at least two "
            f"training periods of {MIN_PERIOD_ROWS:,} rows, and selection.max_csi not null).")


def selection_section(view: ModelView) -> Section:
    iv = view.iv()
    if view.selection is not None:
        t = view.selection.copy()
    elif len(iv):
        t = pd.DataFrame({"variable": iv.index, "iv": iv.to_numpy(),
                          "selected": [v in view.features for v in iv.index]})
    else:
        imp = getattr(view.model, "feature_importances_", None)
        if imp is None:
            return Section("selection", "Variable selection", [Note(
                f"A {view.model_type} model has no binning or information values; its inputs are: "
                + ", ".join(view.features), "info")])
        t = pd.DataFrame({"variable": view.features, "meaning": [view.meaning(v) for v in view.features],
                          "importance": np.asarray(imp, dtype=float)})
        t = t.sort_values("importance", ascending=False, ignore_index=True)
        return Section("selection", "Variable selection", [Table("selection.importance", "Feature importance", t,
                                                                  formats={"importance": "f4"})])
    if "iv" not in t:
        t["iv"] = iv.reindex(t["variable"]).to_numpy()
    t = t.sort_values("iv", ascending=False, kind="mergesort", ignore_index=True)
    t.insert(0, "rank", np.arange(1, len(t) + 1))
    t.insert(2, "meaning", [view.meaning(v) for v in t["variable"]])
    t.insert(4, "strength", [iv_strength(float(v)) for v in t["iv"]])
    t["selected"] = t["selected"].astype(bool)
    t["status"] = np.where(t["selected"], "selected", "dropped")
    keep = [c for c in ("rank", "variable", "meaning", "iv", "strength", "importance", "missing_rate", "csi", "status",
                        "step", "reason") if c in t]
    t = drop_empty(t[keep])
    chart = figures.iv_ranking(t.set_index("variable")["iv"], [label(view, v) for v in t["variable"]],
                             list(t["status"] == "selected"))
    n_sel = int((t["status"] == "selected").sum())
    dropped = t[t["status"] == "dropped"]
    intro = (f"{n_sel} of {len(t)} binned variables are in the model. IV strength follows the usual rule of thumb: "
             "below 0.02 unpredictive, 0.02–0.1 weak, 0.1–0.3 medium, 0.3–0.5 strong, above 0.5 suspicious.")
    if view.model_type == "boosted-scorecard":
        intro += (" The boosted scorecard keeps every variable whose points move, whatever its IV: its shapes are "
                  "fitted jointly, so a variable with a low IV of its own can still add to the others; importance "
                  "is the mean absolute log-odds a variable adds per training row (mean |points| / (PDO / ln 2)).")
    blocks: list = [
        Note(intro),
        Figure("selection.iv", "IV ranking", svg=chart),
        Table("selection.iv_ranking", "IV ranking, selected and dropped variables", t),
    ]
    if view.model_type == "scorecard" and view.selection is not None:
        blocks.append(Note(_stability_note(view, "csi" in t)))
    if len(dropped):
        reasons = dropped.groupby(dropped.get("step", pd.Series("", index=dropped.index)).replace("", "other"),
                                  sort=False).size()
        blocks.append(Note("Dropped by step: " + ", ".join(f"{k} {v}" for k, v in reasons.items()) + "."))
    return Section("selection", "Variable selection", blocks)


def model_section(view: ModelView) -> Section:
    """The logistic fit behind a scorecard's points: coefficient, standard error, Wald test and VIF per
    variable, and the correlations of the model's WOE variables (all on the training rows)."""
    stats = getattr(view.model, "fit_statistics", None)
    title = "Coefficients and correlation"
    if getattr(view.model, "model_type", "") == "boosted-scorecard":
        return Section("model", title, [Note(
            "A boosted scorecard has no coefficients: its points are boosted shapes (log-odds per bin) fitted jointly, "
            "not a logistic regression on WOE, so there are no standard errors, Wald tests or VIFs to show. The "
            "points and their training shares are under Scorecard points.")])
    if stats is None or not hasattr(view.model, "coef_"):
        why = ("keeps no standard errors of its coefficients" if hasattr(view.model, "coef_") else
               "has no coefficients (e.g. an ensemble of trees)")
        return Section("model", title, [Note(
            f"A {view.model_type} model {why}, so there are no standard errors, Wald tests or VIFs to show; the "
            "inputs' importance, when the model gives one, is under Variable selection.")])
    t = stats()
    if t is None:
        coef = pd.DataFrame({"variable": ["(intercept)", *view.features],
                             "coefficient": [view.model.intercept_, *view.model.coef_]})
        return Section("model", title, [
            Note("This bundle was saved before creditflow kept the standard errors and WOE correlations of the "
                 "training rows (model.json 'statistics'); retrain the model to see them. Coefficients only.", "warn"),
            Table("model.coefficients", "Coefficients (logistic regression on WOE)", coef)])
    t.insert(1, "meaning", ["", *(view.meaning(v) for v in view.features)])
    corr = view.model.woe_corr_.loc[view.features, view.features]
    matrix = corr.reset_index(names="variable")
    blocks: list = [Table(
        "model.coefficients", "Coefficients (logistic regression on WOE)", drop_empty(t),
        formats={"coefficient": "f4", "std_error": "f4", "wald_z": "f2", "p_value": "p", "vif": "f2"},
        note="Fitted on the training rows by penalised maximum likelihood (L2, C = "
             f"{getattr(view.model, 'C', float('nan')):g}; the intercept is not penalised). std_error: square root of "
             "the diagonal of the inverse information matrix of that objective at the fit; wald_z = coefficient / "
             "std_error, p_value two-sided from the normal: the penalised fit's, not an unpenalised logit's. The "
             "penalty 1/C is fixed while the information grows with the rows, so on a few hundred training rows "
             "it shrinks every coefficient towards 0 and raises its p_value (german_credit, 490 rows: a "
             "coefficient of 0.31, p 0.26, is 1.80, p 0.008, unpenalised); on thousands of rows it moves the "
             "strong variables' by about 1 % and weak ones' more. A coefficient on WOE near 1 means the variable's bins count as their own "
             "evidence; far below 1 (or a large std_error) points at overlap with other variables, or on a "
             "small sample at the penalty. vif: variance inflation factor from the WOE correlations below (1/(1 − R²) of each "
             "variable on the others).")]
    off = corr.where(~np.eye(len(corr), dtype=bool)).abs()
    if off.notna().to_numpy().any():
        a, b = off.stack().idxmax()
        blocks.append(Note(f"Largest correlation between two model variables: {a} and {b}, "
                           f"{corr.loc[a, b]:+.3f} (selection drops one of a pair above max_corr).",
                           "warn" if abs(corr.loc[a, b]) >= 0.7 else "info"))
    blocks.append(Table("model.correlation", "Correlation of the WOE variables (training rows)", matrix,
                        formats={v: "f3" for v in view.features}))
    return Section("model", title, blocks)


def _sample_bins(view: ModelView, var: str, samples: list[Sample]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per sample: rows and bads in each bin of `var`."""
    k = len(view.bin_labels(var))
    out = {}
    for s in samples:
        if s.bins is None or var not in s.bins:
            continue
        out[s.name] = s.bin_counts(var, k)
    return out


def binning_table(view: ModelView, var: str, samples: list[Sample]) -> pd.DataFrame:
    """Development binning table of `var` plus each sample's share and bad rate per bin (and points)."""
    t = view.binning_table(var)
    t = t[[c for c in ("bin", "count", "share", "goods", "bads", "bad_rate", "woe", "iv") if c in t]].copy()
    if view.points is not None and var in set(view.points["variable"]):
        pts = view.points[view.points["variable"] == var].set_index("bin")["points"]
        t["points"] = t["bin"].map(pts)
    for name, (count, bads) in _sample_bins(view, var, samples).items():
        total = max(count.sum(), 1)
        t[f"share_{name}"] = count / total
        with np.errstate(invalid="ignore", divide="ignore"):
            t[f"bad_rate_{name}"] = np.where(count > 0, bads / np.maximum(count, 1), np.nan)
    return t


def _variable_group(view: ModelView, var: str, samples: list[Sample], selected: bool) -> Group:
    t = binning_table(view, var, samples)
    # bins nobody falls into (an unused Missing or Unseen bin) are kept in the table, not in the chart
    shown = t[(t["count"] > 0) | t.filter(like="share_").gt(0).any(axis=1)]
    rates = {"development": shown["bad_rate"].tolist()}
    dev = shown["bad_rate"].to_numpy(dtype=float)
    for s in samples:
        col = f"bad_rate_{s.name}"
        # the training sample usually is the development sample: its line would hide under the first
        if col in shown and not np.allclose(shown[col].to_numpy(dtype=float), dev, equal_nan=True):
            rates[s.name] = shown[col].tolist()
    chart = svg.binning_chart(shown["bin"].astype(str).tolist(), shown["share"].tolist(), rates,
                              woe=shown["woe"].tolist())
    iv = float(t["iv"].sum())
    meaning = view.meaning(var)
    sub = f"IV {iv:.4f} · {iv_strength(iv)}" + ("" if selected else " · not in the model")
    return Group(
        title=var, subtitle=(meaning + " · " if meaning else "") + sub, open=selected, anchor=f"var-{var}",
        blocks=[Figure(f"binning.{var}.chart", f"{var}: share and bad rate by bin", svg=chart),
                Table(f"binning.{var}", f"Binning table — {label(view, var, 40)}", t,
                      note=f"Business logic (field dictionary): {view.logic(var)}" if view.logic(var) else "")],
    )


FEW_BADS = 10  # a bin with fewer training bads than this is too thin to carry a large points swing
WEAK_IV = 0.02  # below this a variable is unpredictive on its own (Siddiqi): a wide points spread needs a look


def _trend(rates: np.ndarray) -> np.ndarray:
    return np.sign(np.diff(rates))


def binning_flags(view: ModelView, samples: list[Sample]) -> pd.DataFrame:
    """Model variables whose binning a validator should look at, with the numbers: a numeric variable whose
    regular bins are not monotone in training bad rate, neighbouring bins whose bad-rate order reverses on an
    evaluation sample (for such a variable), and a bin with few training bads that carries a points swing of at least half the card's
    largest. Flags only: the binning is not changed."""
    cols = ["variable", "flag", "detail"]
    if not view.has_binning:
        return pd.DataFrame(columns=cols)
    rows: list[dict] = []
    others = [s for s in samples if s.name != "train"]
    tables = {v: binning_table(view, v, samples) for v in view.features if v in view.binning.bins_}
    swings: dict[tuple[str, int], float] = {}
    for var, t in tables.items():
        if "points" in t:
            w = t["count"].to_numpy(dtype=float)
            pts = t["points"].to_numpy(dtype=float)
            mean = float(pts @ w / w.sum()) if w.sum() else 0.0
            swings.update({(var, i): abs(p - mean) for i, p in enumerate(pts)})
    top = max(swings.values(), default=0.0)
    spreads = {var: _points_spread(t) for var, t in tables.items() if "points" in t}
    widest = max((s[2] for s in spreads.values()), default=0.0)
    for var, t in tables.items():
        vb = view.binning.bins_[var]
        reg = t.iloc[: len(vb.splits) + 1] if vb.kind == "numeric" else t.iloc[:0]
        reg = reg[reg["count"] > 0]
        rates = reg["bad_rate"].to_numpy(dtype=float)
        trend = _trend(rates)
        if (trend > 0).any() and (trend < 0).any():  # a monotone variable's small reversals are sample noise
            rows.append({"variable": var, "flag": "bad rate not monotone over the bins",
                         "detail": "training bad rate by bin: " + ", ".join(f"{r:.1%}" for r in rates)})
            labels = reg["bin"].astype(str).tolist()
            for s in others:
                col = f"bad_rate_{s.name}"
                if col not in reg:
                    continue
                for i in np.flatnonzero(trend * _trend(reg[col].to_numpy(dtype=float)) < 0):
                    a, b = reg.iloc[i], reg.iloc[i + 1]
                    rows.append({"variable": var, "flag": f"bad-rate order reverses on {s.name}",
                                 "detail": f"{labels[i]} vs {labels[i + 1]}: training {a['bad_rate']:.1%} / "
                                           f"{b['bad_rate']:.1%}, {s.name} {a[col]:.1%} / {b[col]:.1%}"})
        for i, r in t.reset_index(drop=True).iterrows():
            swing = swings.get((var, i), 0.0)
            if top > 0 and swing >= top / 2 and r["bads"] < FEW_BADS:
                rows.append({"variable": var, "flag": f"bin with fewer than {FEW_BADS} training bads carries a "
                                                      "large points swing",
                             "detail": f"{r['bin']}: {int(r['count'])} rows, {int(r['bads'])} bad(s), "
                                       f"{int(r['points'])} points, {swing:.0f} from the variable's mean "
                                       f"(card's largest swing {top:.0f})"})
        iv = float(t["iv"].sum())
        low, high, spread = spreads.get(var, (0.0, 0.0, 0.0))
        if widest > 0 and spread >= widest / 2 and iv < WEAK_IV:
            # a boosted card's partial effects can spread a variable's points whatever its own IV
            rows.append({"variable": var, "flag": "wide points spread on an unpredictive variable",
                         "detail": f"IV {reads_below(iv, WEAK_IV, 4)} (< {WEAK_IV}); points {low:.0f} to {high:.0f}, a spread of "
                                   f"{spread:.0f} (card's widest {widest:.0f})"})
    return pd.DataFrame(rows, columns=cols)


def _points_spread(t: pd.DataFrame) -> tuple[float, float, float]:
    """(lowest, highest, spread) of the points of the bins holding training rows."""
    pts = t.loc[t["count"] > 0, "points"].to_numpy(dtype=float)
    pts = pts[~np.isnan(pts)]
    return (float(pts.min()), float(pts.max()), float(np.ptp(pts))) if len(pts) else (0.0, 0.0, 0.0)


def binning_section(view: ModelView, samples: list[Sample]) -> Section:
    if not view.has_binning:
        return Section("binning", "Binning", [Note(
            f"A {view.model_type} model has no binning; per-variable tables are not available.")])
    iv = view.iv()
    model_vars = [v for v in view.features if v in view.binning.bins_]
    others = [v for v in iv.index if v not in model_vars and v in view.binning.bins_]
    groups = [_variable_group(view, v, samples, True) for v in model_vars]
    groups += [_variable_group(view, v, samples, False) for v in others]
    intro = ("Development counts come from the model's own fit. Columns share_<sample> and bad_rate_<sample> "
             "show each evaluation sample in the same bins. Bars: share of rows; lines: bad rate; "
             "numbers above bars: WOE (ln of bad share over good share).")
    flags = binning_flags(view, samples)
    head: list = [Note(intro)]
    if len(flags):
        head.append(Table("binning.flags", "Bins to review", flags, note=(
            "Flags, not changes: a numeric variable whose bad rate zig-zags over its bins may fit noise (its IV "
            "is then inflated), and its neighbouring bins whose bad-rate order reverses out of sample do not hold; a "
            f"bin with fewer than {FEW_BADS} training bads swinging the score by at least half the card's largest "
            "swing (points from the variable's row-weighted mean) rests on a handful of cases. A monotone binning "
            "(binning.monotonic) or fewer bins is the usual remedy. A variable unpredictive on its own (IV under "
            f"{WEAK_IV}) whose points spread at least half as wide as the card's widest is worth a look too: a boosted "
            "card's points are partial effects, but a validator will ask; fewer, larger bins "
            "(shape.max_bins, shape.min_bin_share) narrow it.")))
    return Section("binning", "Binning", [*head, *groups])


TRADEOFF_MAX_ROWS = 200_000


def tradeoff_table(view: ModelView, sample: Sample) -> Table | None:
    """A boosted scorecard's accuracy at each maximum of bins per variable (its fitted shapes recompressed)."""
    model = view.model
    if getattr(model, "model_type", "") != "boosted-scorecard" or not hasattr(model, "fine_bins_"):
        return None
    from creditflow.models.boosted import TRADEOFF_BINS, accuracy_by_bins

    X, y, note = sample.X, sample.y, ""
    if sample.n > TRADEOFF_MAX_ROWS:  # recompression is cheap, scoring every row 7 times is not
        keep = np.sort(np.random.default_rng(0).choice(sample.n, TRADEOFF_MAX_ROWS, replace=False))
        X, y = X.iloc[keep], y[keep]
        note = f" On {TRADEOFF_MAX_ROWS:,} rows drawn at random (seed 0) from the {sample.n:,}."
    current = int(model.shape_settings_.max_bins)
    # the model's own setting is always a row, also one the usual list lacks (max_bins=5)
    t = accuracy_by_bins(model, X, y, max_bins=sorted({*TRADEOFF_BINS, current}))
    t.insert(0, "setting", ["fine shapes (before compression)" if pd.isna(k) else
                            f"max_bins {int(k)}" + (" (this model)" if int(k) == current else "")
                            for k in t["max_bins"]])
    t = t.drop(columns="max_bins")
    return Table("points.tradeoff", f"Accuracy against bins per variable ({sample.name})", t,
                 formats={"variables": "int", "total_bins": "int", "mean_bins": "f2", "points_min": "int",
                          "points_max": "int"},
                 note="The fitted shapes recompressed at each maximum number of bins per variable (no refit); "
                      "fewer bins read more easily and lose some ranking power. Refit with "
                      "shape={'max_bins': k} (command line: -p shape.max_bins=k) to adopt a setting. AUC, KS and Gini here rank the rows by "
                      "log-odds (the probability); the headline metrics rank by the integer score, whose ties "
                      "can move them slightly." + note)


def _bin_shares(view: ModelView, pts: pd.DataFrame) -> list[float]:
    """Training share of each row of a boosted scorecard's points table (variable bins and table cells)."""
    shares: dict[tuple[str, str], float] = {}
    for var in dict.fromkeys(pts["variable"]):
        if view.binning is not None and var in view.binning.bins_:
            t = view.binning_table(var)
            shares.update({(var, str(b)): float(x) for b, x in zip(t["bin"], t["share"], strict=True)})
    for t in getattr(view.model, "pairs_", []):
        if t.counts is not None and t.counts.sum() > 0:
            share = t.counts / t.counts.sum()
            shares.update({(t.name, label): float(x) for label, x in zip(t.labels, share, strict=True)})
    return [shares.get((v, str(b)), np.nan) for v, b in zip(pts["variable"], pts["bin"], strict=True)]


def points_section(view: ModelView, sample: Sample | None = None) -> Section:
    if view.points is None:
        return Section("points", "Scorecard points", [Note(
            f"A {view.model_type} model has no points table; scores come from its probability via the scaling.")])
    s = view.scaling
    base = getattr(view.model, "base_points_", None)
    pts = view.points.copy()
    if "meaning" not in pts:
        pts["meaning"] = [view.meaning(v) for v in pts["variable"]]
    pts["logic"] = [view.logic(v) for v in pts["variable"]]  # the dictionary's 业务逻辑说明, to read the bins by
    note = "A score is the base points plus one bin's points per variable, clipped to the score range."
    if "logodds" in pts:  # boosted scorecard: the points come from its shapes' log-odds, not from the WOE
        pts["share"] = _bin_shares(view, pts)
        pts = pts[["variable", "meaning", "logic", "bin", "share", "logodds", "points", "woe"]]
        note = ("A score is the base points plus one bin's points per variable and one cell's points per "
                "interaction table (\"A × B\"), clipped to the score range. Points = −(PDO / ln 2) × logodds, "
                "the boosted shape's log-odds of bad, fitted jointly with the other variables; the WOE is the "
                "bin's own marginal evidence and need not follow the points where variables overlap. share: "
                "training rows in the bin or cell.")
    else:
        pts = pts[["variable", "meaning", "logic", "bin", "woe", "points"]]
    spread = pts.groupby("variable", sort=False)["points"].agg(min_points="min", max_points="max").reset_index()
    spread["spread"] = spread["max_points"] - spread["min_points"]
    spread.insert(1, "meaning", [view.meaning(v) for v in spread["variable"]])
    spread = spread.sort_values("spread", ascending=False, ignore_index=True)
    scaling = pd.DataFrame([
        {"setting": "base score", "value": f"{s.base_score:g} points at odds {s.base_odds:g}:1 (good:bad)"},
        {"setting": "points to double the odds (PDO)", "value": f"{s.pdo:g}"},
        {"setting": "score range", "value": f"{s.min_score}–{s.max_score}, higher is better"},
        {"setting": "base points (intercept)", "value": "" if base is None else f"{base}"},
    ])
    grades = pd.DataFrame(view.grades.table(s)) if hasattr(view.grades, "table") else pd.DataFrame()
    blocks: list = [Table("points.scaling", "Scaling", scaling)]
    if len(grades):
        blocks.append(Table("points.grades", "Grades", grades,
                            formats={"min_score": "int", "max_score": "int"}))
    blocks += [
        Table("points.spread", "Points range per variable", drop_empty(spread)),
        Table("points.table", "Points per bin", drop_empty(pts, ("meaning", "logic")),
              note=note + (" logic: the field dictionary's business logic of the variable." if
                           pts["logic"].astype(bool).any() else "")),
    ]
    tradeoff = tradeoff_table(view, sample) if sample is not None else None
    if tradeoff is not None:
        blocks.append(tradeoff)
    return Section("points", "Scorecard points", blocks)


REASON_ROWS = 30  # the most frequent codes shown
REASON_MAX_ROWS = 50_000  # shares from at most this many rows: +-0.5 percentage point, a fraction of the time


def reasons_section(reasoner: Any, sample: Sample) -> Section:
    """How often each reason code is given on `sample`: first reason and among the top four."""
    from creditflow.scoring.reasons import N_REASONS

    X, drawn = sample.X, ""
    if sample.n > REASON_MAX_ROWS:
        X = X.iloc[np.sort(np.random.default_rng(0).choice(sample.n, REASON_MAX_ROWS, replace=False))]
        drawn = f" ({REASON_MAX_ROWS:,} drawn at random, seed 0)"
    codes = reasoner.table(X, N_REASONS)
    n = max(len(codes), 1)
    first = codes["reason_1_code"].value_counts()
    anywhere = pd.concat([codes[f"reason_{k}_code"] for k in range(1, N_REASONS + 1)]).value_counts()
    pairs = pd.concat([codes[[f"reason_{k}_code", f"reason_{k}_text"]].set_axis(["code", "text"], axis=1)
                       for k in range(1, N_REASONS + 1)]).drop_duplicates("code", keep="last")
    texts = dict(zip(pairs["code"], pairs["text"], strict=True))
    rows = [{"code": c, "text": texts.get(c, ""), "first_reason_share": first.get(c, 0) / n,
             "top4_share": anywhere.get(c, 0) / n} for c in anywhere.index if c]
    t = pd.DataFrame(rows, columns=["code", "text", "first_reason_share", "top4_share"])
    t = t.sort_values(["first_reason_share", "top4_share"], ascending=False, ignore_index=True)
    shown = t.head(REASON_ROWS)
    s = reasoner.settings
    reference = {"max": "the variable's best bin (the most points it can give)",
                 "p95": "the points at most 5 % of the training applicants beat on that variable",
                 "mean": "the variable's average contribution over the training applicants",
                 "cutoff": f"the average points of training applicants scoring just above {s.cutoff:g}"
                 if s.cutoff is not None else "applicants just above the cutoff"}.get(s.reference, s.reference)
    none = float((codes["reason_1_code"] == "").mean())
    if reasoner.kind == "shap":  # no points per variable: the trees' contributions, put on the score's scale
        what = ("the variables whose TreeSHAP contribution, in score points (the contribution to the model's log-odds "
                "times the calibration slope and PDO / ln 2), falls furthest below the reference")
    elif reasoner.pairs:
        what = "the variables (or interaction tables) whose points fall furthest below the reference"
    else:
        what = "the variables whose points fall furthest below the reference"
    intro = (f"An applicant's reasons are {what}, {reference} (reference '{s.reference}'). Shares are of the "
             f"{sample.name} sample's {sample.n:,} rows{drawn}; {none:.1%} of them have no reason (no variable "
             "below its reference).")
    blocks: list = []
    if len(t) and float(t["first_reason_share"].iloc[0]) >= 0.5:
        top = t.iloc[0]
        others = [r for r in (("mean", "cutoff:SCORE") if reasoner.kind == "shap" else ("max", "p95", "cutoff:SCORE"))
                  if r != s.reference]
        blocks.append(Note(f"{top['code']} ({top['text']}) is the first reason of {top['first_reason_share']:.0%} of "
                           "the rows: adverse-action notices will mostly name it. Another reference "
                           f"(train --reason-reference {' | '.join(others)}) spreads the reasons differently.",
                           "warn"))
    if s.protected:
        blocks.append(Note("Never given as reasons (protected): " + ", ".join(s.protected) + "."))
    blocks.append(Table("reasons.codes", "Reason codes given", shown,
                        formats={"first_reason_share": "pct", "top4_share": "pct"},
                        note="" if len(t) <= REASON_ROWS else f"The {REASON_ROWS} most frequent of {len(t)} codes."))
    return Section("reasons", "Reason codes", blocks, intro=intro)

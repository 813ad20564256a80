"""The findings a validator signs off: each check with its value, its indicative threshold and a verdict."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd

from creditflow.evaluation import stability_status
from creditflow.report.content import Metric, Note, Section, Table, format_value


@dataclass(frozen=True)
class Thresholds:
    """Indicative thresholds of the automatic checks (a validator may judge otherwise)."""

    auc_low_ok: float = 0.70  # lower 95% bound of the AUC
    auc_low_warn: float = 0.60
    ks_ok: float = 0.30
    ks_warn: float = 0.20
    gini_drop_ok: float = 0.10  # relative drop of Gini from train to each evaluation sample
    gini_drop_warn: float = 0.20
    hl_p: float = 0.05


def _grade(value: float, ok: float, warn: float) -> str:
    return "ok" if value >= ok else "warn" if value >= warn else "fail"


_STATUS = {"stable": "ok", "monitor": "warn", "shift": "fail", "n/a": "info"}


def _discrimination(add: Callable[..., None], disc: dict[str, dict], name: str, th: Thresholds,
                    development_gini: float | None) -> None:
    """The AUC lower bound, KS and Gini drop checks of one sample."""
    d = disc[name]
    if d["auc_low"] == d["auc_low"]:
        add("discrimination", "AUC, lower 95% bound", name, f"{d['auc_low']:.3f} (AUC {d['auc']:.3f})",
            f"ok ≥ {th.auc_low_ok}, warn ≥ {th.auc_low_warn}", _grade(d["auc_low"], th.auc_low_ok, th.auc_low_warn))
    else:  # DeLong needs two bads and two goods: no bound to judge
        add("discrimination", "AUC, lower 95% bound", name,
            f"no interval from {d.get('n_bads', '?')} bad(s) and {d.get('n_goods', '?')} good(s) (AUC {d['auc']:.3f})",
            f"ok ≥ {th.auc_low_ok}, warn ≥ {th.auc_low_warn}", "warn")
    add("discrimination", "KS", name, f"{d['ks']:.3f}", f"ok ≥ {th.ks_ok}, warn ≥ {th.ks_warn}",
        _grade(d["ks"], th.ks_ok, th.ks_warn))
    drop, check = None, "Gini drop from train"
    if "train" in disc:
        if name != "train" and disc["train"]["gini"] > 0:
            drop = (disc["train"]["gini"] - d["gini"]) / disc["train"]["gini"]
    elif development_gini is not None and development_gini > 0 and "gini_pd" in d:
        # the bundle records the Gini of the probability, so compare the sample's Gini of the probability
        drop = (development_gini - d["gini_pd"]) / development_gini
        check = "Gini drop from train (training Gini of the probability, metadata.json)"
    if drop is not None:
        add("discrimination", check, name,
            f"{drop:.1%} lower than train" if drop >= 0 else f"{-drop:.1%} higher than train",
            f"ok < {th.gini_drop_ok:.0%}, warn < {th.gini_drop_warn:.0%}",
            "ok" if drop < th.gini_drop_ok else "warn" if drop < th.gini_drop_warn else "fail")


def findings(
    disc: dict[str, dict], calib: dict[str, dict], stab: dict[str, dict], primary: str,
    th: Thresholds = Thresholds(), protected: dict[str, str] | None = None, declared: list[str] | None = None,
    development_gini: float | None = None, empty_grades: tuple[str, list[str]] | None = None,
    binning_flags: pd.DataFrame | None = None,
) -> tuple[list[dict], list[Metric]]:
    """The automatic checks as rows (area, check, sample, value, threshold, result) and headline cards.

    `protected`: model variables that look like protected characteristics ({variable: characteristic});
    `declared`: model variables the user declared protected (kept out of reasons, yet scoring);
    `development_gini`: the training Gini of the probability a bundle records, for the Gini drop when no
    'train' sample is given; `empty_grades`: (development sample, grades holding none of its rows) when two
    or more do; `binning_flags`: the Binning section's bins to review (variable, flag, detail).
    """
    rows: list[dict] = []

    def add(area: str, check: str, sample: str, value: str, threshold: str, result: str) -> None:
        rows.append({"area": area, "check": check, "sample": sample, "value": value, "threshold": threshold,
                     "result": result})

    # every evaluation sample is judged, the primary first: an out-of-time sample whose ranking collapsed must
    # not pass unseen behind a good test sample ('train' is only the reference of the Gini drop)
    for name in [primary, *(n for n in disc if n not in (primary, "train"))]:
        _discrimination(add, disc, name, th, development_gini)
    for name, c in calib.items():
        if c["rank_breaks"]:
            value = "no: " + ", ".join(c["rank_breaks"])
        elif c["rank_noise"]:
            value = "yes, within noise (" + ", ".join(c["rank_noise"]) + ")"
        else:
            value = "yes"
        add("calibration", "bad rate rises grade by grade", name, value,
            "no fall beyond the Jeffreys intervals", "ok" if c["rank_ordered"] else "warn")
        add("calibration", "Hosmer–Lemeshow p-value", name, format_value(c["hl_p"], "p"), f"ok ≥ {th.hl_p}",
            "ok" if c["hl_p"] >= th.hl_p else "warn")
        outside = c["grades_outside"]
        add("calibration", "grades whose PD is outside the Jeffreys interval", name,
            ", ".join(outside) if outside else "none", "none", "ok" if not outside else "warn")
    if empty_grades is not None:
        sample, empty = empty_grades
        add("calibration", "grades holding no development rows (bands that do not fit the portfolio)", sample,
            ", ".join(empty), "at most one", "warn")
    for name, s in stab.items():
        if "psi" in s:
            add("stability", f"PSI of the score vs {s.get('reference', 'reference')}", name, f"{s['psi']:.4f} ({s['status']})", "ok < 0.10, warn < 0.25",
                _STATUS[s["status"]])
        if "csi_max" in s and s["csi_max"] == s["csi_max"]:
            st = stability_status(s["csi_max"])
            add("stability", "largest CSI of a model variable", name, f"{s['csi_max']:.4f} ({s['csi_worst']})",
                "ok < 0.10, warn < 0.25", _STATUS[st])
    if binning_flags is not None:
        by_var = binning_flags.groupby("variable", sort=False)["flag"].agg(lambda f: "; ".join(dict.fromkeys(f)))
        add("binning", "model variables with bins to review (Binning section)", "model",
            " | ".join(f"{v}: {f}" for v, f in by_var.items()) or "none", "none", "warn" if len(by_var) else "ok")
    if protected is not None or declared:
        looks, named = protected or {}, list(declared or [])
        parts = []
        for v in dict.fromkeys([*looks, *named]):
            why = [looks[v]] if v in looks else []
            why += ["declared protected: kept out of reasons, still scores"] if v in named else []
            parts.append(f"{v} ({'; '.join(why)})")
        add("fairness", "model variables that look like or are declared protected characteristics", "model",
            ", ".join(parts) or "none", "none", "warn" if parts else "ok")
    counts = pd.Series([r["result"] for r in rows]).value_counts()
    psis = {n: s["psi"] for n, s in stab.items() if "psi" in s}
    cards = []
    if psis:
        worst = max(psis, key=psis.get)
        cards.append(Metric("PSI of the score", f"{psis[worst]:.3f}", f"{worst} · {stability_status(psis[worst])}",
                            _STATUS[stability_status(psis[worst])]))
    cards += [
        Metric("checks passed", f"{int(counts.get('ok', 0))} / {len(rows)}",
               f"{int(counts.get('warn', 0))} warn, {int(counts.get('fail', 0))} fail",
               "fail" if counts.get("fail", 0) else "warn" if counts.get("warn", 0) else "ok"),
    ]
    return rows, cards


def findings_section(rows: list[dict], cards: list[Metric], headline: list[Metric],
                     notes: list[Note] | None = None) -> Section:
    signoff = pd.DataFrame({
        "role": ["Model developer", "Independent validator", "Model owner / approver"],
        "name": ["", "", ""], "decision": ["", "", ""], "date": ["", "", ""], "signature": ["", "", ""],
    })
    return Section("findings", "Summary of findings", [
        headline + cards,
        Table("findings.checks", "Automatic checks", pd.DataFrame(rows),
              note="Thresholds are indicative, not a verdict: the validator records the decision below."),
        *(notes or []),
        Note("Decision options: approved · approved with conditions · rejected.", "info"),
        Table("findings.signoff", "Sign-off", signoff),
    ])

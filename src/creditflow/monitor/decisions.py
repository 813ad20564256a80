"""Decision mix under a lending policy (`creditflow.policy`): training against now, overall and per period.

The training mix of the cutoffs comes from the baseline's histogram of integer scores, so it is exact
without the training rows; the rules read inputs the baseline does not keep row by row, so their
training hit rates are known only with `--reference`. The mix PSI compares like with like: cutoffs
only (or cutoffs and rules when a reference table is given).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from creditflow.data.errors import SchemaError
from creditflow.evaluation.stability import psi_from_shares
from creditflow.monitor.baseline import Baseline
from creditflow.monitor.drift import LEVELS, Thresholds


@dataclass
class DecisionMix:
    """`table`: decision, training share, share now (cutoffs only and with rules), count; `psi` of the mix."""

    policy_version: str
    table: pd.DataFrame
    psi: float
    basis: str
    rules: pd.DataFrame
    periods: pd.DataFrame | None = None
    notes: list[str] = field(default_factory=list)
    # the share now that `psi` compares with training's: "current_share_cutoffs" when the training mix is
    # the cutoffs' alone, "current_share" (cutoffs and rules) with a reference table
    compared: str = "current_share"

    def summary(self) -> dict[str, Any]:
        out = {
            "policy_version": self.policy_version, "psi": self.psi, "basis": self.basis,
            "decisions": self.table.to_dict(orient="records"), "rules": self.rules.to_dict(orient="records"),
        }
        if self.periods is not None:
            out["periods"] = self.periods.to_dict(orient="records")
        return out

    def blocks(self) -> list:
        from creditflow.report.content import Note, Table

        out: list = [Table("decisions.mix", f"Decision mix under policy {self.policy_version} — PSI {self.psi:.4f}",
                           self.table, note=f"PSI basis: {self.basis}.")]
        if len(self.rules):
            out.append(Table("decisions.rules", "Policy rules: hits now", self.rules))
        if self.periods is not None:
            out.append(Table("decisions.periods", "Decision mix by period", self.periods))
        out.extend(Note(n) for n in self.notes)
        return out

    def findings(self, thresholds: Thresholds, add: Any) -> None:
        status = thresholds.status(self.psi)
        if LEVELS[status]:
            a = self.table.set_index("decision")
            now = f"{a.loc['approve', self.compared]:.1%} now"
            if self.compared != "current_share":  # the rules' approvals are not what the PSI compared
                now += f" by the cutoffs alone ({a.loc['approve', 'current_share']:.1%} with the rules)"
            add(status, "decisions", "", "decision mix", self.psi,
                f"decision mix PSI {self.psi:.3f} ({self.basis}); approve {a.loc['approve', 'baseline_share']:.1%} "
                f"at training, {now}")


def _cutoff_shares(policy: Any, score: np.ndarray, decisions: tuple[str, ...],
                   weights: np.ndarray | None = None) -> np.ndarray:
    """Share of each decision (approve, review, reject order) that the score cutoffs alone give."""
    c = policy.cutoffs
    sev = np.where(score >= c.approve, 0, np.where(score >= c.review, 1, 2))
    mix = np.bincount(sev, weights=weights, minlength=len(decisions)).astype(float)
    return mix / max(mix.sum(), 1.0)


def _cutoff_mix(policy: Any, histogram: dict[str, Any], decisions: tuple[str, ...]) -> np.ndarray:
    counts = np.asarray(histogram["counts"], dtype=float)
    return _cutoff_shares(policy, histogram["min"] + np.arange(len(counts)), decisions, counts)


def _shares(decisions: np.ndarray, names: tuple[str, ...]) -> np.ndarray:
    codes = pd.Categorical(decisions, categories=list(names)).codes
    counts = np.bincount(codes[codes >= 0], minlength=len(names)).astype(float)
    return counts / max(counts.sum(), 1.0)


def decision_mix(policy_path: Any, bundle: Any, baseline: Baseline, batch: Any, scores: pd.DataFrame,
                 reference: pd.DataFrame | None = None) -> DecisionMix:
    """Apply the policy to the monitored rows and compare the decision mix with training's."""
    from creditflow.policy import DECISIONS, decide_frame, load_policy
    from creditflow.policy.simulate import with_absent_fields

    policy = load_policy(policy_path)
    # an optional policy field (required: false) the table lacks is missing on every row, as in the service
    # and `policy simulate`
    frame, absent = with_absent_fields(policy, batch.frame, bundle.model.features_)
    need = [f for f in policy.rule_fields if f not in frame.columns]
    if need:
        raise SchemaError(f"the policy's rules read column(s) missing from the data: {need[:10]}",
                          file=batch.source, column=need[0])
    score = scores["score"].to_numpy(dtype=float)
    decided, fired = decide_frame(policy, frame, score)
    now, now_cut = _shares(decided, DECISIONS), _cutoff_shares(policy, score, DECISIONS)
    notes = [f"the data has no column {name!r}, an optional policy field: every row was decided as a request "
             "without it" for name in absent]
    if reference is not None:
        reference = with_absent_fields(policy, reference, bundle.model.features_)[0]
        ref_scores = bundle.model.scores(reference)["score"].to_numpy(dtype=float)
        base = _shares(decide_frame(policy, reference, ref_scores)[0], DECISIONS)
        basis, psi = "cutoffs and rules, training mix from the reference table", psi_from_shares(base, now).sum()
    elif baseline.score_histogram is not None:
        base = _cutoff_mix(policy, baseline.score_histogram, DECISIONS)
        basis, psi = "score cutoffs only (rule hit rates at training are not in the baseline)", \
            psi_from_shares(base, now_cut).sum()
        if policy.rules:
            notes.append("training shares are the cutoffs' decisions on the training scores; rules can only add "
                         "review/reject, so compare 'current_share_cutoffs' with them")
    else:
        base = np.full(len(DECISIONS), np.nan)
        basis, psi = "no training mix: the baseline has no score histogram", float("nan")
    counts = (now * len(score)).round().astype(np.int64)
    table = pd.DataFrame({"decision": list(DECISIONS), "baseline_share": base, "current_share_cutoffs": now_cut,
                          "current_share": now, "current_count": counts})
    rules = pd.DataFrame([{"code": r.code, "action": r.action, "when": r.condition.text,
                           "fired": int(fired[:, j].sum()), "share": float(fired[:, j].mean()) if len(score) else 0.0}
                          for j, r in enumerate(policy.rules)])
    mix = DecisionMix(policy_version=policy.version, table=table, psi=float(psi), basis=basis, rules=rules, notes=notes,
                      compared="current_share" if reference is not None else "current_share_cutoffs")
    if batch.period_codes is not None and len(batch.periods) > 1:
        rows = []
        for i, name in enumerate(batch.periods):
            m = batch.period_codes == i
            rows.append({"period": name, "rows": int(m.sum()),
                         **{f"{d}_share": s for d, s in zip(DECISIONS, _shares(decided[m], DECISIONS), strict=True)}})
        mix.periods = pd.DataFrame(rows)
    return mix


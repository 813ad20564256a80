"""What a policy would do to a population: approval rate, expected and realised bad rates, rule hits.

The table is scored with the model's vectorised path and the rules are evaluated column-wise;
both give the same decisions as the service's one-applicant path (`Policy.decide` after
`model.score_row`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from creditflow.data.errors import SchemaError
from creditflow.data.io import check_finite
from creditflow.policy.policy import CODE_SEPARATOR, DECISIONS, SEVERITY, Policy


@dataclass
class Simulation:
    """A policy applied to a table. Rates are fractions of rows; bad rates are fractions of the group."""

    rows: int
    policy_version: str
    model_version: str
    counts: dict[str, int]
    expected_bad_rate: dict[str, float]  # mean predicted probability of bad, by decision
    realised_bad_rate: dict[str, float] | None  # share of bads (target = 1), by decision
    rules: list[dict[str, Any]] = field(default_factory=list)
    mean_score: dict[str, float] = field(default_factory=dict)
    absent: list[str] = field(default_factory=list)  # optional policy fields the table lacks: missing on every row
    # one row per applicant, in the table's order: probability, score, grade, decision, score_decision (the
    # cutoffs alone), rules_fired (codes, ";")
    decided: pd.DataFrame | None = field(default=None, repr=False, compare=False)

    @property
    def approval_rate(self) -> float:
        return self.counts["approve"] / self.rows if self.rows else float("nan")

    def rate(self, decision: str) -> float:
        return self.counts[decision] / self.rows if self.rows else float("nan")

    def to_dict(self) -> dict:
        return {
            "rows": self.rows, "policy_version": self.policy_version, "model_version": self.model_version,
            "approval_rate": self.approval_rate,
            "decisions": {d: {"count": self.counts[d], "share": self.rate(d),
                              "expected_bad_rate": _none(self.expected_bad_rate[d]),
                              "realised_bad_rate": None if self.realised_bad_rate is None
                              else _none(self.realised_bad_rate[d]),
                              "mean_score": _none(self.mean_score.get(d, float("nan")))}
                          for d in DECISIONS},
            "rules": self.rules,
        }


def _none(x: float) -> float | None:
    return None if x != x else float(x)


def _cutoff_severity(policy: Policy, scores: np.ndarray) -> np.ndarray:
    scores = np.asarray(scores, dtype=float)
    c = policy.cutoffs
    return np.where(scores >= c.approve, 0, np.where(scores >= c.review, 1, 2))


def score_decisions(policy: Policy, scores: np.ndarray) -> np.ndarray:
    """What the cutoffs alone decide for each score (object array): `Cutoffs.decide`, the service's
    `score_decision`."""
    return np.asarray(DECISIONS, dtype=object)[_cutoff_severity(policy, scores)]


def decide_frame(policy: Policy, frame: pd.DataFrame, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Decisions (object array) and the rules-fired matrix (rows x rules, bool) for a scored table."""
    severity = _cutoff_severity(policy, scores)
    fired = np.zeros((len(frame), len(policy.rules)), dtype=bool)
    for j, rule in enumerate(policy.rules):
        fired[:, j] = rule.condition.evaluate_frame(frame)
        severity = np.where(fired[:, j], np.maximum(severity, SEVERITY[rule.action]), severity)
    return np.asarray(DECISIONS, dtype=object)[severity], fired


def fired_codes(policy: Policy, fired: np.ndarray) -> np.ndarray:
    """Each row's codes of the rules that fired, in policy order, joined by ';' (object array): built once per
    distinct combination of rules fired, as a table holds few of them."""
    codes = [r.code for r in policy.rules]
    if fired.shape[0] == 0 or fired.shape[1] == 0:
        return np.full(fired.shape[0], "", dtype=object)
    packed = np.ascontiguousarray(np.packbits(fired, axis=1))
    rows = packed.view(np.dtype((np.void, packed.shape[1]))).ravel()
    unique, first, inverse = np.unique(rows, return_index=True, return_inverse=True)
    labels = np.array([CODE_SEPARATOR.join(c for c, hit in zip(codes, fired[i], strict=True) if hit) for i in first],
                      dtype=object)
    return labels[inverse.ravel()]


def decision_columns(policy: Policy, frame: pd.DataFrame, scores: np.ndarray) -> tuple[dict[str, np.ndarray],
                                                                                      np.ndarray]:
    """The columns `policy simulate --out` and `score --policy` write for a scored table: decision,
    score_decision (the cutoffs alone) and rules_fired (codes, ';'); and the rules-fired matrix."""
    decisions, fired = decide_frame(policy, frame, scores)
    return {"decision": decisions, "score_decision": score_decisions(policy, scores),
            "rules_fired": fired_codes(policy, fired)}, fired


def with_absent_fields(policy: Policy, frame: pd.DataFrame, features: Any = ()) -> tuple[pd.DataFrame, list[str]]:
    """`frame` with the optional policy fields (`required: false`, not model inputs) its rules read but it
    lacks added as missing on every row, as the service decides a request without them; and their names."""
    optional = {f.name for f in policy.fields if not f.required}
    absent = [v for v in policy.rule_fields if v not in frame.columns and v in optional and v not in features]
    if absent:
        frame = frame.assign(**{v: pd.Series(np.nan, index=frame.index, dtype=object) for v in absent})
    return frame, absent


def simulate(policy: Policy, model: Any, frame: pd.DataFrame, target: np.ndarray | None = None,
             model_version: str = "") -> Simulation:
    """Apply `policy` with `model` to every row of `frame`; `target` (0/1, 1 = bad) adds realised bad rates.

    A field only the policy reads, declared optional (`required: false`), may be absent from the table: as
    in the service, where a request may leave it out, it is missing on every row.
    """
    frame, absent = with_absent_fields(policy, frame, model.features_)
    missing = [v for v in dict.fromkeys([*model.features_, *policy.rule_fields]) if v not in frame.columns]
    if missing:
        raise SchemaError(f"{len(missing)} column(s) needed by the model or the policy are missing: {missing[:10]}",
                          column=missing[0])
    check_finite(frame[model.features_])
    scored = model.scores(frame)
    columns, fired = decision_columns(policy, frame, scored["score"].to_numpy())
    decisions = columns["decision"]
    prob = scored["probability"].to_numpy(dtype=float)
    score = scored["score"].to_numpy(dtype=float)
    counts, expected, realised, mean_score = {}, {}, {}, {}
    for d in DECISIONS:
        mask = decisions == d
        counts[d] = int(mask.sum())
        expected[d] = float(prob[mask].mean()) if mask.any() else float("nan")
        mean_score[d] = float(score[mask].mean()) if mask.any() else float("nan")
        if target is not None:
            realised[d] = float(np.asarray(target)[mask].mean()) if mask.any() else float("nan")
    n_fired = fired.sum(axis=1)
    rules = []
    for j, rule in enumerate(policy.rules):
        col = fired[:, j]
        rules.append({
            "code": rule.code, "action": rule.action, "when": rule.condition.text,
            "fired": int(col.sum()), "share": float(col.mean()) if len(col) else float("nan"),
            "only_rule": int((col & (n_fired == 1)).sum()),
        })
    decided = scored.assign(**columns)
    return Simulation(rows=len(frame), policy_version=policy.version, model_version=model_version, counts=counts,
                      expected_bad_rate=expected, realised_bad_rate=realised if target is not None else None,
                      rules=rules, mean_score=mean_score, absent=absent, decided=decided.reset_index(drop=True))

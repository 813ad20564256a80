"""Lending policy: hard rules before the model, score cutoffs, versioned; and what-if simulation."""

from creditflow.policy.expr import Condition, ConditionError
from creditflow.policy.policy import (
    DECISIONS,
    Cutoffs,
    FieldSpec,
    Outcome,
    Policy,
    PolicyError,
    Rule,
    load_policy,
    policy_from_dict,
)
from creditflow.policy.simulate import Simulation, decide_frame, simulate

__all__ = [
    "DECISIONS",
    "Condition",
    "ConditionError",
    "Cutoffs",
    "FieldSpec",
    "Outcome",
    "Policy",
    "PolicyError",
    "Rule",
    "Simulation",
    "decide_frame",
    "load_policy",
    "policy_from_dict",
    "simulate",
]

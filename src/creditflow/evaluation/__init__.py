"""Model evaluation on plain arrays: discrimination, calibration, stability and cutoff strategy.

`y` is 0/1 with 1 = bad; `p` is a probability of bad. Functions that can take a credit score
(higher = better) say so with `higher_is_better`.
"""

from creditflow.evaluation.calibration import HLResult, calibration_table, hosmer_lemeshow, jeffreys_interval
from creditflow.evaluation.metrics import (
    AUCResult,
    KSResult,
    auc,
    auc_ci,
    bad_rate_by_band,
    delong_test,
    gini,
    ks,
    lift_gain_table,
)
from creditflow.evaluation.stability import (
    EPS,
    PSI_MONITOR,
    PSI_SHIFT,
    PSIResult,
    csi,
    csi_from_shares,
    psi,
    psi_from_histogram,
    psi_from_shares,
    stability_status,
)
from creditflow.evaluation.strategy import default_cutoffs, strategy_table, swap_set

__all__ = [
    "AUCResult",
    "EPS",
    "HLResult",
    "KSResult",
    "PSIResult",
    "PSI_MONITOR",
    "PSI_SHIFT",
    "auc",
    "auc_ci",
    "bad_rate_by_band",
    "calibration_table",
    "csi",
    "csi_from_shares",
    "default_cutoffs",
    "delong_test",
    "gini",
    "hosmer_lemeshow",
    "jeffreys_interval",
    "ks",
    "lift_gain_table",
    "psi",
    "psi_from_histogram",
    "psi_from_shares",
    "stability_status",
    "strategy_table",
    "swap_set",
]

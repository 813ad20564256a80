"""Feature selection by missing rate, IV, stability across training periods, correlation, VIF and stepwise, each
with its reason."""

from creditflow.selection.filters import (
    SelectionSettings,
    correlation_filter,
    select_features,
    vif,
    vif_filter,
)
from creditflow.selection.stepwise import logit_loglik, stepwise

__all__ = [
    "SelectionSettings",
    "correlation_filter",
    "logit_loglik",
    "select_features",
    "stepwise",
    "vif",
    "vif_filter",
]

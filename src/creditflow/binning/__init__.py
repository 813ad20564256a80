"""Supervised binning, WOE and IV."""

from creditflow.binning.process import BinningProcess
from creditflow.binning.variable import MISSING, UNSEEN, BinningSettings, VariableBinning, woe_iv

__all__ = ["MISSING", "UNSEEN", "BinningProcess", "BinningSettings", "VariableBinning", "woe_iv"]

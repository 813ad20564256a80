"""Models behind one protocol: the WOE scorecard (and challengers registered in `MODEL_TYPES`)."""

from creditflow.models.base import MODEL_TYPES, CreditModel, model_class
from creditflow.models.scorecard import Scorecard

__all__ = ["MODEL_TYPES", "CreditModel", "Scorecard", "model_class"]

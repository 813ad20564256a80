"""creditflow: from a labelled table (or profiles and behaviour) to a validated credit score and decision.

The five-line journey::

    import creditflow as cf
    data = cf.read_table("loans.csv", target="y", dictionary="字段解释.xlsx")
    card = cf.Scorecard().fit(data.train)
    print(cf.evaluate(card, data.test))
    scores = card.scores(new_applicants)     # probability, 350-950 score, grade
"""

from creditflow.binning import BinningProcess
from creditflow.bundle import load_bundle, load_model, save_bundle
from creditflow.data import CreditflowError, Dataset, FieldDictionary, read_dictionary, read_table
from creditflow.data.errors import (
    BundleVersionWarning,
    LeakageWarning,
    MissingColumnWarning,
    ProtectedVariableWarning,
    SmallSampleWarning,
    SpecialValueWarning,
    UnseenCategoryWarning,
)
from creditflow.evaluate import evaluate
from creditflow.models import Scorecard
from creditflow.models.boosted import BoostedScorecard
from creditflow.scoring import Grades, Scaling

__version__ = "0.1.0"

__all__ = [
    "BinningProcess",
    "BoostedScorecard",
    "CreditflowError",
    "Dataset",
    "FieldDictionary",
    "Grades",
    "Scaling",
    "Scorecard",
    "BundleVersionWarning",
    "LeakageWarning",
    "MissingColumnWarning",
    "ProtectedVariableWarning",
    "SmallSampleWarning",
    "SpecialValueWarning",
    "UnseenCategoryWarning",
    "evaluate",
    "load_bundle",
    "load_model",
    "read_dictionary",
    "read_table",
    "save_bundle",
]

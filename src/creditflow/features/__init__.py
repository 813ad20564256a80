"""User profiles and behaviour logs -> point-in-time features, targets, vintage curves and roll rates.

    from creditflow.features import BehaviourSpec, build_features, read_profiles
    spec = BehaviourSpec.from_yaml("examples/uci_taiwan_features.yaml")
    table = build_features(read_profiles("profiles.jsonl"), events, spec, observations)

`spec.to_dict()` is plain JSON, so the spec (with its tag rules) can be stored in a model bundle
and the same features rebuilt at scoring time.
"""

from creditflow.features.build import (
    ENGINES,
    FeatureTable,
    build_feature_table,
    build_features,
    compute_behaviour,
)
from creditflow.features.expr import Expression, ExpressionError
from creditflow.features.flatten import FlattenOptions, flatten_profiles, flatten_record, read_profiles
from creditflow.features.report import BuildReport
from creditflow.features.spec import AGGREGATIONS, BehaviourSpec, SpecError
from creditflow.features.tags import TagRule, TagRules
from creditflow.features.target import TargetSpec, define_target
from creditflow.features.vintage import RollRateTable, VintageTable, roll_rates, vintage_curves
from creditflow.features.windows import Duration, Window

__all__ = [
    "AGGREGATIONS",
    "ENGINES",
    "BehaviourSpec",
    "BuildReport",
    "Duration",
    "Expression",
    "ExpressionError",
    "FeatureTable",
    "FlattenOptions",
    "SpecError",
    "TagRule",
    "TagRules",
    "TargetSpec",
    "RollRateTable",
    "VintageTable",
    "Window",
    "build_feature_table",
    "build_features",
    "compute_behaviour",
    "define_target",
    "roll_rates",
    "vintage_curves",
    "flatten_profiles",
    "flatten_record",
    "read_profiles",
]

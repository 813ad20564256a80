"""What the service serves at one moment: a verified bundle, a checked policy, and request models.

A `ServingState` is built completely (bundle verified against its SHA-256 manifest, policy checked
against the bundle's input schema, a smoke-test applicant scored) before it replaces the current
one, and it never changes afterwards: a request keeps the state it started with, so a reload never
mixes two models in one answer and never drops a request.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from creditflow.bundle import Bundle, load_bundle
from creditflow.data.errors import BundleError, CreditflowError
from creditflow.policy.policy import Cutoffs, Policy, PolicyError, load_policy
from creditflow.service.config import ServiceConfig
from creditflow.service.validation import InputField, RequestModels, build_models, input_fields

log = logging.getLogger("creditflow.service")

DEFAULT_POLICY_VERSION = "default"


@dataclass(frozen=True)
class ServingState:
    """An immutable snapshot: model, policy, input validation and versions."""

    bundle: Bundle
    policy: Policy
    models: RequestModels
    model_dir: str
    policy_path: str | None
    loaded_at: str
    reasons: Callable[[Any, dict], list] | None
    notes: Callable[[dict], list[str]] = lambda applicant: []
    warnings: tuple[str, ...] = ()  # about the policy against this model (input_warnings, unknown_categories)

    def log_warnings(self) -> None:
        for warning in self.warnings:
            log.warning("policy %s: %s", self.policy_version, warning)

    @property
    def model(self) -> Any:
        return self.bundle.model

    @property
    def model_version(self) -> str:
        return self.bundle.model_version

    @property
    def policy_version(self) -> str:
        return self.policy.version

    @property
    def fields(self) -> tuple[InputField, ...]:
        return self.models.fields

    def describe(self) -> dict:
        """Bundle metadata, input schema, score scale and policy, for GET /v1/model."""
        model = self.model
        meta = self.bundle.metadata
        scaling = model.scaling_
        return {
            "model_type": self.bundle.manifest.get("model_type"),
            "model_version": self.model_version,
            "policy_version": self.policy_version,
            "loaded_at": self.loaded_at,
            "features": list(model.features_),
            "input_schema": {"fields": [f.to_dict() for f in self.fields]},
            "score_scale": {"min": scaling.min_score, "max": scaling.max_score, "base_score": scaling.base_score,
                            "base_odds": scaling.base_odds, "pdo": scaling.pdo,
                            "higher_is": "better (lower probability of going overdue)"},
            "grades": model.grades_.table(scaling),
            "policy": self.policy.to_dict(),
            "bundle": {"created": meta.get("created"), "versions": meta.get("versions"),
                       "training": {k: meta.get("training", {}).get(k) for k in ("rows", "bad_rate", "target")},
                       "metrics": meta.get("metrics")},
            "reasons": "available" if self.reasons is not None else "not available for this model",
        }


def default_policy(model: Any) -> Policy:
    """No rules; approve at the base score (its odds, by default 10:1 good:bad), review down to one PDO below."""
    s = model.scaling_
    approve = int(round(s.base_score))
    return Policy(version=DEFAULT_POLICY_VERSION, cutoffs=Cutoffs(approve=approve, review=int(round(approve - s.pdo))),
                  description="built-in: approve at the base score, review within one PDO below, reject under")


def note_function(bundle: Bundle) -> Callable[[dict], list[str]]:
    """Notes on inputs the model scores but never saw in training: a category it did not learn (scored as
    unseen) or a number outside the training range (scored in the outermost bin / the trees' edge)."""
    from creditflow.binning.variable import category_key
    from creditflow.models.base import declared_special_values, training_categories

    model = bundle.model
    features = list(model.features_)
    known = training_categories(model)
    specials = declared_special_values(model, numeric_only=True)
    ranges = {}
    for f in (bundle.files.get("schema.json") or {}).get("fields", []):
        # categorical inputs get the unseen-category note instead
        if f.get("name") in features and f["name"] not in known and f.get("type") == "number" and "min" in f and "max" in f:
            # the range without the special values where schema.json has it (a -1 sentinel would hide a 0)
            lo, hi = f.get("regular_min", f["min"]), f.get("regular_max", f["max"])
            ranges[f["name"]] = (float(lo), float(hi), set(specials.get(f["name"], [])))

    def notes(applicant: dict) -> list[str]:
        out = []
        for var, keys in known.items():
            key = category_key(applicant.get(var))
            if key is not None and key not in keys:
                out.append(f"{var}: category {key!r} was not seen in training; scored as unseen")
        for var, (lo, hi, specials) in ranges.items():
            value = applicant.get(var)
            if isinstance(value, (int, float)) and not isinstance(value, bool) and value not in specials:
                if value < lo or value > hi:
                    side = "below the training minimum" if value < lo else "above the training maximum"
                    edge = lo if value < lo else hi
                    out.append(f"{var}: {value:g} is {side} {edge:g}; scored as the {'lowest' if value < lo else 'highest'}"
                               " values seen")
        return out

    return notes


def reason_function(bundle: Bundle) -> Callable[[Any, dict], list] | None:
    """`creditflow.scoring.reasons.reasons_row` when installed and the model supports reason codes.

    It is called with the `Bundle`, so the bundle's own reason-code table and reference are used.
    """
    try:
        from creditflow.scoring.reasons import reasons_row, supports_reasons
    except ImportError:
        return None
    return reasons_row if supports_reasons(bundle.model) else None


def load_state(config: ServiceConfig, model_dir: str | None = None, policy: str | None = None) -> ServingState:
    """Load, verify and check a bundle and policy; raises `CreditflowError` on anything wrong."""
    model_dir = str(model_dir or config.model_dir)
    policy_path = policy if policy is not None else config.policy
    if policy_path is not None and not policy_path.strip():  # not "no policy": that must never be silent
        raise PolicyError("the policy path is empty")
    bundle = load_bundle(model_dir)
    model = bundle.model
    schema = bundle.files.get("schema.json")
    if not isinstance(schema, dict):
        raise BundleError("the bundle has no schema.json (input schema); retrain it with creditflow train",
                          file=model_dir)
    pol = load_policy(policy_path) if policy_path else default_policy(model)
    from creditflow.models.base import declared_special_values, training_categories

    fields = input_fields(schema, pol, config.range_tolerance, specials=declared_special_values(model))
    types = {f.name: f.type for f in fields}
    missing = [v for v in model.features_ if v not in types]
    if missing:
        raise BundleError(f"schema.json does not describe model input(s) {missing[:10]}", file=model_dir)
    s = model.scaling_
    pol.check_against(types, (int(s.min_score), int(s.max_score)))
    warnings = (*pol.input_warnings({f.name for f in fields if f.model_input}),
                *pol.unknown_categories(training_categories(model)),
                *pol.unreachable({f.name: f.span for f in fields if f.type == "number"}))
    models = build_models(fields, max_batch=config.max_batch, reject_unknown=config.reject_unknown_fields)
    reasons = reason_function(bundle) if config.reasons > 0 else None
    state = ServingState(bundle=bundle, policy=pol, models=models, model_dir=model_dir, policy_path=policy_path,
                         loaded_at=datetime.now(UTC).isoformat(timespec="seconds"), reasons=reasons,
                         notes=note_function(bundle), warnings=warnings)
    _smoke_test(state)
    return state


def _smoke_test(state: ServingState) -> None:
    """Score one plausible applicant (every number at the middle of its range) so a broken bundle fails now."""
    row: dict[str, Any] = {}
    for f in state.fields:
        if f.type == "number":
            lo = f.min if f.min is not None else 0.0
            hi = f.max if f.max is not None else lo
            row[f.name] = (lo + hi) / 2
        else:
            row[f.name] = None if f.nullable else ""
    try:
        out = state.model.score_row(row)
        state.policy.decide(row, out["score"])
        if state.reasons is not None:  # also builds and caches the reasoner before the first request
            state.reasons(state.bundle, row, n=1)
    except CreditflowError as exc:
        raise BundleError(f"the model cannot score a test applicant: {exc.message}", file=state.model_dir) from None


def read_deploy_file(path: str | None) -> tuple[str | None, str | None]:
    """The model_dir and policy an admin reload recorded for worker processes (None, None if none)."""
    if not path or not Path(path).is_file():
        return None, None
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
        return doc.get("model_dir"), doc.get("policy")
    except (OSError, json.JSONDecodeError):
        return None, None

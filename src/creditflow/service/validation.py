"""Request models built from a bundle's input schema (schema.json) and the policy's extra fields.

Rules, so a wrong input gets a field-level 422 and never a silently wrong score:

* every model input must be present; ``null`` (missing) is accepted only for fields that had
  missing values in training (the model has learnt what missing means there) or that the policy
  declares ``nullable`` (a refused ``null`` is a ``null_not_allowed`` error that says which);
* numbers must be JSON numbers (not text, not true/false), finite, and inside the plausible range:
  a field never negative in training may not be negative, and no value may lie more than
  `range_tolerance` training ranges beyond the training minimum or maximum (default 1.0: for AGE
  seen as 21-79, anything in 0-137 is accepted; rules in the policy decide what is acceptable); a
  special value declared at training (``special_values``: a -1 "not recorded") is accepted wherever it
  lies, held by a training row or not, as `creditflow score` scores it in its special bin (bounds the
  policy's ``fields:`` declare still apply to it);
* text fields (and ``application_id``) must be JSON strings of at most 200 (128) characters, without
  the NUL character ``\\u0000`` (PostgreSQL text cannot hold it; refused on SQLite too, so the answer
  does not depend on the audit database); a text that a CSV cell would be read as missing ("", "NA",
  "None", "null", ...: `creditflow.data.io.missing_text`) is missing (``null``) here too, so a request is
  scored and decided as the same row of a table is in training, `score` and `policy simulate`;
* other keys in ``applicant`` are ignored, or refused with ``reject_unknown=True``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidatorFunctionWrapHandler,
    WithJsonSchema,
    WrapValidator,
    create_model,
)

from creditflow.data.errors import BundleError
from creditflow.data.io import missing_text
from creditflow.policy.policy import FieldSpec, Policy, PolicyError

MAX_TEXT = 200
MAX_ID = 128


@dataclass(frozen=True)
class InputField:
    """One applicant input: its JSON type, whether null is allowed, and the accepted range."""

    name: str
    type: str  # number | string
    nullable: bool
    required: bool = True
    min: float | None = None
    max: float | None = None
    meaning: str = ""
    model_input: bool = True  # False: a field only the policy reads
    # declared special values, accepted even outside [min, max] (a -1 "not recorded" for a field never negative)
    specials: tuple[float, ...] = ()

    @property
    def null_refused(self) -> str:
        """Why a ``null`` is refused here (when it is: not `nullable`)."""
        if self.model_input:
            return "missing, but no training row had it missing: the model has no evidence for a missing value"
        return "missing, but the policy does not declare it nullable"

    def to_dict(self) -> dict:
        return {"name": self.name, "type": self.type, "nullable": self.nullable, "required": self.required,
                "min": self.min, "max": self.max, "special_values": list(self.specials), "meaning": self.meaning}

    @property
    def span(self) -> tuple[float | None, float | None]:
        """The smallest interval holding every accepted number: [min, max] widened to the special values."""
        if not self.specials:
            return self.min, self.max
        return (None if self.min is None else min(self.min, *self.specials),
                None if self.max is None else max(self.max, *self.specials))

    def refused(self, values: Any) -> Any:
        """Which cells of a table column (a pandas Series) this field's request validation refuses, as a
        bool array: a number outside [min, max] (see `_annotation`), or a missing cell where null is not
        allowed (a missing cell of an optional field reads as the field left out)."""
        import numpy as np
        import pandas as pd

        bad = values.isna().to_numpy() & (not self.nullable and self.required)
        if self.type == "number" and (self.min is not None or self.max is not None):
            x = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
            with np.errstate(invalid="ignore"):
                out = (x < (-np.inf if self.min is None else self.min)) | (x > (np.inf if self.max is None else self.max))
            bad = bad | (out & ~np.isin(x, list(self.specials)))
        return bad


def input_fields(schema: dict, policy: Policy | None = None, range_tolerance: float = 1.0,
                 specials: Mapping[str, Sequence[float]] | None = None) -> list[InputField]:
    """The accepted inputs: the bundle's schema fields with their ranges, then the policy's own fields.

    `specials`: the declared special values of the model's inputs (`models.base.declared_special_values`),
    accepted in a number field wherever they lie, as batch scoring puts them in their own bins."""
    out: dict[str, InputField] = {}
    specials = specials or {}
    fields = schema.get("fields")
    if not isinstance(fields, list) or not fields:
        raise BundleError("schema.json lists no input fields; retrain with creditflow train to write one")
    for doc in fields:
        try:
            name, kind = str(doc["name"]), doc.get("type", "number")
        except (KeyError, TypeError):
            raise BundleError(f"schema.json field without a name: {doc!r}") from None
        lo = hi = None
        if kind == "number" and doc.get("min") is not None and doc.get("max") is not None:
            tmin, tmax = float(doc["min"]), float(doc["max"])
            span = max(tmax - tmin, 1.0)
            lo = 0.0 if tmin >= 0 else tmin - range_tolerance * span
            hi = tmax + range_tolerance * span
        extra = () if kind != "number" else tuple(sorted({float(v) for v in specials.get(name, ())
                                                          if math.isfinite(float(v))}))
        out[name] = InputField(name=name, type="number" if kind == "number" else "string",
                               nullable=float(doc.get("missing_rate") or 0.0) > 0.0, min=lo, max=hi,
                               meaning=str(doc.get("meaning") or ""), specials=extra)
    for spec in policy.fields if policy is not None else ():
        out[spec.name] = _merge(out.get(spec.name), spec, policy.source)
    return list(out.values())


def _merge(model_field: InputField | None, spec: FieldSpec, source: str | None = None) -> InputField:
    """A policy declaration narrows a model field's range, or adds a field the model does not use.

    Refused: a declaration whose type is not the model input's (it would be ignored, and its bounds
    advertised but not enforced), and bounds that leave no value the model input accepts.
    """
    if model_field is None:
        return InputField(name=spec.name, type=spec.type, nullable=spec.nullable, required=spec.required,
                          min=spec.min, max=spec.max, model_input=False)
    if spec.type != model_field.type:
        raise PolicyError(
            f"fields.{spec.name} is declared {spec.type} (number when no type is given), but the model's input "
            f"{spec.name!r} is {'text (string)' if model_field.type == 'string' else 'a number'}", file=source,
            hint=f"declare type: {model_field.type}, or leave {spec.name} out of fields:")
    lo = model_field.min if spec.min is None else spec.min if model_field.min is None else max(spec.min, model_field.min)
    hi = model_field.max if spec.max is None else spec.max if model_field.max is None else min(spec.max, model_field.max)
    if lo is not None and hi is not None and lo > hi:
        declared = " ".join(f"{k} {v:g}" for k, v in (("min", spec.min), ("max", spec.max)) if v is not None)
        accepts = f"{_bound(model_field.min)} to {_bound(model_field.max)}"
        raise PolicyError(
            f"fields.{spec.name}: {declared} leaves no valid value: the model's input accepts {accepts} (the training "
            f"range widened by the range tolerance), so every request would be refused", file=source)
    # the policy's own bounds hold for special values too (`fields: {X: {min: 0}}` refuses a -1)
    kept = tuple(v for v in model_field.specials
                 if (spec.min is None or v >= spec.min) and (spec.max is None or v <= spec.max))
    return InputField(name=model_field.name, type=model_field.type, nullable=model_field.nullable or spec.nullable,
                      required=True, min=lo, max=hi, meaning=model_field.meaning, specials=kept)


def _no_nul(value: str | None) -> str | None:
    if value is not None and "\x00" in value:
        raise ValueError("must not contain the NUL character (\\u0000)")
    return value


NO_NUL = AfterValidator(_no_nul)


def _missing_as_none(value: Any) -> Any:
    return None if missing_text(value) else value


# before the type and null checks: a text read as missing is a null, refused where null is (null_not_allowed)
MISSING_TEXT = BeforeValidator(_missing_as_none)


def _bound(x: float | None) -> str:
    return "any" if x is None else f"{x:g}"


def _special_values(specials: tuple[float, ...]) -> WrapValidator:
    """Let a declared special value (a JSON number equal to one, not true/false) past the range check."""
    allowed = frozenset(specials)

    def accept(value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        if value.__class__ in (int, float) and value in allowed:
            return float(value)
        return handler(value)

    return WrapValidator(accept)


def _annotation(f: InputField) -> Any:
    if f.type == "number":
        base: Any = Annotated[float, Field(strict=True, allow_inf_nan=False, ge=f.min, le=f.max)]
        outside = tuple(v for v in f.specials if (f.min is not None and v < f.min) or (f.max is not None and v > f.max))
        if outside:  # only those the range would refuse: the other fields keep the plain (fast) check
            ranged = {"type": "number", **({"minimum": f.min} if f.min is not None else {}),
                      **({"maximum": f.max} if f.max is not None else {})}
            base = Annotated[base, _special_values(outside),
                             WithJsonSchema({"anyOf": [ranged, {"enum": list(outside)}]})]
    else:
        base = Annotated[str, Field(strict=True, max_length=MAX_TEXT), NO_NUL]
        return Annotated[base | None if f.nullable else base, MISSING_TEXT]
    return base | None if f.nullable else base


@dataclass(frozen=True)
class RequestModels:
    """The pydantic models of one serving state: single decision, batch, and the applicant."""

    applicant: type[BaseModel]
    decision: type[BaseModel]
    batch: type[BaseModel]
    fields: tuple[InputField, ...]

    def parse_decision(self, body: bytes) -> BaseModel:
        return self.decision.model_validate_json(body)

    def parse_batch(self, body: bytes) -> BaseModel:
        return self.batch.model_validate_json(body)


def build_models(fields: list[InputField], max_batch: int = 100, reject_unknown: bool = False) -> RequestModels:
    """Pydantic models for the request bodies; field names that are not identifiers travel as aliases."""
    spec: dict[str, Any] = {}
    for i, f in enumerate(fields):
        default = ... if f.required else None
        desc = f.meaning or None
        spec[f"f{i}"] = (_annotation(f), Field(default, alias=f.name, description=desc))
    config = ConfigDict(extra="forbid" if reject_unknown else "ignore", populate_by_name=False)
    applicant = create_model("Applicant", __config__=config, **spec)
    strict = ConfigDict(extra="forbid")
    app_id = Annotated[str | None, Field(max_length=MAX_ID, strict=True,
                                         description="Your reference for the application (recorded in the audit)"),
                       NO_NUL]
    decision = create_model("DecisionRequest", __config__=strict, application_id=(app_id, None),
                            applicant=(applicant, ...))
    batch = create_model("BatchRequest", __config__=strict,
                         applications=(Annotated[list[decision], Field(min_length=1, max_length=max_batch)], ...))
    return RequestModels(applicant=applicant, decision=decision, batch=batch, fields=tuple(fields))


def canonical_body(body: bytes) -> str:
    """A request body as compared for an `Idempotency-Key` retry: JSON with its keys sorted and no spaces (a
    client that serialises the same request in another key order or layout is retrying it, not sending a
    different one); a body that is not JSON as its text."""
    try:  # ASCII escapes: a lone surrogate ("\\ud800") would not encode for the hash
        return json.dumps(json.loads(body), sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    except (ValueError, RecursionError):
        return body.decode("utf-8", "replace")


def legacy_request_hash(path: str, body: bytes) -> str:
    """The hash of a request body as versions before canonical JSON stored it (the raw text), so that a retry
    whose first attempt was recorded by such a version still replays."""
    from creditflow.service.audit.base import sha256_text

    return sha256_text(path + "\n" + body.decode("utf-8", "replace"))


def duplicate_key(body: bytes) -> str | None:
    """The first key written twice inside one JSON object of `body`, or None. JSON parsers keep the last value
    of a repeated key without a word, so `{"AGE": 37, "AGE": 10}` would be decided on 10; the service refuses
    it instead. (A body that is not JSON at all is left to the request model's own error.)"""
    found: list[str] = []

    def pairs(items: list[tuple[str, Any]]) -> None:  # values are not needed: no dict is built
        if not found and len(items) > 1:
            seen: set[str] = set()
            for k, _ in items:
                if k in seen:
                    found.append(k)
                    break
                seen.add(k)

    try:
        json.loads(body, object_pairs_hook=pairs)
    except (ValueError, RecursionError):  # not JSON, or nested past the parser's depth: the model says so
        return None
    return found[0] if found else None


def applicant_dict(model: BaseModel) -> dict[str, Any]:
    """The validated applicant as field name -> value (None for missing)."""
    return model.model_dump(by_alias=True)


def error_details(exc: ValidationError, prefix: tuple = ("body",), fields: Sequence[InputField] = ()) -> list[dict]:
    """Field-level errors as JSON: loc (path to the field), msg, type, and the field's own input.

    ``input`` is given only where it is one value (a number, a text): pydantic's input of a missing field
    is the whole applicant, and that of an error about the body the whole body, which would repeat the
    applicant's personal data in every error. A ``null`` refused for one of `fields` (not nullable) says
    why (`InputField.null_refused`) instead of pydantic's "Input should be a valid number".
    """
    by_name = {f.name: f for f in fields}
    out = []
    for e in exc.errors(include_url=False, include_context=False):
        loc = (*e.get("loc", ()),)
        item = {"loc": [*prefix, *loc], "msg": e.get("msg", ""), "type": e.get("type", "")}
        x = e.get("input")
        field = by_name.get(loc[-1]) if len(loc) >= 2 and loc[-2] == "applicant" else None
        if x is None and field is not None and item["type"] in ("float_type", "string_type"):
            item["msg"], item["type"] = field.null_refused, "null_not_allowed"
        if loc and isinstance(x, (type(None), bool, int, float, str, bytes)):
            item["input"] = _jsonable(x)
        out.append(item)
    return out


def _jsonable(x: None | bool | int | float | str | bytes) -> Any:
    """One input value made safe for JSON (no NaN, no bytes, at most 200 characters)."""
    if isinstance(x, float):
        return x if math.isfinite(x) else str(x)
    if isinstance(x, bytes):
        return x[:200].decode("utf-8", "replace")
    return x[:200] if isinstance(x, str) else x

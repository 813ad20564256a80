"""A lending policy: hard rules checked before the model, score cutoffs, and a version string.

The policy file is YAML::

    version: "uci-demo-2024.06"          # required; recorded with every decision
    cutoffs:
      approve: 620                      # score >= 620 -> approve
      review: 560                       # 560 <= score < 620 -> review; below 560 -> reject
    rules:                              # checked in order; every rule that fires is reported
      - code: HR01
        description: applicant under 18
        when: AGE < 18                  # see creditflow.policy.expr for the language
        action: reject                  # reject | review
    fields:                             # inputs the rules read that the model does not use
      AGE: {type: number, min: 0, max: 120}

The decision is the most severe of the cutoff decision and the actions of the rules that fired
(reject > review > approve): a review rule sends an approvable applicant to manual review, a
reject rule rejects whatever the score.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from creditflow.data.errors import CreditflowError
from creditflow.data.textfile import utf8_text, yaml_hint
from creditflow.policy.expr import Condition, ConditionError

DECISIONS = ("approve", "review", "reject")
SEVERITY = {d: i for i, d in enumerate(DECISIONS)}
RULE_ACTIONS = ("review", "reject")
CODE_SEPARATOR = ";"  # joins the codes of the rules fired in `policy simulate --out`'s rules_fired
# What the service answers with, beside the applicant: rules read the applicant's inputs, never these
RESPONSE_FIELDS = ("score", "grade", "probability", "decision")
MAX_POLICY_BYTES = 1_000_000


class PolicyError(CreditflowError):
    """A policy file that cannot be read or does not make sense (with the file and the rule)."""


@dataclass(frozen=True)
class FieldSpec:
    """An applicant input the rules need: type number|string, whether it may be absent/null, bounds."""

    name: str
    type: str = "number"
    required: bool = True
    nullable: bool = False
    min: float | None = None
    max: float | None = None

    def to_dict(self) -> dict:
        return {"name": self.name, "type": self.type, "required": self.required, "nullable": self.nullable,
                "min": self.min, "max": self.max}


@dataclass(frozen=True)
class Rule:
    """A hard rule: when `condition` holds, the decision is at least `action`; `code` is reported."""

    code: str
    condition: Condition
    action: str
    description: str = ""
    line: int | None = field(default=None, compare=False)  # where the rule starts in its policy file

    @property
    def at(self) -> str:
        """"line N: " for a rule read from a file, to lead a message about it; else empty."""
        return line_prefix(self.line)

    def to_dict(self) -> dict:
        return {"code": self.code, "when": self.condition.text, "action": self.action, "description": self.description}


@dataclass(frozen=True)
class Cutoffs:
    """score >= approve: approve; review <= score < approve: review; below review: reject."""

    approve: int
    review: int
    line: int | None = field(default=None, compare=False)  # where `cutoffs:` is in the policy file

    @property
    def at(self) -> str:
        """"line N: " for cutoffs read from a file, to lead a message about them; else empty."""
        return line_prefix(self.line)

    def decide(self, score: float) -> str:
        return "approve" if score >= self.approve else "review" if score >= self.review else "reject"


def line_prefix(line: int | None) -> str:
    """"line N: " to lead a message about what stands on line N of a policy file; empty when not from a file."""
    return f"line {line}: " if line else ""


@dataclass(frozen=True)
class Outcome:
    """What a policy made of one applicant: the decision, and the rules that fired (in policy order)."""

    decision: str
    score_decision: str
    fired: tuple[Rule, ...] = ()


@dataclass(frozen=True)
class Policy:
    """Rules, cutoffs and a version; `decide` turns an applicant and its score into a decision."""

    version: str
    cutoffs: Cutoffs
    rules: tuple[Rule, ...] = ()
    fields: tuple[FieldSpec, ...] = ()
    description: str = ""
    source: str | None = None

    def fired(self, applicant: dict[str, Any]) -> tuple[Rule, ...]:
        """The rules whose condition holds for this applicant, in policy order."""
        return tuple(r for r in self.rules if r.condition.evaluate(applicant))

    def decide(self, applicant: dict[str, Any], score: float) -> Outcome:
        """The decision for one applicant with this model score (integer points, higher is better)."""
        fired = self.fired(applicant)
        by_score = self.cutoffs.decide(score)
        decision = by_score
        for rule in fired:
            if SEVERITY[rule.action] > SEVERITY[decision]:
                decision = rule.action
        return Outcome(decision=decision, score_decision=by_score, fired=fired)

    @property
    def rule_fields(self) -> list[str]:
        """Every applicant field some rule reads, in order of first use."""
        out: list[str] = []
        for rule in self.rules:
            out += [f for f in rule.condition.fields if f not in out]
        return out

    def check_against(self, schema_fields: dict[str, str], score_range: tuple[int, int] | None = None) -> None:
        """Refuse rules that read fields nobody supplies, or compare them with the wrong kind of value.

        `schema_fields` maps the model's input fields to "number" or "string"; fields declared in the
        policy's own `fields:` section count too.
        """
        types = dict(schema_fields)
        types.update({f.name: f.type for f in self.fields})
        for i, rule in enumerate(self.rules):
            for name, kinds in rule.condition.uses().items():
                if name not in types and name.lower() in RESPONSE_FIELDS:
                    raise PolicyError(
                        f"{rule.at}rule {rule.code!r} (rules[{i}]) reads field {name!r}, which is not an applicant input: "
                        "rules see the applicant's inputs only, never the model's score, grade or probability",
                        file=self.source, hint="act on the score with cutoffs: (approve / review), not with a rule",
                    )
                if name not in types:
                    import difflib

                    close = difflib.get_close_matches(name, list(types), n=1, cutoff=0.5)
                    kind = "string" if "text" in kinds else "number"
                    hint = f"declare it, e.g. fields: {{{name}: {{type: {kind}}}}}"
                    if name.lower() in ("null", "none", "nan", "na", "nil"):
                        hint = f"{name} is read as a field's name: a missing value is tested with `FIELD is missing`"
                        close = []
                    raise PolicyError(
                        f"{rule.at}rule {rule.code!r} (rules[{i}]) reads field {name!r}, which is neither a model input "
                        "nor declared under 'fields:'" + (f"; did you mean {close[0]!r}?" if close else ""),
                        file=self.source, hint=hint,
                    )
                kind = types[name]
                if kind == "number" and "text" in kinds:
                    raise PolicyError(f"{rule.at}rule {rule.code!r} (rules[{i}]) compares number field {name!r} with text",
                                      file=self.source)
                if kind == "string" and ({"number", "order"} & kinds):
                    raise PolicyError(
                        f"{rule.at}rule {rule.code!r} (rules[{i}]) compares text field {name!r} with a number or by order; "
                        "use == or in with quoted values", file=self.source,
                    )
        if score_range is not None:
            lo, hi = score_range
            for name in ("approve", "review"):
                value = getattr(self.cutoffs, name)
                if not lo <= value <= hi + 1:
                    raise PolicyError(f"{self.cutoffs.at}cutoff {name}: {value} is outside the model's score scale {lo}-{hi}",
                                      file=self.source)

    def input_warnings(self, model_inputs: set[str]) -> list[str]:
        """Warnings for `fields:` declarations that do not do what they seem to (`model_inputs`: the model's
        input names): `required: false` on a model input (the model needs it: every request must carry
        it), and a field only the policy reads named like a response field (score, grade, ...), which is
        an input the caller sends, not the model's output. Also rules comparing a field with a text read as
        missing ("None", "NA", "null", ...: `creditflow.data.io.missing_text`), which no value equals."""
        from creditflow.data.io import missing_text

        out = []
        for i, rule in enumerate(self.rules):
            for name, values in rule.condition.text_values().items():
                for value in sorted(v for v in values if missing_text(v)):
                    out.append(f"{rule.at}rule {rule.code!r} (rules[{i}]) compares {name!r} with {value!r}, which tables and "
                               f"requests read as a missing value, so no value equals it; write `{name} is missing`")
        for f in self.fields:
            if f.name in model_inputs:
                if not f.required:
                    out.append(f"fields.{f.name}: required: false has no effect: {f.name!r} is a model input, "
                               "which every request must carry (nullable: true lets it be null)")
            elif f.name.lower() in RESPONSE_FIELDS:
                out.append(f"fields.{f.name} declares an applicant input named like the response's {f.name.lower()!r}: "
                           f"rules on it read what the caller sends, not the model's {f.name.lower()}; act on the "
                           "model's score with cutoffs:")
            elif f.required and not any(f.name in rule.condition.fields for rule in self.rules):
                out.append(f"fields.{f.name} is read by no rule and is not a model input, yet the service requires "
                           f"it in every request (a request without it gets 422): remove it, or set required: false")
        return out

    def unreachable(self, ranges: dict[str, tuple[float | None, float | None]]) -> list[str]:
        """Warnings for rules that no accepted applicant can fire (`ranges`: each number field's accepted min and
        max, None where open): a bound beyond the range (`AGE > 200` where AGE is accepted up to 120),
        comparisons that exclude each other (`PAY_0 > 3 and PAY_0 < 2`), `false`. Such a rule reads as a
        safeguard in the file and decides nothing."""
        from creditflow.policy.expr import never_holds

        accepted = {name: (-math.inf if lo is None else lo, False, math.inf if hi is None else hi, False)
                    for name, (lo, hi) in ranges.items()}
        out = []
        for i, rule in enumerate(self.rules):
            if never_holds(rule.condition.tree, accepted):
                shown = [f"{name} {_bound_text(*ranges[name])}" for name in rule.condition.fields if name in ranges]
                out.append(f"{rule.at}rule {rule.code!r} (rules[{i}]) can never fire: `{rule.condition.text}` holds for no "
                           f"value the service accepts" + (f" ({'; '.join(shown)})" if shown else ""))
        return out

    def unknown_categories(self, known: dict[str, set[str]]) -> list[str]:
        """Warnings for rules comparing a text field with a value its training data never held (a typo, or
        a category the model has not seen): `known` maps fields to their training categories."""
        from creditflow.binning.variable import category_key

        out = []
        for i, rule in enumerate(self.rules):
            for name, values in rule.condition.text_values().items():
                if name not in known:
                    continue
                unseen = sorted(v for v in values if category_key(v) not in known[name])
                if unseen:
                    seen = sorted(k for k in known[name] if k is not None)
                    shown = ", ".join(repr(v) for v in seen[:8]) + (", ..." if len(seen) > 8 else "")
                    out.append(f"{rule.at}rule {rule.code!r} (rules[{i}]) compares {name!r} with {', '.join(map(repr, unseen))}, "
                               f"never seen in training ({shown})")
        return out

    def to_dict(self) -> dict:
        return {
            "version": self.version, "description": self.description,
            "cutoffs": {"approve": self.cutoffs.approve, "review": self.cutoffs.review},
            "rules": [r.to_dict() for r in self.rules], "fields": [f.to_dict() for f in self.fields],
        }


def _bound_text(lo: float | None, hi: float | None) -> str:
    if lo is None and hi is None:
        return "accepts any number"
    if lo is None:
        return f"accepted up to {hi:g}"
    if hi is None:
        return f"accepted from {lo:g}"
    return f"accepted from {lo:g} to {hi:g}"


# ---------------------------------------------------------------------------- loading
def load_policy(path: str | Path) -> Policy:
    """Read and check a policy YAML file (safe loader; no code is ever run)."""
    path = Path(path)
    if not path.is_file():
        raise PolicyError("no such policy file", file=str(path))
    data = path.read_bytes()
    if len(data) > MAX_POLICY_BYTES:
        raise PolicyError(f"policy file is larger than {MAX_POLICY_BYTES:,} bytes", file=str(path))
    try:
        doc = yaml.load(utf8_text(data, path, "policy file", PolicyError),  # noqa: S506 (a SafeLoader)
                        Loader=_UniqueKeyLoader)
    except _RepeatedKey as exc:
        raise PolicyError(str(exc), file=str(path),
                          hint="YAML would silently keep the last one: write each key once") from None
    except yaml.YAMLError as exc:
        raise PolicyError(f"not valid YAML: {' '.join(str(exc).split())}", file=str(path),
                          hint=yaml_hint(exc)) from None
    return policy_from_dict(doc, source=str(path))


class _RepeatedKey(yaml.YAMLError):
    """A key written twice in one mapping of a policy file."""


class _Located(dict):
    """A mapping read from a policy file, with the line it starts on and the line of each key (for messages)."""

    line: int | None = None
    key_lines: dict[str, int]


def _line(doc: Any, key: Any = None) -> str:
    """"line N: " for `doc` (a mapping read from a file) or, with `key`, for that key of it; else empty."""
    line = getattr(doc, "key_lines", {}).get(str(key)) if key is not None else None
    return line_prefix(line or getattr(doc, "line", None))


class _UniqueKeyLoader(yaml.SafeLoader):
    """The safe loader, refusing a key written twice in one mapping (`cutoffs:` twice, `approve:` twice in
    one `cutoffs`, a field declared twice): YAML keeps the last value, so the policy would silently decide
    on a cutoff, rule list or field bounds other than the one read first."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        lines: dict[Any, int] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            line = key_node.start_mark.line + 1
            try:
                first = lines.get(key)
            except TypeError:  # an unhashable key: the base loader says so
                break
            if first is not None:
                raise _RepeatedKey(f"line {line}: the key {key!r} is written twice in one mapping (first on "
                                   f"line {first})")
            lines[key] = line
        return super().construct_mapping(node, deep=deep)

    def construct_located_map(self, node: yaml.MappingNode) -> Any:
        data = _Located()
        data.line = node.start_mark.line + 1
        data.key_lines = {str(k.value): k.start_mark.line + 1 for k, _ in node.value if isinstance(k, yaml.ScalarNode)}
        yield data
        data.update(self.construct_mapping(node))


_UniqueKeyLoader.add_constructor("tag:yaml.org,2002:map", _UniqueKeyLoader.construct_located_map)


def policy_from_dict(doc: Any, source: str | None = None) -> Policy:
    """Build a `Policy` from its parsed YAML/JSON form, refusing unknown keys and bad values."""
    if not isinstance(doc, dict):
        raise PolicyError("a policy must be a mapping with version, cutoffs and rules", file=source)
    _known(doc, {"version", "description", "cutoffs", "rules", "fields"}, "the policy", source)
    version = doc.get("version")
    if not isinstance(version, str) or not version.strip():
        raise PolicyError(f"{_line(doc, 'version')}'version' must be non-empty text (quote it: version: \"2024.1\")",
                          file=source)
    cutoffs = _cutoffs(doc.get("cutoffs"), source, _line(doc, "cutoffs"))
    declared = _mapping(doc.get("fields"), "fields", source, _line(doc, "fields"))
    fields = tuple(_field(name, spec, source, _line(declared, name)) for name, spec in declared.items())
    raw_rules = doc.get("rules") or []
    if not isinstance(raw_rules, list):
        raise PolicyError(f"{_line(doc, 'rules')}'rules' must be a list", file=source)
    rules = tuple(_rule(i, r, source) for i, r in enumerate(raw_rules))
    first: dict[str, Rule] = {}
    for rule in rules:
        if rule.code in first:
            raise PolicyError(f"{rule.at}rule codes must be unique; repeated: [{rule.code!r}]"
                              + (f" (first on line {first[rule.code].line})" if first[rule.code].line else ""),
                              file=source)
        first[rule.code] = rule
    return Policy(version=version.strip(), cutoffs=cutoffs, rules=rules, fields=fields,
                  description=_text(doc.get("description"), "'description'", source), source=source)


def _known(doc: dict, allowed: set[str], where: str, source: str | None, hint: str | None = None) -> None:
    unknown = [k for k in doc if k not in allowed]
    if unknown:
        import difflib

        meant = [f"{k!r} for {m[0]!r}" for k in unknown
                 if (m := difflib.get_close_matches(str(k), sorted(allowed), n=1, cutoff=0.75))]
        raise PolicyError(f"{_line(doc, unknown[0])}unknown key(s) {sorted(str(k) for k in unknown)} in {where}; "
                          f"allowed: {sorted(allowed)}" + (f"; a typo? {', '.join(meant)}" if meant else ""),
                          file=source, hint=hint)


def _text(value: Any, what: str, source: str | None) -> str:
    """A description: text (a number, as YAML reads `description: 2024`, is written as text); absent is empty."""
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise PolicyError(f"{what} must be text, not {value!r}", file=source, hint="quote it")
    return str(value)


def _mapping(value: Any, name: str, source: str | None, at: str = "") -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise PolicyError(f"{at}'{name}' must be a mapping", file=source)
    return value


def _integer(value: Any, what: str, source: str | None, at: str = "") -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (
            isinstance(value, float) and not math.isfinite(value)):
        raise PolicyError(f"{at}{what} must be a number, not {value!r}", file=source)
    if float(value) != int(value):
        raise PolicyError(f"{at}{what} must be a whole score, not {value!r}", file=source)
    return int(value)


def _cutoffs(value: Any, source: str | None, at: str = "") -> Cutoffs:
    doc = _mapping(value, "cutoffs", source, at)
    at = _line(doc) or at
    _known(doc, {"approve", "review"}, "'cutoffs'", source)
    if "approve" not in doc:
        raise PolicyError(f"{at}'cutoffs' needs 'approve' (the lowest score approved)", file=source)
    approve = _integer(doc["approve"], "cutoffs.approve", source, _line(doc, "approve"))
    review = _integer(doc.get("review", approve), "cutoffs.review", source, _line(doc, "review"))
    if review > approve:
        raise PolicyError(f"{_line(doc, 'review')}cutoffs.review ({review}) must not be above cutoffs.approve "
                          f"({approve})", file=source)
    return Cutoffs(approve=approve, review=review, line=getattr(doc, "line", None))


def _rule(i: int, doc: Any, source: str | None) -> Rule:
    if not isinstance(doc, dict):
        raise PolicyError(f"rules[{i}] must be a mapping with code, when and action", file=source)
    at = _line(doc)
    allowed = {"code", "when", "action", "description"}
    when = doc.get("when")
    split = (isinstance(when, str) and when.count("(") + when.count("[") > when.count(")") + when.count("]")
             and all(v is None for k, v in doc.items() if k not in allowed))
    # `{code: X, when: A in (1, 2), action: review}`: inside {...} a comma ends the value, and the rest of the
    # list reads as keys without values
    whole = ", ".join([str(when), *(str(k) for k in doc if k not in allowed)])
    _known(doc, allowed, f"rules[{i}]", source,
           hint=f"inside {{ ... }} a comma ends a value: quote the condition, when: \"{whole}\", or write the rule "
                "one key a line" if split else None)
    code = doc.get("code")
    if code is None or isinstance(code, str) and not code.strip():
        raise PolicyError(f"{at}rules[{i}] needs a 'code' (text, e.g. HR01)", file=source)
    if not isinstance(code, str):
        raise PolicyError(f"{at}rules[{i}]: 'code' must be text, not {code!r}", file=source,
                          hint=f"quote it: code: \"{code}\"" if isinstance(code, (int, float)) else None)
    bad = next((c for c in code if c == CODE_SEPARATOR or not c.isprintable()), None)
    if bad is not None:
        # `policy simulate --out` lists the rules fired as codes joined by ';': "HR;01;HR02" would read as three
        raise PolicyError(f"{at}rule {code!r} (rules[{i}]): a rule code may not hold {bad!r} (rules_fired lists codes "
                          f"joined by {CODE_SEPARATOR!r}, and a code is written on one line)", file=source)
    action = doc.get("action")
    if action not in RULE_ACTIONS:
        raise PolicyError(f"{at}rule {code!r} (rules[{i}]): action must be one of {list(RULE_ACTIONS)}, "
                          f"not {action!r}", file=source)
    try:
        condition = Condition.parse(doc.get("when"))
    except ConditionError as exc:
        raise PolicyError(f"{_line(doc, 'when')}rule {code!r} (rules[{i}]): {exc.reason}", file=source) from None
    return Rule(code=code.strip(), condition=condition, action=action,
                description=_text(doc.get("description"), f"{at}rule {code!r} (rules[{i}]): 'description'", source),
                line=getattr(doc, "line", None))


def _field(name: Any, spec: Any, source: str | None, at: str = "") -> FieldSpec:
    if not isinstance(name, str) or not name:
        raise PolicyError(f"{at}field names must be text, not {name!r}", file=source)
    spec = _mapping(spec, f"fields.{name}", source, at)
    _known(spec, {"type", "required", "nullable", "min", "max"}, f"fields.{name}", source)
    kind = spec.get("type", "number")
    if kind not in ("number", "string"):
        raise PolicyError(f"{_line(spec, 'type') or at}fields.{name}.type must be number or string, not {kind!r}",
                          file=source)
    bounds = {}
    for key in ("min", "max"):
        v = spec.get(key)
        if v is not None:
            if kind != "number" or isinstance(v, bool) or not isinstance(v, (int, float)):
                raise PolicyError(f"{_line(spec, key) or at}fields.{name}.{key} must be a number (number fields only)",
                                  file=source)
            bounds[key] = float(v)
    if "min" in bounds and "max" in bounds and bounds["min"] > bounds["max"]:
        raise PolicyError(f"{at}fields.{name}: min is above max", file=source)
    flags = {}
    for key, default in (("required", True), ("nullable", False)):
        v = spec.get(key, default)
        if not isinstance(v, bool):
            raise PolicyError(f"{_line(spec, key) or at}fields.{name}.{key} must be true or false", file=source)
        flags[key] = v
    return FieldSpec(name=name, type=kind, **flags, **bounds)

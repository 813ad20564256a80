"""Reason codes: the principal reasons (at most four) behind each score, taken from what the model scored.

Each model variable gets an *impact* in score points: how far the applicant's own value pulled the
score below a stored reference. Reasons are the variables with the largest positive impacts.

* Scorecard: reference points per variable are the variable's maximum points (``"max"``, the default
  for the WOE scorecard), the points that only 5% of training applicants beat (``"p95"``, the default
  for the boosted scorecard, whose best bin can be a tail of 0.5% of the rows: against it every
  applicant would get the same first reason), or the average points of training applicants scoring
  just above a cutoff (``reference="cutoff"``); impact = reference points - the applicant's points. A boosted scorecard's interaction tables ("A × B") are
  reason units of their own, with the same kind of reference (best cell, top-5% cell, or mean cell points); their
  code and text join the two variables' (``R07*R09``, "text A × text B"). A table crossing a protected
  variable is never a reason.
* GBDT: exact TreeSHAP contributions (log-odds of bad, equal to LightGBM's ``pred_contrib``) minus
  their average over a reference population (the training rows, or those just above a cutoff),
  turned into points with the scaling factor (and the Platt slope): only contributions pushing
  towards "bad" are reasons.

Variables marked protected are never reasons. Texts come from a versioned reason-code table
(``reason_codes.json``: code, variable, text, missing text, version), by default the field
dictionary's label; a missing value says so ("PAY_0 (repayment status): missing"), and so does a
declared special value of a scorecard variable ("x_125 (...)：特殊值 -1", code ``R01S``). The bundle keeps
the settings in ``reasons.json``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from creditflow.binning.process import as_frame, refuse_infinite
from creditflow.data.errors import BundleError, CreditflowError, SchemaError

REASONS_FILE = "reasons.json"
CODES_FILE = "reason_codes.json"
N_REASONS = 4
MIN_IMPACT = 1e-9  # points; smaller pulls are not reasons
MAX_REFERENCE_ROWS = 20_000
REFERENCES = ("auto", "max", "p95", "mean", "cutoff")
TOP_SHARE = 0.05  # "p95": the points that at most this share of training applicants beat
PAIR_CODE_SEP = "*"  # the code of interaction table "a × b" is code(a) * code(b), e.g. R03*R07
PAIR_TEXT_SEP = " × "


# ------------------------------------------------------------------------------------------- code table
@dataclass
class ReasonCode:
    """One variable's reason code and human text (and those used when its value is missing, or one of its
    declared special values: empty when it has none, or in a table stored before special codes existed, whose
    special rows then read as its regular ones)."""

    code: str
    variable: str
    text: str
    missing_code: str
    missing_text: str
    version: int = 1
    special_code: str = ""
    special_text: str = ""

    def to_dict(self) -> dict:
        # without special values the entry is stored as before: the same table, the same model version
        out = asdict(self)
        if not self.special_code:
            del out["special_code"], out["special_text"]
        return out


def missing_text(label: str) -> str:
    """The reason text of a missing value: "PAY_0 (repayment status): missing", or "x_131 (近3个月查询次数)：缺失"
    when the label is Chinese (a dictionary's meaning), so a Chinese reason reads in one language."""
    if any("\u4e00" <= ch <= "\u9fff" for ch in label):
        return f"{label}：缺失"
    return f"{label}: missing"


def special_text(label: str, values: Sequence[float] = ()) -> str:
    """The reason text of a declared special value: "x_125 (...): special value -1", or "...：特殊值 -1" when
    the label is Chinese; without the value when there are several (one code covers them all)."""
    shown = f" {float(values[0]):g}" if len(values) == 1 else ""
    if any("\u4e00" <= ch <= "\u9fff" for ch in label):
        return f"{label}：特殊值{shown}"
    return f"{label}: special value{shown}"


def _special_values(model: Any, var: str) -> list[float]:
    """The declared special values of a scorecard variable (none for GBDT, whose reasons are TreeSHAP's)."""
    bins = getattr(getattr(model, "binning_", None), "bins_", None) or {}
    return list(bins[var].special_values) if var in bins else []


@dataclass
class ReasonCodes:
    """The versioned reason-code table stored as ``reason_codes.json``."""

    version: int = 1
    codes: list[ReasonCode] = field(default_factory=list)

    @classmethod
    def default(cls, model: Any) -> ReasonCodes:
        """R01, R02, ... in the model's variable order, with the field dictionary's label as text (R01M for a
        missing value, R01S for a special value, where the variable has declared ones)."""
        d = model.dictionary_
        out = []
        for i, var in enumerate(model.features_, start=1):
            label = d.label(var)
            specials = _special_values(model, var)
            out.append(ReasonCode(f"R{i:02d}", var, label, f"R{i:02d}M", missing_text(label),
                                  special_code=f"R{i:02d}S" if specials else "",
                                  special_text=special_text(label, specials) if specials else ""))
        return cls(version=1, codes=out)

    def by_variable(self) -> dict[str, ReasonCode]:
        return {c.variable: c for c in self.codes}

    def to_dict(self) -> dict:
        return {"version": self.version, "codes": [c.to_dict() for c in self.codes]}

    @classmethod
    def from_dict(cls, data: Mapping) -> ReasonCodes:
        try:
            return cls(version=int(data["version"]), codes=[ReasonCode(**c) for c in data["codes"]])
        except (KeyError, TypeError, ValueError) as exc:
            raise BundleError(f"{CODES_FILE} is malformed: {exc}") from None

    def to_frame(self) -> pd.DataFrame:
        """The table to edit; special_code and special_text columns only when a variable has special values."""
        cols = ["code", "variable", "text", "missing_code", "missing_text", "version"]
        if any(c.special_code for c in self.codes):
            cols[5:5] = ["special_code", "special_text"]
        return pd.DataFrame([asdict(c) for c in self.codes], columns=cols)

    def edited(self, frame: pd.DataFrame, source: str | None = None) -> tuple[ReasonCodes, int]:
        """A new version with the rows of `frame` (variable, code, text[, missing_code, missing_text, special_code,
        special_text]) applied (special codes only to variables that have them).

        Variables not in `frame` keep their entries; returns the table and how many entries changed.
        """
        need = {"variable", "code", "text"}
        if not need <= set(frame.columns):
            raise CreditflowError(f"reason-code table needs columns {sorted(need)}; found {list(frame.columns)}",
                                  file=source)
        current = self.by_variable()
        new_version = self.version + 1
        changed = 0
        row_of: dict[str, int] = {}
        # rows are counted like everywhere in creditflow: 1 is the first row below the header
        for i, rec in enumerate(frame.to_dict(orient="records"), start=1):
            var = _text(rec.get("variable"))
            if var not in current:
                raise CreditflowError(f"variable {var!r} is not a model variable", file=source, row=i,
                                      column="variable")
            if var in row_of:
                raise CreditflowError(f"variable {var!r} appears in rows {row_of[var]} and {i}: give each variable "
                                      "one row", file=source, row=i, column="variable")
            old = current[var]
            code, text = _text(rec.get("code")), _text(rec.get("text"))
            if not code or not text:
                raise CreditflowError("code and text must not be empty", file=source, row=i)
            label_missing = _text(rec.get("missing_text")) or missing_text(text)
            entry = ReasonCode(code, var, text, _text(rec.get("missing_code")) or f"{code}M", label_missing,
                               old.version)
            if old.special_code:
                entry.special_code = _text(rec.get("special_code")) or f"{code}S"
                entry.special_text = _text(rec.get("special_text")) or special_text(text)
            elif _text(rec.get("special_code")) or _text(rec.get("special_text")):
                raise CreditflowError(f"variable {var!r} has no special values: leave its special_code and "
                                      "special_text empty", file=source, row=i, column="special_code")
            fields = ("code", "text", "missing_code", "missing_text", "special_code", "special_text")
            if [getattr(entry, f) for f in fields] != [getattr(old, f) for f in fields]:
                entry.version = new_version
                changed += 1
            current[var] = entry
            row_of[var] = i
        codes = [current[c.variable] for c in self.codes]
        seen: dict[str, str] = {}
        for c in codes:
            if c.code == c.missing_code:  # the code would no longer say whether the value was missing
                raise CreditflowError(f"variable {c.variable!r} has the code {c.code!r} for both its values and "
                                      "its missing value", file=source, column="missing_code", row=row_of.get(c.variable))
            if c.special_code in (c.code, c.missing_code):
                raise CreditflowError(f"variable {c.variable!r} has the code {c.special_code!r} for both its special "
                                      "values and its other or missing values", file=source, column="special_code",
                                      row=row_of.get(c.variable))
            keys = [(c.code, "code"), (c.missing_code, "missing_code")] + \
                ([(c.special_code, "special_code")] if c.special_code else [])
            for k, column in keys:
                if k in seen and seen[k] != c.variable:
                    raise CreditflowError(f"code {k!r} is used for both {seen[k]!r} and {c.variable!r}", file=source,
                                          column=column, row=row_of.get(c.variable, row_of.get(seen[k])))
                seen[k] = c.variable
        return ReasonCodes(version=new_version if changed else self.version, codes=codes), changed


def _text(v: Any) -> str:
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return ""
    return str(v).strip()


# ------------------------------------------------------------------------------------------- settings
@dataclass
class ReasonSettings:
    """How impacts are measured (``reasons.json``): reference kind, its per-variable values, protected variables."""

    method: str = "points"  # points (scorecard) | shap (gbdt)
    reference: str = "max"  # max | p95 (scorecards) | mean (gbdt) | cutoff
    values: dict[str, float] = field(default_factory=dict)  # points (scorecard) or margin contribution (gbdt)
    cutoff: float | None = None
    band: float | None = None
    rows: int = 0
    protected: list[str] = field(default_factory=list)
    version: int = 1

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping) -> ReasonSettings:
        try:
            return cls(**dict(data))
        except TypeError as exc:
            raise BundleError(f"{REASONS_FILE} is malformed: {exc}") from None


def _kind(model: Any) -> str:
    if getattr(model, "model_type", "") == "gbdt" or hasattr(model, "contributions"):
        return "shap"
    if hasattr(model, "_compiled") and hasattr(model, "binning_"):
        return "points"
    raise CreditflowError(f"reason codes are not available for model type {getattr(model, 'model_type', '?')!r}")


# ------------------------------------------------------------------------------------------- reasoner
class Reasoner:
    """Impacts (score points below the reference) and reason codes of a fitted model."""

    def __init__(self, model: Any, settings: ReasonSettings | None = None, codes: ReasonCodes | None = None) -> None:
        self.model = model
        self.kind = _kind(model)
        if settings is None:
            reference = default_reference(model)
            settings = ReasonSettings(method=self.kind, reference=reference,
                                      values=top_reference(model) if reference == "p95" else {})
        self.settings = settings
        self.codes = codes or ReasonCodes.default(model)
        self.features = list(model.features_)
        missing = [v for v in self.features if v not in self.codes.by_variable()]
        if missing:
            raise BundleError(f"{CODES_FILE} has no entry for model variable(s) {missing[:5]}")
        # interaction tables of a boosted scorecard ("A × B"): each table is a reason unit of its own
        plans = (getattr(model, "_pair_plan", None) or []) if self.kind == "points" else []
        self.pairs = [plan[0] for plan in plans]
        self._pair_points = [plan[2] for plan in plans]
        self.units = self.features + [t.name for t in self.pairs]
        self.unit_variables = [[v] for v in self.features] + [[t.a, t.b] for t in self.pairs]
        protected = set(self.settings.protected)
        # a unit is a reason only when none of its variables is protected: a table crossing a protected
        # variable is never a reason (crediting its points to the partner would make the partner a proxy)
        self._allowed = np.asarray([not (set(vs) & protected) for vs in self.unit_variables])
        self._ref = np.asarray([float(self.settings.values.get(u, 0.0)) for u in self.units])
        if self.kind == "points" and self.settings.reference == "max":
            self._ref = np.asarray([float(pts.max()) for _, _, _, pts in model._compiled]
                                   + [float(pts.max()) for pts in self._pair_points])
        by_var = self.codes.by_variable()
        entries = [by_var[v] for v in self.features]
        # code/text lookup: unit j in state m (a variable: 0 regular, 1 missing, 2 special value; a table:
        # 3 * state of a + state of b) is entry offset[j] + m; the last entry is the empty reason
        codes_, texts = [], []
        self._offset = np.zeros(len(self.units), dtype=np.intp)
        for j, e in enumerate(entries):
            self._offset[j] = len(codes_)
            codes_ += _state_codes(e)
            texts += _state_texts(e)
        for k, t in enumerate(self.pairs):
            self._offset[len(entries) + k] = len(codes_)
            ea, eb = by_var[t.a], by_var[t.b]
            for ca, ta in zip(_state_codes(ea), _state_texts(ea), strict=True):
                for cb, tb in zip(_state_codes(eb), _state_texts(eb), strict=True):
                    codes_.append(f"{ca}{PAIR_CODE_SEP}{cb}")
                    texts.append(f"{ta}{PAIR_TEXT_SEP}{tb}")
        self._empty = len(codes_)
        self._codes = np.asarray(codes_ + [""], dtype=object)
        self._texts = np.asarray(texts + [""], dtype=object)

    @classmethod
    def from_docs(cls, model: Any, docs: Mapping[str, Any] | None) -> Reasoner:
        """From a bundle's ``reasons.json`` / ``reason_codes.json`` (either may be absent: defaults)."""
        docs = docs or {}
        settings = ReasonSettings.from_dict(docs[REASONS_FILE]) if REASONS_FILE in docs else None
        codes = ReasonCodes.from_dict(docs[CODES_FILE]) if CODES_FILE in docs else None
        return cls(model, settings, codes)

    # ---- impacts ----
    def _points_scale(self) -> float:
        m = self.model
        return float(m.scaling_.factor) * float(m.calibration_.slope)

    def _check_inputs(self, frame: pd.DataFrame) -> None:
        """Refuse a table (scorecards) lacking a model column or holding an infinity in one."""
        variables = list(dict.fromkeys(v for vs in self.unit_variables for v in vs))
        lacking = [v for v in variables if v not in frame.columns]
        if lacking:
            raise SchemaError(f"{len(lacking)} model column(s) missing from the data: {lacking[:10]}",
                              column=lacking[0])
        refuse_infinite(frame, variables)

    def impacts(self, X: Any) -> tuple[np.ndarray, np.ndarray]:
        """(rows, units) impact in score points (positive = pulled the score down) and value states.

        Units are the model variables, then (boosted scorecard) its interaction tables (`units`). The
        state is 0 (regular), 1 (missing) or 2 (a declared special value) for a variable and
        3 * (state of a) + (state of b) for a table "a × b".
        """
        if self.kind == "points":
            frame = as_frame(X)
            self._check_inputs(frame)
            return self._point_impacts(frame)
        M = self.model._matrix(X)
        phi, _ = self.model.contributions(M)
        return (phi - self._ref[None, :]) * self._points_scale(), np.isnan(M).astype(np.intp)

    def _point_impacts(self, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """`impacts` of a scorecard on a frame already checked (`_check_inputs`)."""
        n = len(frame)
        pts = np.empty((n, len(self.units)))
        miss = np.empty((n, len(self.units)), dtype=np.intp)
        for j, (var, vb, _, p) in enumerate(self.model._compiled):
            idx = vb.bin_indices(frame[var])
            pts[:, j] = p[idx]
            miss[:, j] = _state(vb, idx)
        F = len(self.features)
        for k, (t, p) in enumerate(zip(self.pairs, self._pair_points, strict=True)):
            ia = t.axis_a.bin_indices(frame[t.a]).astype(np.intp)
            ib = t.axis_b.bin_indices(frame[t.b]).astype(np.intp)
            pts[:, F + k] = p[ia * len(t.axis_b.labels) + ib]
            miss[:, F + k] = 3 * _state(t.axis_a, ia) + _state(t.axis_b, ib)
        return self._ref[None, :] - pts, miss

    def _row_impacts(self, row: Mapping[str, Any]) -> tuple[np.ndarray, np.ndarray]:
        if self.kind == "points":
            pts = np.empty(len(self.units))
            miss = np.empty(len(self.units), dtype=np.intp)
            for j, (var, vb, _, p) in enumerate(self.model._compiled):
                try:
                    i = vb.bin_index(row[var])
                except KeyError:
                    raise SchemaError("model field missing from the applicant", column=var) from None
                pts[j], miss[j] = p[i], _state(vb, i)
            F = len(self.features)
            for k, (t, p) in enumerate(zip(self.pairs, self._pair_points, strict=True)):
                c = t.cell_index(row)
                nb = len(t.axis_b.labels)
                pts[F + k] = p[c]
                miss[F + k] = 3 * _state(t.axis_a, c // nb) + _state(t.axis_b, c % nb)
            return (self._ref - pts)[None, :], miss[None, :]
        M = self.model.encoder_.row(row)
        phi, _ = self.model.contributions(M)
        return (phi - self._ref[None, :]) * self._points_scale(), np.isnan(M).astype(np.intp)

    # ---- ranking ----
    def _rank(self, impact: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
        masked = np.where(self._allowed[None, :], impact, -np.inf)
        order = np.argsort(-masked, axis=1, kind="stable")[:, :n]
        top = np.take_along_axis(masked, order, axis=1)
        return order, top > MIN_IMPACT

    def table(self, X: Any, n: int = N_REASONS) -> pd.DataFrame:
        """reason_1_code, reason_1_text, ... reason_n_text per row (empty strings where fewer reasons)."""
        _check_n(n)
        if self.kind == "points" and isinstance(X, pd.DataFrame) and len(X) > TABLE_CHUNK_ROWS:
            # a row's reasons are its own: in chunks, the impact, state and ranking matrices (some 50 bytes a row per
            # variable each, 3.7 GB of peak for 2,500,000 rows of a boosted card) stay small. The whole table is
            # read and checked first, so an error names its row in the table, not in a chunk.
            frame = as_frame(X)
            self._check_inputs(frame)
            return pd.concat([self._columns(*self._point_impacts(frame.iloc[i:i + TABLE_CHUNK_ROWS]), n,
                                            X.index[i:i + TABLE_CHUNK_ROWS]) for i in range(0, len(X), TABLE_CHUNK_ROWS)])
        return self._columns(*self.impacts(X), n, X.index if isinstance(X, pd.DataFrame) else None)

    def _columns(self, impact: np.ndarray, missing: np.ndarray, n: int, index: pd.Index | None) -> pd.DataFrame:
        """The reason code and text columns of rows with these impacts and value states (`impacts`)."""
        order, valid = self._rank(impact, n)
        cols: dict[str, np.ndarray] = {}
        rows = np.arange(impact.shape[0])
        for k in range(n):
            if k < order.shape[1]:
                j = order[:, k]
                key = np.where(valid[:, k], self._offset[j] + missing[rows, j], self._empty)
            else:
                key = np.full(impact.shape[0], self._empty)
            cols[f"reason_{k + 1}_code"] = self._codes[key]
            cols[f"reason_{k + 1}_text"] = self._texts[key]
        return pd.DataFrame(cols, index=index)

    def row(self, row: Mapping[str, Any], n: int = N_REASONS) -> list[dict]:
        """The reasons of one applicant: [{rank, code, variable, text, impact (points), missing}], best first.

        For an interaction table ``variable`` is its name "a × b" and ``missing`` says whether either value is.
        """
        _check_n(n)
        impact, missing = self._row_impacts(row)
        order, valid = self._rank(impact, n)
        out = []
        for k in range(order.shape[1]):
            if not valid[0, k]:
                break
            j = int(order[0, k])
            key = int(self._offset[j] + missing[0, j])
            state = int(missing[0, j])
            out.append({"rank": k + 1, "code": str(self._codes[key]), "variable": self.units[j],
                        "text": str(self._texts[key]), "impact": round(float(impact[0, j]), 6),
                        "missing": state == 1 if j < len(self.features) else 1 in divmod(state, 3)})
        return out


TABLE_CHUNK_ROWS = 200_000
"""Rows a scorecard's reason table is computed for at a time (`Reasoner.table`)."""


def _state(vb: Any, idx: Any) -> Any:
    """0 for a regular bin (or Unseen), 1 for Missing, 2 for a special-value bin, of bin indices `idx`."""
    mi = vb.missing_index
    special = (idx > mi) & (idx <= mi + len(vb.special_values))
    return (idx == mi) * 1 + special * 2


def _state_codes(e: ReasonCode) -> list[str]:
    """The codes of a variable in states 0, 1, 2 (a table without special codes reads specials as regular)."""
    return [e.code, e.missing_code, e.special_code or e.code]


def _state_texts(e: ReasonCode) -> list[str]:
    return [e.text, e.missing_text, e.special_text or e.text]


def _check_n(n: int) -> None:
    if not isinstance(n, (int, np.integer)) or n < 1 or n > 20:
        raise CreditflowError(f"the number of reasons must be between 1 and 20, not {n!r}")


# ------------------------------------------------------------------------------------------- entry points
def reasoner_for(model: Any) -> Reasoner:
    """The `Reasoner` of a `Bundle` (its stored codes, reference and protected list) or of a model.

    A bare model uses the documents its bundle attached (GBDT models keep them) or the defaults.
    Cached on the object.
    """
    holder = model
    cached = holder.__dict__.get("_reasoner") if hasattr(holder, "__dict__") else None
    if cached is not None:
        return cached
    reasoner = Reasoner.from_docs(model.model if _is_bundle(model) else model, reason_docs_of(model))
    holder.__dict__["_reasoner"] = reasoner
    return reasoner


def _is_bundle(model: Any) -> bool:
    return hasattr(model, "files") and hasattr(model, "model")  # a creditflow Bundle


def reason_docs_of(model: Any) -> Mapping[str, Any] | None:
    """The documents holding a `Bundle`'s or a model's reason settings (``reasons.json``, ``reason_codes.json``):
    the bundle's files, or those a bare model keeps from its bundle (GBDT), else None (the defaults)."""
    return model.files if _is_bundle(model) else getattr(model, "reason_docs_", None)


def reasons_row(model: Any, row: Mapping[str, Any], n: int = N_REASONS) -> list[dict]:
    """Top `n` reasons for one applicant (dict of field -> value); `model` is a `Bundle` or a fitted model.

    Each reason: ``{"rank", "code", "variable", "text", "impact", "missing"}``, impact in score points
    (how far the value pulled the score below the reference). The same numbers as `reason_table`.
    """
    return reasoner_for(model).row(row, n)


def reason_table(model: Any, X: Any, n: int = N_REASONS) -> pd.DataFrame:
    """reason_k_code / reason_k_text columns (k = 1..n) for every row of `X`; `model` is a `Bundle` or a model."""
    return reasoner_for(model).table(X, n)


# ------------------------------------------------------------------------------------------- training
def reason_docs(
    model: Any,
    data: Any,
    *,
    protected: Sequence[str] = (),
    codes: ReasonCodes | pd.DataFrame | str | None = None,
    reference: str = "auto",
    cutoff: float | None = None,
    band: float | None = None,
) -> dict[str, dict]:
    """``reasons.json`` and ``reason_codes.json`` for a freshly fitted model, from its training rows.

    reference: "auto" (`default_reference`), "max" or "p95" (scorecards), "mean" (GBDT) or "cutoff" (applicants scoring in [cutoff, cutoff + band); band defaults to half
    the PDO). `codes`: a table (or CSV/XLSX path) of edits to the default code table.
    """
    frame = as_frame(data)
    kind = _kind(model)
    unknown = [p for p in protected if p not in frame.columns]
    if unknown:
        raise CreditflowError(f"protected variable(s) not in the training data: {unknown}", column=unknown[0])
    if reference not in REFERENCES:
        raise CreditflowError(f"reason reference must be one of {REFERENCES}, not {reference!r}")
    if reference == "auto":
        reference = default_reference(model)
    if reference in ("max", "p95") and kind == "shap":
        raise CreditflowError(f"reference {reference!r} is for scorecards; use 'mean' or 'cutoff' for a GBDT model")
    if reference == "mean" and kind == "points":
        raise CreditflowError("reference 'mean' is for GBDT models; use 'max', 'p95' or 'cutoff' for a scorecard")
    settings = ReasonSettings(method=kind, reference=reference, protected=[str(p) for p in protected])
    if reference == "p95":
        settings.values = top_reference(model)
    elif reference != "max":
        sample = _reference_rows(model, frame, reference, cutoff, band, settings)
        base = Reasoner(model, ReasonSettings(method=kind, reference="mean"))  # zero reference
        impact, _ = base.impacts(sample)
        if kind == "points":  # impact = -points against a zero reference (variables and interaction tables)
            settings.values = {v: float(-impact[:, j].mean()) for j, v in enumerate(base.units)}
        else:
            phi = impact / base._points_scale()
            settings.values = {v: float(phi[:, j].mean()) for j, v in enumerate(base.features)}
        settings.rows = len(sample)
    table = ReasonCodes.default(model)
    if codes is not None:
        if isinstance(codes, ReasonCodes):
            table = codes
        else:
            edits, source = _read_codes(codes)
            table, _ = table.edited(edits, source)
            table.version = 1
            for c in table.codes:
                c.version = 1
    Reasoner(model, settings, table)  # validates the pair
    return {REASONS_FILE: settings.to_dict(), CODES_FILE: table.to_dict()}


def top_points(points: np.ndarray, counts: np.ndarray, share: float = TOP_SHARE) -> float:
    """The lowest points value (of a bin holding training rows) that at most `share` of the rows exceed."""
    points = np.asarray(points, dtype=float)
    counts = np.asarray(counts, dtype=float)
    seen = counts > 0
    if not seen.any():
        return float(points.max())
    values, inverse = np.unique(points[seen], return_inverse=True)
    shares = np.bincount(inverse, weights=counts[seen]) / counts[seen].sum()
    above = np.cumsum(shares[::-1]) - shares[::-1]  # share of rows above each value, highest value first
    return float(values[::-1][above <= share + 1e-12][-1])


def top_reference(model: Any, share: float = TOP_SHARE) -> dict[str, float]:
    """The "p95" reference of a points model from its training counts: per variable (and interaction
    table), the points that at most `share` of the training rows beat."""
    out = {}
    for var, vb, _, pts in model._compiled:
        out[var] = top_points(pts, np.asarray(vb.goods, dtype=float) + np.asarray(vb.bads, dtype=float), share)
    for t, _, pts, _, _ in getattr(model, "_pair_plan", None) or []:
        # bundles saved before cell counts were kept: the table's best cell, as "max" does
        out[t.name] = top_points(pts, t.counts, share) if t.counts is not None else float(np.max(pts))
    return out


def default_reference(model: Any) -> str:
    """The reference "auto" means: "max" for the WOE scorecard (its bins hold at least a few percent of
    the rows), "p95" for the boosted scorecard (its bins can be tails of 0.5%), "mean" for GBDT."""
    if _kind(model) == "shap":
        return "mean"
    return "max" if getattr(model, "model_type", "") == "scorecard" else "p95"


def _reference_rows(model: Any, frame: pd.DataFrame, reference: str, cutoff: float | None, band: float | None,
                    settings: ReasonSettings) -> pd.DataFrame:
    rows = frame
    if reference == "cutoff":
        if cutoff is None:
            raise CreditflowError("reference 'cutoff' needs a cutoff score")
        s = model.scaling_
        if not s.min_score <= cutoff <= s.max_score:
            raise CreditflowError(f"cutoff {cutoff} is outside the score scale {s.min_score}-{s.max_score}")
        width = float(band) if band is not None else float(s.pdo) / 2
        score = model.scores(frame)["score"].to_numpy()
        near = (score >= cutoff) & (score < cutoff + width)
        if near.sum() < 30:
            raise CreditflowError(f"only {int(near.sum())} training rows score in [{cutoff}, {cutoff + width}); "
                                  "choose another cutoff or a wider band")
        rows = frame.loc[near]
        settings.cutoff, settings.band = float(cutoff), width
    if len(rows) > MAX_REFERENCE_ROWS:
        pick = np.sort(np.random.default_rng(0).choice(len(rows), MAX_REFERENCE_ROWS, replace=False))
        rows = rows.iloc[pick]
    return rows


def _read_codes(codes: pd.DataFrame | str) -> tuple[pd.DataFrame, str | None]:
    if isinstance(codes, pd.DataFrame):
        return codes, None
    from creditflow.data.io import read_frame

    return read_frame(codes, sheet_option=None), str(codes)


def supports_reasons(model: Any) -> bool:
    """Whether reason codes can be computed for this model (scorecards and GBDT)."""
    try:
        _kind(model)
    except CreditflowError:
        return False
    return True


def bundle_reason_docs(model: Any, data: Any, settings: Mapping[str, Any] | None = None) -> dict[str, dict]:
    """`reason_docs` for `workflow.train`: {} for a model without reason codes unless settings were asked for.

    settings: protected (list or "A,B"), codes (table or path), reference ("auto", "max", "mean",
    "cutoff" or "cutoff:620"), cutoff, band.
    """
    settings = dict(settings or {})
    asked = settings.get("protected") or settings.get("codes") or settings.get("reference") not in (None, "auto")
    if not supports_reasons(model) and not asked:
        return {}
    protected = settings.pop("protected", None) or []
    if isinstance(protected, str):
        protected = [p for p in protected.split(",") if p.strip()]
    protected = [str(p).strip() for p in protected]
    reference = str(settings.pop("reference", None) or "auto")
    cutoff = settings.pop("cutoff", None)
    if reference.startswith("cutoff:"):
        reference, _, text = reference.partition(":")
        try:
            cutoff = float(text)
        except ValueError:
            raise CreditflowError(f"reason reference 'cutoff:SCORE' needs a number, not {text!r}") from None
    unknown = set(settings) - {"codes", "band"}
    if unknown:
        raise CreditflowError(f"unknown reason settings: {sorted(unknown)}")
    return reason_docs(model, data, protected=protected, codes=settings.get("codes"), reference=reference,
                       cutoff=cutoff, band=settings.get("band"))

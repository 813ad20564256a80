"""The train and score journeys shared by the CLI, the demo and notebooks."""

from __future__ import annotations

import contextlib
import json
import warnings
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from creditflow.bundle import bundle_blobs, content_version, load_model, save_bundle
from creditflow.data.errors import (
    CreditflowError,
    DataError,
    MissingColumnWarning,
    SchemaError,
    UnseenCategoryWarning,
    located,
)
from creditflow.data.excel import naming_sheet
from creditflow.data.io import Dataset, read_frame, read_table, text_columns
from creditflow.data.output import atomic_path, write_frame
from creditflow.evaluate import SplitMetrics, evaluate
from creditflow.models.base import recoded_columns

MODEL_DIR = "model"
METRICS_FILE = "metrics.json"
REPORT_HTML = "report.html"
SPLITS_FILE = "splits.csv"
SPLIT_NAMES = ("train", "test", "oot")
REPORT_XLSX = "report.xlsx"


def make_model(kind: str, seed: int = 42, **params: Any) -> Any:
    """A fresh model of the named kind."""
    if kind == "scorecard":
        from creditflow.models.scorecard import Scorecard

        return Scorecard(**params)
    from creditflow.models.base import MODEL_TYPES, model_class

    if kind not in MODEL_TYPES:
        raise DataError(f"unknown model kind {kind!r}; choose one of {sorted(MODEL_TYPES)}")
    cls = model_class(kind)
    return cls(random_state=seed, **params) if "random_state" in cls().get_params() else cls(**params)


def model_params(kind: str, settings: list[str] | dict[str, Any], seed: int = 42) -> dict[str, Any]:
    """Constructor arguments for `make_model(kind)` from ``KEY=VALUE`` settings (as on the command line).

    VALUE is read as JSON when it parses (``6``, ``0.05``, ``true``, ``{"PAY_0": "descending"}``),
    else kept as text (``coef_sign=any``); one that starts like JSON (``[``, ``{`` or ``"``) and does
    not parse is refused, saying where the JSON failed. A nested setting is named ``binning.max_bins`` or
    ``binning__max_bins`` (scikit-learn's ``set_params`` spelling). Unknown names are refused with
    the valid ones listed; the seed is given by `seed`, not here.
    """
    items = settings.items() if isinstance(settings, dict) else [_split_setting(s) for s in settings]
    model = make_model(kind, seed=seed)
    current = model.get_params(deep=False)
    valid = sorted(k for k in current if k not in ("random_state", "dictionary"))
    nested = getattr(model, "_nested_settings", {})
    flat: dict[str, Any] = {}
    given: dict[str, tuple[Any, str]] = {}  # each setting given so far: its value and the --param that gave it
    for key, value in items:
        key = key.strip().replace(".", "__")
        _refuse_contradiction(given, key, value, nested)
        head, sep, sub = key.partition("__")
        if head == "random_state" and "random_state" in current:
            raise CreditflowError("the model's random_state is set by --seed (seed= in Python), not as a parameter")
        if head not in valid:
            hint = ("; a trend per column of this card is binning.monotonic.COLUMN=TREND"
                    if head == "monotone" and "binning" in nested else "")
            raise CreditflowError(f"{kind} has no parameter {head!r}; its parameters are {', '.join(valid)}{hint}")
        if sep and head in nested and "__" in sub:
            # one entry of a mapping setting, e.g. binning.monotonic.x_002=descending
            name, _, entry = sub.partition("__")
            key = f"{head}__{name}"
            flat[key] = {**_setting_mapping(flat.get(key, _nested_value(current[head], name)), f"{head}.{name}"),
                         entry: value}
        elif sep and head not in nested:
            # one entry of a mapping parameter, e.g. monotone.PAY_0=descending or user_splits.AGE=[30,40]
            base = flat.get(head, current[head])
            if base is None:
                base = {}
            if not isinstance(base, Mapping):
                raise CreditflowError(f"parameter {head!r} is not a mapping: give it whole, e.g. {head}=<JSON>")
            flat[head] = {**base, sub: value}
        else:
            flat[key] = value
    try:
        model.set_params(**flat)
    except ValueError as exc:
        raise CreditflowError(f"bad parameter for {kind}: {exc}") from None
    own = model.get_params(deep=False)
    params = {k: own[k] for k in dict.fromkeys(k.split("__")[0] for k in flat)}
    from creditflow.models.base import coerce_settings

    for head, cls in nested.items():
        if head in params:
            try:
                coerce_settings(params[head], cls, head).check()
            except CreditflowError as exc:
                text = str(exc).removeprefix(f"{head} setting ")
                import dataclasses

                # "max_bins must be ..." names the setting as --param writes it: "shape.max_bins must be ..."
                named = next((f.name for f in dataclasses.fields(cls) if text.startswith(f"{f.name} ")), None) \
                    if dataclasses.is_dataclass(cls) else None
                raise CreditflowError(text if text.startswith(f"{head}.") else f"{head}.{text}" if named
                                      else f"parameter {head!r}: {text}") from None
    return params


def _refuse_contradiction(given: dict[str, tuple[Any, str]], key: str, value: Any, nested: Mapping) -> None:
    """Refuse what would silently drop a setting: one setting given two values (shape.max_bins=5 and later
    shape.max_bins=6, or max_bins in a whole shape={...}), a parameter given whole twice, and a whole
    mapping given after one of its entries, which replaces them (monotone.PAY_0=ascending, then monotone={...};
    a nested settings group such as shape takes its entries on top of the whole in any order). A whole value
    first and then entries that add to it (binning.monotonic=none, then binning.monotonic.AGE=descending) is
    the way to combine them. `given` records each setting's value and the --param that gave it."""
    name = key.replace("__", ".")
    whole = f"{key}=*"  # the record of a whole value
    if whole in given and given[whole][0] != value and isinstance(value, Mapping):
        raise CreditflowError(f"--param {name} is given whole twice, as {given[whole][0]!r} and as {value!r}, the "
                              "second replacing the first: give it once")
    given[whole] = (value, name)
    # entries given before that the whole value would drop or change (one it holds as given is no contradiction)
    def kept(k: str, v: Any) -> bool:
        sub = k[len(key) + 2:].removesuffix("=*")
        return isinstance(value, Mapping) and sub in value and value[sub] == v

    earlier = [origin for k, (v, origin) in given.items() if k.startswith(key + "__") and origin != name
               and not kept(k, v)]
    if earlier and key not in nested:
        raise CreditflowError(f"--param {name} is given whole after {earlier[0]}, which it would silently replace: "
                              f"give {name} first and then the entries that change it, or put them in it")
    leaves = {f"{key}__{k}": v for k, v in value.items()} if isinstance(value, Mapping) and value else {key: value}
    for leaf, v in leaves.items():
        if leaf in given and given[leaf][0] != v:
            was, by = given[leaf]
            told = f"as {was!r} and as {v!r}" if by == name else f"as {was!r} (by {by}) and as {v!r} (by {name})"
            raise CreditflowError(f"--param {leaf.replace('__', '.')} is given twice, {told}: give each setting once")
        given[leaf] = (v, name)


def _nested_value(settings: Any, name: str) -> Any:
    """Setting `name` of a nested parameter's value (a settings dataclass, a dict of its fields, or None)."""
    if isinstance(settings, Mapping):
        return settings.get(name)
    return getattr(settings, name, None)


def _setting_mapping(value: Any, what: str) -> dict:
    """A mapping setting to add one entry to: text (one trend for every column) becomes its "*" entry."""
    if value is None or isinstance(value, Mapping):
        return dict(value or {})
    if what == "binning.monotonic" and isinstance(value, str):
        from creditflow.binning.variable import ALL_COLUMNS

        return {} if value == "auto" else {ALL_COLUMNS: value}
    raise CreditflowError(f"setting {what!r} is not a mapping: give it whole, e.g. {what}=<JSON>")


def _split_setting(text: str) -> tuple[str, Any]:
    key, sep, raw = str(text).partition("=")
    if not sep or not key.strip():
        raise CreditflowError(f"a model parameter is KEY=VALUE (e.g. coef_sign=any, binning.max_bins=6), not {text!r}")
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as exc:
        if raw.lstrip()[:1] in ("[", "{", '"'):
            # meant as JSON: read as text it would be refused for its type, hiding the typo
            raise CreditflowError(f"--param {key.strip()}: the value is not valid JSON ({exc.msg} at character "
                                  f"{exc.pos + 1} of {raw!r})") from None
        value = raw
    return key, value


@dataclass
class TrainResult:
    model: Any
    splits: dict[str, Dataset]
    metrics: dict[str, SplitMetrics] = field(default_factory=dict)
    out: Path | None = None

    def metrics_json(self) -> dict:
        return {"splits": {name: m.to_dict() for name, m in self.metrics.items()}}


def train(
    data: Dataset,
    out: str | Path | None = None,
    *,
    kind: str = "scorecard",
    seed: int = 42,
    test_size: float = 0.3,
    params: dict | None = None,
    progress: Callable[[str], None] | None = None,
    report: bool = False,
    reasons: dict | None = None,
    force: bool = False,
) -> TrainResult:
    """Split (train / test / out-of-time), fit, evaluate each split, and write `out/model`, `out/metrics.json`
    and `out/splits.csv`. An `out` that holds a model bundle already is refused unless `force` (a re-run cell
    would replace the champion's bundle)."""
    if out is not None:
        refuse_existing_bundle(Path(out), force)
    roles = data.roles(test_size, seed)  # also written to splits.csv
    splits = data.split(test_size=test_size, seed=seed, roles=roles)
    # checked and read as `--param` is: unknown names listed, binning.max_bins spelt with a dot or "__"
    model = make_model(kind, seed=seed, **(model_params(kind, params, seed) if params else {}))
    fit_kwargs = {"progress": progress} if progress is not None else {}
    model.fit(splits["train"], **fit_kwargs)
    warn_protected(model)
    metrics = {name: evaluate(model, ds) for name, ds in splits.items()}
    result = TrainResult(model=model, splits=splits, metrics=metrics)
    if out is not None:
        out = Path(out)
        meta = {
            "training": {
                "source": data.source, "target": data.target, "id_column": data.id_column,
                "time_column": data.time_column, "bad": data.bad_value,
                "rows": {k: len(v) for k, v in splits.items()},
                "bad_rate": {k: v.bad_rate for k, v in splits.items()}, "seed": seed, "test_size": test_size,
                "columns": {c: str(t) for c, t in data.X.dtypes.items()},
                "excluded": list(data.excluded),
            },
            "metrics": result.metrics_json()["splits"],
        }
        from creditflow.monitor.baseline import BASELINE_FILE, build_baseline

        extras = {**_schema_doc(model, data), BASELINE_FILE: build_baseline(model, splits["train"])}
        from creditflow.scoring.reasons import bundle_reason_docs

        extras.update(bundle_reason_docs(model, splits["train"], reasons))
        validation = _build_report(model, splits, data, extras, meta["training"]) if report else None
        outputs: dict[str, Callable[[Path], Any]] = {
            METRICS_FILE: lambda tmp: tmp.write_text(json.dumps(result.metrics_json(), indent=2), encoding="utf-8"),
            SPLITS_FILE: lambda tmp: write_splits(tmp, roles, data.id_column, None if data.ids is None else [data.ids]),
        }
        if validation is not None:
            validation.meta["model version"] = content_version(bundle_blobs(model, extras=extras))
            outputs[REPORT_HTML] = validation.to_html
            outputs[REPORT_XLSX] = validation.to_excel
        write_outputs(out, model, meta, extras, outputs, overwrite=force)
        result.out = out
    return result


def write_outputs(out: Path, model: Any, metadata: dict, extras: dict, outputs: Mapping[str, Callable[[Path], Any]],
                  overwrite: bool = False) -> None:
    """Write `out/model` and the other outputs of a run (file name -> writer of a path): the outputs are written
    aside first, then the bundle is swapped in and they follow it at once (renames, milliseconds), so a run stopped
    while writing them (Ctrl-C, a full disk) leaves the previous run's bundle and outputs as they were."""
    with contextlib.ExitStack() as aside:  # on an error, none is swapped in
        for name, write in outputs.items():
            write(aside.enter_context(atomic_path(out / name)))
        save_bundle(model, out / MODEL_DIR, metadata=metadata, extras=extras, overwrite=overwrite)


def bundle_as_out_message(out: Path, bundle: Path, force: str = "", name: str = "") -> str:
    """Why an output folder that is (or lies inside) a model bundle is refused: training writes `out/model` and
    its metrics, splits and report beside it, which would land inside that bundle. `name`: how `out` is named
    (`--out`), `force`: the option that replaces a bundle, when there is one."""
    where = "is a model bundle itself" if bundle == out else f"lies inside the model bundle {bundle}"
    return (f"{name or out} {where}: training writes the bundle to {out / MODEL_DIR} and metrics.json, "
            f"splits.csv and the report beside it, which would land in that bundle; to replace it give its folder "
            f"{bundle.parent}{f' (with {force})' if force else ''}, or another folder")


def bundle_holding(out: Path) -> Path | None:
    """`out` itself or its nearest ancestor that is a model bundle, or None."""
    from creditflow.bundle import is_bundle

    return next((p for p in (out, *out.parents) if is_bundle(p)), None)


def refuse_existing_bundle(out: Path, force: bool = False) -> None:
    """Refuse to train into `out` when `out/model` is a model bundle already (`force=True` replaces it), and
    always when `out` is, or lies inside, a bundle (the new bundle and outputs would be written into it)."""
    from creditflow.bundle import is_bundle

    inside = bundle_holding(out)
    if inside is not None:
        raise CreditflowError(bundle_as_out_message(out, inside, "force=True"))
    if not force and is_bundle(out / MODEL_DIR):
        raise CreditflowError(f"{out / MODEL_DIR} already holds a model bundle; pass force=True to replace it, or "
                              "train into another folder")


def protected_warning(variable: str, what: str, dictionary: Any = None) -> str:
    """The warning of a model variable that looks like a protected characteristic (`what`)."""
    label = dictionary.label(variable) if dictionary is not None else variable
    return (f"model variable {label} looks like a protected characteristic ({what}); equal-credit law in most "
            "markets forbids deciding on it: --exclude it (exclude= in Python) unless your compliance review allows it")


def warn_protected(model: Any) -> None:
    """A `ProtectedVariableWarning` for each model variable that looks like a protected characteristic."""
    from creditflow.data.errors import ProtectedVariableWarning
    from creditflow.data.protected import protected_variables

    meanings = getattr(model, "dictionary_", None)
    for var, what in protected_variables(model.features_, meanings).items():
        warnings.warn(protected_warning(var, what, meanings), ProtectedVariableWarning, stacklevel=3)


def write_splits(path: Path, roles: np.ndarray, id_column: str | None = None,
                 ids: Iterable[Any] | None = None) -> None:
    """The sample of every training row (`row`: 1-based data row of the input; the id when there is one;
    `sample`: train, test or oot), so a validator can recompute any number on the same rows.

    `ids`: the id column's values in row order, in one or more consecutive chunks (a cluster sends one per
    piece, so no machine holds every id at once); whole-number ids are written as integers either way."""
    names = np.asarray(SPLIT_NAMES, dtype=object)
    id_name = None if id_column is None else id_column if id_column not in ("row", "sample") else f"id_{id_column}"
    chunks = [None] if ids is None else ids
    with atomic_path(path) as tmp:
        at = 0
        for chunk in chunks:
            n = len(roles) if chunk is None else len(chunk)
            frame = pd.DataFrame({"row": np.arange(at + 1, at + n + 1)})
            if chunk is not None:
                frame[id_name] = _whole_ids(pd.Series(chunk).reset_index(drop=True))
            frame["sample"] = names[roles[at : at + n]]
            frame.to_csv(tmp, index=False, header=at == 0, mode="w" if at == 0 else "a", encoding="utf-8")
            at += n
        if at != len(roles):
            raise CreditflowError(f"splits: {at} ids for {len(roles)} rows")


def _whole_ids(ids: pd.Series) -> pd.Series:
    """Float ids that are whole numbers (an integer column with blanks) as integers: 17, not 17.0. Decided
    value by value, so the file is the same however the rows come in chunks."""
    if ids.dtype.kind != "f":
        return ids
    whole = (ids.notna() & (ids % 1 == 0)).to_numpy()
    out = ids.astype(object)
    out[whole] = ids[whole].astype("int64").to_numpy()
    return out


def _build_report(model: Any, splits: dict[str, Dataset], data: Dataset, docs: dict, training: dict) -> Any:
    """The validation report of a freshly trained model on its train / test / oot samples (`docs`: the
    bundle's extra documents, whose reason settings the report uses; `training`: the metadata's training
    record, whose column roles and exclusions the report lists)."""
    from creditflow.report import build_report

    source = Path(data.source).name if data.source else "a DataFrame"
    return build_report(model, splits, title=f"Validation report: {model.model_type} on {source}", reason_docs=docs,
                        training=training)


def _schema_doc(model: Any, data: Dataset) -> dict:
    """The training schema: every model input with its type and training range, for validation at scoring
    (and, where special values were declared, the range of the other values, for the service's notes)."""
    from creditflow.binning.variable import category_keys
    from creditflow.models.base import declared_special_values

    specials = declared_special_values(model, numeric_only=True)
    fields = []
    for var in model.features_:
        s = data.X[var]
        numeric = pd.api.types.is_numeric_dtype(s.dtype) and not pd.api.types.is_bool_dtype(s.dtype)
        doc: dict[str, Any] = {
            "name": var, "type": "number" if numeric else "string",
            # as the model reads it: a blank text cell given in a DataFrame is missing too (`category_keys`)
            "meaning": model.dictionary_.meaning(var),
            "missing_rate": float(s.isna().mean() if numeric else pd.isna(category_keys(s)).mean()),
        }
        if numeric:
            doc.update(min=float(s.min()), max=float(s.max()))
            regular = s[~s.isin(specials.get(var, []))]
            if regular.notna().any() and (float(regular.min()), float(regular.max())) != (doc["min"], doc["max"]):
                doc.update(regular_min=float(regular.min()), regular_max=float(regular.max()))
        fields.append(doc)
    return {"schema.json": {"id_column": data.id_column, "target": data.target, "fields": fields}}


def score_table(model_dir: str | Path | Any, data: str | Path | pd.DataFrame, out: str | Path | None = None,
                id_column: str | None = None, reasons: bool = False, n_reasons: int = 4,
                encoding: str | None = None, points: bool = False, allow_unseen: bool = False,
                sheet: str | int = 0, policy: Any = None, source: str | None = None) -> pd.DataFrame:
    """Score every row of a table with a bundle (directory or loaded `Bundle`): id (when known),
    probability, score, grade and, with `reasons`, reason_k_code / reason_k_text (k = 1..n_reasons,
    see `scoring.reasons`); input order. The model's text inputs are read as written. With `points`
    (scorecards), base_points and a points_<variable> column per variable and interaction table, which
    add up to the score before clipping to the score range. A categorical input of which every value
    present (at least `models.base.UNSEEN_MIN_ROWS`) is a category unseen in training is refused as coded unlike the
    training data, unless `allow_unseen` (they then score in the Unseen bin). `sheet`: the Excel sheet
    to read. ``attrs``: "unseen" and "all_missing" (a model input blank on every row), and
    "untrained_missing" (column -> rows missing it though no training row did: scored at its Missing bin,
    where the service refuses a null).

    With `policy` (a `creditflow.policy.Policy`, checked against the model's schema and score scale as the
    commands check it: `PolicyError`), each row is also decided as `policy simulate --out` and the service decide it: decision, score_decision (the cutoffs alone) and rules_fired (codes, ';'), after the
    other columns; a field only the policy reads, declared optional, may be absent (missing on every row,
    listed in attrs "absent"), and its `type: string` fields are read as written. `source`: the file a
    DataFrame `data` was read from, to name in errors."""
    from creditflow.bundle import Bundle, load_bundle

    bundle = model_dir if isinstance(model_dir, Bundle) else load_bundle(model_dir)
    model = bundle.model
    schema = bundle.files.get("schema.json", {})
    if isinstance(data, pd.DataFrame):
        frame = data
    else:
        frame = read_for_scoring(bundle, data, id_column=id_column, encoding=encoding, sheet=sheet, policy=policy)
        source = str(data)
    absent: list[str] = []
    with naming_sheet(source, sheet):  # the columns may be on another sheet
        if id_column is not None and id_column not in frame.columns:
            from creditflow.data.io import did_you_mean

            raise SchemaError(f"no column {id_column!r} to carry as the id{did_you_mean(id_column, frame.columns)}",
                              file=source, column=id_column)
        missing = [v for v in model.features_ if v not in frame.columns]
        if missing:
            from creditflow.data.io import misread_hint

            raise SchemaError(f"{len(missing)} model column(s) missing: {missing[:10]}", file=source,
                              column=missing[0], hint=misread_hint(frame.columns))
        if policy is not None:
            from creditflow.policy.simulate import with_absent_fields

            # as the commands and the service check it: rules on fields nobody supplies or of the wrong kind,
            # cutoffs off the model's score scale (in Python too, where no command checked it first)
            types = {str(f["name"]): str(f.get("type", "number")) for f in schema.get("fields", []) if "name" in f}
            scale = model.scaling_
            policy.check_against(types or dict.fromkeys(model.features_, "number"),
                                 (int(scale.min_score), int(scale.max_score)))
            frame, absent = with_absent_fields(policy, frame, model.features_)
            lacking = [v for v in policy.rule_fields if v not in frame.columns]
            if lacking:
                raise SchemaError(f"{len(lacking)} column(s) the policy's rules read are missing: {lacking[:10]}",
                                  file=source, column=lacking[0])
    id_col = id_column or schema.get("id_column")
    from creditflow.data.io import check_finite, check_not_nested

    check_finite(frame[model.features_], file=source)
    check_not_nested(frame, file=source, columns=model.features_)
    with located(source), warnings.catch_warnings():  # the model names the column and row; the file is known here
        # the estimators warn of a column every value of which is unseen: refused below (or allowed), by name
        warnings.simplefilter("ignore", UnseenCategoryWarning)
        warnings.simplefilter("ignore", MissingColumnWarning)  # `missing_notes` says it, with the training rate
        scored = model.scores(frame)
    if id_col and id_col in frame.columns:
        scored.insert(0, id_col, frame[id_col].to_numpy())
    if points:
        if not hasattr(model, "point_matrix"):
            raise CreditflowError(f"a {model.model_type} model has no points per variable (only scorecards do)")
        scored["base_points"] = int(model.base_points_)
        for col, values in model.point_matrix(frame).items():
            scored[f"points_{col}"] = values.to_numpy()
    if reasons:
        from creditflow.scoring.reasons import reason_table, supports_reasons

        if supports_reasons(model):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UnseenCategoryWarning)
                table = reason_table(bundle, frame, n_reasons)
            for col, values in table.items():
                scored[col] = values.to_numpy()
    unseen = getattr(model, "unseen_counts", None) or getattr(getattr(model, "binning_", None), "unseen_counts", None)
    scored.attrs["unseen"] = unseen(frame, model.features_) if unseen else {}
    n_missing = {v: int(frame[v].isna().sum()) for v in model.features_}
    if not allow_unseen:
        for var in recoded_columns(scored.attrs["unseen"], {v: len(frame) - n for v, n in n_missing.items()}):
            first = int(frame[var].notna().to_numpy().argmax())
            raise recoded_error(var, scored.attrs["unseen"][var], source, row=first + 1, example=frame[var].iloc[first])
    scored.attrs["all_missing"], scored.attrs["untrained_missing"] = missing_notes(
        schema, model.features_, len(frame), n_missing)
    if policy is not None:
        from creditflow.policy.simulate import decision_columns

        with located(source):
            columns, _ = decision_columns(policy, frame, scored["score"].to_numpy())
        for col, values in columns.items():
            scored[col] = values
        scored.attrs["absent"] = absent
    if out is not None:
        write_frame(scored, out)
    return scored


def read_for_scoring(bundle: Any, data: str | Path, *, id_column: str | None = None, encoding: str | None = None,
                     sheet: str | int = 0, policy: Any = None) -> pd.DataFrame:
    """A table to score with a loaded bundle, read as `score_table` reads it: the id column (`id_column`, else the
    training one), the model's text inputs and the policy's `type: string` fields as written ("007" stays "007",
    as the service receives it)."""
    schema = bundle.files.get("schema.json", {})
    ids = [c for c in (id_column or schema.get("id_column"),) if c]
    text = [*text_columns(schema), *(f.name for f in getattr(policy, "fields", ()) if f.type == "string")]
    return read_frame(data, encoding=encoding, sheet=sheet, ids=ids, text=text)


def missing_notes(schema: Mapping, features: list[str], rows: int,
                  missing: Mapping[str, int]) -> tuple[dict[str, float | None], dict[str, int]]:
    """Model inputs whose missing values a scored table should be warned of, from its missing counts:
    blank on every row (a column dropped upstream? each row gets its Missing bin's points; with the training
    missing rate), and missing on some rows though on no training row (scored at a Missing bin no training
    row was in; the service refuses such a null with 422; with the number of rows)."""
    trained = {f.get("name"): f.get("missing_rate") for f in schema.get("fields", []) if isinstance(f, dict)}
    blank = {v: trained.get(v) for v in features if rows > 1 and missing[v] == rows and trained.get(v) != 1.0}
    untrained = {v: missing[v] for v in features if trained.get(v) == 0.0 and v not in blank and missing[v]}
    return blank, untrained


UNSEEN_HINT = ("recode it as in training (see the bundle's binning), or pass --allow-unseen (in Python: "
               "creditflow.workflow.score_table(..., allow_unseen=True)) to score it in the Unseen bin")


def recoded_error(var: str, n: int, file: str | None, row: int | None = None, example: Any = None) -> DataError:
    """The refusal of a categorical input `recoded_columns` names (`example`: its first value, at `row`)."""
    shown = f", e.g. {example!r}" if row is not None else ""
    return DataError(f"every one of its {n:,} values is a category unseen in training{shown}: coded unlike the "
                     "training data?", file=file, column=var, row=row, hint=UNSEEN_HINT)


__all__ = ["TrainResult", "load_model", "make_model", "read_table", "score_table", "train"]

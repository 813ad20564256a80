"""`build_report`: a model and its evaluation samples in, a validation `Report` out.

The report shows itself in Jupyter and saves as one self-contained HTML page or an Excel workbook::

    report = build_report(card, {"train": data.train, "test": data.test, "oot": data.oot})
    report                      # renders inline in Jupyter
    report.to_html("report.html"); report.to_excel("report.xlsx")
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from creditflow.binning.process import check_aligned
from creditflow.data.dictionary import FieldDictionary
from creditflow.data.errors import DataError
from creditflow.data.io import Dataset, encode_target
from creditflow.data.output import atomic_path
from creditflow.data.protected import protected_variables
from creditflow.report import findings as fnd
from creditflow.report import sections_model as sm
from creditflow.report import sections_perf as sp
from creditflow.report.content import Note, Section, Table
from creditflow.report.model_view import Development, ModelView, Sample


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("creditflow")
    except PackageNotFoundError:
        return "dev"


@dataclass
class Report:
    """A built validation report: sections of tables, figures and notes, plus the headline numbers.

    `metrics` holds the numbers by area and sample, e.g. ``metrics["discrimination"]["test"]["auc"]``.
    """

    title: str
    subtitle: str
    meta: dict[str, str]
    sections: list[Section]
    metrics: dict[str, Any] = field(default_factory=dict)
    created: str = ""
    version: str = ""
    lang: str = "en"

    def section(self, key: str) -> Section:
        for s in self.sections:
            if s.key == key:
                return s
        raise KeyError(f"no section {key!r}; sections are {[s.key for s in self.sections]}")

    def tables(self) -> dict[str, Table]:
        """Every table by key, e.g. ``report.tables()["discrimination.metrics"].frame``."""
        return {t.key: t for s in self.sections for t in s.tables()}

    def table(self, key: str) -> pd.DataFrame:
        tables = self.tables()
        if key not in tables:
            raise KeyError(f"no table {key!r}")
        return tables[key].frame

    def html(self) -> str:
        """The whole report as a UTF-8 HTML document (string)."""
        from creditflow.report.html import render_page

        return render_page(self)

    def _repr_html_(self) -> str:
        from creditflow.report.html import render_fragment

        return render_fragment(self)

    def to_html(self, path: str | Path) -> Path:
        """Write one self-contained HTML file (atomically); returns the path."""
        path = Path(path)
        text = self.html()
        with atomic_path(path) as tmp:
            tmp.write_text(text, encoding="utf-8")
        return path

    def to_excel(self, path: str | Path) -> Path:
        """Write the tables (and charts) to an .xlsx workbook, one sheet per section (atomically)."""
        from creditflow.report.excel import write_workbook

        path = Path(path)
        if path.suffix.lower() != ".xlsx":
            raise DataError("the workbook must be an .xlsx file", file=str(path))
        with atomic_path(path) as tmp:
            write_workbook(self, tmp)
        return path

    def __repr__(self) -> str:
        return f"<Report {self.title!r}: {len(self.sections)} sections, {len(self.tables())} tables>"


def _target(y: Any, model: Any, name: str) -> np.ndarray:
    """An (X, y) pair's target as 0/1 (1 = bad): numbers as they are; text labels as the model was fitted on
    them (its `classes_`), else as `read_table` reads a target (good/bad, 正常/逾期 ...)."""
    values = np.asarray(y).ravel()
    if values.dtype.kind in "biuf":
        return values
    text = pd.Series(values, dtype=object).astype(str).str.strip()
    model = getattr(model, "model", model)  # a loaded bundle
    classes, bad = getattr(model, "classes_", None), getattr(model, "bad_class_", None)
    if classes is not None and all(isinstance(c, str) for c in classes):
        unknown = sorted(set(text) - set(map(str, classes)))
        if unknown:
            row = int(np.flatnonzero(text.isin(unknown).to_numpy())[0]) + 1
            raise DataError(f"sample '{name}': target label {unknown[0]!r} (first at row {row}) is not one the model "
                            f"was fitted on ({list(classes)})")
        return (text == str(bad)).to_numpy(dtype=np.int8)
    return encode_target(text.rename(f"sample '{name}' target"))


def _as_datasets(datasets: Any, model: Any = None) -> dict[str, Dataset]:
    if isinstance(datasets, Dataset):
        datasets = {"data": datasets}
    if not isinstance(datasets, Mapping) or not datasets:
        raise DataError("datasets must be a Dataset or a non-empty mapping of names to Datasets")
    out = {}
    for name, d in datasets.items():
        if d is None:
            continue
        if isinstance(d, tuple) and len(d) == 2:
            X, y = d
            try:
                check_aligned(X, y)
            except DataError as exc:
                raise DataError(f"sample '{name}': {exc.reason}", hint=exc.hint) from None
            d = Dataset(X=pd.DataFrame(X).reset_index(drop=True), y=_target(y, model, str(name)))
        if not isinstance(d, Dataset):
            raise DataError(f"sample '{name}' is a {type(d).__name__}, not a Dataset or (X, y) pair")
        try:
            check_aligned(d, None)  # a Dataset built from a table and a target Series taken apart and reordered
        except DataError as exc:
            raise DataError(f"sample '{name}': {exc.reason}", hint=exc.hint) from None
        out[str(name)] = d
    if not out:
        raise DataError("no samples to report on")
    return out


def _primary(names: list[str], primary: str | None) -> str:
    if primary is not None:
        if primary not in names:
            raise DataError(f"primary sample {primary!r} is not among {names}")
        return primary
    if "test" in names:
        return "test"
    return next((n for n in names if n != "train"), names[0])


def build_report(
    model: Any,
    datasets: Mapping[str, Dataset] | Dataset,
    *,
    primary: str | None = None,
    title: str | None = None,
    dictionary: FieldDictionary | None = None,
    meta: Mapping[str, Any] | None = None,
    reason_docs: Mapping[str, Any] | None = None,
    training: Mapping[str, Any] | None = None,
    development: Development | None = None,
) -> Report:
    """Build the validation report of a fitted model on named samples (e.g. train, test, oot).

    `model`: a fitted `Scorecard`, a loaded bundle, or any classifier with `predict_proba` and
    `feature_names_in_` (sections that need a binning then say they do not apply). `datasets`:
    name → `Dataset` with a target (or an (X, y) pair). `primary`: the sample the detailed charts
    use (default 'test', else the first sample not named 'train'). `meta`: extra lines for the header.
    `reason_docs`: documents holding the ``reasons.json`` / ``reason_codes.json`` the reason-code section
    uses (other documents are ignored; default: the bundle's own, or the model's defaults).
    `training`: the training record of the bundle's ``metadata.json`` (target, id_column, time_column and the
    excluded columns), listed in the data summary; default: the bundle's own, else the first sample's roles.
    `development`: the training sample as a bundle keeps it (score histogram, training Gini), the PSI reference
    and the Gini-drop baseline when no sample is named 'train'; default: a loaded bundle's own.
    Raises `SchemaError`/`DataError` (CLI exit 2) when a sample lacks a model column or the target.
    """
    data = _as_datasets(datasets, model)
    record = _training_record(model, training)
    merged = FieldDictionary()
    for d in [*(x.dictionary for x in data.values()), dictionary]:
        if d is not None:
            merged.meanings.update(d.meanings)
            merged.logic.update(d.logic)
    view = ModelView(model, merged)
    samples: list[Sample] = [view.sample(name, d) for name, d in data.items()]
    main = next(s for s in samples if s.name == _primary([s.name for s in samples], primary))

    disc_sec, disc = sp.discrimination(samples, main)
    cal_sec, cal = sp.calibration(samples)
    if development is None and "train" not in data:
        development = Development.of_bundle(model)
    stab_sec, stab = sp.stability(view, samples, development)
    declared = [v for v in _declared_protected(model, reason_docs) if v in view.features]
    fit = _grade_fit(view, samples, development)
    rows, cards = fnd.findings(disc, cal, stab, main.name,
                               protected=protected_variables(view.features, view.dictionary), declared=declared,
                               development_gini=development.gini if development is not None else None,
                               empty_grades=fit[:2] if fit else None,
                               binning_flags=sm.binning_flags(view, samples) if view.has_binning else None)
    sections = [
        fnd.findings_section(rows, cards, disc_sec.blocks[0], [Note(fit[2], "warn")] if fit else None),
        sm.summary_section(view, samples, _kept_out(data, record), _bad_value(data, record)),
        sm.selection_section(view),
        sm.model_section(view),
        sm.binning_section(view, samples),
        sm.points_section(view, main),
        *_reasons(model, view, main, reason_docs),
        disc_sec,
        cal_sec,
        stab_sec,
        sp.strategy(view, main),
    ]
    created = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    info = {
        "model": f"{view.model_type} with {len(view.features)} variables",
        "model version": str(getattr(view.model, "bundle_version_", "") or "not saved"),
        **_model_settings(view.model),
        "samples": " · ".join(f"{s.name} {s.n:,} rows ({s.bad_rate:.1%} bad)" for s in samples),
        "detailed sample": main.name,
        **{str(k): str(v) for k, v in (meta or {}).items()},
    }
    return Report(
        title=title or f"Model validation report — {view.model_type}",
        subtitle="Discrimination, calibration, stability and cutoff strategy, with the model's binning and points.",
        meta=info, sections=sections,
        metrics={"discrimination": disc, "calibration": cal, "stability": stab, "findings": rows},
        created=created, version=_version(),
    )


def _grade_fit(view: ModelView, samples: list[Sample],
               development: Development | None) -> tuple[str, list[str], str] | None:
    """(development sample, empty grades, what to do) when two or more grades hold none of the training rows."""
    from creditflow.scoring.scaling import empty_grades

    train = next((s for s in samples if s.name == "train"), None)
    if train is not None:
        found, name = empty_grades(view.grades, train.scored["score"].to_numpy(dtype=float)), train.name
    elif development is not None and development.histogram:
        found, name = empty_grades(view.grades, *development.score_values()), development.name
    else:
        return None
    return (name, *found) if found else None


def _declared_protected(model: Any, docs: Mapping[str, Any] | None) -> list[str]:
    """The variables declared protected in the reason settings (``reasons.json``: `docs`, else the bundle's own
    or those a model keeps)."""
    if docs is None:
        from creditflow.scoring.reasons import reason_docs_of

        docs = reason_docs_of(model)
    settings = (docs or {}).get("reasons.json") or {}
    return [str(v) for v in settings.get("protected", []) or []] if isinstance(settings, Mapping) else []


def _training_record(model: Any, training: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
    """The training record given, else a loaded bundle's own (``metadata.json``), else None."""
    if training is None and hasattr(model, "metadata") and hasattr(model, "model"):  # a loaded Bundle
        return model.metadata.get("training")
    return training


def _bad_value(data: Mapping[str, Dataset], training: Mapping[str, Any] | None) -> str | None:
    """The target's value read as bad (``--bad``, e.g. '逾期'), as training recorded it; None for a 0/1 target."""
    if training is not None:
        return None if training.get("bad") is None else str(training["bad"])
    first = next(iter(data.values()))
    return getattr(first, "bad_value", None)


def _kept_out(data: Mapping[str, Dataset], training: Mapping[str, Any] | None) -> dict[str, str]:
    """{column: role} of the columns kept out of the model: target, id, time and those the user excluded."""
    if training is None:
        first = next(iter(data.values()))
        training = {"target": first.target, "id_column": first.id_column, "time_column": first.time_column,
                    "excluded": first.excluded}
    out = {str(training[key]): role for key, role in (("target", "target"), ("id_column", "id"),
                                                       ("time_column", "time")) if training.get(key)}
    for col in training.get("excluded") or []:
        out.setdefault(str(col), "excluded by the user")
    return out


def _reasons(model: Any, view: ModelView, main: Sample, docs: Mapping[str, Any] | None) -> list[Section]:
    """The reason-code section, for models that give reasons."""
    from creditflow.scoring.reasons import Reasoner, reasoner_for, supports_reasons

    if not supports_reasons(view.model):
        return []
    reasoner = Reasoner.from_docs(view.model, docs) if docs else reasoner_for(model)
    return [sm.reasons_section(reasoner, main)]


def _model_settings(model: Any) -> dict[str, str]:
    """The fitted settings a validator asks about that the parameters alone do not tell (boosted scorecard)."""
    if getattr(model, "model_type", "") != "boosted-scorecard" or not hasattr(model, "blend_"):
        return {}
    shape = model.shape_settings_
    out = {"bins": f"at most {shape.max_bins} per variable, each at least {shape.min_bin_share:.1%} of the rows, "
                   f"monotone {shape.monotone}",
           "interaction tables": str(len(getattr(model, "pairs_", []))) + f" (at most {model.interactions})"}
    asked = model.get_params().get("blend")
    weight = f"{model.blend_:g}"
    if asked == "auto":
        info = getattr(model, "boost_info_", {}).get("blend", {})
        gains = ", ".join(f"{w} {z:+.1f}" for w, z in info.get("cv_gain_se", {}).items())
        weight += " (chosen by blend='auto': 5-fold CV log-loss" + (
            f"; gain over no blend in standard errors: {gains}, needing more than {info.get('needed_se', 2):g})"
            if gains else ")")
    out["blend with the classic card"] = weight
    return out

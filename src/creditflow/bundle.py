"""Model bundles: a directory of JSON documents (and LightGBM text models) with a SHA-256 manifest.

No pickle: every file is text a person can read, and `load_bundle` refuses a bundle whose files do
not match their recorded SHA-256 digests.
"""

from __future__ import annotations

import hashlib
import json
import platform
import time
import warnings
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from creditflow.data.errors import BundleError, BundleVersionWarning, caller_level
from creditflow.data.output import atomic_path

FORMAT = "creditflow-bundle"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"


def _default(o: Any) -> Any:
    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, np.bool_):
        return bool(o)
    if isinstance(o, Path):
        return str(o)
    if isinstance(o, datetime):
        return o.isoformat()
    raise TypeError(f"cannot store {type(o).__name__} in a bundle")


def dumps(doc: Any) -> bytes:
    """Canonical JSON bytes: sorted keys and no NaN, so equal models give equal files."""
    return (json.dumps(_clean(doc), sort_keys=True, indent=1, ensure_ascii=False, default=_default,
                       allow_nan=False) + "\n").encode("utf-8")


def _clean(o: Any) -> Any:
    """NaN and infinities have no JSON form: store them as null."""
    if isinstance(o, float) and not np.isfinite(o):
        return None
    if isinstance(o, dict):
        return {str(k): _clean(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [_clean(v) for v in o]
    return o


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def versions() -> dict[str, str]:
    """Versions of creditflow and the libraries a model depends on."""
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version()}
    for pkg in ("creditflow", "numpy", "pandas", "scikit-learn", "lightgbm"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            pass
    return out


@dataclass
class Bundle:
    """A loaded bundle: the model, every verified document, and the manifest."""

    path: Path
    model: Any
    files: dict[str, Any] = field(default_factory=dict)
    manifest: dict = field(default_factory=dict)

    @property
    def metadata(self) -> dict:
        return self.files.get("metadata.json", {})

    @property
    def model_version(self) -> str:
        return self.manifest.get("model_version", "")


def save_bundle(
    model: Any,
    path: str | Path,
    *,
    metadata: dict | None = None,
    extras: dict[str, Any] | None = None,
    overwrite: bool = False,
) -> Path:
    """Write `model` (and extra documents: dict -> JSON, str/bytes -> as is) to directory `path` atomically.

    A `path` that holds a model bundle already is refused unless `overwrite` (a re-run cell would replace
    the champion's bundle, and with it the baseline, schema and reason codes `train` stored there), as
    `creditflow train` refuses one without `--force`.

    The model version recorded in the manifest is the SHA-256 of every document but `metadata.json`
    (the model's own and the extras, such as reason settings, that change what it returns), so the
    same data, seed and settings give the same version.
    """
    if not overwrite and is_bundle(path):
        raise BundleError("already holds a model bundle; pass overwrite=True to replace it, or save to another "
                          "folder", file=str(path))
    write_bundle_files(path, bundle_blobs(model, metadata=metadata, extras=extras), model.model_type)
    return Path(path)


def bundle_blobs(model: Any, *, metadata: dict | None = None, extras: dict[str, Any] | None = None) -> dict[str, bytes]:
    """The bytes of every document `save_bundle` writes (`content_version` of them is the model version)."""
    docs: dict[str, Any] = dict(model.to_bundle())
    docs.update(extras or {})
    meta = {
        "model_type": model.model_type,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "versions": versions(),
        "features": list(model.features_),
        **(metadata or {}),
    }
    docs["metadata.json"] = meta
    return {name: doc if isinstance(doc, bytes) else doc.encode("utf-8") if isinstance(doc, str) else dumps(doc)
            for name, doc in docs.items()}


def write_bundle_files(path: str | Path, blobs: dict[str, bytes], model_type: str,
                       format_version: int = FORMAT_VERSION) -> dict:
    """Write the documents `blobs` and their manifest to directory `path` atomically; returns the manifest.

    The model version is the SHA-256 of every document but `metadata.json`. An existing `path` is
    replaced only when it is an older bundle (or empty), never another folder.
    """
    manifest = {
        "format": FORMAT,
        "format_version": format_version,
        "model_type": model_type,
        "model_version": content_version(blobs),
        "files": {name: sha256(b) for name, b in sorted(blobs.items())},
    }
    with atomic_path(Path(path), replaces=is_bundle) as tmp:
        tmp.mkdir(parents=True)
        for name, b in blobs.items():
            (tmp / name).write_bytes(b)
        (tmp / MANIFEST).write_bytes(dumps(manifest))
    return manifest


def content_version(blobs: dict[str, bytes]) -> str:
    """The model version: SHA-256 (first 16 hex digits) of every document but `metadata.json`, by name."""
    digest = hashlib.sha256()
    for name in sorted(blobs):
        if name != "metadata.json":
            digest.update(name.encode() + b"\0" + blobs[name])
    return digest.hexdigest()[:16]


def is_bundle(path: str | Path) -> bool:
    """Whether `path` is a folder holding a creditflow manifest (not any file named manifest.json)."""
    try:
        return json.loads((Path(path) / MANIFEST).read_text(encoding="utf-8")).get("format") == FORMAT
    except (OSError, ValueError, AttributeError):
        return False


def read_manifest(path: str | Path) -> dict:
    return _parse_manifest(Path(path), _manifest_bytes(Path(path)))


def _manifest_bytes(path: Path) -> bytes:
    if not path.is_dir():
        raise BundleError("not a model bundle directory", file=str(path))
    try:
        return (path / MANIFEST).read_bytes()
    except FileNotFoundError:
        inner = path / "model"  # the bundle inside a `creditflow train --out DIR` folder
        hint = f"did you mean {inner}?" if is_bundle(inner) else None
        raise BundleError(f"no {MANIFEST}: not a creditflow model bundle", file=str(path), hint=hint) from None


def _parse_manifest(path: Path, data: bytes) -> dict:
    mf = path / MANIFEST
    try:
        manifest = json.loads(data.decode("utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BundleError(f"{MANIFEST} is not valid JSON: {exc}", file=str(mf)) from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise BundleError(f"{MANIFEST} is not a {FORMAT} manifest", file=str(mf))
    version = manifest.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise BundleError(f"{MANIFEST} has no valid format_version ({version!r})", file=str(mf))
    if version > FORMAT_VERSION:
        raise BundleError(
            f"bundle format {manifest.get('format_version')} is newer than this creditflow reads ({FORMAT_VERSION})",
            file=str(mf),
        )
    files = manifest.get("files")
    if not isinstance(files, dict) or not files:
        raise BundleError(f"{MANIFEST} lists no files", file=str(mf))
    for name in files:  # documents live in the bundle folder itself: no paths out of it
        if not isinstance(name, str) or name in ("", ".", "..", MANIFEST) or Path(name).name != name \
                or "\\" in name:
            raise BundleError(f"{MANIFEST} lists {name!r}, which is not a document of this folder", file=str(mf))
    return manifest


# A bundle being replaced (train --out, reasons import) while it is read: read again, up to this many times.
READ_ATTEMPTS = 5


def read_bundle(path: str | Path, check_version: bool = True) -> tuple[dict, dict[str, bytes]]:
    """The manifest and the verified bytes of every file it lists, read as one bundle.

    A bundle replaced while it is read (the manifest changed, or a file vanished, between the first and the
    last read) is read again, so a deploy never makes a load mix two bundles or fail as tampered. The model
    version is checked against the documents: a manifest edited by hand is refused.
    """
    path = Path(path)
    for attempt in range(READ_ATTEMPTS):
        last = attempt == READ_ATTEMPTS - 1
        try:
            first = _manifest_bytes(path)
        except BundleError:
            if last or not _being_replaced(path):
                raise
            time.sleep(0.05 * (attempt + 1))
            continue
        manifest = _parse_manifest(path, first)
        blobs: dict[str, bytes] = {}
        fault = None  # (file, why) of the first file missing or unlike its digest
        for name, digest in manifest["files"].items():
            try:
                blobs[name] = (path / name).read_bytes()
            except FileNotFoundError:
                fault = (name, "file listed in the manifest is missing")
                break
            if sha256(blobs[name]) != digest:
                fault = (name, _mismatch(blobs[name], digest))
                break
        # a fault, or another manifest, may be a swap under way (even one back to a bundle whose manifest reads
        # the same: same model, same second): read again; a fault still there at the end is the bundle's own
        try:
            stable = fault is None and _manifest_bytes(path) == first
        except BundleError:
            stable = False
        if stable or last:
            break
        time.sleep(0.05 * (attempt + 1))
    if fault is not None:
        raise BundleError(fault[1], file=str(path / fault[0]))
    if check_version:
        _check_version(path, manifest, blobs)
    return manifest, blobs


def _mismatch(data: bytes, digest: str) -> str:
    """Why a file does not match its digest: a copy that only changed its line endings is told apart from an edit."""
    if b"\r\n" in data and sha256(data.replace(b"\r\n", b"\n")) == digest:
        return ("SHA-256 does not match the manifest: its line endings were changed to CRLF, as git's core.autocrlf "
                "or a Windows copy does (the content is otherwise as saved); copy the bundle byte for byte, e.g. with "
                "'* -text' in a .gitattributes beside it; refusing to load")
    return "SHA-256 does not match the manifest: the bundle was modified or corrupted; refusing to load"


def _check_version(path: Path, manifest: dict, blobs: dict[str, bytes]) -> None:
    if manifest.get("model_version") != content_version(blobs):
        raise BundleError(f"model_version {manifest.get('model_version')!r} is not that of the documents: the "
                          "manifest was edited; refusing to load", file=str(path / MANIFEST))


def _being_replaced(path: Path) -> bool:
    """Whether an atomic write of `path` is under way (`data.output.atomic_path`'s sibling folders), or of the
    folder it links to (`reasons import` edits a linked bundle where it lives)."""
    try:
        return any(any(p.parent.glob(f".{p.name}.*")) for p in {path, path.resolve()})
    except (OSError, RuntimeError):  # RuntimeError: a symlink loop
        return False


class _MissingKey(BundleError, KeyError):
    """A key a bundle document lacks: a `BundleError` for users, still a `KeyError` for code that asks."""

    def __str__(self) -> str:  # KeyError would quote the message
        return self.message


class _Doc(dict):
    """A JSON document (or a part of one) handed to `from_bundle`: reading a key it lacks is a
    `BundleError` naming the file and the key path (``scaling.pdo``, ``points[3].bin``).

    Only a missing key is traced this way: a value of the wrong type or length fails later, in code
    that no longer knows where it came from, so the values that matter are checked beforehand by
    `check_documents`."""

    def __init__(self, data: dict, file: str, where: str) -> None:
        super().__init__((k, _wrap(v, file, f"{where}.{k}" if where else str(k))) for k, v in data.items())
        self._file, self._where = file, where

    def _key(self, key: Any) -> str:
        return f"{self._where}.{key}" if self._where else str(key)

    def __missing__(self, key: Any) -> Any:
        raise _MissingKey(f"missing key {self._key(key)!r}", file=self._file)

    def __reduce__(self) -> tuple:  # copies and pickles of what a model keeps are plain dicts
        return dict, (dict(self),)


def _wrap(value: Any, file: str, where: str) -> Any:
    if isinstance(value, dict):
        return _Doc(value, file, where)
    if isinstance(value, list) and any(isinstance(v, (dict, list)) for v in value):
        return [_wrap(v, file, f"{where}[{i}]") for i, v in enumerate(value)]
    return value


class _Files(dict):
    """The bundle's documents by file name; JSON documents wrapped as `_Doc`, a missing one named."""

    def __init__(self, path: Path, files: dict[str, Any]) -> None:
        super().__init__((name, _wrap(doc, name, "")) for name, doc in files.items())
        self._path = path

    def __missing__(self, name: str) -> Any:
        raise _MissingKey(f"the bundle has no {name} (not listed in its {MANIFEST})", file=str(self._path))

    def __reduce__(self) -> tuple:
        return dict, (dict(self),)


# ---------------------------------------------------------------- checks of the values that matter
#
# A re-hashed bundle (a document edited, its digest and the version recomputed) passes `read_bundle`. Its
# values are checked here, before the model is rebuilt, so that a wrong type or length is reported
# with the file and the exact key path that holds it (a failure deep inside the model could not say).

BIN_KINDS = ("numeric", "categorical")
SCALING_INTEGERS = ("min_score", "max_score")


def _bad(file: str, key: str, why: str) -> BundleError:
    return BundleError(f"key {key!r}: {why}", file=file)


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and np.isfinite(v)


def _what(v: Any) -> str:
    return "null" if v is None else f"{type(v).__name__} {v!r}" if not isinstance(v, (dict, list)) else type(v).__name__


def _count(items: list, noun: str) -> str:
    return f"{len(items)} {noun}{'' if len(items) == 1 else 's'}"


def _mapping(doc: Any, file: str, key: str) -> dict:
    if not isinstance(doc, dict):
        raise _bad(file, key, f"must be a mapping (a JSON object), not {_what(doc)}")
    return doc


def _check_schema_doc(doc: Any) -> None:
    """schema.json: the model inputs, each a mapping with a name, a type and optional numeric bounds."""
    doc = _mapping(doc, "schema.json", "")
    fields = doc.get("fields", [])
    if not isinstance(fields, list):
        raise _bad("schema.json", "fields", f"must be a list of fields, not {_what(fields)}")
    for i, f in enumerate(fields):
        f = _mapping(f, "schema.json", f"fields[{i}]")
        if not isinstance(f.get("name"), str):
            raise _bad("schema.json", f"fields[{i}].name", f"must be a column name, not {_what(f.get('name'))}")
        if f.get("type") not in ("number", "string"):
            raise _bad("schema.json", f"fields[{i}].type", f"must be 'number' or 'string', not {_what(f.get('type'))}")
        for bound in ("min", "max", "regular_min", "regular_max", "missing_rate"):
            if bound in f and not _is_number(f[bound]):
                raise _bad("schema.json", f"fields[{i}].{bound}", f"must be a finite number, not {_what(f[bound])}")


REASON_REFERENCES = ("max", "p95", "mean", "cutoff")


def _check_reasons_doc(doc: Any) -> None:
    """reasons.json: how reason impacts are measured (see `creditflow.scoring.reasons.ReasonSettings`)."""
    doc = _mapping(doc, "reasons.json", "")
    if doc.get("method", "points") not in ("points", "shap"):
        raise _bad("reasons.json", "method", f"must be 'points' or 'shap', not {_what(doc.get('method'))}")
    if doc.get("reference", "max") not in REASON_REFERENCES:
        raise _bad("reasons.json", "reference", f"must be one of {', '.join(REASON_REFERENCES)}, "
                                                f"not {_what(doc.get('reference'))}")
    values = _mapping(doc.get("values", {}), "reasons.json", "values")
    for k, v in values.items():
        if not _is_number(v):
            raise _bad("reasons.json", f"values.{k}", f"must be a finite number of points, not {_what(v)}")
    for k in ("cutoff", "band"):
        if doc.get(k) is not None and not _is_number(doc[k]):
            raise _bad("reasons.json", k, f"must be a finite number or null, not {_what(doc[k])}")
    protected = doc.get("protected", [])
    if not isinstance(protected, list) or not all(isinstance(p, str) for p in protected):
        raise _bad("reasons.json", "protected", f"must be a list of column names, not {_what(protected)}")


def _numbers(value: Any, file: str, key: str) -> list:
    if not isinstance(value, list):
        raise _bad(file, key, f"must be a list of numbers, not {_what(value)}")
    for i, v in enumerate(value):
        if not _is_number(v):
            raise _bad(file, f"{key}[{i}]", f"must be a finite number, not {_what(v)}")
    return value


def _number(doc: dict, name: str, file: str, key: str, *, integer: bool = False) -> None:
    if name in doc:
        v = doc[name]
        if not _is_number(v) or (integer and float(v) != int(v)):
            raise _bad(file, key, f"must be {'an integer' if integer else 'a finite number'}, not {_what(v)}")


def check_variable_binning(doc: Any, file: str, key: str, *, counts: bool = True) -> int:
    """Check one variable's bins (a `VariableBinning.to_dict()`); return its number of bins.

    `counts`: goods, bads and woe must give one value per bin (binning.json); otherwise they may be
    empty (the fine bins of shapes.json keep their counts beside the binning).
    """
    doc = _mapping(doc, file, key)
    for name in ("name", "kind"):
        if name not in doc:
            raise _MissingKey(f"missing key '{key}.{name}'", file=file)
    if not isinstance(doc["name"], str) or not doc["name"]:
        raise _bad(file, f"{key}.name", f"must be a variable name (text), not {_what(doc['name'])}")
    kind = doc["kind"]
    if kind not in BIN_KINDS:
        raise _bad(file, f"{key}.kind", f"must be one of {list(BIN_KINDS)}, not {_what(kind)}")
    splits = _numbers(doc.get("splits", []), file, f"{key}.splits")
    if any(b <= a for a, b in zip(splits, splits[1:], strict=False)):
        raise _bad(file, f"{key}.splits", "must rise strictly (each split above the one before)")
    groups = doc.get("groups", [])
    if not isinstance(groups, list) or not all(isinstance(g, list) for g in groups):
        raise _bad(file, f"{key}.groups", f"must be a list of category lists, not {_what(groups)}")
    specials = _numbers(doc.get("special_values", []), file, f"{key}.special_values")
    regular = len(splits) + 1 if kind == "numeric" else len(groups)
    n_bins = regular + 1 + len(specials) + (kind == "categorical")
    layout = (f"{len(splits)} splits" if kind == "numeric" else f"{len(groups)} groups") + \
        f", Missing, {len(specials)} special values" + (", Unseen" if kind == "categorical" else "")
    for name in ("goods", "bads", "woe"):
        values = _numbers(doc.get(name, []), file, f"{key}.{name}")
        if len(values) != n_bins and (counts or values):
            raise _bad(file, f"{key}.{name}", f"has {_count(values, 'value')} but the variable has {n_bins} bins ({layout})")
    labels = doc.get("labels")
    if labels is not None and (not isinstance(labels, list) or len(labels) != n_bins):
        got = _count(labels, "label") if isinstance(labels, list) else _what(labels)
        raise _bad(file, f"{key}.labels", f"has {got} but the variable has {n_bins} bins ({layout})")
    return n_bins


def check_scaling(doc: Any, file: str, key: str = "scaling") -> None:
    """Check a score scaling (`Scaling.to_dict()`): known keys, numbers, a positive pdo and odds."""
    from dataclasses import fields

    from creditflow.scoring.scaling import Scaling

    known = [f.name for f in fields(Scaling)]
    doc = _mapping(doc, file, key)
    for name in doc:
        if name not in known:
            raise _bad(file, f"{key}.{name}", f"not a scaling setting (known: {', '.join(known)})")
    for name in known:
        _number(doc, name, file, f"{key}.{name}", integer=name in SCALING_INTEGERS)
    for name in ("pdo", "base_odds"):
        if name in doc and doc[name] <= 0:
            raise _bad(file, f"{key}.{name}", f"must be positive, not {doc[name]!r}")
    if {"min_score", "max_score"} <= set(doc) and doc["min_score"] >= doc["max_score"]:
        raise _bad(file, f"{key}.min_score", f"{doc['min_score']} must be below max_score {doc['max_score']}")


def check_grades(doc: Any, file: str, key: str = "grades") -> None:
    """Check grade bands (`Grades.to_dict()`): [grade, lowest score] pairs, best grade first."""
    if not doc:
        return  # the default bands
    doc = _mapping(doc, file, key)
    if "bands" not in doc:
        raise _MissingKey(f"missing key '{key}.bands'", file=file)
    bands = doc["bands"]
    if not isinstance(bands, list) or not bands:
        raise _bad(file, f"{key}.bands", f"must be a non-empty list of [grade, lowest score] pairs, not {_what(bands)}")
    for i, band in enumerate(bands):
        if not (isinstance(band, list) and len(band) == 2 and isinstance(band[0], str) and _is_number(band[1])
                and float(band[1]) == int(band[1])):
            raise _bad(file, f"{key}.bands[{i}]", f"must be a [grade, lowest score] pair, not {band!r}")
    lows = [b[1] for b in bands]
    if any(b >= a for a, b in zip(lows, lows[1:], strict=False)):
        raise _bad(file, f"{key}.bands", "must be listed best grade first, with falling lowest scores")


def _check_model_doc(m: Any, file: str, binned: dict[str, int] | None) -> None:
    """model.json of a scorecard or boosted scorecard (`binned`: bins per variable of binning.json)."""
    m = _mapping(m, file, "")
    if "features" in m:
        feats = m["features"]
        if not isinstance(feats, list) or not all(isinstance(v, str) for v in feats):
            raise _bad(file, "features", f"must be a list of variable names, not {_what(feats)}")
        if binned is not None:
            unbinned = [v for v in feats if v not in binned]
            if unbinned:
                raise _bad(file, "features", f"{unbinned[:5]} have no variable in binning.json")
    for name in ("intercept", "base_points"):
        _number(m, name, file, name)
    if "coefficients" in m:
        for v, c in _mapping(m["coefficients"], file, "coefficients").items():
            if not _is_number(c):
                raise _bad(file, f"coefficients.{v}", f"must be a finite number, not {_what(c)}")
    if "contributions" in m:
        for v, c in _mapping(m["contributions"], file, "contributions").items():
            _numbers(c, file, f"contributions.{v}")
            if binned is not None and v in binned and len(c) != binned[v]:
                raise _bad(file, f"contributions.{v}", f"has {_count(c, 'value')} but binning.json gives it {binned[v]} bins")
    if "statistics" in m:
        st = _mapping(m["statistics"], file, "statistics")
        _number(st, "intercept_se", file, "statistics.intercept_se")
        feats = list(m.get("features") or [])
        for v, e in _mapping(st.get("standard_errors", {}), file, "statistics.standard_errors").items():
            if not _is_number(e) or e < 0:
                raise _bad(file, f"statistics.standard_errors.{v}", f"must be a finite number >= 0, not {_what(e)}")
        for v, row in _mapping(st.get("woe_correlation", {}), file, "statistics.woe_correlation").items():
            if len(_numbers(row, file, f"statistics.woe_correlation.{v}")) != len(feats):
                raise _bad(file, f"statistics.woe_correlation.{v}",
                           f"has {_count(row, 'value')} but the model has {_count(feats, 'variable')}")
    if "points" in m and not (isinstance(m["points"], list) and all(isinstance(r, dict) for r in m["points"])):
        raise _bad(file, "points", "must be a list of {variable, bin, points} rows")


def check_documents(files: dict[str, Any]) -> None:
    """Check the values of a bundle's model documents that the model is rebuilt from.

    A fault is a `BundleError` naming the document (``binning.json``) and the exact key path
    (``variables[0].woe``); a missing key the model needs is left to `from_bundle`, which names it.
    """
    binned: dict[str, int] | None = None
    if "binning.json" in files:
        doc = _mapping(files["binning.json"], "binning.json", "")
        if "variables" in doc:
            variables = doc["variables"]
            if not isinstance(variables, list):
                raise _bad("binning.json", "variables", f"must be a list of variables, not {_what(variables)}")
            binned = {}
            for i, var in enumerate(variables):
                n = check_variable_binning(var, "binning.json", f"variables[{i}]")
                if var["name"] in binned:
                    raise _bad("binning.json", f"variables[{i}].name", f"{var['name']!r} is binned twice")
                binned[var["name"]] = n
    if "shapes.json" in files:
        shapes = _mapping(files["shapes.json"], "shapes.json", "")
        variables = shapes.get("variables", [])
        if not isinstance(variables, list):
            raise _bad("shapes.json", "variables", f"must be a list of variables, not {_what(variables)}")
        for i, var in enumerate(variables):
            key = f"variables[{i}]"
            var = _mapping(var, "shapes.json", key)
            if "binning" in var:
                n = check_variable_binning(var["binning"], "shapes.json", f"{key}.binning", counts=False)
                for name in ("logodds", "counts", "bads", "hessian"):
                    if name in var and len(_numbers(var[name], "shapes.json", f"{key}.{name}")) != n:
                        raise _bad("shapes.json", f"{key}.{name}",
                                   f"has {_count(var[name], 'value')} but the variable has {n} bins")
    if "schema.json" in files:
        _check_schema_doc(files["schema.json"])
    if "reasons.json" in files:
        _check_reasons_doc(files["reasons.json"])
    for name in ("model.json", "gbdt.json"):
        if name in files:
            doc = _mapping(files[name], name, "")
            if name == "model.json":
                _check_model_doc(doc, name, binned)
            if "scaling" in doc:
                check_scaling(doc["scaling"], name)
            if "grades" in doc:
                check_grades(doc["grades"], name)


def load_bundle(path: str | Path) -> Bundle:
    """Load and verify a bundle; the model is rebuilt from its JSON documents."""
    from creditflow.models.base import model_class

    path = Path(path)
    manifest, blobs = read_bundle(path, check_version=False)  # checked last: a bad document is named first
    files: dict[str, Any] = {}
    for name, data in blobs.items():
        if name.endswith(".json"):
            try:
                files[name] = json.loads(data.decode("utf-8"))
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                raise BundleError(f"not valid JSON: {exc}", file=str(path / name)) from None
        else:
            files[name] = data.decode("utf-8")
    try:
        cls = model_class(manifest.get("model_type", ""))
    except BundleError as exc:
        exc.file = str(path / MANIFEST)
        raise
    try:
        check_documents(files)
        model = cls.from_bundle(_Files(path, files))
    except BundleError as exc:
        # documents and the models name a file of the bundle ("model.json"): give its path
        exc.file = str(path / exc.file) if exc.file in files else exc.file or str(path)
        raise
    except (KeyError, IndexError, TypeError, ValueError, AttributeError) as exc:
        # past the checks, which document and key hold the fault is not known: name the bundle only
        raise BundleError(f"the bundle's documents are invalid or inconsistent ({type(exc).__name__}: {exc})",
                          file=str(path)) from None
    _check_version(path, manifest, blobs)
    _warn_versions(path, manifest.get("model_type", ""), files.get("metadata.json"))
    model.bundle_version_ = manifest.get("model_version", "")
    return Bundle(path=path, model=model, files=files, manifest=manifest)


# the libraries whose release turns a bundle's documents into scores, and how many leading version numbers count
SCORING_LIBRARIES = {"creditflow": 2, "lightgbm": 1}


def _release(version: Any, parts: int) -> tuple[int, ...] | None:
    """The leading `parts` numbers of a version text ("4.7.0" -> (4,)); None when it does not start so."""
    nums = []
    for piece in str(version).split(".")[:parts]:
        head = len(piece) - len(piece.lstrip("0123456789"))  # "0rc1" -> 0
        if head == 0:
            return None
        nums.append(int(piece[:head]))
    return tuple(nums) if len(nums) == parts else None


def _warn_versions(path: Path, model_type: str, metadata: Any) -> None:
    """A `BundleVersionWarning` when the bundle was written with another creditflow release (major.minor) or,
    for the LightGBM challenger, another LightGBM major version than the one installed."""
    recorded = metadata.get("versions") if isinstance(metadata, dict) else None
    if not isinstance(recorded, dict):
        return
    installed = versions()
    for lib, parts in SCORING_LIBRARIES.items():
        if lib == "lightgbm" and model_type != "gbdt":
            continue
        then, now = recorded.get(lib), installed.get(lib)
        if then is None or now is None or _release(then, parts) in (None, _release(now, parts)):
            continue
        warnings.warn(f"model bundle '{path}' was written with {lib} {then} and is loaded with {lib} {now}: its "
                      "documents verify, but score a sample under both before relying on its scores",
                      BundleVersionWarning, stacklevel=caller_level())


def load_model(path: str | Path) -> Any:
    """The model of a bundle (verified)."""
    return load_bundle(path).model

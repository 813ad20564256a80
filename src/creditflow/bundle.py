"""Model bundles: a directory of JSON documents (and LightGBM text models) with a SHA-256 manifest.

No pickle: every file is text a person can read, and `load_bundle` refuses a bundle whose files do
not match their recorded SHA-256 digests.
"""

from __future__ import annotations

import hashlib
import json
import platform
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from creditflow.data.errors import BundleError
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
) -> Path:
    """Write `model` (and extra documents: dict -> JSON, str/bytes -> as is) to directory `path` atomically.

    The model version recorded in the manifest is the SHA-256 of the model's own documents, so
    the same data and seed give the same version.
    """
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
    blobs = {name: doc if isinstance(doc, bytes) else doc.encode("utf-8") if isinstance(doc, str) else dumps(doc)
             for name, doc in docs.items()}
    model_digest = hashlib.sha256()
    for name in sorted(blobs):
        if name != "metadata.json":
            model_digest.update(name.encode() + b"\0" + blobs[name])
    manifest = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "model_type": model.model_type,
        "model_version": model_digest.hexdigest()[:16],
        "files": {name: sha256(b) for name, b in sorted(blobs.items())},
    }
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.mkdir(parents=True)
        for name, b in blobs.items():
            (tmp / name).write_bytes(b)
        (tmp / MANIFEST).write_bytes(dumps(manifest))
    return path


def read_manifest(path: str | Path) -> dict:
    path = Path(path)
    if not path.is_dir():
        raise BundleError("not a model bundle directory", file=str(path))
    mf = path / MANIFEST
    if not mf.exists():
        inner = path / "model"  # the bundle inside a `creditflow train --out DIR` folder
        hint = f"did you mean {inner}?" if (inner / MANIFEST).is_file() else None
        raise BundleError(f"no {MANIFEST}: not a creditflow model bundle", file=str(path), hint=hint)
    try:
        manifest = json.loads(mf.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BundleError(f"{MANIFEST} is not valid JSON: {exc}", file=str(mf)) from None
    if manifest.get("format") != FORMAT:
        raise BundleError(f"{MANIFEST} is not a {FORMAT} manifest", file=str(mf))
    if int(manifest.get("format_version", 0)) > FORMAT_VERSION:
        raise BundleError(
            f"bundle format {manifest.get('format_version')} is newer than this creditflow reads ({FORMAT_VERSION})",
            file=str(mf),
        )
    return manifest


def verify_bundle(path: str | Path) -> dict[str, bytes]:
    """Read every file listed in the manifest and check its SHA-256; return the raw bytes."""
    path = Path(path)
    manifest = read_manifest(path)
    blobs = {}
    for name, digest in manifest.get("files", {}).items():
        f = path / name
        if not f.exists():
            raise BundleError("file listed in the manifest is missing", file=str(f))
        data = f.read_bytes()
        if sha256(data) != digest:
            raise BundleError(
                "SHA-256 does not match the manifest: the bundle was modified or corrupted; refusing to load",
                file=str(f),
            )
        blobs[name] = data
    return blobs


class _MissingKey(BundleError, KeyError):
    """A key a bundle document lacks: a `BundleError` for users, still a `KeyError` for code that asks."""

    def __str__(self) -> str:  # KeyError would quote the message
        return self.message


class _Doc(dict):
    """A JSON document (or a part of one) handed to `from_bundle`: reading a key it lacks is a
    `BundleError` naming the file and the key path (``scaling.pdo``, ``points[3].bin``), and the key
    read last is kept in `last` (one slot), so a value of the wrong type can be traced to it."""

    def __init__(self, data: dict, file: str, where: str, last: list) -> None:
        super().__init__((k, _wrap(v, file, f"{where}.{k}" if where else str(k), last)) for k, v in data.items())
        self._file, self._where, self._last = file, where, last

    def _key(self, key: Any) -> str:
        return f"{self._where}.{key}" if self._where else str(key)

    def __getitem__(self, key: Any) -> Any:
        self._last[0] = (self._file, self._key(key))
        return super().__getitem__(key)

    def __missing__(self, key: Any) -> Any:
        raise _MissingKey(f"missing key {self._key(key)!r}", file=self._file)

    def __reduce__(self) -> tuple:  # copies and pickles of what a model keeps are plain dicts
        return dict, (dict(self),)


def _wrap(value: Any, file: str, where: str, last: list) -> Any:
    if isinstance(value, dict):
        return _Doc(value, file, where, last)
    if isinstance(value, list) and any(isinstance(v, (dict, list)) for v in value):
        return [_wrap(v, file, f"{where}[{i}]", last) for i, v in enumerate(value)]
    return value


class _Files(dict):
    """The bundle's documents by file name; JSON documents wrapped as `_Doc`, a missing one named."""

    def __init__(self, path: Path, files: dict[str, Any], last: list) -> None:
        super().__init__((name, _wrap(doc, name, "", last)) for name, doc in files.items())
        self._path = path

    def __missing__(self, name: str) -> Any:
        raise _MissingKey(f"the bundle has no {name} (not listed in its {MANIFEST})", file=str(self._path))

    def __reduce__(self) -> tuple:
        return dict, (dict(self),)


def load_bundle(path: str | Path) -> Bundle:
    """Load and verify a bundle; the model is rebuilt from its JSON documents."""
    from creditflow.models.base import model_class

    path = Path(path)
    manifest = read_manifest(path)
    blobs = verify_bundle(path)
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
    last: list[tuple[str, str] | None] = [None]
    try:
        model = cls.from_bundle(_Files(path, files, last))
    except BundleError as exc:
        # documents and the models name a file of the bundle ("model.json"): give its path
        exc.file = str(path / exc.file) if exc.file in files else exc.file or str(path)
        raise
    except (KeyError, IndexError, TypeError, ValueError, AttributeError) as exc:
        if last[0] is None:
            raise BundleError(f"bundle documents are incomplete or inconsistent: {exc!r}", file=str(path)) from None
        name, key = last[0]
        raise BundleError(f"invalid or inconsistent value at key {key!r} ({type(exc).__name__}: {exc})",
                          file=str(path / name)) from None
    model.bundle_version_ = manifest.get("model_version", "")
    return Bundle(path=path, model=model, files=files, manifest=manifest)


def load_model(path: str | Path) -> Any:
    """The model of a bundle (verified)."""
    return load_bundle(path).model

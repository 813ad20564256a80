"""The gradient-boosted challenger: LightGBM trees, calibrated onto the scorecard's 350-950 odds scale.

`fit` cross-fits: the training rows are split into `folds` stratified folds; on the first fold each
candidate setting is trained with early stopping on the held-out rows and the best validation AUC
wins; the winner is then trained on every other fold the same way. The fold models are averaged into
one LightGBM text model (`model.txt`), and their out-of-fold margins fit the calibration (Platt by
default), so probabilities, and hence scores, are fitted out of sample. Scores use the same
`Scaling` as the scorecard: the same score means the same odds in both models.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.model_selection import StratifiedKFold, train_test_split
from sklearn.utils.validation import check_is_fitted

from creditflow.binning.process import (
    as_frame,
    column_names,
    fit_inputs,
    is_categorical,
    real_number,
    refuse_infinite,
    refuse_nested,
    seed_number,
    whole_number,
)
from creditflow.binning.variable import identifier_note
from creditflow.data.dictionary import FieldDictionary
from creditflow.data.errors import BundleError, CreditflowError, SchemaError, caller_level
from creditflow.models.base import (
    UNSEEN_MIN_ROWS,
    BadClassOutputs,
    NestedSettings,
    bundle_params,
    classes_doc,
    coerce_settings,
    fit_afresh,
    set_classes,
    stored_params,
    target_classes,
    warn_recoded,
)
from creditflow.models.gbdt_boost import (
    DEFAULT_CANDIDATES,
    Calibration,
    average_models,
    check_candidate,
    fit_fold,
    fixed_params,
    monotone_trends,
)
from creditflow.models.gbdt_features import FeatureEncoder
from creditflow.scoring.scaling import Grades, Scaling

ENGINES = ("auto", "tables", "native", "compiled")
COMPILE_MIN_ROWS = 50_000  # engine="auto" compiles the trees for tables at least this long


_settings = coerce_settings


class GBDTModel(BadClassOutputs, NestedSettings, ClassifierMixin, BaseEstimator):
    """LightGBM challenger with calibrated probabilities and 350-950 scores (scikit-learn estimator).

    Parameters
    ----------
    candidates : list of dict, optional
        LightGBM settings to choose from (num_leaves, min_data_in_leaf, feature_fraction, ...);
        default `DEFAULT_CANDIDATES` (shallow trees, at most 8 leaves).
    tune : bool
        Try every candidate on the first fold and keep the best validation AUC; False uses the first.
    folds : int
        Cross-fitting folds (>= 2); the fold models are averaged. 1: one 80/20 split, no averaging.
    learning_rate, max_rounds, early_stopping
        Shrinkage, the most trees per fold, and the patience (rounds without a better validation AUC).
    monotone : "none", "binning" or dict
        "binning": each numeric variable's trend from a `BinningProcess` (risk rising: +1, falling: -1)
        becomes a LightGBM monotone constraint; a dict gives ``{variable: +1 | -1 | 0}`` directly.
    calibration : "platt", "isotonic" or "none"
        Fitted on the out-of-fold margins.
    categorical : list of str, optional
        Numeric columns to treat as categories (text columns always are).
    scaling, grades, dictionary
        As for `Scorecard`.
    random_state : int
        Seed of the folds and of LightGBM.
    num_threads : int
        LightGBM threads when training (fixed, so results are reproducible); prediction uses all cores
        unless `predict_threads` is set.
    engine : "auto", "tables", "native" or "compiled"
        Prediction engine (`scoring.compiled`): "auto" uses the leaf lookup tables and C kernel when
        the trees are shallow enough and gcc is here, else treelite + tl2cgen compiled trees for
        tables of at least `COMPILE_MIN_ROWS` rows when installed, else native LightGBM. Single rows
        use the same engine as tables, so both give the same numbers.

    Attributes
    ----------
    classes_ : ndarray
        ``[0, 1]`` for a numeric or boolean target, 1 (True) being bad: `predict_proba`'s column 1 is the
        probability of bad and `predict` answers 0/1. Text labels (good/bad) are kept, sorted as scikit-learn
        sorts them (`bad_class_` says which is bad). Only two classes are supported, and no sample weights.
    """

    model_type = "gbdt"
    _nested_settings = {"scaling": Scaling}

    def __init__(
        self,
        candidates: list[dict] | None = None,
        tune: bool = True,
        folds: int = 5,
        learning_rate: float = 0.05,
        max_rounds: int = 5000,
        early_stopping: int = 100,
        monotone: str | dict = "none",
        calibration: str = "platt",
        categorical: list[str] | None = None,
        scaling: Scaling | dict | None = None,
        grades: list[tuple[str, int]] | None = None,
        dictionary: FieldDictionary | None = None,
        random_state: int = 42,
        num_threads: int = 1,
        predict_threads: int = 0,
        engine: str = "auto",
    ) -> None:
        self.candidates = candidates
        self.tune = tune
        self.folds = folds
        self.learning_rate = learning_rate
        self.max_rounds = max_rounds
        self.early_stopping = early_stopping
        self.monotone = monotone
        self.calibration = calibration
        self.categorical = categorical
        self.scaling = scaling
        self.grades = grades
        self.dictionary = dictionary
        self.random_state = random_state
        self.num_threads = num_threads
        self.predict_threads = predict_threads
        self.engine = engine

    # ------------------------------------------------------------------ fit
    def _check_parameters(self) -> None:
        if whole_number(self.folds, "folds") < 1:
            raise CreditflowError(f"folds must be at least 1, not {self.folds}")
        if not 0 < real_number(self.learning_rate, "learning_rate") <= 1:
            raise CreditflowError(f"learning_rate must be in (0, 1], not {self.learning_rate}")
        if whole_number(self.max_rounds, "max_rounds") < 1 or whole_number(self.early_stopping, "early_stopping") < 1:
            raise CreditflowError("max_rounds and early_stopping must be positive")
        if self.calibration not in {"platt", "isotonic", "none"}:
            raise CreditflowError(f"calibration must be platt, isotonic or none, not {self.calibration!r}")
        if not isinstance(self.monotone, Mapping) and self.monotone not in {"none", "binning"}:
            raise CreditflowError(f"monotone must be 'none', 'binning' or a dict, not {self.monotone!r}")
        if self.engine not in ENGINES:
            raise CreditflowError(f"engine must be one of {ENGINES}, not {self.engine!r}")
        if whole_number(self.num_threads, "num_threads") < 1:  # LightGBM reads 0 and -1 as "every core"
            raise CreditflowError(f"num_threads must be at least 1 (a fixed number, for reproducible fits), "
                                  f"not {self.num_threads!r}")
        if self.candidates is not None and not isinstance(self.candidates, (list, tuple)):
            raise CreditflowError(f"candidates must be a list of LightGBM settings such as [{{\"num_leaves\": 7}}], "
                                  f"not {self.candidates!r}")
        if self.candidates is not None and not len(self.candidates):
            raise CreditflowError("candidates is empty: give at least one LightGBM setting, or leave candidates out "
                                  "for the defaults")
        seed_number(self.random_state)

    @fit_afresh
    def fit(self, X: Any, y: Any = None, progress: Callable[[str], None] | None = None) -> GBDTModel:
        """Fit on a DataFrame and 0/1 target (1 = bad), or on a `Dataset`."""
        self._check_parameters()
        categorical = column_names(self.categorical, "categorical")
        frame, yv = fit_inputs(X, y, categorical)
        self.scaling_ = _settings(self.scaling, Scaling, "scaling")
        self.scaling_.check()
        self.grades_ = Grades.of(self.grades, self.scaling_)
        self.dictionary_ = FieldDictionary.of(self.dictionary) or getattr(X, "dictionary", None) or FieldDictionary()
        wanted = set(column_names(sorted(set(categorical)), "categorical", frame.columns))
        cats = [str(c) for c in frame.columns if str(c) in wanted or is_categorical(frame[c])]
        encoder = FeatureEncoder.fit(frame, cats)
        # a text column with nearly one value per row is an id, not an input: left out, with the reason
        self.unused_ = {c: note for c, values in encoder.categories.items()
                        if (note := identifier_note(len(values), len(frame)))}
        self.encoder_ = FeatureEncoder(
            features=[f for f in encoder.features if f not in self.unused_],
            categories={c: v for c, v in encoder.categories.items() if c not in self.unused_},
        )
        M = self.encoder_.matrix(frame)
        self.monotone_ = self._monotone(frame, yv)
        params = fixed_params(float(self.learning_rate), seed_number(self.random_state), int(self.num_threads))
        if any(self.monotone_.values()):
            params["monotone_constraints"] = [int(self.monotone_.get(f, 0)) for f in self.encoder_.features]
            params["monotone_constraints_method"] = "intermediate"
        splits = self._splits(yv)
        fit_args = {"names": [f"f{i}" for i in range(M.shape[1])], "categorical": self.encoder_.categorical_indices,
                    "max_rounds": int(self.max_rounds), "patience": int(self.early_stopping)}
        candidates = [check_candidate(c) for c in (self.candidates or DEFAULT_CANDIDATES)]
        if not self.tune:
            candidates = candidates[:1]
        trials, first = [], []
        for i, cand in enumerate(candidates):
            if progress is not None:
                progress(f"candidate {i + 1}/{len(candidates)}")
            fold = fit_fold(M, yv, *splits[0], {**params, **cand}, **fit_args)
            first.append(fold)
            trials.append({**cand, "best_iteration": fold.best_iteration, "valid_auc": fold.valid_auc})
        best = max(range(len(trials)), key=lambda i: (round(trials[i]["valid_auc"], 6), -trials[i]["best_iteration"]))
        self.params_ = {**params, **candidates[best]}
        fits = [first[best]]
        for k, (tr, va) in enumerate(splits[1:], start=2):
            if progress is not None:
                progress(f"fold {k}/{len(splits)}")
            fits.append(fit_fold(M, yv, tr, va, self.params_, **fit_args))
        self._finish(fits, yv, trials, best)
        self.feature_names_in_ = np.asarray(self.encoder_.features, dtype=object)
        self.n_features_in_ = len(self.feature_names_in_)
        self.classes_, self.bad_class_ = target_classes(y, yv)
        return self

    def _monotone(self, frame: pd.DataFrame, y: np.ndarray) -> dict[str, int]:
        if isinstance(self.monotone, Mapping):
            given = {str(k): v for k, v in self.monotone.items()}
            bad = {k: v for k, v in given.items() if k not in self.encoder_.features or v not in (-1, 0, 1)}
            if bad:
                raise CreditflowError(f"monotone must map model columns to -1, 0 or +1; bad entries: {bad}")
            cats = [k for k, v in given.items() if v and k in self.encoder_.categories]
            if cats:
                raise CreditflowError(f"categorical columns cannot be monotone: {cats}")
            return {k: int(v) for k, v in given.items()}
        if self.monotone == "binning":
            numeric = [f for f in self.encoder_.features if f not in self.encoder_.categories]
            return monotone_trends(frame, y, numeric)
        return {}

    def _splits(self, y: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
        positions = np.arange(len(y))
        k = int(self.folds)
        if k == 1:
            tr, va = train_test_split(positions, test_size=0.2, random_state=seed_number(self.random_state), stratify=y)
            return [(np.sort(tr), np.sort(va))]
        if min(np.bincount(y.astype(int))) < k:
            raise CreditflowError(f"too few bads or goods for {k} folds")
        skf = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed_number(self.random_state))
        return [(tr, va) for tr, va in skf.split(positions, y)]

    def _finish(self, fits: list, y: np.ndarray, trials: list[dict], best: int) -> None:
        from creditflow.evaluation.metrics import auc

        oof = np.full(len(y), np.nan)
        for f in fits:
            oof[f.valid_index] = f.valid_margin
        seen = ~np.isnan(oof)
        self.calibration_ = Calibration.fit(oof[seen], y[seen], self.calibration)
        self.oof_auc_ = float(auc(y[seen], oof[seen]))
        self.tuning_ = pd.DataFrame(trials)
        self.tuning_["chosen"] = np.arange(len(trials)) == best
        self.folds_ = pd.DataFrame([{"fold": i + 1, "best_iteration": f.best_iteration, "valid_auc": f.valid_auc,
                                     "valid_rows": len(f.valid_index)} for i, f in enumerate(fits)])
        # early stopping ends a fold `early_stopping` rounds after its best: a best round later than that means
        # the fold ran into max_rounds instead
        capped = [f for f in fits if f.best_iteration + int(self.early_stopping) > int(self.max_rounds)]
        if capped:
            import warnings

            from sklearn.exceptions import ConvergenceWarning

            warnings.warn(
                f"{len(capped)} of {len(fits)} fold(s) ran all max_rounds={int(self.max_rounds)} boosting rounds without "
                f"early stopping (best rounds {min(f.best_iteration for f in capped)}-"
                f"{max(f.best_iteration for f in capped)}, within early_stopping={int(self.early_stopping)} rounds of the "
                f"end; validation AUC {min(f.valid_auc for f in capped):.3f}-{max(f.valid_auc for f in capped):.3f}). "
                "Either the learning rate is too small for the data (raise learning_rate or max_rounds), or the folds "
                "share applicants (duplicate rows in different folds let the trees memorise them, and the fit runs the "
                "longest it can): remove duplicate rows", ConvergenceWarning, stacklevel=caller_level())
        self._set_booster(average_models([f.booster.model_to_string() for f in fits]))

    def _set_booster(self, text: str) -> None:
        import lightgbm as lgb

        from creditflow.scoring.treeshap import TreeTables

        self.model_text_ = text
        self.booster_ = lgb.Booster(model_str=text)
        self.__dict__.pop("_compiled", None)
        # built here, not on the first prediction: predicting leaves the model as it was (scikit-learn checks it)
        self._tables = TreeTables.from_model_text(text, len(self.features_))

    # -------------------------------------------------------------- predict
    def _matrix(self, X: Any) -> np.ndarray:
        return self._matrix_and_index(X)[0]

    def _matrix_and_index(self, X: Any) -> tuple[np.ndarray, pd.Index | None]:
        """The encoded matrix of `X` and its rows' index (None for an already encoded float matrix)."""
        check_is_fitted(self, "booster_")
        if isinstance(X, np.ndarray) and X.ndim == 2 and X.dtype == np.float64 and X.shape[1] == len(self.features_):
            self._check_codes(X)
            return X, None
        frame = as_frame(X, self.feature_names_in_)
        refuse_nested(frame, self.features_)
        M = self.encoder_.matrix(frame)  # refuses missing columns, and infinities in numeric ones
        refuse_infinite(frame, list(self.encoder_.categories))  # a categorical's too: "inf" is no category
        if len(frame) >= UNSEEN_MIN_ROWS:
            cats = self.encoder_.categories
            warn_recoded({name: int(np.count_nonzero(M[:, j] == len(cats[name])))  # the code past the list
                          for j, name in enumerate(self.encoder_.features) if name in cats}, frame)
        return M, frame.index

    def _check_codes(self, M: np.ndarray) -> None:
        """Refuse an encoded matrix whose categorical columns hold other than missing or a category's code (0 to
        the number of categories, that one for unseen): the scoring kernel indexes its tables by them."""
        for j, name in enumerate(self.encoder_.features):
            if name in self.encoder_.categories:
                codes = M[:, j]
                with np.errstate(invalid="ignore"):
                    bad = ~np.isnan(codes) & ~((codes >= 0) & (codes <= len(self.encoder_.categories[name]))
                                               & (codes == np.floor(codes)))
                if bad.any():
                    row = int(np.flatnonzero(bad)[0])
                    raise SchemaError(f"an encoded matrix holds {codes[row]!r} in a categorical column: a category's "
                                      f"code is a whole number from 0 to {len(self.encoder_.categories[name])}",
                                      column=name, row=row + 1, hint="pass the table itself, not a matrix")

    def predictor(self, rows: int = 0) -> Any:
        """The batch predictor for a table of `rows` rows (see `engine`); every engine gives LightGBM's margins
        to rounding (1e-9)."""
        from creditflow.scoring.compiled import (
            NativePredictor,
            TablePredictor,
            compiler_available,
            make_predictor,
        )
        from creditflow.scoring.treeshap_kernel import kernel

        threads = int(self.predict_threads) or (os.cpu_count() or 1)
        engine = os.environ.get("CREDITFLOW_ENGINE") or self.engine
        if engine in ("auto", "tables"):
            if self.tree_tables() is not None and kernel() is not None:
                return TablePredictor(self.tree_tables(), threads)
            engine = "auto"
        if engine == "auto":
            engine = "compiled" if rows >= COMPILE_MIN_ROWS and compiler_available() is None else "native"
        if engine == "compiled":
            if "_compiled" not in self.__dict__:
                self.__dict__["_compiled"] = make_predictor(self.booster_, self.model_text_, "compiled", threads)
            return self.__dict__["_compiled"]
        return NativePredictor(self.booster_, threads)

    def decision_function(self, X: Any) -> np.ndarray:
        """Raw margin of the trees (log-odds of bad before calibration) for a 0/1 target; as in scikit-learn,
        of `classes_[1]` (so of good where text labels sort the bad one first)."""
        M = self._matrix(X)
        return self._decision(self.predictor(len(M)).margin(M))

    def _logit(self, M: np.ndarray) -> np.ndarray:
        return self.calibration_.logit(self.predictor(len(M)).margin(M))

    def _p_bad(self, X: Any) -> np.ndarray:
        """Calibrated probability of bad per row (`predict_proba` / `predict` come from `BadClassOutputs`)."""
        return 1.0 / (1.0 + np.exp(-self._logit(self._matrix(X))))

    def predict_score(self, X: Any) -> np.ndarray:
        """Integer credit scores (higher is better) on the model's `Scaling`."""
        logit = self._logit(self._matrix(X))  # first: `_matrix` refuses an unfitted model
        return self.scaling_.score_from_logit(logit)

    def scores(self, X: Any) -> pd.DataFrame:
        """probability (of bad, calibrated), score (int, 350-950 by default, higher is better) and grade per row,
        on the rows' own index."""
        M, index = self._matrix_and_index(X)
        logit = self._logit(M)
        score = self.scaling_.score_from_logit(logit)
        return pd.DataFrame({"probability": 1.0 / (1.0 + np.exp(-logit)), "score": score,
                             "grade": self.grades_.column(score)}, index=index)

    def score_row(self, row: Mapping[str, Any]) -> dict:
        """Score one applicant given as a dict; the same numbers as `scores` on a one-row table."""
        check_is_fitted(self, "booster_")
        logit = self.calibration_.logit(self.predictor(1).margin(self.encoder_.row(row)))
        score = int(self.scaling_.score_from_logit(logit)[0])
        p = float((1.0 / (1.0 + np.exp(-logit)))[0])
        return {"probability": p, "score": score, "grade": self.grades_.grade(score)}

    def unseen_counts(self, X: Any, variables: Any = None) -> dict[str, int]:
        """Rows per categorical input whose category was not seen in training."""
        check_is_fitted(self, "booster_")
        return self.encoder_.unseen_counts(as_frame(X, self.feature_names_in_), variables)

    # -------------------------------------------------------- explanations
    def tree_tables(self) -> Any:
        """Exact TreeSHAP lookup tables (`scoring.treeshap.TreeTables`), or None for trees too deep to table."""
        check_is_fitted(self, "booster_")
        if "_tables" not in self.__dict__:  # a model pickled before the fit built them
            from creditflow.scoring.treeshap import TreeTables

            self.__dict__["_tables"] = TreeTables.from_model_text(self.model_text_, len(self.features_))
        return self.__dict__["_tables"]

    def contributions(self, X: Any) -> tuple[np.ndarray, float]:
        """Exact TreeSHAP values (rows, features) in margin units (log-odds of bad) and the expected margin.

        Row sums plus the expected margin give the raw margin; equal to LightGBM's ``pred_contrib``.
        """
        M = self._matrix(X)
        tables = self.tree_tables()
        if tables is not None:
            return tables.contributions(M), tables.expected_value
        out = self.booster_.predict(M, pred_contrib=True, validate_features=False)
        return out[:, :-1], float(out[0, -1]) if len(out) else 0.0

    @property
    def features_(self) -> list[str]:
        check_is_fitted(self, "encoder_")
        return list(self.encoder_.features)

    @property
    def feature_importances_(self) -> pd.Series:
        """Total split gain per model column (the averaged model's trees)."""
        check_is_fitted(self, "booster_")
        gain = self.booster_.feature_importance(importance_type="gain")
        return pd.Series(gain, index=self.features_, name="gain").sort_values(ascending=False)

    # ------------------------------------------------------------- bundle
    def to_bundle(self) -> dict[str, Any]:
        """model.txt (LightGBM text model) and gbdt.json (inputs, categories, calibration, scaling, grades)."""
        check_is_fitted(self, "booster_")
        doc = {
            "model_type": self.model_type,
            "encoder": self.encoder_.to_dict(),
            "monotone": dict(self.monotone_),
            "calibration": self.calibration_.to_dict(),
            "scaling": self.scaling_.to_dict(),
            "grades": self.grades_.to_dict(),
            "lightgbm_params": {k: v for k, v in self.params_.items()},
            "num_trees": int(self.booster_.num_trees()),
            "oof_auc": self.oof_auc_,
            "tuning": self.tuning_.to_dict(orient="records"),
            "folds": self.folds_.to_dict(orient="records"),
            "params": bundle_params(self),
            **classes_doc(self),
        }
        return {"model.txt": self.model_text_, "gbdt.json": doc, "dictionary.json": self.dictionary_.to_dict()}

    @classmethod
    def from_bundle(cls, files: dict[str, Any]) -> GBDTModel:
        doc = files["gbdt.json"]
        text = files["model.txt"]
        obj = cls(**stored_params(cls, doc))
        obj._fit_params = doc.get("params")
        obj.encoder_ = FeatureEncoder.from_dict(doc["encoder"])
        obj.monotone_ = dict(doc.get("monotone", {}))
        obj.calibration_ = Calibration.from_dict(doc["calibration"])
        obj.scaling_ = Scaling(**doc["scaling"])
        obj.grades_ = Grades.from_dict(doc["grades"])
        obj.params_ = dict(doc.get("lightgbm_params", {}))
        obj.oof_auc_ = float(doc.get("oof_auc", float("nan")) or float("nan"))
        obj.tuning_ = pd.DataFrame(doc.get("tuning", []))
        obj.folds_ = pd.DataFrame(doc.get("folds", []))
        obj.dictionary_ = FieldDictionary.from_dict(files.get("dictionary.json"))
        try:
            obj._set_booster(text)
        except Exception as exc:  # noqa: BLE001 - LightGBM raises its own error type on a bad model
            raise BundleError(f"not a LightGBM model: {exc}", file="model.txt") from None
        if obj.booster_.num_feature() != len(obj.encoder_.features):
            raise BundleError(f"model.txt has {obj.booster_.num_feature()} features but gbdt.json lists "
                              f"{len(obj.encoder_.features)} (key 'encoder')", file="gbdt.json")
        obj.feature_names_in_ = np.asarray(obj.encoder_.features, dtype=object)
        obj.n_features_in_ = len(obj.feature_names_in_)
        set_classes(obj, doc)
        obj.reason_docs_ = {k: files[k] for k in ("reasons.json", "reason_codes.json") if k in files}
        return obj

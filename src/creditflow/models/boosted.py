"""The boosted scorecard: gradient-boosting accuracy in an additive table of integer points.

Each variable's shape (log-odds of bad per fine bin) is learnt by bagged cyclic boosting on fine bins
(`boosted_engine`), then compressed into at most `max_bins` readable bins, monotone where asked or where
the trend is clear (`boosted_shape`). The result is a `Scorecard`: every variable has a
`VariableBinning` with named Missing / Special / Unseen bins and integer points per bin, the score is
the base points plus one bin's points per variable, and scoring, reasons, bundles, reports and the
service use the same machinery as the WOE scorecard.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score
from sklearn.utils.validation import check_is_fitted

from creditflow.binning.process import (
    BinningProcess,
    as_frame,
    as_target,
    column_names,
    fit_inputs,
    internal_fit,
    is_categorical,
    real_number,
    refuse_infinite,
    seed_number,
    special_map,
    warn_leakage,
    warn_special_values,
)
from creditflow.binning.variable import VariableBinning, identifier_reason, woe_iv
from creditflow.data.dictionary import FieldDictionary
from creditflow.data.errors import BundleError, CreditflowError, DataError, SchemaError
from creditflow.models.base import (
    bundle_params,
    classes_doc,
    fit_afresh,
    jsonable_params,
    set_classes,
    stored_params,
    target_classes,
)
from creditflow.models.base import coerce_settings as _settings
from creditflow.models.boosted_bins import code_dtype, fine_bins, layout_of
from creditflow.models.boosted_engine import BoostSettings, boost_shapes
from creditflow.models.boosted_pairs import PAIR_SEP, PairTable, fit_cells, select_pairs
from creditflow.models.boosted_shape import TRENDS, ShapeSettings, compress
from creditflow.models.scorecard import Scorecard
from creditflow.scoring.scaling import Grades, Scaling

WOE_ALPHA = 0.5  # Laplace smoothing of the WOE shown in the binning tables (as in BinningProcess)
# the axes of interaction tables: a few coarse bins per variable, each holding at least 5% of the rows
PAIR_AXIS = ShapeSettings(max_bins=4, min_bin_share=0.05, monotone="none", merge_points=0.0)
PAIR_LAMBDA = 10.0  # ridge (in hessian units) on each cell's Newton step
BLEND_WEIGHTS = (0.0, 0.25, 0.5, 0.75)  # the weights of the classic card that blend="auto" tries
BLEND_FOLDS = 5
BLEND_SE = 2.0


class BoostedScorecard(Scorecard):
    """Scorecard whose per-bin points come from bagged cyclic boosting (scikit-learn estimator).

    Parameters
    ----------
    boosting : BoostSettings or dict, optional
        learning_rate, inner_steps, max_rounds, early_stopping_rounds, smoothing_rounds, outer_bags,
        validation_size, min_samples_leaf, cat_smooth, max_fine_bins, max_bag_rows.
    shape : ShapeSettings or dict, optional
        Readability: max_bins (regular bins per variable, default 12), min_bin_share, monotone
        (auto | ascending | descending | none, for numeric variables), auto_tolerance, merge_points.
    monotone : dict, optional
        Per-variable trend of risk against the value, overriding ``shape.monotone``:
        ``{"AGE": "descending", "PAY_0": "ascending"}``. A variable given ascending or descending here
        stays out of the interaction tables, so its score moves only one way whatever the other fields.
    blend : float or "auto"
        Weight (0 to 1, default 0) of the classic WOE + logistic card (`Scorecard` with its defaults) in
        each variable's shape before compression: shape = (1 - blend) x boosted + blend x coefficient x
        WOE, the latter averaged over each fine bin. Boosting is noisy on small samples and the parametric
        card is steady, so a blend shrinks the boosted shapes toward it. "auto" cross-validates the
        candidates 0, 0.25, 0.5, 0.75 (5 folds of the training rows, both models refitted on each) and
        keeps the one with the lowest out-of-fold log-loss among those that beat 0 by more than two
        paired standard errors; 0 when none does, or when there are more than `blend_max_rows` rows. The
        weight used is `blend_`; the cross-validated losses are in ``boost_info_["blend"]``.
    blend_max_rows : int
        Largest training sample on which "auto" runs its cross-validation (default 100,000).
    interactions : int
        At most this many pairwise interaction tables (default 5; 0 gives a purely additive card). Only
        pairs that pass a Bonferroni-corrected score test on the main effects' residuals are used. Each
        table crosses up to 4 bins of two model variables (plus their Missing / Special / Unseen bins);
        its integer points are added to the score.
    scaling, grades, special_values, categorical, dictionary
        As for `Scorecard`.
    random_state : int
        Seed of the bags and the smoothing splits; the same data and seed give the same model.

    Attributes
    ----------
    classes_ : ndarray
        As for `Scorecard`: ``[0, 1]`` for a numeric or boolean target, 1 (True) being bad.
    """

    model_type = "boosted-scorecard"
    _nested_settings = {"boosting": BoostSettings, "shape": ShapeSettings, "scaling": Scaling}

    def __init__(
        self,
        boosting: BoostSettings | dict | None = None,
        shape: ShapeSettings | dict | None = None,
        monotone: Mapping[str, str] | None = None,
        scaling: Scaling | dict | None = None,
        grades: list[tuple[str, int]] | None = None,
        special_values: Sequence[float] | Mapping[str, Sequence[float]] | None = None,
        categorical: list[str] | None = None,
        interactions: int = 5,
        blend: float | str = 0.0,
        blend_max_rows: int = 100_000,
        random_state: int = 42,
        dictionary: FieldDictionary | None = None,
    ) -> None:
        self.boosting = boosting
        self.shape = shape
        self.monotone = monotone
        self.scaling = scaling
        self.grades = grades
        self.special_values = special_values
        self.categorical = categorical
        self.interactions = interactions
        self.blend = blend
        self.blend_max_rows = blend_max_rows
        self.random_state = random_state
        self.dictionary = dictionary

    # ------------------------------------------------------------------ fit
    @fit_afresh
    def fit(self, X: Any, y: Any = None, progress: Callable[[str], None] | None = None) -> BoostedScorecard:
        """Fit on a DataFrame and 0/1 target (1 = bad), or on a `Dataset`."""
        categorical = column_names(self.categorical, "categorical")
        frame, yv = fit_inputs(X, y, categorical)
        column_names(sorted(categorical), "categorical", frame.columns)
        kinds = {str(c) for c in frame.columns if c in categorical or is_categorical(frame[c])}
        bset, monotone = self._start_fit([str(c) for c in frame.columns], getattr(X, "dictionary", None), kinds)
        specials = special_map(self.special_values, frame.columns)
        warn_special_values(frame, specials, set(categorical))
        fine, codes = fine_bins(frame, set(categorical), specials, bset.max_fine_bins, progress)
        self._fit_fine(bset, monotone, fine, codes, yv, frame)
        self.classes_, self.bad_class_ = target_classes(y, yv)
        return self

    def _start_fit(
        self, columns: list[str], dictionary: FieldDictionary | None, categorical: set[str], rows: bool = True,
    ) -> tuple[BoostSettings, dict[str, str]]:
        """Check the parameters against the columns (`categorical`: those binned as categories; `rows`:
        whether the training rows themselves are at hand, which a blend needs) and set the settings'
        fitted copies; the boosting settings and the per-variable trends."""
        if isinstance(self.interactions, (bool, np.bool_)) or not isinstance(self.interactions, (int, np.integer)) \
                or self.interactions < 0:
            raise CreditflowError(f"interactions must be a whole number >= 0, not {self.interactions!r}")
        if self._check_blend() != 0 and not rows:
            raise CreditflowError(f"blend={self.blend!r} needs the training rows on one machine (it refits the "
                                  "classic card on them); use blend=0 here")
        seed_number(self.random_state)
        bset = _settings(self.boosting, BoostSettings, "boosting")
        bset.check()
        self.shape_settings_ = _settings(self.shape, ShapeSettings, "shape")
        self.shape_settings_.check()
        monotone = self._check_monotone(columns)
        for var, trend in monotone.items():
            if var in categorical and trend in ("ascending", "descending"):
                raise CreditflowError(f"monotone {trend} needs ordered values, but {var!r} is categorical "
                                      "(its categories are ordered by risk already)", column=var)
        self.scaling_ = _settings(self.scaling, Scaling, "scaling")
        self.scaling_.check()
        self.grades_ = Grades.of(self.grades, self.scaling_)
        self.dictionary_ = FieldDictionary.of(self.dictionary) or dictionary or FieldDictionary()
        return bset, monotone

    def _fit_fine(
        self, bset: BoostSettings, monotone: dict[str, str], fine: dict[str, VariableBinning], codes: list[np.ndarray],
        y: np.ndarray, frame: pd.DataFrame | None,
    ) -> BoostedScorecard:
        """Fit from every column's fine bins and the training rows' fine-bin codes (`fine_bins`), with the
        0/1 target `y` and the settings `_start_fit` checked; the rows themselves (`frame`) are needed only
        for a blend with the classic card. `fit` and the Dask path (`creditflow.distributed.boosted`) both
        end here."""
        yv = np.asarray(y, dtype=float)
        n_bad = int(yv.sum())
        if min(n_bad, len(yv) - n_bad) < 2:
            # each bag needs a bad and a good on both its training and its validation rows
            raise DataError(f"the target has {n_bad} bad(s) and {len(yv) - n_bad} good(s) in {len(yv)} rows; the "
                            "boosted scorecard needs at least 2 of each (in practice hundreds)")
        columns = list(fine)
        layouts = [layout_of(vb) for vb in fine.values()]
        seed = seed_number(self.random_state)
        result = boost_shapes(codes, layouts, yv, bset, seed)
        weight, blend_cv, gain_se = self._blend_weight(frame, yv, codes, layouts, bset, seed)
        shapes, intercept = result.shapes, result.intercept
        if weight > 0:
            try:
                with internal_fit():
                    card = self._classic().fit(frame, yv)
            except CreditflowError as exc:
                raise CreditflowError(f"blend={weight} needs the classic card, which could not be fitted: {exc}") from exc
            shapes, intercept = _blend(shapes, intercept, _classic_shapes(card, frame, fine, codes, layouts),
                                       card.intercept_, weight, codes)
        self.blend_ = weight
        self.fine_bins_ = fine
        self.shapes_ = dict(zip(fine, shapes, strict=True))
        self.fine_intercept_ = intercept
        self.fine_counts_, self.fine_bads_, self.fine_hessian_ = {}, {}, {}
        F = np.full(len(yv), intercept)
        for c, shape in zip(codes, shapes, strict=True):
            F += shape[c]
        p = 1.0 / (1.0 + np.exp(-F))
        for v, c, lay in zip(fine, codes, layouts, strict=True):
            self.fine_counts_[v] = np.bincount(c, minlength=lay.n_bins).astype(np.int64)
            self.fine_bads_[v] = np.bincount(c, weights=yv, minlength=lay.n_bins).astype(np.int64)
            self.fine_hessian_[v] = np.bincount(c, weights=p * (1 - p), minlength=lay.n_bins)
        self.boost_info_ = {"rounds": result.rounds, "validation_loss": result.validation_loss,
                            "settings": bset.to_dict(), "blend": {"weight": weight, "cv_log_loss": blend_cv}}
        if gain_se:  # blend="auto": each weight's CV gain over no blend, in paired standard errors
            self.boost_info_["blend"].update(cv_gain_se=gain_se, needed_se=BLEND_SE)
        bins, contrib, mappings = self._build(monotone)
        # final-bin codes of the training rows (small unsigned ints, like the fine codes)
        final = {v: mappings[v][c] for v, c in zip(fine, codes, strict=True)}
        F = np.zeros(len(yv))
        for v, idx in final.items():
            F += contrib[v][idx]
        self.intercept_ = _refit_intercept(result.intercept, F, yv)
        self._set_bins(bins, contrib, monotone)
        self.pairs_ = []
        if int(self.interactions) > 0:
            F = np.zeros(len(yv))
            for v in self.features_:
                F += contrib[v][final[v]]
            self.pairs_, cells = self._fit_pairs(codes, F + self.intercept_, yv, bset, seed, monotone)
            for t, cell in zip(self.pairs_, cells, strict=True):
                F += t.logodds[cell]
                t.counts = np.bincount(cell, minlength=len(t.logodds)).astype(np.int64)
            self.intercept_ = _refit_intercept(self.intercept_, F, yv)
        self.feature_names_in_ = np.asarray(columns, dtype=object)
        self.n_features_in_ = len(self.feature_names_in_)
        set_classes(self)  # 0/1; `fit` puts a text target's labels in
        self._make_points()
        return self

    def _classic(self) -> Scorecard:
        """The classic card the shapes are blended with: `Scorecard` defaults, this model's special values."""
        return Scorecard(special_values=self.special_values, categorical=self.categorical)

    def _blend_weight(
        self, frame: pd.DataFrame | None, y: np.ndarray, codes: list[np.ndarray], layouts: list, bset: BoostSettings,
        seed: int,
    ) -> tuple[float, dict[str, float], dict[str, float]]:
        """The blend weight and, when "auto" chose it, each candidate's cross-validated log-loss and its gain
        over no blend in paired standard errors."""
        if self._check_blend() != "auto":
            return float(self.blend), {}, {}
        if len(y) > self.blend_max_rows or min(int(y.sum()), int(len(y) - y.sum())) < 2 * BLEND_FOLDS:
            return 0.0, {}, {}
        from sklearn.model_selection import StratifiedKFold

        folds = StratifiedKFold(BLEND_FOLDS, shuffle=True, random_state=seed)
        fb, fc = np.zeros(len(y)), np.zeros(len(y))
        for k, (tr, va) in enumerate(folds.split(np.zeros(len(y)), y)):
            res = boost_shapes([c[tr] for c in codes], layouts, y[tr], bset, seed + k)
            fb[va] = res.intercept + sum(sh[c[va]] for sh, c in zip(res.shapes, codes, strict=True))
            part = frame.iloc[tr].reset_index(drop=True)
            try:
                with internal_fit():
                    card = self._classic().fit(part, y[tr])
            except CreditflowError:  # no variable survives on this fold: the classic card has nothing to add
                return 0.0, {}, {}
            fc[va] = card.logodds(frame.iloc[va].reset_index(drop=True))
        rows = {w: _row_log_loss(y, (1 - w) * fb + w * fc) for w in BLEND_WEIGHTS}
        losses = {str(w): float(r.mean()) for w, r in rows.items()}
        # a blend must beat the boosted shapes alone by more than BLEND_SE paired standard errors
        ok, gain_se = [], {}
        for w in BLEND_WEIGHTS[1:]:
            gain = rows[0.0] - rows[w]
            se = gain.std(ddof=1) / np.sqrt(len(gain))
            gain_se[str(w)] = float(gain.mean() / se) if se > 0 else 0.0
            if gain.mean() > BLEND_SE * se:
                ok.append(w)
        best = min(ok, key=lambda w: (losses[str(w)], w)) if ok else 0.0
        return float(best), losses, gain_se

    def _check_blend(self) -> float | str:
        if isinstance(self.blend_max_rows, (bool, np.bool_)) or not isinstance(self.blend_max_rows, (int, np.integer)) \
                or self.blend_max_rows < 0:
            raise CreditflowError(f"blend_max_rows must be a whole number >= 0, not {self.blend_max_rows!r}")
        if isinstance(self.blend, str):
            if self.blend != "auto":
                raise CreditflowError(f"blend must be a number from 0 to 1 or 'auto', not {self.blend!r}")
            return "auto"
        w = real_number(self.blend, "blend")
        if not 0 <= w <= 1:
            raise CreditflowError(f"blend must be a number from 0 to 1 or 'auto', not {self.blend!r}")
        return w

    def _fine_spread(self, var: str) -> float:
        """Points between the lowest and highest fine bin of a variable's unconstrained shape (seen bins)."""
        f = np.asarray(self.shapes_[var])[np.asarray(self.fine_counts_[var]) > 0]
        return float(self.scaling_.factor * (f.max() - f.min())) if len(f) else 0.0

    def _spread_with(self, var: str, trend: str | None, **change: Any) -> tuple[int, float]:
        """Regular bins and the points between the lowest and highest of them, of a variable compressed as now
        but with the shape settings `change`d: what a setting took away from a variable it left flat."""
        from dataclasses import replace

        vb, lp, _ = self._compress_one(self.fine_bins_[var], self.shapes_[var], self.fine_counts_[var],
                                       self.fine_hessian_[var], trend, replace(self.shape_settings_, **change))
        pts = self._points(lp[: vb.n_regular])
        return vb.n_regular, float(pts.max() - pts.min()) if len(pts) else 0.0

    def _flattened_by(self, var: str, trend: str | None) -> tuple[str, str]:
        """(step, reason) when shape.min_bin_share or shape.merge_points left a variable one flat bin that
        moves at least a point without it; ("", "") otherwise."""
        shape = self.shape_settings_
        if shape.min_bin_share > 0 and self._spread_with(var, trend, max_bins=2, merge_points=0.0)[0] <= 1:
            moved = self._spread_with(var, trend, min_bin_share=0.0)[1]
            if moved >= 1:
                return "min_bin_share", (
                    f"shape.min_bin_share={shape.min_bin_share:g} leaves it one bin (no cut of its values leaves "
                    f"{shape.min_bin_share:.1%} of the training rows on both sides), while with smaller bins its points "
                    f"move {moved:.0f} points: lower shape.min_bin_share to keep it")
            return "", ""
        if shape.merge_points > 0 and (moved := self._spread_with(var, trend, merge_points=0.0)[1]) >= 1:
            return "merge_points", (
                f"shape.merge_points={shape.merge_points:g} merged all its bins (each neighbour closer than that), "
                f"while unmerged its points move {moved:.0f} points: lower shape.merge_points to keep it")
        return "", ""

    def _check_monotone(self, columns: list[str]) -> dict[str, str]:
        if self.monotone is not None and not isinstance(self.monotone, Mapping):
            raise CreditflowError("monotone must map columns to trends, e.g. {\"PAY_0\": \"ascending\"} "
                                  f"(monotone.PAY_0=ascending on the command line), not {self.monotone!r}; one trend "
                                  "for every numeric column is shape.monotone")
        out = {}
        for var, trend in (self.monotone or {}).items():
            if str(var) not in columns:
                raise CreditflowError(f"monotone constraint for a column that is not a model input: {var!r} (not in "
                                      "the data, or excluded, or the target / id / time column)", column=str(var))
            if trend not in TRENDS:
                raise CreditflowError(f"monotone must be one of {', '.join(TRENDS)}, not {trend!r}", column=str(var))
            out[str(var)] = trend
        return out

    def _build(
        self, monotone: dict[str, str]
    ) -> tuple[dict[str, VariableBinning], dict[str, np.ndarray], dict[str, np.ndarray]]:
        """Final bins, per-bin log-odds and fine-to-final bin maps of every variable, from the fine shapes."""
        bins, contrib, mappings = {}, {}, {}
        for var, fvb in self.fine_bins_.items():
            counts = np.asarray(self.fine_counts_[var], dtype=float)
            bads = np.asarray(self.fine_bads_[var], dtype=float)
            vb, lp, mapping = self._compress_one(fvb, self.shapes_[var], counts, self.fine_hessian_[var],
                                                 monotone.get(var))
            k = len(vb.labels)
            nb = np.bincount(mapping, weights=bads, minlength=k)
            ng = np.bincount(mapping, weights=counts - bads, minlength=k)
            vb.goods, vb.bads = ng.tolist(), nb.tolist()
            vb.woe = woe_iv(ng, nb, ng.sum(), nb.sum(), WOE_ALPHA)[0].tolist()
            bins[var], contrib[var], mappings[var] = vb, lp, mapping
        return bins, contrib, mappings

    def _set_bins(
        self, bins: dict[str, VariableBinning], contrib: dict[str, np.ndarray], monotone: dict[str, str],
        keep: frozenset[str] | set[str] = frozenset(),
    ) -> None:
        """Keep the variables whose points move (and those in `keep`: the interaction tables' variables), and
        record why the others were left out (`monotone`: the trends asked for, to tell a shape the
        constraint flattened)."""
        self.binning_ = _binning_process(bins, self.special_values, self.categorical)
        self.binning_.dictionary_ = self.dictionary_
        self.features_ = []
        rows = []
        for var, vb in bins.items():
            lp = contrib[var]
            pts = self._points(lp)
            cnt = np.asarray(vb.goods) + np.asarray(vb.bads)
            seen = cnt > 0
            spread = float(pts[seen].max() - pts[seen].min()) if seen.any() else 0.0
            fine = self.fine_bins_.get(var)
            note = fine.note if fine is not None else ""
            selected = (spread > 0 or var in keep) and not note
            if selected:
                self.features_.append(var)
            step, reason = ("", "") if selected else ("flat", "every bin of its boosted shape gets the same points")
            trend = monotone.get(var) or (self.shape_settings_.monotone if vb.kind == "numeric" else None)
            if not selected and trend in ("ascending", "descending") and (free := self._fine_spread(var)) >= 1:
                step, reason = "monotone", (f"the monotone constraint ({trend}) flattened its shape, which moves "
                                            f"{free:.0f} points unconstrained: check the direction")
            if step == "flat" and vb.n_regular <= 1 and var in getattr(self, "shapes_", {}):
                by, why = self._flattened_by(var, monotone.get(var))
                step, reason = (by, why) if by else (step, reason)
            if note:
                step, reason = "identifier", identifier_reason(note)
            rows.append({
                "variable": var, "iv": vb.iv, "missing_rate": float(cnt[vb.missing_index] / max(cnt.sum(), 1.0)),
                "importance": float(np.dot(cnt, np.abs(lp)) / max(cnt.sum(), 1.0)), "n_bins": vb.n_regular,
                "trend": vb.trend, "selected": selected, "step": step, "reason": reason,
            })
        if not self.features_:
            raise CreditflowError("no variable has a shape that moves the points: the columns carry no signal about "
                                  "the target on these rows, or the shape settings / monotone constraints flattened them")
        self.contributions_ = {v: contrib[v] for v in self.features_}
        self.selection_ = pd.DataFrame(rows).sort_values(
            ["selected", "importance"], ascending=[False, False], ignore_index=True
        )
        warn_leakage(self.selection_.set_index("variable")["iv"])

    def _compress_one(
        self, fvb: VariableBinning, shape: np.ndarray, counts: np.ndarray, hessian: np.ndarray, monotone: str | None,
        settings: ShapeSettings | None = None,
    ) -> tuple[VariableBinning, np.ndarray, np.ndarray]:
        """Final binning, per-bin log-odds and the map from fine bin to final bin of one variable."""
        lay = layout_of(fvb)
        R = lay.n_regular
        comp = compress(shape[:R], counts[:R], hessian[:R], lay.ordered, settings or self.shape_settings_, int(counts.sum()),
                        self.scaling_.factor, monotone)
        K = len(comp.values)
        if fvb.kind == "numeric":
            starts = np.flatnonzero(np.diff(comp.mapping)) + 1
            vb = VariableBinning(name=fvb.name, kind="numeric", splits=[float(fvb.splits[s - 1]) for s in starts],
                                 special_values=list(fvb.special_values), trend=comp.trend)
        else:
            groups: list[list[str]] = [[] for _ in range(K)]
            for i, k in enumerate(comp.mapping):
                groups[k].extend(fvb.groups[i])
            vb = VariableBinning(name=fvb.name, kind="categorical", groups=[sorted(g) for g in groups],
                                 special_values=list(fvb.special_values), trend="none")
        # after the regular bins: Missing, each Special, (Unseen) -- the same order in both binnings
        tail = np.arange(R, lay.n_bins)
        # in the smallest integer type: a cluster fit maps every training row's code through it
        mapping = np.concatenate([comp.mapping, K + (tail - R)]).astype(code_dtype(len(vb.labels)))
        lp = np.concatenate([comp.values, shape[R:]])
        if fvb.kind == "categorical":
            lp[-1] = 0.0  # Unseen: average risk
        return vb, lp, mapping

    def _fit_pairs(
        self, codes: list[np.ndarray], F: np.ndarray, y: np.ndarray, bset: BoostSettings, seed: int,
        monotone: dict[str, str],
    ) -> tuple[list[PairTable], list[np.ndarray]]:
        """The `interactions` best pair tables of the model variables, boosted on the main effects' log-odds F,
        and each table's cell index of the training rows (`monotone`: the checked per-variable trends)."""
        pos = {v: j for j, v in enumerate(self.fine_bins_)}
        axis_bins, axis_idx, sizes = {}, {}, {}
        # a variable given a monotone trend stays out of the tables: a table could bend the score against it
        asked = {v for v, t in monotone.items() if t in ("ascending", "descending")}
        for v in [v for v in self.features_ if v not in asked]:
            vb, _, mapping = self._compress_one(self.fine_bins_[v], self.shapes_[v], self.fine_counts_[v],
                                                self.fine_hessian_[v], "none", PAIR_AXIS)
            axis_bins[v], axis_idx[v], sizes[v] = vb, mapping[codes[pos[v]]], len(vb.labels)
        chosen = select_pairs(axis_idx, sizes, F, y, int(self.interactions), PAIR_LAMBDA, seed)
        # a table is known by its name "a × b": never one that a column already bears
        chosen = [(a, b, stat) for a, b, stat in chosen if f"{a}{PAIR_SEP}{b}" not in self.fine_bins_]
        self.boost_info_["interactions"] = [{"pair": f"{a}{PAIR_SEP}{b}", "statistic": round(stat, 2)}
                                            for a, b, stat in chosen]
        cells = [axis_idx[a].astype(np.intp) * sizes[b] + axis_idx[b] for a, b, _ in chosen]
        tables = fit_cells(cells, [sizes[a] * sizes[b] for a, b, _ in chosen], F, y, bags=bset.outer_bags,
                           validation_size=bset.validation_size, learning_rate=0.1, lam=PAIR_LAMBDA, patience=10,
                           max_rounds=500, seed=seed, max_rows=bset.max_bag_rows)
        return [PairTable(a, b, axis_bins[a], axis_bins[b], t) for (a, b, _), t in zip(chosen, tables, strict=True)], cells

    def fine_decision_function(self, X: Any) -> np.ndarray:
        """Log-odds of bad from the uncompressed fine shapes (for comparison; the model scores with its bins)."""
        check_is_fitted(self, "features_")
        if not getattr(self, "shapes_", None):
            raise CreditflowError("this model has no fine shapes (shapes.json)")
        frame = as_frame(X, getattr(self, "feature_names_in_", None))
        F = np.full(len(frame), float(self.fine_intercept_))
        for var, vb in self.fine_bins_.items():
            if var not in frame.columns:
                raise SchemaError("model column missing from the data", column=var)
            refuse_infinite(frame, [var])
            F += self.shapes_[var][vb.bin_indices(frame[var])]
        return F

    # ------------------------------------------------------------- points
    def _bin_logodds(self) -> list[tuple[str, np.ndarray]]:
        """Each model variable with its per-bin log-odds of bad: the compressed boosted shape."""
        return [(var, np.asarray(self.contributions_[var], dtype=float)) for var in self.features_]

    def _make_points(self) -> None:
        super()._make_points()
        logodds = np.concatenate([lp for _, _, lp, _ in self._compiled]) if self._compiled else np.zeros(0)
        self.points_.insert(3, "logodds", logodds)
        self._pair_plan = []
        rows = []
        for t in getattr(self, "pairs_", []):
            pts = self._points(t.logodds)
            self._pair_plan.append((t, t.logodds, pts, t.logodds.tolist(), pts.tolist()))
            rows += [{"variable": t.name, "bin": label, "woe": np.nan, "logodds": float(c), "points": int(p),
                      "meaning": ""} for label, c, p in zip(t.labels, t.logodds, pts, strict=True)]
        if rows:
            self.points_ = pd.concat([self.points_, pd.DataFrame(rows)], ignore_index=True)

    # ------------------------------------------------------------- scoring with interaction tables
    def _indices(self, frame: pd.DataFrame) -> dict[str, np.ndarray]:
        idx = super()._indices(frame)
        for t, *_ in self._pair_plan:
            idx[t.name] = t.cell_indices(frame)
        return idx

    def _tables(self) -> list[tuple[str, np.ndarray, np.ndarray]]:
        return super()._tables() + [(t.name, lp, pts) for t, lp, pts, _, _ in self._pair_plan]

    def point_matrix(self, X: Any) -> pd.DataFrame:
        """Each row's points per variable and per interaction table ("A × B" columns); with
        `base_points_` they add up to the score."""
        out = super().point_matrix(X)
        if self._pair_plan:
            frame = self._check(X)
            for t, _, pts, _, _ in self._pair_plan:
                out[t.name] = pts[t.cell_indices(frame)]
        return out

    def _row_sums(self, row: dict) -> tuple[float, int]:
        logit, total = super()._row_sums(row)
        for t, _, _, lp_list, pts_list in getattr(self, "_pair_plan", None) or []:
            i = t.cell_index(row)
            logit += lp_list[i]
            total += pts_list[i]
        return logit, total

    def score_range(self) -> tuple[int, int]:
        lo, hi = super().score_range()
        for _, _, pts, _, _ in getattr(self, "_pair_plan", []):
            lo, hi = lo + int(pts.min()), hi + int(pts.max())
        return lo, hi

    def _check(self, X: Any) -> pd.DataFrame:
        frame = super()._check(X)
        lacking = [v for t in getattr(self, "pairs_", []) for v in (t.a, t.b) if v not in frame.columns]
        if lacking:
            raise SchemaError(f"interaction column(s) missing from the data: {lacking[:10]}", column=lacking[0])
        return frame

    # ------------------------------------------------------------- bundle
    def to_bundle(self) -> dict[str, Any]:
        """The JSON documents of this model: the points table is the model, the fine shapes its evidence."""
        check_is_fitted(self, "features_")
        return {
            "model.json": {
                "model_type": self.model_type,
                "features": list(self.features_),
                "intercept": self.intercept_,
                "contributions": {v: [float(x) for x in self.contributions_[v]] for v in self.features_},
                "base_points": self.base_points_,
                "points": self.points_[["variable", "bin", "woe", "logodds", "points"]].to_dict(orient="records"),
                "scaling": self.scaling_.to_dict(),
                "grades": self.grades_.to_dict(),
                "params": bundle_params(self),
                **classes_doc(self),
                "interactions": [t.to_dict() for t in getattr(self, "pairs_", [])],
            },
            "binning.json": {"variables": [self.binning_.bins_[v].to_dict() for v in self.binning_.bins_]},
            "selection.json": {"variables": self.selection_.to_dict(orient="records")},
            "dictionary.json": self.dictionary_.to_dict(),
            "shapes.json": {
                "boosting": self.boost_info_,
                "fine_intercept": float(self.fine_intercept_),
                "shape_settings": self.shape_settings_.to_dict(),
                "variables": [
                    {"binning": self.fine_bins_[v].to_dict(), "logodds": [float(x) for x in self.shapes_[v]],
                     "counts": [int(x) for x in self.fine_counts_[v]],
                     "bads": [int(x) for x in self.fine_bads_[v]],
                     "hessian": [float(x) for x in self.fine_hessian_[v]]}
                    for v in self.fine_bins_
                ],
            },
        }

    @classmethod
    def from_bundle(cls, files: dict[str, Any]) -> BoostedScorecard:
        m = files["model.json"]
        params = stored_params(cls, m)
        obj = cls(**params)
        obj._fit_params = m.get("params")
        obj.binning_ = BinningProcess.from_dict({"variables": files["binning.json"]["variables"]})
        obj.features_ = list(m["features"])
        missing = [v for v in obj.features_ if v not in obj.binning_.bins_ or v not in m["contributions"]]
        if missing:
            raise BundleError(f"model features without a binning or contributions: {missing[:10]}", file="model.json")
        obj.contributions_ = {v: np.asarray(m["contributions"][v], dtype=float) for v in obj.features_}
        for v in obj.features_:
            if len(obj.contributions_[v]) != len(obj.binning_.bins_[v].labels):
                raise BundleError(f"key 'contributions.{v}' does not match its bins in binning.json", file="model.json")
        obj.intercept_ = float(m["intercept"])
        obj.pairs_ = [PairTable.from_dict(d) for d in m.get("interactions", [])]
        obj.scaling_ = Scaling(**m["scaling"])
        obj.grades_ = Grades.from_dict(m["grades"])
        obj.dictionary_ = FieldDictionary.from_dict(files.get("dictionary.json"))
        obj.binning_.dictionary_ = obj.dictionary_
        obj.selection_ = pd.DataFrame(files.get("selection.json", {}).get("variables", []))
        obj.shape_settings_ = _settings(params.get("shape"), ShapeSettings, "shape")
        shapes = files.get("shapes.json", {})
        obj.boost_info_ = shapes.get("boosting", {})
        obj.blend_ = float(obj.boost_info_.get("blend", {}).get("weight", 0.0))
        obj.fine_intercept_ = float(shapes.get("fine_intercept", obj.intercept_))
        obj.fine_bins_, obj.shapes_, obj.fine_counts_, obj.fine_bads_, obj.fine_hessian_ = {}, {}, {}, {}, {}
        for doc in shapes.get("variables", []):
            vb = VariableBinning.from_dict(doc["binning"])
            obj.fine_bins_[vb.name] = vb
            obj.shapes_[vb.name] = np.asarray(doc["logodds"], dtype=float)
            obj.fine_counts_[vb.name] = np.asarray(doc["counts"], dtype=np.int64)
            obj.fine_bads_[vb.name] = np.asarray(doc["bads"], dtype=np.int64)
            obj.fine_hessian_[vb.name] = np.asarray(doc["hessian"], dtype=float)
        obj.feature_names_in_ = np.asarray(list(obj.binning_.bins_), dtype=object)
        obj.n_features_in_ = len(obj.feature_names_in_)
        set_classes(obj, m)
        obj._make_points()
        stored = {(r["variable"], r["bin"]): r["points"] for r in m["points"]}
        if len(stored) != len(m["points"]):
            raise BundleError("key 'points': the points table lists a bin twice", file="model.json")
        rebuilt = {(r.variable, r.bin): r.points for r in obj.points_.itertuples()}
        if stored != rebuilt or obj.base_points_ != m["base_points"]:
            raise BundleError("key 'points': the points table does not match the contributions and binning it "
                              "was saved with", file="model.json")
        return obj

    # ------------------------------------------------------------- readability
    def recompress(self, shape: ShapeSettings | dict | None = None) -> BoostedScorecard:
        """A copy with the same boosted shapes compressed under other readability settings (no re-boosting).

        Needs the fine shapes (a fitted model, or a bundle with shapes.json). The intercept is kept: each
        compressed shape keeps its training-weighted mean, so the copy stays calibrated to within the
        compression error.
        """
        check_is_fitted(self, "features_")
        if not getattr(self, "shapes_", None):
            raise CreditflowError("this model has no fine shapes (shapes.json) to recompress")
        import copy

        other = copy.copy(self)
        other.shape = shape
        if getattr(self, "_fit_params", None) is not None:  # the copy's model.json gives its own shape settings
            other._fit_params = {**self._fit_params, **jsonable_params({"shape": shape})}
        other.shape_settings_ = _settings(shape, ShapeSettings, "shape")
        other.shape_settings_.check()
        monotone = {str(k): v for k, v in (self.monotone or {}).items()}
        bins, contrib, _ = other._build(monotone)
        # the interaction tables are kept as fitted, so their variables stay model variables even where these
        # settings flatten their own points
        other._set_bins(bins, contrib, monotone, keep={v for t in self.pairs_ for v in (t.a, t.b)})
        other._make_points()
        return other


def _row_log_loss(y: np.ndarray, F: np.ndarray) -> np.ndarray:
    """Log-loss of each 0/1 target y against its log-odds F."""
    return np.logaddexp(0.0, np.where(y > 0, -F, F))


def _classic_shapes(
    card: Scorecard, frame: pd.DataFrame, fine: dict[str, VariableBinning], codes: list[np.ndarray], layouts: list
) -> list[np.ndarray]:
    """The classic card's log-odds (coefficient x WOE) of each variable, averaged over each fine bin of the
    training rows (0 for a variable the card left out or a fine bin no row fell in)."""
    _, _, idx = card._components(card._check(frame))
    lp = dict(card._bin_logodds())
    out = []
    for v, c, lay in zip(fine, codes, layouts, strict=True):
        if v not in lp:
            out.append(np.zeros(lay.n_bins))
            continue
        cnt = np.bincount(c, minlength=lay.n_bins).astype(float)
        tot = np.bincount(c, weights=lp[v][idx[v]], minlength=lay.n_bins)
        out.append(np.divide(tot, cnt, out=np.zeros(lay.n_bins), where=cnt > 0))
    return out


def _blend(
    boosted: list[np.ndarray], boosted_intercept: float, classic: list[np.ndarray], classic_intercept: float,
    weight: float, codes: list[np.ndarray],
) -> tuple[list[np.ndarray], float]:
    """(1 - weight) x boosted + weight x classic per variable, each shape re-centred on the training rows
    (its mean goes to the intercept) like the boosted shapes."""
    intercept = (1 - weight) * boosted_intercept + weight * classic_intercept
    shapes = []
    for b, c, cd in zip(boosted, classic, codes, strict=True):
        f = (1 - weight) * b + weight * c
        cnt = np.bincount(cd, minlength=len(f)).astype(float)
        mean = float(np.dot(f, cnt) / cnt.sum())
        intercept += mean
        shapes.append(np.where(cnt > 0, f - mean, 0.0))
    return shapes, intercept


def _refit_intercept(start: float, F: np.ndarray, y: np.ndarray) -> float:
    """The intercept that makes the mean predicted probability equal the bad rate (Newton, log-odds);
    `F` is the training rows' log-odds without intercept."""
    b = float(start)
    for _ in range(100):
        p = 1.0 / (1.0 + np.exp(-(F + b)))
        # at most 1 log-odds a step: from a saturated start a full Newton step overshoots without bound
        step = float(np.clip((y - p).sum() / max((p * (1 - p)).sum(), 1e-12), -1.0, 1.0))
        b += step
        if abs(step) < 1e-10:
            break
    return b


def _binning_process(bins: dict[str, VariableBinning], special_values: Any, categorical: Any) -> BinningProcess:
    bp = BinningProcess(special_values=special_values, categorical=categorical)
    bp.bins_ = bins
    bp.feature_names_in_ = np.asarray(list(bins), dtype=object)
    bp.n_features_in_ = len(bins)
    bp.iv_ = pd.Series({k: v.iv for k, v in bins.items()}, name="iv").sort_values(ascending=False)
    return bp


TRADEOFF_BINS = (4, 6, 8, 12, 16, 24)  # the settings of max_bins `accuracy_by_bins` tries by default


def accuracy_by_bins(
    model: BoostedScorecard,
    X: Any,
    y: Any = None,
    max_bins: Sequence[int] = TRADEOFF_BINS,
) -> pd.DataFrame:
    """Accuracy against readability: the fitted shapes recompressed at each `max_bins`, scored on (X, y).

    One row per setting: max_bins, variables, mean_bins and total_bins (regular bins of the model's
    variables), auc, ks and gini on the given sample, and the points range (lowest and highest point
    total before clipping); interaction tables, if any, are kept as fitted. A final row with ``max_bins``
    missing (<NA>) gives the uncompressed fine main-effect shapes alone (the accuracy the boosting reached
    before compression) when `X` holds every boosted variable, also those compression left out. `X` is a DataFrame (with `y` the 0/1 target, 1 = bad) or a `Dataset`. No
    re-boosting: a 30,000-row sample takes about a second.
    """
    from creditflow.evaluation.metrics import ks as ks_stat

    check_is_fitted(model, "features_")
    settings = _max_bins_list(max_bins)
    yv = as_target(y, X)
    frame = as_frame(X)
    base = model.shape_settings_.to_dict()
    rows = []
    for k in settings:
        m = model.recompress({**base, "max_bins": k})
        logit = m.logodds(frame)
        nb = [m.binning_.bins_[v].n_regular for v in m.features_]
        lo, hi = m.score_range()
        rows.append({"max_bins": int(k), "variables": len(m.features_), "mean_bins": float(np.mean(nb)),
                     "total_bins": int(np.sum(nb)), "auc": float(roc_auc_score(yv, logit)),
                     "ks": float(ks_stat(yv, logit).statistic), "points_min": lo, "points_max": hi})
    if all(v in frame.columns for v in model.fine_bins_):  # a variable compression left out need not be there
        fine = model.fine_decision_function(frame)
        nb = [model.fine_bins_[v].n_regular for v in model.fine_bins_]
        rows.append({"max_bins": None, "variables": len(nb), "mean_bins": float(np.mean(nb)),
                     "total_bins": int(np.sum(nb)), "auc": float(roc_auc_score(yv, fine)),
                     "ks": float(ks_stat(yv, fine).statistic), "points_min": None, "points_max": None})
    out = pd.DataFrame(rows)
    out["max_bins"] = out["max_bins"].astype("Int64")
    out["gini"] = 2 * out["auc"] - 1
    return out


def _max_bins_list(max_bins: Any) -> list[int]:
    """The `max_bins` settings of `accuracy_by_bins`, each a whole number from 2 to 256 (5.5, "6" or True are
    refused, not read as 5, 6 or 1)."""
    if isinstance(max_bins, (str, bytes, Mapping)) or not isinstance(max_bins, (Sequence, np.ndarray, range, set,
                                                                              frozenset, tuple)):
        raise CreditflowError(f"max_bins must be a list of whole numbers of bins per variable, e.g. (4, 6, 8), "
                              f"not {max_bins!r}")
    out = []
    for k in max_bins:
        if isinstance(k, (bool, np.bool_)) or not isinstance(k, (int, np.integer)) or not 2 <= k <= 256:
            raise CreditflowError(f"max_bins must be whole numbers from 2 to 256 (bins per variable), not {k!r}")
        out.append(int(k))
    return out


__all__ = ["BoostSettings", "BoostedScorecard", "ShapeSettings", "accuracy_by_bins"]

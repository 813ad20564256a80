"""Bagged boosting of one additive shape per variable on fine bins (like an EBM without pairs).

A visit of a variable sums the gradient and hessian of the log-loss per fine bin (`np.bincount` on the
bin codes: the only work proportional to the rows), then takes `inner_steps` boosting steps on that
histogram alone: each step is one stump (a single split of the ordered bins, or of the categories
ordered by their gradient) with Newton leaf values, scaled by the learning rate, while the histogram's
gradient is moved by the step (G - H * delta, exact to second order because every row of a bin moves by
the same amount). Missing and special values are separate bins with their own Newton step.

Each bag first runs up to `smoothing_rounds` cyclic rounds (every variable in turn) with random split
points, which gives smooth shapes; they are checked on the validation part too (stopping once more than
`early_stopping_rounds` rounds pass without improvement and going back to the best round), because on a small
sample the smoothing rounds alone overfit; then blocks of visits: a cyclic round that also measures each variable's gain,
followed by `greedy_ratio` blocks of greedy visits (the variable whose last visit gained most goes next),
checking the validation log-loss after every block and keeping the best shapes. Each bag boosts on its
own stratified training part (at most `max_bag_rows` rows) and stops early on its validation part; the
shapes are averaged over bags. Everything is seeded.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from creditflow.data.errors import CreditflowError
from creditflow.models.boosted_bins import FineLayout


@dataclass
class BoostSettings:
    """Settings of the shape boosting (rounds visit every variable once; rates are in log-odds)."""

    learning_rate: float = 0.015  # shrinkage of each stump step
    inner_steps: int = 10  # stump steps per visit of a variable, on its histogram
    max_rounds: int = 50  # blocks of visits after smoothing (each block visits as often as there are variables)
    early_stopping_rounds: int = 5  # stop once more than this many blocks (or smoothing rounds) pass without improvement
    early_stopping_tolerance: float = 1e-6  # improvement in mean validation log-loss that counts
    smoothing_rounds: int = 15  # first rounds split at random points (at most; they stop early too)
    greedy_ratio: float = 3.0  # after smoothing, each cyclic round is followed by this many rounds of greedy visits
    outer_bags: int = 8
    validation_size: float = 0.15
    min_samples_leaf: int = 4  # rows on each side of a split; separate bins need as many to move
    cat_smooth: float = 10.0  # hessian added when ordering categories by gradient
    max_fine_bins: int = 255  # quantile bins per numeric variable
    max_bag_rows: int | None = 50_000  # each bag boosts on at most this many training rows

    def check(self) -> None:
        if not 0 < self.learning_rate <= 1:
            raise CreditflowError(f"learning_rate must be in (0, 1], not {self.learning_rate}")
        for name in ("inner_steps", "max_rounds", "outer_bags", "early_stopping_rounds", "min_samples_leaf"):
            if int(getattr(self, name)) < 1:
                raise CreditflowError(f"{name} must be at least 1, not {getattr(self, name)}")
        if int(self.smoothing_rounds) < 0:
            raise CreditflowError(f"smoothing_rounds must be at least 0, not {self.smoothing_rounds}")
        # upper bounds well above any useful value, so a typo cannot make a fit run for hours
        for name, most in (("inner_steps", 1000), ("smoothing_rounds", 10_000), ("max_rounds", 100_000),
                           ("outer_bags", 1000)):
            if int(getattr(self, name)) > most:
                raise CreditflowError(f"{name} must be at most {most:,}, not {getattr(self, name)}")
        if self.greedy_ratio < 0:
            raise CreditflowError(f"greedy_ratio must be >= 0, not {self.greedy_ratio}")
        if not 0 < self.validation_size < 0.5:
            raise CreditflowError(f"validation_size must be in (0, 0.5), not {self.validation_size}")
        if not 2 <= self.max_fine_bins <= 1024:
            raise CreditflowError(f"max_fine_bins must be between 2 and 1024, not {self.max_fine_bins}")
        if self.max_bag_rows is not None and self.max_bag_rows < 100:
            raise CreditflowError(f"max_bag_rows must be at least 100 or None, not {self.max_bag_rows}")

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class BoostResult:
    """Averaged shapes (log-odds of bad per fine bin, centred on the training rows) and bag diagnostics."""

    intercept: float
    shapes: list[np.ndarray]
    rounds: list[int] = field(default_factory=list)  # best round of each bag
    validation_loss: list[float] = field(default_factory=list)  # its mean validation log-loss


class _Ordered:
    """Split search over bins in a fixed order: the hessian and count sums are fixed during a visit, so
    only the gradient's running sum changes from one stump step to the next."""

    def __init__(self, H: np.ndarray, C: np.ndarray, min_leaf: int) -> None:
        ch, cc = np.cumsum(H), np.cumsum(C)
        # a column may have one regular bin or none (every value special or missing): no split then
        self.th, tc = (ch[-1], cc[-1]) if len(ch) else (0.0, 0)
        ch, cc = ch[:-1], cc[:-1]
        self.ok = (cc >= min_leaf) & (tc - cc >= min_leaf) & (ch > 0) & (self.th - ch > 0)
        self.cand = np.flatnonzero(self.ok)
        with np.errstate(divide="ignore", invalid="ignore"):
            self.inv_l = np.where(self.ok, 1.0 / ch, 0.0)
            self.inv_r = np.where(self.ok, 1.0 / (self.th - ch), 0.0)
        self.pen = np.where(self.ok, 0.0, -np.inf)

    def step(self, g: np.ndarray, pick: np.random.Generator | None) -> tuple[int, float, float] | None:
        """(last bin of the left leaf, left value, right value) of the best or a random split, or None."""
        if not len(self.cand):
            return None
        cg = np.cumsum(g)
        tg = cg[-1]
        cg = cg[:-1]
        if pick is not None:
            k = int(self.cand[pick.integers(len(self.cand))])
        else:
            rest = tg - cg
            k = int(np.argmax(cg * cg * self.inv_l + rest * rest * self.inv_r + self.pen))
        return k, float(cg[k] * self.inv_l[k]), float((tg - cg[k]) * self.inv_r[k])


def _visit(
    G: np.ndarray, H: np.ndarray, C: np.ndarray, lay: FineLayout, s: BoostSettings, rng: np.random.Generator, random: bool
) -> np.ndarray:
    """The summed update of one visit: `inner_steps` stump steps on the histogram (log-odds per fine bin)."""
    R = lay.n_regular
    lr = s.learning_rate
    delta = np.zeros(len(G))
    pick = rng if random else None
    sep = np.flatnonzero(C[R:] >= s.min_samples_leaf) + R
    Hsep = np.maximum(H[sep], 1e-12)
    if lay.ordered:
        search = _Ordered(H[:R], C[:R], s.min_samples_leaf)
        Gr, Hr = G[:R], H[:R]
        dr = delta[:R]  # a view: regular bins
        for _ in range(s.inner_steps):
            found = search.step(Gr - Hr * dr, pick)
            if found is not None:
                k, left, right = found
                dr[: k + 1] += lr * left
                dr[k + 1 :] += lr * right
            if len(sep):
                delta[sep] += lr * (G[sep] - H[sep] * delta[sep]) / Hsep
        return delta
    idx = np.flatnonzero(C[:R] > 0)
    for _ in range(s.inner_steps):
        if len(idx) >= 2:
            g, h = G[idx] - H[idx] * delta[idx], H[idx]
            order = idx[np.argsort(g / (h + s.cat_smooth), kind="stable")]
            found = _Ordered(H[order], C[order], s.min_samples_leaf).step(G[order] - H[order] * delta[order], pick)
            if found is not None:
                k, left, right = found
                delta[order[: k + 1]] += lr * left
                delta[order[k + 1 :]] += lr * right
        if len(sep):
            delta[sep] += lr * (G[sep] - H[sep] * delta[sep]) / Hsep
    return delta


def _bag_rows(y: np.ndarray, s: BoostSettings, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Stratified training and validation rows of one bag (sorted positions), capped at `max_bag_rows`."""
    n = len(y)
    cap_tr = n if s.max_bag_rows is None else s.max_bag_rows
    cap_va = max(1, int(round(cap_tr * s.validation_size / (1 - s.validation_size))))
    tr_parts, va_parts = [], []
    for cls in (0.0, 1.0):
        rows = np.flatnonzero(y == cls)
        share = len(rows) / n
        rows = rows[rng.permutation(len(rows))]
        n_va = max(1, min(int(round(s.validation_size * len(rows))), int(round(cap_va * share))))
        n_tr = min(len(rows) - n_va, max(1, int(round(cap_tr * share))))
        va_parts.append(rows[:n_va])
        tr_parts.append(rows[n_va : n_va + n_tr])
    return np.sort(np.concatenate(tr_parts)), np.sort(np.concatenate(va_parts))


def _log_loss(y: np.ndarray, F: np.ndarray) -> float:
    # log(1 + exp(-F)) for y = 1 and log(1 + exp(F)) for y = 0, computed stably
    z = np.where(y > 0, -F, F)
    return float(np.mean(np.logaddexp(0.0, z)))


class _Bag:
    """The training and validation rows of one bag with their running log-odds."""

    def __init__(
        self, codes: list[np.ndarray], layouts: list[FineLayout], y: np.ndarray, s: BoostSettings,
        rng: np.random.Generator,
    ) -> None:
        tr, va = _bag_rows(y, s, rng)
        self.s, self.rng, self.layouts = s, rng, layouts
        self.yva = y[va]
        rate = float(np.clip(y[tr].mean(), 1e-6, 1 - 1e-6))
        self.base = float(np.log(rate / (1 - rate)))
        self.ctr = [c[tr].astype(np.intp) for c in codes]
        self.cva = [c[va].astype(np.intp) for c in codes]
        self.counts = [np.bincount(c, minlength=lay.n_bins).astype(float) for c, lay in zip(self.ctr, layouts, strict=True)]
        self.shapes = [np.zeros(lay.n_bins) for lay in layouts]
        n = len(tr)
        self.F = np.full(n, self.base, dtype=np.float32)
        self.Fva = np.full(len(va), self.base)
        self.y32 = y[tr].astype(np.float32)
        self.p = np.empty(n, dtype=np.float32)
        self.g = np.empty(n, dtype=np.float32)
        self.h = np.empty(n, dtype=np.float32)

    def active(self) -> list[int]:
        """Variables with at least two non-empty bins in this bag."""
        return [j for j, cnt in enumerate(self.counts) if (cnt > 0).sum() >= 2]

    def visit(self, j: int, random: bool) -> float:
        """Update variable j's shape; return the visit's gain (second-order drop of the training log-loss)."""
        p, g, h, F = self.p, self.g, self.h, self.F
        # p = 1 / (1 + exp(-F)), g = y - p (negative gradient), h = p (1 - p), in float32
        np.negative(F, out=p)
        np.exp(p, out=p)
        p += 1.0
        np.reciprocal(p, out=p)
        np.subtract(self.y32, p, out=g)
        np.multiply(p, p, out=h)
        np.subtract(p, h, out=h)
        lay = self.layouts[j]
        G = np.bincount(self.ctr[j], weights=g, minlength=lay.n_bins)
        H = np.bincount(self.ctr[j], weights=h, minlength=lay.n_bins)
        delta = _visit(G, H, self.counts[j], lay, self.s, self.rng, random)
        self.shapes[j] += delta
        F += delta.astype(np.float32)[self.ctr[j]]
        self.Fva += delta[self.cva[j]]
        return float(np.dot(G, delta) - 0.5 * np.dot(H, delta * delta))

    def validation_loss(self) -> float:
        return _log_loss(self.yva, self.Fva)

    def restore(self, shapes: list[np.ndarray]) -> None:
        """Go back to earlier shapes: the running log-odds of both parts are recomputed from them."""
        self.shapes = [x.copy() for x in shapes]
        self.F[:] = self.base
        self.Fva[:] = self.base
        for f, ctr, cva in zip(self.shapes, self.ctr, self.cva, strict=True):
            self.F += f.astype(np.float32)[ctr]
            self.Fva += f[cva]


def _boost_bag(
    codes: list[np.ndarray], layouts: list[FineLayout], y: np.ndarray, s: BoostSettings, rng: np.random.Generator
) -> tuple[float, list[np.ndarray], int, float]:
    bag = _Bag(codes, layouts, y, s, rng)
    active = bag.active()
    gains = np.zeros(len(layouts))
    # smoothing rounds are checked on the validation rows too: on a small sample they alone can overfit,
    # so smoothing stops once more than `early_stopping_rounds` rounds pass without improvement; the best state is
    # where the greedy blocks start
    best_loss, best_smooth, best = bag.validation_loss(), 0, [x.copy() for x in bag.shapes]
    r = 0
    for r in range(1, s.smoothing_rounds + 1):
        for j in active:
            bag.visit(j, True)
        loss = bag.validation_loss()
        if loss < best_loss - s.early_stopping_tolerance:
            best_loss, best_smooth, best = loss, r, [x.copy() for x in bag.shapes]
        elif r - best_smooth > s.early_stopping_rounds:
            break
    if best_smooth < r:
        bag.restore(best)
    best_block = 0
    # after smoothing, blocks of len(active) visits: a cyclic round, then `greedy_ratio` rounds' worth of
    # greedy visits (the variable whose last visit gained most goes next); the validation loss is checked
    # after every block and the best shapes are kept
    n_greedy_blocks = int(np.ceil(s.greedy_ratio))
    block = 0
    while block < s.max_rounds:
        for j in active:
            gains[j] = bag.visit(j, False)
        block += 1
        loss = bag.validation_loss()
        if loss < best_loss - s.early_stopping_tolerance:
            best_loss, best_block, best = loss, block, [x.copy() for x in bag.shapes]
        for _ in range(n_greedy_blocks):
            if block - best_block > s.early_stopping_rounds:
                break
            for _ in range(len(active)):
                j = active[int(np.argmax(gains[active]))]
                gains[j] = bag.visit(j, False)
            block += 1
            loss = bag.validation_loss()
            if loss < best_loss - s.early_stopping_tolerance:
                best_loss, best_block, best = loss, block, [x.copy() for x in bag.shapes]
        if block - best_block > s.early_stopping_rounds:
            break
    return bag.base, best, best_smooth + best_block, best_loss


def boost_shapes(
    codes: list[np.ndarray], layouts: list[FineLayout], y: np.ndarray, settings: BoostSettings, seed: int
) -> BoostResult:
    """Fit one shape per variable (log-odds of bad per fine bin) by bagged cyclic boosting.

    `codes[j]` holds the fine bin of every row for variable j, `y` the 0/1 target (1 = bad). The
    returned shapes are averaged over bags and centred so their count-weighted mean over all rows is 0
    (their means go to the intercept), so a bin no training row fell in carries 0: average risk.
    """
    settings.check()
    y = np.asarray(y, dtype=float)
    seeds = np.random.SeedSequence(seed).spawn(settings.outer_bags)
    bases, bags, rounds, losses = [], [], [], []
    for ss in seeds:
        base, shapes, r, loss = _boost_bag(codes, layouts, y, settings, np.random.default_rng(ss))
        bases.append(base)
        bags.append(shapes)
        rounds.append(r)
        losses.append(loss)
    intercept = float(np.mean(bases))
    shapes = []
    for j, lay in enumerate(layouts):
        f = np.mean([b[j] for b in bags], axis=0)
        cnt = np.bincount(codes[j], minlength=lay.n_bins).astype(float)
        mean = float(np.dot(f, cnt) / cnt.sum())
        f = np.where(cnt > 0, f - mean, 0.0)
        intercept += mean
        shapes.append(f)
    return BoostResult(intercept=intercept, shapes=shapes, rounds=rounds, validation_loss=losses)

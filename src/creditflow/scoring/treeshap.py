"""Exact path-dependent TreeSHAP of a LightGBM text model, as lookup tables: fast reason codes for big tables.

LightGBM's `pred_contrib=True` computes, for every row and tree, the Shapley values of the game
"expected tree output when only the features in S are known" (unknown features follow both branches,
weighted by the training rows that went each way). Those values depend on a row only through the
direction it takes at each split of the tree. A tree with k splits therefore has at most 2**k
different answers; we compute them once per tree (exactly, from the same leaf values and row
counts) and then score a row by reading its k directions and looking the answer up. The result
equals LightGBM's own `pred_contrib` to rounding (tests check 1e-9) and is many times faster on the
shallow trees creditflow's challenger grows. Trees with more than `MAX_SPLITS` splits are not tabled;
`TreeTables.from_model_text` then returns None and callers use LightGBM's `pred_contrib`.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

import numpy as np

MAX_SPLITS = 8
ZERO_THRESHOLD = 1e-35  # LightGBM's kZeroThreshold
CHUNK_ROWS = 32_768
SMALL_BATCH = 2_048


@dataclass
class _Tree:
    features: np.ndarray  # the distinct features the tree splits on, in table-column order
    nodes: list[int]  # condition id of each split node (bit i of the row's code = went left at node i)
    table: np.ndarray  # (2**k, len(features)) Shapley values of the features for each direction code
    expected: float
    leaves: np.ndarray  # (2**k, 1) the leaf value each direction code reaches (the tree's output)


def _parse_trees(text: str) -> list[dict[str, str]]:
    trees, cur = [], None
    for line in text.splitlines():
        if line.startswith("Tree="):
            cur = {}
            trees.append(cur)
        elif line.startswith("end of trees"):
            break
        elif cur is not None and "=" in line:
            key, _, value = line.partition("=")
            cur[key] = value
    return trees


def _ints(tree: dict[str, str], key: str) -> list[int]:
    return [int(v) for v in tree.get(key, "").split()]


def _floats(tree: dict[str, str], key: str) -> list[float]:
    return [float(v) for v in tree.get(key, "").split()]


class TreeTables:
    """Per-tree TreeSHAP lookup tables of a LightGBM binary model (margins: log-odds of bad)."""

    def __init__(self, n_features: int, trees: list[_Tree], conditions: list[tuple], expected: float,
                 constant: float = 0.0) -> None:
        self.n_features = n_features
        self.trees = trees
        self.conditions = conditions
        self.expected_value = expected
        self.constant = constant  # the output of single-leaf trees

    @classmethod
    def from_model_text(cls, text: str, n_features: int, max_splits: int = MAX_SPLITS) -> TreeTables | None:
        """Tables for every tree, or None when some tree has more than `max_splits` splits."""
        cond_ids: dict[tuple, int] = {}
        trees: list[_Tree] = []
        expected = constant = 0.0
        for raw in _parse_trees(text):
            n_leaves = int(raw["num_leaves"])
            leaf_value = np.asarray(_floats(raw, "leaf_value"), dtype=float)
            if n_leaves == 1:
                expected += float(leaf_value[0])
                constant += float(leaf_value[0])
                continue
            if n_leaves - 1 > max_splits:
                return None
            tree = _table_tree(raw, leaf_value, cond_ids)
            expected += tree.expected
            trees.append(tree)
        conditions = [None] * len(cond_ids)
        for key, i in cond_ids.items():
            conditions[i] = key
        return cls(n_features, trees, conditions, expected, constant)

    def contributions(self, X: np.ndarray, engine: str = "auto", threads: int = 0) -> np.ndarray:
        """(rows, features) Shapley values in margin units (log-odds of bad); each row sums with
        `expected_value` to the model's raw margin.

        engine: "auto" (the C kernel when it builds here, else numpy), "kernel" or "numpy".
        """
        return self._sum("shap", X, engine, threads)

    def margins(self, X: np.ndarray, engine: str = "auto", threads: int = 0) -> np.ndarray:
        """The model's raw margin per row (sum of the trees' leaf values), equal to LightGBM's to rounding."""
        return self._sum("leaves", X, engine, threads)[:, 0] + self.constant

    def _layout(self, what: str) -> tuple[list[np.ndarray], list[np.ndarray], int]:
        if what == "shap":
            return [t.table for t in self.trees], [t.features for t in self.trees], self.n_features
        zero = np.zeros(1, dtype=np.intp)
        return [t.leaves for t in self.trees], [zero] * len(self.trees), 1

    def _sum(self, what: str, X: np.ndarray, engine: str, threads: int) -> np.ndarray:
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or X.shape[1] != self.n_features:
            raise ValueError(f"expected a (rows, {self.n_features}) matrix, got shape {X.shape}")
        tables, feats, width = self._layout(what)
        if engine in ("auto", "kernel"):
            from creditflow.scoring.treeshap_kernel import KernelArrays, kernel

            lib = kernel()
            if lib is not None:
                key = f"_arrays_{what}"
                arrays = self.__dict__.get(key)
                if arrays is None:
                    arrays = self.__dict__[key] = KernelArrays(self.conditions, self.trees, tables, feats)
                # small batches (single applicants in the service) stay on the calling thread
                threads = 1 if X.shape[0] < SMALL_BATCH else (threads or os.cpu_count() or 1)
                return arrays.run(lib, X, width, threads)
            if engine == "kernel":
                raise RuntimeError("the TreeSHAP C kernel cannot be built here (no gcc?)")
        out = np.zeros((X.shape[0], width), dtype=np.float64)
        for start in range(0, X.shape[0], CHUNK_ROWS):
            stop = min(start + CHUNK_ROWS, X.shape[0])
            out[start:stop] = self._chunk(X[start:stop], tables, feats, width)
        return out

    def _chunk(self, X: np.ndarray, tables: list[np.ndarray], feats: list[np.ndarray], width: int) -> np.ndarray:
        n = X.shape[0]
        out_t = np.zeros((width, n), dtype=np.float64)  # feature-major: contiguous adds
        cols = [np.ascontiguousarray(X[:, j]) for j in range(X.shape[1])]
        cache: dict[int, np.ndarray] = {}
        for tree, table, fs in zip(self.trees, tables, feats, strict=True):
            code = np.zeros(n, dtype=np.intp)
            for bit, cid in enumerate(tree.nodes):
                left = cache.get(cid)
                if left is None:
                    left = cache[cid] = _goes_left(cols, self.conditions[cid])
                code += left * (1 << bit)
            values = table[code]  # (n, m)
            for k, f in enumerate(fs):
                out_t[f] += values[:, k]
        return out_t.T


def _goes_left(cols: list[np.ndarray], cond: tuple) -> np.ndarray:
    """Which rows go left at a split, exactly as LightGBM's NumericalDecision / CategoricalDecision."""
    kind, feature, threshold, default_left, missing = cond
    x = cols[feature]
    nan = np.isnan(x)
    if kind == "cat":
        ok = ~nan & (x >= 0)
        codes = np.where(ok, x, 0).astype(np.int64)
        members = np.asarray(threshold, dtype=np.int64)
        return ok & np.isin(codes, members)
    if missing == "nan":
        return np.where(nan, default_left, x <= threshold)
    v = np.where(nan, 0.0, x)
    if missing == "zero":
        zero = (v >= -ZERO_THRESHOLD) & (v <= ZERO_THRESHOLD)
        return np.where(zero, default_left, v <= threshold)
    return v <= threshold


def _condition(raw: dict[str, str], node: int, split_feature: list[int], thresholds: list[float]) -> tuple:
    decision = _ints(raw, "decision_type")[node]
    default_left = bool(decision & 2)
    missing = {0: "none", 1: "zero", 2: "nan"}[(decision >> 2) & 3]
    if decision & 1:
        bounds = _ints(raw, "cat_boundaries")
        words = _ints(raw, "cat_threshold")
        idx = int(thresholds[node])
        members = tuple(w * 32 + b for w, word in enumerate(words[bounds[idx]:bounds[idx + 1]])
                        for b in range(32) if (word >> b) & 1)
        return ("cat", split_feature[node], members, False, missing)
    return ("num", split_feature[node], thresholds[node], default_left, missing)


def _table_tree(raw: dict[str, str], leaf_value: np.ndarray, cond_ids: dict[tuple, int]) -> _Tree:
    split_feature = _ints(raw, "split_feature")
    thresholds = _floats(raw, "threshold")
    left, right = _ints(raw, "left_child"), _ints(raw, "right_child")
    leaf_count = np.asarray(_floats(raw, "leaf_count"), dtype=float)
    internal_count = np.asarray(_floats(raw, "internal_count"), dtype=float)
    k = len(split_feature)
    features = list(dict.fromkeys(split_feature))
    m = len(features)
    nodes = []
    for i in range(k):
        key = _condition(raw, i, split_feature, thresholds)
        nodes.append(cond_ids.setdefault(key, len(cond_ids)))

    subsets = np.arange(2**m)
    codes = np.arange(2**k)
    known = {f: ((subsets >> features.index(f)) & 1).astype(bool)[:, None] for f in features}

    def count(node: int) -> float:
        return float(internal_count[node]) if node >= 0 else float(leaf_count[~node])

    def value(node: int) -> np.ndarray:
        """Expected output below `node` for every (known-feature subset, direction code): (2**m, 2**k)."""
        if node < 0:
            return np.full((1, 1), leaf_value[~node])
        lv, rv = value(left[node]), value(right[node])
        goes_left = ((codes >> node) & 1).astype(bool)[None, :]
        followed = np.where(goes_left, lv, rv)
        cl, cr = count(left[node]), count(right[node])
        total = cl + cr if cl + cr > 0 else 1.0
        mixed = (cl * lv + cr * rv) / total
        return np.where(known[split_feature[node]], followed, mixed)

    f = np.broadcast_to(value(0), (2**m, 2**k))
    sizes = np.asarray([bin(s).count("1") for s in subsets])
    weight = np.asarray([math.factorial(s) * math.factorial(m - s - 1) / math.factorial(m) if s < m else 0.0
                         for s in sizes])
    table = np.zeros((2**k, m), dtype=np.float64)
    for j in range(m):
        without = subsets[(subsets >> j) & 1 == 0]
        table[:, j] = (weight[without][:, None] * (f[without | (1 << j)] - f[without])).sum(axis=0)
    expected = float(f[0, 0])
    leaves = np.ascontiguousarray(f[-1][:, None])  # every feature known: the leaf each code reaches
    return _Tree(np.asarray(features, dtype=np.intp), nodes, table, expected, leaves)

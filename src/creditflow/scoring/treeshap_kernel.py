"""A small C kernel for `TreeTables.contributions`: the same lookups as the numpy path, one row at a time.

The kernel is generic (it reads the tables as arrays; nothing model-specific is compiled), built once
with gcc into the creditflow cache (``scoring.compiled.cache_dir()``) and loaded with ctypes. Without
gcc the numpy path is used; both give the same numbers (tests compare them).
"""

from __future__ import annotations

import ctypes
import hashlib
import logging
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

SOURCE = r"""
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

/* Conditions: kind 0 numeric (x <= thr, LightGBM missing handling), 1 categorical (bitset member). */
static inline uint8_t goes_left(double x, int8_t kind, double thr, int8_t dl, int8_t miss,
                                const uint32_t* words, int32_t nwords) {
    if (kind == 1) {
        if (isnan(x) || x < 0) return 0;
        int64_t v = (int64_t)x;
        int64_t w = v >> 5;
        if (w >= nwords) return 0;
        return (uint8_t)((words[w] >> (v & 31)) & 1u);
    }
    if (miss == 2) { if (isnan(x)) return (uint8_t)dl; return x <= thr; }
    if (isnan(x)) x = 0.0;
    if (miss == 1 && x >= -1e-35 && x <= 1e-35) return (uint8_t)dl;
    return x <= thr;
}

int treeshap(const double* X, int64_t n, int32_t F, int32_t G,
             int32_t n_cond, const int32_t* cfeat, const double* cthr, const int8_t* ckind,
             const int8_t* cdl, const int8_t* cmiss, const int32_t* cword_start, const int32_t* cword_len,
             const uint32_t* words,
             int32_t T, const int32_t* tk, const int32_t* tnode_start, const int32_t* nodes,
             const int32_t* tm, const int32_t* tfeat_start, const int32_t* feats,
             const int64_t* ttab_start, const double* tables, double* out, int32_t nthreads) {
    /* X: n rows of F inputs. out: n rows of G sums. Blocks of B rows, tree-major inside a block (each
       tree's table stays in cache), sums kept column-major per block so the adds are independent. */
    enum { B = 64 };
    const int64_t nblocks = (n + B - 1) / B;
    int failed = 0;
    #pragma omp parallel num_threads(nthreads)
    {
        uint8_t* cb = (uint8_t*)malloc((size_t)(n_cond > 0 ? n_cond : 1) * B);
        double* ot = (double*)malloc((size_t)G * B * sizeof(double));
        if (!cb || !ot) { failed = 1; }
        else {
            #pragma omp for schedule(static)
            for (int64_t blk = 0; blk < nblocks; blk++) {
                const int64_t r0 = blk * B;
                const int32_t nb = (int32_t)((n - r0) < B ? (n - r0) : B);
                const double* xb = X + r0 * F;
                for (int64_t i = 0; i < (int64_t)G * B; i++) ot[i] = 0.0;
                for (int32_t i = 0; i < n_cond; i++) {
                    uint8_t* ci = cb + (int64_t)i * B;
                    const double* xf = xb + cfeat[i];
                    const double thr = cthr[i];
                    const uint8_t dl = (uint8_t)cdl[i];
                    if (ckind[i] == 0 && cmiss[i] == 2) {          /* the common case, branch-free */
                        for (int32_t r = 0; r < nb; r++) {
                            const double x = xf[(int64_t)r * F];
                            ci[r] = isnan(x) ? dl : (uint8_t)(x <= thr);
                        }
                    } else if (ckind[i] == 0 && cmiss[i] == 0) {
                        for (int32_t r = 0; r < nb; r++) {
                            const double x = xf[(int64_t)r * F];
                            ci[r] = (uint8_t)((isnan(x) ? 0.0 : x) <= thr);
                        }
                    } else {
                        for (int32_t r = 0; r < nb; r++)
                            ci[r] = goes_left(xf[(int64_t)r * F], ckind[i], thr, cdl[i], cmiss[i],
                                              words + cword_start[i], cword_len[i]);
                    }
                }
                for (int32_t t = 0; t < T; t++) {
                    const int32_t* nd = nodes + tnode_start[t];
                    const int32_t k = tk[t], m = tm[t];
                    const double* tab = tables + ttab_start[t];
                    const int32_t* fs = feats + tfeat_start[t];
                    int32_t code[B];
                    for (int32_t r = 0; r < nb; r++) code[r] = 0;
                    for (int32_t b = 0; b < k; b++) {
                        const uint8_t* ci = cb + (int64_t)nd[b] * B;
                        for (int32_t r = 0; r < nb; r++) code[r] |= ((int32_t)ci[r]) << b;
                    }
                    for (int32_t r = 0; r < nb; r++) code[r] *= m;
                    for (int32_t j = 0; j < m; j++) {
                        double* dst = ot + (int64_t)fs[j] * B;
                        const double* tj = tab + j;
                        for (int32_t r = 0; r < nb; r++) dst[r] += tj[code[r]];
                    }
                }
                double* ob = out + r0 * G;
                for (int32_t r = 0; r < nb; r++)
                    for (int32_t g = 0; g < G; g++) ob[(int64_t)r * G + g] = ot[(int64_t)g * B + r];
            }
        }
        free(cb);
        free(ot);
    }
    return failed;
}
"""

_LIB: ctypes.CDLL | None = None
_TRIED = False


def _build(lib: Path) -> None:
    gcc = shutil.which("gcc") or shutil.which("cc")
    if gcc is None:
        raise RuntimeError("no C compiler")
    lib.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=lib.parent) as tmp:
        src = Path(tmp) / "treeshap.c"
        src.write_text(SOURCE)
        out = Path(tmp) / "treeshap.so"
        for flags in (["-march=native", "-fopenmp"], ["-fopenmp"], []):
            cmd = [gcc, "-O3", "-shared", "-fPIC", *flags, str(src), "-o", str(out)]
            if subprocess.run(cmd, capture_output=True, timeout=120).returncode == 0:
                os.replace(out, lib)
                return
    raise RuntimeError("gcc could not build the TreeSHAP kernel")


def kernel() -> ctypes.CDLL | None:
    """The compiled kernel, built on first use; None when it cannot be built here."""
    global _LIB, _TRIED
    if _LIB is not None or _TRIED:
        return _LIB
    _TRIED = True
    if os.environ.get("CREDITFLOW_NO_KERNEL"):
        return None
    from creditflow.scoring.compiled import cache_dir

    lib = cache_dir() / f"treeshap-{hashlib.sha256(SOURCE.encode()).hexdigest()[:16]}.so"
    try:
        if not lib.exists():
            _build(lib)
        _LIB = ctypes.CDLL(str(lib))
        _LIB.treeshap.restype = ctypes.c_int
    except (OSError, RuntimeError, subprocess.SubprocessError) as exc:
        log.warning("TreeSHAP kernel unavailable (%s); using numpy", exc)
        _LIB = None
    return _LIB


def _ptr(a: np.ndarray) -> ctypes.c_void_p:
    return ctypes.c_void_p(a.ctypes.data)


class KernelArrays:
    """The tables of a `TreeTables` flattened into the arrays the kernel reads."""

    def __init__(self, conditions: list[tuple], trees: list, tables: list[np.ndarray],
                 feats: list[np.ndarray]) -> None:
        nc = len(conditions)
        self.cfeat = np.zeros(nc, np.int32)
        self.cthr = np.zeros(nc, np.float64)
        self.ckind = np.zeros(nc, np.int8)
        self.cdl = np.zeros(nc, np.int8)
        self.cmiss = np.zeros(nc, np.int8)
        self.cword_start = np.zeros(nc, np.int32)
        self.cword_len = np.zeros(nc, np.int32)
        words: list[int] = []
        for i, (kind, feature, threshold, default_left, missing) in enumerate(conditions):
            self.cfeat[i], self.cdl[i] = feature, default_left
            self.cmiss[i] = {"none": 0, "zero": 1, "nan": 2}[missing]
            if kind == "cat":
                self.ckind[i] = 1
                top = max(threshold, default=-1)
                bits = [0] * (top // 32 + 1)
                for v in threshold:
                    bits[v // 32] |= 1 << (v % 32)
                self.cword_start[i], self.cword_len[i] = len(words), len(bits)
                words += bits
            else:
                self.cthr[i] = threshold
        self.words = np.asarray(words or [0], dtype=np.uint32)
        self.tk = np.asarray([len(t.nodes) for t in trees], np.int32)
        self.tnode_start = np.asarray(np.r_[0, np.cumsum(self.tk)[:-1]] if trees else [], np.int32)
        self.nodes = np.asarray([c for t in trees for c in t.nodes] or [0], np.int32)
        self.tm = np.asarray([len(f) for f in feats], np.int32)
        self.tfeat_start = np.asarray(np.r_[0, np.cumsum(self.tm)[:-1]] if trees else [], np.int32)
        self.feats = np.asarray([f for fs in feats for f in fs] or [0], np.int32)
        sizes = [t.size for t in tables]
        self.ttab_start = np.asarray(np.r_[0, np.cumsum(sizes)[:-1]] if trees else [], np.int64)
        self.tables = np.ascontiguousarray(np.concatenate([t.ravel() for t in tables]) if trees else np.zeros(1))
        self.n_trees = len(trees)

    def run(self, lib: ctypes.CDLL, X: np.ndarray, n_out: int, threads: int) -> np.ndarray:
        """(rows, n_out) sums of every tree's table row at each row's direction code."""
        X = np.ascontiguousarray(X, dtype=np.float64)
        out = np.zeros((X.shape[0], n_out), dtype=np.float64)
        if X.shape[0] == 0 or self.n_trees == 0:
            return out
        failed = lib.treeshap(
            _ptr(X), ctypes.c_int64(X.shape[0]), ctypes.c_int32(X.shape[1]), ctypes.c_int32(n_out),
            ctypes.c_int32(len(self.cfeat)), _ptr(self.cfeat), _ptr(self.cthr), _ptr(self.ckind), _ptr(self.cdl),
            _ptr(self.cmiss), _ptr(self.cword_start), _ptr(self.cword_len), _ptr(self.words),
            ctypes.c_int32(self.n_trees), _ptr(self.tk), _ptr(self.tnode_start), _ptr(self.nodes),
            _ptr(self.tm), _ptr(self.tfeat_start), _ptr(self.feats), _ptr(self.ttab_start), _ptr(self.tables),
            _ptr(out), ctypes.c_int32(max(1, threads)),
        )
        if failed:
            raise MemoryError("TreeSHAP kernel could not allocate its row buffer")
        return out

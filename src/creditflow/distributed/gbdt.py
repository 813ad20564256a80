"""The LightGBM challenger (`models.gbdt.GBDTModel`) trained with data-parallel LightGBM on the cluster.

The recipe is the single-machine one: the same stratified folds of the training rows (computed
from the target on the client), the candidate settings tried on the first fold, fold models
averaged into one text model, Platt (or isotonic) calibration on the out-of-fold margins. What
differs: each fold is one data-parallel LightGBM training across the workers, grown in chunks of
rounds (`chunk`) and stopped when the fold's held-out AUC has not improved for `early_stopping`
rounds (measured on at most `max_valid_rows` held-out rows gathered once per fold), and LightGBM
finds its histogram bins per worker. The trees therefore differ slightly from the single-machine
ones; the benchmark measures the AUC difference. The pieces are placed on the workers, and LightGBM's
ranks ordered, by a fixed rule (`_placement`), so the same data, seed and number of workers give the
same model.

The pieces and the ranks are pinned to their workers, so a worker that leaves the cluster mid-training
cannot be replaced: the client waits on the placed workers through `_Watch`, which notices the loss within
seconds, cancels the training's futures, stops the ranks left waiting for their lost peer, and raises a
`CreditflowError` (exit status 2 in the CLI) that says to rerun.
"""

from __future__ import annotations

import contextlib
import time
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pandas as pd

from creditflow.binning.process import BinningProcess, is_categorical
from creditflow.binning.variable import identifier_note
from creditflow.data.dictionary import FieldDictionary
from creditflow.data.errors import CreditflowError
from creditflow.distributed.cluster import worker_info
from creditflow.distributed.labelled import LabelledTable
from creditflow.distributed.source import Piece, read_piece
from creditflow.distributed.stats import TableStats
from creditflow.models.base import remember_params, set_classes

MAX_VALID_ROWS = 200_000
CHUNK_ROUNDS = 200
Y, FOLD, POS, SAMPLE = "__y", "__fold", "__pos", "__sample"
# LightGBM's own socket time-out (`time_out`) is left at its default: it sets it with an `int` where Linux wants a
# `timeval`, so on Linux it has no effect (and a new value would change every model's text); `_Watch` stops a rank
# whose peer is lost by restarting its worker instead
POLL_SECONDS = 1.0  # how often the client asks the scheduler whether the placed workers are still there
GRACE_SECONDS = 5.0  # how long a failed rank, or a rank still running after a loss, is given before acting
_RANKS: Counter = Counter()  # in a worker process: the LightGBM ranks running, per training (`_Watch.token`)


def gbdt_categorical(data: LabelledTable, categorical: list[str] | None) -> list[str]:
    wanted = {str(c) for c in (categorical or [])}
    unknown = wanted - set(data.features)
    if unknown:
        raise CreditflowError(f"categorical columns not in the data: {sorted(unknown)}")
    return [c for c in data.features if c in wanted or is_categorical(data.table.meta[c])]


def encoded_piece(piece: Piece, encoder: dict, labels: np.ndarray, folds: np.ndarray, positions: np.ndarray,
                  sample: np.ndarray) -> pd.DataFrame:
    """The training rows of a piece as LightGBM's float matrix (f0, f1, ...) plus target, fold, position, sample."""
    from creditflow.models.gbdt_features import FeatureEncoder

    enc = FeatureEncoder.from_dict(encoder)
    keep = labels // 2 == 0
    frame = read_piece(piece, enc.features)
    m = enc.matrix(frame.loc[keep])
    out = pd.DataFrame(m, columns=[f"f{i}" for i in range(m.shape[1])], index=frame.index[keep])
    out[Y] = (labels[keep] % 2).astype(np.float64)
    out[FOLD] = folds
    out[POS] = positions
    out[SAMPLE] = sample
    return out


def _margin_partition(frame: pd.DataFrame, model_text: str, names: list[str]) -> pd.Series:
    import lightgbm as lgb

    booster = lgb.Booster(model_str=model_text)
    return pd.Series(booster.predict(frame[names].to_numpy(), raw_score=True, num_threads=1), index=frame.index)


def _early_stop(curve: list[float], patience: int) -> tuple[int, bool]:
    """(best iteration, stopped): LightGBM's early stopping replayed on a validation AUC curve."""
    best, best_auc = 0, -np.inf
    for i, a in enumerate(curve, start=1):
        if a > best_auc:
            best, best_auc = i, a
        elif i - best >= patience:
            return best, True
    return best, False


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("", 0))
        return int(sock.getsockname()[1])


class _NoInfo:
    """LightGBM's logger on a worker: its info lines dropped, warnings kept (printed as LightGBM prints them),
    but for the network's "Connecting to rank 1 failed, waiting for 200 milliseconds": a retry while the ranks
    start a moment apart, expected (on `local:N` it reached the user's terminal)."""

    def info(self, msg: str) -> None:
        text = msg.lstrip()
        if not text.startswith("[LightGBM] [Info]") and "Connecting to rank" not in text:
            import sys

            print(msg, file=sys.stderr)  # noqa: T201 - what LightGBM's own logger does, on stderr

    def warning(self, msg: str) -> None:
        import warnings

        warnings.warn(msg, stacklevel=3)


@contextlib.contextmanager
def _no_stdout() -> Iterator[None]:
    """The worker process's standard output (file descriptor 1) sent to /dev/null meanwhile."""
    import os
    import sys

    sys.stdout.flush()
    saved = os.dup(1)
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 1)
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


def _train_rank(parts: list[pd.DataFrame], k: int, params: dict, n: int, names: list[str], cats: list[int],
                machines: str, port: int, init_model: str | None, return_model: bool, token: str = "") -> str | None:
    """One LightGBM rank of a data-parallel training on one worker: the training rows of fold `k` in its pieces.
    While it runs, `_RANKS[token]` counts it (`_rank_running` asks)."""
    import lightgbm as lgb

    _RANKS[token] += 1
    try:
        lgb.register_logger(_NoInfo())  # the network's "[LightGBM] [Info] Trying to bind port ..." lines, on every rank
        frame = pd.concat([p[p[FOLD] != k] for p in parts])
        clf = lgb.LGBMClassifier(n_estimators=n, **params, tree_learner="data", machines=machines,
                                 local_listen_port=port, num_machines=len(machines.split(",")))
        init = lgb.Booster(model_str=init_model) if init_model is not None else None
        with _no_stdout():  # the network's listening thread prints "[LightGBM] [Info] Listening..." past the logger
            clf.fit(frame[names], frame[Y], feature_name=names, categorical_feature=cats,
                    **({"init_model": init} if init is not None else {}))
        return clf.booster_.model_to_string() if return_model else None
    finally:
        _RANKS[token] -= 1
        if _RANKS[token] <= 0:
            del _RANKS[token]


def _rank_running(token: str) -> bool:
    """Whether this worker process still runs a LightGBM rank of training `token` (run by `Client.run`)."""
    return _RANKS.get(token, 0) > 0


class _Watch:
    """The client's wait on the workers a GBDT training is pinned to.

    The pieces and LightGBM's ranks are placed on fixed workers (`allow_other_workers=False`): if one leaves the
    cluster, Dask cannot run its tasks elsewhere and would wait for good, and the other ranks wait inside
    LightGBM's network for their lost peer. `result` waits on futures while asking the scheduler every
    `POLL_SECONDS` whether the placed workers are still there; on a loss `fail` cancels every future of the
    training, restarts the surviving workers whose rank is still running after `GRACE_SECONDS` (a rank whose
    peer died spins or waits inside LightGBM, which no Python code can interrupt), and raises a
    `CreditflowError`.
    """

    def __init__(self, client: Any, workers: list[str]) -> None:
        import uuid

        self.client, self.workers = client, list(dict.fromkeys(workers))
        self.token = uuid.uuid4().hex
        self.futures: list = []

    def track(self, futures: list) -> list:
        self.futures.extend(futures)
        return futures

    def gone(self) -> list[str]:
        """The placed workers the scheduler no longer knows."""
        try:
            present = worker_info(self.client)
        except Exception:  # noqa: BLE001 - the scheduler itself is unreachable: gathering will say so
            return []
        return [w for w in self.workers if w not in present]

    def result(self, futures: list) -> list:
        """`client.gather(futures)`, or a `CreditflowError` within seconds of a placed worker leaving."""
        futures = self.track(list(futures))
        next_check = 0.0
        while not all(f.done() for f in futures):
            if any(f.status in ("error", "cancelled", "lost") for f in futures):
                break
            if time.monotonic() >= next_check:
                self._check()
                next_check = time.monotonic() + POLL_SECONDS
            time.sleep(0.05)
        if any(f.status != "finished" for f in futures):
            # a rank fails when its peer's process dies: the scheduler sees the loss a moment later
            deadline = time.monotonic() + GRACE_SECONDS
            while time.monotonic() < deadline:
                self._check()
                time.sleep(0.25)
        return self.client.gather(futures)

    def _check(self) -> None:
        gone = self.gone()
        if gone:
            self.fail(gone)

    def fail(self, gone: list[str]) -> None:
        """Cancel the training, stop the ranks left behind, and raise."""
        with contextlib.suppress(Exception):
            self.client.cancel(self.futures, force=True)
        restarted, stuck = self._stop_ranks([w for w in self.workers if w not in gone])
        more = f" (and {len(gone) - 1} other worker(s))" if len(gone) > 1 else ""
        text = (f"worker {gone[0]}{more} left the cluster during GBDT training; rerun (the same data, seed and "
                "number of workers give the same model)")
        if restarted:
            text += f"; restarted worker(s) {', '.join(restarted)} to stop their LightGBM rank, left waiting for it"
        if stuck:
            text += (f"; worker(s) {', '.join(stuck)} still run a LightGBM rank waiting for it and could not be "
                     "restarted from here (no nanny?): restart them")
        raise CreditflowError(text)

    def _stop_ranks(self, survivors: list[str]) -> tuple[list[str], list[str]]:
        """(restarted, left running): the surviving workers whose rank of this training still runs after
        `GRACE_SECONDS`, restarted through their nanny."""
        if not survivors:
            return [], []
        running: list[str] = []
        deadline = time.monotonic() + GRACE_SECONDS
        try:
            while True:
                answers = self.client.run(_rank_running, self.token, workers=survivors, on_error="return")
                running = [w for w in survivors if answers.get(w) is True]
                if not running or time.monotonic() >= deadline:
                    break
                time.sleep(0.5)
            if not running:
                return [], []
            status = self.client.restart_workers(running, timeout=60, raise_for_error=False)
        except Exception:  # noqa: BLE001 - the cluster is going away too: nothing more to stop from here
            return [], running
        restarted = [w for w in running if status.get(w) == "OK"]
        return restarted, [w for w in running if w not in restarted]


def _fit_rounds(client: Any, placed: list[tuple[str, list]], k: int, params: dict, n: int, names: list[str],
                cats: list[int], init_model: str | None, watch: _Watch) -> Any:
    """`n` more rounds of data-parallel LightGBM on the training rows of fold `k`: rank r is the r-th worker of
    `placed`, which holds the r-th block of pieces (what `lightgbm.dask` does, but with the pieces, their
    workers and the ranks' order fixed, so that the same data, seed and number of workers give the same trees)."""
    from urllib.parse import urlparse

    import lightgbm as lgb

    ports = watch.result([client.submit(_free_port, workers=[w], allow_other_workers=False, pure=False)
                          for w, _ in placed])
    machines = ",".join(f"{urlparse(w).hostname}:{port}" for (w, _), port in zip(placed, ports, strict=True))
    ncores = client.ncores()
    futures = [
        client.submit(_train_rank, parts, k, {**params, "num_threads": ncores[w]}, n, names, cats, machines, port,
                      init_model, r == 0, watch.token, workers=[w], allow_other_workers=False, pure=False)
        for r, ((w, parts), port) in enumerate(zip(placed, ports, strict=True))
    ]
    text = watch.result(futures)[0]
    return lgb.Booster(model_str=text)


def _without_ports(text: str) -> str:
    """A model text without the ports its training happened to listen on (chosen at random each run), which
    LightGBM writes among the parameters: the same data and seed give the same text."""
    import re

    text = re.sub(r"^\[local_listen_port: \d+\]$", "[local_listen_port: 12400]", text, count=1, flags=re.M)
    return re.sub(r"^\[machines: [^\]\n]*\]$", "[machines: ]", text, count=1, flags=re.M)


def _fit_fold(client: Any, frame: Any, k: int, params: dict, placed: list[tuple[str, list]], names: list[str],
              cats: list[int], max_rounds: int, patience: int, chunk: int, y_train: np.ndarray, watch: _Watch) -> Any:
    import lightgbm as lgb

    from creditflow.evaluation.metrics import auc
    from creditflow.models.gbdt_boost import FoldFit

    valid_all = frame[frame[FOLD] == k]
    (sample,) = watch.result([client.compute(valid_all[valid_all[SAMPLE]][[*names, Y]])])
    xv, yv = sample[names].to_numpy(), sample[Y].to_numpy()
    margin = np.zeros(len(yv))
    curve: list[float] = []
    booster = None
    while len(curve) < max_rounds:
        n = min(chunk, max_rounds - len(curve))
        booster = _fit_rounds(client, placed, k, params, n, names, cats,
                              booster.model_to_string() if booster is not None else None, watch)
        for i in range(len(curve), booster.current_iteration()):
            margin += booster.predict(xv, raw_score=True, start_iteration=i, num_iteration=1)
            curve.append(auc(yv, margin))
        best, stopped = _early_stop(curve, patience)
        if stopped:
            break
    best, _ = _early_stop(curve, patience)
    text = _without_ports(booster.model_to_string(num_iteration=best))
    valid = valid_all[[*names, POS]]
    margins, positions = watch.result(client.compute([
        valid.map_partitions(_margin_partition, text, names, meta=pd.Series(dtype=float)), valid[POS]]))
    positions = positions.to_numpy()
    m = margins.to_numpy()
    return FoldFit(lgb.Booster(model_str=text), best, auc(y_train[positions], m), positions, m)


def fit_gbdt(
    client: Any, data: LabelledTable, stats: TableStats, params: dict | None = None,
    progress: Callable[[str], None] | None = None, *, chunk: int = CHUNK_ROUNDS, max_valid_rows: int = MAX_VALID_ROWS,
) -> Any:
    """A `GBDTModel(**params)` fitted on the training rows of `data` with data-parallel LightGBM across the workers."""
    import dask

    from creditflow.models.gbdt import GBDTModel, _settings
    from creditflow.models.gbdt_boost import DEFAULT_CANDIDATES, check_candidate, fixed_params
    from creditflow.models.gbdt_features import FeatureEncoder
    from creditflow.scoring.scaling import Grades, Scaling

    say = progress or (lambda _msg: None)
    model = GBDTModel(**(params or {}))
    model._check_parameters()
    model.scaling_ = _settings(model.scaling, Scaling)
    model.scaling_.check()
    model.grades_ = Grades.of(model.grades, model.scaling_)
    model.dictionary_ = model.dictionary or data.dictionary or FieldDictionary()
    cats = gbdt_categorical(data, model.categorical)
    model.unused_ = {c: note for c in cats
                     if (note := identifier_note(len(stats.counts[c].values), int(stats.counts[c].n_rows)))}
    cats = [c for c in cats if c not in model.unused_]
    model.encoder_ = FeatureEncoder(features=[f for f in data.features if f not in model.unused_],
                                    categories={c: stats.counts[c].values.tolist() for c in cats})
    model.monotone_ = _monotone(model, stats, data)
    lgb_params = fixed_params(float(model.learning_rate), int(model.random_state), int(model.num_threads))
    if any(model.monotone_.values()):
        lgb_params["monotone_constraints"] = [int(model.monotone_.get(f, 0)) for f in model.encoder_.features]
        lgb_params["monotone_constraints_method"] = "intermediate"
    train_rows = data.role == 0
    y_train = data.y[train_rows].astype(float)
    splits = model._splits(y_train)
    fold = np.full(len(y_train), -1, dtype=np.int16)
    for k, (_, va) in enumerate(splits):
        fold[va] = k
    rng = np.random.default_rng(int(model.random_state))
    sample = np.ones(len(y_train), dtype=bool)
    for _, va in splits:
        if len(va) > max_valid_rows:
            sample[va] = False
            sample[rng.choice(va, max_valid_rows, replace=False)] = True
    names = [f"f{i}" for i in range(len(model.encoder_.features))]
    cat_idx = model.encoder_.categorical_indices
    frame, placed = _training_frame(client, data, model.encoder_.to_dict(), fold, sample, names)
    watch = _Watch(client, [w for w, _ in placed])
    watch.track([f for _, parts in placed for f in parts])
    fit = {"placed": placed, "names": names, "cats": cat_idx, "max_rounds": int(model.max_rounds),
           "patience": int(model.early_stopping), "chunk": chunk, "y_train": y_train, "watch": watch}
    candidates = [check_candidate(c) for c in (model.candidates or DEFAULT_CANDIDATES)]
    if not model.tune:
        candidates = candidates[:1]
    trials, first = [], []
    with dask.config.set({"dataframe.convert-string": False}), client.as_current():
        for i, cand in enumerate(candidates):
            say(f"LightGBM candidate {i + 1}/{len(candidates)} on fold 1 of {len(splits)}")
            f = _fit_fold(client, frame, 0, {**lgb_params, **cand}, **fit)
            first.append(f)
            trials.append({**cand, "best_iteration": f.best_iteration, "valid_auc": f.valid_auc})
        best = max(range(len(trials)), key=lambda i: (round(trials[i]["valid_auc"], 6), -trials[i]["best_iteration"]))
        model.params_ = {**lgb_params, **candidates[best]}
        fits = [first[best]]
        for k in range(1, len(splits)):
            say(f"LightGBM fold {k + 1}/{len(splits)}")
            fits.append(_fit_fold(client, frame, k, model.params_, **fit))
    model._finish(fits, y_train, trials, best)
    model.feature_names_in_ = np.asarray(model.encoder_.features, dtype=object)
    model.n_features_in_ = len(model.feature_names_in_)
    set_classes(model)
    remember_params(model)
    return model


def _training_frame(client: Any, data: LabelledTable, encoder: dict, fold: np.ndarray, sample: np.ndarray,
                    names: list[str]) -> tuple[Any, list[tuple[str, list]]]:
    """The encoded training rows of every piece in worker memory (LightGBM needs them there), and where.

    The pieces are placed by `_placement`, not by the scheduler: piece i is held by a worker fixed by i and
    the number of workers, so that every run gives each LightGBM rank the same rows. Returns the Dask frame
    of the pieces (in table order) and, per worker in rank order, the futures of its pieces.
    """
    import dask.dataframe as dd

    labels = data.labels()
    train = data.role == 0
    starts = np.concatenate([[0], np.cumsum([int((lab // 2 == 0).sum()) for lab in labels])])
    pieces = data.table.pieces
    meta = pd.DataFrame({**{n: pd.Series(dtype=float) for n in names}, Y: pd.Series(dtype=float),
                         FOLD: pd.Series(dtype=np.int16), POS: pd.Series(dtype=np.int64),
                         SAMPLE: pd.Series(dtype=bool)})
    assert int(train.sum()) == int(starts[-1])
    workers = _placement(client, len(pieces))
    futures = [
        client.submit(encoded_piece, piece, encoder, lab, fold[a:b], np.arange(a, b), sample[a:b],
                      workers=[w], allow_other_workers=False, pure=False)
        for piece, lab, a, b, w in zip(pieces, labels, starts[:-1], starts[1:], workers, strict=True)
    ]
    placed: dict[str, list] = {}
    for f, w in zip(futures, workers, strict=True):
        placed.setdefault(w, []).append(f)
    frame = dd.from_delayed(futures, meta=meta, divisions=None, verify_meta=False)
    return frame, list(placed.items())


def _placement(client: Any, n_pieces: int) -> list[str]:
    """The worker of each piece: the workers in a stable order (by name, which `LocalCluster` numbers; then by
    address), piece i on worker ⌊i·W/P⌋, so consecutive pieces form one block per worker."""
    info = worker_info(client)
    order = sorted(info, key=lambda a: (str(info[a].get("name", a)), a))
    if not order:
        raise CreditflowError("the Dask cluster has no workers", hint="start some with `dask worker ADDRESS`")
    w = len(order)
    return [order[i * w // n_pieces] for i in range(n_pieces)]


def _monotone(model: Any, stats: TableStats, data: LabelledTable) -> dict[str, int]:
    from collections.abc import Mapping

    if isinstance(model.monotone, Mapping):
        bad = {k: v for k, v in model.monotone.items() if k not in data.features or v not in (-1, 0, 1)}
        if bad:
            raise CreditflowError(f"monotone must map model columns to -1, 0 or +1; bad entries: {bad}")
        cats = [k for k, v in model.monotone.items() if v and k in model.encoder_.categories]
        if cats:
            raise CreditflowError(f"categorical columns cannot be monotone: {cats}")
        return {k: int(v) for k, v in model.monotone.items()}
    if model.monotone != "binning":
        return {}
    from creditflow.distributed.scorecard import binning_from_stats

    numeric = [f for f in model.encoder_.features if f not in model.encoder_.categories]
    if not numeric:
        return {}
    # `gbdt_boost.monotone_trends` from the merged counts: ascending, descending and free binnings
    iv = {trend: binning_from_stats(BinningProcess(monotonic=trend), stats, numeric, []).iv_
          for trend in ("ascending", "descending", "none")}
    out = {}
    for name in numeric:
        up, down, free = iv["ascending"][name], iv["descending"][name], iv["none"][name]
        best = max(up, down)
        out[name] = (1 if up >= down else -1) if best >= 0.02 and best >= 0.8 * free else 0
    return out

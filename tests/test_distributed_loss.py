"""A Dask worker lost mid-run: GBDT training fails within seconds with one line and exit status 2 (it used to hang
for good); Dask's own lost-worker errors become one `error:` line; `local:N` starts no dashboard on port 8787.

The kill tests start their own scheduler and two `dask worker` processes (each with a nanny, as `dask worker`
starts them) and kill a worker process with SIGKILL while `creditflow train` runs as a subprocess."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pandas as pd
import pytest

from creditflow.data.errors import CreditflowError
from tests.conftest import UCI, UCI_TARGET
from tests.dask_cluster import free_port

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)])}
LIMIT = 180  # seconds a failing run may take after the kill (it answers within seconds; generous against flakiness)


def _spawn(*args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", *args], env=ENV, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)  # the worker's nanny and its worker process: their own group
    proc.wait(timeout=30)


@pytest.fixture
def tcp_cluster():
    """(scheduler address, client): a scheduler and workers wA, wB (1 thread each, with nannies), stopped after."""
    from dask.distributed import Client

    address = f"tcp://127.0.0.1:{free_port()}"
    procs = [_spawn("distributed.cli.dask_scheduler", "--host", "127.0.0.1", "--port", address.rsplit(":", 1)[1],
                    "--no-dashboard")]
    client = None
    try:
        for name in ("wA", "wB"):
            procs.append(_spawn("distributed.cli.dask_worker", address, "--nthreads", "1", "--name", name,
                                "--no-dashboard", "--memory-limit", "2GiB"))
        client = Client(address, timeout=60, set_as_default=False)
        client.wait_for_workers(2, timeout=120)
        yield address, client
    finally:
        if client is not None:
            client.close()
        for proc in reversed(procs):
            _stop(proc)


def _worker_pid(client, name: str) -> tuple[str, int]:
    info = client.scheduler_info(n_workers=-1)["workers"]
    address = next(a for a, w in info.items() if w.get("name") == name)
    return address, client.run(os.getpid, workers=[address])[address]


def _loans(folder: Path, rows: int = 6000) -> Path:
    frame = pd.read_csv(UCI).head(rows)
    folder.mkdir()
    for i, part in enumerate((frame.iloc[: rows // 3], frame.iloc[rows // 3 : 2 * rows // 3],
                              frame.iloc[2 * rows // 3 :])):
        part.to_parquet(folder / f"part.{i}.parquet", index=False)
    return folder


def _train(folder: Path, out: Path, address: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "creditflow", "train", str(folder), "--target", UCI_TARGET, "--id", "ID", "--model",
         "gbdt", "--out", str(out), "--cluster", address, "--no-report", "-p", "folds=3", "-p", "tune=false",
         "-p", "learning_rate=0.05", "-p", "early_stopping=400", "-p", "max_rounds=2000"],
        env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def _read(stream, lines: list[str], seen: threading.Event, marker: str) -> None:
    for line in stream:
        lines.append(line)
        if marker in line:
            seen.set()


@pytest.mark.parametrize("when", ["pieces", "rank"])
def test_a_worker_killed_during_gbdt_training_fails_in_bounded_time(tcp_cluster, tmp_path, when):
    """`pieces`: killed as the pieces are placed; `rank`: killed while its LightGBM rank trains, the other rank
    waiting for it inside LightGBM's network. Before: the run hung for good. Now: exit 2 within seconds, one
    line naming the worker, no output, and the surviving worker free again."""
    address, client = tcp_cluster
    folder = _loans(tmp_path / "loans")
    out = tmp_path / "out"
    victim, pid = _worker_pid(client, "wA")
    proc = _train(folder, out, address)
    lines: list[str] = []
    started = threading.Event()
    reader = threading.Thread(target=_read, args=(proc.stderr, lines, started, "LightGBM candidate 1/1"),
                              daemon=True)
    reader.start()
    try:
        assert started.wait(LIMIT), "".join(lines)
        if when == "rank":  # wait until both ranks of a LightGBM training run
            deadline = time.monotonic() + LIMIT
            while time.monotonic() < deadline:
                busy = client.processing()
                if all(any("_train_rank" in str(k) for k in busy.get(w, ())) for w in busy) and len(busy) == 2:
                    break
                time.sleep(0.02)
            else:
                pytest.fail("no LightGBM training seen on both workers")
        os.kill(pid, signal.SIGKILL)
        killed = time.monotonic()
        rc = proc.wait(timeout=LIMIT)
        took = time.monotonic() - killed
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    reader.join(timeout=10)
    text = " ".join("".join(lines).split())
    assert rc == 2, text
    assert f"error: worker {victim} left the cluster during GBDT training; rerun" in text
    assert "Traceback" not in text and "internal error" not in text
    assert took < LIMIT
    assert not out.exists()
    # no rank left running: every worker (the killed one back under its nanny) takes a task at once
    client.wait_for_workers(2, timeout=120)
    assert client.submit(sum, [1, 2], pure=False).result(timeout=60) == 3
    answers = client.run(lambda: sorted(__import__("creditflow.distributed.gbdt", fromlist=["_RANKS"])._RANKS))
    assert all(v == [] for v in answers.values()), answers


def test_dask_lost_worker_errors_become_one_clear_line(tmp_path):
    """A scattered object lost with its worker: Dask raised FutureCancelledError ("lost dependencies"), which the
    CLI printed as `internal error: FutureCancelledError ...`, exit 1. Now a CreditflowError (exit 2) naming the
    worker that left and saying a rerun is safe."""
    from creditflow.distributed.cluster import cluster_client

    with pytest.raises(CreditflowError) as info, cluster_client("local:1") as client:
        (worker,) = client.scheduler_info()["workers"]
        data = client.scatter(list(range(1000)), workers=[worker])
        pid = client.run(os.getpid)[worker]
        os.kill(pid, signal.SIGKILL)
        client.submit(len, data, pure=False).result(timeout=120)
    text = info.value.message
    assert f"worker {worker} left the cluster during the run" in text, text
    assert "rerun the command" in text


def test_lost_worker_errors_name_what_happened():
    from distributed.client import FutureCancelledError
    from distributed.comm.core import CommClosedError

    from creditflow.distributed.cluster import _lost_message

    class Client:  # the scheduler now lists one worker fewer
        def scheduler_info(self, n_workers=-1):
            return {"workers": {"tcp://b:2": {}}}

    text = _lost_message(Client(), {"tcp://a:1", "tcp://b:2"},
                         FutureCancelledError(key="x", reason="lost dependencies"))
    assert text.startswith("worker tcp://a:1 left the cluster during the run") and "lost dependencies" in text
    assert "the connection to the Dask cluster was lost" in _lost_message(Client(), set(), CommClosedError("gone"))

    # the scheduler killed mid-run: the client cancels every task and lists no workers any more, which read as
    # "worker tcp://a:1, tcp://b:2 left the cluster ... its data was lost" while the workers were fine
    class Orphan:
        def scheduler_info(self, n_workers=-1):
            return {"workers": {}}

    text = _lost_message(Orphan(), {"tcp://a:1", "tcp://b:2"},
                         FutureCancelledError(key="x", reason="scheduler-connection-lost"))
    assert text.startswith("the connection to the Dask scheduler was lost during the run"), text
    assert "left the cluster" not in text and "rerun the command" in text


def test_local_cluster_starts_no_dashboard_on_8787_and_prints_no_dask_warnings():
    """`local:N` said "no dashboard" but its scheduler served HTTP on port 8787: a second cluster warned "Port 8787
    is already in use". Now no dashboard, and the scheduler's HTTP routes on a free loopback port. A graph over
    10 MB no longer prints Dask's "Sending large graph" warning."""
    import warnings
    from urllib.request import urlopen

    from creditflow.distributed.cluster import cluster_client

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with cluster_client("local:1") as first, cluster_client("local:1") as second:
            ports = [c.scheduler_info()["services"].get("dashboard") for c in (first, second)]
            assert first.submit(len, b"x" * 12_000_000, pure=False).result(timeout=120) == 12_000_000
            try:
                status = urlopen(f"http://127.0.0.1:{ports[0]}/status", timeout=10).status  # noqa: S310
            except OSError as exc:  # 404: no dashboard
                status = getattr(exc, "code", None)
    assert 8787 not in ports, ports
    assert status == 404
    shown = [str(w.message) for w in caught]
    assert not [m for m in shown if "already in use" in m or "large graph" in m], shown

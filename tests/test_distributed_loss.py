"""A Dask worker lost mid-run: Dask's own lost-worker errors become one `error:` line (exit status 2)."""

from __future__ import annotations

import os
import signal

import pytest

from creditflow.data.errors import CreditflowError


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

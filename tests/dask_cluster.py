"""One real Dask `LocalCluster` (2 worker processes, 1 thread each) shared by the distributed tests."""

from __future__ import annotations

import socket
from typing import Any

_STATE: dict[str, Any] = {}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def shared_client() -> Any:
    """The session's client, starting the cluster on first use (explicit port, no dashboard)."""
    if "client" not in _STATE:
        import logging

        from dask.distributed import Client, LocalCluster

        cluster = LocalCluster(
            n_workers=2, processes=True, threads_per_worker=1, host="127.0.0.1", scheduler_port=free_port(),
            dashboard_address=None, silence_logs=logging.ERROR, memory_limit="2GiB",
        )
        _STATE["cluster"], _STATE["client"] = cluster, Client(cluster, set_as_default=False)
    return _STATE["client"]


def close() -> None:
    client, cluster = _STATE.pop("client", None), _STATE.pop("cluster", None)
    if client is not None:
        client.close()
    if cluster is not None:
        cluster.close()

"""Connecting to a Dask cluster: ``local:N`` starts one on this machine, ``tcp://host:port`` joins one."""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import Iterator
from typing import Any

from creditflow.data.errors import CreditflowError

_LOCAL = re.compile(r"^local(?::(\d+))?$")
_REMOTE = re.compile(r"^(tcp|tls|ucx|inproc)://\S+$")
CLUSTER_HELP = "Dask cluster: local:N starts N worker processes here; tcp://host:port joins a running scheduler."


def parse_cluster(spec: str) -> tuple[str, int | str]:
    """("local", N workers) or ("remote", scheduler address) from a ``--cluster`` value."""
    text = str(spec).strip()
    m = _LOCAL.match(text)
    if m:
        n = int(m.group(1)) if m.group(1) else _cpu_count()
        if not 1 <= n <= 1024:
            raise CreditflowError(f"--cluster {text}: the number of local workers must be between 1 and 1024")
        return "local", n
    if _REMOTE.match(text):
        return "remote", text
    raise CreditflowError(
        f"--cluster {text!r} is not understood; use local:N (N worker processes on this machine) "
        "or a scheduler address such as tcp://10.0.0.5:8786"
    )


def worker_info(client: Any) -> dict[str, dict]:
    """The scheduler's record of every connected worker, by address (Dask lists only the first 5 by default)."""
    return client.scheduler_info(n_workers=-1)["workers"]


def _cpu_count() -> int:
    import os

    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)


@contextlib.contextmanager
def cluster_client(
    spec: Any,
    *,
    memory_limit: str | float | None = None,
    local_directory: str | None = None,
    timeout: float = 30.0,
    check_versions: bool = True,
) -> Iterator[Any]:
    """A `dask.distributed.Client` for ``--cluster`` SPEC, closed (and a local cluster stopped) on exit.

    `spec` is ``local:N`` (a `LocalCluster` of N single-threaded worker processes, no dashboard,
    `memory_limit` per worker, e.g. ``"2GiB"``), a scheduler address (``tcp://host:port``), or an
    existing `Client`, which is used as is and left open. Every worker must run the same creditflow
    version as this process; a scheduler that cannot be reached within `timeout` seconds is a
    `CreditflowError`.
    """
    try:
        import dask
        from dask.distributed import Client, LocalCluster
    except ImportError:  # pragma: no cover - the [dask] extra is missing
        raise CreditflowError(
            "--cluster needs Dask: pip install 'creditflow[dask]' (dask[distributed,dataframe])"
        ) from None
    if isinstance(spec, Client):
        with lost_workers(spec):
            yield spec
        return
    kind, where = parse_cluster(spec)
    quieted: dict[str, int] = {}  # the log levels a Ctrl-C lowered, restored once the cluster is closed
    with contextlib.ExitStack() as outer:
        outer.callback(_restore_levels, quieted)
        stack = outer.enter_context(contextlib.ExitStack())
        # the client's own log, restored once it is closed (the callbacks run last-in, first-out)
        client_log = logging.getLogger("distributed.client")
        stack.callback(client_log.setLevel, client_log.level)
        # a connection to a lost worker fails in the background with a logged traceback (CommClosedError from
        # its batched sender): `lost_workers` says it in one line, so those logs stay quiet while we run
        batched_log = logging.getLogger("distributed.batched")
        stack.callback(batched_log.setLevel, batched_log.level)
        batched_log.setLevel(logging.CRITICAL)
        # a big table's task graph (its pieces' labels) passes Dask's 10 MB threshold: its "Sending large graph"
        # warning, printed amid the progress lines with a source path, is not the user's business
        stack.enter_context(dask.config.set({"distributed.admin.large-graph-warning-threshold": "64GiB"}))
        if kind == "local":
            with _workers_ignore_sigint():
                cluster = _local_cluster(stack, LocalCluster, int(where), memory_limit, local_directory)
            client = stack.enter_context(Client(cluster, set_as_default=False))
        else:
            _check_scheduler(str(where), timeout)
            try:
                client = stack.enter_context(Client(str(where), timeout=timeout, set_as_default=False))
            except (OSError, TimeoutError) as exc:
                raise CreditflowError(
                    f"cannot reach the Dask scheduler at {where} within {timeout:g} s: {exc}",
                    hint="start it with `dask scheduler` and workers with `dask worker ADDRESS`",
                ) from None
        # closing right after a failed run can cancel the client's reconnection to the scheduler, which it logs
        # as an ERROR with a traceback: quiet while it closes, as the run has said what happened
        stack.callback(client_log.setLevel, logging.CRITICAL)
        if check_versions:
            check_workers(client)
        with lost_workers(client), _quiet_on_sigint(quieted):
            yield client


def _local_cluster(stack: contextlib.ExitStack, local_cluster: Any, n_workers: int, memory_limit: Any,
                   local_directory: str | None) -> Any:
    """A `LocalCluster` of `n_workers` single-threaded worker processes, closed by `stack`."""
    return stack.enter_context(
        local_cluster(
            n_workers=n_workers, threads_per_worker=1, processes=True, dashboard_address=None,
            # dashboard_address=None alone still starts the scheduler's HTTP server on port 8787 (a
            # second cluster warns "Port 8787 is already in use"): no dashboard, and its health/metrics
            # routes on a free loopback port
            scheduler_kwargs={"dashboard": False, "dashboard_address": "127.0.0.1:0"},
            scheduler_port=0, memory_limit=memory_limit if memory_limit is not None else "auto",
            # CRITICAL: a task refusing bad input is logged by its worker as "Compute Failed" with a
            # traceback; the client raises the same error, which the CLI prints as one line
            local_directory=local_directory, silence_logs=logging.CRITICAL,
        )
    )


@contextlib.contextmanager
def _workers_ignore_sigint() -> Iterator[None]:
    """Start local workers with Ctrl-C ignored: the terminal sends SIGINT to every process of the foreground
    group, and each worker process printed its own KeyboardInterrupt traceback; this process alone stops on it
    and closes the cluster. An ignored signal stays ignored in the processes started meanwhile (Python installs
    its KeyboardInterrupt handler only where SIGINT is at its default). The cost: a Ctrl-C in the few seconds
    the cluster takes to start is lost; press it again. (Blocking the signal instead does not reach the workers:
    processes are started with the signal mask reset.)"""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    before = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, before)


def _in_gc_callback(frame: Any) -> bool:
    """Whether the code running at `frame` (or one of its callers) is a garbage-collection callback."""
    import gc

    codes = {getattr(getattr(cb, "__func__", cb), "__code__", None) for cb in gc.callbacks}
    while frame is not None:
        if frame.f_code in codes:
            return True
        frame = frame.f_back
    return False


def _restore_levels(levels: dict[str, int]) -> None:
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)


@contextlib.contextmanager
def _quiet_on_sigint(quieted: dict[str, int]) -> Iterator[None]:
    """Ctrl-C during a cluster run stops it with KeyboardInterrupt as usual, but first quiets Dask's and asyncio's
    logs: the client's cancelled gathers are reported as "Task exception was never retrieved" tracebacks (AllExit)
    while the interrupt unwinds and the client closes, noise for a run stopped on purpose. `quieted` receives the
    levels it lowered, for the caller to restore once the client and cluster are closed."""
    import _thread
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread() or \
            signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        yield
        return

    def interrupted(signum: int, frame: Any) -> None:
        if _in_gc_callback(frame):
            # raised in a gc callback (Dask's scheduler here registers one), KeyboardInterrupt would be printed as
            # "Exception ignored in ..." and dropped, and the run would go on: deliver the interrupt again
            threading.Timer(0.05, _thread.interrupt_main).start()
            return
        for name in ("distributed", "asyncio", "tornado"):
            quieted.setdefault(name, logging.getLogger(name).level)
            logging.getLogger(name).setLevel(logging.CRITICAL + 1)
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, interrupted)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)


@contextlib.contextmanager
def lost_workers(client: Any) -> Iterator[None]:
    """Dask's own errors for a worker (or the scheduler) lost mid-run, raised meanwhile, as a `CreditflowError`
    naming what happened and saying that a rerun is safe: a task cancelled for lost dependencies or lost data
    (`FutureCancelledError`), a task whose workers kept dying (`KilledWorker`), a closed connection
    (`CommClosedError`). The CLI prints it as one `error:` line, exit status 2."""
    from concurrent.futures import CancelledError

    from distributed.comm.core import CommClosedError
    from distributed.scheduler import KilledWorker

    try:
        before = set(worker_info(client))
    except Exception:  # noqa: BLE001 - only used to name a lost worker
        before = set()
    try:
        yield
    except (CancelledError, KilledWorker, CommClosedError) as exc:
        raise CreditflowError(_lost_message(client, before, exc)) from None


def _lost_message(client: Any, before: set[str], exc: BaseException) -> str:
    from distributed.comm.core import CommClosedError
    from distributed.scheduler import KilledWorker

    rerun = "rerun the command (the same data and seed give the same result)"
    detail = " ".join(str(exc).split())
    if isinstance(exc, CommClosedError):
        return f"the connection to the Dask cluster was lost during the run ({detail[:200] or 'CommClosedError'}); {rerun}"
    if isinstance(exc, KilledWorker):
        last = getattr(getattr(exc, "last_worker", None), "address", None)
        return (f"Dask workers died while running a task{f' (the last, {last})' if last else ''}, again on each "
                f"retry (out of memory?); {rerun}, on workers with more memory if it happens again")
    reason = getattr(exc, "reason", None) or detail[:200] or type(exc).__name__
    if reason == "scheduler-connection-lost":  # the client cancels its tasks: the workers it knew seem gone too
        return f"the connection to the Dask scheduler was lost during the run (Dask: {reason}); {rerun}"
    gone: list[str] = []
    if before:
        try:
            gone = sorted(before - set(worker_info(client)))
        except Exception:  # noqa: BLE001 - the scheduler may be gone as well
            gone = []
    who = f"worker {', '.join(gone)}" if gone else "a Dask worker"
    return f"{who} left the cluster during the run: its data was lost (Dask: {reason}); {rerun}"


def _check_scheduler(address: str, timeout: float) -> None:
    """Ask `address` who it is before a `Client` connects: something else listening there (a dashboard,
    a web server) would otherwise make the client read garbage as a message (a MemoryError on a huge
    length) or wait on it without end."""
    import asyncio

    _check_listening(address, timeout)

    async def identity() -> Any:
        from distributed.comm import connect

        comm = await connect(address, timeout=timeout)
        try:
            await comm.write({"op": "identity", "reply": True})
            return await comm.read()
        finally:
            comm.abort()

    try:
        reply = asyncio.run(asyncio.wait_for(identity(), timeout))
    except Exception as exc:  # noqa: BLE001 - refused, timed out, or not speaking Dask's protocol
        what = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        raise CreditflowError(f"cannot reach a Dask scheduler at {address} within {timeout:g} s ({what[:200]})",
                              hint="start it with `dask scheduler` and workers with `dask worker ADDRESS`; "
                                   "the address is the scheduler's (tcp://host:8786), not its dashboard's") from None
    if not isinstance(reply, dict) or reply.get("type") != "Scheduler":
        raise CreditflowError(f"{address} answers, but is not a Dask scheduler",
                              hint="the address is the scheduler's (tcp://host:8786), not a worker's or a dashboard's")


def _check_listening(address: str, timeout: float) -> None:
    """A tcp:// address where nothing listens, or whose host name does not resolve (a typo), is refused at once,
    saying so, not after `timeout` seconds of Dask retrying to connect."""
    import socket
    from urllib.parse import urlparse

    if not address.startswith("tcp://"):
        return
    url = urlparse(address)
    try:
        host, port = url.hostname, url.port
    except ValueError:
        return  # an odd port: Dask's own connect says what is wrong
    if not host or port is None:
        return
    try:
        with socket.create_connection((host, port), timeout=timeout):
            pass
    except socket.gaierror as exc:
        raise CreditflowError(f"cannot reach a Dask scheduler at {address}: the host name {host!r} cannot be resolved "
                              f"({exc.strerror or exc})",
                              hint="check the scheduler's host name or give its IP address (tcp://10.0.0.5:8786)") from None
    except ConnectionRefusedError:
        raise CreditflowError(f"cannot reach a Dask scheduler at {address}: connection refused (nothing listens "
                              f"on port {port} of {host})",
                              hint="start it with `dask scheduler` and workers with `dask worker ADDRESS`; "
                                   "the address is the scheduler's (tcp://host:8786)") from None
    except OSError:
        return  # unknown host, unreachable network, a timeout: Dask's connect reports it as before


def _worker_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("creditflow")
    except PackageNotFoundError:  # pragma: no cover - only on a misconfigured worker
        return "not installed"


def check_workers(client: Any) -> None:
    """Refuse a cluster without workers or whose workers run another creditflow version."""
    mine = _worker_version()
    try:
        theirs = client.run(_worker_version)
    except Exception as exc:  # noqa: BLE001 - a worker that cannot import creditflow fails here
        raise CreditflowError(f"the Dask workers cannot run creditflow: {exc}") from None
    if not theirs:
        raise CreditflowError("the Dask cluster has no workers", hint="start some with `dask worker ADDRESS`")
    odd = {w: v for w, v in theirs.items() if v != mine}
    if odd:
        w, v = next(iter(odd.items()))
        raise CreditflowError(
            f"{len(odd)} Dask worker(s) run creditflow {v}, this process runs {mine} (e.g. {w})",
            hint="install the same creditflow version on every worker",
        )


def tree_reduce(client: Any, futures: list, merge: Any, fan_in: int = 8) -> Any:
    """Combine futures with `merge(*parts)` in a tree on the workers; returns one future."""
    if not futures:
        raise ValueError("nothing to reduce")
    while len(futures) > 1:
        futures = [client.submit(merge, *futures[i : i + fan_in]) for i in range(0, len(futures), fan_in)]
    return futures[0]

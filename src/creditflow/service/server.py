"""Run the decision service on uvicorn: checks first (exit 2 on bad input), then one or N workers.

One worker: the `creditflow serve` process serves; SIGHUP or POST /v1/admin/reload swaps the
bundle in place. N workers: uvicorn's supervisor runs N worker processes on one socket; SIGHUP
to the supervisor checks the bundle there (refused: one log line, no worker touched), then replaces
the workers one at a time, each new worker verifying the bundle before it takes traffic (a worker
that cannot load it never starts and the old one keeps serving).
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
import sys
import tempfile
from pathlib import Path
from typing import Any

from creditflow.data.errors import CreditflowError
from creditflow.service.audit import open_audit
from creditflow.service.config import CONFIG_ENV, ServiceConfig
from creditflow.service.runtime import Runtime, load_key_rings
from creditflow.service.state import ServingState, load_state, read_deploy_file

log = logging.getLogger("creditflow.service")
LOG_FORMAT = "%(asctime)s %(levelname)s [%(process)d] %(name)s: %(message)s"


def _setup_logging(level: str) -> None:
    logging.basicConfig(level=level.upper(), format=LOG_FORMAT)


class _NoQueryString(logging.Filter):
    """uvicorn's access log (`--access-log`) writes each request's path with its query string. The service
    reads no query parameters, but a client may put its key there (`?api_key=...`, as other APIs take it):
    the line keeps the path and shows `?...` for the rest, so no key or other value reaches the log."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str) and "?" in args[2]:
            record.args = (*args[:2], args[2].split("?", 1)[0] + "?...", *args[3:])
        return True


def _hide_query_strings() -> None:
    """After uvicorn configured its loggers (it does so in each worker process too)."""
    access = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, _NoQueryString) for f in access.filters):
        access.addFilter(_NoQueryString())


def _bind(host: str, port: int) -> socket.socket:
    """The listening socket, or a clear error when the address cannot be used.

    proto=IPPROTO_TCP matters: asyncio sets TCP_NODELAY on accepted connections only for sockets
    that say they are TCP; without it, Nagle's algorithm and delayed ACKs add ~40 ms per response.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise CreditflowError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    sock.set_inheritable(True)
    return sock


def _is_loopback(host: str) -> bool:
    """Whether `host` is a loopback address (127.0.0.0/8, ::1, localhost): reachable from this machine only."""
    import ipaddress

    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name: it may resolve to anything


def check(config: ServiceConfig) -> ServingState:
    """Everything that can be wrong before serving: settings, keys, bundle, policy, audit database."""
    config.check()
    load_key_rings(config)
    state = load_state(config)
    open_audit(config.audit, config.audit_timeout).close()
    return state


HTTP_IMPLEMENTATIONS = ("auto", "h11", "httptools")
LOOPS = ("auto", "asyncio", "uvloop")
LOG_LEVELS = ("critical", "error", "warning", "info", "debug")


def _check_choices(http: str, loop: str, log_level: str) -> None:
    import importlib.util

    for value, allowed, what in ((http, HTTP_IMPLEMENTATIONS, "--http"), (loop, LOOPS, "--loop"),
                                 (log_level, LOG_LEVELS, "--log-level")):
        if value not in allowed:
            raise CreditflowError(f"{what} must be one of {list(allowed)}, not {value!r}")
    for value, module in ((http, "httptools"), (loop, "uvloop")):
        if value == module and importlib.util.find_spec(module) is None:
            raise CreditflowError(f"{module} is not installed (pip install uvicorn[standard]); use auto")


def serve(config: ServiceConfig, host: str = "127.0.0.1", port: int = 8000, log_level: str = "info",
          access_log: bool = False, http: str = "auto", loop: str = "auto") -> None:
    """Check, then serve until SIGINT/SIGTERM (in-flight requests finish; graceful timeout 30 s).

    http / loop: uvicorn's HTTP parser and event loop; "auto" takes httptools and uvloop when installed.
    """
    import uvicorn

    _check_choices(http, loop, log_level)
    _setup_logging(log_level)
    state = check(config)
    sock = _bind(host, port)
    api_keys, _ = load_key_rings(config)
    if config.insecure_no_auth and not api_keys and not _is_loopback(host):
        log.warning("--insecure-no-auth on %s: anyone who can reach this address gets credit decisions without a "
                    "key (and each is written to the audit log); serve without keys on 127.0.0.1 only", host)
    common: dict[str, Any] = {"log_level": log_level, "access_log": access_log, "timeout_graceful_shutdown": 30,
                              "server_header": False, "http": http, "loop": loop}
    if config.workers == 1:
        api, admin = load_key_rings(config)
        runtime = Runtime(config, state, open_audit(config.audit, config.audit_timeout), api, admin)
        from creditflow.service.app import create_app

        server = uvicorn.Server(uvicorn.Config(create_app(runtime), lifespan="on", **common))
        _hide_query_strings()
        log.info("serving model %s with policy %s on http://%s:%d (audit: %s)", state.model_version,
                 state.policy_version, host, port, runtime.audit.url)
        state.log_warnings()
        server.run(sockets=[sock])
        if not server.started:
            raise CreditflowError(f"the service did not start on {host}:{port}; see the log above")
        return
    run_dir = Path(tempfile.mkdtemp(prefix="creditflow-serve-"))
    config.deploy_file = str(run_dir / "deploy.json")
    os.environ[CONFIG_ENV] = config.to_json()
    os.environ["CREDITFLOW_SERVICE_LOG_LEVEL"] = log_level
    log.info("serving model %s with policy %s on http://%s:%d with %d workers", state.model_version,
             state.policy_version, host, port, config.workers)
    state.log_warnings()
    del state  # the workers load their own; the supervisor need not hold a third copy of the model
    uv_config = uvicorn.Config("creditflow.service.server:worker_app", factory=True, workers=config.workers, **common)
    try:
        _supervisor(uv_config, sock, config).run()  # as uvicorn.run does, but on our TCP_NODELAY socket
    finally:
        sock.close()
        shutil.rmtree(run_dir, ignore_errors=True)


def _supervisor(uv_config: Any, sock: socket.socket, config: ServiceConfig) -> Any:
    """uvicorn's multi-process supervisor, checking the bundle itself before it rolls the workers on SIGHUP."""
    from uvicorn.supervisors import Multiprocess

    class Supervisor(Multiprocess):
        def restart_all(self) -> None:
            """A bundle or policy that would be refused is refused here, in one log line, and no worker is
            touched (else each new worker would fail to start, and uvicorn would report it "not ready in time")."""
            model_dir, policy = read_deploy_file(config.deploy_file)  # where an admin reload switched to
            try:  # the keys too: each new worker reads its key files again
                load_key_rings(config)
                load_state(config, model_dir, policy if model_dir else None)
            except CreditflowError as exc:
                log.error("reload on SIGHUP refused, the workers keep serving their current model: %s", exc.message)
                return
            super().restart_all()

    return Supervisor(uv_config, sockets=[sock])


def worker_app() -> Any:
    """The application of one worker process (uvicorn factory), configured from CREDITFLOW_SERVICE_CONFIG."""
    from creditflow.service.app import create_app

    _setup_logging(os.environ.get("CREDITFLOW_SERVICE_LOG_LEVEL", "info"))
    _hide_query_strings()
    config = ServiceConfig.from_env()
    try:
        runtime = Runtime.from_config(config)
    except CreditflowError as exc:
        log.error("worker cannot start: %s", exc.message)
        sys.exit(1)  # the reason is logged: no traceback from the worker process
    log.info("worker ready: model %s, policy %s", runtime.state.model_version, runtime.state.policy_version)
    return create_app(runtime)

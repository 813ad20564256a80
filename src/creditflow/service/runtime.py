"""The per-process service runtime: current state, audit log and its thread, keys, metrics, reloads."""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import os
import signal
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from creditflow.data.errors import CreditflowError
from creditflow.data.output import atomic_path
from creditflow.service.audit import AuditBusy, AuditLog, AuditUnavailable, open_audit
from creditflow.service.auth import ADMIN_KEYS_ENV, API_KEYS_ENV, KeyRing, KeysError, load_keys
from creditflow.service.config import ServiceConfig
from creditflow.service.metrics import Metrics
from creditflow.service.state import ServingState, load_state, read_deploy_file

log = logging.getLogger("creditflow.service")
T = TypeVar("T")


def load_key_rings(config: ServiceConfig) -> tuple[KeyRing, KeyRing]:
    """API keys and admin keys; refuses to run without API keys unless auth is explicitly switched off."""
    api = load_keys(API_KEYS_ENV, config.api_keys_file)
    admin = load_keys(ADMIN_KEYS_ENV, config.admin_keys_file)
    if not api and not config.insecure_no_auth:
        raise KeysError(
            f"no API keys: set {API_KEYS_ENV} (comma-separated) or pass --api-keys-file "
            "(SHA-256 digests from `creditflow keys hash`); --insecure-no-auth serves without keys (local only)"
        )
    return api, admin


class Runtime:
    """Holds what one service process serves; `state` is swapped whole on reload."""

    def __init__(self, config: ServiceConfig, state: ServingState, audit: AuditLog,
                 api_keys: KeyRing, admin_keys: KeyRing) -> None:
        self.config = config
        self.state = state
        self.audit = audit
        self.api_keys = api_keys
        self.admin_keys = admin_keys
        self.metrics = Metrics()
        self.metrics.model_info = (state.model_version, state.policy_version)
        self.inline_audit = bool(getattr(audit, "inline", False))
        self.executor = ThreadPoolExecutor(max_workers=4, thread_name_prefix="creditflow-audit")
        # Whether the last audit write (a decision's, or /readyz's probe) went through; None: none yet.
        # While it is not True, /readyz makes a probe write instead of only checking the lock.
        self.audit_writable: bool | None = None
        self._reload_lock: asyncio.Lock | None = None

    @classmethod
    def from_config(cls, config: ServiceConfig) -> Runtime:
        """Load keys, bundle, policy and audit log (a worker process; the deploy file may override paths)."""
        api, admin = load_key_rings(config)
        model_dir, policy = read_deploy_file(config.deploy_file)
        if model_dir:
            config.model_dir = model_dir
            config.policy = policy
        state = load_state(config)
        return cls(config, state, open_audit(config.audit, config.audit_timeout), api, admin)

    async def audit_call(self, fn: Callable[..., T], *args: Any) -> T:
        """Run an audit call, timing it: SQLite inline (a local commit without fsync costs less than a
        thread hop), a networked database on the audit threads so the event loop keeps serving.

        An inline call that would wait for a lock (another process writing) is repeated on an audit
        thread instead, so the event loop never stalls on the database.

        The call may wait `--audit-timeout` seconds in all, counted from now: the time it spends queued
        for a free audit thread or for the connection counts, so concurrent requests behind a locked
        database each get their 503 after the timeout, not one timeout after another.
        """
        start = time.perf_counter()
        deadline = time.monotonic() + self.config.audit_timeout
        try:
            if self.inline_audit:
                try:
                    return fn(*args, quick=True)
                except AuditBusy:
                    pass
            return await asyncio.get_running_loop().run_in_executor(self.executor, self._bounded, fn, args, deadline)
        finally:
            self.metrics.audit_latency.observe((), time.perf_counter() - start)

    def _bounded(self, fn: Callable[..., T], args: tuple, deadline: float) -> T:
        """On an audit thread: run `fn` with what is left of the call's time (none left: a 503 at once)."""
        if time.monotonic() >= deadline:
            raise AuditUnavailable(f"no audit thread was free within the audit timeout "
                                   f"({self.config.audit_timeout:g} s)")
        return fn(*args, deadline=deadline)

    async def reload(self, model_dir: str | None = None, policy: str | None = None,
                     roll: bool = False) -> tuple[ServingState, ServingState]:
        """Load and check a new state off the event loop, then swap it in; returns (old, new).

        The key files (`--api-keys-file`, `--admin-keys-file`) are read again too, so a key removed from
        its file is refused from then on, as a restarted worker would refuse it; keys from the environment
        stay as the process started with them. On any error (the bundle, the policy, or a key file that
        cannot be read) nothing changes: the old state and keys keep serving and the error is raised.
        `roll`: with several workers, also have the supervisor replace the other workers (one by one).
        """
        if self._reload_lock is None:
            self._reload_lock = asyncio.Lock()
        async with self._reload_lock:
            old = self.state
            target_dir = model_dir or self.config.model_dir
            target_policy = policy if policy is not None else self.config.policy
            try:
                api, admin = await asyncio.to_thread(load_key_rings, self.config)
                new = await asyncio.to_thread(load_state, self.config, target_dir, target_policy)
            except CreditflowError:
                self.metrics.reload("refused")
                raise
            if (api, admin) != (self.api_keys, self.admin_keys):
                log.info("keys re-read: %d API key(s) (were %d), %d admin key(s) (were %d)", len(api.digests),
                         len(self.api_keys.digests), len(admin.digests), len(self.admin_keys.digests))
            self.state, self.api_keys, self.admin_keys = new, api, admin
            # The new model joins the frozen long-lived heap (see app.freeze_heap). The old one is freed by
            # reference counting; what sits in reference cycles stays frozen: measured at about 85 KB per
            # reload, cheaper than a full collection (~100 ms) on the event loop each time.
            gc.collect()
            gc.freeze()
            self.config.model_dir, self.config.policy = new.model_dir, new.policy_path
            self.metrics.model_info = (new.model_version, new.policy_version)
            self.metrics.reload("ok")
            log.info("reloaded: model %s -> %s, policy %s -> %s", old.model_version, new.model_version,
                     old.policy_version, new.policy_version)
            new.log_warnings()
            if roll and self.config.workers > 1:
                self._roll_workers(new)
            return old, new

    def _roll_workers(self, new: ServingState) -> None:
        """With several workers: record the new paths for fresh workers and ask the supervisor to roll them."""
        if self.config.deploy_file:
            with atomic_path(Path(self.config.deploy_file)) as tmp:
                tmp.write_text(json.dumps({"model_dir": new.model_dir, "policy": new.policy_path}), encoding="utf-8")
        os.kill(os.getppid(), signal.SIGHUP)

    def on_sighup(self) -> None:
        """SIGHUP: re-read the configured bundle and policy; a bad one is refused and logged."""

        async def run() -> None:
            try:
                await self.reload()
            except CreditflowError as exc:
                log.error("reload on SIGHUP refused, still serving model %s: %s", self.state.model_version,
                          exc.message)

        asyncio.get_running_loop().create_task(run())

    def close(self) -> None:
        self.executor.shutdown(wait=True)
        self.audit.close()
